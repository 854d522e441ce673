package tcpproxy

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/routes"
	"github.com/signpost-dns/signpost/internal/testutil/certtest"
	"github.com/signpost-dns/signpost/internal/testutil/leakcheck"
)

// writeCert writes a self-signed certificate for names (the first is the
// CN) and its key into one PEM file, as HAProxy's "crt" wants it.
func writeCert(t *testing.T, path string, names ...string) {
	t.Helper()
	rewrite(t, path, certtest.PEM(t, names...))
}

// rewrite replaces path's content and gives it a later modification time
// than the version before, however coarse the file system clock: the
// loader must see the change.
func rewrite(t *testing.T, path string, data []byte) {
	t.Helper()
	var old time.Time
	if fi, err := os.Stat(path); err == nil {
		old = fi.ModTime()
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err == nil && !fi.ModTime().After(old) {
		later := old.Add(time.Second)
		if err := os.Chtimes(path, later, later); err != nil {
			t.Fatal(err)
		}
	}
}

// tlsService is a one-service table terminating TLS with cert.
func tlsService(l routes.ListenAddr, cert, bindOptions string, servers ...routes.Server) *routes.Table {
	tb := table(l, "roundrobin", servers...)
	tb.Services[0].SSLCert = cert
	tb.Services[0].BindOptions = bindOptions
	return tb
}

// tlsClient is one TLS connection through the proxy, greeting read.
type tlsClient struct {
	*client
	tc *tls.Conn
}

// dialTLS connects with server name sni offering protos by ALPN, and reads
// the server's greeting.
func dialTLS(addr, sni string, protos ...string) (*tlsClient, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	raw, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(raw, &tls.Config{ServerName: sni, InsecureSkipVerify: true, NextProtos: protos})
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		raw.Close()
		return nil, err
	}
	cl := &client{Conn: tc, r: bufio.NewReader(tc)}
	line, err := cl.r.ReadString('\n')
	tc.SetDeadline(time.Time{})
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("no greeting: %w", err)
	}
	cl.greeting = strings.TrimSuffix(line, "\n")
	return &tlsClient{client: cl, tc: tc}, nil
}

