package server

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
)

// piece is one RRset of the answer section, written rotated: records
// r..cnt-1 then 0..r-1. A set is either pre-encoded bytes (b, with record
// offsets offs when sizes vary; rotation is then two contiguous copies) or
// an address list encoded on the fly (addrs, with header template hdr).
type piece struct {
	b     []byte   // the set's records
	offs  []uint32 // record offsets in b; nil for fixed-size records
	addrs []netip.Addr
	hdr   *[12]byte
	sz    int // record size when offs is nil
	cnt   int
	r     int
}

func (p *piece) start(j int) int {
	if p.offs == nil {
		return j * p.sz
	}
	return int(p.offs[j])
}

func (p *piece) end(j int) int {
	if p.offs == nil {
		return (j + 1) * p.sz
	}
	if j+1 < p.cnt {
		return int(p.offs[j+1])
	}
	return len(p.b)
}

// size is the byte length of the first m records in rotated order.
func (p *piece) size(m int) int {
	if p.offs == nil {
		return m * p.sz
	}
	if m == p.cnt {
		return len(p.b)
	}
	if m == 0 {
		return 0
	}
	first := min(m, p.cnt-p.r)
	n := p.end(p.r+first-1) - p.start(p.r)
	if m > first {
		n += p.end(m - first - 1)
	}
	return n
}

// fit is how many records, in rotated order, fit in budget bytes.
func (p *piece) fit(budget int) int {
	if p.offs == nil {
		return min(p.cnt, budget/p.sz)
	}
	m := 0
	for j := 0; j < p.cnt; j++ {
		k := (p.r + j) % p.cnt
		l := p.end(k) - p.start(k)
		if l > budget {
			break
		}
		budget -= l
		m++
	}
	return m
}

func (p *piece) write(w *replyWriter, m int) {
	if p.addrs != nil {
		w.b = p.writeAddrs(w.b, m)
		return
	}
	first := min(m, p.cnt-p.r)
	if first > 0 {
		w.put(p.b[p.start(p.r):p.end(p.r+first-1)])
	}
	if m > first {
		w.put(p.b[:p.end(m-first-1)])
	}
}

// writeAddrs encodes the first m addresses in rotated order.
func (p *piece) writeAddrs(dst []byte, m int) []byte {
	k := p.r
	for range m {
		dst = append(dst, p.hdr[:]...)
		if p.sz == sizeA {
			b := p.addrs[k].As4()
			dst = append(dst, b[:]...)
		} else {
			b := p.addrs[k].As16()
			dst = append(dst, b[:]...)
		}
		if k++; k == p.cnt {
			k = 0
		}
	}
	return dst
}

// plan is what one authoritative reply will contain, gathered before
// anything is written so that truncation can be decided up front.
type plan struct {
	ps    [5]piece
	np    int
	extra [2][]byte
	xcnt  [2]int
	nx    int
	// auth puts the zone's SOA in the authority section (negative answers).
	auth  bool
	rcode int
}

func (pl *plan) add(b []byte, offs []uint32, sz, cnt int) {
	if cnt == 0 {
		return
	}
	p := &pl.ps[pl.np]
	pl.np++
	p.b, p.offs, p.addrs, p.sz, p.cnt, p.r = b, offs, nil, sz, cnt, 0
	if cnt > 1 {
		// Crude load balancing, as Mesos-DNS: a random first record. The
		// runtime's per-thread generator costs a few ns and shares no
		// state between serving goroutines, unlike a per-name counter.
		p.r = int(rand.Uint32N(uint32(cnt)))
	}
}

func (pl *plan) addAddrs(as []netip.Addr, hdr *[12]byte, sz int) {
	if len(as) > 0 {
		pl.add(nil, nil, sz, len(as))
		p := &pl.ps[pl.np-1]
		p.addrs, p.hdr = as, hdr
	}
}

func (pl *plan) addVar(z *zone, s varSet) {
	if s.cnt > 0 {
		pl.add(z.arena[s.off:s.off+s.n], z.offs[s.idx:s.idx+s.cnt], 0, int(s.cnt))
	}
}

func (pl *plan) addExtra(b []byte, cnt int) {
	if cnt > 0 {
		pl.extra[pl.nx], pl.xcnt[pl.nx] = b, cnt
		pl.nx++
	}
}

// Answer is the serving hot path: it answers one query message from the
// current table into dst (reusing its capacity) and returns the reply. It
// returns forward=true, and no reply, for a name that must be forwarded
// upstream (see Forward), and neither for packets that are dropped (too
// short to carry a header, or responses). tcp selects the size limit.
//
// Answer never panics and does not allocate when dst has room for the
// reply (65535 bytes always suffice).
func (s *Server) Answer(query []byte, tcp bool, dst []byte) (reply []byte, forward bool) {
	reply, g := s.answer(query, tcp, dst, &s.shared)
	return reply, g >= 0
}

// answer is Answer with a statistics shard; it returns the index of the
// upstream group to forward to, or -1.
func (s *Server) answer(msg []byte, tcp bool, dst []byte, st *shard) ([]byte, int) {
	return s.answerGather(msg, tcp, dst, nil, st)
}

