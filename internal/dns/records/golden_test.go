package records

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/wire/mesosstate"
)

// The testdata/mesos-dns files are copies of shared/fixtures/mesos-dns: the
// state Mesos-DNS's own tests use, and what the real Mesos-DNS (master
// e888ef4) served for it. testdata/golden holds our own Table for the same
// inputs; regenerate it with: go test ./internal/dns/records -run Golden -update
var update = flag.Bool("update", false, "rewrite testdata/golden files")

// fixtureLeader is how the fixtures were made: the fake master served
// fake.json on 127.0.0.1:15050 with "leader" rewritten to point at itself.
const fixtureLeader = "master@127.0.0.1:15050"

var fixtureTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// fakeState decodes fake.json with the fixture's leader rewrite.
func fakeState(t testing.TB) *cluster.MesosState {
	t.Helper()
	st, skipped, err := mesosstate.Decode(readFile(t, "testdata/mesos-dns/fake.json"))
	if err != nil || len(skipped) > 0 {
		t.Fatalf("decode fake.json: %v %v", skipped, err)
	}
	st.Leader = fixtureLeader
	return st
}

// resolveLocalhost stands in for the fixture machine's resolver: only
// "localhost" (the pid-less framework's hostname) resolves.
func resolveLocalhost(host string) ([]netip.Addr, error) {
	if host == "localhost" {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	return nil, errors.New("no such host")
}

// fixtureConfig is the configuration the fixtures were made with, apart from
// the label rule and IP sources that differ between them. The listener was
// 127.0.0.1 (ns1.mesos. A 127.0.0.1) and the static masters list the one
// fake master, which is what master0/master.mesos. show.
func fixtureConfig(rfc952 bool, sources ...string) Config {
	return Config{
		Domain:        "mesos",
		IPSources:     sources,
		EnforceRFC952: rfc952,
		SOAMname:      "ns1.mesos.",
		NSAddrs:       []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		Masters:       []string{"127.0.0.1:15050"},
		Resolve:       resolveLocalhost,
		Now:           func() time.Time { return fixtureTime },
	}
}

var goldenCases = []struct {
	name   string
	axfr   string
	golden string
	cfg    Config
}{
	{"default", "axfr-default-rfc1123-netinfo-mesos-host.json", "table-default.json",
		fixtureConfig(false, "netinfo", "mesos", "host")},
	{"rfc952-docker-host", "axfr-rfc952-docker-host.json", "table-rfc952-docker-host.json",
		fixtureConfig(true, "docker", "host")},
}

// axfrRecords is the Records part of Mesos-DNS's /v1/axfr.
type axfrRecords struct {
	As    map[string][]string
	AAAAs map[string][]string
	SRVs  map[string][]string
}

func readAXFR(t *testing.T, name string) axfrRecords {
	t.Helper()
	var doc struct{ Records axfrRecords }
	if err := json.Unmarshal(readFile(t, filepath.Join("testdata/mesos-dns", name)), &doc); err != nil {
		t.Fatal(err)
	}
	for _, m := range []map[string][]string{doc.Records.As, doc.Records.AAAAs, doc.Records.SRVs} {
		for _, v := range m {
			sort.Strings(v)
		}
	}
	return doc.Records
}

// asAXFR renders a Table the way /v1/axfr does, values sorted.
func asAXFR(tb *Table) axfrRecords {
	addrs := func(m map[string][]netip.Addr) map[string][]string {
		out := make(map[string][]string, len(m))
		for name, ips := range m {
			for _, ip := range ips {
				out[name] = append(out[name], ip.String())
			}
			sort.Strings(out[name])
		}
		return out
	}
	srv := make(map[string][]string, len(tb.SRV))
	for name, vs := range tb.SRV {
		for _, v := range vs {
			srv[name] = append(srv[name], v.Target+":"+strconv.Itoa(int(v.Port)))
		}
		sort.Strings(srv[name])
	}
	return axfrRecords{As: addrs(tb.A), AAAAs: addrs(tb.AAAA), SRVs: srv}
}

func diffSets(t *testing.T, kind string, got, want map[string][]string) {
	t.Helper()
	for name, w := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("%s %s missing, want %q", kind, name, w)
		} else if !slices.Equal(g, w) {
			t.Errorf("%s %s = %q, want %q", kind, name, g, w)
		}
	}
	for name, g := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s %s = %q, not in Mesos-DNS's zone", kind, name, g)
		}
	}
}

