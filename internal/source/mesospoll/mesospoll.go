// Package mesospoll is the source of Mesos master state for `signpost dns`:
// it polls GET /master/state on a static list of masters, follows the leader,
// and hands each good state on as a whole snapshot.
//
// It is built like a Prometheus discovery provider: one source behind one
// small interface (Run sends Updates on a channel, Health says how polling is
// going), emitting complete snapshots rather than deltas. The record builders
// downstream therefore never learn where state came from or how it was
// fetched, and a restart, a leader change or a missed poll needs no special
// handling: the next snapshot simply replaces the last.
//
// # Lifecycle
//
// Run fetches at once, then again Refresh after each fetch ends, and whenever
// Trigger is called. A successful fetch sends an Update. A failed one sends
// nothing: it is logged, recorded in Health, and polling carries on. As in
// Mesos-DNS, consumers keep serving the last good state; unlike Mesos-DNS,
// Health gives them what they need to decide when that state is too old.
//
// # Finding the leader
//
// Masters are tried in order, starting with the one that last answered (at
// first Masters[0], which is presumed to lead, as in Mesos-DNS's static
// mode). A Mesos ≥1.0 non-leader answers 307 with a protocol-relative
// Location (//host:port/master/state); net/http follows it, at most
// MaxRedirects times. An older non-leader answers 200 with its own, nearly
// empty state whose "leader" field names the real leader; then the state is
// fetched again from that leader. A state whose "leader" is empty, or a 503
// (a Mesos ≥1.0 master that knows no leader), is a failure for that master,
// and the next one is tried.
//
// # Differences from Mesos-DNS, on purpose
//
//   - Leader's port: Mesos-DNS re-fetches from the leader's IP but with the
//     port of the master it first contacted, which breaks whenever masters
//     listen on different ports. Signpost uses the leader's own host:port
//     from "master@host:port".
//   - Status codes: Mesos-DNS parses the body whatever the status, so an
//     error page becomes a JSON error at best. Signpost treats anything but
//     200 as a failure and quotes the start of the body in the error.
//   - The leader's answer must come from the leader: Mesos-DNS uses the
//     re-fetched state unconditionally. Signpost uses it only if that state
//     says its producer leads; if the leader cannot be reached or does not
//     lead, it fails over to the remaining masters rather than using the
//     first, non-leader state, whose (empty) task list would wipe out every
//     record. If every master fails, the last good state stays.
//   - Hostnames: a master or leader given by name is resolved by net/http.
//     Mesos-DNS panics on a leader that is not an IP address.
//   - Redirects are capped at 3 (Mesos-DNS: Go's default 10); one hop is
//     all Mesos ever needs, and a loop fails fast.
//   - Bodies are capped (MaxBodyBytes, default 1 GiB) so that a broken or
//     hostile endpoint cannot exhaust memory.
//   - User-Agent is "Signpost"; connections are kept alive between polls
//     (Mesos-DNS disables keep-alive); no proxy is taken from the
//     environment (Mesos-DNS's transport has none either).
//   - TLS: Mesos-DNS skips verification when no CA file is given. Here the
//     default client verifies against the system roots; a caller that needs
//     a CA, a client certificate or IAM tokens passes its own Client.
//   - Update.Masters puts the leader first. Mesos-DNS in static mode keeps
//     the configured order for its master<N> names; a record builder that
//     wants that order has Config.Masters.
package mesospoll

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/source/httpfetch"
)

// Defaults, taken from Mesos-DNS where it has one.
const (
	// DefaultRefresh is Mesos-DNS's refreshSeconds default.
	DefaultRefresh = 60 * time.Second
	// DefaultTimeout is Mesos-DNS's stateTimeoutSeconds default.
	DefaultTimeout = 300 * time.Second
	// DefaultMaxBodyBytes bounds a state document. The largest real clusters
	// produce a few hundred MiB; more than this is a broken endpoint.
	DefaultMaxBodyBytes = 1 << 30
	// MaxRedirects is how many redirects one request follows. Mesos needs
	// one (non-leader to leader); a chain longer than this is a loop.
	MaxRedirects = 3
	// UserAgent identifies Signpost to the masters (and in their logs).
	UserAgent = "Signpost"
)

// StatePath is the endpoint polled. /master/state.json was removed in
// Mesos 1.7; /master/state exists in every Mesos since 0.25.
const StatePath = "/master/state"

// ErrNoLeader is wrapped by the failure of a master whose state has an
// empty "leader": it knows no leader (an election is under way, or quorum is
// lost), so its state is not the cluster's.
var ErrNoLeader = errors.New("no leader elected")

