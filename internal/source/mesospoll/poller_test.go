package mesospoll

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/sim/faults"
	"github.com/signpost-dns/signpost/internal/testutil/leakcheck"
	"github.com/signpost-dns/signpost/internal/testutil/syncbuf"
	"github.com/signpost-dns/signpost/internal/wire/mesosstate"
)

// TestFollowsRedirectToLeader starts on master 1, a Mesos 1.x non-leader:
// its 307 leads to master 0, and the next poll goes straight there.
func TestFollowsRedirectToLeader(t *testing.T) {
	leakCheck(t)
	s := startSim(t, 3)
	m := addrs(s)
	rec := newRecorder(t)
	p := run(t, Config{Masters: []string{m[1], m[0], m[2]}, Refresh: time.Hour, Timeout: 10 * time.Second,
		Client: &http.Client{Transport: rec}})

	u := p.next(t)
	if u.Leader != m[0] || u.State.Leader != "master@"+m[0] || u.State.PID != u.State.Leader {
		t.Errorf("Leader %q, state leader %q pid %q; want %s", u.Leader, u.State.Leader, u.State.PID, m[0])
	}
	if want := []string{m[0], m[1], m[2]}; !slices.Equal(u.Masters, want) {
		t.Errorf("Masters %v, want %v (leader first, then the configured order)", u.Masters, want)
	}
	if len(u.State.Agents) == 0 {
		t.Error("state has no agents")
	}
	if u.Fetched.IsZero() {
		t.Error("Fetched is zero")
	}
	if got, want := rec.take(), []string{m[1], m[0]}; !slices.Equal(got, want) {
		t.Errorf("asked %v, want %v (non-leader, then its redirect)", got, want)
	}
	h := p.Health()
	if h.LastError != nil || h.ConsecutiveFailures != 0 || h.LastSuccess.IsZero() || h.LastAttempt.IsZero() {
		t.Errorf("health %+v", h)
	}

	p.Trigger()
	if u := p.next(t); u.Leader != m[0] {
		t.Errorf("second poll: Leader %q, want %s", u.Leader, m[0])
	}
	if got, want := rec.take(), []string{m[0]}; !slices.Equal(got, want) {
		t.Errorf("second poll asked %v, want %v (the known leader only)", got, want)
	}
}

// TestFollowsLeaderMove moves leadership; the next poll follows it.
func TestFollowsLeaderMove(t *testing.T) {
	leakCheck(t)
	s := startSim(t, 3)
	m := addrs(s)
	p := run(t, Config{Masters: m, Refresh: time.Hour, Timeout: 10 * time.Second})

	if u := p.next(t); u.Leader != m[0] {
		t.Fatalf("Leader %q, want %s", u.Leader, m[0])
	}
	setLeader(t, s, 2)
	p.Trigger()
	u := p.next(t)
	if u.Leader != m[2] || u.State.Leader != "master@"+m[2] {
		t.Errorf("after move: Leader %q, state leader %q; want %s", u.Leader, u.State.Leader, m[2])
	}
	if want := []string{m[2], m[0], m[1]}; !slices.Equal(u.Masters, want) {
		t.Errorf("Masters %v, want %v", u.Masters, want)
	}
}

