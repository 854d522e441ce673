package httpproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/routes"
	"github.com/signpost-dns/signpost/internal/testutil/certtest"
	"github.com/signpost-dns/signpost/internal/testutil/leakcheck"
	"github.com/signpost-dns/signpost/internal/testutil/syncbuf"
)

// writeCert writes a self-signed certificate for names (the first is the
// CN) and its key into one PEM file, as HAProxy's "crt" wants it.
func writeCert(t *testing.T, path string, names ...string) {
	t.Helper()
	if err := os.WriteFile(path, certtest.PEM(t, names...), 0o600); err != nil {
		t.Fatal(err)
	}
}

func testLogger() (*slog.Logger, *syncbuf.Buffer) {
	var b syncbuf.Buffer
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

// tlsGet sends one request over TLS with server name sni to addr and
// returns the status, body and the certificate's common name; err is set
// when the handshake fails.
func tlsGet(t *testing.T, addr, sni, path string, hdr ...string) (code int, body, cn string, err error) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		return 0, "", "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	cn = conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	req, _ := http.NewRequest("GET", "https://"+sni+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	req.Close = true
	if err := req.Write(conn); err != nil {
		return 0, "", cn, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return 0, "", cn, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), cn, err
}

func TestHTTPSFrontendSNI(t *testing.T) {
	leakcheck.Verify(t)
	dir := t.TempDir()
	writeCert(t, filepath.Join(dir, "default.pem"), "default.example")
	certDir := filepath.Join(dir, "certs")
	os.Mkdir(certDir, 0o755)
	writeCert(t, filepath.Join(certDir, "a.pem"), "a.example")
	writeCert(t, filepath.Join(certDir, "wild.pem"), "*.wild.example")
	os.WriteFile(filepath.Join(dir, "broken.pem"), []byte("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"), 0o600)

	var mu sync.Mutex
	var proto []string
	a := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		proto = r.Header.Values("X-Forwarded-Proto")
		mu.Unlock()
		io.WriteString(w, "a "+r.URL.Path)
	})
	api := newBackend(t, "api", nil)
	ba, bapi := backend("a", a.hostPort()), backend("api", api.hostPort())
	tbl := tableOf(hostRule(ba, "a.example"))
	tbl.HTTPS = &routes.HTTPSFrontend{
		Certs: []string{filepath.Join(dir, "default.pem"), filepath.Join(dir, "broken.pem"), certDir, filepath.Join(dir, "missing.pem")},
		Routes: []routes.RouteRule{
			{Match: routes.Match{Hosts: []string{"a.example"}, Paths: []routes.PathPrefix{{Prefix: "/api"}}}, Backend: bapi},
			hostRule(ba, "a.example"),
			hostRule(ba, "x.wild.example"),
		},
	}
	log, logs := testLogger()
	p := startProxy(t, tbl, Options{Logger: log})
	addr := p.HTTPSAddr().String()

	for _, tc := range []struct {
		sni, path   string
		code        int
		body, cn    string
		wantHandsh  bool
		description string
	}{
		{"a.example", "/x", 200, "a /x", "a.example", true, "exact name"},
		{"A.Example", "/api/v1", 200, "api /api/v1", "a.example", true, "SNI case-insensitive, path rule first"},
		{"x.wild.example", "/", 200, "a /", "*.wild.example", true, "wildcard certificate"},
		{"other.example", "/", 503, "", "default.example", true, "unknown name: first certificate, no route"},
	} {
		code, body, cn, err := tlsGet(t, addr, tc.sni, tc.path)
		if err != nil {
			t.Errorf("%s: %v", tc.description, err)
			continue
		}
		if code != tc.code || (tc.body != "" && body != tc.body) || cn != tc.cn {
			t.Errorf("%s: %d %q cert %q, want %d %q cert %q", tc.description, code, body, cn, tc.code, tc.body, tc.cn)
		}
	}
	mu.Lock()
	if len(proto) != 1 || proto[0] != "https" {
		t.Errorf("X-Forwarded-Proto = %q, want [https]", proto)
	}
	mu.Unlock()
	// Routing is by SNI, not by Host.
	if code, _, _, err := tlsGet(t, addr, "other.example", "/", "Host", "a.example"); err != nil || code != 503 {
		t.Errorf("Host a.example with SNI other.example: %d %v, want 503", code, err)
	}
	for _, want := range []string{"broken.pem", "missing.pem"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not mention %s:\n%s", want, logs.String())
		}
	}

	// A new certificate list is loaded by Apply.
	writeCert(t, filepath.Join(dir, "new.pem"), "new.example")
	tbl2 := tableOf(hostRule(ba, "a.example"))
	tbl2.HTTPS = &routes.HTTPSFrontend{Certs: []string{filepath.Join(dir, "new.pem")}, Routes: []routes.RouteRule{hostRule(ba, "a.example")}}
	if err := p.Apply(tbl2); err != nil {
		t.Fatal(err)
	}
	if _, _, cn, err := tlsGet(t, addr, "a.example", "/"); err != nil || cn != "new.example" {
		t.Errorf("after Apply with a new certificate list: cert %q, %v", cn, err)
	}
	// A changed file under the same name is read again.
	time.Sleep(10 * time.Millisecond) // a later modification time
	writeCert(t, filepath.Join(dir, "new.pem"), "renewed.example")
	if err := p.Apply(tbl2); err != nil {
		t.Fatal(err)
	}
	if _, _, cn, err := tlsGet(t, addr, "a.example", "/"); err != nil || cn != "renewed.example" {
		t.Errorf("after the file changed: cert %q, %v", cn, err)
	}
	// No certificate at all: handshakes fail, nothing else is affected.
	tbl3 := tableOf(hostRule(ba, "a.example"))
	tbl3.HTTPS = &routes.HTTPSFrontend{Certs: []string{filepath.Join(dir, "missing.pem")}}
	p.Apply(tbl3)
	if _, _, _, err := tlsGet(t, addr, "a.example", "/"); err == nil {
		t.Error("handshake succeeded without a certificate")
	}
	if code, _, _ := get(t, client(), p, "a.example", "/"); code != 200 {
		t.Errorf("plain HTTP while TLS has no certificate: %d", code)
	}
}

