package tcpproxy

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/routes"
)

func TestRoundRobin(t *testing.T) {
	checkNoLeak(t)
	a, b, c := startBackend(t, "a", "127.0.0.1"), startBackend(t, "b", "127.0.0.1"), startBackend(t, "c", "127.0.0.1")
	p, _ := newProxy(t, Options{})
	l := listenAt("127.0.0.1")
	mustApply(t, p, table(l, "roundrobin", a.server(), b.server(), c.server()))
	addr := proxyAddr(t, p, l)
	var got []string
	for range 6 {
		cl := dial(t, addr)
		got = append(got, cl.greeting)
		if err := cl.echo("hello"); err != nil {
			t.Fatal(err)
		}
		cl.Close()
	}
	if fmt.Sprint(got) != "[a b c a b c]" {
		t.Errorf("order %v, want [a b c a b c]", got)
	}
	eventually(t, "counters", func() bool {
		s, _ := serverStats(p, "a")
		return s.Total == 2 && s.Active == 0 && s.BytesIn == 2*6 && s.BytesOut == 2*(2+6)
	})
}

func TestLeastConn(t *testing.T) {
	checkNoLeak(t)
	a, b, c := startBackend(t, "a", "127.0.0.1"), startBackend(t, "b", "127.0.0.1"), startBackend(t, "c", "127.0.0.1")
	p, _ := newProxy(t, Options{})
	l := listenAt("127.0.0.1")
	mustApply(t, p, table(l, "leastconn", a.server(), b.server(), c.server()))
	addr := proxyAddr(t, p, l)
	per := map[string][]*client{}
	for range 6 {
		cl := dial(t, addr) // held open: the greeting proves it is attached
		per[cl.greeting] = append(per[cl.greeting], cl)
	}
	for _, n := range []string{"a", "b", "c"} {
		if len(per[n]) != 2 {
			t.Fatalf("connections per server %v, want 2 each", map[string]int{"a": len(per["a"]), "b": len(per["b"]), "c": len(per["c"])})
		}
	}
	for _, cl := range per["b"] {
		cl.Close()
	}
	eventually(t, "b idle", func() bool { s, _ := serverStats(p, "b"); return s.Active == 0 })
	for range 2 {
		if cl := dial(t, addr); cl.greeting != "b" {
			t.Errorf("new connection went to %s, want the least loaded b", cl.greeting)
		}
	}
}

func TestSourceSticky(t *testing.T) {
	checkNoLeak(t)
	a, b, c := startBackend(t, "a", "127.0.0.1"), startBackend(t, "b", "127.0.0.1"), startBackend(t, "c", "127.0.0.1")
	p, _ := newProxy(t, Options{})
	l := listenAt("127.0.0.1")
	mustApply(t, p, table(l, "source", a.server(), b.server(), c.server()))
	addr := proxyAddr(t, p, l)
	distinct := map[string]bool{}
	for i := 2; i < 12; i++ {
		ip := fmt.Sprintf("127.0.0.%d", i)
		first := ""
		for range 4 {
			cl, err := dialFrom(addr, ip)
			if err != nil {
				t.Fatal(err)
			}
			cl.Close()
			if first == "" {
				first = cl.greeting
			} else if cl.greeting != first {
				t.Errorf("client %s went to %s then %s", ip, first, cl.greeting)
			}
		}
		distinct[first] = true
	}
	if len(distinct) < 2 {
		t.Errorf("10 client addresses all hashed to %v", distinct)
	}
}

func listenerFD(t *testing.T, ln *net.TCPListener) uintptr {
	rc, err := ln.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd uintptr
	rc.Control(func(f uintptr) { fd = f })
	return fd
}

