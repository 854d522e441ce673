package server

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/internal/dns/records"
)

// testTable is a small zone exercising every rule.
func testTable() *records.Table {
	a := func(ss ...string) []netip.Addr {
		var out []netip.Addr
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out
	}
	var big []netip.Addr
	for i := 1; i <= 40; i++ {
		big = append(big, netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}))
	}
	var manySRV []records.SRV
	for i := 0; i < 80; i++ {
		manySRV = append(manySRV, records.SRV{Target: fmt.Sprintf("task-%02d.marathon.slave.mesos.", i), Port: uint16(31000 + i)})
	}
	tb := &records.Table{
		Domain: "mesos.",
		A: map[string][]netip.Addr{
			"web.marathon.mesos.":      a("10.0.0.1", "10.0.0.2", "10.0.0.3"),
			"big.marathon.mesos.":      big,
			"ns1.mesos.":               a("127.0.0.1"),
			"t1.marathon.slave.mesos.": a("10.2.0.1", "10.2.0.2"),
			"t2.marathon.slave.mesos.": a("10.2.0.3"),
		},
		AAAA: map[string][]netip.Addr{
			"web.marathon.mesos.":      a("2001:db8::1"),
			"t1.marathon.slave.mesos.": a("2001:db8::2"),
			"ns1.mesos.":               a("::1"),
		},
		SRV: map[string][]records.SRV{
			"_web._tcp.marathon.mesos.": {
				{Target: "t1.marathon.slave.mesos.", Port: 31000},
				{Target: "t1.marathon.slave.mesos.", Port: 31001},
				{Target: "t2.marathon.slave.mesos.", Port: 31002},
				{Target: "t3.marathon.slave.mesos.", Port: 31003},
			},
			"_many._tcp.marathon.mesos.": manySRV,
		},
		PTR: map[string][]string{
			"1.0.0.10.in-addr.arpa.": {"web.marathon.mesos."},
		},
		Serial: 1234,
	}
	for i := 0; i < 80; i++ {
		tb.A[fmt.Sprintf("task-%02d.marathon.slave.mesos.", i)] = a(fmt.Sprintf("10.3.0.%d", i+1))
	}
	return tb
}

func testServer(t testing.TB, mod func(*Options)) *Server {
	o := defaultOpts()
	o.TTL = 7
	o.SRVWeight = 3
	if mod != nil {
		mod(&o)
	}
	return newServer(t, o, testTable())
}

func withEDNS(m *dns.Msg, size uint16, do bool) *dns.Msg {
	m.SetEdns0(size, do)
	return m
}

func soaOf(t *testing.T, rrs []dns.RR) *dns.SOA {
	t.Helper()
	var soa *dns.SOA
	for _, rr := range rrs {
		if s, ok := rr.(*dns.SOA); ok {
			if soa != nil {
				t.Fatalf("duplicate SOA in %v", rrs)
			}
			soa = s
		}
	}
	return soa
}

// checkNegative asserts an RFC 2308 negative answer: rcode, empty answer,
// exactly one SOA in AUTHORITY, owned by the apex, minimum = TTL.
func checkNegative(t *testing.T, r *dns.Msg, rcode int) {
	t.Helper()
	if r.Rcode != rcode || len(r.Answer) != 0 {
		t.Fatalf("rcode %s answer %v, want %s and no answer", dns.RcodeToString[r.Rcode], r.Answer, dns.RcodeToString[rcode])
	}
	if len(r.Ns) != 1 {
		t.Fatalf("authority %v, want exactly the SOA", r.Ns)
	}
	soa := soaOf(t, r.Ns)
	if soa == nil || soa.Hdr.Name != "mesos." || soa.Minttl != 7 || soa.Hdr.Ttl != 7 || soa.Serial != 1234 ||
		soa.Ns != "ns1.mesos." || soa.Mbox != "root.ns1.mesos." || soa.Refresh != 60 || soa.Retry != 600 || soa.Expire != 86400 {
		t.Fatalf("SOA %v", r.Ns)
	}
}

