package httpproxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/routes"
)

// testBackend is a net/http server that counts its TCP connections.
type testBackend struct {
	*httptest.Server
	conns atomic.Int64
	reqs  atomic.Int64
}

func newBackend(t testing.TB, name string, h http.HandlerFunc) *testBackend {
	t.Helper()
	tb := &testBackend{}
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "%s %s", name, r.URL.Path) }
	}
	tb.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tb.reqs.Add(1)
		h(w, r)
	}))
	tb.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			tb.conns.Add(1)
		}
	}
	tb.Start()
	t.Cleanup(tb.Close)
	return tb
}

func (tb *testBackend) hostPort() string { return strings.TrimPrefix(tb.URL, "http://") }

func server(hostPort string) routes.Server {
	ap := netip.MustParseAddrPort(hostPort)
	return routes.Server{Name: strings.NewReplacer(".", "_", ":", "_").Replace(hostPort), HostPort: hostPort, Addr: ap}
}

func backend(name string, hostPorts ...string) *routes.Backend {
	b := &routes.Backend{Name: name, AppID: "/" + name, Mode: routes.ModeHTTP, Balance: "roundrobin", HTTP: &routes.HTTPOptions{}}
	for _, hp := range hostPorts {
		b.Servers = append(b.Servers, server(hp))
	}
	return b
}

func hostRule(b *routes.Backend, hosts ...string) routes.RouteRule {
	return routes.RouteRule{Match: routes.Match{Hosts: hosts}, Backend: b}
}

func tableOf(rules ...routes.RouteRule) *routes.Table {
	t := &routes.Table{HTTP: &routes.HTTPFrontend{Routes: rules}, AppID: &routes.AppIDFrontend{}}
	for _, r := range rules {
		if r.Backend != nil {
			t.AppID.Routes = append(t.AppID.Routes, routes.AppIDRule{AppIDs: []string{r.Backend.AppID}, Backend: r.Backend})
		}
	}
	return t
}

// startProxy serves t on loopback listeners until the test ends.
func startProxy(t testing.TB, tbl *routes.Table, opts Options) *Proxy {
	t.Helper()
	opts.HTTPAddr, opts.AppIDAddr = "127.0.0.1:0", "127.0.0.1:0"
	if opts.HTTPSAddr == "" {
		opts.HTTPSAddr = "127.0.0.1:0"
	}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(tbl); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { p.Serve(context.Background()); close(done) }()
	t.Cleanup(func() { p.Close(); <-done })
	return p
}

// settled returns the stats once no request is in flight: a client may see
// its response before the proxy has finished counting it.
func settled(p *Proxy) Stats {
	deadline := time.Now().Add(2 * time.Second)
	for {
		st := p.Stats()
		busy := false
		for _, b := range st.Backends {
			for _, s := range b.Servers {
				busy = busy || s.Active != 0
			}
		}
		if !busy || time.Now().After(deadline) {
			return st
		}
		time.Sleep(time.Millisecond)
	}
}

func client() *http.Client {
	return &http.Client{
		Transport:     &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       20 * time.Second,
	}
}

func get(t testing.TB, c *http.Client, p *Proxy, host, path string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+p.HTTPAddr().String()+path, nil)
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", host, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s%s body: %v", host, path, err)
	}
	return resp.StatusCode, string(body), resp.Header
}

