package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/signpost-dns/signpost/internal/dns/config"
	"github.com/signpost-dns/signpost/internal/dns/records"
	"github.com/signpost-dns/signpost/internal/testutil/fixtures"
	"github.com/signpost-dns/signpost/internal/wire/mesosstate"
)

// fakeTable builds the table for Mesos-DNS's test state the way the peer
// output was made: master on 127.0.0.1:15050, localhost resolving to
// 127.0.0.1.
func fakeTable(t *testing.T) *records.Table {
	t.Helper()
	data, err := os.ReadFile(fixtures.Path(t, "mesos-dns/fake.json"))
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := mesosstate.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	st.Leader = "master@127.0.0.1:15050"
	tb, _ := records.Build(st, records.Config{
		Domain: "mesos", IPSources: []string{"netinfo", "mesos", "host"}, SOAMname: "ns1.mesos.",
		NSAddrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, Masters: []string{"127.0.0.1:15050"},
		Resolve: func(host string) ([]netip.Addr, error) {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		},
	})
	return tb
}

func newAPI(t *testing.T, tb *records.Table, health Health) http.Handler {
	cfg := config.Defaults()
	cfg.MesosCredentials.Principal = "signpost"
	cfg.MesosCredentials.Secret = "hunter2"
	return New(Options{
		Version: "test", Domain: "mesos", EnumerationOn: true, TTL: 60, RefreshSeconds: 5, // as the peer run
		Mname: "ns1.mesos.", Rname: "root.ns1.mesos.",
		Config: func() any { return cfg.Public() },
		Table:  func() *records.Table { return tb },
		Health: func() Health { return health },
	})
}

func get(t *testing.T, h http.Handler, path string, header ...string) (int, string, http.Header) {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, string(body), rec.Header()
}

func sortedValues(m map[string][]string) map[string][]string {
	for _, v := range m {
		sort.Strings(v)
	}
	return m
}

// TestAXFRMatchesMesosDNS compares /v1/axfr with the real Mesos-DNS's answer
// for the same state.
func TestAXFRMatchesMesosDNS(t *testing.T) {
	h := newAPI(t, fakeTable(t), Health{OK: true})
	code, body, hdr := get(t, h, "/v1/axfr")
	if code != 200 || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("/v1/axfr: %d %s", code, hdr.Get("Content-Type"))
	}
	type zone struct {
		TTL, RefreshSeconds int
		Mname, Rname        string
		Domain              string
		Records             struct{ As, AAAAs, SRVs map[string][]string }
	}
	var got, want zone
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(fixtures.Path(t, "mesos-dns/peer-output/axfr-default-rfc1123-netinfo-mesos-host.json"))
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if got.TTL != want.TTL || got.Mname != want.Mname || got.Rname != want.Rname || got.Domain != want.Domain || got.RefreshSeconds != want.RefreshSeconds {
		t.Errorf("header fields: got %d %d %s %s %s, want %d %d %s %s %s", got.TTL, got.RefreshSeconds, got.Mname, got.Rname, got.Domain,
			want.TTL, want.RefreshSeconds, want.Mname, want.Rname, want.Domain)
	}
	for _, c := range []struct {
		name      string
		got, want map[string][]string
	}{{"As", got.Records.As, want.Records.As}, {"AAAAs", got.Records.AAAAs, want.Records.AAAAs}, {"SRVs", got.Records.SRVs, want.Records.SRVs}} {
		if !reflect.DeepEqual(sortedValues(c.got), sortedValues(c.want)) {
			t.Errorf("%s differ from Mesos-DNS's:\n got %v\nwant %v", c.name, c.got, c.want)
		}
	}
}

// TestEnumerateMatchesMesosDNS compares /v1/enumerate with the real
// Mesos-DNS's answer, record for record.
func TestEnumerateMatchesMesosDNS(t *testing.T) {
	h := newAPI(t, fakeTable(t), Health{OK: true})
	_, body, _ := get(t, h, "/v1/enumerate")
	var got, want any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(fixtures.Path(t, "mesos-dns/peer-output/enumerate-default.json"))
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("/v1/enumerate differs from Mesos-DNS's:\n got %s", body)
	}
}