func answerSet(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		out = append(out, rrText(rr))
	}
	slices.Sort(out)
	return out
}

func TestHeader(t *testing.T) {
	for _, recurse := range []bool{false, true} {
		s := testServer(t, func(o *Options) { o.RecurseOn = recurse })
		for _, rd := range []bool{false, true} {
			m := q("web.marathon.mesos", dns.TypeA)
			m.Id = 0xBEEF
			m.RecursionDesired = rd
			m.CheckingDisabled = true
			r := exchange(t, s, m, false)
			if !r.Response || !r.Authoritative || r.RecursionAvailable != recurse || r.RecursionDesired != rd ||
				r.Opcode != dns.OpcodeQuery || r.Id != 0xBEEF || !r.CheckingDisabled || r.Truncated || r.Zero {
				t.Errorf("recurse %v rd %v: header %+v", recurse, rd, r.MsgHdr)
			}
		}
	}
}

func TestPositive(t *testing.T) {
	s := testServer(t, nil)
	t.Run("A", func(t *testing.T) {
		r := exchange(t, s, q("web.marathon.mesos", dns.TypeA), false)
		want := []string{
			"web.marathon.mesos. 7 IN A 10.0.0.1", "web.marathon.mesos. 7 IN A 10.0.0.2", "web.marathon.mesos. 7 IN A 10.0.0.3",
		}
		if got := answerSet(r); !slices.Equal(got, want) || r.Rcode != 0 || len(r.Ns) != 0 || len(r.Extra) != 0 {
			t.Fatalf("got %v / %v / %v", got, r.Ns, r.Extra)
		}
	})
	t.Run("AAAA", func(t *testing.T) {
		r := exchange(t, s, q("web.marathon.mesos", dns.TypeAAAA), false)
		if got := answerSet(r); !slices.Equal(got, []string{"web.marathon.mesos. 7 IN AAAA 2001:db8::1"}) {
			t.Fatal(got)
		}
	})
	t.Run("SRV", func(t *testing.T) {
		r := exchange(t, s, q("_web._tcp.marathon.mesos", dns.TypeSRV), false)
		want := []string{
			"_web._tcp.marathon.mesos. 7 IN SRV 0 3 31000 t1.marathon.slave.mesos.",
			"_web._tcp.marathon.mesos. 7 IN SRV 0 3 31001 t1.marathon.slave.mesos.",
			"_web._tcp.marathon.mesos. 7 IN SRV 0 3 31002 t2.marathon.slave.mesos.",
			"_web._tcp.marathon.mesos. 7 IN SRV 0 3 31003 t3.marathon.slave.mesos.",
		}
		if got := answerSet(r); !slices.Equal(got, want) {
			t.Fatal(got)
		}
		// One A and one AAAA per distinct target that has them, as Mesos-DNS.
		wantExtra := []string{
			"t1.marathon.slave.mesos. 7 IN A 10.2.0.1",
			"t1.marathon.slave.mesos. 7 IN AAAA 2001:db8::2",
			"t2.marathon.slave.mesos. 7 IN A 10.2.0.3",
		}
		if got := texts(r.Extra); !slices.Equal(got, wantExtra) {
			t.Fatal(got)
		}
	})
	t.Run("SRV target uncompressed", func(t *testing.T) {
		// RFC 2782: no compression pointer inside SRV rdata.
		raw, _ := q("_web._tcp.marathon.mesos", dns.TypeSRV).Pack()
		reply, _ := s.Answer(raw, false, nil)
		var r dns.Msg
		if err := r.Unpack(reply); err != nil {
			t.Fatal(err)
		}
		off := len(raw) // header + question, no OPT in the query
		for range r.Answer {
			if reply[off] != 0xC0 || reply[off+1] != 0x0C {
				t.Fatalf("answer owner is not a pointer to the question")
			}
			rdlen := int(binary.BigEndian.Uint16(reply[off+10:]))
			rdata := reply[off+12 : off+12+rdlen]
			if l := len("t1.marathon.slave.mesos.") + 1; len(rdata) != 6+l {
				t.Fatalf("SRV rdata of %d bytes, want %d (uncompressed target)", len(rdata), 6+l)
			}
			off += 12 + rdlen
		}
	})
	t.Run("ANY", func(t *testing.T) {
		r := exchange(t, s, q("web.marathon.mesos", dns.TypeANY), false)
		if len(r.Answer) != 4 || len(r.Ns) != 0 || r.Rcode != 0 {
			t.Fatalf("%v / %v", r.Answer, r.Ns)
		}
		r = exchange(t, s, q("_web._tcp.marathon.mesos", dns.TypeANY), false)
		if len(r.Answer) != 4 || len(r.Extra) != 3 {
			t.Fatalf("%v / %v", r.Answer, r.Extra)
		}
	})
	t.Run("TTL on every record", func(t *testing.T) {
		for _, m := range []*dns.Msg{q("_web._tcp.marathon.mesos", dns.TypeSRV), q("mesos", dns.TypeANY), q("nope.mesos", dns.TypeA)} {
			r := exchange(t, s, m, false)
			for _, rr := range slices.Concat(r.Answer, r.Ns, r.Extra) {
				if rr.Header().Ttl != 7 {
					t.Errorf("%v: TTL %d", rr, rr.Header().Ttl)
				}
			}
		}
	})
}

