package healthcheck

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/routes"
)

// Defaults for the zero Options and for checks that leave a value unset.
const (
	// DefaultMaxInFlight bounds concurrent probes (and so their sockets).
	DefaultMaxInFlight = 256
	// DefaultSpread is Marathon-LB's "spread-checks 5": each interval is
	// drawn from Interval ± 5 %.
	DefaultSpread = 0.05
	// DefaultFirstCheck is the window over which the first checks of the
	// servers a table adds are spread.
	DefaultFirstCheck = time.Second

	// HAProxy's defaults for a "check" line without inter/fall/rise.
	DefaultInterval = 2 * time.Second
	DefaultFall     = 3
	DefaultRise     = 2
)

// ErrRunning is returned by Run when the Checker is already running.
var ErrRunning = errors.New("healthcheck: already running")

// Options configure a Checker. The zero value is usable.
type Options struct {
	// MaxInFlight is the most probes in flight at once; due probes wait
	// for a slot. Zero means DefaultMaxInFlight.
	MaxInFlight int
	// Spread is the jitter of each interval, a fraction of it: the next
	// check is due Interval × (1 ± Spread) after the previous one ended.
	// Zero means DefaultSpread; negative means none.
	Spread float64
	// FirstCheck is the window over which the first checks of servers new
	// to a table are spread (capped at their Interval). Zero means
	// DefaultFirstCheck; negative means at once.
	FirstCheck time.Duration
	// Logger receives one line per UP/DOWN transition; nil discards them.
	Logger *slog.Logger
}

// Checker runs the active health checks of the current route table.
type Checker struct {
	opts   Options
	log    *slog.Logger
	dialer net.Dialer
	sem    chan struct{}
	wake   chan struct{}

	// snap is what Up reads: replaced as a whole by Apply, never changed.
	snap atomic.Pointer[snapshot]

	running atomic.Bool

	// mu guards everything below and every probe's mutable fields.
	mu       sync.Mutex
	probes   map[probeKey]*probe
	queue    probeHeap
	inFlight int
	peak     int
	checks   uint64
}

// snapshot maps each checked server of a table to its probe.
type snapshot struct {
	servers map[serverKey]*probe
}

// serverKey is how the data planes name a server: its backend and address.
type serverKey struct {
	backend string
	addr    netip.AddrPort
}

// probeKey is what is probed: the same key in two tables is the same probe,
// with its state.
type probeKey struct {
	target netip.AddrPort
	typ    routes.CheckType
	path   string
}

// user is one (backend, server) that a probe answers for.
type user struct {
	backend string
	server  string
	addr    netip.AddrPort
}

// probe is the checking state of one target. up is read by Up without the
// lock; every other field is guarded by Checker.mu.
type probe struct {
	key probeKey
	up  atomic.Bool

	spec     spec
	interval time.Duration
	fall     int
	rise     int
	users    []user // replaced, never modified, by Apply

	h           health
	due         time.Time
	index       int                // in the queue; -1 when not queued
	running     bool               // popped by the scheduler, not yet requeued
	cancel      context.CancelFunc // of the check in flight
	removed     bool
	lastErr     error
	lastCheck   time.Time
	lastTook    time.Duration
	since       time.Time
	checks      uint64
	failures    uint64
	transitions uint64
}

// New returns a Checker with no servers; Apply gives it a table and Run
// starts checking.
func New(opts Options) *Checker {
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = DefaultMaxInFlight
	}
	if opts.Spread == 0 {
		opts.Spread = DefaultSpread
	}
	if opts.Spread < 0 {
		opts.Spread = 0
	}
	opts.Spread = min(opts.Spread, 0.5)
	if opts.FirstCheck == 0 {
		opts.FirstCheck = DefaultFirstCheck
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Checker{
		opts: opts,
		log:  log,
		// Probe connections live for one check: keep-alive would only
		// cost two setsockopt calls per check.
		dialer: net.Dialer{KeepAlive: -1},
		sem:    make(chan struct{}, opts.MaxInFlight),
		wake:   make(chan struct{}, 1),
		probes: make(map[probeKey]*probe),
	}
	c.snap.Store(&snapshot{})
	return c
}

// Up reports whether the active check of server s of the named backend
// passes. Servers the Checker does not check — their backend has no
// HealthCheck, the address is unresolved, or they are not in the table
// applied last — are up. It is safe for concurrent use, takes no lock and
// does not allocate: it is meant for the data planes' Options.Healthy. A
// nil Checker reports every server up.
func (c *Checker) Up(backend string, s *routes.Server) bool {
	if c == nil || s == nil {
		return true
	}
	p := c.snap.Load().servers[serverKey{backend, s.Addr}]
	return p == nil || p.up.Load()
}

