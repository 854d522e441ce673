package httpproxy

import (
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/signpost-dns/signpost/internal/lb/routes"
)

// algorithm is a backend's balance algorithm (HAProxy "balance").
type algorithm uint8

const (
	algRoundRobin algorithm = iota
	algLeastConn
	algSource
	algFirst
	algURI
	algHdr
)

// parseBalance maps HAProxy's balance line. ok is false for what is not
// understood; the caller logs that once and the backend uses roundrobin
// (HAProxy's default). "static-rr" is roundrobin without weights, which is
// what Marathon-LB servers have.
func parseBalance(v string) (alg algorithm, hdr string, whole, ok bool) {
	f := strings.Fields(strings.ToLower(v))
	if len(f) == 0 {
		return algRoundRobin, "", false, true
	}
	switch name := f[0]; {
	case name == "roundrobin" || name == "static-rr":
		return algRoundRobin, "", false, len(f) == 1
	case name == "leastconn":
		return algLeastConn, "", false, len(f) == 1
	case name == "source":
		return algSource, "", false, len(f) == 1
	case name == "first":
		return algFirst, "", false, len(f) == 1
	case name == "uri":
		// "whole" hashes the query too; "len"/"depth" are not supported.
		if len(f) == 1 {
			return algURI, "", false, true
		}
		whole := len(f) == 2 && f[1] == "whole"
		return algURI, "", whole, whole
	case strings.HasPrefix(name, "hdr(") && strings.HasSuffix(name, ")") && len(name) > 5:
		h := name[4 : len(name)-1]
		if !isToken([]byte(h)) {
			return algRoundRobin, "", false, false
		}
		// "use_domain_only" is not supported: the whole value is hashed.
		return algHdr, h, false, len(f) == 1
	}
	return algRoundRobin, "", false, false
}

// backendState is the balancing state of one backend of one generation.
// servers and rs are parallel: the long-lived server state and the
// server's entry in this generation's table (for Options.Healthy).
type backendState struct {
	b       *routes.Backend
	servers []*serverState
	rs      []*routes.Server
	alg     algorithm
	hdr     string // lower-case header name for algHdr
	whole   bool   // algURI: hash the query too
	rr      atomic.Uint32
	healthy func(backend string, s *routes.Server) bool
	// byCookie maps a sticky cookie value to its server's index.
	byCookie map[string]int
}

func newBackendState(b *routes.Backend, healthy func(string, *routes.Server) bool, log *slog.Logger) *backendState {
	bs := &backendState{b: b, healthy: healthy}
	var ok bool
	bs.alg, bs.hdr, bs.whole, ok = parseBalance(b.Balance)
	if !ok {
		log.Warn("unsupported balance algorithm; using roundrobin", "backend", b.Name, "balance", b.Balance)
	}
	if b.Sticky {
		bs.byCookie = make(map[string]int, len(b.Servers))
	}
	return bs
}

// usable reports whether server i may get a new request chosen by the
// balance algorithm: in the table, not draining, and up.
func (bs *backendState) usable(i int) bool {
	s := bs.servers[i]
	if s.draining.Load() || s.removed.Load() {
		return false
	}
	return bs.healthy == nil || bs.healthy(bs.b.Name, bs.rs[i])
}

// stickyUsable reports whether server i may get a request whose sticky
// cookie names it. Exactly the servers balancing may pick: HAProxy ignores
// the persistence cookie of a server in MAINT (Marathon-LB's "disabled"
// draining servers), and zdd.py waits for a draining server's sessions to
// end — sending cookie clients back to it would keep a deployment from
// finishing.
func (bs *backendState) stickyUsable(i int) bool { return bs.usable(i) }

func isTried(tried uint64, i int) bool { return i < 64 && tried&(1<<i) != 0 }

func markTried(tried *uint64, i int) {
	if i < 64 {
		*tried |= 1 << i
	}
}