// TestNoLeaderKeepsGoing: without a leader every master answers 503. Each
// attempt fails, is counted and logged, sends nothing, and polling goes on
// until a leader is back.
func TestNoLeaderKeepsGoing(t *testing.T) {
	leakCheck(t)
	s := startSim(t, 3)
	m := addrs(s)
	var logs syncbuf.Buffer
	p := run(t, Config{Masters: m, Refresh: time.Hour, Timeout: 10 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})

	first := p.next(t)
	setLeader(t, s, -1)
	p.Trigger()
	h := p.healthUntil(t, "a failure", func(h Health) bool { return h.ConsecutiveFailures == 1 })
	if h.LastError == nil || !strings.Contains(h.LastError.Error(), "No leader elected") {
		t.Errorf("LastError %v, want Mesos's 503 reason", h.LastError)
	}
	for _, a := range m {
		if !strings.Contains(h.LastError.Error(), a) {
			t.Errorf("LastError does not name master %s: %v", a, h.LastError)
		}
	}
	var me *MasterError
	if !errors.As(h.LastError, &me) {
		t.Errorf("LastError %T does not hold a *MasterError", h.LastError)
	}
	if !h.LastSuccess.Equal(first.Fetched) {
		t.Errorf("LastSuccess %v moved from %v on a failure", h.LastSuccess, first.Fetched)
	}
	p.noUpdate(t)

	p.Trigger()
	h = p.healthUntil(t, "a second failure", func(h Health) bool { return h.ConsecutiveFailures == 2 })
	p.noUpdate(t)
	if lines := strings.Count(logs.String(), "keeping the last good state"); lines != 2 {
		t.Errorf("%d failure log lines, want 2:\n%s", lines, logs.String())
	}
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "keeping the last good state") && !strings.Contains(line, m[0]) {
			t.Errorf("failure log line does not name the master: %s", line)
		}
	}

	setLeader(t, s, 1)
	p.Trigger()
	u := p.next(t)
	if u.Leader != m[1] {
		t.Errorf("after recovery: Leader %q, want %s", u.Leader, m[1])
	}
	h = p.Health()
	if h.ConsecutiveFailures != 0 || h.LastError != nil || !h.LastSuccess.Equal(u.Fetched) {
		t.Errorf("after recovery: health %+v", h)
	}
}

// TestFaults: an error status, a master slower than Timeout, a dropped
// connection: each is a failure, and the poller recovers once it is gone.
func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule faults.Rule
		want string
	}{
		{"503", faults.Rule{Status: 503}, "HTTP 503"},
		{"latency", faults.Rule{LatencyMS: 600_000}, "Timeout"},
		{"drop", faults.Rule{Drop: true}, "EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			s := startSim(t, 3)
			m := addrs(s)
			p := run(t, Config{Masters: m, Refresh: time.Hour, Timeout: 2 * time.Second})
			p.next(t)

			tc.rule.Target, tc.rule.Path = "mesos", "/master/state"
			if err := s.Faults.Add(tc.rule); err != nil {
				t.Fatal(err)
			}
			p.Trigger()
			h := p.healthUntil(t, "a failure", func(h Health) bool { return h.ConsecutiveFailures == 1 })
			if !strings.Contains(h.LastError.Error(), tc.want) {
				t.Errorf("LastError %v, want it to mention %q", h.LastError, tc.want)
			}
			if tc.name == "latency" && !errors.Is(h.LastError, context.DeadlineExceeded) {
				t.Errorf("LastError %v is not a DeadlineExceeded", h.LastError)
			}
			p.noUpdate(t)

			s.Faults.Clear()
			p.Trigger()
			if u := p.next(t); u.Leader != m[0] {
				t.Errorf("after recovery: Leader %q", u.Leader)
			}
			if h := p.Health(); h.ConsecutiveFailures != 0 || h.LastError != nil {
				t.Errorf("after recovery: health %+v", h)
			}
		})
	}
}

// TestRefreshTimer polls again on its own, without Trigger.
func TestRefreshTimer(t *testing.T) {
	leakCheck(t)
	s := startSim(t, 1)
	p := run(t, Config{Masters: addrs(s), Refresh: 10 * time.Millisecond, Timeout: 10 * time.Second})
	a, b := p.next(t), p.next(t)
	if b.Fetched.Before(a.Fetched) {
		t.Errorf("second Update fetched %v before the first %v", b.Fetched, a.Fetched)
	}
}

// TestTriggerCoalesces: a burst of triggers while a fetch is under way (or
// its Update is waiting for the consumer) makes exactly one more fetch.
func TestTriggerCoalesces(t *testing.T) {
	leakCheck(t)
	s := startSim(t, 3)
	m := addrs(s)
	rec := newRecorder(t)
	p := run(t, Config{Masters: m, Refresh: time.Hour, Timeout: 10 * time.Second,
		Client: &http.Client{Transport: rec}})

	// Once the first attempt has started, nothing reads out, so Run is busy
	// with it until p.next below.
	p.healthUntil(t, "the first attempt", func(h Health) bool { return !h.LastAttempt.IsZero() })
	for range 100 {
		p.Trigger()
	}
	p.next(t)
	p.next(t)
	p.noUpdate(t)
	if got := rec.take(); len(got) != 2 {
		t.Errorf("%d requests (%v), want 2: the first poll and one for the whole burst", len(got), got)
	}

	p.Trigger()
	p.next(t)
}

