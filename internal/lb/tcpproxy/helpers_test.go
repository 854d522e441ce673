package tcpproxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/routes"
)

// echoBackend is a loopback TCP server that greets every connection with
// its name and a newline, then echoes what it reads.
type echoBackend struct {
	name     string
	ln       net.Listener
	accepted atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	closed   bool
}

func startBackend(t testing.TB, name, ip string) *echoBackend {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	b := &echoBackend{name: name, ln: ln, conns: make(map[net.Conn]struct{})}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.accepted.Add(1)
			b.mu.Lock()
			if b.closed {
				b.mu.Unlock()
				c.Close()
				continue
			}
			b.conns[c] = struct{}{}
			b.wg.Add(1)
			b.mu.Unlock()
			go func() {
				defer b.wg.Done()
				defer func() {
					b.mu.Lock()
					delete(b.conns, c)
					b.mu.Unlock()
					c.Close()
				}()
				if _, err := io.WriteString(c, name+"\n"); err != nil {
					return
				}
				// Wrapped so the echo is a plain read-write loop, not a
				// splice of the socket into itself.
				io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{c}, make([]byte, 32<<10))
			}()
		}
	}()
	t.Cleanup(b.Close)
	return b
}

func (b *echoBackend) Close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		b.ln.Close()
		for c := range b.conns {
			c.Close()
		}
	}
	b.mu.Unlock()
	b.wg.Wait()
}

func (b *echoBackend) addr() netip.AddrPort {
	return b.ln.Addr().(*net.TCPAddr).AddrPort()
}

func (b *echoBackend) server() routes.Server {
	return routes.Server{Name: b.name, Addr: b.addr(), HostPort: b.addr().String()}
}

func draining(s routes.Server) routes.Server { s.Draining = true; return s }

// table builds a one-service table listening on listen.
func table(listen routes.ListenAddr, balance string, servers ...routes.Server) *routes.Table {
	return &routes.Table{Services: []*routes.Service{service(listen, balance, servers...)}}
}

func service(listen routes.ListenAddr, balance string, servers ...routes.Server) *routes.Service {
	return &routes.Service{
		Listen: listen,
		Mode:   routes.ModeTCP,
		Backend: &routes.Backend{
			Name:    fmt.Sprintf("svc_%d", listen.Port),
			Mode:    routes.ModeTCP,
			Balance: balance,
			Servers: append([]routes.Server(nil), servers...),
		},
	}
}

// listenAt is a listen address on ip with a port the kernel picks: the
// proxy keys listeners by ListenAddr, and Proxy.Addr tells the real port.
func listenAt(ip string) routes.ListenAddr {
	return routes.ListenAddr{Addr: netip.MustParseAddr(ip)}
}

// logCounter counts log records at Warn and above (accept errors).
type logCounter struct{ n atomic.Int64 }

func (h *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *logCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.n.Add(1)
	}
	return nil
}
func (h *logCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logCounter) WithGroup(string) slog.Handler      { return h }

func newProxy(t testing.TB, opts Options) (*Proxy, *logCounter) {
	t.Helper()
	lc := &logCounter{}
	if opts.Logger == nil {
		opts.Logger = slog.New(lc)
	}
	p := New(opts)
	t.Cleanup(func() { p.Close() })
	return p, lc
}

func mustApply(t testing.TB, p *Proxy, tb *routes.Table) {
	t.Helper()
	if err := p.Apply(tb); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func proxyAddr(t testing.TB, p *Proxy, l routes.ListenAddr) string {
	t.Helper()
	a := p.Addr(l)
	if a == nil {
		t.Fatalf("no listener for %s", l)
	}
	return a.String()
}

// client is one connection through the proxy.
type client struct {
	net.Conn
	r        *bufio.Reader
	greeting string
}

// dialFrom connects from the local address ip ("" for any) and reads the
// greeting; an error means the connection never reached a server.
func dialFrom(addr, ip string) (*client, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	if ip != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(ip)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	cl := &client{Conn: c, r: bufio.NewReader(c)}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := cl.r.ReadString('\n')
	c.SetReadDeadline(time.Time{})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("no greeting: %w", err)
	}
	cl.greeting = strings.TrimSuffix(line, "\n")
	return cl, nil
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := dialFrom(addr, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echo sends msg and checks it comes back.
func (c *client) echo(msg string) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		return err
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return err
	}
	if line != msg+"\n" {
		return fmt.Errorf("echo %q, got %q", msg, line)
	}
	return nil
}

// waitClosed waits up to limit for the server side to close c.
func (c *client) waitClosed(limit time.Duration) error {
	c.SetReadDeadline(time.Now().Add(limit))
	defer c.SetReadDeadline(time.Time{})
	_, err := c.r.ReadByte()
	if err == nil {
		return errors.New("unexpected data")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("still open after %v", limit)
	}
	return nil
}

// eventually polls cond for up to 10 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func serverStats(p *Proxy, name string) (ServerStats, bool) {
	for _, f := range p.Stats().Frontends {
		for _, s := range f.Servers {
			if s.Name == name {
				return s, true
			}
		}
	}
	return ServerStats{}, false
}

// checkNoLeak fails when goroutines started during the test outlive it.
func checkNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func mustAddrPort(t testing.TB, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

func routesServer(name string, ap netip.AddrPort) routes.Server {
	return routes.Server{Name: name, Addr: ap, HostPort: ap.String()}
}
