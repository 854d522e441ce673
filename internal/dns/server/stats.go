package server

import "sync/atomic"

// Query types counted separately; everything else is "OTHER".
var qtypeNames = [...]string{"OTHER", "A", "NS", "CNAME", "SOA", "PTR", "MX", "TXT", "AAAA", "SRV",
	"NAPTR", "DS", "RRSIG", "DNSKEY", "SVCB", "HTTPS", "IXFR", "AXFR", "ANY"}

var qtypeSlot = func() (m [256]uint8) {
	for i, t := range [...]uint16{0, typeA, typeNS, typeCNAME, typeSOA, typePTR, typeMX, typeTXT, typeAAAA, typeSRV,
		typeNAPTR, typeDS, typeRRSIG, typeDNSKEY, typeSVCB, typeHTTPS, typeIXFR, typeAXFR, typeANY} {
		m[t] = uint8(i)
	}
	return m
}()

func qtypeIndex(t uint16) int {
	if t >= 256 {
		return 0
	}
	return int(qtypeSlot[t])
}

// rcodeNames index by rcode; index 16 is BADVERS.
var rcodeNames = [...]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN",
	"YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "RCODE11", "RCODE12", "RCODE13", "RCODE14", "RCODE15", "BADVERS"}

// shard is one serving goroutine's counters. Each UDP reader owns one, so
// counting is an uncontended atomic add on a cache line nobody else writes;
// Stats sums the shards. Atomics (not plain adds) keep Stats race-free.
type shard struct {
	qtype     [len(qtypeNames)]atomic.Uint64
	rcode     [len(rcodeNames)]atomic.Uint64
	truncated atomic.Uint64
	dropped   atomic.Uint64
	forwarded atomic.Uint64
	_         [64]byte // keep the next shard off this cache line
}

// StatsSnapshot is a point-in-time copy of the server's counters, for the
// HTTP layer to export. Counters only grow.
type StatsSnapshot struct {
	// Queries counts parsed queries by question type ("A", "SRV", ...,
	// "OTHER"), forwarded ones included.
	Queries map[string]uint64
	// Rcodes counts replies sent by rcode ("NOERROR", "NXDOMAIN", ...),
	// relayed upstream replies included.
	Rcodes map[string]uint64
	// Forwarded counts queries handed to the forwarder.
	Forwarded uint64
	// UpstreamFailures counts failed attempts at one upstream (timeout,
	// refused, bad reply); ForwardFailures counts queries answered SERVFAIL
	// because every upstream failed; ForwardOverflow counts queries answered
	// SERVFAIL at once because the in-flight forwarding bound was reached.
	UpstreamFailures uint64
	ForwardFailures  uint64
	ForwardOverflow  uint64
	// Truncated counts replies that lost answer records to the size limit.
	Truncated uint64
	// Dropped counts packets not answered at all (no header, responses).
	Dropped uint64
}

func (s *Server) newShard() *shard {
	sh := new(shard)
	s.shardsMu.Lock()
	s.shards = append(s.shards, sh)
	s.shardsMu.Unlock()
	return sh
}

// Stats returns the current counters. It reads atomics only and never
// blocks the serving path.
func (s *Server) Stats() StatsSnapshot {
	snap := StatsSnapshot{Queries: map[string]uint64{}, Rcodes: map[string]uint64{}}
	s.shardsMu.Lock()
	shards := append([]*shard{&s.shared, &s.fwdShard}, s.shards...)
	s.shardsMu.Unlock()
	for _, sh := range shards {
		for i := range sh.qtype {
			if v := sh.qtype[i].Load(); v > 0 {
				snap.Queries[qtypeNames[i]] += v
			}
		}
		for i := range sh.rcode {
			if v := sh.rcode[i].Load(); v > 0 {
				snap.Rcodes[rcodeNames[i]] += v
			}
		}
		snap.Truncated += sh.truncated.Load()
		snap.Dropped += sh.dropped.Load()
		snap.Forwarded += sh.forwarded.Load()
	}
	snap.UpstreamFailures = s.upstreamFailures.Load()
	snap.ForwardFailures = s.forwardFailures.Load()
	snap.ForwardOverflow = s.forwardOverflow.Load()
	return snap
}
