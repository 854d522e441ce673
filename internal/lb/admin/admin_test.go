package admin

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/signpost-dns/signpost/internal/lb/routes"
	"github.com/signpost-dns/signpost/internal/testutil/leakcheck"
	"github.com/signpost-dns/signpost/internal/testutil/syncbuf"
)

// fakeSource serves a fixed table (a real one, built from a case) and
// counts the signals.
type fakeSource struct {
	table             *routes.Table
	refetch, rebuilds atomic.Int64
}

func (f *fakeSource) Table() *routes.Table { return f.table }
func (f *fakeSource) Refetch()             { f.refetch.Add(1) }
func (f *fakeSource) Rebuild()             { f.rebuilds.Add(1) }

// infoSource also implements InfoSource.
type infoSource struct {
	fakeSource
	info Info
}

func (f *infoSource) TableInfo() (*routes.Table, Info) { return f.table, f.info }

// serve starts the handler on a real loopback socket.
func serve(t *testing.T, src Source, metrics http.Handler, logger *slog.Logger) string {
	t.Helper()
	leakcheck.Verify(t)
	srv := httptest.NewServer(Handler(src, metrics, logger))
	t.Cleanup(func() {
		srv.Client().CloseIdleConnections()
		srv.Close()
	})
	return srv.URL
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, method, url string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A fresh connection per request, so nothing is left idle to leak.
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(body)}
}

func caseTable(t *testing.T, name string) (*routes.Table, []routes.Problem) {
	t.Helper()
	dir, ok := caseDirs(t)[name]
	if !ok {
		t.Fatalf("no case %s", name)
	}
	return buildCase(t, dir)
}

func TestHealthCheck(t *testing.T) {
	for _, table := range []*routes.Table{nil, {}} {
		url := serve(t, &fakeSource{table: table}, nil, nil)
		// HAProxy's monitor-uri answers every method.
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodOptions} {
			r := do(t, m, url+PathHealthCheck)
			if r.status != http.StatusOK || r.body != healthBody {
				t.Errorf("%s %s (table %v) = %d %q, want 200 %q", m, PathHealthCheck, table != nil, r.status, r.body, healthBody)
			}
			if ct := r.header.Get("Content-Type"); ct != "text/html" {
				t.Errorf("Content-Type = %q, want text/html", ct)
			}
			if cc := r.header.Get("Cache-Control"); cc != "no-cache" {
				t.Errorf("Cache-Control = %q, want no-cache", cc)
			}
		}
		if r := do(t, http.MethodHead, url+PathHealthCheck); r.status != http.StatusOK || r.body != "" || r.header.Get("Content-Length") != "58" {
			t.Errorf("HEAD = %d %q length %q, want 200, no body, length 58", r.status, r.body, r.header.Get("Content-Length"))
		}
	}
}

func TestGetConfig(t *testing.T) {
	table, problems := caseTable(t, "17_backend_weight_ordering")
	url := serve(t, &fakeSource{table: table}, nil, nil)
	want := string(Config(table, Info{}))
	r := do(t, http.MethodGet, url+PathGetConfig)
	if r.status != http.StatusOK || r.body != want {
		t.Fatalf("GET = %d\n%s\nwant 200\n%s", r.status, r.body, want)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want text/plain", ct)
	}
	// The query string is ignored, as by HAProxy's "path" ACL.
	if r := do(t, http.MethodGet, url+PathGetConfig+"?x=1"); r.status != http.StatusOK || r.body != want {
		t.Errorf("GET with a query = %d", r.status)
	}
	if r := do(t, http.MethodHead, url+PathGetConfig); r.status != http.StatusOK || r.body != "" {
		t.Errorf("HEAD = %d %q", r.status, r.body)
	}
	if r := do(t, http.MethodPost, url+PathGetConfig); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST = %d, Allow %q; want 405 with Allow: GET, HEAD", r.status, r.header.Get("Allow"))
	}

	// A Source that knows its build time and problems gets them shown.
	is := &infoSource{fakeSource: fakeSource{table: table}, info: Info{Built: builtAt, Problems: append(problems, routes.Problem{AppID: "/bad", PortIndex: 0, Reason: "test problem", Disabled: true})}}
	url2 := serve(t, is, nil, nil)
	r = do(t, http.MethodGet, url2+PathGetConfig)
	if r.body != string(Config(table, is.info)) || !strings.Contains(r.body, "# built: 2024-01-02T03:04:05.678Z") || !strings.Contains(r.body, "test problem") {
		t.Errorf("GET with an InfoSource:\n%s", r.body)
	}
}

func TestMapEndpoints(t *testing.T) {
	table, _ := caseTable(t, "42_haproxy_map")
	dir := caseDirs(t)["42_haproxy_map"]
	url := serve(t, &fakeSource{table: table}, nil, nil)
	for path, file := range map[string]string{PathGetVhostMap: "domain2backend.map", PathGetAppMap: "app2backend.map"} {
		want := string(readFile(t, dir+"/"+file))
		r := do(t, http.MethodGet, url+path)
		if r.status != http.StatusOK || r.body != want {
			t.Errorf("GET %s = %d %q, want 200 %q (%s)", path, r.status, r.body, want, file)
		}
		if r := do(t, http.MethodDelete, url+path); r.status != http.StatusMethodNotAllowed {
			t.Errorf("DELETE %s = %d, want 405", path, r.status)
		}
	}
	// Without --haproxy-map: 200 and empty, as Marathon-LB.
	plain, _ := caseTable(t, "10_vhost_single")
	url = serve(t, &fakeSource{table: plain}, nil, nil)
	for _, path := range []string{PathGetVhostMap, PathGetAppMap} {
		if r := do(t, http.MethodGet, url+path); r.status != http.StatusOK || r.body != "" {
			t.Errorf("GET %s without --haproxy-map = %d %q, want 200 and empty", path, r.status, r.body)
		}
	}
}

