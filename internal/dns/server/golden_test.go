package server

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/internal/dns/records"
	"github.com/signpost-dns/signpost/internal/testutil/fixtures"
)

// golden is one dig query against the real Mesos-DNS (over TCP), with its
// sections sorted.
type golden struct {
	Q          string
	Type       string
	Rcode      string
	Flags      string
	Answer     []string
	Authority  []string
	Additional []string
}

const apexSOA = "mesos. 60 IN SOA ns1.mesos. root.ns1.mesos. 0 60 600 86400 60"

// TestGoldenDig replays every query Mesos-DNS answered in the fixtures and
// compares the reply section by section. Where Signpost deliberately
// differs (see the package comment), the expectation is rewritten by
// deliberate and the reasons are logged; every other case must match the
// golden exactly.
func TestGoldenDig(t *testing.T) {
	for _, tc := range []struct {
		golden, axfr string
		recurse      bool
	}{
		{"golden-dig-default-config.json", "axfr-default-rfc1123-netinfo-mesos-host.json", true},
		{"golden-dig-rfc952-docker-host.json", "axfr-rfc952-docker-host.json", false},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			tb, _ := tableFromAXFR(t, "mesos-dns/peer-output/"+tc.axfr)
			o := defaultOpts()
			o.RecurseOn = tc.recurse
			s := newServer(t, o, tb)
			raw, err := os.ReadFile(fixtures.Path(t, "mesos-dns/peer-output/"+tc.golden))
			if err != nil {
				t.Fatal(err)
			}
			var cases []golden
			if err := json.Unmarshal(raw, &cases); err != nil {
				t.Fatal(err)
			}
			same := 0
			for _, g := range cases {
				want, reasons := deliberate(g, tb)
				if len(reasons) == 0 {
					same++
				} else {
					t.Logf("%s %s: differs on purpose: %s", g.Q, g.Type, strings.Join(reasons, ", "))
				}
				for _, tcp := range []bool{false, true} {
					r := exchange(t, s, q(g.Q, dns.StringToType[g.Type]), tcp)
					got := golden{
						Q: g.Q, Type: g.Type, Rcode: dns.RcodeToString[r.Rcode], Flags: flagString(r),
						Answer: texts(r.Answer), Authority: texts(r.Ns), Additional: texts(r.Extra),
					}
					if !equalGolden(got, want) {
						t.Errorf("%s %s (tcp %v):\n got %+v\nwant %+v", g.Q, g.Type, tcp, got, want)
					}
				}
			}
			t.Logf("%d of %d cases identical to Mesos-DNS", same, len(cases))
			if len(cases) != 61 || same < 30 {
				t.Errorf("%d cases, %d identical: the fixture or the rules changed", len(cases), same)
			}
		})
	}
}

func equalGolden(a, b golden) bool {
	norm := func(s []string) []string {
		s = slices.Clone(s)
		if s == nil {
			s = []string{}
		}
		slices.Sort(s)
		return s
	}
	return a.Rcode == b.Rcode && a.Flags == b.Flags &&
		slices.Equal(norm(a.Answer), norm(b.Answer)) &&
		slices.Equal(norm(a.Authority), norm(b.Authority)) &&
		slices.Equal(norm(a.Additional), norm(b.Additional))
}

func flagString(r *dns.Msg) string {
	var f []string
	for _, x := range []struct {
		on   bool
		name string
	}{{r.Authoritative, "aa"}, {r.Response, "qr"}, {r.RecursionAvailable, "ra"}, {r.RecursionDesired, "rd"},
		{r.Truncated, "tc"}, {r.AuthenticatedData, "ad"}, {r.CheckingDisabled, "cd"}} {
		if x.on {
			f = append(f, x.name)
		}
	}
	slices.Sort(f)
	return strings.Join(f, " ")
}

// exists reports whether name (lower-case FQDN) exists in the zone of tb:
// it has records, is the apex, or has a descendant with records.
func exists(tb *records.Table, name string) bool {
	if name == tb.Domain || tb.Has(name) {
		return true
	}
	below := func(n string) bool { return strings.HasSuffix(n, "."+name) }
	for n := range tb.A {
		if below(n) {
			return true
		}
	}
	for n := range tb.AAAA {
		if below(n) {
			return true
		}
	}
	for n := range tb.SRV {
		if below(n) {
			return true
		}
	}
	return false
}

// deliberate rewrites a golden answer into Signpost's, naming each rule
// that applied.
func deliberate(g golden, tb *records.Table) (golden, []string) {
	var why []string
	w := g
	w.Answer = slices.Clone(g.Answer)
	sent := g.Q + "."
	key := strings.ToLower(sent)
	var labels []string
	for i, l := range strings.Split(strings.TrimSuffix(key, "."), ".") {
		if l != "*" || i == 0 {
			labels = append(labels, l)
		}
	}
	key = strings.Join(labels, ".") + "."
	apex := key == "mesos."

	// Owners echo the question as sent.
	for i, a := range w.Answer {
		owner, rest, _ := strings.Cut(a, " ")
		if owner != sent {
			w.Answer[i] = sent + " " + rest
			why = appendOnce(why, "owner echoes the question as sent")
		}
	}
	switch {
	case apex && g.Type == "SOA":
		w.Answer, w.Authority = []string{apexSOA}, nil
		why = append(why, "apex SOA in ANSWER")
	case apex && g.Type == "NS":
		w.Answer, w.Authority = []string{"mesos. 60 IN NS ns1.mesos."}, nil
		w.Additional = []string{"ns1.mesos. 60 IN A 127.0.0.1"}
		why = append(why, "apex NS in ANSWER with the name server's address")
	case len(w.Answer) == 0:
		rcode := "NXDOMAIN"
		if exists(tb, key) {
			rcode = "NOERROR"
		}
		if rcode != g.Rcode {
			why = append(why, "RFC 2308/8020 rcode "+rcode)
		}
		if len(g.Authority) != 1 {
			why = append(why, "exactly one SOA in AUTHORITY (no NS, no duplicate)")
		}
		if !slices.Contains(g.Authority, apexSOA) {
			why = append(why, "SOA owned by the apex")
		}
		w.Rcode, w.Authority = rcode, []string{apexSOA}
	case len(g.Authority) > 0:
		w.Authority = nil
		why = append(why, "no SOA/NS in AUTHORITY of a positive answer")
	}
	return w, why
}

func appendOnce(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}
