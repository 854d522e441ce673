package healthcheck

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/routes"
	"github.com/signpost-dns/signpost/internal/testutil/leakcheck"
)

// TestHealthStateMachine pins HAProxy's semantics (check.c,
// set_server_check_status) result by result.
func TestHealthStateMachine(t *testing.T) {
	tests := []struct {
		name       string
		fall, rise int
		results    string // p = pass, f = fail
		wantUp     string // state after each result: U or D
		changes    string // T where a transition happened
	}{
		{"new server falls at its first failure", 3, 2, "f", "D", "T"},
		{"new server passing stays up", 3, 2, "pp", "UU", ".."},
		{"after one pass it takes fall failures", 3, 2, "pfff", "UUUD", "...T"},
		{"a pass resets the failure count", 3, 2, "pffpfff", "UUUUUUD", "......T"},
		{"down needs rise passes", 3, 2, "fpp", "DDU", "T.T"},
		{"a failure resets the pass count", 3, 2, "fpfpp", "DDDDU", "T...T"},
		{"rise 1, fall 1", 1, 1, "pfpfp", "UDUDU", ".TTTT"},
		{"back up is fully up, not fresh", 2, 1, "fpfp", "DUUU", "TT.."},
		{"fall 5 from fully up", 5, 2, "pfffff", "UUUUUD", ".....T"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHealth()
			for i, r := range tt.results {
				changed := h.record(r == 'p', tt.fall, tt.rise)
				up := "D"
				if h.up {
					up = "U"
				}
				if up != string(tt.wantUp[i]) {
					t.Fatalf("after %q: %s, want %c", tt.results[:i+1], up, tt.wantUp[i])
				}
				if changed != (tt.changes[i] == 'T') {
					t.Fatalf("after %q: changed=%v, want %v", tt.results[:i+1], changed, !changed)
				}
			}
		})
	}
}

func TestJitter(t *testing.T) {
	c := New(Options{Spread: 0.1, FirstCheck: 300 * time.Millisecond})
	const d = time.Second
	distinct := map[time.Duration]bool{}
	for range 1000 {
		j := c.jitter(d)
		if j < 900*time.Millisecond || j > 1100*time.Millisecond {
			t.Fatalf("jitter(1s) = %v, outside 1s ± 10%%", j)
		}
		distinct[j] = true
		if f := c.firstDelay(d); f < 0 || f >= 300*time.Millisecond {
			t.Fatalf("firstDelay = %v, outside [0, 300ms)", f)
		}
		if f := c.firstDelay(100 * time.Millisecond); f >= 100*time.Millisecond {
			t.Fatalf("firstDelay = %v, not capped at the interval", f)
		}
	}
	if len(distinct) < 100 {
		t.Errorf("only %d distinct intervals in 1000: not spread", len(distinct))
	}
	if got := New(Options{Spread: -1}).jitter(d); got != d {
		t.Errorf("Spread < 0: jitter(1s) = %v, want 1s", got)
	}
}

