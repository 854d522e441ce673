package tcpproxy

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/routes"
	"github.com/signpost-dns/signpost/internal/sim/taskrun"
	"github.com/signpost-dns/signpost/internal/testutil/freeport"
)

// TestZeroDowntimeDeploymentWithSimulatorTasks walks a blue/green
// deployment over the simulator's real echo tasks: blue serves, green
// joins while blue drains (new connections go to green only, blue's open
// connection keeps working), blue leaves the table, and blue's task is
// stopped only after its connection ended — nothing a client sees fails.
func TestZeroDowntimeDeploymentWithSimulatorTasks(t *testing.T) {
	checkNoLeak(t)
	r := taskrun.New(slog.New(slog.DiscardHandler))
	t.Cleanup(r.Close)
	start := func(id, ip string) routes.Server {
		port := freeport.TCP(t, ip)
		if err := r.Start(taskrun.Spec{TaskID: id, AppID: "/db", IP: ip, Ports: []int{port}, Kind: taskrun.TCPEcho}); err != nil {
			t.Fatal(err)
		}
		ap := netip.AddrPortFrom(netip.MustParseAddr(ip), uint16(port))
		return routesServer(id, ap)
	}
	blue := start("db-blue.1", "127.0.3.1")
	green := start("db-green.1", "127.0.3.2")

	p, logs := newProxy(t, Options{DrainTimeout: time.Minute})
	l := listenAt("127.0.3.100")
	mustApply(t, p, table(l, "roundrobin", blue))
	addr := proxyAddr(t, p, l)
	old := dial(t, addr)
	if old.greeting != "db-blue.1" {
		t.Fatalf("greeting %q", old.greeting)
	}

	mustApply(t, p, table(l, "roundrobin", draining(blue), green))
	for range 4 {
		if cl := dial(t, addr); cl.greeting != "db-green.1" {
			t.Errorf("new connection reached %s during the deployment", cl.greeting)
		}
	}
	if err := old.echo("blue still serving"); err != nil {
		t.Fatal(err)
	}

	mustApply(t, p, table(l, "roundrobin", green))
	if err := old.echo("blue removed, connection kept"); err != nil {
		t.Fatal(err)
	}
	old.Close()
	eventually(t, "blue idle", func() bool { _, ok := serverStats(p, "db-blue.1"); return !ok })
	if err := r.Stop("db-blue.1", time.Second); err != nil {
		t.Fatal(err)
	}
	if cl := dial(t, addr); cl.greeting != "db-green.1" {
		t.Errorf("after the deployment: %s", cl.greeting)
	}
	if n := logs.n.Load(); n != 0 {
		t.Errorf("%d warnings", n)
	}
}