func TestHostAndPathRouting(t *testing.T) {
	a := newBackend(t, "a", nil)
	api := newBackend(t, "api", nil)
	ba, bapi := backend("a", a.hostPort()), backend("api", api.hostPort())
	tbl := tableOf(
		routes.RouteRule{Match: routes.Match{Hosts: []string{"app.example"}, Paths: []routes.PathPrefix{{Prefix: "/api"}}}, Backend: bapi},
		hostRule(ba, "app.example"),
	)
	p := startProxy(t, tbl, Options{})
	c := client()
	for _, tc := range []struct{ host, path, want string }{
		{"app.example", "/", "a /"},
		{"APP.Example:8080", "/x", "a /x"},
		{"app.example", "/api/v1?q=1", "api /api/v1"},
		{"app.example", "/API/v1", "a /API/v1"},
	} {
		code, body, _ := get(t, c, p, tc.host, tc.path)
		if code != 200 || body != tc.want {
			t.Errorf("%s%s: %d %q, want %q", tc.host, tc.path, code, body, tc.want)
		}
	}
	code, body, _ := get(t, c, p, "nope.example", "/")
	if code != 503 || !strings.Contains(body, "503") {
		t.Errorf("unknown host: %d %q, want 503", code, body)
	}
	if st := p.Stats(); st.NoRoute != 1 {
		t.Errorf("NoRoute = %d, want 1", st.NoRoute)
	}
}

func TestAppIDFrontend(t *testing.T) {
	a := newBackend(t, "a", nil)
	p := startProxy(t, tableOf(hostRule(backend("a", a.hostPort()), "a.example")), Options{})
	c := client()
	do := func(id string) int {
		req, _ := http.NewRequest("GET", "http://"+p.AppIDAddr().String()+"/", nil)
		if id != "" {
			req.Header.Set("X-Marathon-App-Id", id)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := do("/A"); got != 200 {
		t.Errorf("app id /A: %d", got)
	}
	if got := do("/other"); got != 503 {
		t.Errorf("unknown app id: %d", got)
	}
	if got := do(""); got != 503 {
		t.Errorf("no app id: %d", got)
	}
}

func TestForwardedHeaders(t *testing.T) {
	var mu sync.Mutex
	var got http.Header
	a := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Header.Clone()
		mu.Unlock()
	})
	p := startProxy(t, tableOf(hostRule(backend("a", a.hostPort()), "a.example")), Options{})
	get(t, client(), p, "a.example", "/", "X-Forwarded-For", "1.2.3.4", "X-Forwarded-Port", "9999", "X-Custom", "Keep Me")
	mu.Lock()
	defer mu.Unlock()
	_, port, _ := net.SplitHostPort(p.HTTPAddr().String())
	if xff := got.Values("X-Forwarded-For"); len(xff) != 2 || xff[0] != "1.2.3.4" || xff[1] != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want [1.2.3.4 127.0.0.1]", xff)
	}
	if xfp := got.Values("X-Forwarded-Port"); len(xfp) != 1 || xfp[0] != port {
		t.Errorf("X-Forwarded-Port = %q, want [%s]", xfp, port)
	}
	if got.Get("X-Custom") != "Keep Me" {
		t.Errorf("X-Custom = %q", got.Get("X-Custom"))
	}
	if got.Get("X-Forwarded-Proto") != "" {
		t.Errorf("X-Forwarded-Proto on plain HTTP = %q, want none (HAProxy adds it only on TLS)", got.Get("X-Forwarded-Proto"))
	}
}

func TestUpstreamKeepAlive(t *testing.T) {
	a := newBackend(t, "a", nil)
	p := startProxy(t, tableOf(hostRule(backend("a", a.hostPort()), "a.example")), Options{})
	c := client()
	for range 50 {
		if code, _, _ := get(t, c, p, "a.example", "/"); code != 200 {
			t.Fatal(code)
		}
	}
	if n := a.conns.Load(); n != 1 {
		t.Errorf("50 sequential requests used %d backend connections, want 1", n)
	}
	st := settled(p).Backends[0].Servers[0]
	if st.Requests != 50 || st.Reused != 49 || st.Status[2] != 50 || st.LatencyCount != 50 {
		t.Errorf("stats %+v", st)
	}
}

func echoHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Req-TE", fmt.Sprint(r.TransferEncoding))
	// Full duplex: echo while the body still arrives, as a streaming server
	// would; a proxy that sends the whole body first deadlocks here.
	http.NewResponseController(w).EnableFullDuplex()
	if r.URL.Query().Get("chunked") != "" {
		// Flushing before the end forces a chunked response.
		w.Write([]byte("start:"))
		w.(http.Flusher).Flush()
	}
	io.Copy(w, r.Body)
}

func TestChunkedBodies(t *testing.T) {
	a := newBackend(t, "a", echoHandler)
	p := startProxy(t, tableOf(hostRule(backend("a", a.hostPort()), "a.example")), Options{})
	pr, pw := io.Pipe()
	go func() {
		for i := range 100 {
			fmt.Fprintf(pw, "part %d;", i)
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", "http://"+p.HTTPAddr().String()+"/?chunked=1", pr)
	req.Host = "a.example"
	resp, err := client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var want strings.Builder
	want.WriteString("start:")
	for i := range 100 {
		fmt.Fprintf(&want, "part %d;", i)
	}
	if string(body) != want.String() {
		t.Errorf("body %q", body)
	}
	if resp.Header.Get("X-Req-TE") != "[chunked]" || len(resp.TransferEncoding) != 1 {
		t.Errorf("request TE %q, response TE %q: both should be chunked", resp.Header.Get("X-Req-TE"), resp.TransferEncoding)
	}
}

func TestLargeBodyStreaming(t *testing.T) {
	a := newBackend(t, "a", echoHandler)
	p := startProxy(t, tableOf(hostRule(backend("a", a.hostPort()), "a.example")), Options{})
	data := make([]byte, 16<<20)
	rand.Read(data)
	req, _ := http.NewRequest("PUT", "http://"+p.HTTPAddr().String()+"/", bytes.NewReader(data))
	req.Host = "a.example"
	resp, err := client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.Equal(body, data) {
		t.Fatalf("echo of 16 MiB: err %v, %d bytes, equal %v", err, len(body), bytes.Equal(body, data))
	}
}

// upgradeEcho is a raw backend: it answers any request with 101 and then
// echoes bytes until the client closes.
func upgradeEcho(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil || req.Header.Get("Upgrade") != "websocket" {
					return
				}
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
				io.Copy(c, br)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestUpgradeTunnel(t *testing.T) {
	p := startProxy(t, tableOf(hostRule(backend("ws", upgradeEcho(t)), "ws.example")), Options{})
	c, err := net.Dial("tcp", p.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /chat HTTP/1.1\r\nHost: ws.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nearly;")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "early;" {
		t.Fatalf("bytes sent with the head: %q %v", buf, err)
	}
	for i := range 10 {
		msg := fmt.Sprintf("ping %d", i)
		io.WriteString(c, msg)
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(br, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo %q: %q %v", msg, buf, err)
		}
	}
}

func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestRetryOnConnectFailure(t *testing.T) {
	live := newBackend(t, "live", nil)
	b := backend("a", deadAddr(t), live.hostPort())
	p := startProxy(t, tableOf(hostRule(b, "a.example")), Options{})
	c := client()
	for range 10 {
		if code, body, _ := get(t, c, p, "a.example", "/"); code != 200 || body != "live /" {
			t.Fatalf("%d %q", code, body)
		}
	}
	var ce uint64
	for _, s := range settled(p).Backends[0].Servers {
		ce += s.ConnectErrors
	}
	if ce == 0 {
		t.Error("no connect errors counted")
	}
}

// TestNoRetryAfterBodySent: a server that takes the request and closes
// without answering must yield 502, never a second delivery elsewhere.
func TestNoRetryAfterBodySent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				http.ReadRequest(bufio.NewReader(c))
				c.Close()
			}()
		}
	}()
	live := newBackend(t, "live", nil)
	b := backend("a", ln.Addr().String(), live.hostPort())
	p := startProxy(t, tableOf(hostRule(b, "a.example")), Options{})
	req, _ := http.NewRequest("POST", "http://"+p.HTTPAddr().String()+"/", strings.NewReader("payload"))
	req.Host = "a.example"
	resp, err := client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 {
		t.Errorf("status %d, want 502", resp.StatusCode)
	}
	if n := live.reqs.Load(); n != 0 {
		t.Errorf("request was retried on the live server (%d requests)", n)
	}
}

