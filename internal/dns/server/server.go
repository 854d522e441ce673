// Package server is Signpost's DNS server: a drop-in replacement for
// Mesos-DNS's, authoritative for the Mesos domain and forwarding everything
// else, with deliberate RFC fixes where Mesos-DNS is non-compliant.
//
// The serving path does not use a general DNS library: system calls, not
// answering, are what a UDP DNS server spends its time on, and a message
// library's per-query objects cost more than the answer itself. Swap
// prepares a records.Table once (SRV and PTR sets pre-encoded in wire form,
// empty non-terminals found; see compile), and Answer parses the header and
// question by hand, does one map lookup and copies bytes: no message
// objects, no name compression work, no allocation. UDP is read and written
// in batches (recvmmsg/sendmmsg; on Linux raw non-blocking calls with
// gathered replies, see udp_linux.go and gather.go). Swap's compile yields
// to the UDP readers (see Yield). miekg/dns is used only on a slow path
// (trimming an oversized upstream reply) and in tests.
//
// Forwarded queries run in their own goroutines, at most MaxForwarding at
// a time, so a slow or dead upstream never delays authoritative answers.
//
// Behaviour differences from Mesos-DNS, all deliberate (RFC 1034/2181/2308/
// 6891/8020 compliance) and covered by tests:
//   - SOA and NS queries at the apex are answered in the ANSWER section
//     (owner = the apex, NS -> SOAMname with its addresses as additional
//     data); at other names they get NODATA (the name exists) or NXDOMAIN,
//     with the SOA in AUTHORITY, like every other type.
//   - A missing SRV name is NXDOMAIN with the SOA; an existing name without
//     SRV records is NODATA with the SOA (Mesos-DNS: empty NOERROR, no SOA).
//   - The SOA of a negative answer is owned by the zone apex (RFC 2308 §3),
//     once (Mesos-DNS: owned by the question name, twice for ANY).
//   - Owner names echo the question as sent, case preserved (RFC 1034
//     §3.1, 4343): answers are owned by a compression pointer to the question.
//   - Names that only have descendants (empty non-terminals such as
//     "marathon.slave.mesos.") and the apex itself are NODATA, not NXDOMAIN
//     (RFC 8020: an NXDOMAIN denies the whole subtree).
//   - EDNS0 (RFC 6891): a query with an OPT gets an OPT back (DO copied),
//     the UDP limit is the client's size capped at 4096 (at least 512),
//     unknown EDNS versions get BADVERS.
//   - TC is set only when answer records had to be dropped, not when only
//     the additional section was (RFC 2181 §9).
//   - SRV targets are not compressed (RFC 2782).
//   - Only whole "*" labels are stripped from the lookup key.
//   - Queries of a class other than IN or ANY, and AXFR/IXFR, get REFUSED.
//   - Until the first table is swapped in, in-domain queries get SERVFAIL
//     (Mesos-DNS keeps its ports closed until then).
//   - PTR names present in the table are answered; other reverse names are
//     forwarded.
package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signpost-dns/signpost/internal/dns/records"
)

