// Package marathon is the source of Marathon apps for `signpost lb`: it
// follows Marathon the way Marathon-LB's --sse mode does — a full
// GET /v2/apps?embed=apps.tasks whenever the event bus says something
// changed — and hands each result on as a whole snapshot.
//
// It is built like a Prometheus discovery provider: one source behind one
// small interface (Run sends Updates on a channel; Status says how following
// is going; Refetch asks for a snapshot now), emitting complete snapshots
// rather than deltas. The load balancer never learns where apps came from,
// and a reconnect, a leader change or a lost event needs no special handling
// downstream: the next snapshot replaces the last.
//
// # Lifecycle
//
// Run opens the event stream, GET /v2/events?plan-format=light&event_type=…
// with Accept: text/event-stream, and then fetches the apps (Reason
// "initial"): fetching after subscribing means no change can fall between
// the two. (If the stream cannot be opened at once, the apps are fetched
// anyway, so a load balancer gets its backends even while the event bus is
// broken.) From then on a full refetch follows
//
//   - every relevant event, coalesced: the first event of a burst waits
//     Config.Coalesce for the rest, and events arriving during a fetch cause
//     exactly one more (Reason "event: <eventType>"), as Marathon-LB's
//     pending_reset flag does;
//   - every reconnection of the stream (Reason "reconnect"), because
//     Marathon has no event replay: what happened while disconnected is only
//     in /v2/apps;
//   - Config.Resync without any other fetch (Reason "periodic"), which bounds
//     the damage of an event lost in Marathon itself;
//   - Refetch, for SIGHUP and /_mlb_signal/hup (Reason "signal").
//
// Events that describe their whole change — a task's status, a health
// verdict, a new app definition, a deleted app — are also applied to the last
// snapshot at once and sent as an Update of their own (Reason
// ReasonAppliedPrefix…), so that a route follows a task in well under a fetch
// of the whole cluster. A confirming refetch follows once the events pause for
// five seconds (at most thirty after the first) and corrects anything an
// event did not say (see patch.go); like the periodic
// resync, it is passed on only when it changes something a route depends on,
// so a busy cluster does not cost a rebuild per fetch.
//
// A failed fetch is retried with backoff until one succeeds, under the
// same Reason. Nothing is sent while Marathon is away: the consumer keeps
// its last snapshot. An empty snapshot is sent only when Marathon itself
// answers that there are no apps.
//
// # Marathon URLs and leaders
//
// Config.URLs are tried in order, starting with the one that last worked
// (shared by fetches and the stream); a round over all of them that fails
// is followed by a jittered exponential backoff. Any Marathon instance will
// do: a standby proxies REST requests to the leader, and redirects
// /v2/events to it (302, Marathon ≥1.7). Redirects are followed (at most
// MaxRedirects, never from https to http), with authentication re-sent, as
// Marathon-LB does. Update.From and Status.URL give the base URL that
// actually answered, after redirects.
//
// # The event stream
//
// Events are read with wire/sse and decoded with wire/marathon, so that a
// malformed event is detected, logged and counted (Status.MalformedEvents)
// instead of acted on blindly. It still triggers a refetch: its event type
// said something relevant happened, and a refetch is the safe answer. A
// malformed event never ends the stream; only the stream's framing can
// (an over-long line), and then the stream is reopened.
//
// A stream silent for Config.IdleTimeout — not even Jetty's CRLF heartbeat,
// sent every 10 s — is taken for dead and reopened. This catches half-open
// connections to a leader that vanished, which TCP alone notices only after
// many minutes.
//
// # Differences from Marathon-LB, on purpose
//
//   - More event types by default (see DefaultEventTypes).
//   - TLS is verified unless Config.InsecureSkipVerify is set; Marathon-LB
//     verifies only when given --marathon-ca-cert.
//   - A failed fetch is retried with backoff; Marathon-LB waits for the next
//     event or the five-minute resync.
//   - A dead stream is detected after 30 s of silence, not 300 s.
//   - Every reconnection round tries all URLs, the last good one first;
//     Marathon-LB's stream tries one URL per attempt, round-robin.
//   - Backoff is 1 s doubling to 30 s with half-jitter; Marathon-LB's is
//     3 s ×1.5 to 300 s with full jitter.
//   - Passwords may contain colons (ParseCredentials).
package marathon

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signpost-dns/signpost/internal/cluster"
	wire "github.com/signpost-dns/signpost/internal/wire/marathon"
)

