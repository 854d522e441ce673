package httpproxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/signpost-dns/signpost/internal/lb/routes"
)

func TestProxyPassRest(t *testing.T) {
	for _, tc := range []struct {
		target, path string
		want         string
		ok           bool
	}{
		{"/pp/x", "/pp", "x", true},
		{"/PP/x?q=1", "/pp", "x?q=1", true},
		{"/pp", "/pp", "", true},
		{"/pp/", "/pp", "", true},
		{"/ppx", "/pp", "x", true}, // as Marathon-LB's regular expression has it
		{"/other", "/pp", "", false},
		{"/p", "/pp", "", false},
		{"http://h/pp/x", "/pp", "", false},
	} {
		got, ok := proxyPassRest([]byte(tc.target), tc.path)
		if string(got) != tc.want || ok != tc.ok {
			t.Errorf("proxyPassRest(%q, %q) = %q %v, want %q %v", tc.target, tc.path, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRevProxyMatches(t *testing.T) {
	for _, tc := range []struct {
		loc  string
		want bool
	}{
		{"/somewhere", true},
		{"http://web.example.com/x", true},
		{"HTTPS://Web.Example.com:8443/x", true},
		{"http://web.example.com", false},
		{"http://web.example.com:/x", false},
		{"http://other.example.com/x", false},
		{"ftp://web.example.com/x", false},
		{"relative", false},
		{"", false},
	} {
		if got := revProxyMatches([]byte(tc.loc), "web.example.com"); got != tc.want {
			t.Errorf("revProxyMatches(%q) = %v, want %v", tc.loc, got, tc.want)
		}
	}
}

func TestWriteCookieWithout(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"mesosphere_server_id=abc", ""},
		{"x=1; mesosphere_server_id=abc; y=2", "Cookie: x=1; y=2\r\n"},
		{"mesosphere_server_id=abc;y=2;", "Cookie: y=2\r\n"},
		{"x=1;mesosphere_server_id=abc", "Cookie: x=1\r\n"},
		{"x=a=b; mesosphere_server_id_2=k", "Cookie: x=a=b; mesosphere_server_id_2=k\r\n"},
	} {
		var b bytes.Buffer
		w := bufio.NewWriter(&b)
		writeCookieWithout(w, []byte(tc.in), routes.StickyCookie)
		w.Flush()
		if b.String() != tc.want {
			t.Errorf("%q → %q, want %q", tc.in, b.String(), tc.want)
		}
	}
}

// TestBackendOptions exercises PROXYPASS, REVPROXY, root redirect and HSTS
// end to end, on the shared frontend and on the app-id frontend.
func TestBackendOptions(t *testing.T) {
	var mu sync.Mutex
	var gotPath, gotHost string
	a := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotPath, gotHost = r.URL.RequestURI(), r.Host
		mu.Unlock()
		switch r.URL.Path {
		case "/redir-abs":
			w.Header().Set("Location", "http://Web.Example.com:8080/login")
		case "/redir-other":
			w.Header().Set("Location", "http://elsewhere.example/login")
		case "/redir-path":
			w.Header().Set("Location", "/login")
		}
		w.WriteHeader(302)
	})
	b := backend("web", a.hostPort())
	b.HTTP = &routes.HTTPOptions{
		ProxyPassPath: "/pp", ProxyPassHost: "web.example.com",
		RevProxyPath: "/legacy", RevProxyHost: "web.example.com",
		HSTS: true,
	}
	p := startProxy(t, tableOf(hostRule(b, "web.example.com")), Options{})
	c := client()
	for _, tc := range []struct {
		path, wantPath, wantLoc string
	}{
		{"/PP/redir-abs?q=1", "/redir-abs?q=1", "/legacy"},
		{"/pp/redir-other", "/redir-other", "http://elsewhere.example/login"},
		{"/pp/redir-path", "/redir-path", "/legacy"},
		{"/other", "/other", ""},
	} {
		code, _, h := get(t, c, p, "WEB.example.com:80", tc.path)
		mu.Lock()
		if code != 302 || gotPath != tc.wantPath || gotHost != "web.example.com" || h.Get("Location") != tc.wantLoc {
			t.Errorf("%s: %d, server saw %q Host %q, Location %q; want path %q, Location %q",
				tc.path, code, gotPath, gotHost, h.Get("Location"), tc.wantPath, tc.wantLoc)
		}
		mu.Unlock()
		if h.Get("Strict-Transport-Security") != "max-age=15768000" {
			t.Errorf("%s: no HSTS header", tc.path)
		}
	}
}