// TestCancelStopsRun: cancelling ctx ends Run promptly wherever it is — in a
// request to a stalled master, or waiting to hand over an Update — and
// leaves no goroutine behind.
func TestCancelStopsRun(t *testing.T) {
	t.Run("during a request", func(t *testing.T) {
		s := startSim(t, 3)
		if err := s.Faults.Add(faults.Rule{Target: "mesos", Path: "/master/state", LatencyMS: 600_000}); err != nil {
			t.Fatal(err)
		}
		leakCheck(t)
		p := run(t, Config{Masters: addrs(s), Timeout: time.Hour})
		p.healthUntil(t, "the first attempt", func(h Health) bool { return !h.LastAttempt.IsZero() })
		p.stop(t)
		if h := p.Health(); h.ConsecutiveFailures != 0 || h.LastError != nil {
			t.Errorf("cancelling counted as a failure: %+v", h)
		}
	})
	t.Run("while handing over", func(t *testing.T) {
		s := startSim(t, 3)
		leakCheck(t)
		p := run(t, Config{Masters: addrs(s), Timeout: time.Hour})
		p.healthUntil(t, "a success", func(h Health) bool { return !h.LastSuccess.IsZero() })
		p.stop(t)
	})
	t.Run("while waiting", func(t *testing.T) {
		s := startSim(t, 3)
		leakCheck(t)
		p := run(t, Config{Masters: addrs(s), Timeout: time.Hour})
		p.next(t)
		p.stop(t)
	})
}

// TestRunTwice: a second concurrent Run is refused rather than racing the
// first over the presumed leader.
func TestRunTwice(t *testing.T) {
	leakCheck(t)
	s := startSim(t, 1)
	p := run(t, Config{Masters: addrs(s), Refresh: time.Hour})
	p.next(t)
	if err := p.Run(context.Background(), make(chan Update)); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run: %v", err)
	}
}

// TestOldMasterNamesLeaderOnItsOwnPort: a Mesos <1.0 non-leader answers 200
// and names the leader. Mesos-DNS would ask the leader's IP on the
// non-leader's port; Signpost asks the leader's own address.
func TestOldMasterNamesLeaderOnItsOwnPort(t *testing.T) {
	leakCheck(t)
	s := startSim(t, 3)
	m := addrs(s)
	old := oldNonLeader(t, "master@"+m[2])
	setLeader(t, s, 2)
	rec := newRecorder(t)
	p := run(t, Config{Masters: []string{old, m[0]}, Refresh: time.Hour, Timeout: 10 * time.Second,
		Client: &http.Client{Transport: rec}})

	u := p.next(t)
	if u.Leader != m[2] || u.State.PID != "master@"+m[2] || len(u.State.Agents) == 0 {
		t.Errorf("Leader %q, state pid %q with %d agents; want the leader's state from %s", u.Leader, u.State.PID, len(u.State.Agents), m[2])
	}
	if got, want := rec.take(), []string{old, m[2]}; !slices.Equal(got, want) {
		t.Errorf("asked %v, want %v", got, want)
	}
	if want := []string{m[2], old, m[0]}; !slices.Equal(u.Masters, want) {
		t.Errorf("Masters %v, want %v", u.Masters, want)
	}
}

// TestLeaderByHostname: a leader UPID with a hostname is resolved by
// net/http (Mesos-DNS panics on it).
func TestLeaderByHostname(t *testing.T) {
	if ips, err := net.LookupHost("localhost"); err != nil || !slices.Contains(ips, "127.0.0.1") {
		t.Skipf("localhost does not resolve to 127.0.0.1 here: %v %v", ips, err)
	}
	leakCheck(t)
	s := startSim(t, 1)
	_, port, _ := net.SplitHostPort(addrs(s)[0])
	old := oldNonLeader(t, "master@localhost:"+port)
	p := run(t, Config{Masters: []string{old}, Refresh: time.Hour, Timeout: 10 * time.Second})
	u := p.next(t)
	if u.Leader != "localhost:"+port || u.State.PID != "master@"+addrs(s)[0] {
		t.Errorf("Leader %q, state pid %q", u.Leader, u.State.PID)
	}
}