// Update is one good state, with where it came from.
type Update struct {
	// State is the leader's state. It is never modified after being sent.
	State *cluster.MesosState
	// Masters lists the masters, the leader first (as "host:port" from its
	// UPID), then the configured masters in order, without the leader.
	Masters []string
	// Leader is the "host:port" the state was actually fetched from, after
	// redirects; it is the address the next poll tries first. The leader's
	// own advertised identity is State.Leader.
	Leader string
	// Fetched is when the state arrived (Config.Now).
	Fetched time.Time
	// Skipped lists the agents, frameworks and tasks the decoder left out
	// because they were malformed (see mesosstate.Decode); they are not a
	// failure, but worth reporting.
	Skipped []error
}

// Config configures a Poller. Zero values take the defaults noted.
type Config struct {
	// Masters are the masters' "host:port" addresses, in order; the first
	// is presumed to lead. At least one is required.
	Masters []string
	// Refresh is the time from the end of one fetch to the start of the
	// next (0: DefaultRefresh).
	Refresh time.Duration
	// Timeout bounds one request, body included, like Mesos-DNS's
	// stateTimeoutSeconds (0: DefaultTimeout).
	Timeout time.Duration
	// HTTPS selects https:// URLs (Mesos-DNS's MesosHTTPSOn).
	HTTPS bool
	// Client, when set, carries the caller's TLS and authentication
	// set-up. It is copied, not changed: the copy gets this package's
	// redirect policy (CheckRedirect is replaced).
	Client *http.Client
	// BasicAuth, when set, is sent with every request, including redirected
	// ones (net/http drops Authorization on a redirect to another host, but
	// a Mesos redirect always goes to a fellow master).
	BasicAuth *struct{ User, Password string }
	// MaxBodyBytes bounds a state document (0: DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// Yield, when set, is called often while a fetch computes (reading the
	// body, decoding it: hundreds of milliseconds of CPU for a large
	// cluster). A DNS server that shares the process's only P passes its
	// Yield, so that its queries are answered in between.
	Yield func()
	// Logger receives failures and leader changes (nil: discarded).
	Logger *slog.Logger
	// Now is the clock for Health and Update.Fetched (nil: time.Now).
	Now func() time.Time
}

// Health is how polling is going. Consumers decide from it whether the last
// good state is still fit to serve.
type Health struct {
	// LastSuccess is when the last good state arrived (zero: never).
	LastSuccess time.Time
	// LastError is the latest attempt's failure, naming every master tried;
	// nil when the latest attempt succeeded (or none was made).
	LastError error
	// LastAttempt is when the latest attempt started (zero: none yet).
	LastAttempt time.Time
	// ConsecutiveFailures counts failed attempts since the last success.
	ConsecutiveFailures int
}

// Poller polls the masters. Create it with New; it is safe for concurrent
// use, but Run must not be called again while it runs.
type Poller struct {
	cfg       Config
	client    *http.Client
	transport *http.Transport // ours, to close at the end of Run; nil if the caller's
	scheme    string
	log       *slog.Logger

	trigger chan struct{}
	running atomic.Bool

	// presumed is the address to try first; only Run's goroutine uses it.
	presumed string
	// skipped is how many entries the last good state left out; only Run's
	// goroutine uses it.
	skipped int
	// body reads every state into one kept buffer (decoding copies what it
	// keeps); only Run's goroutine uses it.
	body httpfetch.BodyReader

	mu     sync.Mutex
	health Health
}

