package marathon

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/sim/faults"
	"github.com/signpost-dns/signpost/internal/testutil/leakcheck"
)

// TestInitialFetch: the first update is the whole cluster, fetched once,
// from the simulator, with the stream open.
func TestInitialFetch(t *testing.T) {
	leakCheck(t)
	s := startSim(t, 100*time.Millisecond)
	postApp(t, s, `{"id":"/web","instances":2,"portDefinitions":[{"port":0}]}`)
	postApp(t, s, `{"id":"/api/v1","instances":1,"portDefinitions":[{"port":0}]}`)
	r := start(t, testConfig(t, s.MarathonURL))

	u := r.next(t, "the initial state", func(Update) bool { return true })
	if u.Reason != ReasonInitial {
		t.Errorf("Reason %q, want %q", u.Reason, ReasonInitial)
	}
	if u.From != s.MarathonURL {
		t.Errorf("From %q, want %q", u.From, s.MarathonURL)
	}
	if n := runningTasks(u, "/web"); n != 2 {
		t.Errorf("/web has %d running tasks, want 2: %s", n, describe(u))
	}
	if n := runningTasks(u, "/api/v1"); n != 1 {
		t.Errorf("/api/v1 has %d running tasks, want 1: %s", n, describe(u))
	}
	if u.Fetched.IsZero() || len(u.Skipped) != 0 {
		t.Errorf("Fetched %v, Skipped %v", u.Fetched, u.Skipped)
	}
	st := r.status(t, "connected", func(st Status) bool { return st.Connected })
	if st.URL != s.MarathonURL || st.Fetches != 1 || st.LastFetch != u.Fetched || st.Reconnects != 0 {
		t.Errorf("status %+v", st)
	}
}

// TestScaleUp: a change made through Marathon's API reaches the consumer
// through the event stream, without waiting for a resync.
func TestScaleUp(t *testing.T) {
	leakCheck(t)
	s := startSim(t, 100*time.Millisecond)
	postApp(t, s, `{"id":"/web","instances":1,"portDefinitions":[{"port":0}]}`)
	cfg := testConfig(t, s.MarathonURL)
	cfg.Resync = time.Hour
	r := start(t, cfg)
	r.next(t, "the initial state", func(u Update) bool { return runningTasks(u, "/web") == 1 })

	do(t, http.MethodPut, s.MarathonURL+"/v2/apps/web", `{"instances":3}`, http.StatusOK)
	u := r.next(t, "/web scaled to 3", func(u Update) bool { return runningTasks(u, "/web") == 3 })
	if !strings.HasPrefix(u.Reason, ReasonEventPrefix) && !strings.HasPrefix(u.Reason, ReasonAppliedPrefix) {
		t.Errorf("Reason %q, want an event", u.Reason)
	}
	if st := r.f.Status(); st.Events == 0 || st.LastEvent.IsZero() {
		t.Errorf("status %+v: no events counted", st)
	}
}

// TestBurstCoalesced: scaling 0→20 is over a hundred events; they cause a
// handful of refetches, not one each.
func TestBurstCoalesced(t *testing.T) {
	leakCheck(t)
	s := startSim(t, 100*time.Millisecond)
	postApp(t, s, `{"id":"/burst","instances":0,"portDefinitions":[{"port":0}]}`)
	cfg := testConfig(t, s.MarathonURL)
	cfg.Coalesce = 200 * time.Millisecond
	cfg.Resync = time.Hour
	r := start(t, cfg)
	r.next(t, "the initial state", func(u Update) bool { return runningTasks(u, "/burst") == 0 })
	before := r.status(t, "connected", func(st Status) bool { return st.Connected })

	do(t, http.MethodPut, s.MarathonURL+"/v2/apps/burst", `{"instances":20}`, http.StatusOK)
	r.next(t, "/burst scaled to 20", func(u Update) bool { return runningTasks(u, "/burst") == 20 })
	after := r.status(t, "50 events", func(st Status) bool { return st.Events-before.Events >= 50 })
	events, fetches := after.Events-before.Events, after.Fetches-before.Fetches
	t.Logf("%d events, %d fetches", events, fetches)
	if fetches > 10 {
		t.Errorf("%d events caused %d fetches; they should be coalesced", events, fetches)
	}
	if after.MalformedEvents != 0 {
		t.Errorf("%d malformed events from the simulator", after.MalformedEvents)
	}
}