func (c *tlsClient) certName() string {
	return c.tc.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func frontendStats(p *Proxy, l routes.ListenAddr) (FrontendStats, bool) {
	for _, f := range p.Stats().Frontends {
		if f.Listen == l {
			return f, true
		}
	}
	return FrontendStats{}, false
}

func TestTLSTermination(t *testing.T) {
	leakcheck.Verify(t)
	dir := t.TempDir()
	writeCert(t, filepath.Join(dir, "0-default.pem"), "default.example")
	writeCert(t, filepath.Join(dir, "a.pem"), "a.example")
	writeCert(t, filepath.Join(dir, "wild.pem"), "*.wild.example")
	a, b := startBackend(t, "a", "127.0.0.1"), startBackend(t, "b", "127.0.0.1")
	p, _ := newProxy(t, Options{})
	l := listenAt("127.0.0.1")
	mustApply(t, p, tlsService(l, dir, "alpn h2,http/1.1 accept-proxy-ignored", a.server(), b.server()))
	addr := proxyAddr(t, p, l)

	greetings := map[string]int{}
	for _, tc := range []struct {
		sni, cert string
		protos    []string
		proto     string
	}{
		{"a.example", "a.example", nil, ""},
		{"A.Example", "a.example", []string{"http/1.1"}, "http/1.1"},
		{"x.wild.example", "*.wild.example", []string{"h2", "http/1.1"}, "h2"},
		{"other.example", "default.example", []string{"spdy/3", "http/1.1"}, "http/1.1"},
		{"", "default.example", nil, ""},
	} {
		cl, err := dialTLS(addr, tc.sni, tc.protos...)
		if err != nil {
			t.Errorf("SNI %q: %v", tc.sni, err)
			continue
		}
		greetings[cl.greeting]++
		if got := cl.certName(); got != tc.cert {
			t.Errorf("SNI %q: certificate %q, want %q", tc.sni, got, tc.cert)
		}
		if got := cl.tc.ConnectionState().NegotiatedProtocol; got != tc.proto {
			t.Errorf("SNI %q offering %q: ALPN %q, want %q", tc.sni, tc.protos, got, tc.proto)
		}
		// The server gets plaintext: the echo backend answers in kind.
		if err := cl.echo("hello over TLS " + tc.sni); err != nil {
			t.Errorf("SNI %q: %v", tc.sni, err)
		}
		cl.Close()
	}
	if greetings["a"] == 0 || greetings["b"] == 0 {
		t.Errorf("round robin over TLS reached %v", greetings)
	}

	// A client speaking plaintext never reaches a server.
	before := a.accepted.Load() + b.accepted.Load()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(raw, "GET / HTTP/1.0\r\n\r\n")
	cl := &client{Conn: raw, r: bufio.NewReader(raw)}
	if err := cl.waitClosedDiscarding(10 * time.Second); err != nil {
		t.Errorf("plaintext client: %v", err)
	}
	raw.Close()
	if n := a.accepted.Load() + b.accepted.Load(); n != before {
		t.Errorf("a plaintext client reached a server (%d connections)", n-before)
	}

	fs, _ := frontendStats(p, l)
	if !fs.TLS || !fs.TLSReady || fs.Refused == 0 || fs.Accepted != 6 {
		t.Errorf("stats %+v: want TLS, ready, 6 accepted, the plaintext one refused", fs)
	}
	// Byte counters count plaintext: greeting and echo per connection.
	var in uint64
	for _, s := range fs.Servers {
		in += s.BytesIn
	}
	if in == 0 {
		t.Errorf("no bytes counted to servers: %+v", fs.Servers)
	}
}

// waitClosedDiscarding waits up to limit for the server side to close c,
// ignoring what it sends first (a TLS alert, say).
func (c *client) waitClosedDiscarding(limit time.Duration) error {
	c.SetReadDeadline(time.Now().Add(limit))
	defer c.SetReadDeadline(time.Time{})
	_, err := io.Copy(io.Discard, c.r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("still open after %v", limit)
	}
	return nil
}

func TestTLSHalfClose(t *testing.T) {
	leakcheck.Verify(t)
	dir := t.TempDir()
	cert := filepath.Join(dir, "a.pem")
	writeCert(t, cert, "a.example")
	a := startBackend(t, "a", "127.0.0.1")
	p, _ := newProxy(t, Options{})
	l := listenAt("127.0.0.1")
	mustApply(t, p, tlsService(l, cert, "", a.server()))
	cl, err := dialTLS(proxyAddr(t, p, l), "a.example")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// The client says all it has to say and half-closes (close_notify);
	// the echo server still answers, sees EOF and closes, which reaches
	// the client as close_notify: a clean end of the stream.
	cl.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(cl, "last words\n"); err != nil {
		t.Fatal(err)
	}
	if err := cl.tc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(cl.r)
	if err != nil || string(rest) != "last words\n" {
		t.Errorf("after half-close: %q, %v; want the echo and a clean EOF", rest, err)
	}
}

func TestTLSCertificateProblems(t *testing.T) {
	leakcheck.Verify(t)
	dir := t.TempDir()
	cert := filepath.Join(dir, "svc.pem")
	a := startBackend(t, "a", "127.0.0.1")
	p, _ := newProxy(t, Options{})
	l, plain := listenAt("127.0.0.1"), listenAt("127.0.0.2")
	both := func() *routes.Table {
		tb := tlsService(l, cert, "", a.server())
		tb.Services = append(tb.Services, service(plain, "roundrobin", a.server()))
		return tb
	}

	// Missing: reported, the listener refuses rather than serve in clear,
	// and the other service is applied.
	err := p.Apply(both())
	if err == nil || !strings.Contains(err.Error(), cert) || !strings.Contains(err.Error(), "rather than served in clear") {
		t.Fatalf("Apply with a missing certificate: %v", err)
	}
	addr := proxyAddr(t, p, l)
	if _, err := dialTLS(addr, "a.example"); err == nil {
		t.Error("TLS handshake succeeded without a certificate")
	}
	if _, err := dialFrom(addr, ""); err == nil {
		t.Error("a plaintext client reached a server without a certificate")
	}
	if n := a.accepted.Load(); n != 0 {
		t.Errorf("server reached %d times through a listener without certificate", n)
	}
	if cl, err := dialFrom(proxyAddr(t, p, plain), ""); err != nil {
		t.Errorf("plain service beside the broken one: %v", err)
	} else {
		cl.Close()
	}
	if fs, _ := frontendStats(p, l); !fs.TLS || fs.TLSReady {
		t.Errorf("stats without certificate: %+v", fs)
	}

	// Broken in the same way on the next Apply: the same error text, so
	// that callers that report changes only see one.
	if err2 := p.Apply(both()); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("second Apply: %v, want %v", err2, err)
	}

	// The certificate appears: the same socket serves TLS.
	writeCert(t, cert, "one.example")
	mustApply(t, p, both())
	if got := proxyAddr(t, p, l); got != addr {
		t.Errorf("listener moved from %s to %s", addr, got)
	}
	open, err := dialTLS(addr, "one.example")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if open.certName() != "one.example" || open.greeting != "a" {
		t.Errorf("certificate %q greeting %q", open.certName(), open.greeting)
	}

	// Renewed under the same name: read again on Apply; open connections
	// go on.
	writeCert(t, cert, "two.example")
	mustApply(t, p, both())
	if cl, err := dialTLS(addr, "two.example"); err != nil || cl.certName() != "two.example" {
		t.Errorf("after renewal: %v", err)
	} else {
		cl.Close()
	}
	if err := open.echo("across renewal"); err != nil {
		t.Errorf("connection opened before the renewal: %v", err)
	}

	// Broken again: refused, and the open connection is left alone (the
	// handshake is behind it).
	rewrite(t, cert, []byte("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"))
	if err := p.Apply(both()); err == nil || !strings.Contains(err.Error(), cert) {
		t.Errorf("Apply with a broken certificate: %v", err)
	}
	if _, err := dialTLS(addr, "two.example"); err == nil {
		t.Error("handshake succeeded with a broken certificate")
	}
	if err := open.echo("still"); err != nil {
		t.Errorf("open connection after the certificate broke: %v", err)
	}

	// A directory with a broken file: the rest is served, the broken one
	// reported.
	cd := filepath.Join(dir, "certs")
	os.Mkdir(cd, 0o755)
	writeCert(t, filepath.Join(cd, "good.pem"), "good.example")
	os.WriteFile(filepath.Join(cd, "bad.pem"), []byte("junk"), 0o600)
	err = p.Apply(tlsService(l, cd, "", a.server()))
	if err == nil || !strings.Contains(err.Error(), "bad.pem") || !strings.Contains(err.Error(), "in part") {
		t.Errorf("Apply with a partly broken directory: %v", err)
	}
	if cl, err := dialTLS(addr, "good.example"); err != nil || cl.certName() != "good.example" {
		t.Errorf("partly broken directory: %v", err)
	} else {
		cl.Close()
	}

	// The certificate goes away from the table: the service is plain TCP
	// again on the same socket.
	mustApply(t, p, table(l, "roundrobin", a.server()))
	if cl, err := dialFrom(addr, ""); err != nil || cl.greeting != "a" {
		t.Errorf("after SSL_CERT was dropped: %v", err)
	} else {
		cl.Close()
	}
}