// Reasons an Update was fetched. An event-triggered fetch has
// ReasonEventPrefix followed by the type of the event that started the
// burst ("event: status_update_event").
const (
	ReasonInitial     = "initial"
	ReasonReconnect   = "reconnect"
	ReasonSignal      = "signal"
	ReasonPeriodic    = "periodic"
	ReasonEventPrefix = "event: "
	// ReasonAppliedPrefix marks a snapshot made by applying events to the
	// last one without a fetch ("applied: status_update_event"); see
	// patch.go for which events and why that is safe.
	ReasonAppliedPrefix = "applied: "
)

// Update is one snapshot of Marathon's apps.
type Update struct {
	// State is every app with its tasks. It is never nil, and never
	// modified after being sent.
	State *cluster.MarathonState
	// From is the base URL that answered, after redirects (the leader, or
	// the standby that proxied to it).
	From string
	// Fetched is when the document arrived (Config.Now).
	Fetched time.Time
	// Reason is why it was fetched: ReasonInitial, ReasonReconnect,
	// ReasonSignal, ReasonPeriodic or ReasonEventPrefix+eventType, or
	// ReasonAppliedPrefix+eventType when events were applied to the last
	// snapshot without a fetch
	// ("event: malformed" for an undecodable event without a type). When
	// several causes fell into one fetch, the most telling one is given:
	// initial, then reconnect, then signal, then the first event.
	Reason string
	// Skipped lists apps and tasks the decoder left out because they were
	// malformed (see wire/marathon.DecodeApps); the rest is still good.
	Skipped []error
}

// Status is how following goes, for metrics and health checks.
type Status struct {
	// Connected is whether the event stream is open.
	Connected bool
	// URL is the base URL of the open stream, after redirects; when none is
	// open, of the last one.
	URL string
	// LastEvent is when the last event arrived (of any type; heartbeats do
	// not count). Zero: none yet.
	LastEvent time.Time
	// LastFetch is when the last good /v2/apps document arrived.
	LastFetch time.Time
	// LastError is the latest failure of a fetch or of the stream, and
	// LastErrorAt when it happened. Later successes do not clear it: compare
	// with LastFetch and Connected.
	LastError   error
	LastErrorAt time.Time
	// Reconnects counts the times the stream was lost, went idle or could
	// not be opened on any URL; each is followed by a backoff and a new
	// round.
	Reconnects uint64
	// Events counts relevant events received, malformed ones included.
	Events uint64
	// MalformedEvents counts events that did not decode.
	MalformedEvents uint64
	// AppliedEvents counts events applied to the last snapshot without a
	// fetch (a confirming refetch still follows them).
	AppliedEvents uint64
	// Fetches counts good /v2/apps documents (one per Update), FetchErrors
	// rounds of fetching in which no URL gave one.
	Fetches     uint64
	FetchErrors uint64
}

// Follower follows Marathon. Create it with New. Its methods are safe for
// concurrent use, but only one Run may be active at a time.
type Follower struct {
	cfg        Config
	client     *http.Client
	transport  *http.Transport // ours, closed at the end of Run; nil if the caller's
	eventsPath string          // "/v2/events?plan-format=light&event_type=…"
	relevant   map[string]bool

	running atomic.Bool

	randMu sync.Mutex

	// wake tells the fetch loop that pending changed.
	wake    chan struct{}
	pmu     sync.Mutex
	pending pendingFetch
	// patches are the events to apply to the next snapshot, oldest first:
	// those not yet applied to the last one, and those that arrived during
	// a fetch (replayed on its result).
	patches []wire.Event
	// taken are the events queued when the fetch in flight started.
	taken []wire.Event
	// firstPatch is when the oldest queued event arrived.
	firstPatch time.Time

	mu        sync.Mutex
	status    Status
	preferred int // index of the URL to try first
}

// pendingFetch is a requested fetch that has not started yet.
type pendingFetch struct {
	set    bool
	reason string
	due    time.Time
	// confirmOnly is set while only confirm has asked for this fetch, and
	// first is when it first did (see maxConfirmDelay).
	confirmOnly bool
	first       time.Time
}

