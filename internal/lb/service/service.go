// Package service runs `signpost lb`: it wires the Marathon follower, the
// route builder and the data planes together, in the same shape as `signpost
// dns`. The follower hands over whole snapshots; each is turned into a route
// table off the data path (routes.Build, with the previous table's health
// cache and task host names resolved beforehand, so that Build stays pure);
// the active health checker and the TCP and HTTP proxies then swap the new
// table in atomically, and the proxies ask the checker before they send a
// connection or request to a server. Nothing here touches a client
// connection.
//
// While Marathon is away nothing is rebuilt and the last table keeps
// serving; the follower's next snapshot after recovery replaces it. A table
// is only ever replaced by a newer one, never by nothing.
//
// Problems of a build (a malformed label, an unresolvable task host, a
// listener that cannot be opened) are logged once when they appear and once
// when they are gone, not on every rebuild, and counted in the
// signpost_lb_problems gauge; they never stop the other services.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/admin"
	"github.com/signpost-dns/signpost/internal/lb/healthcheck"
	"github.com/signpost-dns/signpost/internal/lb/routes"
	"github.com/signpost-dns/signpost/internal/lb/tcpproxy"
	"github.com/signpost-dns/signpost/internal/source/marathon"
)

// Defaults of the listen addresses: Marathon-LB's HAProxy binds the shared
// frontends at *:80, *:443 and *:9091 and its stats/admin section at
// 0.0.0.0:9090.
const (
	DefaultHTTPAddr     = ":80"
	DefaultHTTPSAddr    = ":443"
	DefaultAppIDAddr    = ":9091"
	DefaultAdminAddr    = ":9090"
	DefaultDrainTimeout = 30 * time.Second
)

// retryApply is how soon a table whose listeners could not all be opened is
// applied again: a port held by a draining listener of the other data plane,
// or by another process, is usually free soon, and Marathon may send nothing
// for minutes.
const retryApply = 10 * time.Second

// Config configures a Service. Zero values take the defaults noted.
type Config struct {
	// Marathon is how to follow Marathon (--marathon, auth, CA, ...).
	// Its Logger defaults to Logger.
	Marathon marathon.Config
	// Flags are the routing flags (routes.ParseCommandLine). Their
	// HTTPAddr, HTTPSAddr and AppIDAddr are replaced by the addresses
	// the listeners are bound to, and Resolve by the service's resolver.
	Flags routes.Flags

	// HTTPAddr, HTTPSAddr, AppIDAddr and AdminAddr are where the shared
	// HTTP, HTTPS and app-id frontends and the admin endpoints listen
	// (default DefaultHTTPAddr ...); "-" disables one. The HTTP and HTTPS
	// frontends are not opened with --dont-bind-http-https
	// (Flags.BindHTTPHTTPS false), as in Marathon-LB.
	HTTPAddr, HTTPSAddr, AppIDAddr, AdminAddr string
	// Listeners, when set, are used instead of opening the addresses
	// (tests, socket activation). The Service owns them.
	Listeners Listeners

	// DrainTimeout bounds how long connections to removed or draining
	// servers, and through removed services' listeners, may go on
	// (--drain-timeout; default DefaultDrainTimeout).
	DrainTimeout time.Duration
	// ResolveTimeout bounds the host-name lookups before one build
	// (default DefaultResolveTimeout).
	ResolveTimeout time.Duration
	// LookupHost resolves task hosts that are not IP literals (nil: the
	// system resolver).
	LookupHost func(ctx context.Context, host string) ([]netip.Addr, error)

	// Logger receives everything worth logging (nil: discarded).
	Logger *slog.Logger
	// Version is reported in the signpost_lb_build_info metric.
	Version string
}

// Listeners are pre-opened listeners for Config.Listeners.
type Listeners struct {
	HTTP, HTTPS, AppID, Admin net.Listener
}

// Addrs are the addresses the listeners are bound to (nil: disabled).
type Addrs struct {
	HTTP, HTTPS, AppID, Admin net.Addr
}

// Service is one running `signpost lb`.
type Service struct {
	cfg      Config
	log      *slog.Logger
	follower *marathon.Follower
	checker  *healthcheck.Checker
	res      *resolver
	metrics  *metrics

	gen     atomic.Pointer[generation]
	rebuild chan struct{}

	running atomic.Bool
	mu      sync.Mutex
	addrs   Addrs
	tcp     *tcpproxy.Proxy
	http    *httpPlane
}