func TestApplySameServiceKeepsListener(t *testing.T) {
	checkNoLeak(t)
	a, b := startBackend(t, "a", "127.0.0.1"), startBackend(t, "b", "127.0.0.1")
	p, logs := newProxy(t, Options{})
	l := listenAt("127.0.0.1")
	mustApply(t, p, table(l, "roundrobin", a.server(), b.server()))
	addr := proxyAddr(t, p, l)
	f := p.frontends[l]
	ln, fd := f.ln, listenerFD(t, f.ln)

	before := dial(t, addr)
	for i := range 20 {
		// A fresh table each time, as Build would produce.
		mustApply(t, p, table(l, "roundrobin", a.server(), b.server()))
		if p.frontends[l] != f || f.ln != ln || listenerFD(t, f.ln) != fd {
			t.Fatalf("apply %d replaced the listener", i)
		}
	}
	if got := proxyAddr(t, p, l); got != addr {
		t.Fatalf("address changed: %s -> %s", addr, got)
	}
	if err := before.echo("still here"); err != nil {
		t.Fatalf("connection opened before Apply: %v", err)
	}
	after := dial(t, addr)
	if err := after.echo("new"); err != nil {
		t.Fatal(err)
	}
	if n := logs.n.Load(); n != 0 {
		t.Errorf("%d warnings (accept errors) logged", n)
	}
}

func TestScaleDownKeepsOpenConnection(t *testing.T) {
	checkNoLeak(t)
	a, b := startBackend(t, "a", "127.0.0.1"), startBackend(t, "b", "127.0.0.1")
	p, _ := newProxy(t, Options{DrainTimeout: time.Minute})
	l := listenAt("127.0.0.1")
	mustApply(t, p, table(l, "roundrobin", a.server(), b.server()))
	addr := proxyAddr(t, p, l)
	onA := dial(t, addr)
	if onA.greeting != "a" {
		t.Fatalf("first connection went to %s", onA.greeting)
	}
	acceptedBefore := a.accepted.Load()

	mustApply(t, p, table(l, "roundrobin", b.server())) // a scaled away
	if err := onA.echo("after scale down"); err != nil {
		t.Fatalf("open connection to removed server: %v", err)
	}
	if s, ok := serverStats(p, "a"); !ok || s.State != "removed" || s.Active != 1 {
		t.Errorf("stats of a: %+v %v", s, ok)
	}
	for range 5 {
		if cl := dial(t, addr); cl.greeting != "b" {
			t.Errorf("new connection reached %s", cl.greeting)
		}
	}
	if n := a.accepted.Load(); n != acceptedBefore {
		t.Errorf("removed server accepted %d new connections", n-acceptedBefore)
	}
	if err := onA.echo("still"); err != nil {
		t.Fatal(err)
	}
	onA.Close()
	eventually(t, "a forgotten", func() bool { _, ok := serverStats(p, "a"); return !ok })
}

func TestDrainTimeoutClosesConnections(t *testing.T) {
	for _, tc := range []struct {
		name string
		next func(a, b *echoBackend) []routes.Server
	}{
		{"removed", func(a, b *echoBackend) []routes.Server { return []routes.Server{b.server()} }},
		{"draining", func(a, b *echoBackend) []routes.Server { return []routes.Server{draining(a.server()), b.server()} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkNoLeak(t)
			const timeout = 2 * time.Second
			a, b := startBackend(t, "a", "127.0.0.1"), startBackend(t, "b", "127.0.0.1")
			p, _ := newProxy(t, Options{DrainTimeout: timeout})
			l := listenAt("127.0.0.1")
			mustApply(t, p, table(l, "roundrobin", a.server(), b.server()))
			addr := proxyAddr(t, p, l)
			onA, onB := dial(t, addr), dial(t, addr)
			if onA.greeting != "a" || onB.greeting != "b" {
				t.Fatalf("greetings %s %s", onA.greeting, onB.greeting)
			}
			start := time.Now()
			mustApply(t, p, table(l, "roundrobin", tc.next(a, b)...))
			if err := onA.echo("before the timeout"); err != nil {
				t.Fatalf("cut before the drain timeout: %v", err)
			}
			for range 3 {
				if cl := dial(t, addr); cl.greeting != "b" {
					t.Errorf("new connection reached %s", cl.greeting)
				}
			}
			if err := onA.waitClosed(timeout + 10*time.Second); err != nil {
				t.Fatalf("after the drain timeout: %v", err)
			}
			if d := time.Since(start); d < timeout {
				t.Errorf("closed after %v, before the %v drain timeout", d, timeout)
			}
			if err := onB.echo("unaffected"); err != nil {
				t.Fatalf("connection to the remaining server: %v", err)
			}
		})
	}
}

