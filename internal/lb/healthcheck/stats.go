package healthcheck

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/routes"
)

// Stats is a point-in-time view of the Checker, for metrics and status
// pages.
type Stats struct {
	// Servers has one entry per checked (backend, server), sorted by
	// backend then server name. Servers sharing a probe show its state.
	Servers []ServerStats
	// Probes is the number of distinct targets being checked.
	Probes int
	// InFlight is the number of checks running now; PeakInFlight the most
	// there have been at once; MaxInFlight the bound.
	InFlight, PeakInFlight, MaxInFlight int
	// Checks counts every completed check.
	Checks uint64
}

// ServerStats is the check state of one server of one backend.
type ServerStats struct {
	Backend string
	Server  string         // routes.Server.Name
	Addr    netip.AddrPort // where the data planes connect
	Target  netip.AddrPort // where the check connects
	Type    routes.CheckType
	Path    string // HTTP checks only
	Up      bool
	// ConsecutiveFailures counts failed checks since the last pass (while
	// UP, towards Fall); ConsecutivePasses the reverse (towards Rise).
	ConsecutiveFailures, ConsecutivePasses int
	// LastError is why the last check failed; empty after a pass or before
	// the first check.
	LastError string
	// LastCheck is when the last check ended (zero before the first);
	// LastDuration how long it took.
	LastCheck    time.Time
	LastDuration time.Duration
	// Since is when the server entered its current state (or was first
	// seen).
	Since time.Time
	// Checks and Failures count completed and failed checks; Transitions
	// counts UP/DOWN changes.
	Checks, Failures, Transitions uint64
}

// Stats returns the state of every checked server.
func (c *Checker) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := Stats{
		Probes:       len(c.probes),
		InFlight:     c.inFlight,
		PeakInFlight: c.peak,
		MaxInFlight:  c.opts.MaxInFlight,
		Checks:       c.checks,
	}
	for _, p := range c.probes {
		last := ""
		if p.lastErr != nil {
			last = p.lastErr.Error()
		}
		for _, u := range p.users {
			st.Servers = append(st.Servers, ServerStats{
				Backend:             u.backend,
				Server:              u.server,
				Addr:                u.addr,
				Target:              p.key.target,
				Type:                p.key.typ,
				Path:                p.key.path,
				Up:                  p.h.up,
				ConsecutiveFailures: p.h.fails,
				ConsecutivePasses:   p.h.passes,
				LastError:           last,
				LastCheck:           p.lastCheck,
				LastDuration:        p.lastTook,
				Since:               p.since,
				Checks:              p.checks,
				Failures:            p.failures,
				Transitions:         p.transitions,
			})
		}
	}
	slices.SortFunc(st.Servers, func(a, b ServerStats) int {
		return cmp.Or(cmp.Compare(a.Backend, b.Backend), cmp.Compare(a.Server, b.Server), a.Addr.Compare(b.Addr))
	})
	return st
}
