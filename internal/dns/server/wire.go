package server

import "encoding/binary"

// DNS wire constants used by the hand-written hot path. They are spelled out
// here instead of imported from miekg/dns so that the serving path has no
// dependency on a general-purpose message library.
const (
	headerLen = 12

	typeA      = 1
	typeNS     = 2
	typeCNAME  = 5
	typeSOA    = 6
	typePTR    = 12
	typeMX     = 15
	typeTXT    = 16
	typeAAAA   = 28
	typeSRV    = 33
	typeNAPTR  = 35
	typeDS     = 43
	typeOPT    = 41
	typeRRSIG  = 46
	typeDNSKEY = 48
	typeSVCB   = 64
	typeHTTPS  = 65
	typeIXFR   = 251
	typeAXFR   = 252
	typeANY    = 255

	classIN  = 1
	classANY = 255

	rcodeNoError  = 0
	rcodeFormErr  = 1
	rcodeServFail = 2
	rcodeNXDomain = 3
	rcodeNotImp   = 4
	rcodeRefused  = 5
	rcodeBadVers  = 16 // extended rcode, carried partly in the OPT record

	flagQR     = 0x8000
	flagOpcode = 0x7800
	flagAA     = 0x0400
	flagTC     = 0x0200
	flagRD     = 0x0100
	flagRA     = 0x0080
	flagCD     = 0x0010

	// minUDPSize is the classic limit (RFC 1035) and the floor for an EDNS
	// size (RFC 6891 §6.2.3); maxUDPSize caps what we put in one datagram,
	// whatever the client offers, to stay clear of fragmentation trouble.
	minUDPSize = 512
	maxUDPSize = 4096
	maxTCPSize = 65535

	// optLen is the size of the OPT record we add: root owner, type, class
	// (payload size), TTL (extended rcode, version, flags), empty rdata.
	optLen = 11

	maxLabels = 128 // a 255-byte name has at most 127 labels
)

// query is a parsed question, kept on the stack of the serving goroutine.
//
// key is the question name lower-cased into presentation form with a trailing
// dot ("web.marathon.mesos."), the form records.Table uses, so that the
// table's own strings can be the lookup keys (no per-name allocation at
// compile time, no allocation per query: map lookups with string(b) do not
// copy).
type query struct {
	id     uint16
	flags  uint16
	qtype  uint16
	qclass uint16
	qEnd   int // offset just past the question section

	key    [256]byte
	keyLen int

	nLabels int
	// labelKey and labelWire are the offsets of each label in key and in
	// the wire name (relative to the start of the name at offset 12).
	labelKey  [maxLabels]uint8
	labelWire [maxLabels]uint8
	// star is set when a label other than the first is exactly "*": those
	// labels are dropped from the lookup key (Mesos-DNS's ".*" stripping).
	star bool
	// dotInLabel is set when a label contains a '.' byte: such a name can
	// not be written in a table key, so it never matches anything.
	dotInLabel bool

	edns    bool
	do      bool
	version uint8
	udpSize uint16
}

// parse outcome.
const (
	parseOK = iota
	parseDrop
	parseFormErr
	parseNotImp
)

// parseQuery validates msg as a query and fills q. It never reads outside
// msg, whatever msg contains: every length is checked before use.
func parseQuery(msg []byte, q *query) int {
	if len(msg) < headerLen {
		return parseDrop
	}
	q.id = binary.BigEndian.Uint16(msg)
	q.flags = binary.BigEndian.Uint16(msg[2:])
	if q.flags&flagQR != 0 {
		// Answering responses invites reflection loops.
		return parseDrop
	}
	if q.flags&flagOpcode != 0 {
		return parseNotImp
	}
	if binary.BigEndian.Uint16(msg[4:]) != 1 {
		return parseFormErr
	}
	off := headerLen
	kl := 0
	n := 0
	q.star, q.dotInLabel = false, false
	for {
		if off >= len(msg) {
			return parseFormErr
		}
		l := int(msg[off])
		if l == 0 {
			off++
			break
		}
		// 0x40 and 0x80 are obsolete/unknown label types, 0xC0 a compression
		// pointer: a question name at offset 12 has nothing to point back to.
		if l > 63 {
			return parseFormErr
		}
		end := off + 1 + l
		// +1 for the root label that still has to follow.
		if end > len(msg) || end+1-headerLen > 255 {
			return parseFormErr
		}
		q.labelKey[n] = uint8(kl)
		q.labelWire[n] = uint8(off - headerLen)
		n++
		if l == 1 && msg[off+1] == '*' && n > 1 {
			q.star = true
		}
		for _, c := range msg[off+1 : end] {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			} else if c == '.' {
				q.dotInLabel = true
			}
			q.key[kl] = c
			kl++
		}
		q.key[kl] = '.'
		kl++
		off = end
	}
	if n == 0 {
		q.key[0] = '.'
		kl = 1
	}
	q.keyLen = kl
	q.nLabels = n
	if off+4 > len(msg) {
		return parseFormErr
	}
	q.qtype = binary.BigEndian.Uint16(msg[off:])
	q.qclass = binary.BigEndian.Uint16(msg[off+2:])
	off += 4
	q.qEnd = off

	q.edns = false
	q.do = false
	q.version = 0
	q.udpSize = 0
	an := int(binary.BigEndian.Uint16(msg[6:]))
	ns := int(binary.BigEndian.Uint16(msg[8:]))
	ar := int(binary.BigEndian.Uint16(msg[10:]))
	if an+ns+ar == 0 {
		return parseOK
	}
	// Walk the other sections only to find the OPT record; their content is
	// otherwise ignored (queries carry none in practice).
	for i := 0; i < an+ns+ar; i++ {
		rrStart := off
		var ok bool
		off, ok = skipName(msg, off)
		if !ok || off+10 > len(msg) {
			return parseFormErr
		}
		typ := binary.BigEndian.Uint16(msg[off:])
		class := binary.BigEndian.Uint16(msg[off+2:])
		ttl := binary.BigEndian.Uint32(msg[off+4:])
		rdlen := int(binary.BigEndian.Uint16(msg[off+8:]))
		off += 10 + rdlen
		if off > len(msg) {
			return parseFormErr
		}
		if typ == typeOPT && i >= an+ns {
			// RFC 6891 §6.1.1: one OPT, owned by the root.
			if q.edns || off-rdlen-10-rrStart != 1 {
				return parseFormErr
			}
			q.edns = true
			q.udpSize = class
			q.version = uint8(ttl >> 16)
			q.do = ttl&0x8000 != 0
		}
	}
	return parseOK
}

