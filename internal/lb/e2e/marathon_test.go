package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/testutil/freeport"
)

// marathonFront stands in front of the simulated Marathon at an address of
// its own, as one Marathon instance of a cluster: the test can take it
// away (listener and streams closed), bring it back on the same address,
// make it a non-leader that redirects to another instance, and inject
// malformed events into the streams it relays.
type marathonFront struct {
	t      *testing.T
	addr   string
	target *url.URL

	mu       sync.Mutex
	srv      *http.Server
	leader   string // "" when this instance leads; else where to redirect
	injected chan string
}

func newMarathonFront(t *testing.T, addr, target string) *marathonFront {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	f := &marathonFront{t: t, addr: addr, target: u, injected: make(chan string, 10)}
	f.start()
	t.Cleanup(f.stop)
	return f
}

func (f *marathonFront) url() string { return "http://" + f.addr }

// start serves on f.addr (again).
func (f *marathonFront) start() {
	f.t.Helper()
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		f.t.Fatalf("marathon front %s: %v", f.addr, err)
	}
	rp := httputil.NewSingleHostReverseProxy(f.target)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		leader := f.leader
		f.mu.Unlock()
		if leader != "" {
			http.Redirect(w, r, leader+r.URL.RequestURI(), http.StatusTemporaryRedirect)
			return
		}
		if r.URL.Path == "/v2/events" {
			f.relayEvents(w, r)
			return
		}
		rp.ServeHTTP(w, r)
	})}
	f.mu.Lock()
	f.srv = srv
	f.mu.Unlock()
	go srv.Serve(ln)
}

// stop closes the listener and every connection, streams included.
func (f *marathonFront) stop() {
	f.mu.Lock()
	srv := f.srv
	f.srv = nil
	f.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// redirectTo makes this instance a non-leader answering 307 to leader, and
// ends the streams it serves (a Marathon that loses leadership does).
func (f *marathonFront) redirectTo(leader string) {
	f.mu.Lock()
	f.leader = leader
	f.mu.Unlock()
	f.stop()
	f.start()
}

// relayEvents copies the simulator's event stream line by line and writes
// injected frames between two events.
func (f *marathonFront) relayEvents(w http.ResponseWriter, r *http.Request) {
	up, err := http.NewRequestWithContext(r.Context(), "GET", f.target.String()+r.URL.RequestURI(), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	up.Header = r.Header.Clone()
	resp, err := http.DefaultTransport.RoundTrip(up)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	fl := w.(http.Flusher)
	fl.Flush()
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			if _, werr := io.WriteString(w, line); werr != nil {
				return
			}
			if line == "\r\n" || line == "\n" { // between two frames
				select {
				case frame := <-f.injected:
					io.WriteString(w, frame)
				default:
				}
			}
			fl.Flush()
		}
		if err != nil {
			return
		}
	}
}

// TestMarathonFailures runs one load balancer through Marathon sending
// malformed events, going away, coming back, changing leader and failing
// its REST API: at every step the last routes keep serving, and the change
// made in the meantime is applied once Marathon is back.
func TestMarathonFailures(t *testing.T) {
	ln := newLoopNet(t)
	s := startSim(t, ln)
	a := newMarathonFront(t, ln.addr(240, 8080), s.marathon)
	b := newMarathonFront(t, ln.addr(241, 8080), s.marathon)
	port := freeport.TCP(t)
	app := map[string]any{
		"id": "/web", "instances": 2, "cmd": "serve",
		"labels":          map[string]any{"HAPROXY_GROUP": "external", "HAPROXY_0_VHOST": "web.example"},
		"portDefinitions": []any{map[string]any{"port": port, "protocol": "tcp"}},
	}
	tasks := s.addApp(t, app)
	lb := startLB(t, ln, lbConfig{marathon: []string{a.url(), b.url()},
		args: []string{"--group", "external", "--max-backoff", "2"}})
	web := req{addr: lb.http, host: "web.example"}
	eventuallyReach(t, "web.example reaches the app's tasks", tasks, web)

	// steady checks that requests keep reaching exactly want for a while.
	steady := func(what string, want set) {
		t.Helper()
		for range 5 {
			got, err := reach(2*len(want), web)
			if err != nil || !got.equal(want) {
				t.Fatalf("%s: requests reached %s (%v), want %s", what, got, err, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	t.Run("malformed events", func(t *testing.T) {
		for _, frame := range []string{
			"event: status_update_event\r\ndata: {not json\r\n\r\n",
			"event: status_update_event\r\ndata: {\"eventType\":\"status_update_event\",\"taskId\":42,\"appId\":[]}\r\n\r\n",
			"event: api_post_event\r\ndata: \"just a string\"\r\n\r\n",
			"data: {\"eventType\":\"instance_changed_event\",\"instanceId\":{\"x\":1}}\r\n\r\n",
		} {
			a.injected <- frame
		}
		eventually(t, "the malformed events are relayed", func() error {
			if n := len(a.injected); n > 0 {
				return fmt.Errorf("%d not yet sent", n)
			}
			return nil
		})
		steady("after malformed events", tasks)
		tasks = s.scale(t, "/web", 3)
		eventuallyReach(t, "the scale-up after malformed events", tasks, web)
	})

	t.Run("Marathon away and back", func(t *testing.T) {
		a.stop()
		b.stop()
		steady("with every Marathon gone", tasks)
		// Changes made while the load balancer cannot see them.
		s.scale(t, "/web", 1)
		a.start()
		b.start()
		tasks = s.taskIDs(t, "/web")
		eventuallyReach(t, "the scale-down made while Marathon was away", tasks, web)
	})

	t.Run("leader change", func(t *testing.T) {
		a.redirectTo(b.url())
		tasks = s.scale(t, "/web", 2)
		eventuallyReach(t, "the scale-up after the leader moved to the second Marathon", tasks, web)
		// And back: b loses leadership to a.
		a.mu.Lock()
		a.leader = ""
		a.mu.Unlock()
		b.redirectTo(a.url())
		tasks = s.scale(t, "/web", 3)
		eventuallyReach(t, "the scale-up after the leader moved back", tasks, web)
	})

	t.Run("REST API failing", func(t *testing.T) {
		s.do(t, "POST", s.control+"/sim/v1/faults", map[string]any{"target": "marathon", "path": "/v2/apps", "status": 503}, nil)
		// The event stream still works, so the load balancer learns of a
		// change but cannot fetch the apps: it must keep the last routes.
		// Scaling through the API would fail too, so kill a task instead.
		var victim string
		for id := range tasks {
			victim = id
			break
		}
		s.do(t, "POST", s.control+"/sim/v1/tasks/"+victim+"/kill?scale=true", nil, nil)
		remaining := set{}
		for id := range tasks {
			if id != victim {
				remaining[id] = true
			}
		}
		// Requests may still be balanced onto the killed task until the
		// load balancer has applied its TASK_KILLING event, and that task
		// keeps serving for the simulator's kill grace period (as under
		// Mesos); after it, a connect failure is retried on a live task.
		// So every request is answered, by one of the tasks.
		for range 10 {
			rep, err := send(web)
			if err != nil || rep.status != http.StatusOK || !tasks[rep.task] {
				t.Fatalf("while /v2/apps fails: %v, status %d from %q, want one of %s", err, rep.status, rep.task, tasks)
			}
		}
		s.do(t, "DELETE", s.control+"/sim/v1/faults", nil, nil)
		eventuallyReach(t, "the kill once /v2/apps answers again", remaining, web)
	})
}