// New checks cfg and returns a Follower. An error names the field at fault.
func New(cfg Config) (*Follower, error) {
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("marathon source: %w", err)
	}
	f := &Follower{cfg: cfg, wake: make(chan struct{}, 1), relevant: make(map[string]bool)}
	// Marathon-LB's exact query, plan-format first, so that a proxy rule
	// written for Marathon-LB's requests matches Signpost's too.
	var q strings.Builder
	q.WriteString("/v2/events?plan-format=light")
	for _, t := range cfg.EventTypes {
		q.WriteString("&event_type=")
		q.WriteString(url.QueryEscape(t))
		f.relevant[t] = true
	}
	f.eventsPath = q.String()

	rt := cfg.Transport
	if rt == nil {
		tc, err := cfg.tlsConfig()
		if err != nil {
			return nil, fmt.Errorf("marathon source: %w", err)
		}
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = tc
		t.DialContext = (&net.Dialer{Timeout: min(dialTimeout, cfg.Timeout), KeepAlive: 30 * time.Second}).DialContext
		f.transport = t
		rt = t
	}
	f.client = &http.Client{Transport: rt, CheckRedirect: f.checkRedirect}
	if cfg.Rand == nil {
		f.cfg.Rand = rand.Float64
	}
	return f, nil
}

// Run follows Marathon and sends an Update on out for every snapshot, until
// ctx ends; then it returns ctx.Err(), with every goroutine it started gone.
// Sending blocks: while the consumer is busy, further changes are coalesced
// into the next fetch. Run never closes out.
func (f *Follower) Run(ctx context.Context, out chan<- Update) error {
	if !f.running.CompareAndSwap(false, true) {
		return errors.New("marathon source: Run is already running")
	}
	defer f.running.Store(false)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	first := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		f.follow(runCtx, first)
	}()
	f.fetchLoop(runCtx, out, first)
	cancel()
	wg.Wait()
	if f.transport != nil {
		f.transport.CloseIdleConnections()
	}
	f.mu.Lock()
	f.status.Connected = false
	f.mu.Unlock()
	return ctx.Err()
}

// Refetch asks for a full refetch now (Reason "signal"), as SIGHUP does to
// Marathon-LB. It does not wait. Asked while Run is not running, the fetch
// happens when it starts.
func (f *Follower) Refetch() { f.request(ReasonSignal, 0) }

// Status returns a copy of the current status.
func (f *Follower) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

// priority orders the reasons of fetches merged into one; see Update.Reason.
func priority(reason string) int {
	switch reason {
	case ReasonInitial:
		return 4
	case ReasonReconnect:
		return 3
	case ReasonSignal:
		return 2
	case ReasonPeriodic:
		return 0
	}
	return 1 // an event
}

// request asks for a fetch after delay at the latest. A request merges with
// one already pending: the earlier time and the more telling reason win.
// This is what coalesces a burst of events into one fetch. It never blocks,
// so the stream reader can call it for every event.
func (f *Follower) request(reason string, delay time.Duration) {
	due := time.Now().Add(delay)
	f.pmu.Lock()
	p := &f.pending
	if !p.set {
		*p = pendingFetch{set: true, reason: reason, due: due}
	} else {
		if due.Before(p.due) {
			p.due = due
		}
		if priority(reason) > priority(p.reason) {
			p.reason = reason
		}
		p.confirmOnly = false
	}
	f.pmu.Unlock()
	f.poke()
}

// poke tells the fetch loop that pending changed; it never blocks.
func (f *Follower) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// takeDue removes the pending fetch if it is due. Otherwise it reports when
// it will be (ok false, pending true), or that there is none.
func (f *Follower) takeDue(now time.Time) (reason string, due time.Time, ok, pending bool) {
	f.pmu.Lock()
	defer f.pmu.Unlock()
	p := f.pending
	if !p.set {
		return "", time.Time{}, false, false
	}
	if now.Before(p.due) {
		return p.reason, p.due, false, true
	}
	f.pending = pendingFetch{}
	// The fetch about to start answers for every event queued so far: they
	// must not be replayed on its answer (an old event replayed on a newer
	// state would undo what it corrects). Events arriving from now on ask
	// for another fetch, so replaying them is always followed by one.
	f.taken = f.patches
	f.patches = nil
	return p.reason, p.due, true, true
}

// untake puts the events of a failed fetch back in front of the queue, to
// be applied to the last snapshot meanwhile.
func (f *Follower) untake() {
	f.pmu.Lock()
	f.patches = append(f.taken, f.patches...)
	f.taken = nil
	f.pmu.Unlock()
}