// TestOwnerEchoesQuestion: RFC fix — answers are owned by the question as
// sent, case and "*" labels included (Mesos-DNS wrote the lower-cased,
// stripped name, which a resolver comparing names byte-wise may reject).
func TestOwnerEchoesQuestion(t *testing.T) {
	s := testServer(t, nil)
	for _, name := range []string{"WeB.MaRaThOn.MeSoS.", "web.marathon.*.mesos.", "web.*.marathon.*.MESOS."} {
		r := exchange(t, s, q(name, dns.TypeA), false)
		if len(r.Answer) != 3 {
			t.Fatalf("%s: %v", name, r.Answer)
		}
		for _, rr := range r.Answer {
			if rr.Header().Name != name {
				t.Errorf("%s: owner %s", name, rr.Header().Name)
			}
		}
		if r.Question[0].Name != name {
			t.Errorf("question rewritten: %s", r.Question[0].Name)
		}
	}
	// Only whole "*" labels (not the first) are stripped.
	for _, name := range []string{"*.mesos.", "web.marathon.*x.mesos.", "*.web.marathon.mesos."} {
		checkNegative(t, exchange(t, s, q(name, dns.TypeA), false), dns.RcodeNameError)
	}
}

// TestApexSOAandNS: RFC fix — at the apex SOA and NS are answers (Mesos-DNS
// put them in AUTHORITY with an empty ANSWER).
func TestApexSOAandNS(t *testing.T) {
	s := testServer(t, nil)
	r := exchange(t, s, q("MeSoS", dns.TypeSOA), false)
	if r.Rcode != 0 || len(r.Answer) != 1 || len(r.Ns) != 0 {
		t.Fatalf("%v", r)
	}
	soa := r.Answer[0].(*dns.SOA)
	if soa.Hdr.Name != "MeSoS." || soa.Ns != "ns1.mesos." || soa.Mbox != "root.ns1.mesos." || soa.Serial != 1234 || soa.Minttl != 7 {
		t.Fatalf("%v", soa)
	}

	r = exchange(t, s, q("mesos", dns.TypeNS), false)
	if r.Rcode != 0 || len(r.Ns) != 0 || !slices.Equal(answerSet(r), []string{"mesos. 7 IN NS ns1.mesos."}) {
		t.Fatalf("%v", r)
	}
	if got := texts(r.Extra); !slices.Equal(got, []string{"ns1.mesos. 7 IN A 127.0.0.1", "ns1.mesos. 7 IN AAAA ::1"}) {
		t.Fatalf("NS additional %v", got)
	}

	r = exchange(t, s, q("mesos", dns.TypeANY), false)
	if r.Rcode != 0 || len(r.Answer) != 2 || len(r.Ns) != 0 {
		t.Fatalf("apex ANY %v", r)
	}
	// The apex has no A: NODATA, not NXDOMAIN (it exists).
	checkNegative(t, exchange(t, s, q("mesos", dns.TypeA), false), dns.RcodeSuccess)
}