// answerGather is answer for a gathering send: when g is not nil and the
// reply includes long pre-encoded sets, the reply is g's slices (g.n > 0;
// the returned slice is then only the part in dst), else the returned
// slice as usual.
func (s *Server) answerGather(msg []byte, tcp bool, dst []byte, g *gather, st *shard) ([]byte, int) {
	if g != nil {
		g.n = 0
	}
	var q query
	switch parseQuery(msg, &q) {
	case parseDrop:
		st.dropped.Add(1)
		return nil, -1
	case parseFormErr:
		return s.headerOnly(dst, msg, rcodeFormErr, st), -1
	case parseNotImp:
		return s.headerOnly(dst, msg, rcodeNotImp, st), -1
	}
	st.qtype[qtypeIndex(q.qtype)].Add(1)
	if q.edns && q.version != 0 {
		// RFC 6891 §6.1.3: only version 0 exists.
		return s.simple(dst, msg, &q, rcodeBadVers, 0, st), -1
	}
	limit := maxTCPSize
	if !tcp {
		limit = minUDPSize
		if q.edns && q.udpSize > minUDPSize {
			limit = min(int(q.udpSize), maxUDPSize)
		}
	}

	dl := s.domainLabels
	if q.nLabels < dl || string(q.key[q.labelKey[q.nLabels-dl]:q.keyLen]) != s.domain {
		return s.notInDomain(dst, msg, &q, limit, g, st)
	}
	z := s.zone.Load()
	if z == nil {
		// Listeners open at start-up, before the first table: say "try
		// again later" rather than give a false negative answer.
		return s.simple(dst, msg, &q, rcodeServFail, 0, st), -1
	}
	if q.qclass != classIN && q.qclass != classANY {
		// The zone only has class IN data.
		return s.simple(dst, msg, &q, rcodeRefused, 0, st), -1
	}
	if q.star {
		q.stripStars()
	}
	key := q.key[:q.keyLen]
	if q.dotInLabel {
		// A label with a '.' inside can not be a table name.
		key = nil
	}
	var pl plan
	apex := string(key) == z.domain
	var ms *moreSets
	if q.qtype == typeSRV || q.qtype == typePTR || q.qtype == typeANY {
		if i, ok := z.vars[string(key)]; ok {
			ms = &z.more[i]
		}
	}
	switch q.qtype {
	case typeA:
		pl.addAddrs(z.a[string(key)], &z.aHdr, sizeA)
	case typeAAAA:
		pl.addAddrs(z.aaaa[string(key)], &z.aaaaHdr, sizeAAAA)
	case typeSRV:
		if ms != nil {
			pl.addVar(z, ms.srv)
			pl.addExtra(z.arena[ms.extra.off:ms.extra.off+ms.extra.n], int(ms.extra.cnt))
		}
	case typePTR:
		if ms != nil {
			pl.addVar(z, ms.ptr)
		}
	case typeSOA:
		if apex {
			pl.add(z.apexSOA, nil, len(z.apexSOA), 1)
		}
	case typeNS:
		if apex {
			pl.add(z.apexNS, nil, len(z.apexNS), 1)
			pl.addExtra(z.nsExtra, z.nsExtraCnt)
		}
	case typeANY:
		if apex {
			pl.add(z.apexSOA, nil, len(z.apexSOA), 1)
			pl.add(z.apexNS, nil, len(z.apexNS), 1)
			pl.addExtra(z.nsExtra, z.nsExtraCnt)
		}
		if ms != nil {
			pl.addVar(z, ms.srv)
			pl.addExtra(z.arena[ms.extra.off:ms.extra.off+ms.extra.n], int(ms.extra.cnt))
		}
		pl.addAddrs(z.a[string(key)], &z.aHdr, sizeA)
		pl.addAddrs(z.aaaa[string(key)], &z.aaaaHdr, sizeAAAA)
	case typeAXFR, typeIXFR:
		// Zone transfers are not offered over DNS (the HTTP API has
		// /v1/axfr); an empty NOERROR would read as an empty zone.
		return s.simple(dst, msg, &q, rcodeRefused, 0, st), -1
	}
	if pl.np == 0 {
		// RFC 2308: NXDOMAIN when the name does not exist, NODATA (NOERROR,
		// empty answer) when it exists without this type; both with the
		// zone's SOA in the authority section.
		pl.auth = true
		if key == nil || !z.exists(key) {
			pl.rcode = rcodeNXDomain
		}
	}
	return s.emit(dst, msg, &q, &pl, z, limit, g, st), -1
}

