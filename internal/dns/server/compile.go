package server

import (
	"encoding/binary"
	"net/netip"
	"strings"

	"github.com/signpost-dns/signpost/internal/dns/records"
)

// Resource record sizes with the owner written as a 2-byte compression
// pointer to the question (0xC00C): pointer, type, class, TTL, rdlength, rdata.
const (
	sizeA    = 2 + 10 + 4
	sizeAAAA = 2 + 10 + 16
)

// zone is a records.Table compiled for serving: every answer RRset is kept
// pre-encoded in wire form in one arena, with the owner name written as a
// pointer to the question. Because the owner is a pointer, the bytes do not
// depend on how the client spelled the name (case, "*" labels), so one copy
// serves every query and the question's case is echoed for free.
//
// A zone is immutable once built; servers swap whole zones atomically.
type zone struct {
	table  *records.Table
	domain string // lower-case, trailing dot: "mesos."
	// domainLabels is the number of labels in domain.
	domainLabels int

	// names maps every name that exists (has records, is the apex, or is an
	// empty non-terminal above a name that has records) to its node. The
	// keys are the table's own strings.
	names map[string]uint32
	nodes []node
	more  []moreSets

	arena []byte
	// offs holds, for variable-size sets (SRV, PTR), the offset of each
	// record relative to the start of its set, so rotation and truncation
	// can find record boundaries without parsing.
	offs []uint32

	// soaBody is the SOA record without its owner (type to rdata); the owner
	// is a pointer to the zone apex inside the question, so the authority
	// section SOA of a negative answer is owned by the apex (RFC 2308 §3).
	soaBody []byte
	// apexSOA and apexNS are the SOA and NS answers at the apex, owner 0xC00C.
	apexSOA []byte
	apexNS  []byte
	// nsExtra holds the A and AAAA records of the name server (SOAMname),
	// for the additional section of an NS answer; nsExtraCnt counts them.
	nsExtra    []byte
	nsExtraCnt int
}

// node is one name. Most names have only A records, so the rarer SRV and
// PTR sets live in a side table and cost a name nothing when absent.
type node struct {
	a, aaaa fixedSet
	more    uint32 // index+1 into zone.more, 0 when the name has no SRV/PTR
	flags   uint32
}

const (
	nodeApex = 1 << iota
	// nodeWalked marks names whose ancestors are known to be in the map.
	nodeWalked
)

// fixedSet is a run of same-size records (A or AAAA) in the arena: off and
// n are byte offset and byte length.
type fixedSet struct{ off, n uint32 }

// varSet is a run of variable-size records (SRV, PTR) in the arena; the
// offsets of its records, relative to off, are offs[idx : idx+cnt].
type varSet struct{ off, n, idx, cnt uint32 }

type moreSets struct {
	srv, ptr varSet
	// extra is the additional section of an SRV answer; cnt counts its
	// records, idx is unused: it is written whole or not at all.
	extra varSet
}

// compileOpts are the options that shape the wire bytes.
type compileOpts struct {
	domain                 string
	ttl                    uint32
	weight                 uint16
	mname, rname           string
	refresh, retry, expire uint32
}

