package admin

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/signpost-dns/signpost/internal/lb/routes"
	"github.com/signpost-dns/signpost/internal/testutil/fixtures"
	"github.com/signpost-dns/signpost/internal/wire/marathon"
)

// A case is a directory with apps.json (Marathon's /v2/apps?embed=apps.tasks)
// and args (Marathon-LB's command line, one argument a line), the layout of
// shared/fixtures/marathon-lb/conformance; the oracle cases there also have
// expected.cfg and, for --haproxy-map, the map files Marathon-LB wrote.
// testdata/cases holds Signpost's own cases for what the oracle set lacks.

// caseDirs lists every oracle case and every case of testdata/cases, by name.
func caseDirs(t *testing.T) map[string]string {
	t.Helper()
	dirs := map[string]string{}
	for _, f := range fixtures.Glob(t, "marathon-lb/conformance/*/apps.json") {
		dirs[filepath.Base(filepath.Dir(f))] = filepath.Dir(f)
	}
	own, err := filepath.Glob("testdata/cases/*/apps.json")
	if err != nil || len(own) == 0 {
		t.Fatalf("testdata/cases: %v (%d cases)", err, len(own))
	}
	for _, f := range own {
		dirs[filepath.Base(filepath.Dir(f))] = filepath.Dir(f)
	}
	return dirs
}

func sortedNames(dirs map[string]string) []string {
	names := make([]string, 0, len(dirs))
	for n := range dirs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// buildCase builds the route table of a case directory the way `signpost lb`
// would: routes.ParseArgs on args, FRAMEWORK_NAME from env, the Marathon
// wire decoder on apps.json, routes.Build.
func buildCase(t *testing.T, dir string) (*routes.Table, []routes.Problem) {
	t.Helper()
	data := readFile(t, filepath.Join(dir, "apps.json"))
	st, skipped, err := marathon.DecodeApps(data)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	if len(skipped) > 0 {
		t.Fatalf("%s: apps.json: skipped %v", dir, skipped)
	}
	var argv []string
	for _, l := range strings.Split(string(readFile(t, filepath.Join(dir, "args"))), "\n") {
		if l != "" {
			argv = append(argv, l)
		}
	}
	flags, err := routes.ParseArgs(argv)
	if err != nil {
		t.Fatalf("%s: args %q: %v", dir, argv, err)
	}
	if env, err := os.ReadFile(filepath.Join(dir, "env")); err == nil {
		for _, l := range strings.Split(string(env), "\n") {
			k, v, ok := strings.Cut(l, "=")
			switch {
			case !ok:
			case k == "FRAMEWORK_NAME":
				flags.FrameworkName = v
			default:
				t.Fatalf("%s: env %s: not modelled", dir, k)
			}
		}
	}
	return routes.Build(st, flags, routes.HealthCache{})
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
