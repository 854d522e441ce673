// Package service runs `signpost dns`: it wires the state source, the record
// builder and the servers together. Sources hand over snapshots, the builder
// turns each into a table off the serving path, and the DNS server and HTTP
// API swap the new table in atomically; nothing here answers a query itself.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/signpost-dns/signpost/internal/dns/config"
	"github.com/signpost-dns/signpost/internal/dns/httpapi"
	"github.com/signpost-dns/signpost/internal/dns/records"
	"github.com/signpost-dns/signpost/internal/dns/server"
	"github.com/signpost-dns/signpost/internal/source/mesospoll"
)

// Service is one running `signpost dns`.
type Service struct {
	cfg     config.Config
	version string
	log     *slog.Logger
	now     func() time.Time

	dns     *server.Server
	poller  *mesospoll.Poller
	table   atomic.Pointer[records.Table]
	resolve func(host string) ([]netip.Addr, error)
	collect func() // Options.Collect

	// last build, for metrics and health
	mu        sync.Mutex
	buildTime time.Duration
	builds    uint64
	dropped   int

	// DNSAddr and HTTPAddr are the bound addresses once Start returned.
	DNSAddr  string
	HTTPAddr string
}

// Options are what the process provides beyond the config file.
type Options struct {
	Version string
	Logger  *slog.Logger
	// Resolve looks up hostnames in pids and the leader; net.DefaultResolver
	// when nil.
	Resolve func(host string) ([]netip.Addr, error)
	Now     func() time.Time
	// Collect, when set, is called after each new table is being served
	// and the snapshot it came from is dropped; `signpost dns` passes
	// runtime.GC. A refresh leaves one to two times the live heap as
	// garbage. Left to the pacer, the collection falls inside the next
	// refresh, where it must mark the old and the new table and the
	// decoded state, and its mark worker takes the serving core for 5–25
	// ms at a time; collected here, it marks only the table being served,
	// mostly in the core's idle time, where the runtime's idle worker
	// gives way to network input (docs/benchmarks-dns.md, "Refresh").
	Collect func()
}

// New validates that cfg can be served and prepares the service.
func New(cfg config.Config, o Options) (*Service, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if cfg.Zk != "" && len(cfg.Masters) == 0 {
		return nil, errors.New(`config key "zk": ZooKeeper leader detection is not available yet; list the masters in "masters"`)
	}
	if cfg.Zk != "" {
		o.Logger.Warn(`config key "zk": ZooKeeper leader detection is not available yet; using "masters"`)
	}
	s := &Service{cfg: cfg, version: o.Version, log: o.Logger, now: o.Now, collect: o.Collect}
	dns, err := server.New(server.Options{
		Domain:         cfg.Domain,
		TTL:            uint32(max(cfg.TTL, 0)),
		SRVWeight:      cfg.SRVRecordDefaultWeight,
		SOAMname:       cfg.SOAMname,
		SOARname:       cfg.SOARname,
		SOARefresh:     cfg.SOARefresh,
		SOARetry:       cfg.SOARetry,
		SOAExpire:      cfg.SOAExpire,
		RecurseOn:      cfg.RecurseOn,
		SetTruncateBit: cfg.SetTruncateBit,
		ExternalOn:     cfg.ExternalOn,
		Resolvers:      cfg.Resolvers,
		ZoneResolvers:  cfg.ZoneResolvers,
		Timeout:        time.Duration(cfg.Timeout) * time.Second,
		Logger:         o.Logger,
	})
	if err != nil {
		return nil, err
	}
	s.dns = dns
	pc := mesospoll.Config{
		Masters: cfg.Masters,
		Refresh: time.Duration(cfg.RefreshSeconds) * time.Second,
		Timeout: time.Duration(cfg.StateTimeoutSeconds) * time.Second,
		HTTPS:   cfg.MesosHTTPSOn,
		Logger:  o.Logger,
		Now:     o.Now,
		Yield:   dns.Yield, // reading and decoding a large state must not hold up queries
	}
	if cfg.MesosAuthentication == "basic" {
		pc.BasicAuth = &struct{ User, Password string }{cfg.MesosCredentials.Principal, cfg.MesosCredentials.Secret}
	}
	if cfg.MesosHTTPSOn && (cfg.CACertFile != "" || cfg.CertFile != "") {
		client, err := tlsClient(cfg)
		if err != nil {
			return nil, err
		}
		pc.Client = client
	}
	if cfg.MesosAuthentication == "iam" {
		return nil, errors.New(`config key "MesosAuthentication": "iam" is not supported yet`)
	}
	if s.poller, err = mesospoll.New(pc); err != nil {
		return nil, err
	}
	s.resolve = o.Resolve
	if s.resolve == nil {
		s.resolve = resolveHost
	}
	return s, nil
}

