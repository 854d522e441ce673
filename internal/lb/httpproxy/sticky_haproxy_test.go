package httpproxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// stickyHAProxy runs HAProxy with cfg, whose frontend binds "fd@3": a
// listening socket of the test passed down, so there is no port to race
// for and no start-up to wait for. It skips without HAProxy unless CI=true.
func stickyHAProxy(t *testing.T, cfg string) string {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		bin = "/usr/sbin/haproxy"
		if _, serr := os.Stat(bin); serr != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("haproxy not installed (%v); CI=true, so this is a failure, not a skip", err)
			}
			t.Skipf("haproxy not installed (%v)", err)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	logf, err := os.Create(filepath.Join(dir, "haproxy.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{f}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return ln.Addr().String()
}

// TestStickyLikeHAProxy sends the same requests through HAProxy with
// Marathon-LB's "cookie mesosphere_server_id insert indirect nocache" and
// through the proxy, and wants the same cookies in both directions.
func TestStickyLikeHAProxy(t *testing.T) {
	a := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		// A cacheable response, so that HAProxy's "nocache" applies too.
		w.Header().Set("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT")
		w.Header().Add("Set-Cookie", "mesosphere_server_id=from-app")
		w.Header().Add("Set-Cookie", "app=1")
		io.WriteString(w, strings.Join(r.Header.Values("Cookie"), " | "))
	})
	hap := stickyHAProxy(t, fmt.Sprintf(`global
  maxconn 100
defaults
  mode http
  timeout connect 3s
  timeout client 30s
  timeout server 30s
frontend f
  bind fd@3
  default_backend b
backend b
  cookie mesosphere_server_id insert indirect nocache
  server s1 %s cookie c1
`, a.hostPort()))
	b := backend("b", a.hostPort())
	b.Sticky = true
	b.Servers[0].Cookie = "c1"
	p := startProxy(t, tableOf(hostRule(b, "b.example")), Options{})

	type result struct {
		Seen         string
		SetCookie    []string
		CacheControl []string
	}
	do := func(addr string, cookies []string) result {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Host = "b.example"
		for _, c := range cookies {
			req.Header.Add("Cookie", c)
		}
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		sc := resp.Header.Values("Set-Cookie")
		slices.Sort(sc)
		return result{string(body), sc, resp.Header.Values("Cache-Control")}
	}
	for _, cookies := range [][]string{
		nil,
		{"mesosphere_server_id=c1"},
		{"x=1; mesosphere_server_id=c1; y=2"},
		{"x=1; mesosphere_server_id=unknown"},
		{"x=1", "mesosphere_server_id=c1"},
	} {
		want, got := do(hap, cookies), do(p.HTTPAddr().String(), cookies)
		if fmt.Sprint(want) != fmt.Sprint(got) {
			t.Errorf("Cookie %q:\n HAProxy   %+v\n signpost  %+v", cookies, want, got)
		}
	}
}
