package httpproxy

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/routes"
)

func TestParseBalance(t *testing.T) {
	for _, tc := range []struct {
		in    string
		alg   algorithm
		hdr   string
		whole bool
		ok    bool
	}{
		{"", algRoundRobin, "", false, true},
		{"roundrobin", algRoundRobin, "", false, true},
		{"static-rr", algRoundRobin, "", false, true},
		{"leastconn", algLeastConn, "", false, true},
		{"source", algSource, "", false, true},
		{"first", algFirst, "", false, true},
		{"uri", algURI, "", false, true},
		{"uri whole", algURI, "", true, true},
		{"uri depth 3", algURI, "", false, false},
		{"hdr(X-User)", algHdr, "x-user", false, true},
		{"hdr()", algRoundRobin, "", false, false},
		{"url_param userid", algRoundRobin, "", false, false},
		{"bogus", algRoundRobin, "", false, false},
	} {
		alg, hdr, whole, ok := parseBalance(tc.in)
		if alg != tc.alg || hdr != tc.hdr || whole != tc.whole || ok != tc.ok {
			t.Errorf("parseBalance(%q) = %v %q %v %v, want %v %q %v %v", tc.in, alg, hdr, whole, ok, tc.alg, tc.hdr, tc.whole, tc.ok)
		}
	}
}

// namedBackends starts n backends answering with their name.
func namedBackends(t *testing.T, n int) ([]*testBackend, []string) {
	var bes []*testBackend
	var hps []string
	for i := range n {
		name := string(rune('a' + i))
		be := newBackend(t, name, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })
		bes = append(bes, be)
		hps = append(hps, be.hostPort())
	}
	return bes, hps
}

// fromIP sends a GET from a chosen loopback source address.
func fromIP(t *testing.T, p *Proxy, src, host, path string, hdr ...string) string {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}, Timeout: 10 * time.Second}
	req, _ := http.NewRequest("GET", "http://"+p.HTTPAddr().String()+path, nil)
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("from %s: %v", src, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestBalanceAlgorithms(t *testing.T) {
	_, hps := namedBackends(t, 4)
	type req struct{ src, path, hdr string }
	for _, tc := range []struct {
		balance string
		// same: these requests must all reach one server.
		same []req
		// spread: these requests together must reach more than one server.
		spread []req
		// only: every request reaches exactly this server.
		only string
	}{
		{balance: "source",
			same:   []req{{src: "127.0.0.7"}, {src: "127.0.0.7", path: "/other"}, {src: "127.0.0.7"}},
			spread: []req{{src: "127.0.0.1"}, {src: "127.0.0.2"}, {src: "127.0.0.3"}, {src: "127.0.0.4"}, {src: "127.0.0.5"}, {src: "127.0.0.6"}, {src: "127.0.0.8"}, {src: "127.0.0.9"}}},
		{balance: "uri",
			same:   []req{{src: "127.0.0.1", path: "/x?a=1"}, {src: "127.0.0.2", path: "/x?b=2"}, {src: "127.0.0.3", path: "/x"}},
			spread: []req{{path: "/1"}, {path: "/2"}, {path: "/3"}, {path: "/4"}, {path: "/5"}, {path: "/6"}, {path: "/7"}, {path: "/8"}}},
		{balance: "hdr(X-User)",
			same:   []req{{src: "127.0.0.1", hdr: "alice"}, {src: "127.0.0.2", path: "/p", hdr: "alice"}, {src: "127.0.0.3", hdr: "alice"}},
			spread: []req{{}, {}, {}, {}}}, // no header: roundrobin
		{balance: "first", only: "a",
			spread: nil},
		{balance: "roundrobin", spread: []req{{}, {}}},
		{balance: "bogus(1)", spread: []req{{}, {}}},
	} {
		t.Run(tc.balance, func(t *testing.T) {
			b := backend("b", hps...)
			b.Balance = tc.balance
			log, logs := testLogger()
			p := startProxy(t, tableOf(hostRule(b, "b.example")), Options{Logger: log})
			do := func(r req) string {
				if r.src == "" {
					r.src = "127.0.0.1"
				}
				if r.path == "" {
					r.path = "/"
				}
				var h []string
				if r.hdr != "" {
					h = []string{"X-User", r.hdr}
				}
				return fromIP(t, p, r.src, "b.example", r.path, h...)
			}
			if len(tc.same) > 0 {
				first := do(tc.same[0])
				for _, r := range tc.same[1:] {
					if got := do(r); got != first {
						t.Errorf("%+v reached %s, the first such request %s", r, got, first)
					}
				}
			}
			if len(tc.spread) > 0 {
				seen := map[string]bool{}
				for _, r := range tc.spread {
					seen[do(r)] = true
				}
				if len(seen) < 2 {
					t.Errorf("requests %+v all reached %v", tc.spread, seen)
				}
			}
			if tc.only != "" {
				for range 5 {
					if got := do(req{}); got != tc.only {
						t.Errorf("reached %s, want %s", got, tc.only)
					}
				}
			}
			unknown := strings.Count(logs.String(), "unsupported balance")
			if want := map[bool]int{true: 1, false: 0}[strings.HasPrefix(tc.balance, "bogus")]; unknown != want {
				t.Errorf("%d log lines about the balance algorithm, want %d:\n%s", unknown, want, logs.String())
			}
		})
	}
}

// TestFirstSkipsDraining: "first" moves on when the first server drains.
func TestFirstSkipsDraining(t *testing.T) {
	_, hps := namedBackends(t, 3)
	b := backend("b", hps...)
	b.Balance = "first"
	b.Servers[0].Draining = true
	p := startProxy(t, tableOf(hostRule(b, "b.example")), Options{})
	for range 3 {
		if got := fromIP(t, p, "127.0.0.1", "b.example", "/"); got != "b" {
			t.Errorf("first with the first server draining: %s, want b", got)
		}
	}
}

func TestLeastConnPicksIdleServer(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	busy := make(chan struct{}, 1)
	a := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			busy <- struct{}{}
			<-release
		}
		io.WriteString(w, "a")
	})
	bb := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "b") })
	defer once.Do(func() { close(release) })
	b := backend("b", a.hostPort(), bb.hostPort())
	b.Balance = "leastconn"
	p := startProxy(t, tableOf(hostRule(b, "b.example")), Options{})
	held := make(chan string, 1)
	go func() { held <- fromIP(t, p, "127.0.0.1", "b.example", "/hold") }()
	<-busy
	// a has a request in flight: every new request goes to b.
	for range 5 {
		// The client may see b's response before the proxy has counted
		// the request as finished: wait for that, or it is a tie.
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if p.Stats().Backends[0].Servers[1].Active == 0 {
				break
			}
		}
		if got := fromIP(t, p, "127.0.0.1", "b.example", "/"); got != "b" {
			t.Errorf("leastconn with a busy: %s; stats %+v", got, p.Stats().Backends)
		}
	}
	once.Do(func() { close(release) })
	<-held
}

