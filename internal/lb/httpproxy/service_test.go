package httpproxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/routes"
	"github.com/signpost-dns/signpost/internal/testutil/leakcheck"
)

var loopback = netip.MustParseAddr("127.0.0.1")

func service(b *routes.Backend, port uint16) *routes.Service {
	return &routes.Service{Listen: routes.ListenAddr{Addr: loopback, Port: port}, Mode: routes.ModeHTTP, Backend: b}
}

// rawGet sends one keep-alive request on c and reads the response.
func rawGet(t *testing.T, c net.Conn, br *bufio.Reader, path string) (int, string, error) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: svc\r\n\r\n", path); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b), err
}

func TestServiceFrontendLifecycle(t *testing.T) {
	leakcheck.Verify(t)
	a := newBackend(t, "a", nil)
	b2 := newBackend(t, "b", nil)
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "slow done")
	})
	ba := backend("svc_1", a.hostPort())
	ba.AllowedNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	ba.Auth = &routes.BasicAuth{Realm: "r", Userlist: &routes.Userlist{}} // not enforced on the service port
	tbl := tableOf(hostRule(ba, "a.example"))
	tbl.Services = []*routes.Service{service(ba, 0)}
	p := startProxy(t, tbl, Options{DrainTimeout: 30 * time.Second})
	l := tbl.Services[0].Listen
	addr := p.ServiceAddr(l)
	if addr == nil {
		t.Fatal("no listener for the service")
	}
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	if code, body, err := rawGet(t, c, br, "/x"); err != nil || code != 200 || body != "a /x" {
		t.Fatalf("service port: %d %q %v", code, body, err)
	}

	// Same listen address, other servers: same socket, same keep-alive
	// connection, new backend.
	bb := backend("svc_1", b2.hostPort())
	tbl2 := tableOf()
	tbl2.Services = []*routes.Service{service(bb, 0)}
	if err := p.Apply(tbl2); err != nil {
		t.Fatal(err)
	}
	if got := p.ServiceAddr(l); got == nil || got.String() != addr.String() {
		t.Fatalf("listener changed across Apply: %v → %v", addr, got)
	}
	if code, body, err := rawGet(t, c, br, "/y"); err != nil || code != 200 || body != "b /y" {
		t.Fatalf("after Apply on the kept connection: %d %q %v", code, body, err)
	}

	// A request in flight keeps the removed service's listener open
	// until it ends; idle connections are closed at once.
	bs := backend("svc_1", slow.hostPort())
	tbl3 := tableOf()
	tbl3.Services = []*routes.Service{service(bs, 0)}
	p.Apply(tbl3)
	sc, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	done := make(chan string, 1)
	go func() {
		sc.SetDeadline(time.Now().Add(20 * time.Second))
		io.WriteString(sc, "GET /slow HTTP/1.1\r\nHost: svc\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(sc), nil)
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		done <- string(b)
	}()
	<-arrived
	if err := p.Apply(tableOf()); err != nil {
		t.Fatal(err)
	}
	if _, err := br.ReadByte(); err == nil {
		t.Error("idle keep-alive connection of a removed service not closed")
	}
	// Still bound: new connections are accepted and closed.
	if nc, err := net.Dial("tcp", addr.String()); err != nil {
		t.Errorf("listener closed while a request is in flight: %v", err)
	} else {
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(nc, "GET / HTTP/1.1\r\nHost: svc\r\n\r\n")
		if _, err := nc.Read(make([]byte, 1)); err == nil {
			t.Error("a retiring service answered a new connection")
		}
		nc.Close()
	}
	close(release)
	if got := <-done; got != "slow done" {
		t.Errorf("in-flight request on a removed service: %q", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.ServiceAddr(l) != nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if p.ServiceAddr(l) != nil {
		t.Fatal("listener of a removed service still open after its last connection ended")
	}
	if nc, err := net.Dial("tcp", addr.String()); err == nil {
		nc.Close()
		t.Error("port still accepting after the service drained")
	}
}

func TestServiceDrainTimeoutCuts(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	arrived := make(chan struct{}, 1)
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	tbl := tableOf()
	tbl.Services = []*routes.Service{service(backend("s_1", slow.hostPort()), 0)}
	p := startProxy(t, tbl, Options{DrainTimeout: 200 * time.Millisecond})
	addr := p.ServiceAddr(tbl.Services[0].Listen)
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: svc\r\n\r\n")
	<-arrived
	p.Apply(tableOf())
	// The connection is cut after DrainTimeout (here 200ms, well before
	// the 20s deadline), and the listener closes with it.
	// Either timer may act first: the service's (the client connection is
	// closed) or the server's (the exchange is cut, 502, then the
	// connection closes as the service drains). Both end the connection.
	got, err := io.ReadAll(c)
	if isTimeout(err) {
		t.Errorf("connection still open at the 20s deadline, want it cut after the drain timeout")
	}
	if len(got) > 0 && !strings.HasPrefix(string(got), "HTTP/1.1 502 ") {
		t.Errorf("after the drain timeout the client got %q, want a cut or a 502", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.ServiceAddr(tbl.Services[0].Listen) != nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if p.ServiceAddr(tbl.Services[0].Listen) != nil {
		t.Error("listener still open after the drain timeout")
	}
}

func TestServiceListenErrorAppliesTheRest(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := uint16(busy.Addr().(*net.TCPAddr).Port)
	a := newBackend(t, "a", nil)
	ba := backend("a_1", a.hostPort())
	tbl := tableOf(hostRule(ba, "a.example"))
	tbl.Services = []*routes.Service{service(backend("busy_1", a.hostPort()), busyPort), service(ba, 0)}
	p := startProxy(t, tableOf(), Options{})
	err = p.Apply(tbl)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprint(busyPort)) {
		t.Errorf("Apply error = %v, want one naming port %d", err, busyPort)
	}
	if code, body, _ := get(t, client(), p, "a.example", "/"); code != 200 || body != "a /" {
		t.Errorf("shared frontend after a failed service listener: %d %q", code, body)
	}
	if p.ServiceAddr(tbl.Services[1].Listen) == nil {
		t.Error("the other service got no listener")
	}
}

func TestServiceTLSAndACL(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, filepath.Join(dir, "svc.pem"), "svc.example")
	a := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("X-Forwarded-Proto"))
	})
	tlsB := backend("tls_1", a.hostPort())
	denied := backend("denied_1", a.hostPort())
	denied.AllowedNetworks = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tbl := tableOf()
	st := service(tlsB, 0)
	st.SSLCert = filepath.Join(dir, "svc.pem")
	tbl.Services = []*routes.Service{st, service(denied, 0)}
	tbl.Services[1].Listen.Addr = netip.MustParseAddr("127.0.0.2")
	p := startProxy(t, tbl, Options{})
	code, body, cn, err := tlsGet(t, p.ServiceAddr(st.Listen).String(), "whatever", "/")
	if err != nil || code != 200 || body != "https" || cn != "svc.example" {
		t.Errorf("TLS service: %d %q cert %q %v", code, body, cn, err)
	}
	c, err := net.Dial("tcp", p.ServiceAddr(tbl.Services[1].Listen).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if code, _, err := rawGet(t, c, bufio.NewReader(c), "/"); err != nil || code != 403 {
		t.Errorf("network ACL on the service port: %d %v, want 403", code, err)
	}
}

func TestApplyAfterClose(t *testing.T) {
	p, err := New(Options{HTTPAddr: "127.0.0.1:0", HTTPSAddr: "-", AppIDAddr: "-"})
	if err != nil {
		t.Fatal(err)
	}
	go p.Serve(context.Background())
	p.Close()
	if err := p.Apply(tableOf()); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Close: %v", err)
	}
}