func TestTLSHandshakeTimeout(t *testing.T) {
	leakcheck.Verify(t)
	dir := t.TempDir()
	cert := filepath.Join(dir, "a.pem")
	writeCert(t, cert, "a.example")
	a := startBackend(t, "a", "127.0.0.1")
	p, _ := newProxy(t, Options{HandshakeTimeout: 200 * time.Millisecond})
	l := listenAt("127.0.0.1")
	mustApply(t, p, tlsService(l, cert, "", a.server()))
	addr := proxyAddr(t, p, l)

	// Silent, and stuck half-way through a ClientHello.
	for _, send := range []string{"", "\x16\x03\x01\x02\x00\x01"} {
		raw, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(raw, send)
		cl := &client{Conn: raw, r: bufio.NewReader(raw)}
		if err := cl.waitClosedDiscarding(10 * time.Second); err != nil {
			t.Errorf("client sending %q: %v", send, err)
		}
		raw.Close()
	}
	eventually(t, "no open connections", func() bool {
		fs, _ := frontendStats(p, l)
		return fs.Active == 0 && fs.Refused == 2
	})
	if n := a.accepted.Load(); n != 0 {
		t.Errorf("server reached %d times by clients without a handshake", n)
	}
	// A handshake that completes is not cut by the timeout afterwards.
	cl, err := dialTLS(addr, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	time.Sleep(400 * time.Millisecond) // past the handshake timeout
	if err := cl.echo("after the handshake timeout"); err != nil {
		t.Errorf("established connection: %v", err)
	}
}

func TestTLSCloseAndDrainDuringHandshake(t *testing.T) {
	leakcheck.Verify(t)
	dir := t.TempDir()
	cert := filepath.Join(dir, "a.pem")
	writeCert(t, cert, "a.example")
	a := startBackend(t, "a", "127.0.0.1")
	// Handshakes never time out here: only Close may end them.
	p := New(Options{HandshakeTimeout: time.Hour, DrainTimeout: time.Hour})
	l := listenAt("127.0.0.1")
	mustApply(t, p, tlsService(l, cert, "", a.server()))
	addr := proxyAddr(t, p, l)

	established, err := dialTLS(addr, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	defer established.Close()
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	eventually(t, "both connections open", func() bool {
		fs, _ := frontendStats(p, l)
		return fs.Active == 2
	})

	// The service leaves: its listener drains, the established connection
	// goes on, new ones are refused.
	mustApply(t, p, &routes.Table{})
	if err := established.echo("draining"); err != nil {
		t.Errorf("established TLS connection while draining: %v", err)
	}
	if _, err := dialTLS(addr, "a.example"); err == nil {
		t.Error("new TLS connection accepted by a draining listener")
	}
	if fs, ok := frontendStats(p, l); !ok || !fs.Retiring {
		t.Errorf("stats while draining: %+v %v", fs, ok)
	}

	done := make(chan error)
	go func() { done <- p.Close() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Close waits for a handshake that never comes")
	}
	for _, c := range []net.Conn{established.Conn, silent} {
		cl := &client{Conn: c, r: bufio.NewReader(c)}
		if err := cl.waitClosedDiscarding(10 * time.Second); err != nil {
			t.Error(err)
		}
	}
}

func TestALPNFromBindOptions(t *testing.T) {
	for _, tc := range []struct {
		opts string
		want []string
	}{
		{"", nil},
		{"alpn h2,http/1.1", []string{"h2", "http/1.1"}},
		{"accept-proxy  alpn http/1.1 ssl-min-ver TLSv1.2", []string{"http/1.1"}},
		{"alpn", nil},
		{"alpn ,h2,,", []string{"h2"}},
		{"alpn " + strings.Repeat("x", 300) + ",h2", []string{"h2"}},
		{"npn h2", nil},
	} {
		if got := alpn(tc.opts); !slices.Equal(got, tc.want) {
			t.Errorf("alpn(%q) = %q, want %q", tc.opts, got, tc.want)
		}
	}
}