func TestStickySessions(t *testing.T) {
	var cookies sync.Map // backend name → last Cookie header seen
	names := []string{"s0", "s1", "s2"}
	var hps []string
	var hits [3]atomic.Int64
	for i, n := range names {
		be := newBackend(t, n, func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			cookies.Store(n, r.Header.Values("Cookie"))
			// The server's own persistence cookie is dropped ("indirect");
			// its other cookies pass.
			w.Header().Add("Set-Cookie", "mesosphere_server_id=from-app")
			w.Header().Add("Set-Cookie", "app=1")
			io.WriteString(w, n)
		})
		hps = append(hps, be.hostPort())
	}
	mk := func(draining int) *routes.Backend {
		b := backend("st", hps...)
		b.Sticky = true
		for i := range b.Servers {
			b.Servers[i].Cookie = "c" + names[i]
			b.Servers[i].Draining = i == draining
		}
		return b
	}
	var down atomic.Int64
	down.Store(-1)
	healthy := func(_ string, s *routes.Server) bool { return int64(s.ID) != down.Load() }
	b := mk(-1)
	for i := range b.Servers {
		b.Servers[i].ID = i
	}
	p := startProxy(t, tableOf(hostRule(b, "st.example")), Options{Healthy: healthy})
	c := client()
	do := func(cookie string) (body, setCookie, cacheControl string, seen []string) {
		t.Helper()
		var hdr []string
		if cookie != "" {
			hdr = []string{"Cookie", cookie}
		}
		code, body, h := get(t, c, p, "st.example", "/", hdr...)
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		v, _ := cookies.Load(body)
		seen, _ = v.([]string)
		app := false
		for _, sc := range h.Values("Set-Cookie") {
			switch {
			case sc == "app=1":
				app = true
			case strings.Contains(sc, "from-app"):
				t.Errorf("the server's own %s reached the client", sc)
			default:
				setCookie = sc
			}
		}
		if !app {
			t.Errorf("the server's other cookie was dropped: %q", h.Values("Set-Cookie"))
		}
		return body, setCookie, h.Get("Cache-Control"), seen
	}

	// A new client gets a cookie naming the server that answered.
	body, sc, cc, _ := do("")
	if sc != "mesosphere_server_id=c"+body+"; path=/" || cc != "private" {
		t.Fatalf("first response: server %s, Set-Cookie %q, Cache-Control %q", body, sc, cc)
	}
	// With the cookie: the same server every time, no new cookie, and the
	// cookie removed from what the server sees (others kept).
	for range 5 {
		got, sc, _, seen := do("a=1; mesosphere_server_id=c" + body + "; b=2")
		if got != body || sc != "" {
			t.Errorf("sticky client went to %s (pinned to %s), Set-Cookie %q", got, body, sc)
		}
		if len(seen) != 1 || seen[0] != "a=1; b=2" {
			t.Errorf("server saw Cookie %q, want [a=1; b=2]", seen)
		}
	}
	if got, _, _, seen := do("mesosphere_server_id=c" + body); got != body || len(seen) != 0 {
		t.Errorf("cookie alone: server %s saw Cookie %q, want no Cookie header", got, seen)
	}
	// Unknown value: balanced and given a valid cookie.
	if got, sc, _, _ := do("mesosphere_server_id=nonsense"); sc != "mesosphere_server_id=c"+got+"; path=/" {
		t.Errorf("unknown cookie: server %s, Set-Cookie %q", got, sc)
	}
	// A draining server (HAProxy MAINT) gets no new requests, not even from
	// its cookie clients: they are balanced anew, as HAProxy 2.6 does.
	p.Apply(tableOf(hostRule(func() *routes.Backend {
		nb := mk(1)
		for i := range nb.Servers {
			nb.Servers[i].ID = i
		}
		return nb
	}(), "st.example")))
	if got, sc, _, _ := do("mesosphere_server_id=cs1"); got == "s1" || sc != "mesosphere_server_id=c"+got+"; path=/" {
		t.Errorf("cookie of a draining server: went to %s, Set-Cookie %q", got, sc)
	}
	before := hits[1].Load()
	for range 6 {
		do("")
	}
	if n := hits[1].Load() - before; n != 0 {
		t.Errorf("draining server got %d new clients", n)
	}
	// A server that is down does not keep its clients.
	down.Store(2)
	if got, sc, _, _ := do("mesosphere_server_id=cs2"); got == "s2" || sc != "mesosphere_server_id=c"+got+"; path=/" {
		t.Errorf("cookie of a down server: went to %s, Set-Cookie %q", got, sc)
	}
}