// fetchLoop runs the fetches, one at a time, and sends their Updates. It
// waits for the stream's first connection round, so that the initial fetch
// starts after the subscription.
func (f *Follower) fetchLoop(ctx context.Context, out chan<- Update, first <-chan struct{}) {
	select {
	case <-first:
	case <-ctx.Done():
		return
	}
	f.request(ReasonInitial, 0)
	retry := f.newBackoff()
	nextResync := time.Now().Add(f.cfg.Resync)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var last Update // the last snapshot sent; State nil before the first
	send := func(up Update) bool {
		select {
		case out <- up:
			last = up
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		if last.State != nil {
			// Let a burst arrive before applying it: one Marathon API
			// call is several events within a millisecond or two
			// (api_post_event, then a status update per task), and each
			// Update costs the consumer a rebuild.
			if wait := f.patchSettle(time.Now()); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return
				}
			}
			up, visible := f.applyPatches(last)
			switch {
			case visible:
				if !send(up) {
					return
				}
			case up.State != last.State:
				// Only changes no route depends on: keep them (for the
				// next comparison) without costing a rebuild.
				last = up
			}
		}
		now := time.Now()
		reason, due, ok, pending := f.takeDue(now)
		if ok {
			up, err := f.fetch(ctx)
			if ctx.Err() != nil {
				return
			}
			nextResync = time.Now().Add(f.cfg.Resync)
			if err != nil {
				f.untake()
				wait := retry.next()
				f.cfg.Logger.Warn("fetching Marathon apps failed; keeping the last state",
					"reason", reason, "retry_in", wait.Round(time.Millisecond), "err", err)
				f.request(reason, wait)
				continue
			}
			retry.reset()
			up.Reason = reason
			f.cfg.Logger.Debug("Marathon apps fetched", "reason", reason, "from", up.From,
				"apps", len(up.State.Apps), "skipped", len(up.Skipped))
			// Events that arrived during the fetch may be newer than
			// its answer: replay them on it.
			if replayed, _ := f.applyPatches(up); replayed.State != up.State {
				replayed.Reason = reason
				up = replayed
			}
			if quiet(reason) && last.State != nil && len(up.Skipped) == 0 && len(last.Skipped) == 0 &&
				sameRouting(last.State, up.State) {
				// An event's or the resync's fetch that confirms what
				// the consumer has: spare it a rebuild. (Initial,
				// reconnect and signal fetches are always sent: someone
				// asked, or something may have been missed.)
				f.cfg.Logger.Debug("Marathon apps unchanged for routing", "reason", reason)
				continue
			}
			if !send(up) {
				return
			}
			continue
		}
		var wait time.Duration
		if pending {
			wait = due.Sub(now)
		} else {
			wait = nextResync.Sub(now)
			if wait <= 0 {
				f.request(ReasonPeriodic, 0)
				continue
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-f.wake:
		case <-timer.C:
		}
	}
}

// quiet reports whether a fetch for reason may go unsent when it changes
// nothing for routing.
func quiet(reason string) bool {
	return reason == ReasonPeriodic || strings.HasPrefix(reason, ReasonEventPrefix)
}

// confirmDelay and maxConfirmDelay time the fetch that follows events
// applied to the last snapshot: it waits until the events have paused for
// confirmDelay, but never longer than maxConfirmDelay after the first, so a
// busy cluster costs one fetch per half minute, not one per burst. That
// fetch corrects anything the events did not say (see patch.go) and is not
// sent on when it changes nothing for routing.
const (
	confirmDelay    = 5 * time.Second
	maxConfirmDelay = 30 * time.Second
)

// confirm asks for the fetch that confirms applied events. Unlike request,
// it moves a pending confirming fetch later (to confirmDelay from now, up to
// maxConfirmDelay after the first); any other pending fetch keeps its time.
func (f *Follower) confirm(reason string) {
	now := time.Now()
	f.pmu.Lock()
	p := &f.pending
	switch {
	case !p.set:
		*p = pendingFetch{set: true, reason: reason, due: now.Add(confirmDelay), confirmOnly: true, first: now}
	case p.confirmOnly:
		p.due = now.Add(confirmDelay)
		if last := p.first.Add(maxConfirmDelay); p.due.After(last) {
			p.due = last
		}
	}
	f.pmu.Unlock()
	f.poke()
}

// maxPatches bounds the events kept for replay while no fetch succeeds; past
// it they are dropped, which only delays their effect to the next fetch.
const maxPatches = 100_000

