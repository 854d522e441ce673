package taskrun

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/testutil/freeport"
	"github.com/signpost-dns/signpost/internal/testutil/leakcheck"
)

// Loopback addresses used by the tests. On Linux the whole 127/8 is local,
// so these work without any setup and keep the tests off 127.0.0.1, where
// other programs on the machine tend to listen.
const (
	ipA = "127.0.1.2"
	ipB = "127.0.1.3"
	ipC = "127.0.1.4"
)

// patience bounds every wait for something that must happen; it is generous
// because the tests assert outcomes, not durations, and a loaded -race run
// must not fail them.
const patience = 20 * time.Second

// event is one handler call observed through testHooks.
type event struct {
	taskID, path string
	ctxErr       error
}

// hooked returns a Runner whose handlers report when they start and finish.
func hooked(t *testing.T) (r *Runner, started, finished chan event) {
	t.Helper()
	r = New(nil)
	started = make(chan event, 64)
	finished = make(chan event, 64)
	r.hooks = testHooks{
		started:  func(id, path string) { started <- event{taskID: id, path: path} },
		finished: func(id, path string, err error) { finished <- event{taskID: id, path: path, ctxErr: err} },
	}
	t.Cleanup(r.Close)
	return r, started, finished
}

func newRunner(t *testing.T) *Runner {
	t.Helper()
	r := New(nil)
	t.Cleanup(r.Close)
	return r
}

func addr(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }

// newClient returns a client with its own connection pool, so one test's
// keep-alive connections never leak into another's goroutine count.
func newClient(t *testing.T) (*http.Client, *http.Transport) {
	t.Helper()
	tr := &http.Transport{Proxy: nil}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: patience}, tr
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, c *http.Client, method, url, body string, hdr map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return reply{resp.StatusCode, resp.Header, b}
}

func decodeInfo(t *testing.T, b []byte) Info {
	t.Helper()
	var in Info
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		t.Fatalf("body %q is not Info JSON: %v", b, err)
	}
	return in
}

func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(patience):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func TestHTTPTaskAnswersWithItsIDsOnEveryPort(t *testing.T) {
	r := newRunner(t)
	p1, p2 := freeport.TCP(t, ipA), freeport.TCP(t, ipA)
	spec := Spec{TaskID: "web.1", AppID: "/shop/web", IP: ipA, Ports: []int{p1, p2}, Kind: HTTP}
	if err := r.Start(spec); err != nil {
		t.Fatal(err)
	}
	if got := r.Running(); got != 1 {
		t.Errorf("Running() = %d, want 1", got)
	}
	c, _ := newClient(t)

	cases := []struct {
		name       string
		method     string
		target     string
		body       string
		header     map[string]string
		wantStatus int
		wantPath   string // the Info reply's path; "" when the body is not Info
		wantBody   string // the exact body when not Info
		wantCT     string
	}{
		{name: "root", method: "GET", target: "/", wantStatus: 200, wantPath: "/", wantCT: "application/json"},
		{name: "path and query", method: "GET", target: "/v2/apps?embed=tasks", wantStatus: 200, wantPath: "/v2/apps", wantCT: "application/json"},
		{name: "post", method: "POST", target: "/orders", body: "{}", wantStatus: 200, wantPath: "/orders", wantCT: "application/json"},
		{name: "health", method: "GET", target: "/health", wantStatus: 200, wantPath: "/health", wantCT: "application/json"},
		{name: "echo", method: "POST", target: "/echo", body: "through the proxy and back", header: map[string]string{"Content-Type": "text/plain"},
			wantStatus: 200, wantBody: "through the proxy and back", wantCT: "text/plain"},
		{name: "echo without type", method: "PUT", target: "/echo", body: "\x00\x01\x02", wantStatus: 200, wantBody: "\x00\x01\x02", wantCT: "application/octet-stream"},
		{name: "slow", method: "GET", target: "/slow?ms=1", wantStatus: 200, wantPath: "/slow", wantCT: "application/json"},
		{name: "slow without ms", method: "GET", target: "/slow", wantStatus: 400},
		{name: "slow bad ms", method: "GET", target: "/slow?ms=soon", wantStatus: 400},
		{name: "slow negative ms", method: "GET", target: "/slow?ms=-5", wantStatus: 400},
	}
	for _, port := range []int{p1, p2} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%d/%s", port, tc.name), func(t *testing.T) {
				got := do(t, c, tc.method, "http://"+addr(ipA, port)+tc.target, tc.body, tc.header)
				if got.status != tc.wantStatus {
					t.Fatalf("status %d, want %d (body %q)", got.status, tc.wantStatus, got.body)
				}
				if id := got.header.Get("X-Task-Id"); id != "web.1" {
					t.Errorf("X-Task-Id = %q, want web.1", id)
				}
				if id := got.header.Get("X-App-Id"); id != "/shop/web" {
					t.Errorf("X-App-Id = %q, want /shop/web", id)
				}
				if tc.wantCT != "" {
					if ct := got.header.Get("Content-Type"); ct != tc.wantCT {
						t.Errorf("Content-Type = %q, want %q", ct, tc.wantCT)
					}
				}
				switch {
				case tc.wantPath != "":
					want := Info{TaskID: "web.1", AppID: "/shop/web", Port: port, Host: ipA, Path: tc.wantPath}
					if in := decodeInfo(t, got.body); in != want {
						t.Errorf("reply %+v, want %+v", in, want)
					}
				case tc.wantBody != "":
					if string(got.body) != tc.wantBody {
						t.Errorf("body %q, want %q", got.body, tc.wantBody)
					}
				}
			})
		}
	}
}