// generation is the table being served with what the admin endpoints and
// metrics say about it.
type generation struct {
	t     *routes.Table
	built time.Time
	// problems are Build's, for /_haproxy_getconfig.
	problems []routes.Problem
}

// New checks cfg and prepares the service; nothing is opened yet.
func New(cfg Config) (*Service, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Marathon.Logger == nil {
		cfg.Marathon.Logger = cfg.Logger
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&cfg.HTTPAddr, DefaultHTTPAddr)
	def(&cfg.HTTPSAddr, DefaultHTTPSAddr)
	def(&cfg.AppIDAddr, DefaultAppIDAddr)
	def(&cfg.AdminAddr, DefaultAdminAddr)
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	if cfg.DrainTimeout < 0 {
		return nil, fmt.Errorf("drain timeout %v is negative", cfg.DrainTimeout)
	}
	if len(cfg.Flags.Groups) == 0 {
		return nil, errors.New("no --group: a load balancer without a group routes nothing")
	}
	for _, a := range []struct{ name, addr string }{
		{"--http-addr", cfg.HTTPAddr}, {"--https-addr", cfg.HTTPSAddr},
		{"--appid-addr", cfg.AppIDAddr}, {"--admin-addr", cfg.AdminAddr},
	} {
		if err := checkAddr(a.addr); err != nil {
			return nil, fmt.Errorf("%s: %w", a.name, err)
		}
	}
	f, err := marathon.New(cfg.Marathon)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg:      cfg,
		log:      cfg.Logger,
		follower: f,
		checker:  healthcheck.New(healthcheck.Options{Logger: cfg.Logger}),
		res:      newResolver(cfg.LookupHost, cfg.ResolveTimeout, cfg.Logger),
		rebuild:  make(chan struct{}, 1),
	}
	s.metrics = newMetrics(s)
	return s, nil
}

// checkAddr accepts "-" and "host:port" where host is empty or an IP
// literal: route tables record listen addresses as IPs, as HAProxy binds.
func checkAddr(addr string) error {
	if addr == "-" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("%q: the host must be an IP address or empty (all addresses)", addr)
		}
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("%q: %w", addr, err)
	}
	return nil
}

// Table is the route table being served; nil before the first build.
func (s *Service) Table() *routes.Table {
	if g := s.gen.Load(); g != nil {
		return g.t
	}
	return nil
}

// TableInfo is Table with its build time and problems, for
// /_haproxy_getconfig (admin.InfoSource).
func (s *Service) TableInfo() (*routes.Table, admin.Info) {
	g := s.gen.Load()
	if g == nil {
		return nil, admin.Info{}
	}
	return g.t, admin.Info{Built: g.built, Problems: g.problems}
}

// Refetch asks for a full refetch from Marathon, as SIGHUP and
// /_mlb_signal/hup do to Marathon-LB. It does not wait.
func (s *Service) Refetch() {
	s.log.Info("refetch requested")
	s.follower.Refetch()
}

// Rebuild asks for the routes to be rebuilt from the last snapshot, as
// SIGUSR1 and /_mlb_signal/usr1 make Marathon-LB reload HAProxy. It does not
// wait; requests made while one is pending are coalesced.
func (s *Service) Rebuild() {
	s.log.Info("rebuild requested")
	select {
	case s.rebuild <- struct{}{}:
	default:
	}
}

// Addrs returns the bound addresses once Run has signalled ready.
func (s *Service) Addrs() Addrs {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs
}

