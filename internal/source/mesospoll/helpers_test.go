package mesospoll

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/sim/simserver"
	"github.com/signpost-dns/signpost/internal/testutil/leakcheck"
)

// wait bounds every wait in these tests. It is generous on purpose: the
// tests wait for events, never measure how long they took.
const wait = 15 * time.Second

// leakCheck records the goroutine count now and, at cleanup (after every
// later cleanup: the poller's, the simulator's), waits for it to come back.
func leakCheck(t *testing.T) {
	t.Helper()
	leakcheck.Verify(t)
	// Registered after Verify, so it runs before Verify's wait.
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
}

// startSim starts a simulated cluster of n masters (master 0 leads).
func startSim(t *testing.T, n int) *simserver.Server {
	t.Helper()
	s, err := simserver.Start(context.Background(), simserver.Config{
		MesosAddr: "127.0.0.1:0", Masters: n, MarathonAddr: "127.0.0.1:0", ControlAddr: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// addrs are the simulator's masters as "host:port".
func addrs(s *simserver.Server) []string {
	out := make([]string, len(s.MasterURLs))
	for i, u := range s.MasterURLs {
		out[i] = strings.TrimPrefix(u, "http://")
	}
	return out
}

// setLeader moves leadership through the control API (-1: no leader).
func setLeader(t *testing.T, s *simserver.Server, idx int) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, s.ControlURL+"/sim/v1/leader", strings.NewReader(fmt.Sprintf(`{"master":%d}`, idx)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT leader %d: %s", idx, resp.Status)
	}
}

// recorder is a transport that remembers the host of every request, so
// tests can see which masters were asked (redirected requests included).
type recorder struct {
	t     *http.Transport
	mu    sync.Mutex
	hosts []string
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{t: &http.Transport{}}
	t.Cleanup(r.t.CloseIdleConnections)
	return r
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.hosts = append(r.hosts, req.URL.Host)
	r.mu.Unlock()
	return r.t.RoundTrip(req)
}

// take returns and forgets the hosts asked so far.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.hosts
	r.hosts = nil
	return h
}

// running is a Poller whose Run goroutine the test owns.
type running struct {
	*Poller
	out    chan Update
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// run creates a Poller from cfg and runs it until the test ends, checking
// that Run then returns context.Canceled.
func run(t *testing.T, cfg Config) *running {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Poller: p, out: make(chan Update), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx, r.out) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and waits for it; stopping twice is harmless.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != context.Canceled {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
		case <-time.After(wait):
			t.Fatal("Run did not return after cancel")
		}
	})
}

// next waits for an Update.
func (r *running) next(t *testing.T) Update {
	t.Helper()
	select {
	case u := <-r.out:
		return u
	case err := <-r.done:
		t.Fatalf("Run returned %v", err)
	case <-time.After(wait):
		t.Fatalf("no Update; health %+v", r.Health())
	}
	panic("unreachable")
}

// noUpdate checks that no Update is on offer for a while. It cannot flake on
// a correct Poller: a wrong one is merely caught less reliably when slow.
func (r *running) noUpdate(t *testing.T) {
	t.Helper()
	select {
	case u := <-r.out:
		t.Fatalf("unexpected Update from %s", u.Leader)
	case <-time.After(300 * time.Millisecond):
	}
}

// healthUntil polls Health until ok accepts it.
func (r *running) healthUntil(t *testing.T, what string, ok func(Health) bool) Health {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		h := r.Health()
		if ok(h) {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s; health %+v", what, h)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakeMaster serves h over HTTP for the cases the simulator (Mesos 1.x) does
// not cover: pre-1.0 masters, odd answers.
func fakeMaster(t *testing.T, h http.HandlerFunc) (addr string) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// oldNonLeader answers like a Mesos <1.0 non-leader: 200 with its own empty
// state, naming leader (a UPID; "" for none).
func oldNonLeader(t *testing.T, leader string) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	self := srv.Listener.Addr().String()
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"version":"0.28.2","pid":"master@%s","leader":%q,"slaves":[],"frameworks":[]}`, self, leader)
	})
	srv.Start()
	t.Cleanup(srv.Close)
	return self
}