// Apply makes the Checker check t's servers. Probes of targets that stay
// keep their state and schedule; new targets are first checked within
// Options.FirstCheck; probes of targets that left are stopped, a check in
// flight cancelled. A backend whose check cannot be run (an unknown type, an
// HTTP path that would not make a valid request line) is reported in the
// returned error and its servers are left unchecked, i.e. up; every other
// backend is applied. Apply may be called before and during Run.
func (c *Checker) Apply(t *routes.Table) error {
	var errs []error
	now := time.Now()
	servers := make(map[serverKey]*probe)
	c.mu.Lock()
	next := make(map[probeKey]*probe, len(c.probes))
	var added []*probe
	seen := make(map[string]bool)
	if t != nil {
		for _, svc := range t.Services {
			if svc == nil || svc.Backend == nil {
				continue
			}
			b := svc.Backend
			if seen[b.Name] {
				continue
			}
			seen[b.Name] = true
			if b.HealthCheck == nil {
				continue
			}
			sp, timing, err := specOf(b.HealthCheck)
			if err != nil {
				errs = append(errs, fmt.Errorf("healthcheck: backend %s: %w; its servers are not checked", b.Name, err))
				continue
			}
			for i := range b.Servers {
				s := &b.Servers[i]
				if !s.Addr.IsValid() {
					continue
				}
				sk := serverKey{b.Name, s.Addr}
				if servers[sk] != nil {
					continue
				}
				k := probeKey{target: target(s), typ: sp.typ, path: sp.path}
				p := next[k]
				if p == nil {
					p = c.probes[k]
					if p == nil {
						p = &probe{key: k, h: newHealth(), index: -1, since: now}
						p.up.Store(true)
						added = append(added, p)
					}
					p.users = nil
					c.setTiming(p, sp, timing, now)
					next[k] = p
				}
				p.users = append(p.users, user{backend: b.Name, server: s.Name, addr: s.Addr})
				servers[sk] = p
			}
		}
	}
	for k, p := range c.probes {
		if next[k] == nil {
			c.stop(p)
		}
	}
	for _, p := range added {
		p.due = now.Add(c.firstDelay(p.interval))
		heap.Push(&c.queue, p)
	}
	c.probes = next
	c.snap.Store(&snapshot{servers: servers})
	c.mu.Unlock()
	c.signal()
	return errors.Join(errs...)
}

// timing is the schedule part of a check.
type timing struct {
	interval   time.Duration
	fall, rise int
}

// specOf validates a check and fills in HAProxy's defaults.
func specOf(hc *routes.HealthCheck) (spec, timing, error) {
	tm := timing{interval: hc.Interval, fall: hc.Fall, rise: hc.Rise}
	if tm.interval <= 0 {
		tm.interval = DefaultInterval
	}
	if tm.fall <= 0 {
		tm.fall = DefaultFall
	}
	if tm.rise <= 0 {
		tm.rise = DefaultRise
	}
	sp := spec{typ: hc.Type, timeout: hc.Timeout}
	if sp.timeout <= 0 {
		sp.timeout = tm.interval // HAProxy: no "timeout check" means inter
	}
	switch hc.Type {
	case routes.CheckTCP:
	case routes.CheckHTTP:
		sp.path = hc.Path
		if sp.path == "" {
			sp.path = "/"
		}
		if i := strings.IndexFunc(sp.path, func(r rune) bool { return r <= ' ' || r == 0x7f }); i >= 0 {
			return spec{}, timing{}, fmt.Errorf("HTTP check path %q contains a space or control character", sp.path)
		}
		sp.req = httpRequest(sp.path)
	default:
		return spec{}, timing{}, fmt.Errorf("unknown health check type %q (want %q or %q)", hc.Type, routes.CheckTCP, routes.CheckHTTP)
	}
	return sp, tm, nil
}

// target is where server s is probed: its IP, at CheckPort when set.
func target(s *routes.Server) netip.AddrPort {
	if s.CheckPort > 0 && s.CheckPort <= 65535 {
		return netip.AddrPortFrom(s.Addr.Addr().Unmap(), uint16(s.CheckPort))
	}
	return netip.AddrPortFrom(s.Addr.Addr().Unmap(), s.Addr.Port())
}

// setTiming installs a probe's (possibly changed) check parameters. A
// shorter interval pulls a queued check forward. Called with c.mu held.
func (c *Checker) setTiming(p *probe, sp spec, tm timing, now time.Time) {
	p.spec = sp
	p.fall, p.rise = tm.fall, tm.rise
	if p.interval != tm.interval {
		p.interval = tm.interval
		if p.index >= 0 {
			if latest := now.Add(c.jitter(tm.interval)); p.due.After(latest) {
				p.due = latest
				heap.Fix(&c.queue, p.index)
			}
		}
	}
}

// stop retires a probe that left the table. Called with c.mu held.
func (c *Checker) stop(p *probe) {
	p.removed = true
	if p.index >= 0 {
		heap.Remove(&c.queue, p.index)
	}
	if p.cancel != nil {
		p.cancel()
	}
}