func TestHTTPSGroupByVhost(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, filepath.Join(dir, "global.pem"), "global.example")
	writeCert(t, filepath.Join(dir, "a.pem"), "a.example")
	a := newBackend(t, "a", nil)
	ba := backend("a", a.hostPort())
	tbl := tableOf(hostRule(ba, "a.example"))
	tbl.HTTPS = &routes.HTTPSFrontend{
		Certs:        []string{filepath.Join(dir, "global.pem")},
		GroupByVhost: true,
		Vhosts: map[string]routes.VhostTLS{
			"a.example": {Certs: []string{filepath.Join(dir, "a.pem")}},
			"b.example": {Certs: []string{filepath.Join(dir, "global.pem")}},
		},
		Routes: []routes.RouteRule{hostRule(ba, "a.example")},
	}
	p := startProxy(t, tbl, Options{})
	addr := p.HTTPSAddr().String()
	if code, body, cn, err := tlsGet(t, addr, "a.example", "/p"); err != nil || code != 200 || body != "a /p" || cn != "a.example" {
		t.Errorf("vhost a.example: %d %q cert %q %v", code, body, cn, err)
	}
	if code, _, cn, err := tlsGet(t, addr, "b.example", "/"); err != nil || code != 503 || cn != "global.example" {
		t.Errorf("vhost b.example without route: %d cert %q %v", code, cn, err)
	}
	if _, _, _, err := tlsGet(t, addr, "c.example", "/"); err == nil {
		t.Error("handshake accepted for a name that is no vhost")
	}
	// Keep-alive over TLS: many requests, one connection.
	var dials atomic.Int64
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: "a.example", InsecureSkipVerify: true},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for i := range 10 {
		resp, err := c.Get("https://a.example/k")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "a /k" || resp.Proto != "HTTP/1.1" {
			t.Fatalf("request %d over TLS: %d %q %s", i, resp.StatusCode, b, resp.Proto)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("10 requests over TLS used %d connections, want 1", n)
	}
}
