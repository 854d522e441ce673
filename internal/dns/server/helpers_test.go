package server

import (
	"encoding/json"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/internal/dns/records"
	"github.com/signpost-dns/signpost/internal/testutil/fixtures"
)

// axfr is Mesos-DNS's /v1/axfr dump.
type axfr struct {
	TTL     uint32
	Serial  uint32
	Domain  string
	Mname   string
	Rname   string
	Records struct {
		As    map[string][]string
		AAAAs map[string][]string
		SRVs  map[string][]string
	}
}

// tableFromAXFR builds a records.Table straight from an axfr dump, so that
// the server is tested against the real Mesos-DNS zone independently of
// records.Build.
func tableFromAXFR(t testing.TB, rel string) (*records.Table, *axfr) {
	t.Helper()
	raw, err := os.ReadFile(fixtures.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	var z axfr
	if err := json.Unmarshal(raw, &z); err != nil {
		t.Fatal(err)
	}
	tb := &records.Table{
		Domain: strings.ToLower(z.Domain) + ".",
		A:      map[string][]netip.Addr{},
		AAAA:   map[string][]netip.Addr{},
		SRV:    map[string][]records.SRV{},
		PTR:    map[string][]string{},
		Serial: z.Serial,
	}
	addrs := func(dst map[string][]netip.Addr, src map[string][]string) {
		for name, vs := range src {
			for _, v := range vs {
				dst[name] = append(dst[name], netip.MustParseAddr(v))
			}
			slices.SortFunc(dst[name], netip.Addr.Compare)
		}
	}
	addrs(tb.A, z.Records.As)
	addrs(tb.AAAA, z.Records.AAAAs)
	for name, vs := range z.Records.SRVs {
		for _, v := range vs {
			i := strings.LastIndexByte(v, ':')
			port, err := strconv.Atoi(v[i+1:])
			if err != nil {
				t.Fatal(err)
			}
			tb.SRV[name] = append(tb.SRV[name], records.SRV{Target: v[:i], Port: uint16(port)})
		}
		slices.SortFunc(tb.SRV[name], func(a, b records.SRV) int {
			if c := strings.Compare(a.Target, b.Target); c != 0 {
				return c
			}
			return int(a.Port) - int(b.Port)
		})
	}
	return tb, &z
}

// defaultOpts are Mesos-DNS's defaults, as the fixtures were made with.
func defaultOpts() Options {
	return Options{
		Domain:         "mesos",
		TTL:            60,
		SRVWeight:      1,
		RecurseOn:      true,
		SetTruncateBit: true,
		ExternalOn:     false,
	}
}

func newServer(t testing.TB, o Options, tb *records.Table) *Server {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if tb != nil {
		s.Swap(tb)
	}
	return s
}

// q builds a query message.
func q(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = false
	return m
}

// exchange runs m through Answer and parses the reply; it fails the test
// when the reply does not parse or is not for m.
func exchange(t testing.TB, s *Server, m *dns.Msg, tcp bool) *dns.Msg {
	t.Helper()
	raw, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	reply, fwd := s.Answer(raw, tcp, make([]byte, 0, 65535))
	if fwd {
		t.Fatalf("%s: unexpectedly forwarded", m.Question[0].String())
	}
	if reply == nil {
		t.Fatalf("%s: no reply", m.Question[0].String())
	}
	if !tcp && len(reply) > udpLimit(m) {
		t.Fatalf("%s: UDP reply of %d bytes over the limit %d", m.Question[0].String(), len(reply), udpLimit(m))
	}
	r := new(dns.Msg)
	if err := r.Unpack(reply); err != nil {
		t.Fatalf("%s: reply does not parse: %v", m.Question[0].String(), err)
	}
	if r.Id != m.Id || !r.Response {
		t.Fatalf("%s: reply id %d response %v", m.Question[0].String(), r.Id, r.Response)
	}
	return r
}

func udpLimit(m *dns.Msg) int {
	if o := m.IsEdns0(); o != nil {
		return max(512, min(int(o.UDPSize()), 4096))
	}
	return 512
}

// rrText is an RR in dig's one-line form with single spaces.
func rrText(rr dns.RR) string { return strings.Join(strings.Fields(rr.String()), " ") }

func texts(rrs []dns.RR) []string {
	out := []string{}
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		out = append(out, rrText(rr))
	}
	slices.Sort(out)
	return out
}