func TestAuthAndRedirect(t *testing.T) {
	a := newBackend(t, "a", nil)
	ba := backend("a", a.hostPort())
	ul := &routes.Userlist{Name: "user_a", Users: []routes.User{
		{Name: "alice", Password: "secret", Insecure: true},
		{Name: "bob", Password: "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
	}}
	tbl := tableOf(hostRule(ba, "a.example"), hostRule(ba, "r.example"))
	tbl.HTTP.Auth = []routes.AuthRule{{Match: routes.Match{Hosts: []string{"a.example"}}, Realm: "a realm", Userlists: []*routes.Userlist{ul}}}
	tbl.HTTP.Redirects = []routes.RedirectRule{{Match: routes.Match{Hosts: []string{"r.example"}}}}
	p := startProxy(t, tbl, Options{})
	c := client()
	basic := func(u, pw string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+pw)) }
	code, _, h := get(t, c, p, "a.example", "/")
	if code != 401 || h.Get("WWW-Authenticate") != `Basic realm="a realm"` {
		t.Errorf("no credentials: %d %q", code, h.Get("WWW-Authenticate"))
	}
	if code, _, _ := get(t, c, p, "a.example", "/", "Authorization", basic("alice", "wrong")); code != 401 {
		t.Errorf("wrong password: %d", code)
	}
	if code, _, _ := get(t, c, p, "a.example", "/", "Authorization", basic("alice", "secret")); code != 200 {
		t.Errorf("insecure-password user: %d", code)
	}
	if code, _, _ := get(t, c, p, "a.example", "/", "Authorization", basic("bob", "Hello world!")); code != 200 {
		t.Errorf("sha-512 crypt user: %d", code)
	}
	bb := backend("b", a.hostPort())
	bb.HTTP.RootRedirect = &routes.RootRedirect{Hosts: []string{"b.example"}, Location: "/app/"}
	bb.HTTP.HSTS = true
	tbl.HTTP.Routes = append(tbl.HTTP.Routes, hostRule(bb, "b.example"))
	p.Apply(tbl)
	code, _, h = get(t, c, p, "B.example:80", "/")
	if code != 301 || h.Get("Location") != "/app/" {
		t.Errorf("root redirect: %d %q", code, h.Get("Location"))
	}
	code, _, h = get(t, c, p, "b.example", "/x")
	if code != 200 || h.Get("Strict-Transport-Security") != "max-age=15768000" {
		t.Errorf("HSTS backend: %d %q", code, h.Get("Strict-Transport-Security"))
	}
	code, _, h = get(t, c, p, "r.example", "/p?q=1")
	if code != 301 || h.Get("Location") != "https://r.example/p?q=1" {
		t.Errorf("redirect: %d %q", code, h.Get("Location"))
	}
}

func TestDrainingServerGetsNoRequests(t *testing.T) {
	old := newBackend(t, "old", nil)
	cur := newBackend(t, "new", nil)
	b := backend("a", old.hostPort(), cur.hostPort())
	p := startProxy(t, tableOf(hostRule(b, "a.example")), Options{})
	c := client()
	for range 4 {
		get(t, c, p, "a.example", "/")
	}
	if old.reqs.Load() == 0 {
		t.Fatal("round robin never used the first server")
	}
	b2 := backend("a", old.hostPort(), cur.hostPort())
	b2.Servers[0].Draining = true
	p.Apply(tableOf(hostRule(b2, "a.example")))
	before := old.reqs.Load()
	for range 20 {
		if code, body, _ := get(t, c, p, "a.example", "/"); code != 200 || body != "new /" {
			t.Fatalf("%d %q", code, body)
		}
	}
	if n := old.reqs.Load() - before; n != 0 {
		t.Errorf("draining server got %d requests", n)
	}
	// All draining: 503.
	b3 := backend("a", old.hostPort())
	b3.Servers[0].Draining = true
	p.Apply(tableOf(hostRule(b3, "a.example")))
	if code, _, _ := get(t, c, p, "a.example", "/"); code != 503 {
		t.Errorf("all servers draining: %d", code)
	}
}