func TestLookups(t *testing.T) {
	h := newAPI(t, fakeTable(t), Health{OK: true})
	cases := []struct{ path, want string }{
		{"/v1/hosts/leader.mesos", `[{"host":"leader.mesos.","ip":"127.0.0.1"}]`},
		{"/v1/hosts/LEADER.*.mesos.", `[{"host":"leader.mesos.","ip":"127.0.0.1"}]`},
		{"/v1/hosts/missing.mesos", `[{"host":"","ip":""}]`},
		{"/v1/services/_leader._tcp.mesos", `[{"service":"_leader._tcp.mesos","host":"leader.mesos.","ip":"127.0.0.1","port":"15050"}]`},
		{"/v1/services/_missing._tcp.mesos", `[{"service":"","host":"","ip":"","port":""}]`},
		{"/v1/version", `{"Service":"Mesos-DNS","URL":"https://github.com/mesosphere/mesos-dns","Version":"test"}`},
	}
	for _, c := range cases {
		code, body, _ := get(t, h, c.path)
		var got, want any
		json.Unmarshal([]byte(body), &got)
		json.Unmarshal([]byte(c.want), &want)
		if code != 200 || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %d %s, want %s", c.path, code, body, c.want)
		}
	}
	// Targets with only an AAAA (an IPv6 agent) are listed with it.
	_, body, _ := get(t, h, "/v1/services/_toy-store._tcp.ipv6-framework.mesos")
	var entries []map[string]string
	json.Unmarshal([]byte(body), &entries)
	if len(entries) != 2 || entries[0]["ip"] != "2001:db8::1" || entries[1]["ip"] != "2001:db8::1" {
		t.Errorf("IPv6 service: %s", body)
	}
}

func TestConfigHidesSecrets(t *testing.T) {
	h := newAPI(t, fakeTable(t), Health{OK: true})
	code, body, _ := get(t, h, "/v1/config")
	if code != 200 || strings.Contains(body, "hunter2") || !strings.Contains(body, `"Principal": "signpost"`) {
		t.Errorf("/v1/config: %d %s", code, body)
	}
	for _, key := range []string{"RefreshSeconds", "IPSources", "SOAMname", "HttpPort", "EnforceRFC952", "MesosCredentials"} {
		if !strings.Contains(body, `"`+key+`"`) {
			t.Errorf("/v1/config lacks %s", key)
		}
	}
}

func TestErrorsAndHealth(t *testing.T) {
	h := newAPI(t, nil, Health{Reason: "no state loaded yet"})
	if code, body, hdr := get(t, h, "/nope"); code != 404 || body != "404: Page Not Found" || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Errorf("unknown path: %d %q", code, body)
	}
	req := httptest.NewRequest("POST", "/v1/version", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /v1/version: %d", rec.Code)
	}
	if code, _, _ := get(t, h, "/v1/version", "Accept", "text/html"); code != http.StatusNotAcceptable {
		t.Errorf("Accept text/html: %d", code)
	}
	if code, body, _ := get(t, h, "/health"); code != 503 || !strings.Contains(body, "no state loaded yet") {
		t.Errorf("/health before load: %d %s", code, body)
	}
	if code, body, _ := get(t, h, "/v1/hosts/leader.mesos"); code != 200 || !strings.Contains(body, `"host": ""`) {
		t.Errorf("lookup before load: %d %s", code, body)
	}
	ok := newAPI(t, fakeTable(t), Health{OK: true, Reason: "fresh"})
	if code, _, _ := get(t, ok, "/health"); code != 200 {
		t.Errorf("/health when fresh: %d", code)
	}
	off := New(Options{Config: func() any { return nil }, Table: func() *records.Table { return nil }, Health: func() Health { return Health{} }})
	if code, _, _ := get(t, off, "/v1/enumerate"); code != 404 {
		t.Errorf("/v1/enumerate with EnumerationOn false: %d", code)
	}
}