// pick returns the index of the next server to try (-1: none), skipping servers that are not
// usable and those already tried (bit i of tried for server i, so at most
// 64 are tracked; a larger backend may retry a server, which is harmless).
// h is the request's hash for the hashing algorithms; hashed is false when
// the algorithm is not one or the request has nothing to hash (hdr without
// the header), and roundrobin is used.
func (bs *backendState) pick(tried *uint64, h uint32, hashed bool) int {
	n := len(bs.servers)
	if n == 0 {
		return -1
	}
	switch {
	case hashed:
		return bs.pickHash(tried, h)
	case bs.alg == algFirst:
		for i := range n {
			if !isTried(*tried, i) && bs.usable(i) {
				markTried(tried, i)
				return i
			}
		}
		return -1
	case bs.alg == algLeastConn:
		// Fewest requests in flight; ties are broken round-robin so that
		// idle servers share the load.
		off := int(bs.rr.Add(1)-1) % n
		bi, best := -1, int64(0)
		for j := range n {
			i := (off + j) % n
			if isTried(*tried, i) || !bs.usable(i) {
				continue
			}
			if a := bs.servers[i].active.Load(); bi < 0 || a < best {
				bi, best = i, a
			}
		}
		if bi >= 0 {
			markTried(tried, bi)
		}
		return bi
	}
	start := int(bs.rr.Add(1)-1) % n
	for j := range n {
		i := (start + j) % n
		if isTried(*tried, i) || !bs.usable(i) {
			continue
		}
		markTried(tried, i)
		return i
	}
	return -1
}

// pickHash maps h onto the servers that are usable and not yet tried
// (HAProxy's map-based hashing): the same key reaches the same server as
// long as that set does not change.
func (bs *backendState) pickHash(tried *uint64, h uint32) int {
	cnt := 0
	for i := range bs.servers {
		if !isTried(*tried, i) && bs.usable(i) {
			cnt++
		}
	}
	if cnt == 0 {
		return -1
	}
	k := int(h % uint32(cnt))
	for i := range bs.servers {
		if isTried(*tried, i) || !bs.usable(i) {
			continue
		}
		if k == 0 {
			markTried(tried, i)
			return i
		}
		k--
	}
	// A health change between the two passes: any usable server will do.
	return bs.pick(tried, 0, false)
}

// requestHash is the key of the hashing algorithms for the request on c.
func (bs *backendState) requestHash(c *clientConn) (uint32, bool) {
	switch bs.alg {
	case algSource:
		if !c.ip.IsValid() {
			return 0, false
		}
		return hashIP(c.ip), true
	case algURI:
		t := c.req.targetPath()
		if !bs.whole {
			if i := indexByte(t, '?'); i >= 0 {
				t = t[:i]
			}
		}
		return mix(fnv(t)), true
	case algHdr:
		v, ok := c.req.headerValue(bs.hdr)
		if !ok {
			return 0, false
		}
		return mix(fnv(v)), true
	}
	return 0, false
}

func hashIP(ip netip.Addr) uint32 {
	b := ip.Unmap().As16()
	return mix(fnv(b[:]))
}

// fnv is 32-bit FNV-1a.
func fnv(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}

// mix is a final avalanche (murmur3's fmix32), so that keys differing only
// in their last bytes spread over few servers too.
func mix(h uint32) uint32 {
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// headerValue returns the value of the first header named lower (a
// lower-case name), scanning the raw head; it is used only by hdr()
// balancing, so the parser does not record every header.
func (r *request) headerValue(lower string) ([]byte, bool) {
	h := r.raw[:r.hdrEnd]
	i := indexByte(h, '\n')
	for i >= 0 && i+1 < len(h) {
		h = h[i+1:]
		end := indexByte(h, '\n')
		line := h
		if end >= 0 {
			line = h[:end]
		}
		if len(line) > len(lower) && line[len(lower)] == ':' && eqFold(line[:len(lower)], lower) {
			return trimOWS(trimEOL(line[len(lower)+1:])), true
		}
		i = end
	}
	return nil, false
}

// anyRemoved reports whether an Apply removed one of the servers since
// this generation was built.
func (bs *backendState) anyRemoved() bool {
	for _, s := range bs.servers {
		if s.removed.Load() {
			return true
		}
	}
	return false
}