// TestMarathonAway: while Marathon is unreachable (stream cut, reconnects
// dropped, /v2/apps failing) nothing is sent, reconnection backs off, and
// the change made meanwhile arrives after recovery.
func TestMarathonAway(t *testing.T) {
	leakCheck(t)
	s := startSim(t, 100*time.Millisecond)
	postApp(t, s, `{"id":"/web","instances":1,"portDefinitions":[{"port":0}]}`)
	c := newCutter(t, strings.TrimPrefix(s.MarathonURL, "http://"))
	cfg := testConfig(t, c.url())
	cfg.Resync = time.Hour
	r := start(t, cfg)
	r.next(t, "the initial state", func(u Update) bool { return runningTasks(u, "/web") == 1 })
	r.status(t, "connected", func(st Status) bool { return st.Connected })

	for _, rule := range []faults.Rule{
		{Target: "marathon", Path: "/v2/events", Drop: true},
		{Target: "marathon", Path: "/v2/apps", Status: http.StatusServiceUnavailable},
	} {
		if err := s.Faults.Add(rule); err != nil {
			t.Fatal(err)
		}
	}
	before := r.f.Status()
	away := time.Now()
	c.cut()
	// The Marathon API is failing: change the cluster behind its back.
	if err := s.Cluster.ScaleApp("/web", 3); err != nil {
		t.Fatal(err)
	}
	st := r.status(t, "several failed reconnection rounds", func(st Status) bool {
		return !st.Connected && st.Reconnects >= before.Reconnects+4
	})
	r.noUpdate(t, "Marathon away")
	if st.LastError == nil || st.LastErrorAt.IsZero() {
		t.Errorf("no LastError while away: %+v", st)
	}

	s.Faults.Clear()
	back := time.Since(away)
	u := r.next(t, "/web scaled to 3 after recovery", func(u Update) bool { return runningTasks(u, "/web") == 3 })
	if u.Reason != ReasonReconnect {
		t.Errorf("Reason %q, want %q", u.Reason, ReasonReconnect)
	}
	// Backoff: every wait lasts at least BackoffMin/2, so no more rounds
	// than that allows can have happened while away (a tight loop would
	// make thousands).
	rounds := r.f.Status().Reconnects - before.Reconnects
	if most := uint64(back/(cfg.BackoffMin/2)) + 2; rounds > most {
		t.Errorf("%d reconnection rounds in %v: no backoff (at most %d)", rounds, back, most)
	}
	r.status(t, "connected again", func(st Status) bool { return st.Connected })
}

// TestFailover: a dead first URL and a standby without a leader are
// skipped; the working URL is remembered, so they are not asked again.
func TestFailover(t *testing.T) {
	leakCheck(t)
	s := startSim(t, 100*time.Millisecond)
	postApp(t, s, `{"id":"/web","instances":1,"portDefinitions":[{"port":0}]}`)
	var mu sync.Mutex
	var standbyHits []string
	standby, _ := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		standbyHits = append(standbyHits, r.URL.Path)
		mu.Unlock()
		http.Error(w, "Could not determine the current leader", http.StatusBadGateway)
	}))
	dead := deadURL(t)
	cfg := testConfig(t, dead, standby.URL, s.MarathonURL)
	cfg.Resync = time.Hour
	r := start(t, cfg)

	u := r.next(t, "the initial state", func(Update) bool { return true })
	if u.From != s.MarathonURL {
		t.Errorf("From %q, want the live %q", u.From, s.MarathonURL)
	}
	st := r.status(t, "connected", func(st Status) bool { return st.Connected })
	if st.URL != s.MarathonURL {
		t.Errorf("Status.URL %q, want %q", st.URL, s.MarathonURL)
	}
	do(t, http.MethodPut, s.MarathonURL+"/v2/apps/web", `{"instances":2}`, http.StatusOK)
	r.next(t, "/web scaled to 2", func(u Update) bool { return runningTasks(u, "/web") == 2 })
	r.f.Refetch()
	r.next(t, "a signalled refetch", func(u Update) bool { return u.Reason == ReasonSignal })
	st = r.f.Status()
	if st.Reconnects != 0 {
		t.Fatalf("stream reconnected: %+v", st)
	}
	// Only the first stream round asked the standby; every later request
	// went to the remembered URL first.
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(standbyHits, []string{"/v2/events"}) {
		t.Errorf("standby was asked %v, want only the first /v2/events", standbyHits)
	}
}

