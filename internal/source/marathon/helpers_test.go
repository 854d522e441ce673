package marathon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/sim/simserver"
	"github.com/signpost-dns/signpost/internal/testutil/leakcheck"
)

// wait bounds every wait in these tests. It is generous on purpose: the
// tests wait for things to happen, they never measure how long it took.
const wait = 15 * time.Second

// leakCheck records the goroutine count now and, at cleanup (after every
// later cleanup: the follower's, the servers'), waits for it to come back.
// Tests that use it must not run in parallel.
func leakCheck(t *testing.T) {
	t.Helper()
	leakcheck.Verify(t)
	// Registered after Verify, so it runs before Verify's wait.
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
}

// startSim starts a simulated cluster whose event stream sends a heartbeat
// every heartbeat.
func startSim(t *testing.T, heartbeat time.Duration) *simserver.Server {
	t.Helper()
	s, err := simserver.Start(context.Background(), simserver.Config{
		MesosAddr: "127.0.0.1:0", MarathonAddr: "127.0.0.1:0", ControlAddr: "127.0.0.1:0",
		SSEHeartbeat: heartbeat,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// testConfig has short waits, so that reconnection tests are quick, and a
// long enough idle timeout that a heartbeat of 100 ms never misses it.
func testConfig(t *testing.T, urls ...string) Config {
	return Config{
		URLs:        urls,
		Timeout:     5 * time.Second,
		Coalesce:    50 * time.Millisecond,
		IdleTimeout: 3 * time.Second,
		BackoffMin:  20 * time.Millisecond,
		BackoffMax:  200 * time.Millisecond,
		Logger:      slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
}

// runner is a running Follower whose updates the test reads.
type runner struct {
	f       *Follower
	updates chan Update
}

// start runs a Follower until the end of the test, and checks then that
// Run returns context.Canceled.
func start(t *testing.T, cfg Config) *runner {
	t.Helper()
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{f: f, updates: make(chan Update)}
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, r.updates) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
		case <-time.After(wait):
			t.Errorf("Run did not return within %v of cancel", wait)
		}
	})
	return r
}

// next returns the first update that satisfies ok, failing the test if none
// comes within wait. Updates with an empty state fail it too unless
// allowEmpty: no test cluster here is ever empty.
func (r *runner) next(t *testing.T, what string, ok func(Update) bool) Update {
	t.Helper()
	timeout := time.After(wait)
	var last Update
	for {
		select {
		case u := <-r.updates:
			if u.State == nil {
				t.Fatalf("waiting for %s: update with nil state (%s)", what, u.Reason)
			}
			if len(u.State.Apps) == 0 {
				t.Fatalf("waiting for %s: update with no apps (%s)", what, u.Reason)
			}
			if ok(u) {
				return u
			}
			last = u
		case <-timeout:
			t.Fatalf("no update with %s within %v; last: %s; status %+v", what, wait, describe(last), r.f.Status())
		}
	}
}

// noUpdate fails the test if an update is waiting to be read. The channel
// is unbuffered, so a follower that fetched is blocked on it.
func (r *runner) noUpdate(t *testing.T, why string) {
	t.Helper()
	select {
	case u := <-r.updates:
		t.Fatalf("%s: unexpected update %s", why, describe(u))
	default:
	}
}

// status waits until the status satisfies ok.
func (r *runner) status(t *testing.T, what string, ok func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		st := r.f.Status()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed %s within %v: %+v", what, wait, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func describe(u Update) string {
	if u.State == nil {
		return "none"
	}
	var apps []string
	for _, a := range u.State.Apps {
		apps = append(apps, fmt.Sprintf("%s×%d", a.ID, len(a.Tasks)))
	}
	return fmt.Sprintf("%s from %s: %v", u.Reason, u.From, apps)
}

// runningTasks counts the app's running tasks in u (-1: no such app).
func runningTasks(u Update, id string) int {
	for _, a := range u.State.Apps {
		if a.ID == id {
			n := 0
			for _, tk := range a.Tasks {
				if tk.State == cluster.TaskRunning {
					n++
				}
			}
			return n
		}
	}
	return -1
}

func hasApp(u Update, id string) bool {
	return slices.ContainsFunc(u.State.Apps, func(a cluster.App) bool { return a.ID == id })
}

// do makes a request that must answer want.
func do(t *testing.T, method, url, body string, want int) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %s, want %d: %s", method, url, resp.Status, want, out)
	}
}

func postApp(t *testing.T, s *simserver.Server, app string) {
	t.Helper()
	do(t, http.MethodPost, s.MarathonURL+"/v2/apps", app, http.StatusCreated)
}

// deadURL is a URL nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

