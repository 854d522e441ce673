package tcpproxy

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/signpost-dns/signpost/internal/lb/routes"
)

// Stats is a point-in-time copy of the proxy's counters, for the metrics
// endpoint. Counters of a server persist across Apply while the server
// stays in the table (or still has open connections), and reset when it
// leaves and comes back.
type Stats struct {
	Frontends []FrontendStats
}

// FrontendStats describes one listener.
type FrontendStats struct {
	Listen  routes.ListenAddr
	Backend string
	// Retiring: the service left the table and the listener waits for its
	// open connections before closing.
	Retiring bool
	// TLS: the service terminates TLS (SSLCert); TLSReady: a certificate
	// is loaded, so connections are served rather than closed.
	TLS, TLSReady bool
	// Accepted counts accepted client connections; Refused those closed
	// without reaching a server (network ACL, retiring, no certificate,
	// failed or timed-out TLS handshake, no server up, every attempt
	// failed). Active are the open client connections, including those
	// still in the TLS handshake or connecting.
	Accepted, Refused uint64
	Active            int64
	Servers           []ServerStats
}

// ServerStats describes one server of a frontend's backend.
type ServerStats struct {
	Name string
	Addr netip.AddrPort
	// State is "up", "draining" or "removed" (gone from the table but with
	// connections still open).
	State string
	// Active are open connections; Total the connections established;
	// Errors the failed connect attempts.
	Active        int64
	Total, Errors uint64
	// BytesIn were sent to the server, BytesOut to clients. They are added
	// when a connection ends (the splice path cannot count as it goes).
	BytesIn, BytesOut uint64
}

// Stats returns a snapshot, frontends in listen-address order and servers
// by name and address.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	var st Stats
	for _, f := range p.frontends {
		f.mu.Lock()
		fs := FrontendStats{
			Listen:   f.listen,
			Retiring: f.retiring,
			Accepted: f.accepted.Load(),
			Refused:  f.refused.Load(),
			Active:   int64(len(f.sessions)),
		}
		if pl := f.pool.Load(); pl != nil {
			fs.Backend = pl.backend
			fs.TLS = pl.tls != nil
			fs.TLSReady = fs.TLS && pl.tls.cfg != nil
		}
		for _, sv := range f.servers {
			sv.mu.Lock()
			state := sv.state
			sv.mu.Unlock()
			fs.Servers = append(fs.Servers, ServerStats{
				Name:     sv.key.name,
				Addr:     sv.key.addr,
				State:    state.String(),
				Active:   sv.active.Load(),
				Total:    sv.total.Load(),
				Errors:   sv.errors.Load(),
				BytesIn:  sv.bytesIn.Load(),
				BytesOut: sv.bytesOut.Load(),
			})
		}
		f.mu.Unlock()
		slices.SortFunc(fs.Servers, func(a, b ServerStats) int {
			if c := strings.Compare(a.Name, b.Name); c != 0 {
				return c
			}
			return a.Addr.Compare(b.Addr)
		})
		st.Frontends = append(st.Frontends, fs)
	}
	slices.SortFunc(st.Frontends, func(a, b FrontendStats) int {
		if c := a.Listen.Addr.Compare(b.Listen.Addr); c != 0 {
			return c
		}
		return int(a.Listen.Port) - int(b.Listen.Port)
	})
	return st
}