// TestLeaderRedirect: a standby redirects to the leader (302, as Marathon
// ≥1.7 does for /v2/events, or 307); both requests follow it.
func TestLeaderRedirect(t *testing.T) {
	for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			leakCheck(t)
			s := startSim(t, 100*time.Millisecond)
			postApp(t, s, `{"id":"/web","instances":1,"portDefinitions":[{"port":0}]}`)
			hits := make(chan string, 100)
			standby, _ := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits <- r.URL.Path
				http.Redirect(w, r, s.MarathonURL+r.URL.RequestURI(), code)
			}))
			cfg := testConfig(t, standby.URL)
			cfg.Resync = time.Hour
			r := start(t, cfg)

			u := r.next(t, "the initial state", func(Update) bool { return true })
			if u.From != s.MarathonURL {
				t.Errorf("From %q, want the leader %q", u.From, s.MarathonURL)
			}
			st := r.status(t, "connected", func(st Status) bool { return st.Connected })
			if st.URL != s.MarathonURL {
				t.Errorf("Status.URL %q, want the leader %q", st.URL, s.MarathonURL)
			}
			// The stream is the leader's: its events arrive.
			do(t, http.MethodPut, s.MarathonURL+"/v2/apps/web", `{"instances":2}`, http.StatusOK)
			r.next(t, "/web scaled to 2", func(u Update) bool { return runningTasks(u, "/web") == 2 })
			var paths []string
			for len(hits) > 0 {
				paths = append(paths, <-hits)
			}
			if !slices.Contains(paths, "/v2/events") || !slices.Contains(paths, "/v2/apps") {
				t.Errorf("standby saw %v, want /v2/events and /v2/apps", paths)
			}
		})
	}
}