// Options configure a Server. Field names follow Mesos-DNS's config.json
// keys (see the spec, §7).
type Options struct {
	// Domain is the authoritative zone, "mesos" or "mesos." (any case).
	Domain string
	// TTL is the TTL of every record and the SOA minimum (Mesos-DNS
	// ignores SOAMinttl and so does Signpost).
	TTL uint32
	// SRVWeight is the weight of every SRV record (srvRecordDefaultWeight).
	SRVWeight uint16
	// SOAMname and SOARname default to "ns1.<domain>." and
	// "root.ns1.<domain>."; an '@' in SOARname becomes '.'.
	SOAMname, SOARname string
	// SOARefresh, SOARetry and SOAExpire default to 60, 600 and 86400
	// when zero.
	SOARefresh, SOARetry, SOAExpire uint32
	// RecurseOn sets RA on authoritative replies.
	RecurseOn bool
	// SetTruncateBit sets TC on truncated replies. Mesos-DNS's default is
	// true; false exists only for clients that mishandle TC.
	SetTruncateBit bool
	// ExternalOn enables forwarding of names outside Domain; when false,
	// or when no resolver serves a name, such queries get REFUSED.
	ExternalOn bool
	// Resolvers ("ip" or "ip:port", port 53 by default) serve names not
	// matched by ZoneResolvers; they are tried in order.
	Resolvers []string
	// ZoneResolvers maps zones to their own resolvers (longest zone wins,
	// case-insensitive). A zone may not be Domain or below it.
	ZoneResolvers map[string][]string
	// Timeout bounds each attempt at one upstream (dial, write, read);
	// default 5s.
	Timeout time.Duration
	// Logger receives errors and slow-path events; nil discards them.
	Logger *slog.Logger

	// UDPReaders is the number of UDP sockets (SO_REUSEPORT, one reading
	// goroutine each) ListenAndServe opens; default GOMAXPROCS.
	UDPReaders int
	// TCPIdleTimeout closes TCP connections idle that long; default 10s.
	TCPIdleTimeout time.Duration
	// MaxTCPConns bounds open TCP connections; default 1024. Extra ones
	// are closed at once.
	MaxTCPConns int
	// MaxForwarding bounds forwarded queries in flight (one goroutine
	// each); default 1024. Beyond it queries get SERVFAIL at once, so a
	// dead upstream can not pile up goroutines or memory.
	MaxForwarding int
}

// Server answers DNS queries from the last table given to Swap.
type Server struct {
	opts         Options
	domain       string // lower-case FQDN
	domainLabels int
	copts        compileOpts

	zone   atomic.Pointer[zone]
	swapMu sync.Mutex

	groups []upstreamGroup
	fwdSem chan struct{}

	shared   shard // Answer's counters (tests, fuzzing, embedders)
	fwdShard shard // counters of relayed replies
	shardsMu sync.Mutex
	shards   []*shard

	readersMu sync.Mutex
	readers   readers // sockets of the running UDP readers, for Yield
	noYield   bool    // tests: Swap does not yield (the control case)

	upstreamFailures atomic.Uint64
	forwardFailures  atomic.Uint64
	forwardOverflow  atomic.Uint64

	log *slog.Logger
}

// upstreamGroup is the resolvers of one zone; zone "" is the default.
type upstreamGroup struct {
	zone  string
	addrs []string
}

// New validates opts and returns a Server with no table: it answers
// in-domain queries with SERVFAIL until the first Swap.
func New(opts Options) (*Server, error) {
	d, err := fqdn(opts.Domain)
	if err != nil || d == "." {
		return nil, fmt.Errorf("dns server: invalid domain %q", opts.Domain)
	}
	if strings.Contains(d, "*") {
		return nil, fmt.Errorf("dns server: invalid domain %q", opts.Domain)
	}
	if opts.SOAMname == "" {
		opts.SOAMname = "ns1." + d
	}
	if opts.SOARname == "" {
		opts.SOARname = "root.ns1." + d
	}
	opts.SOARname = strings.ReplaceAll(opts.SOARname, "@", ".")
	for _, p := range []*string{&opts.SOAMname, &opts.SOARname} {
		if *p, err = fqdn(*p); err != nil {
			return nil, fmt.Errorf("dns server: %w", err)
		}
	}
	setDefault(&opts.SOARefresh, 60)
	setDefault(&opts.SOARetry, 600)
	setDefault(&opts.SOAExpire, 86400)
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.TCPIdleTimeout <= 0 {
		opts.TCPIdleTimeout = 10 * time.Second
	}
	if opts.MaxTCPConns <= 0 {
		opts.MaxTCPConns = 1024
	}
	if opts.MaxForwarding <= 0 {
		opts.MaxForwarding = 1024
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:         opts,
		domain:       d,
		domainLabels: strings.Count(d, "."),
		copts: compileOpts{
			domain: d, ttl: opts.TTL, weight: opts.SRVWeight,
			mname: opts.SOAMname, rname: opts.SOARname,
			refresh: opts.SOARefresh, retry: opts.SOARetry, expire: opts.SOAExpire,
		},
		fwdSem: make(chan struct{}, opts.MaxForwarding),
		log:    opts.Logger,
	}
	if opts.ExternalOn {
		for zn, rs := range opts.ZoneResolvers {
			z, err := fqdn(zn)
			if err != nil {
				return nil, fmt.Errorf("dns server: zone %q: %w", zn, err)
			}
			if inDomain(z, d) {
				return nil, fmt.Errorf("dns server: zone %q is inside the authoritative domain %q", zn, d)
			}
			addrs, err := normalizeResolvers(rs)
			if err != nil {
				return nil, fmt.Errorf("dns server: zone %q: %w", zn, err)
			}
			if len(addrs) == 0 {
				return nil, fmt.Errorf("dns server: zone %q has no resolvers", zn)
			}
			s.groups = append(s.groups, upstreamGroup{zone: z, addrs: addrs})
		}
		// Longest zone first, so the first match is the longest match.
		sort.Slice(s.groups, func(i, j int) bool {
			if len(s.groups[i].zone) != len(s.groups[j].zone) {
				return len(s.groups[i].zone) > len(s.groups[j].zone)
			}
			return s.groups[i].zone < s.groups[j].zone
		})
		addrs, err := normalizeResolvers(opts.Resolvers)
		if err != nil {
			return nil, fmt.Errorf("dns server: %w", err)
		}
		if len(addrs) > 0 {
			s.groups = append(s.groups, upstreamGroup{addrs: addrs})
		}
	}
	return s, nil
}

