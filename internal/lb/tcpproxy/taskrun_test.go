package tcpproxy

import (
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/routes"
	"github.com/signpost-dns/signpost/internal/sim/taskrun"
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
		port := freePort(t, ip)
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

// freePort returns a port free at ip, drawn below the kernel's ephemeral
// range so that no outgoing connection takes it before the proxy binds it.
func freePort(t *testing.T, ip string) int {
	t.Helper()
	for range 1000 {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(20000+rand.IntN(12000))))
		if err != nil {
			continue
		}
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port
	}
	t.Fatal("no free port in 20000-32000")
	return 0
}