// TestNegative: RFC 2308 negative answers (one SOA, owned by the apex) and
// the decisions that differ from Mesos-DNS:
//   - SOA/NS below the apex: NODATA if the name exists, else NXDOMAIN.
//   - SRV: NXDOMAIN when the name does not exist, NODATA when it exists
//     without SRV records (Mesos-DNS: empty NOERROR without SOA).
//   - ANY for a missing name: NXDOMAIN with one SOA (Mesos-DNS: NS, SOA, SOA).
//   - empty non-terminals: NODATA (Mesos-DNS: NXDOMAIN).
func TestNegative(t *testing.T) {
	s := testServer(t, nil)
	for _, tc := range []struct {
		name  string
		qtype uint16
		rcode int
	}{
		{"nope.mesos", dns.TypeA, dns.RcodeNameError},
		{"nope.mesos", dns.TypeAAAA, dns.RcodeNameError},
		{"nope.mesos", dns.TypeTXT, dns.RcodeNameError},
		{"nope.mesos", dns.TypeANY, dns.RcodeNameError},
		{"nope.mesos", dns.TypeSOA, dns.RcodeNameError},
		{"nope.mesos", dns.TypeNS, dns.RcodeNameError},
		{"_nope._tcp.marathon.mesos", dns.TypeSRV, dns.RcodeNameError},
		{"web.marathon.mesos", dns.TypeSRV, dns.RcodeSuccess},
		{"web.marathon.mesos", dns.TypeSOA, dns.RcodeSuccess},
		{"web.marathon.mesos", dns.TypeNS, dns.RcodeSuccess},
		{"web.marathon.mesos", dns.TypeTXT, dns.RcodeSuccess},
		{"web.marathon.mesos", dns.TypeMX, dns.RcodeSuccess},
		{"t2.marathon.slave.mesos", dns.TypeAAAA, dns.RcodeSuccess},
		{"_web._tcp.marathon.mesos", dns.TypeA, dns.RcodeSuccess},
		{"marathon.slave.mesos", dns.TypeA, dns.RcodeSuccess}, // empty non-terminal
		{"slave.mesos", dns.TypeSRV, dns.RcodeSuccess},        // empty non-terminal
		{"_tcp.marathon.mesos", dns.TypeSRV, dns.RcodeSuccess},
		{"x.web.marathon.mesos", dns.TypeA, dns.RcodeNameError},
		{"mesos", dns.TypeAAAA, dns.RcodeSuccess},
	} {
		t.Run(fmt.Sprintf("%s/%s", tc.name, dns.TypeToString[tc.qtype]), func(t *testing.T) {
			for _, tcp := range []bool{false, true} {
				checkNegative(t, exchange(t, s, q(tc.name, tc.qtype), tcp), tc.rcode)
			}
			// The SOA's owner is the apex even when the question spells it
			// differently.
			r := exchange(t, s, q(strings.ToUpper(tc.name), tc.qtype), false)
			if soa := soaOf(t, r.Ns); soa == nil || !strings.EqualFold(soa.Hdr.Name, "mesos.") {
				t.Fatalf("%v", r.Ns)
			}
		})
	}
}