// Run opens the listeners — the shared frontends answer 503 until the first
// table — follows Marathon and serves until ctx ends. ready, when not nil,
// is closed once every shared listener is bound. Run returns nil when ctx
// ends, with every goroutine it started gone, or the error that stopped it.
func (s *Service) Run(ctx context.Context, ready chan<- struct{}) (err error) {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("service: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	owned := s.cfg.Listeners
	defer func() {
		// Listeners handed to the Service are its own even on failure.
		if err != nil {
			for _, l := range []net.Listener{owned.HTTP, owned.HTTPS, owned.AppID, owned.Admin} {
				if l != nil {
					l.Close()
				}
			}
		}
	}()

	adminLn := owned.Admin
	if adminLn == nil && s.cfg.AdminAddr != "-" {
		if adminLn, err = net.Listen("tcp", s.cfg.AdminAddr); err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
	}
	owned.Admin = adminLn
	hp, err := newHTTPPlane(s.cfg, s.checker.Up, s.log)
	if err != nil {
		return err
	}
	owned = Listeners{} // the HTTP plane owns its listeners now
	tp := tcpproxy.New(tcpproxy.Options{
		DrainTimeout: s.cfg.DrainTimeout,
		Logger:       s.log,
		Healthy:      s.checker.Up,
	})
	addrs := hp.addrs()
	if adminLn != nil {
		addrs.Admin = adminLn.Addr()
	}
	flags := s.cfg.Flags
	flags.HTTPAddr = listenAddr(addrs.HTTP, flags.HTTPAddr)
	flags.HTTPSAddr = listenAddr(addrs.HTTPS, flags.HTTPSAddr)
	flags.AppIDAddr = listenAddr(addrs.AppID, flags.AppIDAddr)
	s.mu.Lock()
	s.addrs, s.tcp, s.http = addrs, tp, hp
	s.mu.Unlock()

	var wg sync.WaitGroup
	errc := make(chan error, 4)
	fail := func(err error) {
		select {
		case errc <- err:
		default:
		}
		cancel()
	}
	goFn := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	goFn(func() {
		if err := hp.serve(ctx); err != nil && ctx.Err() == nil {
			fail(fmt.Errorf("HTTP data plane: %w", err))
		}
	})
	goFn(func() {
		if err := tp.Run(ctx); err != nil && ctx.Err() == nil {
			fail(fmt.Errorf("TCP data plane: %w", err))
		}
	})
	if adminLn != nil {
		hs := &http.Server{Handler: s.adminHandler(), ReadHeaderTimeout: 10 * time.Second,
			WriteTimeout: time.Minute, IdleTimeout: time.Minute}
		goFn(func() {
			if err := hs.Serve(adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fail(fmt.Errorf("admin server: %w", err))
			}
		})
		goFn(func() {
			<-ctx.Done()
			sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
			defer c()
			if hs.Shutdown(sctx) != nil {
				hs.Close() // a slow /metrics reader must not outlive Run
			}
		})
	}
	goFn(func() {
		if err := s.checker.Run(ctx); err != nil && ctx.Err() == nil {
			fail(fmt.Errorf("health checks: %w", err))
		}
	})
	updates := make(chan marathon.Update)
	goFn(func() {
		if err := s.follower.Run(ctx, updates); err != nil && ctx.Err() == nil {
			fail(fmt.Errorf("following Marathon: %w", err))
		}
	})
	if ready != nil {
		close(ready)
	}
	s.log.Info("serving", "http", addrString(addrs.HTTP), "https", addrString(addrs.HTTPS),
		"appid", addrString(addrs.AppID), "admin", addrString(addrs.Admin),
		"marathon", strings.Join(s.cfg.Marathon.URLs, ","), "groups", strings.Join(flags.Groups, ","))

	b := &builder{s: s, flags: flags, tcp: tp, http: hp, problems: newProblemLog(s.log)}
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			select {
			case err := <-errc:
				return err
			default:
				return nil
			}
		case u := <-updates:
			b.last = &u
			retry = b.build(ctx, u.Reason)
		case <-s.rebuild:
			if b.last == nil {
				s.log.Info("nothing to rebuild: no Marathon snapshot yet")
				continue
			}
			retry = b.build(ctx, "rebuild")
		case <-retry:
			retry = b.build(ctx, "retry")
		}
	}
}

// builder is the state of Run's build loop, touched by that loop only.
type builder struct {
	s        *Service
	flags    routes.Flags
	tcp      *tcpproxy.Proxy
	http     *httpPlane
	last     *marathon.Update
	problems *problemLog
}