func TestServiceRemovedDrainsThenCloses(t *testing.T) {
	checkNoLeak(t)
	a := startBackend(t, "a", "127.0.0.1")
	p, _ := newProxy(t, Options{DrainTimeout: time.Minute})
	l := listenAt("127.0.0.1")
	mustApply(t, p, table(l, "roundrobin", a.server()))
	addr := proxyAddr(t, p, l)
	open := dial(t, addr)

	mustApply(t, p, &routes.Table{})
	if err := open.echo("draining"); err != nil {
		t.Fatalf("open connection of a removed service: %v", err)
	}
	if p.Addr(l) == nil {
		t.Fatal("listener closed while a connection is open")
	}
	accepted := a.accepted.Load()
	if cl, err := dialFrom(addr, ""); err == nil {
		cl.Close()
		t.Fatalf("new connection to a removed service reached %s", cl.greeting)
	}
	if a.accepted.Load() != accepted {
		t.Error("new connection reached the server")
	}
	if err := open.echo("still draining"); err != nil {
		t.Fatal(err)
	}
	open.Close()
	eventually(t, "listener closed", func() bool { return p.Addr(l) == nil })
	_, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after drain: %v, want connection refused", err)
	}
}

func TestServiceRemovedDrainTimeout(t *testing.T) {
	checkNoLeak(t)
	const timeout = 2 * time.Second
	a := startBackend(t, "a", "127.0.0.1")
	p, _ := newProxy(t, Options{DrainTimeout: timeout})
	l := listenAt("127.0.0.1")
	mustApply(t, p, table(l, "roundrobin", a.server()))
	addr := proxyAddr(t, p, l)
	open := dial(t, addr)
	start := time.Now()
	mustApply(t, p, &routes.Table{})
	if err := open.echo("before timeout"); err != nil {
		t.Fatal(err)
	}
	if err := open.waitClosed(timeout + 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < timeout {
		t.Errorf("cut after %v, before %v", d, timeout)
	}
	eventually(t, "listener closed", func() bool { return p.Addr(l) == nil })
}

func TestServiceRevivedReusesListener(t *testing.T) {
	checkNoLeak(t)
	a := startBackend(t, "a", "127.0.0.1")
	p, _ := newProxy(t, Options{DrainTimeout: time.Minute})
	l := listenAt("127.0.0.1")
	mustApply(t, p, table(l, "roundrobin", a.server()))
	addr := proxyAddr(t, p, l)
	ln := p.frontends[l].ln
	open := dial(t, addr)
	mustApply(t, p, &routes.Table{})
	mustApply(t, p, table(l, "roundrobin", a.server()))
	if p.frontends[l].ln != ln {
		t.Fatal("revived service got a new listener")
	}
	open.Close()
	time.Sleep(50 * time.Millisecond) // the revived listener must not close now
	cl := dial(t, addr)
	if err := cl.echo("revived"); err != nil {
		t.Fatal(err)
	}
}

func TestRetryNextServerOnConnectFailure(t *testing.T) {
	checkNoLeak(t)
	dead := startBackend(t, "dead", "127.0.0.1")
	deadSrv := dead.server()
	dead.Close() // its port now refuses connections
	b := startBackend(t, "b", "127.0.0.1")
	p, _ := newProxy(t, Options{})
	l := listenAt("127.0.0.1")
	mustApply(t, p, table(l, "roundrobin", deadSrv, b.server()))
	addr := proxyAddr(t, p, l)
	for range 4 {
		cl := dial(t, addr)
		if cl.greeting != "b" {
			t.Errorf("got %s", cl.greeting)
		}
		cl.Close()
	}
	if s, _ := serverStats(p, "dead"); s.Errors < 2 || s.Total != 0 {
		t.Errorf("dead server stats %+v", s)
	}

	// Every server dead: the client is closed, not left hanging.
	mustApply(t, p, table(l, "roundrobin", deadSrv))
	if cl, err := dialFrom(addr, ""); err == nil {
		cl.Close()
		t.Fatal("reached a dead server")
	}
}

func TestAllowedNetworks(t *testing.T) {
	checkNoLeak(t)
	a := startBackend(t, "a", "127.0.0.1")
	p, _ := newProxy(t, Options{})
	l := listenAt("127.0.0.1")
	tb := table(l, "roundrobin", a.server())
	tb.Services[0].Backend.AllowedNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}
	mustApply(t, p, tb)
	addr := proxyAddr(t, p, l)
	if cl, err := dialFrom(addr, "127.0.0.3"); err == nil {
		cl.Close()
		t.Fatal("client outside the allowed networks reached a server")
	}
	if n := a.accepted.Load(); n != 0 {
		t.Errorf("server saw %d connections from a refused client", n)
	}
	cl, err := dialFrom(addr, "127.0.0.2")
	if err != nil {
		t.Fatalf("allowed client: %v", err)
	}
	cl.Close()
}