// patchSettleTime is how long the first event of a burst waits for the rest
// before the burst is applied.
const patchSettleTime = 3 * time.Millisecond

// addPatch queues an event that patch can apply.
func (f *Follower) addPatch(e wire.Event) {
	f.pmu.Lock()
	if len(f.patches) >= maxPatches {
		f.patches = nil
	}
	if len(f.patches) == 0 {
		f.firstPatch = time.Now()
	}
	f.patches = append(f.patches, e)
	f.pmu.Unlock()
}

// patchSettle is how much longer the queued events should wait for the
// rest of their burst (0: apply now).
func (f *Follower) patchSettle(now time.Time) time.Duration {
	f.pmu.Lock()
	defer f.pmu.Unlock()
	if len(f.patches) == 0 {
		return 0
	}
	return max(0, f.firstPatch.Add(patchSettleTime).Sub(now))
}

// applyPatches applies the queued events to up's state and reports whether
// that may change a route (a changed state with only hidden changes is
// returned with false). The queue is emptied either way.
func (f *Follower) applyPatches(up Update) (Update, bool) {
	f.pmu.Lock()
	evs := f.patches
	f.patches = nil
	f.pmu.Unlock()
	if len(evs) == 0 {
		return up, false
	}
	p := newPatcher(up.State)
	applied, first := 0, ""
	for _, e := range evs {
		if p.apply(e) {
			if applied == 0 {
				first = e.Type
			}
			applied++
			continue
		}
		// Only a fetch can tell what this event changed.
		f.request(ReasonEventPrefix+e.Type, f.cfg.Coalesce)
	}
	f.mu.Lock()
	f.status.AppliedEvents += uint64(applied)
	f.mu.Unlock()
	next := p.result()
	if next == up.State {
		return up, false
	}
	up.State = next
	up.Fetched = f.cfg.Now()
	up.Reason = ReasonAppliedPrefix + first
	return up, p.visible()
}

func (f *Follower) newBackoff() *backoff {
	return &backoff{min: f.cfg.BackoffMin, max: f.cfg.BackoffMax, rand: f.rand}
}

// rand serialises Config.Rand, which the two loops share.
func (f *Follower) rand() float64 {
	f.randMu.Lock()
	defer f.randMu.Unlock()
	return f.cfg.Rand()
}

// order lists the URL indexes to try, the last good one first.
func (f *Follower) order() []int {
	f.mu.Lock()
	p := f.preferred
	f.mu.Unlock()
	idx := make([]int, 0, len(f.cfg.URLs))
	idx = append(idx, p)
	for i := range f.cfg.URLs {
		if i != p {
			idx = append(idx, i)
		}
	}
	return idx
}

// worked remembers which URL answered, for the next round to try first.
func (f *Follower) worked(i int) {
	f.mu.Lock()
	f.preferred = i
	f.mu.Unlock()
}

// fail records a failure in Status.
func (f *Follower) fail(err error) {
	now := f.cfg.Now()
	f.mu.Lock()
	f.status.LastError = err
	f.status.LastErrorAt = now
	f.mu.Unlock()
}

// checkRedirect follows a standby's redirect to the leader: at most
// MaxRedirects, never from https to http (credentials would travel in
// clear), and with authentication re-sent. net/http drops Authorization
// when the host changes, but a Marathon redirect always leads to a fellow
// member of the cluster the credentials were given for.
func (f *Follower) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > MaxRedirects {
		return fmt.Errorf("stopped after %d redirects", MaxRedirects)
	}
	if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("refusing redirect from https to %s", req.URL.Redacted())
	}
	f.setAuth(req)
	return nil
}

func (f *Follower) setAuth(req *http.Request) {
	if f.cfg.Username != "" {
		req.SetBasicAuth(f.cfg.Username, f.cfg.Password)
	}
}

// baseOf is the base URL of a request made to base+suffix, after
// redirects: the final URL without suffix's path and without query. A
// redirect that changed the path beyond recognition gives scheme://host.
func baseOf(u *url.URL, suffixPath string) string {
	b := *u
	b.RawQuery, b.Fragment, b.RawPath = "", "", ""
	b.Path = strings.TrimSuffix(b.Path, suffixPath)
	if strings.HasSuffix(u.Path, suffixPath) {
		return strings.TrimRight(b.String(), "/")
	}
	b.Path = ""
	return b.String()
}
