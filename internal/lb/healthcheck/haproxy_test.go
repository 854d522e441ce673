package healthcheck

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/testutil/haproxytest"
	"github.com/signpost-dns/signpost/internal/testutil/syncbuf"
)

// TestHTTPRequestMatchesHAProxy: the HTTP check request is byte for byte
// what HAProxy sends for Marathon-LB's "option httpchk GET <path>".
func TestHTTPRequestMatchesHAProxy(t *testing.T) {
	haproxy := haproxytest.Binary(t)
	const path = "/health/check?full=1"

	theirs := startServer(t, answer, 200, nil)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "haproxy.cfg")
	// Marathon-LB's BACKEND_HTTP_HEALTHCHECK_OPTIONS and server check
	// options; the frontend only exists because HAProxy will not start
	// without a listener (a unix socket, so no port is taken).
	conf := fmt.Sprintf(`global
  maxconn 100
defaults
  mode http
  timeout connect 3s
  timeout client 30s
  timeout server 30s
frontend f
  bind unix@%s
  default_backend b
backend b
  option  httpchk GET %s
  timeout check 2s
  server s1 %s check inter 100ms fall 2
`, filepath.Join(dir, "fe.sock"), path, theirs.addr())
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, haproxy, "-f", cfg, "-db")
	out := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for len(theirs.requests()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("HAProxy sent no check within 20 s; its output:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}

	ours := startServer(t, answer, 200, nil)
	c := New(Options{FirstCheck: -1})
	if err := c.Apply(tableOf(backend("b", httpCheck(path, time.Hour, 3, 2), srv("s1", ours.addr())))); err != nil {
		t.Fatal(err)
	}
	start(t, c)
	eventually(t, "our check", func() bool { return len(ours.requests()) > 0 })
	if got, want := string(ours.requests()[0]), string(theirs.requests()[0]); got != want {
		t.Errorf("our check request %q, HAProxy's %q", got, want)
	}
}