// TestUnreachableLeaderFailsOver: when the leader an old master names cannot
// be reached, the poller goes on to the next master instead of using the
// non-leader's empty state; with no other master the attempt fails.
func TestUnreachableLeaderFailsOver(t *testing.T) {
	leakCheck(t)
	dead := closedAddr(t)
	s := startSim(t, 1)
	old := oldNonLeader(t, "master@"+dead)

	p := run(t, Config{Masters: []string{old, addrs(s)[0]}, Refresh: time.Hour, Timeout: 10 * time.Second})
	if u := p.next(t); u.Leader != addrs(s)[0] {
		t.Errorf("Leader %q, want the next master %s", u.Leader, addrs(s)[0])
	}
	if h := p.Health(); h.LastError != nil {
		t.Errorf("health %+v", h)
	}
	p.stop(t)

	q := run(t, Config{Masters: []string{old}, Refresh: time.Hour, Timeout: 10 * time.Second})
	h := q.healthUntil(t, "a failure", func(h Health) bool { return h.ConsecutiveFailures == 1 })
	if msg := h.LastError.Error(); !strings.Contains(msg, dead+": leader named by "+old) {
		t.Errorf("LastError %q does not say the leader %s named by %s failed", msg, dead, old)
	}
	q.noUpdate(t)
}

// TestEmptyLeader: a state whose "leader" is empty is not the cluster's.
func TestEmptyLeader(t *testing.T) {
	leakCheck(t)
	old := oldNonLeader(t, "")
	p := run(t, Config{Masters: []string{old}, Refresh: time.Hour, Timeout: 10 * time.Second})
	h := p.healthUntil(t, "a failure", func(h Health) bool { return h.ConsecutiveFailures == 1 })
	if !errors.Is(h.LastError, ErrNoLeader) {
		t.Errorf("LastError %v is not ErrNoLeader", h.LastError)
	}
	p.noUpdate(t)
}

// TestBodyLimit: a state larger than MaxBodyBytes is refused with an error
// that says which limit.
func TestBodyLimit(t *testing.T) {
	leakCheck(t)
	s := startSim(t, 1)
	p := run(t, Config{Masters: addrs(s), Refresh: time.Hour, Timeout: 10 * time.Second, MaxBodyBytes: 100})
	h := p.healthUntil(t, "a failure", func(h Health) bool { return h.ConsecutiveFailures == 1 })
	if !strings.Contains(h.LastError.Error(), "MaxBodyBytes") {
		t.Errorf("LastError %v does not name MaxBodyBytes", h.LastError)
	}
}

// TestRedirectLoop: a master that keeps redirecting is given up on.
func TestRedirectLoop(t *testing.T) {
	leakCheck(t)
	loop := fakeMaster(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", r.URL.Path)
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
	p := run(t, Config{Masters: []string{loop}, Refresh: time.Hour, Timeout: 10 * time.Second})
	h := p.healthUntil(t, "a failure", func(h Health) bool { return h.ConsecutiveFailures == 1 })
	if !strings.Contains(h.LastError.Error(), "stopped after 3 redirects") {
		t.Errorf("LastError %v", h.LastError)
	}
}

// TestHTTPSHeadersAndAuth: over HTTPS with the caller's client, a
// protocol-relative redirect stays on https, and the leader gets the
// User-Agent and the credentials even though it is another host:port.
func TestHTTPSHeadersAndAuth(t *testing.T) {
	leakCheck(t)
	type seen struct{ ua, user, pass string }
	got := make(chan seen, 1)
	leader := httptest.NewUnstartedServer(nil)
	leaderAddr := leader.Listener.Addr().String()
	leader.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		select {
		case got <- seen{r.UserAgent(), u, p}:
		default:
		}
		w.Write([]byte(`{"pid":"master@` + leaderAddr + `","leader":"master@` + leaderAddr + `","slaves":[],"frameworks":[]}`))
	})
	leader.StartTLS()
	t.Cleanup(leader.Close)
	follower := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "//"+leaderAddr+r.URL.RequestURI())
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	t.Cleanup(follower.Close)
	client := follower.Client() // trusts httptest's certificate, which both use
	t.Cleanup(client.CloseIdleConnections)

	p := run(t, Config{
		Masters: []string{strings.TrimPrefix(follower.URL, "https://")}, Refresh: time.Hour, Timeout: 10 * time.Second,
		HTTPS: true, Client: client, BasicAuth: &struct{ User, Password string }{"principal", "secret"},
	})
	if u := p.next(t); u.Leader != leaderAddr {
		t.Errorf("Leader %q, want %s", u.Leader, leaderAddr)
	}
	if s := <-got; s != (seen{UserAgent, "principal", "secret"}) {
		t.Errorf("leader saw %+v", s)
	}
	if client.CheckRedirect != nil {
		t.Error("New changed the caller's Client")
	}
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestGoroutinesAfterRun is the plain case of the leak check: a Poller that
// ran and stopped leaves the goroutine count where it was.
func TestGoroutinesAfterRun(t *testing.T) {
	s := startSim(t, 3)
	check := leakcheck.Check(t)
	p := run(t, Config{Masters: addrs(s), Refresh: time.Hour})
	p.next(t)
	p.stop(t)
	check()
}

