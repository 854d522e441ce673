package tcpproxy

import (
	"errors"
	"hash/fnv"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/routes"
)

// frontend is one listener and the state of the service behind it.
type frontend struct {
	p      *Proxy
	listen routes.ListenAddr
	ln     *net.TCPListener

	// pool is the backend set new connections are balanced over; Apply
	// replaces it with one store, the accept path only loads it.
	pool atomic.Pointer[pool]
	// rr is the round-robin cursor. It lives here rather than in the pool
	// so that rotation continues across Apply.
	rr atomic.Uint64

	accepted, refused atomic.Uint64

	mu       sync.Mutex
	sessions map[*session]struct{} // open client connections
	// servers holds every server that is in the table or still has open
	// connections after leaving it, so counters and drain timers survive
	// Apply; keyed by identity, not by pointer from the table.
	servers    map[serverKey]*server
	retiring   bool        // service gone from the table: refuse, then close
	retireTime *time.Timer // cuts the remaining sessions at DrainTimeout
	closed     bool        // listener closed; nothing may start
}

// pool is an immutable backend set: what one table says about a service.
type pool struct {
	backend string
	balance balance
	allowed []netip.Prefix
	// up are the servers new connections may go to (neither draining nor
	// removed), in table order; rs[i] is up[i]'s entry in the table, for
	// Options.Healthy.
	up []*server
	rs []*routes.Server
	// tls is set for a service with SSLCert: connections are TLS
	// terminated (or refused, without a certificate) before a server is
	// picked.
	tls *tlsSetup
}

type balance uint8

const (
	roundRobin balance = iota
	leastConn
	source
)

// parseBalance maps HAProxy's algorithm names. The http-only ones (uri,
// hdr(...), url_param) and unknown names fall back to roundrobin, HAProxy's
// default; "first" is approximated by roundrobin too.
func parseBalance(s string) balance {
	switch s {
	case "leastconn":
		return leastConn
	case "source":
		return source
	}
	return roundRobin
}

func newFrontend(p *Proxy, l routes.ListenAddr, ln *net.TCPListener) *frontend {
	return &frontend{
		p:        p,
		listen:   l,
		ln:       ln,
		sessions: make(map[*session]struct{}),
		servers:  make(map[serverKey]*server),
	}
}

// update installs b's servers and the TLS setup ts (nil: plain TCP): known
// servers keep their counters and open connections, those that became
// draining or disappeared start their drain timer, and the new pool is
// published atomically. Called with p.mu held.
func (f *frontend) update(b *routes.Backend, ts *tlsSetup) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.retiring {
		f.retiring = false
		if f.retireTime != nil {
			f.retireTime.Stop()
			f.retireTime = nil
		}
	}
	np := &pool{
		backend: b.Name,
		balance: parseBalance(b.Balance),
		allowed: b.AllowedNetworks,
		tls:     ts,
	}
	seen := make(map[serverKey]bool, len(b.Servers))
	for i := range b.Servers {
		rs := &b.Servers[i]
		if !rs.Addr.IsValid() {
			continue // unresolved host name: nothing to dial
		}
		k := serverKey{name: rs.Name, addr: rs.Addr}
		if seen[k] {
			continue
		}
		seen[k] = true
		sv := f.servers[k]
		if sv == nil {
			sv = &server{key: k, sessions: make(map[*session]struct{})}
			f.servers[k] = sv
		}
		st := stateUp
		if rs.Draining {
			st = stateDraining
		}
		sv.setState(st, f.p.opts.DrainTimeout)
		if st == stateUp {
			np.up = append(np.up, sv)
			np.rs = append(np.rs, rs)
		}
	}
	for k, sv := range f.servers {
		if seen[k] {
			continue
		}
		if sv.setState(stateRemoved, f.p.opts.DrainTimeout) == 0 {
			delete(f.servers, k)
		}
	}
	f.pool.Store(np)
}

