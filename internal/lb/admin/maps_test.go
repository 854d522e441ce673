package admin

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/signpost-dns/signpost/internal/lb/routes"
)

// TestMapsMatchOracle compares the maps with the map files the real
// Marathon-LB wrote, for every oracle case that has them, byte for byte
// (lines, order, separators, final newline).
func TestMapsMatchOracle(t *testing.T) {
	dirs := caseDirs(t)
	n := 0
	for _, name := range sortedNames(dirs) {
		dir := dirs[name]
		vhost, err1 := os.ReadFile(filepath.Join(dir, "domain2backend.map"))
		app, err2 := os.ReadFile(filepath.Join(dir, "app2backend.map"))
		if err1 != nil || err2 != nil {
			continue
		}
		n++
		t.Run(name, func(t *testing.T) {
			table, _ := buildCase(t, dir)
			if got := string(VhostMap(table)); got != string(vhost) {
				t.Errorf("VhostMap =\n%q\nwant (domain2backend.map)\n%q", got, vhost)
			}
			if got := string(AppMap(table)); got != string(app) {
				t.Errorf("AppMap =\n%q\nwant (app2backend.map)\n%q", got, app)
			}
		})
	}
	if n == 0 {
		t.Fatal("no oracle case with map files (42_haproxy_map has them)")
	}
}

func TestMaps(t *testing.T) {
	tests := []struct {
		name           string
		vhost, appMaps string
	}{
		// Without --haproxy-map the maps are empty, as Marathon-LB
		// truncates the files.
		{"10_vhost_single", "", ""},
		{"17_backend_weight_ordering", "", ""},
		{"x1_http_features", "", ""},
		// No vhost frontends: no vhost map; the app map lists the first
		// http port of each http app, not tcp apps.
		{"x3_map_dont_bind", "", "/m1 m1_10420\n/m2 m2_10421\n"},
		// The first app to claim a host name routes it and is the only
		// line; label case is folded; the path vhost stays a rule.
		{"x4_map_shared_vhost",
			"shared.example.com a_10430\nother.example.com b_10431\n",
			"/a a_10430\n/b b_10431\n/c c_10432\n"},
	}
	dirs := caseDirs(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, ok := dirs[tt.name]
			if !ok {
				t.Fatalf("no case %s", tt.name)
			}
			table, _ := buildCase(t, dir)
			if got := string(VhostMap(table)); got != tt.vhost {
				t.Errorf("VhostMap = %q, want %q", got, tt.vhost)
			}
			if got := string(AppMap(table)); got != tt.appMaps {
				t.Errorf("AppMap = %q, want %q", got, tt.appMaps)
			}
		})
	}
}

func TestMapsNilAndHandTables(t *testing.T) {
	if got := VhostMap(nil); len(got) != 0 {
		t.Errorf("VhostMap(nil) = %q", got)
	}
	if got := AppMap(nil); len(got) != 0 {
		t.Errorf("AppMap(nil) = %q", got)
	}
	if got := VhostMap(&routes.Table{}); len(got) != 0 {
		t.Errorf("VhostMap(empty) = %q", got)
	}
	// Entries no service leads to are still listed, sorted, after the
	// others; a nil backend does not crash.
	b := &routes.Backend{Name: "b_1", AppID: "/b", Vhosts: []string{"z.example.com"}}
	table := &routes.Table{
		HTTPS: &routes.HTTPSFrontend{Routes: []routes.RouteRule{{Map: map[string]*routes.Backend{
			"z.example.com": b, "y.example.com": b, "x.example.com": nil, "w\nx": b,
		}}}},
		AppID:    &routes.AppIDFrontend{Map: map[string]*routes.Backend{"/b": b, "/a": nil}},
		Services: []*routes.Service{nil, {Backend: b}, {}},
	}
	if got, want := string(VhostMap(table)), "z.example.com b_1\nw\\x0ax b_1\nx.example.com <none>\ny.example.com b_1\n"; got != want {
		t.Errorf("VhostMap = %q, want %q", got, want)
	}
	if got, want := string(AppMap(table)), "/b b_1\n/a <none>\n"; got != want {
		t.Errorf("AppMap = %q, want %q", got, want)
	}
}