// New checks cfg and returns a Poller. An error names the field at fault.
func New(cfg Config) (*Poller, error) {
	if len(cfg.Masters) == 0 {
		return nil, errors.New("mesospoll: Masters: at least one master is required")
	}
	seen := make(map[string]int, len(cfg.Masters))
	for i, m := range cfg.Masters {
		if err := checkHostPort(m); err != nil {
			return nil, fmt.Errorf("mesospoll: Masters[%d] %q: %w", i, m, err)
		}
		if j, dup := seen[m]; dup {
			return nil, fmt.Errorf("mesospoll: Masters[%d] %q: repeats Masters[%d]", i, m, j)
		}
		seen[m] = i
	}
	switch {
	case cfg.Refresh < 0:
		return nil, fmt.Errorf("mesospoll: Refresh: %v is negative", cfg.Refresh)
	case cfg.Refresh == 0:
		cfg.Refresh = DefaultRefresh
	}
	switch {
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("mesospoll: Timeout: %v is negative", cfg.Timeout)
	case cfg.Timeout == 0:
		cfg.Timeout = DefaultTimeout
	}
	switch {
	case cfg.MaxBodyBytes < 0:
		return nil, fmt.Errorf("mesospoll: MaxBodyBytes: %d is negative", cfg.MaxBodyBytes)
	case cfg.MaxBodyBytes == 0:
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.BasicAuth != nil && cfg.BasicAuth.User == "" {
		return nil, errors.New("mesospoll: BasicAuth.User: empty (leave BasicAuth nil for no authentication)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Masters = append([]string(nil), cfg.Masters...)

	p := &Poller{
		cfg:      cfg,
		scheme:   "http",
		log:      cfg.Logger,
		trigger:  make(chan struct{}, 1),
		presumed: cfg.Masters[0],
		body:     httpfetch.BodyReader{Limit: cfg.MaxBodyBytes, Yield: cfg.Yield},
	}
	if cfg.HTTPS {
		p.scheme = "https"
	}
	if cfg.Client != nil {
		c := *cfg.Client
		p.client = &c
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil
		p.transport = t
		p.client = &http.Client{Transport: t}
	}
	p.client.CheckRedirect = p.checkRedirect
	return p, nil
}

// checkHostPort accepts what a dialer accepts: a non-empty host and a
// numeric port.
func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("not host:port: %w", err)
	}
	if host == "" {
		return errors.New("empty host")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not 1..65535", port)
	}
	return nil
}

// Trigger asks Run to fetch now. It never blocks; triggers that arrive
// before Run gets to them collapse into one fetch, so a burst of change
// notifications costs one request, not one each.
func (p *Poller) Trigger() {
	select {
	case p.trigger <- struct{}{}:
	default:
	}
}

// Health reports how polling is going.
func (p *Poller) Health() Health {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.health
}

// Run polls until ctx ends, sending each good state on out, and returns
// ctx.Err(). Failures do not stop it (see Health). A send on out waits for
// the consumer, or for ctx; meanwhile triggers collapse into one.
func (p *Poller) Run(ctx context.Context, out chan<- Update) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("mesospoll: Run is already running")
	}
	defer p.running.Store(false)
	if p.transport != nil {
		// Idle keep-alive connections each hold goroutines; they must not
		// outlive Run.
		defer p.transport.CloseIdleConnections()
	}
	// A trigger from before Run is served by the first fetch.
	select {
	case <-p.trigger:
	default:
	}
	timer := time.NewTimer(p.cfg.Refresh)
	defer timer.Stop()
	for {
		u, err := p.poll(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			select {
			case out <- u:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		// The period runs from the end of a fetch (and of its hand-over), so
		// that a slow master or consumer does not cause back-to-back fetches.
		timer.Reset(p.cfg.Refresh)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		case <-p.trigger:
		}
	}
}

// poll makes one attempt and records its outcome in Health.
func (p *Poller) poll(ctx context.Context) (Update, error) {
	start := p.cfg.Now()
	p.mu.Lock()
	p.health.LastAttempt = start
	p.mu.Unlock()

	res, err := p.fetch(ctx)
	if ctx.Err() != nil {
		// Shutting down is not a failure of the masters.
		return Update{}, ctx.Err()
	}
	now := p.cfg.Now()
	if err != nil {
		p.mu.Lock()
		p.health.LastError = err
		p.health.ConsecutiveFailures++
		n := p.health.ConsecutiveFailures
		p.mu.Unlock()
		p.log.Warn("fetching Mesos state failed; keeping the last good state",
			"err", err, "consecutive_failures", n)
		return Update{}, err
	}

	p.mu.Lock()
	p.health.LastSuccess = now
	p.health.LastError = nil
	p.health.ConsecutiveFailures = 0
	p.mu.Unlock()

	if res.from != p.presumed {
		p.log.Info("following Mesos leader", "leader", res.from, "previous", p.presumed, "upid", res.state.Leader)
	}
	p.presumed = res.from
	// A malformed task stays malformed poll after poll: say so when the
	// count changes, not every Refresh. Update.Skipped has the details.
	if n := len(res.skipped); n != p.skipped {
		if n > 0 {
			p.log.Warn("Mesos state has malformed entries; left out", "leader", res.from,
				"skipped", n, "first", res.skipped[0])
		} else {
			p.log.Info("Mesos state has no malformed entries any more", "leader", res.from)
		}
		p.skipped = n
	}
	p.log.Debug("fetched Mesos state", "leader", res.from, "agents", len(res.state.Agents),
		"frameworks", len(res.state.Frameworks), "took", now.Sub(start))

	masters := make([]string, 0, len(p.cfg.Masters)+1)
	masters = append(masters, res.leaderAddr)
	for _, m := range p.cfg.Masters {
		if m != res.leaderAddr {
			masters = append(masters, m)
		}
	}
	return Update{
		State:   res.state,
		Masters: masters,
		Leader:  res.from,
		Fetched: now,
		Skipped: res.skipped,
	}, nil
}