func TestSignals(t *testing.T) {
	var logs syncbuf.Buffer
	src := &fakeSource{}
	url := serve(t, src, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	tests := []struct {
		method, path string
		status       int
		refetch      int64
		rebuilds     int64
	}{
		{http.MethodGet, PathSignalHUP, 200, 1, 0},
		{http.MethodPost, PathSignalHUP, 200, 2, 0},
		{http.MethodPut, PathSignalHUP, 405, 2, 0},
		{http.MethodHead, PathSignalHUP, 405, 2, 0},
		{http.MethodGet, PathSignalUSR1, 200, 2, 1},
		{http.MethodPost, PathSignalUSR1, 200, 2, 2},
		{http.MethodDelete, PathSignalUSR1, 405, 2, 2},
		{http.MethodGet, "/_mlb_signal/term", 404, 2, 2},
		{http.MethodGet, PathSignalHUP + "/", 404, 2, 2},
	}
	for _, tt := range tests {
		r := do(t, tt.method, url+tt.path)
		if r.status != tt.status {
			t.Errorf("%s %s = %d %q, want %d", tt.method, tt.path, r.status, r.body, tt.status)
		}
		if tt.status == 200 && !strings.HasPrefix(r.body, "Sent SIG") {
			t.Errorf("%s %s body = %q", tt.method, tt.path, r.body)
		}
		if tt.status == 405 && r.header.Get("Allow") != "GET, POST" {
			t.Errorf("%s %s Allow = %q, want GET, POST", tt.method, tt.path, r.header.Get("Allow"))
		}
		if got, got2 := src.refetch.Load(), src.rebuilds.Load(); got != tt.refetch || got2 != tt.rebuilds {
			t.Errorf("after %s %s: %d refetches, %d rebuilds; want %d, %d", tt.method, tt.path, got, got2, tt.refetch, tt.rebuilds)
		}
	}
	out := logs.String()
	if strings.Count(out, "full refetch from Marathon requested") != 2 || strings.Count(out, "route rebuild requested") != 2 {
		t.Errorf("signals not logged once each:\n%s", out)
	}
}

func TestMetrics(t *testing.T) {
	url := serve(t, &fakeSource{}, nil, nil)
	if r := do(t, http.MethodGet, url+PathMetrics); r.status != http.StatusNotFound {
		t.Errorf("nil metrics handler: GET /metrics = %d, want 404", r.status)
	}
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		io.WriteString(w, "# TYPE up gauge\nup 1\n")
	})
	url = serve(t, &fakeSource{}, metrics, nil)
	if r := do(t, http.MethodGet, url+PathMetrics); r.status != http.StatusOK || r.body != "# TYPE up gauge\nup 1\n" {
		t.Errorf("GET /metrics = %d %q", r.status, r.body)
	}
}

func TestUnknownPaths(t *testing.T) {
	table, _ := caseTable(t, "01_tcp_two_tasks")
	url := serve(t, &fakeSource{table: table}, nil, nil)
	for _, p := range []string{"/", "/haproxy?stats", "/_haproxy_getpids", "/_haproxy_getconfig/", "//_haproxy_getconfig", "/_HAPROXY_HEALTH_CHECK", "/metrics/x"} {
		r := do(t, http.MethodGet, url+p)
		if r.status != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, r.status)
		}
		if !strings.Contains(r.body, PathGetConfig) {
			t.Errorf("GET %s: 404 body does not list the endpoints: %q", p, r.body)
		}
	}
}

// TestNoTableYet is the state before the first build: nothing may panic,
// getconfig says there are no routes, the maps are empty, the health check
// and the signals work.
func TestNoTableYet(t *testing.T) {
	for _, src := range []Source{&fakeSource{}, &infoSource{}} {
		url := serve(t, src, nil, nil)
		if r := do(t, http.MethodGet, url+PathGetConfig); r.status != http.StatusOK || !strings.Contains(r.body, "no routes yet") {
			t.Errorf("getconfig = %d %q", r.status, r.body)
		}
		for _, p := range []string{PathGetVhostMap, PathGetAppMap} {
			if r := do(t, http.MethodGet, url+p); r.status != http.StatusOK || r.body != "" {
				t.Errorf("%s = %d %q, want 200 and empty", p, r.status, r.body)
			}
		}
		if r := do(t, http.MethodGet, url+PathHealthCheck); r.status != http.StatusOK {
			t.Errorf("health check = %d", r.status)
		}
		for _, p := range []string{PathSignalHUP, PathSignalUSR1} {
			if r := do(t, http.MethodPost, url+p); r.status != http.StatusOK {
				t.Errorf("%s = %d", p, r.status)
			}
		}
	}
}

// TestHandTableOverHTTP serves a table with missing pointers and hostile
// label text: every endpoint answers.
func TestHandTableOverHTTP(t *testing.T) {
	url := serve(t, &fakeSource{table: handTable()}, nil, nil)
	for _, p := range []string{PathGetConfig, PathGetVhostMap, PathGetAppMap, PathHealthCheck} {
		if r := do(t, http.MethodGet, url+p); r.status != http.StatusOK {
			t.Errorf("%s = %d %q", p, r.status, r.body)
		}
	}
}

func TestNilSource(t *testing.T) {
	url := serve(t, nil, nil, nil)
	for _, p := range []string{PathHealthCheck, PathGetConfig, PathGetVhostMap, PathGetAppMap, PathSignalHUP, PathSignalUSR1} {
		if r := do(t, http.MethodGet, url+p); r.status != http.StatusOK {
			t.Errorf("%s with a nil Source = %d %q", p, r.status, r.body)
		}
	}
}
