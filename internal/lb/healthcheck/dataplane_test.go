package healthcheck

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/routes"
	"github.com/signpost-dns/signpost/internal/lb/tcpproxy"
	"github.com/signpost-dns/signpost/internal/testutil/leakcheck"
)

// greeter is a task: it writes its name to every connection and closes.
func greeter(t *testing.T, name string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, name+"\n")
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln
}

// TestCheckerDrivesTCPProxy wires Checker.Up into the TCP data plane: a task
// whose health endpoint fails stops getting connections, and gets them
// again once it passes.
func TestCheckerDrivesTCPProxy(t *testing.T) {
	leakcheck.Verify(t)
	a, b := greeter(t, "a"), greeter(t, "b")
	aCheck, bCheck := startServer(t, answer, 200, nil), startServer(t, answer, 200, nil)
	sa := withCheckPort(srv("a", a.Addr().(*net.TCPAddr).AddrPort()), aCheck.addr().Port())
	sb := withCheckPort(srv("b", b.Addr().(*net.TCPAddr).AddrPort()), bCheck.addr().Port())
	be := backend("app_10000", httpCheck("/health", 20*time.Millisecond, 2, 2), sa, sb)
	tb := tableOf(be)
	tb.Services[0].Listen = routes.ListenAddr{Addr: sa.Addr.Addr()}

	c := New(Options{FirstCheck: -1})
	if err := c.Apply(tb); err != nil {
		t.Fatal(err)
	}
	start(t, c)
	p := tcpproxy.New(tcpproxy.Options{Healthy: c.Up})
	t.Cleanup(func() { p.Close() })
	if err := p.Apply(tb); err != nil {
		t.Fatal(err)
	}
	addr := p.Addr(tb.Services[0].Listen).String()
	greeting := func() string {
		t.Helper()
		conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			t.Fatalf("no greeting: %v", err)
		}
		return strings.TrimSpace(line)
	}

	bCheck.status.Store(503)
	eventually(t, "b DOWN", func() bool { return !c.Up(be.Name, &be.Servers[1]) })
	var got []string
	for range 6 {
		got = append(got, greeting())
	}
	if fmt.Sprint(got) != "[a a a a a a]" {
		t.Errorf("with b's check failing: %v, want only a", got)
	}

	bCheck.status.Store(200)
	eventually(t, "b UP", func() bool { return c.Up(be.Name, &be.Servers[1]) })
	seen := map[string]bool{}
	for range 6 {
		seen[greeting()] = true
	}
	if !seen["a"] || !seen["b"] {
		t.Errorf("after b recovered: reached %v, want a and b", seen)
	}
}
