package httpproxy

import (
	"sort"
	"sync/atomic"
	"time"
)

type proxyCounters struct {
	badRequests, noRoute, noServer, redirects, challenges, forbidden atomic.Uint64
}

// Stats is a snapshot of the proxy's counters, as plain values.
type Stats struct {
	// BadRequests were answered 400 before routing.
	BadRequests uint64
	// NoRoute requests matched no rule (or no app id) and got 503.
	NoRoute uint64
	// NoServer requests had a backend but no server could be connected
	// (all draining, or every connection attempt failed) and got 503.
	NoServer uint64
	// Redirects are the 301s to https, Challenges the 401s of auth rules,
	// Forbidden the 403s of network ACLs.
	Redirects, Challenges, Forbidden uint64
	// ClientConns is the number of open client connections.
	ClientConns int
	// Backends are the backends of the current table, by name.
	Backends []BackendStats
}

// BackendStats are the counters of one backend's servers.
type BackendStats struct {
	Name    string
	Servers []ServerStats
}

// ServerStats are one server's counters. They survive Apply as long as the
// server stays in its backend.
type ServerStats struct {
	Name     string
	HostPort string
	Draining bool
	// Active is the number of requests in flight on the server.
	Active int64
	// Idle is the number of pooled keep-alive connections.
	Idle int
	// Requests sent; Connects are new connections, Reused requests went
	// over a pooled one.
	Requests, Connects, Reused uint64
	// ConnectErrors are failed connection attempts (each moved on to the
	// next server); ServerErrors are failures after connecting (bad or
	// truncated response, timeout; 502/504 when nothing was sent yet);
	// ClientAborts are exchanges cut because the client went away.
	ConnectErrors, ServerErrors, ClientAborts uint64
	// Status counts responses by class: Status[2] is 2xx, etc.
	Status [6]uint64
	// LatencySum / LatencyCount is the mean time from a request head being
	// read to its response being fully sent.
	LatencySum   time.Duration
	LatencyCount uint64
}

// Stats returns a snapshot of the counters.
func (p *Proxy) Stats() Stats {
	st := Stats{
		BadRequests: p.stats.badRequests.Load(),
		NoRoute:     p.stats.noRoute.Load(),
		NoServer:    p.stats.noServer.Load(),
		Redirects:   p.stats.redirects.Load(),
		Challenges:  p.stats.challenges.Load(),
		Forbidden:   p.stats.forbidden.Load(),
	}
	p.mu.Lock()
	st.ClientConns = len(p.conns)
	p.mu.Unlock()
	c := p.state.Load()
	for b, bs := range c.backends {
		bst := BackendStats{Name: b.Name}
		for _, s := range bs.servers {
			s.mu.Lock()
			idle := len(s.idle)
			s.mu.Unlock()
			ss := ServerStats{
				Name: s.name, HostPort: s.hostPort, Draining: s.draining.Load(),
				Active: s.active.Load(), Idle: idle,
				Requests: s.requests.Load(), Connects: s.connects.Load(), Reused: s.reused.Load(),
				ConnectErrors: s.connectErrors.Load(), ServerErrors: s.serverErrors.Load(),
				ClientAborts: s.clientAborts.Load(),
				LatencySum:   time.Duration(s.latencySum.Load()), LatencyCount: s.latencyCount.Load(),
			}
			for i := range ss.Status {
				ss.Status[i] = s.status[i].Load()
			}
			bst.Servers = append(bst.Servers, ss)
		}
		st.Backends = append(st.Backends, bst)
	}
	sort.Slice(st.Backends, func(i, j int) bool { return st.Backends[i].Name < st.Backends[j].Name })
	return st
}