func TestHTTPKeepsConnectionsAlive(t *testing.T) {
	r := newRunner(t)
	port := freeport.TCP(t, ipA)
	if err := r.Start(Spec{TaskID: "web.1", AppID: "/web", IP: ipA, Ports: []int{port}}); err != nil {
		t.Fatal(err)
	}
	c, _ := newClient(t)
	var reused []bool
	for range 3 {
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) { reused = append(reused, info.Reused) },
		})
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr(ipA, port)+"/", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if want := []bool{false, true, true}; fmt.Sprint(reused) != fmt.Sprint(want) {
		t.Errorf("connection reused per request = %v, want %v", reused, want)
	}
}

// dialEcho connects to a TCP echo task and returns the connection and the
// greeting line without its newline.
func dialEcho(t *testing.T, address string) (*net.TCPConn, *bufio.Reader, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp4", address, patience)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(patience))
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("reading greeting from %s: %v", address, err)
	}
	return c.(*net.TCPConn), br, strings.TrimSuffix(line, "\n")
}

func TestTCPEchoGreetsAndEchoes(t *testing.T) {
	r := newRunner(t)
	port := freeport.TCP(t, ipA)
	if err := r.Start(Spec{TaskID: "db.7", AppID: "/db", IP: ipA, Ports: []int{port}, Kind: TCPEcho}); err != nil {
		t.Fatal(err)
	}
	c, br, greeting := dialEcho(t, addr(ipA, port))
	if greeting != "db.7" {
		t.Fatalf("greeting %q, want db.7", greeting)
	}

	// More than any socket buffer, written while reading, so the echo must
	// really stream rather than fit in a buffer somewhere.
	payload := bytes.Repeat([]byte("0123456789abcdef"), 64<<10)
	writeErr := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		if err == nil {
			err = c.CloseWrite() // the client is done; the task must finish and close
		}
		writeErr <- err
	}()
	got, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("reading echo: %v", err)
	}
	if err := receive(t, writeErr, "writer"); err != nil {
		t.Fatalf("writing: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("echoed %d bytes, want the %d written back unchanged", len(got), len(payload))
	}
}