// TestSkippedPassedOn: entries the decoder leaves out are reported in the
// Update, and the rest of the state is used.
func TestSkippedPassedOn(t *testing.T) {
	leakCheck(t)
	srv := httptest.NewUnstartedServer(nil)
	self := srv.Listener.Addr().String()
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"pid":"master@` + self + `","leader":"master@` + self + `",` +
			`"slaves":[{"hostname":"no-id"},{"id":"S1","pid":"slave(1)@10.0.0.2:5051"}],"frameworks":[]}`))
	})
	srv.Start()
	t.Cleanup(srv.Close)
	p := run(t, Config{Masters: []string{self}, Refresh: time.Hour, Timeout: 10 * time.Second})
	u := p.next(t)
	if len(u.Skipped) != 1 || len(u.State.Agents) != 1 || u.State.Agents[0].ID != "S1" {
		t.Errorf("skipped %v, agents %+v", u.Skipped, u.State.Agents)
	}
}

// TestBodyBufferReusedAndYield: successive states of different sizes, with
// and without a Content-Length, all arrive whole although one buffer is
// reused for them, and Config.Yield is called while they are read and
// decoded.
func TestBodyBufferReusedAndYield(t *testing.T) {
	leakCheck(t)
	state := func(tasks int, name string) []byte {
		st := &cluster.MesosState{Leader: "master@127.0.0.1:5050", PID: "master@127.0.0.1:5050",
			Frameworks: []cluster.Framework{{ID: "fw", Name: "marathon", Active: true}}}
		for i := range tasks {
			st.Frameworks[0].Tasks = append(st.Frameworks[0].Tasks, cluster.Task{
				ID: fmt.Sprintf("%s.%d", name, i), Name: name, FrameworkID: "fw", AgentID: "a", State: "TASK_RUNNING"})
		}
		b, err := mesosstate.Encode(st)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	docs := []struct {
		body    []byte
		name    string
		tasks   int
		chunked bool
	}{
		{state(2000, "big"), "big", 2000, false},
		{state(10, "small"), "small", 10, true},
		{state(3000, "bigger"), "bigger", 3000, true},
		{state(5, "tiny"), "tiny", 5, false},
	}
	var served atomic.Int32
	addr := fakeMaster(t, func(w http.ResponseWriter, r *http.Request) {
		d := docs[min(int(served.Add(1))-1, len(docs)-1)]
		if !d.chunked {
			w.Header().Set("Content-Length", strconv.Itoa(len(d.body)))
		}
		for b := d.body; len(b) > 0; {
			n := min(len(b), 64<<10)
			w.Write(b[:n])
			if f, ok := w.(http.Flusher); ok && d.chunked {
				f.Flush()
			}
			b = b[n:]
		}
	})
	var yields atomic.Int64
	p := run(t, Config{Masters: []string{addr}, Refresh: time.Millisecond, Timeout: 10 * time.Second,
		Yield: func() { yields.Add(1) }})
	for i, d := range docs {
		u := p.next(t)
		tasks := u.State.Frameworks[0].Tasks
		if len(tasks) != d.tasks || tasks[0].Name != d.name || tasks[len(tasks)-1].ID != fmt.Sprintf("%s.%d", d.name, d.tasks-1) {
			t.Fatalf("state %d: %d tasks named %q, want %d named %q", i, len(tasks), tasks[0].Name, d.tasks, d.name)
		}
	}
	// 5,015 tasks decoded at one Yield per 16, plus the reads.
	if n := yields.Load(); n < 5015/16 {
		t.Errorf("Yield called %d times, want at least %d", n, 5015/16)
	}
}