func TestPTR(t *testing.T) {
	s := testServer(t, func(o *Options) { o.ExternalOn = true; o.Resolvers = []string{"127.0.0.1:1"} })
	r := exchange(t, s, q("1.0.0.10.in-addr.arpa", dns.TypePTR), false)
	if !r.Authoritative || !slices.Equal(answerSet(r), []string{"1.0.0.10.in-addr.arpa. 7 IN PTR web.marathon.mesos."}) {
		t.Fatalf("%v", r)
	}
	// Reverse names the table does not have, and other types, are forwarded.
	for _, m := range []*dns.Msg{q("2.0.0.10.in-addr.arpa", dns.TypePTR), q("1.0.0.10.in-addr.arpa", dns.TypeA)} {
		raw, _ := m.Pack()
		if reply, fwd := s.Answer(raw, false, nil); reply != nil || !fwd {
			t.Errorf("%v not forwarded", m.Question[0])
		}
	}
}

// TestEDNS: RFC fix — OPT in, OPT out; the UDP limit is the client's
// size capped at 4096 and at least 512 (Mesos-DNS always used 512).
func TestEDNS(t *testing.T) {
	s := testServer(t, nil)
	r := exchange(t, s, q("web.marathon.mesos", dns.TypeA), false)
	if r.IsEdns0() != nil {
		t.Fatal("OPT in the reply to a query without one")
	}
	for _, do := range []bool{false, true} {
		r = exchange(t, s, withEDNS(q("web.marathon.mesos", dns.TypeA), 1232, do), false)
		opt := r.IsEdns0()
		if opt == nil || opt.Version() != 0 || opt.Do() != do || opt.UDPSize() != 4096 || len(r.Answer) != 3 {
			t.Fatalf("do %v: %v", do, r)
		}
	}
	// Negative answers and errors carry the OPT too.
	r = exchange(t, s, withEDNS(q("nope.mesos", dns.TypeA), 1232, false), false)
	if r.IsEdns0() == nil || r.Rcode != dns.RcodeNameError {
		t.Fatal(r)
	}
	// Unknown EDNS version: BADVERS (RFC 6891 §6.1.3).
	m := withEDNS(q("web.marathon.mesos", dns.TypeA), 1232, false)
	m.IsEdns0().SetVersion(1)
	r = exchange(t, s, m, false)
	if r.Rcode != dns.RcodeBadVers || len(r.Answer) != 0 || r.IsEdns0() == nil {
		t.Fatalf("%v", r)
	}
	// Two OPT records are malformed.
	m = withEDNS(q("web.marathon.mesos", dns.TypeA), 1232, false)
	m.Extra = append(m.Extra, m.Extra[0])
	r = exchange(t, s, m, false)
	if r.Rcode != dns.RcodeFormatError {
		t.Fatalf("%v", r)
	}
}