// retire starts draining a frontend whose service left the table. Called
// with p.mu held.
func (f *frontend) retire() {
	f.mu.Lock()
	if f.retiring || f.closed {
		f.mu.Unlock()
		return
	}
	f.retiring = true
	idle := len(f.sessions) == 0
	if !idle {
		f.retireTime = time.AfterFunc(f.p.opts.DrainTimeout, f.cutSessions)
	}
	f.mu.Unlock()
	if idle {
		f.finishRetire()
		delete(f.p.frontends, f.listen)
	}
}

// cutSessions closes every open connection of a retiring frontend whose
// drain timeout passed; the last one to end closes the listener.
func (f *frontend) cutSessions() {
	f.mu.Lock()
	if !f.retiring {
		f.mu.Unlock()
		return
	}
	ss := make([]*session, 0, len(f.sessions))
	for s := range f.sessions {
		ss = append(ss, s)
	}
	f.mu.Unlock()
	for _, s := range ss {
		s.close()
	}
}

// finishRetire closes the listener if the frontend is still retiring and
// idle, reporting whether it did. Called with p.mu held.
func (f *frontend) finishRetire() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.retiring || len(f.sessions) != 0 || f.closed {
		return false
	}
	f.closeLocked()
	return true
}

// shutdown closes the listener and every connection now (Proxy.Close).
func (f *frontend) shutdown() {
	f.mu.Lock()
	f.closeLocked()
	ss := make([]*session, 0, len(f.sessions))
	for s := range f.sessions {
		ss = append(ss, s)
	}
	for _, sv := range f.servers {
		sv.stopTimer()
	}
	f.mu.Unlock()
	for _, s := range ss {
		s.close()
	}
}

func (f *frontend) closeLocked() {
	if f.closed {
		return
	}
	f.closed = true
	if f.retireTime != nil {
		f.retireTime.Stop()
		f.retireTime = nil
	}
	f.ln.Close()
}

func (f *frontend) isClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

