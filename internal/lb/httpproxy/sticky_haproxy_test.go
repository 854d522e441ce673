package httpproxy

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/testutil/haproxytest"
)

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
	hap := haproxytest.Start(t, fmt.Sprintf(`global
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