// TestTruncation: answers that do not fit lose the additional section,
// then records from the tail. TC is set only when answer records were
// dropped (RFC 2181 §9), and never with SetTruncateBit=false.
func TestTruncation(t *testing.T) {
	s := testServer(t, nil)
	r := exchange(t, s, q("big.marathon.mesos", dns.TypeA), false)
	if !r.Truncated || len(r.Answer) == 0 || len(r.Answer) >= 40 {
		t.Fatalf("UDP 512: tc %v, %d answers", r.Truncated, len(r.Answer))
	}
	n512 := len(r.Answer)
	if n512 != (512-12-len("big.marathon.mesos.")-1-4)/16 {
		t.Errorf("%d answers fit in 512 bytes", n512)
	}
	r = exchange(t, s, withEDNS(q("big.marathon.mesos", dns.TypeA), 4096, false), false)
	if r.Truncated || len(r.Answer) != 40 {
		t.Fatalf("EDNS 4096: tc %v, %d answers", r.Truncated, len(r.Answer))
	}
	r = exchange(t, s, withEDNS(q("big.marathon.mesos", dns.TypeA), 100, false), false)
	if !r.Truncated || len(r.Answer) != (512-12-len("big.marathon.mesos.")-1-4-11)/16 { // the OPT takes 11 bytes
		t.Fatalf("EDNS 100 (counts as 512): tc %v, %d answers", r.Truncated, len(r.Answer))
	}
	r = exchange(t, s, withEDNS(q("big.marathon.mesos", dns.TypeA), 65000, false), false)
	if r.Truncated || len(r.Answer) != 40 {
		t.Fatal("EDNS 65000")
	}
	r = exchange(t, s, q("big.marathon.mesos", dns.TypeA), true)
	if r.Truncated || len(r.Answer) != 40 {
		t.Fatalf("TCP: tc %v, %d answers", r.Truncated, len(r.Answer))
	}
	// SRV: additional dropped first, then answers.
	r = exchange(t, s, q("_many._tcp.marathon.mesos", dns.TypeSRV), false)
	if !r.Truncated || len(r.Extra) != 0 || len(r.Answer) == 0 || len(r.Answer) >= 80 {
		t.Fatalf("SRV UDP: tc %v, %d answers, %d extra", r.Truncated, len(r.Answer), len(r.Extra))
	}
	r = exchange(t, s, q("_many._tcp.marathon.mesos", dns.TypeSRV), true)
	if r.Truncated || len(r.Answer) != 80 || len(r.Extra) != 80 {
		t.Fatalf("SRV TCP: tc %v, %d answers, %d extra", r.Truncated, len(r.Answer), len(r.Extra))
	}
	// Answers fit but the additional section does not: no TC.
	r = exchange(t, s, withEDNS(q("_many._tcp.marathon.mesos", dns.TypeSRV), 4096, false), false)
	if r.Truncated || len(r.Answer) != 80 || len(texts(r.Extra)) != 0 {
		t.Fatalf("SRV 4096: tc %v, %d answers, %d extra", r.Truncated, len(r.Answer), len(r.Extra))
	}
	s = testServer(t, func(o *Options) { o.SetTruncateBit = false })
	r = exchange(t, s, q("big.marathon.mesos", dns.TypeA), false)
	if r.Truncated || len(r.Answer) != n512 {
		t.Fatalf("SetTruncateBit=false: tc %v, %d answers", r.Truncated, len(r.Answer))
	}
}

// TestRotation: answers start at a random record; the set is always whole.
func TestRotation(t *testing.T) {
	s := testServer(t, nil)
	for _, m := range []*dns.Msg{q("web.marathon.mesos", dns.TypeA), q("_web._tcp.marathon.mesos", dns.TypeSRV)} {
		first := map[string]bool{}
		var want []string
		for i := 0; i < 200 && len(first) < 2; i++ {
			r := exchange(t, s, m, false)
			got := answerSet(r)
			if want == nil {
				want = got
			} else if !slices.Equal(got, want) {
				t.Fatalf("set changed: %v vs %v", got, want)
			}
			first[rrText(r.Answer[0])] = true
		}
		if len(first) < 2 {
			t.Errorf("%v: the first answer never changed", m.Question[0])
		}
	}
	// A truncated rotated answer is a prefix of the rotation: consecutive
	// records of the sorted set, wrapping around.
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		r := exchange(t, s, q("big.marathon.mesos", dns.TypeA), false)
		start := r.Answer[0].(*dns.A).A[3]
		seen[r.Answer[0].String()] = true
		for j, rr := range r.Answer {
			if got, want := rr.(*dns.A).A[3], byte((int(start)-1+j)%40+1); got != want {
				t.Fatalf("record %d is 10.1.0.%d, want 10.1.0.%d", j, got, want)
			}
		}
	}
	if len(seen) < 10 {
		t.Errorf("only %d distinct first records in 100 queries", len(seen))
	}
}