func TestTasksOnDifferentIPsShareAPort(t *testing.T) {
	for _, kind := range []Kind{HTTP, TCPEcho} {
		t.Run(kind.String(), func(t *testing.T) {
			r := newRunner(t)
			port := freeport.TCP(t, ipA, ipB)
			tasks := map[string]string{ipA: "app.on-a", ipB: "app.on-b"}
			for ip, id := range tasks {
				if err := r.Start(Spec{TaskID: id, AppID: "/app", IP: ip, Ports: []int{port}, Kind: kind}); err != nil {
					t.Fatal(err)
				}
			}
			if got := r.Running(); got != 2 {
				t.Errorf("Running() = %d, want 2", got)
			}
			c, _ := newClient(t)
			for ip, id := range tasks {
				switch kind {
				case HTTP:
					got := do(t, c, "GET", "http://"+addr(ip, port)+"/x", "", nil)
					if in := decodeInfo(t, got.body); in.TaskID != id || in.Host != ip || in.Port != port {
						t.Errorf("%s answered %+v, want task %s", ip, in, id)
					}
				case TCPEcho:
					if _, _, greeting := dialEcho(t, addr(ip, port)); greeting != id {
						t.Errorf("%s greeted %q, want %q", ip, greeting, id)
					}
				}
			}
		})
	}
}

func TestStopHTTPLetsRequestsFinishWithinGrace(t *testing.T) {
	cases := []struct {
		name  string
		ms    int
		grace time.Duration
		// wantAnswer: the request completes with 200; otherwise the
		// connection is cut and the handler sees its context end.
		wantAnswer bool
	}{
		{name: "drains within grace", ms: 300, grace: patience, wantAnswer: true},
		{name: "grace zero cuts", ms: 60_000, grace: 0},
		{name: "grace shorter than request cuts", ms: 60_000, grace: 50 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := leakcheck.Settled()
			r, started, finished := hooked(t)
			port := freeport.TCP(t, ipA)
			if err := r.Start(Spec{TaskID: "web.1", AppID: "/web", IP: ipA, Ports: []int{port}}); err != nil {
				t.Fatal(err)
			}
			c, tr := newClient(t)

			type result struct {
				status int
				body   []byte
				err    error
			}
			answered := make(chan result, 1)
			go func() {
				resp, err := c.Get(fmt.Sprintf("http://%s/slow?ms=%d", addr(ipA, port), tc.ms))
				if err != nil {
					answered <- result{err: err}
					return
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				answered <- result{resp.StatusCode, b, err}
			}()
			receive(t, started, "the slow request to reach the task")

			stopped := make(chan error, 1)
			go func() { stopped <- r.Stop("web.1", tc.grace) }()

			res := receive(t, answered, "the slow request to end")
			if err := receive(t, stopped, "Stop to return"); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			// Stop returns only after the handler has, whatever the outcome.
			var fin event
			select {
			case fin = <-finished:
			default:
				t.Fatal("Stop returned before the handler finished")
			}

			if tc.wantAnswer {
				if res.err != nil || res.status != 200 {
					t.Fatalf("slow request: status %d, err %v; want 200 after a graceful stop", res.status, res.err)
				}
				if in := decodeInfo(t, res.body); in.TaskID != "web.1" || in.Path != "/slow" {
					t.Errorf("reply %+v", in)
				}
				if fin.ctxErr != nil {
					t.Errorf("handler's context ended (%v) although grace sufficed", fin.ctxErr)
				}
			} else {
				if res.err == nil {
					t.Fatalf("slow request answered %d %q; want the connection cut", res.status, res.body)
				}
				if fin.ctxErr == nil {
					t.Error("handler's context did not end when the task was killed")
				}
			}

			if conn, err := net.DialTimeout("tcp4", addr(ipA, port), patience); err == nil {
				conn.Close()
				t.Error("stopped task still accepts connections")
			}
			if got := r.Running(); got != 0 {
				t.Errorf("Running() = %d after Stop, want 0", got)
			}
			tr.CloseIdleConnections()
			leakcheck.Wait(t, before)
		})
	}
}