// skipName returns the offset just past the (possibly compressed) name at
// off. It does not follow pointers: a pointer ends the name.
func skipName(msg []byte, off int) (int, bool) {
	for {
		if off >= len(msg) {
			return 0, false
		}
		l := int(msg[off])
		switch {
		case l == 0:
			return off + 1, true
		case l&0xC0 == 0xC0:
			if off+2 > len(msg) {
				return 0, false
			}
			return off + 2, true
		case l > 63:
			return 0, false
		}
		off += 1 + l
	}
}

// stripStars removes every label "*" other than the first from q.key:
// Mesos-DNS answers "web.marathon.*.mesos" as "web.marathon.mesos". Only whole
// labels are removed (Mesos-DNS removed any ".*" substring, so "a.*b" became
// "ab"; that form is not kept). The label offsets are left as they were: they
// describe the wire name, which is what compression pointers refer to.
func (q *query) stripStars() {
	w := int(q.labelKey[1])
	for i := 1; i < q.nLabels; i++ {
		start := int(q.labelKey[i])
		end := q.keyLen
		if i+1 < q.nLabels {
			end = int(q.labelKey[i+1])
		}
		if end-start == 2 && q.key[start] == '*' {
			continue
		}
		w += copy(q.key[w:], q.key[start:end])
	}
	q.keyLen = w
}

// respFlags are the reply flags for q: QR, opcode, RD and CD copied (RFC 1035
// §4.1.1, RFC 4035 §3.1.6), plus the given extra bits and rcode.
func respFlags(qflags uint16, extra uint16, rcode int) uint16 {
	return flagQR | qflags&(flagOpcode|flagRD|flagCD) | extra | uint16(rcode&0xF)
}

func putHeader(b []byte, id, flags uint16, qd, an, ns, ar int) {
	binary.BigEndian.PutUint16(b[0:], id)
	binary.BigEndian.PutUint16(b[2:], flags)
	binary.BigEndian.PutUint16(b[4:], uint16(qd))
	binary.BigEndian.PutUint16(b[6:], uint16(an))
	binary.BigEndian.PutUint16(b[8:], uint16(ns))
	binary.BigEndian.PutUint16(b[10:], uint16(ar))
}

// appendOPT appends our OPT record: advertised payload size maxUDPSize, the
// upper bits of rcode, version 0, DO copied from the query (RFC 3225 §3).
func appendOPT(b []byte, rcode int, do bool) []byte {
	var fl byte
	if do {
		fl = 0x80
	}
	return append(b, 0, 0, typeOPT, maxUDPSize>>8, maxUDPSize&0xFF, byte(rcode>>4), 0, fl, 0, 0, 0)
}

// appendWireName appends the uncompressed wire form of a presentation name
// ("a.b." or "a.b"), reporting false for names that can not be encoded
// (empty or over-long labels, over 255 bytes). Escapes are not interpreted:
// table names never contain them.
func appendWireName(b []byte, name string) ([]byte, bool) {
	start := len(b)
	if name == "." || name == "" {
		return append(b, 0), true
	}
	for len(name) > 0 {
		i := 0
		for i < len(name) && name[i] != '.' {
			i++
		}
		if i == 0 || i > 63 {
			return b[:start], false
		}
		b = append(b, byte(i))
		b = append(b, name[:i]...)
		if i < len(name) {
			i++
		}
		name = name[i:]
	}
	b = append(b, 0)
	if len(b)-start > 255 {
		return b[:start], false
	}
	return b, true
}