func (c *Checker) jitter(d time.Duration) time.Duration {
	if c.opts.Spread == 0 {
		return d
	}
	return d + time.Duration(float64(d)*c.opts.Spread*(2*rand.Float64()-1))
}

func (c *Checker) firstDelay(interval time.Duration) time.Duration {
	w := min(c.opts.FirstCheck, interval)
	if w <= 0 {
		return 0
	}
	return rand.N(w)
}

// signal wakes the scheduler to look at the queue again.
func (c *Checker) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run checks until ctx is done, then cancels the checks in flight and
// returns once every goroutine it started has ended. It returns nil, or
// ErrRunning if another Run is in progress. A later Run resumes where this
// one stopped.
func (c *Checker) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer c.running.Store(false)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		p, wait := c.next()
		if p != nil {
			select {
			case c.sem <- struct{}{}:
			case <-ctx.Done():
				c.requeue(p)
				return nil
			}
			wg.Add(1)
			go c.check(ctx, p, &wg)
			continue
		}
		var tc <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			tc = timer.C
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.wake:
		case <-tc:
		}
	}
}

// next pops the probe that is due, if any, else says how long until one is
// (-1: none queued).
func (c *Checker) next() (*probe, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		return nil, -1
	}
	top := c.queue[0]
	if wait := time.Until(top.due); wait > 0 {
		return nil, wait
	}
	heap.Pop(&c.queue)
	top.running = true
	return top, 0
}

// requeue puts back a popped probe that was not run.
func (c *Checker) requeue(p *probe) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p.running = false
	if !p.removed {
		heap.Push(&c.queue, p)
	}
}

// check runs one check of p in its own goroutine, holding a slot of sem.
func (c *Checker) check(ctx context.Context, p *probe, wg *sync.WaitGroup) {
	defer wg.Done()
	defer func() { <-c.sem }()

	c.mu.Lock()
	if p.removed {
		p.running = false
		c.mu.Unlock()
		return
	}
	sp := p.spec
	pctx, cancel := context.WithTimeout(ctx, sp.timeout)
	p.cancel = cancel
	c.inFlight++
	c.peak = max(c.peak, c.inFlight)
	c.mu.Unlock()

	start := time.Now()
	err := runCheck(pctx, &c.dialer, &sp, p.key.target)
	end := time.Now()
	cancel()

	c.mu.Lock()
	c.inFlight--
	p.running = false
	p.cancel = nil
	if p.removed {
		c.mu.Unlock()
		return
	}
	if ctx.Err() != nil {
		// Run is ending: the result says nothing about the server.
		heap.Push(&c.queue, p)
		c.mu.Unlock()
		return
	}
	c.checks++
	p.checks++
	p.lastErr, p.lastCheck, p.lastTook = err, end, end.Sub(start)
	if err != nil {
		p.failures++
	}
	wasFresh := p.h.fresh
	changed := p.h.record(err == nil, p.fall, p.rise)
	var h health
	var users []user
	if changed {
		p.up.Store(p.h.up)
		p.transitions++
		p.since = end
		h, users = p.h, p.users
	}
	p.due = end.Add(c.jitter(p.interval))
	heap.Push(&c.queue, p)
	first := p.index == 0
	fall, rise := p.fall, p.rise
	c.mu.Unlock()
	if first {
		c.signal()
	}
	if changed {
		c.logTransition(p.key, users, h, err, wasFresh, fall, rise)
	}
}

// logTransition logs an UP/DOWN change once for each (backend, server) the
// probe answers for.
func (c *Checker) logTransition(k probeKey, users []user, h health, err error, wasFresh bool, fall, rise int) {
	for _, u := range users {
		attrs := []any{"backend", u.backend, "server", u.server, "addr", u.addr.String(), "check", checkName(k)}
		if h.up {
			c.log.Info("health check: server is UP", append(attrs, "reason", fmt.Sprintf("%d consecutive checks passed", rise))...)
			continue
		}
		reason := fmt.Sprintf("%d consecutive checks failed, last: %v", fall, err)
		if wasFresh {
			reason = fmt.Sprintf("first check failed: %v", err)
		}
		c.log.Warn("health check: server is DOWN", append(attrs, "reason", reason)...)
	}
}

// checkName describes a probe for logs and stats: "tcp 10.0.0.5:31000",
// "http 10.0.0.5:31000 /health".
func checkName(k probeKey) string {
	s := string(k.typ) + " " + k.target.String()
	if k.typ == routes.CheckHTTP {
		s += " " + k.path
	}
	return s
}

// probeHeap orders probes by due time.
type probeHeap []*probe

func (h probeHeap) Len() int           { return len(h) }
func (h probeHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h probeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *probeHeap) Push(x any) {
	p := x.(*probe)
	p.index = len(*h)
	*h = append(*h, p)
}
func (h *probeHeap) Pop() any {
	old := *h
	n := len(old)
	p := old[n-1]
	old[n-1] = nil
	p.index = -1
	*h = old[:n-1]
	return p
}