func TestStopTCPEcho(t *testing.T) {
	t.Run("open connection keeps echoing during grace", func(t *testing.T) {
		r := newRunner(t)
		port := freeport.TCP(t, ipA)
		if err := r.Start(Spec{TaskID: "db.1", IP: ipA, Ports: []int{port}, Kind: TCPEcho}); err != nil {
			t.Fatal(err)
		}
		c, br, _ := dialEcho(t, addr(ipA, port))

		stopped := make(chan error, 1)
		go func() { stopped <- r.Stop("db.1", patience) }()

		// Once new connections are refused the stop is under way ...
		deadline := time.Now().Add(patience)
		for {
			other, err := net.DialTimeout("tcp4", addr(ipA, port), patience)
			if err != nil {
				break
			}
			other.Close()
			if time.Now().After(deadline) {
				t.Fatal("listener still accepts connections during Stop")
			}
			time.Sleep(5 * time.Millisecond)
		}
		select {
		case err := <-stopped:
			t.Fatalf("Stop returned (%v) while a connection was open and grace left", err)
		default:
		}
		// ... yet the open connection still works.
		if _, err := c.Write([]byte("still there?\n")); err != nil {
			t.Fatal(err)
		}
		if line, err := br.ReadString('\n'); err != nil || line != "still there?\n" {
			t.Fatalf("echo during grace: %q, %v", line, err)
		}
		c.Close() // the client finishes; Stop can return early
		if err := receive(t, stopped, "Stop to return after the client closed"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("grace zero cuts the connection", func(t *testing.T) {
		r := newRunner(t)
		port := freeport.TCP(t, ipA)
		if err := r.Start(Spec{TaskID: "db.1", IP: ipA, Ports: []int{port}, Kind: TCPEcho}); err != nil {
			t.Fatal(err)
		}
		_, br, _ := dialEcho(t, addr(ipA, port))
		if err := r.Stop("db.1", 0); err != nil {
			t.Fatal(err)
		}
		if b, err := br.ReadByte(); err == nil {
			t.Fatalf("read %q from a killed task; want the connection closed", b)
		} else if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("connection of a killed task stayed open")
		}
	})
}

func TestSetHealthy(t *testing.T) {
	r := newRunner(t)
	port := freeport.TCP(t, ipA)
	if err := r.Start(Spec{TaskID: "web.1", AppID: "/web", IP: ipA, Ports: []int{port}}); err != nil {
		t.Fatal(err)
	}
	c, _ := newClient(t)
	base := "http://" + addr(ipA, port)

	steps := []struct {
		name       string
		set        func()
		wantHealth int
	}{
		{name: "starts healthy", set: func() {}, wantHealth: 200},
		{name: "told to fail", set: func() { r.SetHealthy("web.1", false) }, wantHealth: 503},
		{name: "told to fail again", set: func() { r.SetHealthy("web.1", false) }, wantHealth: 503},
		{name: "other task unaffected", set: func() { r.SetHealthy("web.2", true) }, wantHealth: 503},
		{name: "recovered", set: func() { r.SetHealthy("web.1", true) }, wantHealth: 200},
	}
	for _, st := range steps {
		st.set()
		got := do(t, c, "GET", base+"/health", "", nil)
		if got.status != st.wantHealth {
			t.Errorf("%s: /health = %d, want %d", st.name, got.status, st.wantHealth)
		}
		if in := decodeInfo(t, got.body); in.TaskID != "web.1" || got.header.Get("X-Task-Id") != "web.1" {
			t.Errorf("%s: /health does not name the task: %+v", st.name, in)
		}
		// Health only changes the health endpoint; the service still serves.
		if other := do(t, c, "GET", base+"/", "", nil); other.status != 200 {
			t.Errorf("%s: / = %d, want 200", st.name, other.status)
		}
	}
}

func TestStartRejectsBadSpecs(t *testing.T) {
	port := freeport.TCP(t, ipA)
	good := Spec{TaskID: "t.1", AppID: "/t", IP: ipA, Ports: []int{port}}
	cases := []struct {
		name    string
		edit    func(*Spec)
		wantIn  []string // substrings of the error
		wantErr error    // wrapped error, if any
	}{
		{name: "private IP", edit: func(s *Spec) { s.IP = "10.0.0.1" }, wantIn: []string{"10.0.0.1", "t.1"}, wantErr: ErrNotLoopback},
		{name: "unspecified IP", edit: func(s *Spec) { s.IP = "0.0.0.0" }, wantIn: []string{"0.0.0.0"}, wantErr: ErrNotLoopback},
		{name: "just past loopback", edit: func(s *Spec) { s.IP = "128.0.0.1" }, wantIn: []string{"128.0.0.1"}, wantErr: ErrNotLoopback},
		{name: "IPv6 loopback", edit: func(s *Spec) { s.IP = "::1" }, wantIn: []string{"::1"}, wantErr: ErrNotLoopback},
		{name: "IPv6 any", edit: func(s *Spec) { s.IP = "::" }, wantIn: []string{"::"}, wantErr: ErrNotLoopback},
		{name: "host name", edit: func(s *Spec) { s.IP = "localhost" }, wantIn: []string{"localhost"}},
		{name: "empty IP", edit: func(s *Spec) { s.IP = "" }, wantIn: []string{`IP ""`}},
		{name: "port zero", edit: func(s *Spec) { s.Ports = []int{port, 0} }, wantIn: []string{"port 0"}},
		{name: "negative port", edit: func(s *Spec) { s.Ports = []int{-1} }, wantIn: []string{"port -1"}},
		{name: "port too large", edit: func(s *Spec) { s.Ports = []int{65536} }, wantIn: []string{"port 65536"}},
		{name: "port twice", edit: func(s *Spec) { s.Ports = []int{port, port} }, wantIn: []string{strconv.Itoa(port), "twice"}},
		{name: "no task id", edit: func(s *Spec) { s.TaskID = "" }, wantIn: []string{"task id"}},
		{name: "unknown kind", edit: func(s *Spec) { s.Kind = Kind(7) }, wantIn: []string{"Kind(7)"}},
	}
	r := newRunner(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := good
			spec.Ports = append([]int(nil), good.Ports...)
			tc.edit(&spec)
			err := r.Start(spec)
			if err == nil {
				t.Fatal("Start accepted the spec")
			}
			for _, s := range tc.wantIn {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %q does not wrap %v", err, tc.wantErr)
			}
			if got := r.Running(); got != 0 {
				t.Errorf("Running() = %d after a rejected Start", got)
			}
		})
	}
	// Nothing was bound by the rejected specs: the good one still starts.
	if err := r.Start(good); err != nil {
		t.Fatalf("valid spec after rejected ones: %v", err)
	}
}

