package service

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/sim/simserver"
)

// wait bounds every wait in these tests. It is generous on purpose: the
// tests wait for things to happen, they never measure how long it took.
const wait = 20 * time.Second

// eventually polls cond until it holds, failing the test after wait.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(wait)
	last := ""
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if detail != "" {
			last = detail
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (last: %s)", what, wait, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startSim starts a simulated cluster with real tasks.
func startSim(t *testing.T) *simserver.Server {
	t.Helper()
	s, err := simserver.Start(context.Background(), simserver.Config{
		MesosAddr: "127.0.0.1:0", MarathonAddr: "127.0.0.1:0", ControlAddr: "127.0.0.1:0",
		RunTasks: true, SSEHeartbeat: 100 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// client makes requests without keeping connections, so that nothing
// outlives a test.
var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// marathonDo makes a request to Marathon's (or the control) API that must
// succeed.
func marathonDo(t *testing.T, method, u, body string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s: %s", method, u, resp.Status, out)
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// taskReply is what a simulated HTTP task answers.
type taskReply struct {
	TaskID string `json:"taskId"`
	AppID  string `json:"appId"`
}

// get requests path from addr with a Host header and returns the status and,
// for a 200 from a task, which task answered.
func get(addr, host, path string) (int, taskReply, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return 0, taskReply{}, err
	}
	if host != "" {
		req.Host = host
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, taskReply{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r taskReply
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &r); err != nil {
			return resp.StatusCode, r, fmt.Errorf("not a task's answer: %q", body)
		}
	}
	return resp.StatusCode, r, nil
}

// greeting connects to a TCP echo task through addr and returns the task
// id it greets with, after checking that it echoes.
func greeting(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("no greeting: %w", err)
	}
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		return "", err
	}
	echo, err := r.ReadString('\n')
	if err != nil || echo != "ping\n" {
		return "", fmt.Errorf("echo %q, %v", echo, err)
	}
	return strings.TrimSpace(line), nil
}

// metric scrapes a metrics endpoint and returns the value of the sample
// whose name and labels (as written, e.g. `x_total{trigger="signal"}`) match
// sample exactly; -1 when absent.
func metric(t *testing.T, metricsURL, sample string) float64 {
	t.Helper()
	resp, err := client.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	rx := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`)
	m := rx.FindSubmatch(body)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// logBuffer collects log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	out io.Writer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if b.out != nil {
		b.out.Write(p)
	}
	return len(p), nil
}

func (b *logBuffer) count(substr string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), substr)
}

// gate stands in front of Marathon like the network between a load
// balancer and Marathon: it passes requests through, can go down (open
// streams are cut and new connections closed unanswered, as with a crashed
// Marathon), come back, and slip a raw event into the open event streams
// between two of Marathon's own (as a buggy Marathon would send).
type gate struct {
	srv    *httptest.Server
	target *url.URL
	tr     *http.Transport
	rp     *httputil.ReverseProxy

	mu      sync.Mutex
	down    bool
	streams map[*gateStream]bool
}

type gateStream struct {
	cancel context.CancelFunc
	inject chan string
}

func newGate(t *testing.T, target string) *gate {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{target: u, tr: &http.Transport{}, streams: map[*gateStream]bool{}}
	g.rp = httputil.NewSingleHostReverseProxy(u)
	g.rp.Transport = g.tr
	g.srv = httptest.NewServer(g)
	t.Cleanup(func() {
		g.cut()
		g.srv.CloseClientConnections()
		g.srv.Close()
		g.tr.CloseIdleConnections()
	})
	return g
}

func (g *gate) url() string { return g.srv.URL }

// setDown takes Marathon away (true) or brings it back.
func (g *gate) setDown(down bool) {
	g.mu.Lock()
	g.down = down
	g.mu.Unlock()
	if down {
		g.cut()
		g.srv.CloseClientConnections()
	}
}

func (g *gate) cut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for s := range g.streams {
		s.cancel()
	}
}

// inject sends a raw SSE event to every open stream; it reports how many
// streams took it.
func (g *gate) inject(raw string) int {
	g.mu.Lock()
	var streams []*gateStream
	for s := range g.streams {
		streams = append(streams, s)
	}
	g.mu.Unlock()
	n := 0
	for _, s := range streams {
		select {
		case s.inject <- raw:
			n++
		case <-time.After(5 * time.Second):
		}
	}
	return n
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	down := g.down
	g.mu.Unlock()
	if down {
		if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
			c.Close()
		}
		return
	}
	if r.URL.Path != "/v2/events" {
		g.rp.ServeHTTP(w, r)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	s := &gateStream{cancel: cancel, inject: make(chan string)}
	g.mu.Lock()
	g.streams[s] = true
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.streams, s)
		g.mu.Unlock()
	}()
	up := *g.target
	up.Path, up.RawQuery = r.URL.Path, r.URL.RawQuery
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, up.String(), nil)
	req.Header = r.Header.Clone()
	resp, err := g.tr.RoundTrip(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	w.(http.Flusher).Flush()
	lines := make(chan string)
	go func() {
		defer close(lines)
		br := bufio.NewReader(resp.Body)
		for {
			l, err := br.ReadString('\n')
			if l != "" {
				select {
				case lines <- l:
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	boundary := true
	for {
		var inject chan string
		if boundary {
			inject = s.inject
		}
		select {
		case <-ctx.Done():
			return
		case l, ok := <-lines:
			if !ok {
				return
			}
			if _, err := io.WriteString(w, l); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			boundary = strings.TrimRight(l, "\r\n") == ""
		case raw := <-inject:
			if _, err := io.WriteString(w, raw); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}
}
