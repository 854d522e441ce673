package admin

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// haproxyBinary finds HAProxy, skipping the test without it unless CI=true.
func haproxyBinary(t *testing.T) string {
	t.Helper()
	if bin, err := exec.LookPath("haproxy"); err == nil {
		return bin
	}
	if _, err := os.Stat("/usr/sbin/haproxy"); err == nil {
		return "/usr/sbin/haproxy"
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("haproxy not installed; CI=true, so this is a failure, not a skip")
	}
	t.Skip("haproxy not installed")
	return ""
}

// monitorConfig is the part of Marathon-LB's "listen stats" that answers
// /_haproxy_health_check, bound to the test's socket (fd 3).
const monitorConfig = `global
  maxconn 100
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
listen stats
  bind fd@3
  balance
  mode http
  stats enable
  monitor-uri /_haproxy_health_check
`

// TestHealthCheckLikeHAProxy asks a real HAProxy with Marathon-LB's
// monitor-uri and the handler the same requests and compares status, body
// and the headers a checker might look at.
func TestHealthCheckLikeHAProxy(t *testing.T) {
	bin := haproxyBinary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(monitorConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	// The listening socket is passed down, so HAProxy needs no free port
	// and connections wait in the backlog until it accepts them.
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
	cmd := exec.Command(bin, "-db", "-f", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{f}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			out, _ := os.ReadFile(logf.Name())
			t.Logf("haproxy output:\n%s", out)
		}
	})
	hap := "http://" + ln.Addr().String()
	ours := serve(t, &fakeSource{}, nil, nil)

	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost} {
		want := do(t, m, hap+PathHealthCheck)
		got := do(t, m, ours+PathHealthCheck)
		if got.status != want.status || got.body != want.body {
			t.Errorf("%s: signpost %d %q, HAProxy %d %q", m, got.status, got.body, want.status, want.body)
		}
		for _, h := range []string{"Content-Type", "Content-Length", "Cache-Control"} {
			if got.header.Get(h) != want.header.Get(h) {
				t.Errorf("%s: %s: signpost %q, HAProxy %q", m, h, got.header.Get(h), want.header.Get(h))
			}
		}
	}
}