func TestStartAddressConflicts(t *testing.T) {
	r := newRunner(t)
	port := freeport.TCP(t, ipA)
	first := Spec{TaskID: "web.1", AppID: "/web", IP: ipA, Ports: []int{port}}
	if err := r.Start(first); err != nil {
		t.Fatal(err)
	}

	outside, err := net.Listen("tcp4", addr(ipC, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer outside.Close()
	outsidePort := outside.Addr().(*net.TCPAddr).Port
	spare := freeport.TCP(t, ipC) // never outsidePort: that one is taken

	cases := []struct {
		name    string
		spec    Spec
		wantIn  []string
		wantErr error
	}{
		{name: "same address, other task", spec: Spec{TaskID: "web.2", IP: ipA, Ports: []int{port}},
			wantIn: []string{addr(ipA, port), "web.2", "web.1"}, wantErr: ErrAddrInUse},
		{name: "same address, other kind", spec: Spec{TaskID: "db.1", IP: ipA, Ports: []int{port}, Kind: TCPEcho},
			wantIn: []string{addr(ipA, port), "db.1"}, wantErr: ErrAddrInUse},
		{name: "same task again", spec: first, wantIn: []string{"web.1"}, wantErr: ErrTaskExists},
		{name: "address held outside the runner", spec: Spec{TaskID: "web.3", IP: ipC, Ports: []int{spare, outsidePort}},
			wantIn: []string{addr(ipC, outsidePort), "web.3"}, wantErr: ErrAddrInUse},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := r.Start(tc.spec)
			if err == nil {
				t.Fatal("Start succeeded")
			}
			for _, s := range tc.wantIn {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("error %q does not wrap %v", err, tc.wantErr)
			}
		})
	}
	if got := r.Running(); got != 1 {
		t.Errorf("Running() = %d, want 1", got)
	}

	c, _ := newClient(t)
	if in := decodeInfo(t, do(t, c, "GET", "http://"+addr(ipA, port)+"/", "", nil).body); in.TaskID != "web.1" {
		t.Errorf("after the conflicts %s is answered by %q, want web.1", addr(ipA, port), in.TaskID)
	}
	// The failed multi-port Start released the port it had bound.
	if err := r.Start(Spec{TaskID: "web.4", IP: ipC, Ports: []int{spare}}); err != nil {
		t.Errorf("port of a failed Start not released: %v", err)
	}
	// A stopped task's address is free for the next task.
	if err := r.Stop("web.1", 0); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(Spec{TaskID: "web.5", IP: ipA, Ports: []int{port}}); err != nil {
		t.Errorf("address of a stopped task not released: %v", err)
	}
}

