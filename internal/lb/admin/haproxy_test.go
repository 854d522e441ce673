package admin

import (
	"net/http"
	"testing"

	"github.com/signpost-dns/signpost/internal/testutil/haproxytest"
)

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
	hap := "http://" + haproxytest.Start(t, monitorConfig)
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