// server starts an httptest server closed at the end of the test. Handlers
// that stream must return when quit is closed, which happens first.
func server(t *testing.T, h http.Handler) (srv *httptest.Server, quit <-chan struct{}) {
	t.Helper()
	q := make(chan struct{})
	srv = httptest.NewServer(h)
	t.Cleanup(func() {
		close(q)
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv, q
}

// fakeMarathon is a minimal Marathon for what the simulator cannot do:
// check credentials, send malformed events, go silent. Events pushed with
// send go to the open stream(s); its apps document can be changed.
type fakeMarathon struct {
	srv  *httptest.Server
	quit <-chan struct{}

	// user and pass, when set, are required (401 otherwise).
	user, pass string
	// heartbeat and heartbeats: a stream sends heartbeats heartbeats every
	// heartbeat, then goes silent (heartbeats 0: forever).
	heartbeat  time.Duration
	heartbeats int

	events  chan string
	streams atomic.Int32 // /v2/events requests answered 200
	fetches atomic.Int32 // /v2/apps requests answered 200

	mu   sync.Mutex
	apps string
	// auths records "path user:pass" of every request.
	auths []string
	// queries records the query of every /v2/events request.
	queries []string
	// sent records how many heartbeats each stream had sent when it ended.
	sent []int
}

func newFake(t *testing.T, apps string) *fakeMarathon {
	f := &fakeMarathon{apps: apps, events: make(chan string, 16)}
	f.srv, f.quit = server(t, http.HandlerFunc(f.serve))
	return f
}

// url is the fake's base URL with another host name for the same address.
func (f *fakeMarathon) urlAs(host string) string {
	return strings.Replace(f.srv.URL, "127.0.0.1", host, 1)
}

func (f *fakeMarathon) setApps(apps string) {
	f.mu.Lock()
	f.apps = apps
	f.mu.Unlock()
}

func (f *fakeMarathon) send(t *testing.T, raw string) {
	t.Helper()
	select {
	case f.events <- raw:
	case <-time.After(wait):
		t.Fatal("event not taken by a stream")
	}
}

func (f *fakeMarathon) serve(w http.ResponseWriter, r *http.Request) {
	user, pass, _ := r.BasicAuth()
	f.mu.Lock()
	f.auths = append(f.auths, r.URL.Path+" "+user+":"+pass)
	f.mu.Unlock()
	if f.user != "" && (user != f.user || pass != f.pass) {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	switch r.URL.Path {
	case "/v2/apps":
		f.mu.Lock()
		apps := f.apps
		f.mu.Unlock()
		f.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, apps)
	case "/v2/events":
		f.stream(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeMarathon) stream(w http.ResponseWriter, r *http.Request) {
	if !slices.Contains(r.Header.Values("Accept"), "text/event-stream") {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	f.mu.Lock()
	f.queries = append(f.queries, r.URL.RawQuery)
	f.mu.Unlock()
	f.streams.Add(1)
	w.Header().Set("Content-Type", "text/event-stream;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	write := func(s string) bool {
		_, err := io.WriteString(w, s)
		w.(http.Flusher).Flush()
		return err == nil
	}
	write("event: event_stream_attached\r\ndata: {\"remoteAddress\":\"127.0.0.1\",\"eventType\":\"event_stream_attached\",\"timestamp\":\"2015-09-30T12:44:30.061Z\"}\r\n\r\n")
	sent := 0
	defer func() {
		f.mu.Lock()
		f.sent = append(f.sent, sent)
		f.mu.Unlock()
	}()
	var tick <-chan time.Time
	if f.heartbeat > 0 {
		tk := time.NewTicker(f.heartbeat)
		defer tk.Stop()
		tick = tk.C
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-f.quit:
			return
		case e := <-f.events:
			if !write(e) {
				return
			}
		case <-tick:
			if f.heartbeats > 0 && sent >= f.heartbeats {
				tick = nil // silent from now on
				continue
			}
			if !write("\r\n") {
				return
			}
			sent++
		}
	}
}

func (f *fakeMarathon) recorded() (auths, queries []string, sent []int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.auths), slices.Clone(f.queries), slices.Clone(f.sent)
}

// appsDoc is a /v2/apps document with one running task per app id.
func appsDoc(ids ...string) string {
	var apps []string
	for i, id := range ids {
		apps = append(apps, fmt.Sprintf(`{"id":%q,"instances":1,"portDefinitions":[{"port":%d}],
			"tasks":[{"id":"%s.1","appId":%q,"host":"127.0.0.1","state":"TASK_RUNNING","ports":[%d]}]}`,
			id, 10000+i, strings.TrimPrefix(id, "/"), id, 31000+i))
	}
	return `{"apps":[` + strings.Join(apps, ",") + `]}`
}

// cutter forwards TCP connections to a target and can cut them all at once,
// which is what a crashed Marathon or a network partition does to an open
// event stream.
type cutter struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func newCutter(t *testing.T, target string) *cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, target: target, conns: map[net.Conn]bool{}}
	c.wg.Add(1)
	go c.accept()
	t.Cleanup(c.close)
	return c
}

func (c *cutter) url() string { return "http://" + c.ln.Addr().String() }

func (c *cutter) accept() {
	defer c.wg.Done()
	for {
		in, err := c.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", c.target)
		if err != nil {
			in.Close()
			continue
		}
		c.mu.Lock()
		c.conns[in], c.conns[out] = true, true
		c.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			defer c.wg.Done()
			io.Copy(dst, src)
			dst.Close()
			src.Close()
			c.mu.Lock()
			delete(c.conns, dst)
			delete(c.conns, src)
			c.mu.Unlock()
		}
		c.wg.Add(2)
		go pipe(in, out)
		go pipe(out, in)
	}
}

// cut closes every forwarded connection; new ones are still accepted.
func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for conn := range c.conns {
		conn.Close()
	}
}

func (c *cutter) close() {
	c.ln.Close()
	c.cut()
	c.wg.Wait()
}