func TestLifecycleErrors(t *testing.T) {
	r := New(nil)
	port := freeport.TCP(t, ipA)
	if err := r.Stop("never.started", 0); !errors.Is(err, ErrUnknownTask) || !strings.Contains(err.Error(), "never.started") {
		t.Errorf("Stop of an unknown task: %v", err)
	}
	if err := r.Start(Spec{TaskID: "worker.1", IP: ipA}); err != nil {
		t.Fatalf("task without ports: %v", err)
	}
	if err := r.Start(Spec{TaskID: "web.1", IP: ipA, Ports: []int{port}}); err != nil {
		t.Fatal(err)
	}
	if got := r.Running(); got != 2 {
		t.Errorf("Running() = %d, want 2", got)
	}
	if err := r.Stop("web.1", time.Second); err != nil {
		t.Fatal(err)
	}
	if err := r.Stop("web.1", time.Second); !errors.Is(err, ErrUnknownTask) {
		t.Errorf("second Stop: %v, want ErrUnknownTask", err)
	}
	r.Close()
	r.Close() // idempotent
	if got := r.Running(); got != 0 {
		t.Errorf("Running() = %d after Close", got)
	}
	if err := r.Start(Spec{TaskID: "web.2", IP: ipA, Ports: []int{port}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v, want ErrClosed", err)
	}
	if err := r.Stop("worker.1", 0); !errors.Is(err, ErrUnknownTask) {
		t.Errorf("Stop after Close: %v, want ErrUnknownTask", err)
	}
}

func TestNoGoroutinesLeftAfterClose(t *testing.T) {
	before := leakcheck.Settled()
	r, started, _ := hooked(t)
	p1, p2 := freeport.TCP(t, ipA, ipB), freeport.TCP(t, ipA, ipB)
	for _, s := range []Spec{
		{TaskID: "web.1", AppID: "/web", IP: ipA, Ports: []int{p1, p2}},
		{TaskID: "web.2", AppID: "/web", IP: ipB, Ports: []int{p1}},
		{TaskID: "db.1", AppID: "/db", IP: ipB, Ports: []int{p2}, Kind: TCPEcho},
	} {
		if err := r.Start(s); err != nil {
			t.Fatal(err)
		}
	}
	c, tr := newClient(t)

	// Leave every kind of connection open: idle keep-alive ones in the
	// client's pool, a request in flight, and an echo session.
	for _, a := range []string{addr(ipA, p1), addr(ipA, p2), addr(ipB, p1)} {
		do(t, c, "GET", "http://"+a+"/", "", nil)
	}
	inFlight := make(chan error, 1)
	go func() {
		resp, err := c.Get("http://" + addr(ipA, p1) + "/slow?ms=60000")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		inFlight <- err
	}()
	receive(t, started, "the slow request")
	echo, br, _ := dialEcho(t, addr(ipB, p2))

	r.Close()
	if got := r.Running(); got != 0 {
		t.Errorf("Running() = %d after Close", got)
	}
	if err := receive(t, inFlight, "the in-flight request to end"); err == nil {
		t.Error("in-flight request completed although Close kills tasks")
	}
	if _, err := br.ReadByte(); err == nil {
		t.Error("echo connection still open after Close")
	}
	echo.Close()
	tr.CloseIdleConnections()
	leakcheck.Wait(t, before)
}