// notInDomain serves names outside the domain: PTR names the table has,
// otherwise forwarding (or REFUSED when there is nowhere to forward to).
func (s *Server) notInDomain(dst, msg []byte, q *query, limit int, g *gather, st *shard) ([]byte, int) {
	if q.qtype == typePTR || q.qtype == typeANY {
		if z := s.zone.Load(); z != nil && !q.dotInLabel {
			if i, ok := z.vars[string(q.key[:q.keyLen])]; ok && z.more[i].ptr.cnt > 0 {
				var pl plan
				pl.addVar(z, z.more[i].ptr)
				return s.emit(dst, msg, q, &pl, z, limit, g, st), -1
			}
		}
	}
	if g := s.matchUpstreams(q.key[:q.keyLen]); g >= 0 {
		st.forwarded.Add(1)
		return nil, g
	}
	return s.simple(dst, msg, q, rcodeRefused, 0, st), -1
}

// emit writes an authoritative reply: header, question as sent, the planned
// answer, the SOA when negative, the additional records and OPT. If the
// reply exceeds limit, the additional section goes first, then answer
// records from the tail (Mesos-DNS's order); TC is set only when answer
// records were dropped (RFC 2181 §9: not for missing additional data).
// With g not nil, long arena slices are listed in g rather than copied.
func (s *Server) emit(dst, msg []byte, q *query, pl *plan, z *zone, limit int, g *gather, st *shard) []byte {
	base := q.qEnd
	opt := 0
	if q.edns {
		opt = optLen
	}
	auth := 0
	if pl.auth {
		auth = 2 + len(z.soaBody)
	}
	var counts [5]int
	ans := 0
	for i := 0; i < pl.np; i++ {
		counts[i] = pl.ps[i].cnt
		ans += pl.ps[i].size(counts[i])
	}
	extra := 0
	for i := 0; i < pl.nx; i++ {
		extra += len(pl.extra[i])
	}
	tc := false
	if base+ans+auth+extra+opt > limit {
		extra, pl.nx = 0, 0
		if base+ans+auth+opt > limit {
			budget := max(0, limit-base-auth-opt)
			for i := 0; i < pl.np; i++ {
				p := &pl.ps[i]
				if l := p.size(p.cnt); l <= budget {
					budget -= l
					continue
				}
				tc = true
				counts[i] = p.fit(budget)
				budget -= p.size(counts[i])
				for j := i + 1; j < pl.np; j++ {
					counts[j] = 0
				}
				break
			}
			if tc {
				st.truncated.Add(1)
			}
		}
		ans = 0
		for i := 0; i < pl.np; i++ {
			ans += pl.ps[i].size(counts[i])
		}
	}
	total := base + ans + auth + extra + opt
	if cap(dst) < total {
		dst = make([]byte, 0, total)
	}
	an, ar := 0, 0
	for i := 0; i < pl.np; i++ {
		an += counts[i]
	}
	for i := 0; i < pl.nx; i++ {
		ar += pl.xcnt[i]
	}
	if q.edns {
		ar++
	}
	fl := uint16(flagAA)
	if s.opts.RecurseOn {
		fl |= flagRA
	}
	if tc && s.opts.SetTruncateBit {
		fl |= flagTC
	}
	dst = dst[:headerLen]
	putHeader(dst, q.id, respFlags(q.flags, fl, pl.rcode), 1, an, b2i(pl.auth), ar)
	w := replyWriter{b: append(dst, msg[headerLen:q.qEnd]...), g: g}
	for i := 0; i < pl.np; i++ {
		pl.ps[i].write(&w, counts[i])
	}
	if pl.auth {
		// Owner: the apex, as a pointer to its labels inside the question.
		ptr := headerLen + int(q.labelWire[q.nLabels-s.domainLabels])
		w.b = append(w.b, 0xC0|byte(ptr>>8), byte(ptr))
		w.b = append(w.b, z.soaBody...)
	}
	for i := 0; i < pl.nx; i++ {
		w.put(pl.extra[i])
	}
	if q.edns {
		w.b = appendOPT(w.b, 0, q.do)
	}
	w.finish()
	st.rcode[pl.rcode].Add(1)
	return w.b
}

// simple is a reply with the question and no records: errors, REFUSED,
// SERVFAIL, BADVERS. It is not authoritative and carries no RA.
func (s *Server) simple(dst, msg []byte, q *query, rcode int, fl uint16, st *shard) []byte {
	if cap(dst) < q.qEnd+optLen {
		dst = make([]byte, 0, q.qEnd+optLen)
	}
	dst = dst[:headerLen]
	putHeader(dst, q.id, respFlags(q.flags, fl, rcode), 1, 0, 0, b2i(q.edns))
	dst = append(dst, msg[headerLen:q.qEnd]...)
	if q.edns {
		dst = appendOPT(dst, rcode, q.do)
	}
	st.rcode[min(rcode, rcodeBadVers)].Add(1)
	return dst
}

// headerOnly answers a message whose question could not be used: FORMERR
// or NOTIMP with the header's id, opcode and RD and no sections.
func (s *Server) headerOnly(dst, msg []byte, rcode int, st *shard) []byte {
	if cap(dst) < headerLen {
		dst = make([]byte, 0, headerLen)
	}
	dst = dst[:headerLen]
	putHeader(dst, binary.BigEndian.Uint16(msg), respFlags(binary.BigEndian.Uint16(msg[2:]), 0, rcode), 0, 0, 0, 0)
	st.rcode[rcode].Add(1)
	return dst
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
