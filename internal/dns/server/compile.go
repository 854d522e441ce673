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
	sizeA    = 12 + 4
	sizeAAAA = 12 + 16
)

// zone is a records.Table prepared for serving.
//
// A and AAAA records are encoded per query straight from the table's
// address lists: they are fixed-size (a 12-byte header template plus 4 or
// 16 address bytes), so writing them costs about what copying pre-encoded
// bytes would, and a table of 100k names needs no second copy.
// SRV and PTR sets are pre-encoded here, in one arena: their rdata holds
// names that would otherwise be converted per query, and an SRV answer's
// additional section needs one lookup per target. Every pre-encoded answer
// is owned by a compression pointer to the question (0xC00C), so the same
// bytes serve every spelling of the name (case, "*" labels) and echo it.
//
// Why not pre-encode A and AAAA too: that was measured first
// (BenchmarkCompile100k, 100k names, 200k A, 20k SRV names with 100k
// targets): 220-280 ms per Swap and 34 MB kept, against 70-110 ms and 15 MB
// (the table itself is 21.5 MB) for this design, while a 20-record A answer
// costs ~130 ns instead of ~90 ns and a 1-record one the same ~70 ns:
// nothing next to the ~8-10 us of system calls per UDP query. Lazy
// encoding with a cache would put synchronization on the serving path to
// save the remaining SRV work, which is needed for answers anyway.
//
// A zone is immutable once built; servers swap whole zones atomically.
type zone struct {
	table  *records.Table
	domain string // lower-case, trailing dot: "mesos."

	// a and aaaa are the table's maps, or cleaned copies when the table
	// filed an address under the wrong family.
	a, aaaa map[string][]netip.Addr
	// vars maps SRV and PTR names to their pre-encoded sets.
	vars map[string]uint32
	more []moreSets
	// ents holds the empty non-terminals: ancestors (below the apex) of
	// names with records. They exist, so they are NODATA, not NXDOMAIN
	// (RFC 8020: an NXDOMAIN would deny the whole subtree).
	ents map[string]struct{}

	arena []byte
	// offs holds the offset of each record of a variable-size set relative
	// to the start of the set, so that rotation and truncation can find
	// record boundaries without parsing.
	offs []uint32

	// aHdr and aaaaHdr are the record header templates: pointer to the
	// question, type, class IN, TTL, rdlength.
	aHdr, aaaaHdr [12]byte

	// soaBody is the SOA record without its owner (type to rdata); the owner
	// is a pointer to the apex inside the question, so the authority-section
	// SOA of a negative answer is owned by the apex (RFC 2308 §3).
	soaBody []byte
	// apexSOA and apexNS are the SOA and NS answers at the apex, owner 0xC00C.
	apexSOA []byte
	apexNS  []byte
	// nsExtra holds the A and AAAA records of the name server (SOAMname),
	// for the additional section of an NS answer; nsExtraCnt counts them.
	nsExtra    []byte
	nsExtraCnt int
}

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