// TestBasicAuth: credentials go with every request, including the ones
// redirected to another host (which net/http would strip), and the event
// stream is asked for the configured types in the light plan format.
func TestBasicAuth(t *testing.T) {
	leakCheck(t)
	leader := newFake(t, appsDoc("/web"))
	leader.user, leader.pass = "user", "pa:ss"
	leader.heartbeat = 50 * time.Millisecond
	leaderURL := leader.urlAs("localhost") // another host than the standby's
	var mu sync.Mutex
	var standbyAuths []string
	standby, _ := server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		mu.Lock()
		standbyAuths = append(standbyAuths, r.URL.Path+" "+user+":"+pass)
		mu.Unlock()
		http.Redirect(w, r, leaderURL+r.URL.RequestURI(), http.StatusFound)
	}))
	cred := filepath.Join(t.TempDir(), "cred")
	if err := os.WriteFile(cred, []byte("user:pa:ss\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, standby.URL)
	cfg.CredentialFile = cred
	r := start(t, cfg)
	r.next(t, "the initial state", func(u Update) bool { return hasApp(u, "/web") })
	r.status(t, "connected", func(st Status) bool { return st.Connected })

	leaderAuths, _, _ := leader.recorded()
	mu.Lock()
	seen := map[string][]string{"standby": slices.Clone(standbyAuths), "leader": leaderAuths}
	mu.Unlock()
	for name, auths := range seen {
		for _, want := range []string{"/v2/events user:pa:ss", "/v2/apps user:pa:ss"} {
			if !slices.Contains(auths, want) {
				t.Errorf("%s saw %q, want %q among them", name, auths, want)
			}
		}
	}
	_, queries, _ := leader.recorded()
	wantQuery := "plan-format=light&event_type=" + strings.Join(DefaultEventTypes, "&event_type=")
	if len(queries) != 1 || queries[0] != wantQuery {
		t.Errorf("stream queries %q, want [%q]", queries, wantQuery)
	}
}

// TestBadCredentials: a 401 is a failure like any other: logged, in Status,
// and no update.
func TestBadCredentials(t *testing.T) {
	leakCheck(t)
	m := newFake(t, appsDoc("/web"))
	m.user, m.pass = "user", "secret"
	cfg := testConfig(t, m.srv.URL)
	cfg.Username, cfg.Password = "user", "wrong"
	r := start(t, cfg)
	st := r.status(t, "a failed fetch", func(st Status) bool { return st.FetchErrors >= 1 })
	if st.LastError == nil || !strings.Contains(st.LastError.Error(), "401") {
		t.Errorf("LastError %v, want a 401", st.LastError)
	}
	r.noUpdate(t, "unauthorised")
	if n := m.fetches.Load() + m.streams.Load(); n != 0 {
		t.Errorf("%d requests served without credentials", n)
	}
}

// TestMalformedEvents: events that do not decode are counted and still
// refetch; the stream goes on and later events are acted on.
func TestMalformedEvents(t *testing.T) {
	leakCheck(t)
	m := newFake(t, appsDoc("/a"))
	m.heartbeat = 50 * time.Millisecond
	cfg := testConfig(t, m.srv.URL)
	cfg.Resync = time.Hour
	r := start(t, cfg)
	r.next(t, "the initial state", func(u Update) bool { return hasApp(u, "/a") })
	r.status(t, "connected", func(st Status) bool { return st.Connected })

	// Garbage of a type not subscribed to is not even decoded.
	m.send(t, "event: deployment_info\r\ndata: {garbage\r\n\r\n")
	// Garbage of a relevant type, and a payload that lacks a required field.
	m.send(t, "event: status_update_event\r\ndata: {not json at all\r\n\r\n")
	m.send(t, "event: api_post_event\r\ndata: {\"eventType\":\"api_post_event\",\"timestamp\":\"2015-09-30T12:47:11.286Z\"}\r\n\r\n")
	r.status(t, "two malformed events", func(st Status) bool { return st.MalformedEvents == 2 })

	m.setApps(appsDoc("/a", "/b"))
	m.send(t, "event: status_update_event\r\ndata: "+`{"slaveId":"S0","taskId":"b.1","taskStatus":"TASK_RUNNING","message":"","appId":"/b","host":"127.0.0.1","ports":[31001],"version":"2015-09-11T22:11:03.156Z","eventType":"status_update_event","timestamp":"2015-09-30T12:47:11.286Z"}`+"\r\n\r\n")
	r.next(t, "app /b", func(u Update) bool { return hasApp(u, "/b") })
	st := r.status(t, "three relevant events", func(st Status) bool { return st.Events == 3 })
	if st.MalformedEvents != 2 || st.Reconnects != 0 || !st.Connected || m.streams.Load() != 1 {
		t.Errorf("the stream did not simply go on: status %+v, %d streams", st, m.streams.Load())
	}
}

// TestIdleReconnect: a stream that stops sending heartbeats is reopened;
// one that sends them is not.
func TestIdleReconnect(t *testing.T) {
	t.Run("silent stream", func(t *testing.T) {
		leakCheck(t)
		m := newFake(t, appsDoc("/a"))
		m.heartbeat, m.heartbeats = 50*time.Millisecond, 20
		cfg := testConfig(t, m.srv.URL)
		cfg.IdleTimeout = 500 * time.Millisecond // ten heartbeats
		cfg.Resync = time.Hour
		r := start(t, cfg)
		r.next(t, "the initial state", func(Update) bool { return true })
		r.next(t, "a refetch after reconnecting", func(u Update) bool { return u.Reason == ReasonReconnect })
		st := r.f.Status()
		if !errors.Is(st.LastError, ErrIdle) || st.Reconnects == 0 {
			t.Errorf("status %+v, want an idle reconnect", st)
		}
		// The first stream lived through all its heartbeats (a second of
		// them, twice IdleTimeout) and was dropped only when they stopped.
		deadline := time.Now().Add(wait)
		for {
			_, _, sent := m.recorded()
			if len(sent) > 0 {
				if sent[0] != m.heartbeats {
					t.Errorf("the first stream ended after %d heartbeats, want %d", sent[0], m.heartbeats)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the first stream never ended at the server")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	t.Run("simulator without heartbeats", func(t *testing.T) {
		leakCheck(t)
		s := startSim(t, time.Hour)
		postApp(t, s, `{"id":"/web","instances":1,"portDefinitions":[{"port":0}]}`)
		cfg := testConfig(t, s.MarathonURL)
		cfg.IdleTimeout = 300 * time.Millisecond
		cfg.Resync = time.Hour
		r := start(t, cfg)
		r.next(t, "the initial state", func(Update) bool { return true })
		r.next(t, "a refetch after reconnecting", func(u Update) bool { return u.Reason == ReasonReconnect })
		st := r.status(t, "two idle reconnects", func(st Status) bool { return st.Reconnects >= 2 })
		if !errors.Is(st.LastError, ErrIdle) {
			t.Errorf("LastError %v, want ErrIdle", st.LastError)
		}
	})
}

// TestPeriodicResync: without events, the state is refetched every Resync.
func TestPeriodicResync(t *testing.T) {
	leakCheck(t)
	m := newFake(t, appsDoc("/a"))
	m.heartbeat = 50 * time.Millisecond
	cfg := testConfig(t, m.srv.URL)
	cfg.Resync = 200 * time.Millisecond
	r := start(t, cfg)
	r.next(t, "the initial state", func(u Update) bool { return u.Reason == ReasonInitial })
	m.setApps(appsDoc("/a", "/b"))
	u := r.next(t, "a periodic refetch", func(u Update) bool { return u.Reason == ReasonPeriodic })
	if !hasApp(u, "/b") {
		t.Errorf("periodic refetch %s lacks /b", describe(u))
	}
}

// TestFetchRetried: a /v2/apps that fails while the stream is fine is
// retried with backoff, under the same reason, until it works.
func TestFetchRetried(t *testing.T) {
	leakCheck(t)
	s := startSim(t, 100*time.Millisecond)
	postApp(t, s, `{"id":"/web","instances":1,"portDefinitions":[{"port":0}]}`)
	if err := s.Faults.Add(faults.Rule{Target: "marathon", Path: "/v2/apps", Status: http.StatusServiceUnavailable}); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, s.MarathonURL)
	cfg.Resync = time.Hour
	r := start(t, cfg)
	st := r.status(t, "failed fetches", func(st Status) bool { return st.FetchErrors >= 3 })
	if !st.Connected || st.LastError == nil || !strings.Contains(st.LastError.Error(), "503") {
		t.Errorf("status %+v, want the stream up and a 503", st)
	}
	r.noUpdate(t, "/v2/apps failing")
	s.Faults.Clear()
	u := r.next(t, "the initial state", func(Update) bool { return true })
	if u.Reason != ReasonInitial {
		t.Errorf("Reason %q, want %q", u.Reason, ReasonInitial)
	}
}

// TestStopsCleanly: cancelling Run ends every goroutine, whether it was
// reading the stream, backing off, or blocked on a consumer that does not
// read.
func TestStopsCleanly(t *testing.T) {
	leakCheck(t)
	s := startSim(t, 100*time.Millisecond)
	postApp(t, s, `{"id":"/web","instances":1,"portDefinitions":[{"port":0}]}`)
	for _, tc := range []struct {
		name string
		urls []string
		read bool
	}{
		{"following", []string{s.MarathonURL}, true},
		{"blocked on send", []string{s.MarathonURL}, false},
		{"backing off", []string{deadURL(t)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check := leakcheck.Check(t)
			f, err := New(testConfig(t, tc.urls...))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out := make(chan Update)
			done := make(chan error, 1)
			go func() { done <- f.Run(ctx, out) }()
			if tc.read {
				select {
				case <-out:
				case <-time.After(wait):
					t.Fatal("no initial update")
				}
			}
			deadline := time.Now().Add(wait)
			for st := f.Status(); !st.Connected && st.Reconnects == 0; st = f.Status() {
				if time.Now().After(deadline) {
					t.Fatal("never connected nor failed")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if f.Run(ctx, out) == nil {
				t.Error("a second concurrent Run did not fail")
			}
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Run returned %v", err)
				}
			case <-time.After(wait):
				t.Fatal("Run did not return")
			}
			if st := f.Status(); st.Connected {
				t.Errorf("still Connected after Run: %+v", st)
			}
			check()
		})
	}
}