// compile builds the serving form of t. It runs in Swap, off the serving
// path. It sizes one arena up front, fills one node slice and one map keyed by
// the table's own strings (no key copies), so its cost is about one map
// insert per name plus a short append per record.
func compile(t *records.Table, o *compileOpts) *zone {
	z := &zone{table: t, domain: o.domain, domainLabels: strings.Count(o.domain, ".")}

	nA, nAAAA, nVar, varBytes := 0, 0, 0, 0
	for _, v := range t.A {
		nA += len(v)
	}
	for _, v := range t.AAAA {
		nAAAA += len(v)
	}
	for _, v := range t.SRV {
		nVar += len(v)
		for _, s := range v {
			// The SRV record, plus at most one A and one AAAA per target
			// for the additional section (an upper bound: targets repeat).
			varBytes += 2 + 10 + 6 + len(s.Target) + 1
			varBytes += 2*(len(s.Target)+1) + 10 + 4 + 10 + 16
		}
	}
	for _, v := range t.PTR {
		nVar += len(v)
		for _, s := range v {
			varBytes += 2 + 10 + len(s) + 1
		}
	}
	z.arena = make([]byte, 0, nA*sizeA+nAAAA*sizeAAAA+varBytes)
	z.offs = make([]uint32, 0, nVar)
	names := len(t.A) + len(t.SRV) + len(t.PTR) + 1
	z.names = make(map[string]uint32, names+names/8)
	z.nodes = make([]node, 0, names+names/8)
	z.more = make([]moreSets, 0, len(t.SRV)+len(t.PTR))

	ttl := o.ttl
	for name, addrs := range t.A {
		start := len(z.arena)
		for _, a := range addrs {
			a = a.Unmap()
			if !a.Is4() {
				continue
			}
			b := a.As4()
			z.arena = appendRR(append(z.arena, 0xC0, 0x0C), typeA, ttl, b[:])
		}
		if len(z.arena) > start {
			z.get(name).a = fixedSet{uint32(start), uint32(len(z.arena) - start)}
		}
	}
	for name, addrs := range t.AAAA {
		start := len(z.arena)
		for _, a := range addrs {
			if !a.Is6() {
				continue
			}
			b := a.As16()
			z.arena = appendRR(append(z.arena, 0xC0, 0x0C), typeAAAA, ttl, b[:])
		}
		if len(z.arena) > start {
			z.get(name).aaaa = fixedSet{uint32(start), uint32(len(z.arena) - start)}
		}
	}
	var seen []string
	var seenMap map[string]struct{}
	for name, srvs := range t.SRV {
		start, idx := len(z.arena), len(z.offs)
		for _, s := range srvs {
			rr := len(z.arena)
			z.arena = appendRR(append(z.arena, 0xC0, 0x0C), typeSRV, ttl, nil)
			z.arena = append(z.arena, 0, 0, byte(o.weight>>8), byte(o.weight), byte(s.Port>>8), byte(s.Port))
			// RFC 2782: the target is not compressed.
			var ok bool
			if z.arena, ok = appendWireName(z.arena, s.Target); !ok {
				z.arena = z.arena[:rr]
				continue
			}
			binary.BigEndian.PutUint16(z.arena[rr+10:], uint16(len(z.arena)-rr-12))
			z.offs = append(z.offs, uint32(rr-start))
		}
		if len(z.offs) == idx {
			continue
		}
		srv := varSet{uint32(start), uint32(len(z.arena) - start), uint32(idx), uint32(len(z.offs) - idx)}
		// Additional section, as Mesos-DNS: for each distinct target one A
		// (the first of the sorted set) and one AAAA when it has any.
		xstart, xcnt := len(z.arena), 0
		seen = seen[:0]
		clear(seenMap)
		for _, s := range srvs {
			// Sets are small: a linear scan, a map only for large ones.
			if len(srvs) <= 32 {
				if contains(seen, s.Target) {
					continue
				}
				seen = append(seen, s.Target)
			} else {
				if seenMap == nil {
					seenMap = make(map[string]struct{})
				}
				if _, dup := seenMap[s.Target]; dup {
					continue
				}
				seenMap[s.Target] = struct{}{}
			}
			if a, ok := firstAddr(t.A[s.Target], true); ok {
				if z.arena, ok = appendWireName(z.arena, s.Target); ok {
					b := a.As4()
					z.arena = appendRR(z.arena, typeA, ttl, b[:])
					xcnt++
				}
			}
			if a, ok := firstAddr(t.AAAA[s.Target], false); ok {
				if z.arena, ok = appendWireName(z.arena, s.Target); ok {
					b := a.As16()
					z.arena = appendRR(z.arena, typeAAAA, ttl, b[:])
					xcnt++
				}
			}
		}
		m := z.getMore(z.get(name))
		m.srv = srv
		m.extra = varSet{off: uint32(xstart), n: uint32(len(z.arena) - xstart), cnt: uint32(xcnt)}
	}
	for name, targets := range t.PTR {
		start, idx := len(z.arena), len(z.offs)
		for _, target := range targets {
			rr := len(z.arena)
			z.arena = appendRR(append(z.arena, 0xC0, 0x0C), typePTR, ttl, nil)
			var ok bool
			if z.arena, ok = appendWireName(z.arena, target); !ok {
				z.arena = z.arena[:rr]
				continue
			}
			binary.BigEndian.PutUint16(z.arena[rr+10:], uint16(len(z.arena)-rr-12))
			z.offs = append(z.offs, uint32(rr-start))
		}
		if len(z.offs) > idx {
			z.getMore(z.get(name)).ptr = varSet{uint32(start), uint32(len(z.arena) - start), uint32(idx), uint32(len(z.offs) - idx)}
		}
	}

	// Every name in the domain makes its ancestors up to the apex exist:
	// "marathon.slave.mesos." is an empty non-terminal, NODATA rather than
	// NXDOMAIN (RFC 8020: an NXDOMAIN would deny everything below it).
	z.get(o.domain).flags |= nodeApex | nodeWalked
	nreal := len(z.nodes)
	for name, i := range z.names {
		if int(i) >= nreal || !inDomain(name, o.domain) {
			continue
		}
		for p := name; ; {
			nd := z.get(p)
			if nd.flags&nodeWalked != 0 {
				break
			}
			nd.flags |= nodeWalked
			p = p[strings.IndexByte(p, '.')+1:]
		}
	}

	// SOA and NS.
	var rd []byte
	rd, _ = appendWireName(rd, o.mname)
	rd, _ = appendWireName(rd, o.rname)
	serial := t.Serial
	// RFC 2308 §4: minimum is the negative-caching TTL; Mesos-DNS uses ttl.
	for _, v := range []uint32{serial, o.refresh, o.retry, o.expire, ttl} {
		rd = binary.BigEndian.AppendUint32(rd, v)
	}
	z.soaBody = appendRR(nil, typeSOA, ttl, rd)
	z.apexSOA = append([]byte{0xC0, 0x0C}, z.soaBody...)
	ns, _ := appendWireName(nil, o.mname)
	z.apexNS = appendRR([]byte{0xC0, 0x0C}, typeNS, ttl, ns)
	mname := strings.ToLower(o.mname)
	for _, a := range t.A[mname] {
		if a = a.Unmap(); a.Is4() {
			b := a.As4()
			z.nsExtra = appendRR(append(z.nsExtra, ns...), typeA, ttl, b[:])
			z.nsExtraCnt++
		}
	}
	for _, a := range t.AAAA[mname] {
		if a.Is6() {
			b := a.As16()
			z.nsExtra = appendRR(append(z.nsExtra, ns...), typeAAAA, ttl, b[:])
			z.nsExtraCnt++
		}
	}
	return z
}