// TestGoldenAXFR: for fake.json, Build gives exactly the zone the real
// Mesos-DNS served, for both fixture configurations. HealthFilter is on
// here: fake.json has no unhealthy task (checked below), so it must not
// change anything.
func TestGoldenAXFR(t *testing.T) {
	st := fakeState(t)
	for _, f := range st.Frameworks {
		for _, task := range f.Tasks {
			if s := task.LatestStatus(""); s != nil && s.Healthy != nil && !*s.Healthy {
				t.Fatalf("fake.json has an unhealthy task %s: the golden comparison needs HealthFilter off", task.ID)
			}
		}
	}
	for _, tc := range goldenCases {
		for _, health := range []bool{false, true} {
			t.Run(tc.name+"/health="+strconv.FormatBool(health), func(t *testing.T) {
				cfg := tc.cfg
				cfg.HealthFilter = health
				tb, warns := Build(st, cfg)
				if len(warns) > 0 {
					t.Errorf("warnings: %v", warns)
				}
				want := readAXFR(t, tc.axfr)
				got := asAXFR(tb)
				diffSets(t, "A", got.As, want.As)
				diffSets(t, "AAAA", got.AAAAs, want.AAAAs)
				diffSets(t, "SRV", got.SRVs, want.SRVs)
				if len(tb.PTR) != 0 {
					t.Errorf("PTR records with PTROn false: %v", tb.PTR)
				}
			})
		}
	}
}

// TestGoldenTable pins our whole Table (including the enumerate view and
// PTRs) for the fixture inputs, so that any change to it shows up in review.
func TestGoldenTable(t *testing.T) {
	st := fakeState(t)
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.HealthFilter, cfg.PTROn = true, true
			tb, _ := Build(st, cfg)
			got, err := json.MarshalIndent(tb, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata/golden", tc.golden)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if want := readFile(t, path); !bytes.Equal(got, want) {
				t.Errorf("Table differs from %s (rerun with -update if the change is intended):\n%s", path, got)
			}
		})
	}
}

// enumerateDoc is Mesos-DNS's /v1/enumerate.
type enumerateDoc struct {
	Frameworks []struct {
		Name  string `json:"name"`
		Tasks []struct {
			Name    string `json:"name"`
			ID      string `json:"id"`
			Records []struct {
				Name  string `json:"name"`
				Host  string `json:"host"`
				RType string `json:"rtype"`
			} `json:"records"`
		} `json:"tasks"`
	} `json:"frameworks"`
}

// TestGoldenEnumerate: Table.Frameworks lists the same frameworks, tasks and
// records as Mesos-DNS's /v1/enumerate, in the same order.
func TestGoldenEnumerate(t *testing.T) {
	var doc enumerateDoc
	if err := json.Unmarshal(readFile(t, "testdata/mesos-dns/enumerate-default.json"), &doc); err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	tb, _ := Build(fakeState(t), fixtureConfig(false, "netinfo", "mesos", "host"))
	var mine enumerateDoc
	raw, err := json.Marshal(enumerateView(tb))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &mine); err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(mine)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		for i := range max(len(mine.Frameworks), len(doc.Frameworks)) {
			if i >= len(mine.Frameworks) || i >= len(doc.Frameworks) ||
				!reflect.DeepEqual(mine.Frameworks[i], doc.Frameworks[i]) {
				t.Errorf("framework %d differs", i)
			}
		}
		t.Fatalf("enumerate differs:\ngot  %s\nwant %s", got, want)
	}
}

// enumerateView renders Frameworks in the /v1/enumerate JSON shape.
func enumerateView(tb *Table) any {
	type rec struct {
		Name  string `json:"name"`
		Host  string `json:"host"`
		RType string `json:"rtype"`
	}
	type task struct {
		Name    string `json:"name"`
		ID      string `json:"id"`
		Records []rec  `json:"records"`
	}
	type fw struct {
		Name  string `json:"name"`
		Tasks []task `json:"tasks"`
	}
	out := struct {
		Frameworks []fw `json:"frameworks"`
	}{}
	for _, f := range tb.Frameworks {
		v := fw{Name: f.Name, Tasks: []task{}}
		for _, tk := range f.Tasks {
			tv := task{Name: tk.Name, ID: tk.ID}
			for _, r := range tk.Records {
				tv.Records = append(tv.Records, rec(r))
			}
			v.Tasks = append(v.Tasks, tv)
		}
		out.Frameworks = append(out.Frameworks, v)
	}
	return out
}