// compile prepares t for serving. It runs in Swap, off the serving path.
// Its cost is proportional to the SRV and PTR records (encoded into one
// arena sized up front) plus one pass over the names for the empty
// non-terminals; A and AAAA records cost nothing here.
//
// p, when not nil, is stepped once per name, so that a long compile lets
// the UDP readers run (see Yield).
func compile(t *records.Table, o *compileOpts, p *pacer) *zone {
	ttl := o.ttl
	z := &zone{
		table: t, domain: o.domain,
		a: cleanAddrs(t.A, true, p), aaaa: cleanAddrs(t.AAAA, false, p),
		aHdr:    rrHeader(typeA, ttl, 4),
		aaaaHdr: rrHeader(typeAAAA, ttl, 16),
	}

	// Size the arena: SRV records exactly, additional records per distinct
	// target assuming an A (and an AAAA only if the table has any), which is
	// tight for ordinary tables; append still grows it if that is short.
	nVar, varBytes := 0, 0
	var seen []string
	var seenMap map[string]struct{}
	distinct := func(srvs []records.SRV, s records.SRV) bool {
		// Sets are small: a linear scan, a map only for large ones.
		if len(srvs) <= 32 {
			if contains(seen, s.Target) {
				return false
			}
			seen = append(seen, s.Target)
			return true
		}
		if seenMap == nil {
			seenMap = make(map[string]struct{})
		}
		if _, dup := seenMap[s.Target]; dup {
			return false
		}
		seenMap[s.Target] = struct{}{}
		return true
	}
	for _, v := range t.SRV {
		p.step()
		nVar += len(v)
		seen = seen[:0]
		clear(seenMap)
		for _, s := range v {
			varBytes += 2 + 10 + 6 + len(s.Target) + 1
			if distinct(v, s) {
				varBytes += len(s.Target) + 1 + sizeA - 2
				if len(z.aaaa) > 0 {
					varBytes += len(s.Target) + 1 + sizeAAAA - 2
				}
			}
		}
	}
	for _, v := range t.PTR {
		nVar += len(v)
		for _, s := range v {
			varBytes += 2 + 10 + len(s) + 1
		}
	}
	z.arena = make([]byte, 0, varBytes)
	z.offs = make([]uint32, 0, nVar)
	z.vars = make(map[string]uint32, mapHint(len(t.SRV)+len(t.PTR), p != nil))
	z.more = make([]moreSets, 0, len(t.SRV)+len(t.PTR))
	getMore := func(name string) *moreSets {
		i, ok := z.vars[name]
		if !ok {
			i = uint32(len(z.more))
			z.vars[name] = i
			z.more = append(z.more, moreSets{})
		}
		return &z.more[i]
	}

	var targets [][2]uint32 // wire target of each SRV record in the arena
	for name, srvs := range t.SRV {
		p.step()
		start, idx := len(z.arena), len(z.offs)
		targets = targets[:0]
		for _, s := range srvs {
			rr := len(z.arena)
			z.arena = appendRR(append(z.arena, 0xC0, 0x0C), typeSRV, ttl, nil)
			z.arena = append(z.arena, 0, 0, byte(o.weight>>8), byte(o.weight), byte(s.Port>>8), byte(s.Port))
			// RFC 2782: the target is not compressed.
			var ok bool
			if z.arena, ok = appendWireName(z.arena, s.Target); !ok {
				z.arena = z.arena[:rr]
				targets = append(targets, [2]uint32{})
				continue
			}
			binary.BigEndian.PutUint16(z.arena[rr+10:], uint16(len(z.arena)-rr-12))
			z.offs = append(z.offs, uint32(rr-start))
			targets = append(targets, [2]uint32{uint32(rr + 18), uint32(len(z.arena))})
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
		for j, s := range srvs {
			tw := targets[j]
			if tw[1] == 0 || !distinct(srvs, s) {
				continue
			}
			if as := z.a[s.Target]; len(as) > 0 {
				b := as[0].As4()
				z.arena = appendRR(append(z.arena, z.arena[tw[0]:tw[1]]...), typeA, ttl, b[:])
				xcnt++
			}
			if as := z.aaaa[s.Target]; len(as) > 0 {
				b := as[0].As16()
				z.arena = appendRR(append(z.arena, z.arena[tw[0]:tw[1]]...), typeAAAA, ttl, b[:])
				xcnt++
			}
		}
		m := getMore(name)
		m.srv = srv
		m.extra = varSet{off: uint32(xstart), n: uint32(len(z.arena) - xstart), cnt: uint32(xcnt)}
	}
	for name, targets := range t.PTR {
		p.step()
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
			getMore(name).ptr = varSet{uint32(start), uint32(len(z.arena) - start), uint32(idx), uint32(len(z.offs) - idx)}
		}
	}

	// The size estimate counted every target's additional records; give
	// back the unused tail rather than keep it for the zone's lifetime.
	if cap(z.arena) > len(z.arena)+len(z.arena)/8 {
		z.arena = append(make([]byte, 0, len(z.arena)), z.arena...)
	}

	// Empty non-terminals: walk up from every name to the apex, stopping at
	// the first ancestor already known (siblings share their ancestors, so
	// this is about one small-map lookup per name).
	z.ents = map[string]struct{}{}
	for _, m := range []map[string][]netip.Addr{z.a, z.aaaa} {
		for name := range m {
			p.step()
			z.addAncestors(name)
		}
	}
	for name := range t.SRV {
		p.step()
		z.addAncestors(name)
	}

	// SOA and NS.
	var rd []byte
	rd, _ = appendWireName(rd, o.mname)
	rd, _ = appendWireName(rd, o.rname)
	// RFC 2308 §4: minimum is the negative-caching TTL; Mesos-DNS uses ttl.
	for _, v := range []uint32{t.Serial, o.refresh, o.retry, o.expire, ttl} {
		rd = binary.BigEndian.AppendUint32(rd, v)
	}
	z.soaBody = appendRR(nil, typeSOA, ttl, rd)
	z.apexSOA = append([]byte{0xC0, 0x0C}, z.soaBody...)
	ns, _ := appendWireName(nil, o.mname)
	z.apexNS = appendRR([]byte{0xC0, 0x0C}, typeNS, ttl, ns)
	for _, a := range z.a[o.mname] {
		b := a.As4()
		z.nsExtra = appendRR(append(z.nsExtra, ns...), typeA, ttl, b[:])
		z.nsExtraCnt++
	}
	for _, a := range z.aaaa[o.mname] {
		b := a.As16()
		z.nsExtra = appendRR(append(z.nsExtra, ns...), typeAAAA, ttl, b[:])
		z.nsExtraCnt++
	}
	return z
}