func (z *zone) get(name string) *node {
	if i, ok := z.names[name]; ok {
		return &z.nodes[i]
	}
	z.names[name] = uint32(len(z.nodes))
	z.nodes = append(z.nodes, node{})
	return &z.nodes[len(z.nodes)-1]
}

func (z *zone) getMore(nd *node) *moreSets {
	if nd.more == 0 {
		z.more = append(z.more, moreSets{})
		nd.more = uint32(len(z.more))
	}
	return &z.more[nd.more-1]
}

// inDomain reports whether name equals domain or is below it (both
// lower-case with trailing dots).
func inDomain(name, domain string) bool {
	return len(name) >= len(domain) && name[len(name)-len(domain):] == domain &&
		(len(name) == len(domain) || name[len(name)-len(domain)-1] == '.')
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// firstAddr returns the first IPv4 (v4) or IPv6 address of v.
func firstAddr(v []netip.Addr, v4 bool) (netip.Addr, bool) {
	for _, a := range v {
		if v4 {
			if a = a.Unmap(); a.Is4() {
				return a, true
			}
		} else if a.Is6() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// appendRR appends type, class IN, TTL, rdlength and rdata; the caller has
// written the owner.
func appendRR(b []byte, typ uint16, ttl uint32, rdata []byte) []byte {
	b = append(b, byte(typ>>8), byte(typ), 0, classIN,
		byte(ttl>>24), byte(ttl>>16), byte(ttl>>8), byte(ttl), byte(len(rdata)>>8), byte(len(rdata)))
	return append(b, rdata...)
}
