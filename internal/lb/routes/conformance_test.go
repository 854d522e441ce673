package routes

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/testutil/fixtures"
	"github.com/signpost-dns/signpost/internal/testutil/haproxycfg"
	"github.com/signpost-dns/signpost/internal/wire/marathon"
)

// conformanceCase is one oracle case of fixtures/marathon-lb/conformance.
type conformanceCase struct {
	name  string
	dir   string
	state *cluster.MarathonState
	flags Flags
}

func loadCase(t *testing.T, dir string) conformanceCase {
	t.Helper()
	c := conformanceCase{name: filepath.Base(dir), dir: dir}
	data, err := os.ReadFile(filepath.Join(dir, "apps.json"))
	if err != nil {
		t.Fatal(err)
	}
	st, skipped, err := marathon.DecodeApps(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) > 0 {
		t.Fatalf("apps.json: skipped %v", skipped)
	}
	c.state = st
	args, err := os.ReadFile(filepath.Join(dir, "args"))
	if err != nil {
		t.Fatal(err)
	}
	var argv []string
	for _, l := range strings.Split(string(args), "\n") {
		if l != "" {
			argv = append(argv, l)
		}
	}
	c.flags, err = ParseArgs(argv)
	if err != nil {
		t.Fatalf("args %q: %v", argv, err)
	}
	env, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(env), "\n") {
		k, v, ok := strings.Cut(l, "=")
		switch {
		case !ok:
		case k == "FRAMEWORK_NAME":
			c.flags.FrameworkName = v
		default:
			// HAPROXY_* template overrides change HAProxy text, not routing
			// the default templates express; no current case sets any.
			t.Fatalf("env %s: not modelled", k)
		}
	}
	return c
}

// TestConformance builds the table of every oracle case and compares its
// routing with what the expected.cfg Marathon-LB v1.15.0 generated says:
// shared frontends (binds, certificates, auth/redirect/use_backend rules in
// order, map contents), per-app frontends (bind address and port, mode,
// TLS, bind options), backends (balance, mode, HTTP options, stickiness,
// health check, network ACL, HSTS/proxypass/revproxy/redirect, servers with
// name, address, id, check options, cookie, draining) and userlists.
func TestConformance(t *testing.T) {
	dirs := fixtures.Glob(t, "marathon-lb/conformance/*/expected.cfg")
	for _, f := range dirs {
		dir := filepath.Dir(f)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			c := loadCase(t, dir)
			want, err := haproxycfg.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			table, problems := Build(c.state, c.flags, HealthCache{})
			for _, p := range problems {
				if p.Disabled {
					t.Errorf("problem: %s", p)
				} else {
					t.Logf("warning: %s", p)
				}
			}
			if len(want.Backends) == 0 || want.HTTP == nil {
				t.Fatal("expected.cfg: no backend or no HTTP frontend extracted; the parser is broken")
			}
			compareSem(t, semOf(table), want)
		})
	}
}

// TestConformanceComparisonDetectsChanges makes sure the comparison of
// TestConformance has teeth: routing changes an oracle would notice — rule
// order, a server's address, draining, a check port, the map contents —
// must each produce a difference.
func TestConformanceComparisonDetectsChanges(t *testing.T) {
	load := func(t *testing.T, name string) (*Table, *haproxycfg.Config) {
		dir := fixtures.Path(t, "marathon-lb/conformance/"+name)
		c := loadCase(t, dir)
		want, err := haproxycfg.Load(filepath.Join(dir, "expected.cfg"))
		if err != nil {
			t.Fatal(err)
		}
		table, _ := Build(c.state, c.flags, HealthCache{})
		if d := semDiffs(semOf(table), want); len(d) > 0 {
			t.Fatalf("%s does not conform to begin with: %v", name, d)
		}
		return table, want
	}
	mutations := []struct {
		name    string
		fixture string
		mutate  func(*Table)
	}{
		{"swap weighted routes", "17_backend_weight_ordering", func(t *Table) {
			r := t.HTTP.Routes
			r[0], r[1] = r[1], r[0]
		}},
		{"drop a path", "12_vhost_path", func(t *Table) { t.HTTPS.Routes[0].Paths = nil }},
		{"server address", "01_tcp_two_tasks", func(t *Table) { t.Services[0].Backend.Servers[0].HostPort = "10.0.0.9:31001" }},
		{"server order", "01_tcp_two_tasks", func(t *Table) {
			s := t.Services[0].Backend.Servers
			s[0], s[1] = s[1], s[0]
		}},
		{"draining", "60_zdd_upstream_fixture", func(t *Table) { t.Services[0].Backend.Servers[3].Draining = false }},
		{"check port", "35_healthcheck_port_index", func(t *Table) { t.Services[0].Backend.Servers[0].CheckPort = 0 }},
		{"map entry", "42_haproxy_map", func(t *Table) { delete(t.HTTP.Routes[1].Map, "m1b.example.com") }},
		{"auth realm", "15_vhost_auth", func(t *Table) { t.HTTP.Auth[0].Realm = "other" }},
		{"redirect", "13_vhost_redirect_https", func(t *Table) { t.HTTP.Redirects = nil }},
		{"bind address", "20_port_bindaddr_ssl", func(t *Table) { t.Services[0].Listen.Addr = netip.Addr{} }},
		{"network", "22_network_allowed", func(t *Table) { t.Services[0].Backend.AllowedNetworks = t.Services[0].Backend.AllowedNetworks[:1] }},
		{"sticky cookie", "19_sticky_balance", func(t *Table) { t.Services[0].Backend.Servers[0].Cookie = "x" }},
		{"balance", "24_multi_port_labels", func(t *Table) { t.Services[1].Backend.Balance = "roundrobin" }},
	}
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			table, want := load(t, m.fixture)
			m.mutate(table)
			if d := semDiffs(semOf(table), want); len(d) == 0 {
				t.Errorf("mutation %q went unnoticed", m.name)
			}
		})
	}
}

func compareSem(t *testing.T, got, want *haproxycfg.Config) {
	t.Helper()
	for _, d := range semDiffs(got, want) {
		t.Error(d)
	}
}

// semDiffs lists every difference between two reduced configurations.
func semDiffs(got, want *haproxycfg.Config) []string {
	var out []string
	diff := func(what string, g, w any) {
		if !reflect.DeepEqual(g, w) {
			out = append(out, fmt.Sprintf("%s:\n got  %s\n want %s", what, dump(g), dump(w)))
		}
	}
	diff("HTTP frontend", got.HTTP, want.HTTP)
	diff("HTTPS frontend", got.HTTPS, want.HTTPS)
	diff("app-id frontend", got.AppID, want.AppID)
	diff("per-app frontends", got.Frontends, want.Frontends)
	diff("userlists", got.Userlists, want.Userlists)
	gb, wb := map[string]haproxycfg.Backend{}, map[string]haproxycfg.Backend{}
	var gn, wn []string
	for _, b := range got.Backends {
		gb[b.Name] = b
		gn = append(gn, b.Name)
	}
	for _, b := range want.Backends {
		wb[b.Name] = b
		wn = append(wn, b.Name)
	}
	diff("backend names", gn, wn)
	for _, name := range wn {
		if g, ok := gb[name]; ok {
			diff("backend "+name, g, wb[name])
		}
	}
	return out
}

func dump(v any) string {
	if p, ok := v.(*haproxycfg.Shared); ok && p != nil {
		return fmt.Sprintf("%+v", *p)
	}
	return fmt.Sprintf("%+v", v)
}