func setDefault(p *uint32, v uint32) {
	if *p == 0 {
		*p = v
	}
}

// fqdn lower-cases name and adds the trailing dot, checking it encodes.
func fqdn(name string) (string, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" {
		return "", errors.New("empty name")
	}
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	if _, ok := appendWireName(nil, name); !ok {
		return "", fmt.Errorf("invalid name %q", name)
	}
	return name, nil
}

// normalizeResolvers turns "ip" and "ip:port" into "ip:port" (port 53).
func normalizeResolvers(rs []string) ([]string, error) {
	var out []string
	for _, r := range rs {
		r = strings.TrimSpace(r)
		if a, err := netip.ParseAddr(r); err == nil {
			out = append(out, netip.AddrPortFrom(a, 53).String())
			continue
		}
		if _, err := netip.ParseAddrPort(r); err != nil {
			return nil, fmt.Errorf("invalid resolver %q: want ip or ip:port", r)
		}
		out = append(out, r)
	}
	return out, nil
}

// Swap compiles t and makes it the served table. Compilation happens before
// the atomic store, so queries keep being answered from the previous table
// meanwhile; Swap calls are serialized. A nil t is ignored. The compile
// calls Yield as it goes, so that it does not hold up the UDP readers.
func (s *Server) Swap(t *records.Table) {
	if t == nil {
		return
	}
	s.swapMu.Lock()
	defer s.swapMu.Unlock()
	start := time.Now()
	z := compile(t, &s.copts, s.newPacer())
	s.zone.Store(z)
	s.log.Debug("dns table swapped", "srv_ptr_names", len(z.vars), "bytes", len(z.arena), "took", time.Since(start))
}

// Ready reports whether a table has been swapped in.
func (s *Server) Ready() bool { return s.zone.Load() != nil }

// Table returns the table being served, nil before the first Swap.
func (s *Server) Table() *records.Table {
	if z := s.zone.Load(); z != nil {
		return z.table
	}
	return nil
}

// matchUpstreams returns the group serving key (a lower-case FQDN), or -1.
func (s *Server) matchUpstreams(key []byte) int {
	for i := range s.groups {
		z := s.groups[i].zone
		if z == "" || z == "." {
			return i
		}
		if len(key) >= len(z) && string(key[len(key)-len(z):]) == z &&
			(len(key) == len(z) || key[len(key)-len(z)-1] == '.') {
			return i
		}
	}
	return -1
}