// build turns the last snapshot into a table and swaps it into both data
// planes. It returns a timer channel when a listener could not be opened,
// so that the same table is applied again later.
func (b *builder) build(ctx context.Context, reason string) <-chan time.Time {
	s := b.s
	start := time.Now()
	u := b.last
	t, problems := b.table(ctx)
	// The checker first, so that the data planes never see a server the
	// checker does not know (such a server is up, which is also how the
	// checker starts new servers).
	var checkErrs, applyErrs []error
	if err := s.checker.Apply(t); err != nil {
		checkErrs = append(checkErrs, err)
	}
	if err := b.tcp.Apply(t); err != nil {
		applyErrs = append(applyErrs, err)
	}
	if err := b.http.apply(t); err != nil {
		applyErrs = append(applyErrs, err)
	}
	took := time.Since(start)
	s.gen.Store(&generation{t: t, built: time.Now(), problems: problems})
	b.problems.report(problems, u.Skipped, applyErrs, checkErrs)
	s.metrics.built(reason, took, b.problems.counts())
	servers := 0
	for _, svc := range t.Services {
		if svc.Backend != nil {
			servers += len(svc.Backend.Servers)
		}
	}
	s.log.Info("routes applied", "reason", reason, "from", u.From, "apps", len(u.State.Apps),
		"services", len(t.Services), "servers", servers, "problems", len(problems), "took", took.Round(time.Microsecond))
	if len(applyErrs) > 0 {
		return time.After(retryApply)
	}
	return nil
}

// table builds the table of the last snapshot, with the previous table's
// health cache and the task host names resolved beforehand.
func (b *builder) table(ctx context.Context) (*routes.Table, []routes.Problem) {
	flags := b.flags
	flags.Resolve = b.s.res.prepare(ctx, b.last.State)
	var health routes.HealthCache
	if g := b.s.gen.Load(); g != nil {
		health = g.t.Health
	}
	return routes.Build(b.last.State, flags, health)
}

// listenAddr is the routes form of a bound address; def when there is none.
func listenAddr(a net.Addr, def routes.ListenAddr) routes.ListenAddr {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return def
	}
	ap := ta.AddrPort()
	ip := ap.Addr().Unmap()
	if ip.IsUnspecified() {
		ip = netip.Addr{}
	}
	return routes.ListenAddr{Addr: ip, Port: ap.Port()}
}

func addrString(a net.Addr) string {
	if a == nil {
		return "-"
	}
	return a.String()
}

// Once fetches Marathon's apps once, builds the route table and returns it
// as /_haproxy_getconfig shows it, without opening any listener: Marathon-LB's
// --dry. The table records the configured listen addresses. Failed fetches
// are retried until ctx ends; the error then says why the last one failed.
func (s *Service) Once(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	updates := make(chan marathon.Update)
	done := make(chan error, 1)
	go func() { done <- s.follower.Run(ctx, updates) }()
	var u marathon.Update
	select {
	case u = <-updates:
		cancel()
		<-done
	case err := <-done:
		if last := s.follower.Status().LastError; last != nil {
			return nil, fmt.Errorf("no apps from Marathon: %w", last)
		}
		return nil, fmt.Errorf("no apps from Marathon: %w", err)
	}
	flags := s.cfg.Flags
	flags.HTTPAddr = configuredListen(s.cfg.HTTPAddr, flags.HTTPAddr)
	flags.HTTPSAddr = configuredListen(s.cfg.HTTPSAddr, flags.HTTPSAddr)
	flags.AppIDAddr = configuredListen(s.cfg.AppIDAddr, flags.AppIDAddr)
	b := &builder{s: s, flags: flags, problems: newProblemLog(s.log), last: &u}
	t, problems := b.table(context.Background())
	b.problems.report(problems, u.Skipped, nil, nil)
	s.gen.Store(&generation{t: t, built: time.Now(), problems: problems})
	rec := httptest.NewRecorder()
	s.adminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, admin.PathGetConfig, nil))
	if rec.Code != http.StatusOK {
		return nil, fmt.Errorf("rendering the route table: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.Bytes(), nil
}

// configuredListen is the routes form of a listen address from the
// configuration (checked by New); def when disabled.
func configuredListen(addr string, def routes.ListenAddr) routes.ListenAddr {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return def
	}
	p, err := net.LookupPort("tcp", port)
	if err != nil {
		return def
	}
	l := routes.ListenAddr{Port: uint16(p)}
	if a, err := netip.ParseAddr(host); err == nil && !a.IsUnspecified() {
		l.Addr = a.Unmap()
	}
	return l
}