func TestNotReady(t *testing.T) {
	s := newServer(t, defaultOpts(), nil)
	if s.Ready() {
		t.Fatal("ready without a table")
	}
	r := exchange(t, s, q("web.marathon.mesos", dns.TypeA), false)
	if r.Rcode != dns.RcodeServerFailure || r.Authoritative {
		t.Fatalf("%v", r)
	}
	s.Swap(testTable())
	if !s.Ready() {
		t.Fatal("not ready after Swap")
	}
	if r := exchange(t, s, q("web.marathon.mesos", dns.TypeA), false); r.Rcode != 0 || len(r.Answer) != 3 {
		t.Fatalf("%v", r)
	}
}

func TestRefused(t *testing.T) {
	// Forwarding off: every name outside the domain is REFUSED.
	s := testServer(t, nil)
	r := exchange(t, s, q("example.com", dns.TypeA), false)
	if r.Rcode != dns.RcodeRefused || r.RecursionAvailable || r.Authoritative {
		t.Fatalf("%v", r)
	}
	// Forwarding on, no resolver for the name.
	s = testServer(t, func(o *Options) {
		o.ExternalOn = true
		o.ZoneResolvers = map[string][]string{"Consul": {"127.0.0.1:1"}}
	})
	if r := exchange(t, s, q("example.com", dns.TypeA), false); r.Rcode != dns.RcodeRefused {
		t.Fatalf("%v", r)
	}
	raw, _ := q("web.service.CONSUL", dns.TypeA).Pack()
	if _, fwd := s.Answer(raw, false, nil); !fwd {
		t.Fatal("zone resolver not used")
	}
	// Other classes, zone transfers.
	m := q("web.marathon.mesos", dns.TypeA)
	m.Question[0].Qclass = dns.ClassCHAOS
	if r := exchange(t, s, m, false); r.Rcode != dns.RcodeRefused {
		t.Fatalf("%v", r)
	}
	m.Question[0].Qclass = dns.ClassANY
	if r := exchange(t, s, m, false); r.Rcode != 0 || len(r.Answer) != 3 {
		t.Fatalf("%v", r)
	}
	for _, qt := range []uint16{dns.TypeAXFR, dns.TypeIXFR} {
		if r := exchange(t, s, q("mesos", qt), true); r.Rcode != dns.RcodeRefused {
			t.Fatalf("%v", r)
		}
	}
}

// TestMalformed: nothing panics; FORMERR/NOTIMP when the header parses,
// silence otherwise.
func TestMalformed(t *testing.T) {
	s := testServer(t, nil)
	good, _ := q("web.marathon.mesos", dns.TypeA).Pack()
	mut := func(f func(b []byte) []byte) []byte { return f(slices.Clone(good)) }
	for _, tc := range []struct {
		name  string
		msg   []byte
		rcode int // -1: dropped
	}{
		{"empty", nil, -1},
		{"short header", good[:11], -1},
		{"response", mut(func(b []byte) []byte { b[2] |= 0x80; return b }), -1},
		{"header only", good[:12], dns.RcodeFormatError},
		{"qdcount 0", mut(func(b []byte) []byte { b[5] = 0; return b }), dns.RcodeFormatError},
		{"qdcount 2", mut(func(b []byte) []byte { b[5] = 2; return b }), dns.RcodeFormatError},
		{"truncated name", good[:20], dns.RcodeFormatError},
		{"no qtype", good[:len(good)-4], dns.RcodeFormatError},
		{"no qclass", good[:len(good)-1], dns.RcodeFormatError},
		{"pointer in question", mut(func(b []byte) []byte { b[12] = 0xC0; b[13] = 0x0C; return b }), dns.RcodeFormatError},
		{"label too long", mut(func(b []byte) []byte { b[12] = 64; return b }), dns.RcodeFormatError},
		{"arcount without record", mut(func(b []byte) []byte { b[11] = 1; return b }), dns.RcodeFormatError},
		{"notify", mut(func(b []byte) []byte { b[2] = dns.OpcodeNotify << 3; return b }), dns.RcodeNotImplemented},
		{"update", mut(func(b []byte) []byte { b[2] = dns.OpcodeUpdate << 3; return b }), dns.RcodeNotImplemented},
		{"name too long", longName(), dns.RcodeFormatError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reply, fwd := s.Answer(tc.msg, false, nil)
			if fwd {
				t.Fatal("forwarded")
			}
			if tc.rcode < 0 {
				if reply != nil {
					t.Fatalf("reply %x to a packet that should be dropped", reply)
				}
				return
			}
			var r dns.Msg
			if err := r.Unpack(reply); err != nil {
				t.Fatal(err)
			}
			if r.Rcode != tc.rcode || !r.Response || r.Id != binary.BigEndian.Uint16(tc.msg) {
				t.Fatalf("%v", &r)
			}
		})
	}
	// A label with a '.' inside can not match a table name.
	m := q("x", dns.TypeA)
	m.Question[0].Name = `web\.marathon.mesos.`
	checkNegative(t, exchange(t, s, m, false), dns.RcodeNameError)
	// A TLD that only looks like the domain is not in it.
	m.Question[0].Name = `web.marathon\.mesos.`
	if r := exchange(t, s, m, false); r.Rcode != dns.RcodeRefused {
		t.Fatalf("%v", r)
	}
}