func TestHTTPServicesIgnored(t *testing.T) {
	checkNoLeak(t)
	a := startBackend(t, "a", "127.0.0.1")
	p, _ := newProxy(t, Options{})
	l := listenAt("127.0.0.1")
	tb := table(l, "roundrobin", a.server())
	tb.Services[0].Mode = routes.ModeHTTP
	mustApply(t, p, tb)
	if p.Addr(l) != nil {
		t.Fatal("http-mode service got a TCP listener")
	}
}

// TestConcurrentApply runs many clients while the server set changes 100
// times. Servers only leave the table (their processes keep running), and
// the drain timeout is long, so no client may see any error: connections
// to a departing server continue, and new ones go elsewhere.
func TestConcurrentApply(t *testing.T) {
	checkNoLeak(t)
	stable := []*echoBackend{startBackend(t, "s1", "127.0.0.1"), startBackend(t, "s2", "127.0.0.1")}
	var churn []*echoBackend
	for i := range 4 {
		churn = append(churn, startBackend(t, fmt.Sprintf("c%d", i), "127.0.0.1"))
	}
	p, logs := newProxy(t, Options{DrainTimeout: time.Minute})
	var ls []routes.ListenAddr
	var svcs func(rng *rand.Rand) *routes.Table
	balances := []string{"roundrobin", "leastconn", "source"}
	for i := range balances {
		ls = append(ls, listenAt(fmt.Sprintf("127.0.1.%d", i+1)))
	}
	svcs = func(rng *rand.Rand) *routes.Table {
		tb := &routes.Table{}
		for i, l := range ls {
			var servers []routes.Server
			for _, s := range stable {
				servers = append(servers, s.server())
			}
			for _, c := range churn {
				switch rng.IntN(3) {
				case 0:
					servers = append(servers, c.server())
				case 1:
					servers = append(servers, draining(c.server()))
				}
			}
			rng.Shuffle(len(servers), func(i, j int) { servers[i], servers[j] = servers[j], servers[i] })
			tb.Services = append(tb.Services, service(l, balances[i], servers...))
		}
		return tb
	}
	rng := rand.New(rand.NewPCG(1, 2))
	mustApply(t, p, svcs(rng))
	var addrs []string
	for _, l := range ls {
		addrs = append(addrs, proxyAddr(t, p, l))
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var errCount, conns atomic.Int64
	fail := func(format string, args ...any) {
		errCount.Add(1)
		t.Errorf(format, args...)
	}
	// Long-lived clients, opened before the churn, echo throughout.
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := dialFrom(addrs[i%len(addrs)], "")
			if err != nil {
				fail("long-lived dial: %v", err)
				return
			}
			defer cl.Close()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := cl.echo(fmt.Sprintf("long %d %d", i, n)); err != nil {
					fail("long-lived client on %s: %v", cl.greeting, err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	// Short clients: connect, echo, close, repeat.
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				ip := fmt.Sprintf("127.0.2.%d", 1+(i*7+n)%200)
				cl, err := dialFrom(addrs[(i+n)%len(addrs)], ip)
				if err != nil {
					fail("short client: %v", err)
					return
				}
				conns.Add(1)
				err = cl.echo("short")
				cl.Close()
				if err != nil {
					fail("short client on %s: %v", cl.greeting, err)
					return
				}
			}
		}()
	}
	start := time.Now()
	for range 100 {
		mustApply(t, p, svcs(rng))
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("100 applies in %v", time.Since(start))
	close(stop)
	wg.Wait()
	if errCount.Load() != 0 || logs.n.Load() != 0 {
		t.Fatalf("%d client errors, %d warnings", errCount.Load(), logs.n.Load())
	}
	t.Logf("%d short connections during 100 applies", conns.Load())
	for i, l := range ls {
		if a := p.Addr(l); a == nil || a.String() != addrs[i] {
			t.Fatalf("listener %s changed: %v", l, a)
		}
	}
}

func TestCloseStopsEverything(t *testing.T) {
	checkNoLeak(t)
	a := startBackend(t, "a", "127.0.0.1")
	p := New(Options{})
	l1, l2 := listenAt("127.0.0.1"), listenAt("127.0.0.2")
	mustApply(t, p, &routes.Table{Services: []*routes.Service{
		service(l1, "roundrobin", a.server()),
		service(l2, "leastconn", a.server()),
	}})
	var open []*client
	for _, l := range []routes.ListenAddr{l1, l2} {
		for range 3 {
			open = append(open, dial(t, proxyAddr(t, p, l)))
		}
	}
	done := make(chan error)
	go func() { done <- p.Close() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs")
	}
	for _, cl := range open {
		if err := cl.waitClosed(10 * time.Second); err != nil {
			t.Error(err)
		}
	}
	if err := p.Apply(&routes.Table{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Close: %v", err)
	}
}

func TestListenErrorDoesNotBlockOthers(t *testing.T) {
	checkNoLeak(t)
	a := startBackend(t, "a", "127.0.0.1")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	taken := routes.ListenAddr{Addr: netip.MustParseAddr("127.0.0.1"), Port: uint16(busy.Addr().(*net.TCPAddr).Port)}
	ok := listenAt("127.0.0.1")
	p, _ := newProxy(t, Options{})
	err = p.Apply(&routes.Table{Services: []*routes.Service{
		service(taken, "roundrobin", a.server()),
		service(ok, "roundrobin", a.server()),
	}})
	if err == nil {
		t.Fatal("no error for a port in use")
	}
	dial(t, proxyAddr(t, p, ok))
}

func TestRunStopsOnContext(t *testing.T) {
	checkNoLeak(t)
	a := startBackend(t, "a", "127.0.0.1")
	p := New(Options{})
	l := listenAt("127.0.0.1")
	mustApply(t, p, table(l, "roundrobin", a.server()))
	cl := dial(t, proxyAddr(t, p, l))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	if err := cl.echo("running"); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if p.Addr(l) != nil {
		t.Error("listener still open after Run returned")
	}
	if err := cl.waitClosed(10 * time.Second); err != nil {
		t.Error(err)
	}
}