func (z *zone) addAncestors(name string) {
	if !inDomain(name, z.domain) {
		return
	}
	for p := name; ; {
		p = p[strings.IndexByte(p, '.')+1:]
		if len(p) <= len(z.domain) {
			return
		}
		if _, ok := z.ents[p]; ok {
			return
		}
		z.ents[p] = struct{}{}
	}
}

// exists reports whether key (a lower-case FQDN in the domain) is the apex,
// has records, or is an empty non-terminal.
func (z *zone) exists(key []byte) bool {
	if string(key) == z.domain || len(z.a[string(key)]) > 0 || len(z.aaaa[string(key)]) > 0 {
		return true
	}
	if i, ok := z.vars[string(key)]; ok && z.more[i].srv.cnt > 0 {
		return true
	}
	_, ok := z.ents[string(key)]
	return ok
}

// cleanAddrs returns m itself when every list holds only addresses of the
// wanted family (the records.Table contract), else a copy without the
// strays (IPv4-mapped IPv6 addresses count as IPv4), so that the serving
// path never has to check.
func cleanAddrs(m map[string][]netip.Addr, v4 bool, p *pacer) map[string][]netip.Addr {
	ok := func(a netip.Addr) bool { return a.Is4() == v4 && a.IsValid() && (v4 || !a.Is4In6()) }
	clean := true
	for _, as := range m {
		p.step()
		for _, a := range as {
			if !ok(a) {
				clean = false
				break
			}
		}
	}
	if clean {
		return m
	}
	out := make(map[string][]netip.Addr, mapHint(len(m), p != nil))
	for name, as := range m {
		var keep []netip.Addr
		for _, a := range as {
			if v4 && a.Is4In6() {
				a = a.Unmap()
			}
			if ok(a) {
				keep = append(keep, a)
			}
		}
		if len(keep) > 0 {
			out[name] = keep
		}
	}
	return out
}

// rrHeader is the header of a record owned by the question: pointer, type,
// class IN, TTL, rdlength.
func rrHeader(typ uint16, ttl uint32, rdlen int) (h [12]byte) {
	copy(h[:], appendRR([]byte{0xC0, 0x0C}, typ, ttl, nil))
	binary.BigEndian.PutUint16(h[10:], uint16(rdlen))
	return h
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

// appendRR appends type, class IN, TTL, rdlength and rdata; the caller has
// written the owner.
func appendRR(b []byte, typ uint16, ttl uint32, rdata []byte) []byte {
	b = append(b, byte(typ>>8), byte(typ), 0, classIN,
		byte(ttl>>24), byte(ttl>>16), byte(ttl>>8), byte(ttl), byte(len(rdata)>>8), byte(len(rdata)))
	return append(b, rdata...)
}
