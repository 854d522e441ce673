package records

import (
	"crypto/sha1"
	"strings"
)

// Label lengths and cut sets of the two label rules Mesos-DNS offers. The
// values are Mesos-DNS's, not the RFCs' own limits: RFC 952 allowed 24
// characters and a letter first, which Mesos-DNS enforces literally.
const (
	maxLabel1123 = 63
	maxLabel952  = 24
)

// Label turns s into one DNS label exactly as Mesos-DNS does (spec §3), with
// RFC 1123 rules or, when rfc952 is set, RFC 952 rules.
//
// Bytes are mapped one by one: A-Z to lower case, a-z and 0-9 kept, '-', '.'
// and '_' to '-', everything else (spaces, '/', every non-ASCII byte) dropped.
// Then the left cut set is stripped ('-', plus digits for RFC 952), the label
// is cut at the maximum length, and trailing dashes are stripped; if that
// removed anything, the label is refilled up to the cut length from the bytes
// after the cut, skipping their leading dashes. The refill is what makes
// "hello"+58×"-"+"f" become "hellof" rather than "hello"; it can itself end
// in a dash, and that is kept because Mesos-DNS keeps it (names clients know
// must keep resolving).
//
// The result may be empty.
func Label(s string, rfc952 bool) string {
	max := maxLabel1123
	if rfc952 {
		max = maxLabel952
	}
	if validLabel(s, max, rfc952) {
		return s // the common case: no allocation
	}
	mapped := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'A' && c <= 'Z':
			mapped = append(mapped, c+('a'-'A'))
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			mapped = append(mapped, c)
		case c == '-' || c == '.' || c == '_':
			mapped = append(mapped, '-')
		}
	}
	return string(trimCut(mapped, max, rfc952))
}

// validLabel reports whether s is already what Label would return for it.
func validLabel(s string, max int, rfc952 bool) bool {
	if len(s) == 0 || len(s) > max || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	if rfc952 && s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// trimCut is the cut-and-refill step of Label on an already mapped label.
func trimCut(b []byte, max int, rfc952 bool) []byte {
	i := 0
	for i < len(b) && (b[i] == '-' || rfc952 && b[i] >= '0' && b[i] <= '9') {
		i++
	}
	trim := b[i:]
	size := min(len(trim), max)
	head := size
	for head > 0 && trim[head-1] == '-' {
		head--
	}
	if head == size {
		return trim[:size]
	}
	tail := trim[size:]
	j := 0
	for j < len(tail) && tail[j] == '-' {
		j++
	}
	tail = tail[j:]
	out := make([]byte, 0, size)
	out = append(out, trim[:head]...)
	return append(out, tail[:min(len(tail), size-head)]...)
}

// DomainFragment sanitises a framework name into one or more labels: it is
// split on '.', each piece goes through Label, empty pieces are dropped and
// the rest are joined with '.'. Frameworks can thus create sub-domains
// ("marathon.prod"), as they can in Mesos-DNS.
func DomainFragment(name string, rfc952 bool) string {
	var b strings.Builder
	for piece := range strings.SplitSeq(name, ".") {
		l := Label(piece, rfc952)
		if l == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(l)
	}
	return b.String()
}

// zbase32 is the z-base-32 alphabet Mesos-DNS encodes task-id hashes in,
// chosen there for human-friendliness.
const zbase32 = "ybndrfg8ejkmcpqxot1uwisza345h769"

// HashID returns the 5-character hash Mesos-DNS puts into canonical task names:
// the first 5 z-base-32 characters (25 bits) of SHA-1(id). HashID("test") is
// "iffe9". Identical ids give identical hashes, as in Mesos-DNS.
func HashID(id string) string {
	return string(appendHash(make([]byte, 0, 5), id))
}

// appendHash appends HashID(id) to b.
func appendHash(b []byte, id string) []byte { return appendHashBytes(b, []byte(id)) }

func appendHashBytes(b []byte, id []byte) []byte {
	sum := sha1.Sum(id)
	v := uint32(sum[0])<<24 | uint32(sum[1])<<16 | uint32(sum[2])<<8 | uint32(sum[3])
	return append(b, zbase32[v>>27&31], zbase32[v>>22&31], zbase32[v>>17&31], zbase32[v>>12&31], zbase32[v>>7&31])
}

// agentTail is the last '-'-separated field of an agent id, lower-cased: the
// "<slave>" part of canonical task names ("…-S3" gives "s3").
func agentTail(id string) string {
	if i := strings.LastIndexByte(id, '-'); i >= 0 {
		id = id[i+1:]
	}
	return strings.ToLower(id)
}
