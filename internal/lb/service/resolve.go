package service

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// Resolution defaults. Marathon-LB caches gethostbyname results in an LRU
// for the life of the process; names are re-resolved here so that an agent
// whose address changes is followed, and a name that failed once is tried
// again soon.
const (
	// DefaultResolveTimeout bounds the lookups before one build: a slow
	// DNS server delays a table by at most this much, and names it did not
	// answer for keep their previous address (or are left out, as
	// Marathon-LB leaves out a task whose host does not resolve).
	DefaultResolveTimeout = 2 * time.Second
	resolveTTL            = 5 * time.Minute
	resolveNegativeTTL    = 10 * time.Second
	// resolveParallel bounds concurrent lookups: a new cluster of
	// thousands of agents named by hostname must not open thousands of
	// sockets at once.
	resolveParallel = 16
)

// resolver keeps task host names resolved for routes.Build, which must stay
// pure: before each build, names not yet known (or expired) are looked up
// with a deadline, and Build gets a lookup over an immutable copy of the
// results. It belongs to the build loop and is not safe for concurrent use.
type resolver struct {
	lookup  func(ctx context.Context, host string) ([]netip.Addr, error)
	timeout time.Duration
	now     func() time.Time
	log     *slog.Logger
	cache   map[string]resolved
}

type resolved struct {
	addr netip.Addr // invalid: the name did not resolve
	at   time.Time
}

func newResolver(lookup func(context.Context, string) ([]netip.Addr, error), timeout time.Duration, log *slog.Logger) *resolver {
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return defaultLookup(ctx, host)
		}
	}
	if timeout <= 0 {
		timeout = DefaultResolveTimeout
	}
	return &resolver{lookup: lookup, timeout: timeout, now: time.Now, log: log, cache: map[string]resolved{}}
}

// prepare resolves the task hosts of st that are names and returns the
// lookup Build is to use. Names no longer in st are forgotten.
func (r *resolver) prepare(ctx context.Context, st *cluster.MarathonState) func(string) (netip.Addr, bool) {
	now := r.now()
	wanted := map[string]bool{}
	var todo []string
	for i := range st.Apps {
		for j := range st.Apps[i].Tasks {
			h := st.Apps[i].Tasks[j].Host
			if h == "" || wanted[h] {
				continue
			}
			if _, err := netip.ParseAddr(h); err == nil {
				continue
			}
			wanted[h] = true
			c, ok := r.cache[h]
			ttl := resolveTTL
			if !c.addr.IsValid() {
				ttl = resolveNegativeTTL
			}
			if !ok || now.Sub(c.at) >= ttl {
				todo = append(todo, h)
			}
		}
	}
	for h := range r.cache {
		if !wanted[h] {
			delete(r.cache, h)
		}
	}
	if len(todo) > 0 {
		r.resolve(ctx, todo, now)
	}
	snap := make(map[string]netip.Addr, len(r.cache))
	for h, c := range r.cache {
		if c.addr.IsValid() {
			snap[h] = c.addr
		}
	}
	return func(host string) (netip.Addr, bool) {
		a, ok := snap[host]
		return a, ok
	}
}

func (r *resolver) resolve(ctx context.Context, hosts []string, now time.Time) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	type result struct {
		host string
		addr netip.Addr
		err  error
	}
	results := make([]result, len(hosts))
	sem := make(chan struct{}, resolveParallel)
	var wg sync.WaitGroup
	for i, h := range hosts {
		results[i].host = h
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i].err = ctx.Err()
				return
			}
			defer func() { <-sem }()
			addrs, err := r.lookup(ctx, h)
			results[i].err = err
			// IPv4 first, as gethostbyname returns only IPv4.
			for _, a := range addrs {
				a = a.Unmap()
				if a.Is4() {
					results[i].addr = a
					break
				}
				if !results[i].addr.IsValid() {
					results[i].addr = a
				}
			}
		}()
	}
	wg.Wait()
	for _, res := range results {
		old, had := r.cache[res.host]
		switch {
		case res.addr.IsValid():
			if had && old.addr.IsValid() && old.addr != res.addr {
				r.log.Info("task host address changed", "host", res.host, "from", old.addr, "to", res.addr)
			}
			r.cache[res.host] = resolved{addr: res.addr, at: now}
		case had && old.addr.IsValid():
			// Keep serving the last good address through a DNS outage;
			// try again after the negative TTL.
			r.log.Warn("cannot resolve task host; keeping its last address", "host", res.host, "addr", old.addr, "err", res.err)
			r.cache[res.host] = resolved{addr: old.addr, at: now.Add(resolveNegativeTTL - resolveTTL)}
		default:
			if !had {
				r.log.Warn("cannot resolve task host; its tasks are not routed", "host", res.host, "err", res.err)
			}
			r.cache[res.host] = resolved{at: now}
		}
	}
}
