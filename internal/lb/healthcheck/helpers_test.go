package healthcheck

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/routes"
)

// behaviour is what a test server does with a connection.
type behaviour int32

const (
	answer  behaviour = iota // read the request, answer with status
	closeAt                  // close at once, reading nothing
	hang                     // accept and never answer
	garbage                  // answer with something that is not HTTP
)

// testServer is a loopback listener whose behaviour can change while a
// Checker probes it. Counters are shared with a group so a test can see
// how many probes were open at once across servers.
type testServer struct {
	ln       net.Listener
	mode     atomic.Int32 // behaviour
	status   atomic.Int32
	accepted atomic.Int64
	group    *serverGroup

	mu    sync.Mutex
	reqs  [][]byte
	conns map[net.Conn]struct{}
	done  bool
	wg    sync.WaitGroup
}

// serverGroup counts connections open at the same time over its servers.
type serverGroup struct {
	open, peak atomic.Int64
}

func (g *serverGroup) inc() {
	n := g.open.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func startServer(t testing.TB, b behaviour, status int, g *serverGroup) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if g == nil {
		g = &serverGroup{}
	}
	s := &testServer{ln: ln, group: g, conns: make(map[net.Conn]struct{})}
	s.mode.Store(int32(b))
	s.status.Store(int32(status))
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *testServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.accepted.Add(1)
		s.mu.Lock()
		if s.done {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handle(c)
	}
}

func (s *testServer) handle(c net.Conn) {
	defer s.wg.Done()
	s.group.inc()
	defer s.group.open.Add(-1)
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	switch behaviour(s.mode.Load()) {
	case closeAt:
		return
	case hang:
		io.Copy(io.Discard, c) // until the prober resets the connection
		return
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var req []byte
	buf := make([]byte, 512)
	for !bytes.Contains(req, []byte("\r\n\r\n")) {
		n, err := c.Read(buf)
		req = append(req, buf[:n]...)
		if err != nil {
			break
		}
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()
	if behaviour(s.mode.Load()) == garbage {
		io.WriteString(c, "SSH-2.0-OpenSSH_9.2\r\n")
		return
	}
	fmt.Fprintf(c, "HTTP/1.1 %d Whatever\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", s.status.Load())
}

func (s *testServer) close() {
	s.mu.Lock()
	if !s.done {
		s.done = true
		s.ln.Close()
		for c := range s.conns {
			c.Close()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *testServer) addr() netip.AddrPort { return s.ln.Addr().(*net.TCPAddr).AddrPort() }

func (s *testServer) requests() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.reqs...)
}

// refusingAddr returns a loopback address where connections are refused:
// a socket bound to a port but not listening, so no other test can take
// the port while this one relies on it being closed.
func refusingAddr(t testing.TB) netip.AddrPort {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sa.(*syscall.SockaddrInet4).Port))
}

func srv(name string, ap netip.AddrPort) routes.Server {
	return routes.Server{Name: name, Addr: ap, HostPort: ap.String()}
}

func withCheckPort(s routes.Server, port uint16) routes.Server {
	s.CheckPort = int(port)
	return s
}

func httpCheck(path string, interval time.Duration, fall, rise int) *routes.HealthCheck {
	return &routes.HealthCheck{Type: routes.CheckHTTP, Path: path, Interval: interval, Timeout: 2 * time.Second, Fall: fall, Rise: rise}
}

func tcpCheck(interval time.Duration, fall, rise int) *routes.HealthCheck {
	return &routes.HealthCheck{Type: routes.CheckTCP, Interval: interval, Timeout: 2 * time.Second, Fall: fall, Rise: rise}
}

func backend(name string, hc *routes.HealthCheck, servers ...routes.Server) *routes.Backend {
	return &routes.Backend{Name: name, Mode: routes.ModeTCP, HealthCheck: hc, Servers: servers}
}

func tableOf(backends ...*routes.Backend) *routes.Table {
	t := &routes.Table{}
	for i, b := range backends {
		t.Services = append(t.Services, &routes.Service{
			Listen:  routes.ListenAddr{Port: uint16(10000 + i)},
			Mode:    b.Mode,
			Backend: b,
		})
	}
	return t
}

// transition is one UP/DOWN log record.
type transition struct {
	up              bool
	backend, server string
	reason          string
}

// recorder is a slog handler that keeps the transition records.
type recorder struct {
	mu  sync.Mutex
	got []transition
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	tr := transition{up: rec.Message == "health check: server is UP"}
	rec.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "backend":
			tr.backend = a.Value.String()
		case "server":
			tr.server = a.Value.String()
		case "reason":
			tr.reason = a.Value.String()
		}
		return true
	})
	r.mu.Lock()
	r.got = append(r.got, tr)
	r.mu.Unlock()
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) transitions() []transition {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]transition(nil), r.got...)
}

// start runs c until the test ends, and waits for Run to return.
func start(t testing.TB, c *Checker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// eventually polls cond for up to 20 s (the machine is shared and slow).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func statsOf(c *Checker, backend, server string) (ServerStats, bool) {
	for _, s := range c.Stats().Servers {
		if s.Backend == backend && s.Server == server {
			return s, true
		}
	}
	return ServerStats{}, false
}