// longName is a query whose name is 256 bytes in wire form.
func longName() []byte {
	b := []byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}
	for i := 0; i < 4; i++ {
		b = append(b, 63)
		b = append(b, strings.Repeat("a", 63)...)
	}
	b = append(b, 0, 0, 1, 0, 1)
	return b
}

func TestStats(t *testing.T) {
	s := testServer(t, nil)
	exchange(t, s, q("web.marathon.mesos", dns.TypeA), false)
	exchange(t, s, q("nope.mesos", dns.TypeA), false)
	exchange(t, s, q("_web._tcp.marathon.mesos", dns.TypeSRV), false)
	exchange(t, s, q("big.marathon.mesos", dns.TypeA), false)
	exchange(t, s, q("example.com", dns.TypeTXT), false)
	s.Answer([]byte{1, 2, 3}, false, nil)
	st := s.Stats()
	if st.Queries["A"] != 3 || st.Queries["SRV"] != 1 || st.Queries["TXT"] != 1 ||
		st.Rcodes["NOERROR"] != 3 || st.Rcodes["NXDOMAIN"] != 1 || st.Rcodes["REFUSED"] != 1 ||
		st.Truncated != 1 || st.Dropped != 1 {
		t.Fatalf("%+v", st)
	}
}

func TestNewValidation(t *testing.T) {
	for _, o := range []Options{
		{},
		{Domain: "."},
		{Domain: "a..b"},
		{Domain: "mesos", ExternalOn: true, Resolvers: []string{"not an ip"}},
		{Domain: "mesos", ExternalOn: true, ZoneResolvers: map[string][]string{"x.mesos": {"1.1.1.1"}}},
		{Domain: "mesos", ExternalOn: true, ZoneResolvers: map[string][]string{"MESOS.": {"1.1.1.1"}}},
		{Domain: "mesos", ExternalOn: true, ZoneResolvers: map[string][]string{"consul": {}}},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	s, err := New(Options{Domain: "Mesos", SOARname: "admin@example.com", ExternalOn: true, Resolvers: []string{"10.0.0.1", "[::1]:5353"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.domain != "mesos." || s.opts.SOAMname != "ns1.mesos." || s.opts.SOARname != "admin.example.com." ||
		!slices.Equal(s.groups[0].addrs, []string{"10.0.0.1:53", "[::1]:5353"}) {
		t.Fatalf("%+v %+v", s.opts, s.groups)
	}
}