func (f *frontend) acceptLoop() {
	defer f.p.wg.Done()
	var backoff time.Duration
	for {
		c, err := f.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || f.isClosed() {
				return
			}
			// EMFILE and the like: back off as net/http does instead of
			// spinning; the listener itself stays open.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			f.p.log.Warn("tcp accept failed; retrying", "listen", f.listen.String(), "err", err, "in", backoff)
			select {
			case <-time.After(backoff):
			case <-f.p.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		f.accepted.Add(1)
		f.p.wg.Add(1)
		go f.handle(c)
	}
}

// handle proxies one client connection.
func (f *frontend) handle(c *net.TCPConn) {
	defer f.p.wg.Done()
	pl := f.pool.Load()
	s := &session{client: c}
	if pl == nil || !f.addSession(s) {
		f.refused.Add(1)
		c.Close()
		return
	}
	defer f.removeSession(s)
	defer s.close()

	src := clientAddr(c)
	if !allowed(pl.allowed, src) {
		f.refused.Add(1)
		return
	}
	if pl.tls != nil {
		if pl.tls.cfg == nil {
			f.refused.Add(1) // no certificate: never in clear
			return
		}
		tc, err := f.handshake(c, pl.tls.cfg)
		if err != nil {
			f.refused.Add(1)
			f.p.log.Debug("tls handshake failed", "listen", f.listen.String(), "client", src, "err", err)
			return
		}
		s.tls = tc
		// The handshake took round trips: balance over the newest servers,
		// with the ACL they come with.
		if pl = f.pool.Load(); !allowed(pl.allowed, src) {
			f.refused.Add(1)
			return
		}
	}
	n := len(pl.up)
	start := -1
	if n > 0 {
		start = f.pick(pl, src)
	}
	if start < 0 {
		f.refused.Add(1) // no server, or none passes its health check
		return
	}
	attempts := 0
	for i := 0; i < n && attempts < f.p.opts.MaxAttempts; i++ {
		j := (start + i) % n
		if !f.healthy(pl, j) {
			continue
		}
		sv := pl.up[j]
		// attach fails when an Apply made sv draining or removed after the
		// pool was loaded: then it must not get this new connection.
		if !sv.attach(s) {
			continue
		}
		attempts++
		bc, err := f.p.dialer.DialContext(f.p.ctx, "tcp", sv.key.addr.String())
		if err != nil {
			f.detach(sv, s)
			if f.p.ctx.Err() != nil {
				return // Close: not the server's fault
			}
			sv.errors.Add(1)
			f.p.log.Info("tcp connect failed; trying the next server", "backend", pl.backend, "server", sv.key.name, "err", err)
			continue
		}
		if !s.setBackend(bc.(*net.TCPConn)) {
			f.detach(sv, s) // closed while dialling (drain timeout or Close)
			return
		}
		sv.total.Add(1)
		up, down := s.pipe()
		sv.bytesIn.Add(uint64(up))
		sv.bytesOut.Add(uint64(down))
		f.detach(sv, s)
		return
	}
	f.refused.Add(1)
}

// healthy reports whether pl.up[j] passes its active health check
// (Options.Healthy; nil means every server does).
func (f *frontend) healthy(pl *pool, j int) bool {
	h := f.p.opts.Healthy
	return h == nil || h(pl.backend, pl.rs[j])
}

// pick returns the index in pl.up where the search for a server starts, a
// server that passes its health check, or -1 when none does. Later attempts
// take the following healthy servers in table order.
func (f *frontend) pick(pl *pool, src netip.Addr) int {
	n := len(pl.up)
	switch pl.balance {
	case source:
		// The client's hash picks a server; when that one is down, the
		// next healthy one in table order takes its clients, so only the
		// down server's clients move.
		h := fnv.New32a()
		b := src.Unmap().AsSlice()
		h.Write(b)
		start := int(h.Sum32() % uint32(n))
		for i := range n {
			if j := (start + i) % n; f.healthy(pl, j) {
				return j
			}
		}
		return -1
	case leastConn:
		// Fewest active connections among healthy servers; ties are
		// broken round-robin so that idle servers share the load.
		off := int(f.rr.Add(1) % uint64(n))
		best, bestN := -1, int64(-1)
		for i := range n {
			j := (off + i) % n
			if !f.healthy(pl, j) {
				continue
			}
			if a := pl.up[j].active.Load(); bestN < 0 || a < bestN {
				best, bestN = j, a
			}
		}
		return best
	default:
		// A down server's turn is passed on by advancing the cursor again
		// (not by taking the next server), so the healthy servers keep
		// equal shares instead of the down one's successor getting two.
		for range n {
			if j := int((f.rr.Add(1) - 1) % uint64(n)); f.healthy(pl, j) {
				return j
			}
		}
		return -1
	}
}

func (f *frontend) addSession(s *session) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.retiring {
		return false
	}
	f.sessions[s] = struct{}{}
	return true
}

func (f *frontend) removeSession(s *session) {
	f.mu.Lock()
	delete(f.sessions, s)
	last := f.retiring && len(f.sessions) == 0
	f.mu.Unlock()
	if last {
		f.p.forget(f)
	}
}

// detach ends s's use of sv and drops sv once it is removed from the table
// and its last connection has ended.
func (f *frontend) detach(sv *server, s *session) {
	if !sv.detach(s) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.servers[sv.key] != sv {
		return
	}
	sv.mu.Lock()
	gone := sv.state == stateRemoved && len(sv.sessions) == 0
	sv.mu.Unlock()
	if gone {
		delete(f.servers, sv.key)
	}
}

func clientAddr(c *net.TCPConn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// allowed applies HAPROXY_{n}_BACKEND_NETWORK_ALLOWED_ACL: an empty list
// allows everyone; otherwise the client must be in one of the prefixes
// (in tcp mode a refused client is simply closed).
func allowed(nets []netip.Prefix, a netip.Addr) bool {
	if len(nets) == 0 {
		return true
	}
	for _, n := range nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}