func TestApplyWhileRequestsFlow(t *testing.T) {
	a := newBackend(t, "a", nil)
	bb := newBackend(t, "b", nil)
	tA := tableOf(hostRule(backend("x", a.hostPort()), "x.example"))
	tB := tableOf(hostRule(backend("x", bb.hostPort()), "x.example"))
	p := startProxy(t, tA, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var n, bad atomic.Int64
	for range 8 {
		wg.Go(func() {
			c := client()
			for ctx.Err() == nil {
				req, _ := http.NewRequest("GET", "http://"+p.HTTPAddr().String()+"/", nil)
				req.Host = "x.example"
				resp, err := c.Do(req)
				if err != nil {
					bad.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || (string(body) != "a /" && string(body) != "b /") {
					bad.Add(1)
				}
				n.Add(1)
			}
		})
	}
	for i := 0; ctx.Err() == nil; i++ {
		if i%2 == 0 {
			p.Apply(tB)
		} else {
			p.Apply(tA)
		}
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	if bad.Load() != 0 || n.Load() == 0 {
		t.Errorf("%d requests, %d failed", n.Load(), bad.Load())
	}
	if a.reqs.Load() == 0 || bb.reqs.Load() == 0 {
		t.Errorf("swaps not seen: a %d, b %d", a.reqs.Load(), bb.reqs.Load())
	}
}

func TestMalformedRequests(t *testing.T) {
	a := newBackend(t, "a", nil)
	p := startProxy(t, tableOf(hostRule(backend("a", a.hostPort()), "a.example")), Options{})
	good, err := net.Dial("tcp", p.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	gbr := bufio.NewReader(good)
	roundTrip := func() {
		t.Helper()
		io.WriteString(good, "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")
		resp, err := http.ReadResponse(gbr, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("good connection: %v %v", resp, err)
		}
		io.Copy(io.Discard, resp.Body)
	}
	roundTrip()
	for _, bad := range []string{
		"garbage\r\n\r\n",
		"GET / HTTP/9.9\r\nHost: a.example\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a.example\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : a.example\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a.example\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a.example\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a.example\r\nX-Big: " + strings.Repeat("x", 70<<10) + "\r\n\r\n",
	} {
		c, err := net.Dial("tcp", p.HTTPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, bad)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 400 {
			t.Errorf("%.40q: %v %v, want 400", bad, resp, err)
		}
		c.Close()
		roundTrip()
	}
	if a.reqs.Load() != int64(1+8) {
		t.Errorf("backend saw %d requests, want 9 (malformed ones must not reach it)", a.reqs.Load())
	}
}

func TestCloseDrainsAndLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	release, arrived := make(chan struct{}), make(chan struct{})
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(arrived)
			<-release
		}
		io.WriteString(w, "ok")
	}))
	p, err := New(Options{HTTPAddr: "127.0.0.1:0", HTTPSAddr: "-", AppIDAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	p.Apply(tableOf(hostRule(backend("a", strings.TrimPrefix(a.URL, "http://")), "a.example")))
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { p.Serve(ctx); close(served) }()
	tr := &http.Transport{}
	c := &http.Client{Transport: tr}
	get(t, c, p, "a.example", "/") // leaves an idle keep-alive connection
	slow := make(chan int)
	go func() {
		req, _ := http.NewRequest("GET", "http://"+p.HTTPAddr().String()+"/slow", nil)
		req.Host = "a.example"
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		if err != nil {
			slow <- 0
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	<-arrived
	cancel()
	time.Sleep(50 * time.Millisecond)
	close(release) // the in-flight request completes during the drain
	if code := <-slow; code != 200 {
		t.Errorf("in-flight request during drain: %d", code)
	}
	<-served
	if _, err := net.Dial("tcp", p.HTTPAddr().String()); err == nil {
		t.Error("listener still open after Close")
	}
	tr.CloseIdleConnections()
	a.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// TestStalePooledConnection: a server that closes a keep-alive connection
// while it sits in the pool must not fail the next (bodyless GET) request.
func TestStalePooledConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				// Keep-alive response, then close shortly after: a
				// server with a tiny idle timeout.
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				time.Sleep(20 * time.Millisecond)
			}()
		}
	}()
	p := startProxy(t, tableOf(hostRule(backend("a", ln.Addr().String()), "a.example")), Options{})
	c := client()
	for i := range 3 {
		if code, body, _ := get(t, c, p, "a.example", "/"); code != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st := settled(p).Backends[0].Servers[0]; st.Reused != 2 || st.Connects != 3 || st.ServerErrors != 0 {
		t.Errorf("stats %+v: want 2 stale reuses retried on 3 fresh connections", st)
	}
}

func TestHTTP10AndPipelining(t *testing.T) {
	a := newBackend(t, "a", nil)
	p := startProxy(t, tableOf(hostRule(backend("a", a.hostPort()), "a.example")), Options{})
	c, err := net.Dial("tcp", p.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	// Two pipelined requests, then an HTTP/1.0 keep-alive one and a HEAD.
	io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: a.example\r\n\r\nGET /2 HTTP/1.1\r\nHost: a.example\r\n\r\n")
	br := bufio.NewReader(c)
	for _, want := range []string{"a /1", "a /2"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if string(body) != want {
			t.Errorf("pipelined: %q, want %q", body, want)
		}
	}
	io.WriteString(c, "GET /3 HTTP/1.0\r\nHost: a.example\r\nConnection: keep-alive\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "a /3" || resp.Close {
		t.Errorf("HTTP/1.0 keep-alive: %q close=%v", body, resp.Close)
	}
	io.WriteString(c, "HEAD /4 HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n")
	req, _ := http.NewRequest("HEAD", "/", nil)
	resp, err = http.ReadResponse(br, req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("HEAD: %v %v", resp, err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("connection not closed after Connection: close (%v)", err)
	}
}

// TestDeadServerRedispatched: a task killed before its removal reaches the
// proxy leaves pooled connections that fail and a port that refuses. A
// bodyless GET that meets this is sent to another server (HAProxy's
// "option redispatch"), not answered 503.
func TestDeadServerRedispatched(t *testing.T) {
	live := newBackend(t, "live", nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var open sync.WaitGroup
	var mu sync.Mutex
	var accepted []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted = append(accepted, c)
			mu.Unlock()
			open.Add(1)
			go func() {
				defer open.Done()
				br := bufio.NewReader(c)
				for {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndead")
				}
			}()
		}
	}()
	p := startProxy(t, tableOf(hostRule(backend("a", ln.Addr().String(), live.hostPort()), "a.example")), Options{})
	c := client()
	for range 4 { // round robin: both servers get pooled connections
		if code, _, _ := get(t, c, p, "a.example", "/"); code != 200 {
			t.Fatalf("before the kill: %d", code)
		}
	}
	// Kill the task: its port refuses and its connections close.
	ln.Close()
	mu.Lock()
	for _, c := range accepted {
		c.Close()
	}
	mu.Unlock()
	open.Wait()
	for i := range 6 {
		if code, body, _ := get(t, c, p, "a.example", "/"); code != 200 || body != "live /" {
			t.Errorf("request %d after the kill: %d %q, want the live server", i, code, body)
		}
	}
}