func TestHealthyHook(t *testing.T) {
	var aDown atomic.Bool
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	a := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			arrived <- struct{}{}
			<-release
		}
		io.WriteString(w, "a")
	})
	bb := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "b") })
	b := backend("b", a.hostPort(), bb.hostPort())
	healthy := func(backend string, s *routes.Server) bool {
		return !(backend == "b" && s.HostPort == a.hostPort() && aDown.Load())
	}
	p := startProxy(t, tableOf(hostRule(b, "b.example")), Options{Healthy: healthy})
	// With both up, round robin reaches a.
	seen := map[string]bool{}
	for range 4 {
		seen[fromIP(t, p, "127.0.0.1", "b.example", "/")] = true
	}
	if !seen["a"] || !seen["b"] {
		t.Fatalf("both up: reached %v", seen)
	}
	held := make(chan string, 1)
	go func() {
		// Round robin may need two tries to land on a.
		for {
			got := fromIP(t, p, "127.0.0.1", "b.example", "/hold")
			if got == "a" {
				held <- got
				return
			}
		}
	}()
	<-arrived
	aDown.Store(true)
	for range 6 {
		if got := fromIP(t, p, "127.0.0.1", "b.example", "/"); got != "b" {
			t.Errorf("a is down but got a request")
		}
	}
	close(release)
	if got := <-held; got != "a" {
		t.Errorf("in-flight request on a server that went down: %q", got)
	}
	// Everything down: 503.
	p.Apply(tableOf(hostRule(backend("b", a.hostPort()), "b.example")))
	if code, _, _ := get(t, client(), p, "b.example", "/"); code != 503 {
		t.Errorf("only server down: %d, want 503", code)
	}
}

// TestDrainingClosesIdlePool: a server that becomes Draining loses its
// pooled keep-alive connections at once.
func TestDrainingClosesIdlePool(t *testing.T) {
	closed := make(chan struct{}, 16)
	a := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "a") }))
	a.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	}
	a.Start()
	defer a.Close()
	bb := newBackend(t, "b", nil)
	aHP := strings.TrimPrefix(a.URL, "http://")
	b := backend("x", aHP, bb.hostPort())
	p := startProxy(t, tableOf(hostRule(b, "x.example")), Options{})
	c := client()
	for range 4 {
		get(t, c, p, "x.example", "/")
	}
	if st := settled(p).Backends[0].Servers[0]; st.Idle == 0 {
		t.Fatalf("no pooled connection to a: %+v", st)
	}
	b2 := backend("x", aHP, bb.hostPort())
	b2.Servers[0].Draining = true
	p.Apply(tableOf(hostRule(b2, "x.example")))
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Error("pooled connection to a draining server not closed")
	}
	if st := p.Stats().Backends[0].Servers[0]; st.Idle != 0 || !st.Draining {
		t.Errorf("draining server stats %+v", st)
	}
}