// TestFallAndRise drives a real server through failure and recovery and
// checks both the transitions and how many checks each one took.
func TestFallAndRise(t *testing.T) {
	for _, typ := range []routes.CheckType{routes.CheckHTTP, routes.CheckTCP} {
		t.Run(string(typ), func(t *testing.T) {
			leakcheck.Verify(t)
			s := startServer(t, answer, 200, nil)
			rec := &recorder{}
			c := New(Options{Logger: slog.New(rec), FirstCheck: -1})
			hc := &routes.HealthCheck{Type: typ, Path: "/ok", Interval: 20 * time.Millisecond, Timeout: 2 * time.Second, Fall: 3, Rise: 2}
			sv := srv("s", s.addr())
			if err := c.Apply(tableOf(backend("b", hc, sv))); err != nil {
				t.Fatal(err)
			}
			start(t, c)
			eventually(t, "passing checks", func() bool { st, _ := statsOf(c, "b", "s"); return st.Checks >= 3 })
			if !c.Up("b", &sv) {
				t.Fatal("server down while passing")
			}
			// Fail: the HTTP check by status, the TCP check by closing the
			// listener (nothing listens: refused).
			if typ == routes.CheckHTTP {
				s.status.Store(500)
			} else {
				s.close()
			}
			eventually(t, "DOWN", func() bool { return !c.Up("b", &sv) })
			// The state is published before the transition is logged.
			eventually(t, "DOWN logged", func() bool { return len(rec.transitions()) >= 1 })
			tr := rec.transitions()
			if len(tr) != 1 || tr[0].up || tr[0].backend != "b" || tr[0].server != "s" || !strings.Contains(tr[0].reason, "3 consecutive checks failed") {
				t.Fatalf("transitions %+v, want one DOWN after 3 failures", tr)
			}
			st, _ := statsOf(c, "b", "s")
			if st.Up || st.ConsecutiveFailures < 3 || st.Transitions != 1 || st.LastError == "" || st.LastCheck.IsZero() {
				t.Errorf("stats %+v", st)
			}
			if typ == routes.CheckHTTP && !strings.Contains(st.LastError, "HTTP status 500") {
				t.Errorf("last error %q, want the status", st.LastError)
			}
			if typ == routes.CheckTCP {
				return // the port is gone; recovery is the HTTP case's
			}
			s.status.Store(302)
			eventually(t, "UP", func() bool { return c.Up("b", &sv) })
			eventually(t, "UP logged", func() bool { return len(rec.transitions()) >= 2 })
			tr = rec.transitions()
			if len(tr) != 2 || !tr[1].up || !strings.Contains(tr[1].reason, "2 consecutive checks passed") {
				t.Fatalf("transitions %+v, want DOWN then UP after 2 passes", tr)
			}
			st, _ = statsOf(c, "b", "s")
			if !st.Up || st.Transitions != 2 || st.LastError != "" || st.ConsecutiveFailures != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestNewServerFallsAtFirstFailure: HAProxy's initial state. With fall 5 a
// dead new server is DOWN after one check, not five.
func TestNewServerFallsAtFirstFailure(t *testing.T) {
	leakcheck.Verify(t)
	rec := &recorder{}
	c := New(Options{Logger: slog.New(rec)})
	dead := srv("dead", refusingAddr(t))
	if err := c.Apply(tableOf(backend("b", tcpCheck(time.Hour, 5, 2), dead))); err != nil {
		t.Fatal(err)
	}
	if !c.Up("b", &dead) {
		t.Fatal("a new server is not up before its first check")
	}
	start(t, c) // the interval is an hour: only the first check can run
	eventually(t, "DOWN", func() bool { return !c.Up("b", &dead) })
	eventually(t, "DOWN logged", func() bool { return len(rec.transitions()) >= 1 })
	st, _ := statsOf(c, "b", "dead")
	if st.Checks != 1 {
		t.Errorf("%d checks, want 1", st.Checks)
	}
	tr := rec.transitions()
	if len(tr) != 1 || !strings.Contains(tr[0].reason, "first check failed") || !strings.Contains(tr[0].reason, "connection refused") {
		t.Errorf("transitions %+v, want one DOWN saying the first check was refused", tr)
	}
}

func TestCheckPort(t *testing.T) {
	leakcheck.Verify(t)
	healthy := startServer(t, answer, 200, nil)
	refused := refusingAddr(t)
	// a: traffic port refuses, check port answers → up.
	// b: traffic port answers, check port refuses → down.
	a := withCheckPort(srv("a", refused), healthy.addr().Port())
	b := withCheckPort(srv("b", healthy.addr()), refused.Port())
	c := New(Options{FirstCheck: -1})
	if err := c.Apply(tableOf(backend("be", httpCheck("/", 20*time.Millisecond, 1, 1), a, b))); err != nil {
		t.Fatal(err)
	}
	start(t, c)
	eventually(t, "b DOWN", func() bool { return !c.Up("be", &b) })
	eventually(t, "a checked", func() bool { st, _ := statsOf(c, "be", "a"); return st.Checks >= 2 })
	if !c.Up("be", &a) {
		t.Error("a is down: its check port was not used")
	}
	st, _ := statsOf(c, "be", "b")
	if st.Target.Port() != refused.Port() || st.Addr != healthy.addr() {
		t.Errorf("b: target %v addr %v", st.Target, st.Addr)
	}
}

func TestServersWithoutCheckAreUp(t *testing.T) {
	var nilChecker *Checker
	s := srv("x", refusingAddr(t))
	if !nilChecker.Up("b", &s) {
		t.Error("nil Checker: down")
	}
	c := New(Options{})
	if !c.Up("b", &s) {
		t.Error("before Apply: down")
	}
	if !c.Up("b", nil) {
		t.Error("nil server: down")
	}
	if err := c.Apply(tableOf(backend("b", nil, s))); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); len(st.Servers) != 0 || st.Probes != 0 {
		t.Errorf("backend without a check is checked: %+v", st)
	}
	if !c.Up("b", &s) {
		t.Error("backend without a check: down")
	}
}

func TestApplyReportsBadChecks(t *testing.T) {
	ok := startServer(t, answer, 200, nil)
	c := New(Options{})
	bad := backend("bad", &routes.HealthCheck{Type: "COMMAND"}, srv("x", ok.addr()))
	badPath := backend("badpath", &routes.HealthCheck{Type: routes.CheckHTTP, Path: "/a b"}, srv("y", ok.addr()))
	good := backend("good", tcpCheck(time.Second, 3, 2), srv("z", ok.addr()))
	err := c.Apply(tableOf(bad, badPath, good))
	if err == nil || !strings.Contains(err.Error(), "backend bad:") || !strings.Contains(err.Error(), "backend badpath:") {
		t.Fatalf("Apply error %v, want both bad backends named", err)
	}
	st := c.Stats()
	if len(st.Servers) != 1 || st.Servers[0].Backend != "good" {
		t.Errorf("checked %+v, want only the good backend", st.Servers)
	}
}

// TestApplyKeepsStateStopsRemoved: a server that stays keeps its DOWN state
// across tables; a removed server is no longer probed.
func TestApplyKeepsStateStopsRemoved(t *testing.T) {
	leakcheck.Verify(t)
	failing := startServer(t, answer, 503, nil)
	passing := startServer(t, answer, 200, nil)
	f, p := srv("f", failing.addr()), srv("p", passing.addr())
	hc := httpCheck("/", 20*time.Millisecond, 2, 2)
	c := New(Options{FirstCheck: -1})
	if err := c.Apply(tableOf(backend("b", hc, f, p))); err != nil {
		t.Fatal(err)
	}
	start(t, c)
	eventually(t, "f DOWN", func() bool { return !c.Up("b", &f) })

	// A new table (new objects, another server added, order changed): f is
	// still DOWN at once, with no new transition.
	other := startServer(t, answer, 200, nil)
	o := srv("o", other.addr())
	f2, p2 := f, p
	if err := c.Apply(tableOf(backend("b", httpCheck("/", 20*time.Millisecond, 2, 2), o, p2, f2))); err != nil {
		t.Fatal(err)
	}
	if c.Up("b", &f2) {
		t.Fatal("f came back UP on Apply: state lost")
	}
	if st, _ := statsOf(c, "b", "f"); st.Transitions != 1 {
		t.Errorf("f: %d transitions, want 1", st.Transitions)
	}
	eventually(t, "o checked", func() bool { st, _ := statsOf(c, "b", "o"); return st.Checks > 0 })

	// Remove p: its probe stops (at most a check already in flight ends).
	if err := c.Apply(tableOf(backend("b", hc, o, f2))); err != nil {
		t.Fatal(err)
	}
	if _, ok := statsOf(c, "b", "p"); ok {
		t.Error("removed server still in Stats")
	}
	removedAt := passing.accepted.Load()
	// Let the remaining servers be checked several more times: p must not.
	ost, _ := statsOf(c, "b", "o")
	eventually(t, "o checked again", func() bool { st, _ := statsOf(c, "b", "o"); return st.Checks >= ost.Checks+5 })
	if n := passing.accepted.Load(); n > removedAt+1 {
		t.Errorf("removed server probed %d more times", n-removedAt)
	}
	if !c.Up("b", &p2) {
		t.Error("a server not in the table is reported down")
	}

	// Back again: fresh state and probed again.
	if err := c.Apply(tableOf(backend("b", hc, o, f2, p2))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "p probed again", func() bool { return passing.accepted.Load() > removedAt+1 })
}

// TestSharedProbe: backends checking the same target the same way (a
// Marathon check with an explicit port applies to every port) share one
// probe; each still has its own row and Up answer.
func TestSharedProbe(t *testing.T) {
	leakcheck.Verify(t)
	chk := startServer(t, answer, 500, nil)
	x := withCheckPort(srv("x1", refusingAddr(t)), chk.addr().Port())
	y := withCheckPort(srv("y1", refusingAddr(t)), chk.addr().Port())
	c := New(Options{FirstCheck: -1})
	hc := httpCheck("/h", 20*time.Millisecond, 1, 1)
	if err := c.Apply(tableOf(backend("app_80", hc, x), backend("app_81", hc, y))); err != nil {
		t.Fatal(err)
	}
	start(t, c)
	eventually(t, "both DOWN", func() bool { return !c.Up("app_80", &x) && !c.Up("app_81", &y) })
	st := c.Stats()
	if st.Probes != 1 || len(st.Servers) != 2 {
		t.Fatalf("%d probes, %d rows; want 1 probe, 2 rows", st.Probes, len(st.Servers))
	}
	// Up is per backend: the same address under another backend name is
	// not checked.
	if !c.Up("other", &x) {
		t.Error("unknown backend: down")
	}
}

// TestConcurrencyBound: with servers that never answer, no more than
// MaxInFlight checks are open at once, and every server still gets its turn.
func TestConcurrencyBound(t *testing.T) {
	leakcheck.Verify(t)
	const servers, bound = 40, 4
	g := &serverGroup{}
	var rs []routes.Server
	var ts []*testServer
	for i := range servers {
		s := startServer(t, hang, 0, g)
		ts = append(ts, s)
		rs = append(rs, srv(string(rune('a'+i%26))+string(rune('0'+i/26)), s.addr()))
	}
	hc := &routes.HealthCheck{Type: routes.CheckHTTP, Path: "/", Interval: 10 * time.Millisecond, Timeout: 250 * time.Millisecond, Fall: 1, Rise: 1}
	c := New(Options{MaxInFlight: bound, FirstCheck: -1})
	if err := c.Apply(tableOf(backend("b", hc, rs...))); err != nil {
		t.Fatal(err)
	}
	start(t, c)
	eventually(t, "every server checked", func() bool {
		for _, s := range ts {
			if s.accepted.Load() == 0 {
				return false
			}
		}
		return true
	})
	eventually(t, "every server DOWN", func() bool {
		for i := range rs {
			if c.Up("b", &rs[i]) {
				return false
			}
		}
		return true
	})
	st := c.Stats()
	if st.PeakInFlight != bound {
		t.Errorf("peak in flight %d, want the bound %d (reached, never passed)", st.PeakInFlight, bound)
	}
	// The servers see a reset a moment after the checker frees the slot, so
	// their count may lag by a little; without a bound it would be 40.
	if p := g.peak.Load(); p > 2*bound {
		t.Errorf("servers saw %d checks open at once, bound %d", p, bound)
	}
	for _, s := range st.Servers {
		if !strings.Contains(s.LastError, "timeout") {
			t.Errorf("%s: last error %q, want a timeout", s.Server, s.LastError)
			break
		}
	}
}

// TestRunStops: Run returns when its context ends, with checks in flight
// cancelled and every goroutine gone; a second Run meanwhile is refused,
// and a later Run resumes.
func TestRunStops(t *testing.T) {
	leakcheck.Verify(t)
	var rs []routes.Server
	for i := range 8 {
		rs = append(rs, srv(string(rune('a'+i)), startServer(t, hang, 0, nil).addr()))
	}
	hc := &routes.HealthCheck{Type: routes.CheckHTTP, Path: "/", Interval: 10 * time.Millisecond, Timeout: time.Hour, Fall: 1, Rise: 1}
	c := New(Options{FirstCheck: -1})
	if err := c.Apply(tableOf(backend("b", hc, rs...))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	eventually(t, "checks in flight", func() bool { return c.Stats().InFlight == 8 })
	if err := c.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run: %v, want ErrRunning", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after its context ended (checks have an hour's timeout)")
	}
	st := c.Stats()
	if st.InFlight != 0 || st.Checks != 0 {
		t.Errorf("after Run: %d in flight, %d checks recorded; cancelled checks must not count", st.InFlight, st.Checks)
	}
	for i := range rs {
		if !c.Up("b", &rs[i]) {
			t.Errorf("%s marked down by a cancelled check", rs[i].Name)
		}
	}
	// Run again: the probes were kept and run again.
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { done <- c.Run(ctx2) }()
	eventually(t, "checks in flight again", func() bool { return c.Stats().InFlight == 8 })
	cancel2()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestApplyDuringRunIsRaceFree applies alternating tables while checks run
// (for the race detector) and ends with the last table's servers checked.
func TestApplyDuringRunIsRaceFree(t *testing.T) {
	leakcheck.Verify(t)
	a, b := startServer(t, answer, 200, nil), startServer(t, answer, 500, nil)
	sa, sb := srv("a", a.addr()), srv("b", b.addr())
	c := New(Options{FirstCheck: -1})
	start(t, c)
	hc := httpCheck("/", 5*time.Millisecond, 1, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			c.Up("x", &sa)
			c.Stats()
		}
	}()
	for i := range 100 {
		var tb *routes.Table
		switch i % 3 {
		case 0:
			tb = tableOf(backend("x", hc, sa, sb))
		case 1:
			tb = tableOf(backend("x", hc, sb))
		default:
			tb = nil
		}
		if err := c.Apply(tb); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	<-done
	if err := c.Apply(tableOf(backend("x", hc, sa, sb))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b DOWN", func() bool { return !c.Up("x", &sb) })
	eventually(t, "a checked", func() bool { st, _ := statsOf(c, "x", "a"); return st.Checks > 0 })
	if !c.Up("x", &sa) {
		t.Error("a down")
	}
}