// Run opens the listeners at once — in-domain queries get SERVFAIL until the
// first state has loaded — and serves until ctx ends. ready, when not nil, is
// closed once every listener is bound.
func (s *Service) Run(ctx context.Context, ready chan<- struct{}) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	fail := func(err error) {
		select {
		case errc <- err:
		default:
		}
		cancel()
	}

	if s.cfg.DnsOn {
		addr := net.JoinHostPort(s.cfg.Listener, strconv.Itoa(s.cfg.Port))
		udp, tcp, err := s.dns.Listen(ctx, addr)
		if err != nil {
			return fmt.Errorf("DNS listener %s: %w", addr, err)
		}
		s.DNSAddr = tcp.Addr().String()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.dns.Serve(ctx, udp, tcp); err != nil && ctx.Err() == nil {
				fail(fmt.Errorf("DNS server: %w", err))
			}
		}()
	}
	if s.cfg.HttpOn {
		addr := net.JoinHostPort(s.cfg.HTTPListener, strconv.Itoa(s.cfg.HttpPort))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			cancel()
			wg.Wait()
			return fmt.Errorf("HTTP listener %s: %w", addr, err)
		}
		s.HTTPAddr = ln.Addr().String()
		hs := &http.Server{Handler: s.httpHandler(), ReadHeaderTimeout: 10 * time.Second}
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fail(fmt.Errorf("HTTP server: %w", err))
			}
		}()
		go func() {
			defer wg.Done()
			<-ctx.Done()
			sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
			defer c()
			hs.Shutdown(sctx)
		}()
	}
	if ready != nil {
		close(ready)
	}
	s.log.Info("serving", "dns", s.DNSAddr, "http", s.HTTPAddr, "domain", s.cfg.Domain, "masters", s.cfg.Masters)

	updates := make(chan mesospoll.Update)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.poller.Run(ctx, updates); err != nil && ctx.Err() == nil {
			fail(fmt.Errorf("state source: %w", err))
		}
	}()
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
			s.apply(u)
			if s.collect != nil {
				s.collect() // u is dead here: the snapshot is garbage
			}
		}
	}
}

// apply builds a table from one snapshot and swaps it in. A build never
// fails as a whole: objects it cannot use are dropped with a warning.
func (s *Service) apply(u mesospoll.Update) {
	start := time.Now()
	t, warnings := records.Build(u.State, s.builderConfig(u))
	took := time.Since(start)
	for _, w := range warnings {
		s.log.Warn("record dropped", "err", w)
	}
	s.dns.Swap(t)
	s.table.Store(t)
	s.mu.Lock()
	s.buildTime = took
	s.builds++
	s.dropped = len(warnings)
	s.mu.Unlock()
	counts := t.Counts()
	s.log.Debug("records loaded", "from", u.Leader, "took", took, "A", counts["A"][0], "SRV", counts["SRV"][0])
}

func (s *Service) builderConfig(u mesospoll.Update) records.Config {
	return records.Config{
		Yield:         s.dns.Yield,
		Domain:        s.cfg.Domain,
		IPSources:     s.cfg.IPSources,
		EnforceRFC952: s.cfg.EnforceRFC952,
		HealthFilter:  s.cfg.HealthFilter,
		PTROn:         s.cfg.PTROn,
		SOAMname:      s.cfg.SOAMname,
		NSAddrs:       nsAddrs(s.cfg.Listener),
		// Mesos-DNS numbers masterN in the configured order.
		Masters: s.cfg.Masters,
		Resolve: s.resolve,
		Now:     s.now,
	}
}

// Health reports whether the served records are loaded and fresh: the last
// successful fetch is no older than three refresh periods plus the state
// timeout (one slow fetch and two failures are tolerated).
func (s *Service) Health() httpapi.Health {
	h := s.poller.Health()
	out := httpapi.Health{LastSuccess: h.LastSuccess}
	if h.LastError != nil {
		out.LastError = h.LastError.Error()
	}
	t := s.table.Load()
	if t == nil {
		out.Reason = "no state loaded yet"
		if h.LastError != nil {
			out.Reason += ": " + h.LastError.Error()
		}
		return out
	}
	age := s.now().Sub(h.LastSuccess)
	out.AgeSeconds = age.Seconds()
	limit := 3*time.Duration(s.cfg.RefreshSeconds)*time.Second + time.Duration(s.cfg.StateTimeoutSeconds)*time.Second
	if age > limit {
		out.Reason = fmt.Sprintf("records are stale: last successful state fetch %s ago (limit %s)", age.Round(time.Second), limit)
		return out
	}
	out.OK = true
	out.Reason = "serving records from a fresh state"
	return out
}

func (s *Service) httpHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(&metrics{s: s})
	return httpapi.New(httpapi.Options{
		Version:        s.version,
		Domain:         s.cfg.Domain,
		EnumerationOn:  s.cfg.EnumerationOn,
		TTL:            int(s.cfg.TTL),
		RefreshSeconds: s.cfg.RefreshSeconds,
		Mname:          s.cfg.SOAMname,
		Rname:          s.cfg.SOARname,
		Config:         func() any { return s.cfg.Public() },
		Table:          s.table.Load,
		Health:         s.Health,
		Metrics:        promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
	})
}