// TestRemovedServerFinishesInFlight: a server that leaves the table gets
// no new requests, its request in flight completes, and its pooled
// connections are closed.
func TestRemovedServerFinishesInFlight(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	a := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			arrived <- struct{}{}
			<-release
		}
		io.WriteString(w, "a")
	})
	bb := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "b") })
	p := startProxy(t, tableOf(hostRule(backend("x", a.hostPort()), "x.example")), Options{})
	c := client()
	get(t, c, p, "x.example", "/") // leaves a pooled connection to a
	held := make(chan string, 1)
	go func() { held <- fromIP(t, p, "127.0.0.1", "x.example", "/hold") }()
	<-arrived
	p.Apply(tableOf(hostRule(backend("x", bb.hostPort()), "x.example")))
	before := a.reqs.Load()
	for range 5 {
		if code, body, _ := get(t, c, p, "x.example", "/"); code != 200 || body != "b" {
			t.Errorf("after removing a: %d %q", code, body)
		}
	}
	if n := a.reqs.Load() - before; n != 0 {
		t.Errorf("removed server got %d new requests", n)
	}
	close(release)
	if got := <-held; got != "a" {
		t.Errorf("in-flight request on a removed server: %q", got)
	}
}

// wait is how long TestDrainTimeoutCutsInFlight watches an exchange: long
// after the timeout when it must be cut, a few timeouts when it must not
// (a wrong cut would come at the timeout).
func wait(cut bool, drain time.Duration) time.Duration {
	if cut {
		return drain + 10*time.Second
	}
	return 4 * drain
}

// TestDrainTimeoutCutsInFlight: an exchange with a server that left the
// table, or became Draining, may go on for DrainTimeout and is then cut
// (--drain-timeout); one with a server that came back before that is not.
func TestDrainTimeoutCutsInFlight(t *testing.T) {
	const drain = 400 * time.Millisecond
	for _, tc := range []struct {
		name    string
		change  func(a, b *testBackend) *routes.Table
		cutWant bool
	}{
		{"removed", func(a, b *testBackend) *routes.Table {
			return tableOf(hostRule(backend("x", b.hostPort()), "x.example"))
		}, true},
		{"draining", func(a, b *testBackend) *routes.Table {
			be := backend("x", a.hostPort(), b.hostPort())
			be.Servers[0].Draining = true
			return tableOf(hostRule(be, "x.example"))
		}, true},
		{"back before the timeout", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release, arrived := make(chan struct{}), make(chan struct{}, 1)
			defer close(release)
			a := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/hold" {
					arrived <- struct{}{}
					select {
					case <-release:
					case <-r.Context().Done():
						return
					}
				}
				io.WriteString(w, "a")
			})
			b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "b") })
			orig := tableOf(hostRule(backend("x", a.hostPort()), "x.example"))
			p := startProxy(t, orig, Options{DrainTimeout: drain})
			held := make(chan string, 1)
			go func() {
				req, _ := http.NewRequest("GET", "http://"+p.HTTPAddr().String()+"/hold", nil)
				req.Host = "x.example"
				resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
				if err != nil {
					held <- "error: " + err.Error()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				held <- resp.Status + " " + string(b)
			}()
			<-arrived
			start := time.Now()
			if tc.change != nil {
				p.Apply(tc.change(a, b))
			} else {
				p.Apply(tableOf(hostRule(backend("x", b.hostPort()), "x.example")))
				p.Apply(orig) // a is back: its exchange is no longer bounded
			}
			select {
			case got := <-held:
				if !tc.cutWant {
					t.Fatalf("exchange with a server that came back was cut: %q", got)
				}
				if elapsed := time.Since(start); elapsed < drain {
					t.Errorf("cut after %v, before the drain timeout %v", elapsed, drain)
				}
				if strings.HasPrefix(got, "200") {
					t.Errorf("the exchange completed instead of being cut: %q", got)
				}
				t.Logf("cut after %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(got))
			case <-time.After(wait(tc.cutWant, drain)):
				if tc.cutWant {
					t.Fatalf("exchange not cut %v after the drain timeout", 10*time.Second)
				}
			}
		})
	}
}
