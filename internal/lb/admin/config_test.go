package admin

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/routes"
)

// testdata/golden/<case>.cfg is Config for every case (see helpers_test.go);
// regenerate with: go test ./internal/lb/admin -run Golden -update
var update = flag.Bool("update", false, "rewrite testdata/golden files")

var builtAt = time.Date(2024, 1, 2, 3, 4, 5, 678e6, time.UTC)

func TestConfigGolden(t *testing.T) {
	dirs := caseDirs(t)
	for _, name := range sortedNames(dirs) {
		t.Run(name, func(t *testing.T) {
			table, problems := buildCase(t, dirs[name])
			got := Config(table, Info{Built: builtAt, Problems: problems})
			path := filepath.Join("testdata", "golden", name+".cfg")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (create it with -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Config differs from %s (rerun with -update if the change is intended):\n%s", path, lineDiff(string(got), string(want)))
			}
		})
	}
}

// lineDiff shows the first differing lines of two texts.
func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var out strings.Builder
	n := 0
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			out.WriteString("line " + strconv.Itoa(i+1) + ":\n  got  " + gl + "\n  want " + wl + "\n")
			if n++; n == 5 {
				break
			}
		}
	}
	return out.String()
}

// sameAsMarathonLB are the directives Config writes exactly as Marathon-LB
// v1.15.0 does; TestConfigAgreesWithOracle compares them with expected.cfg.
// Routing rules (use_backend, acl host_, redirect, auth) are written
// differently on purpose (inline conditions) and are left out.
var sameAsMarathonLB = []string{
	"frontend ", "backend ", "userlist ", "bind ", "mode ", "balance ",
	"option forwardfor", "http-request set-header X-Forwarded-Port",
	"http-request add-header X-Forwarded-Proto", "cookie ", "option  httpchk",
	"timeout check", "acl network_allowed", "http-request allow", "http-request deny",
	"tcp-request content", "user ", "server ",
}

// comparable returns the lines of a configuration that sameAsMarathonLB
// selects, trimmed, skipping Marathon-LB's global, defaults and listen
// stats sections.
func comparable(cfg string) []string {
	var out []string
	skip := false
	for _, l := range strings.Split(cfg, "\n") {
		switch {
		case l == "global" || l == "defaults" || strings.HasPrefix(l, "listen "):
			skip = true
			continue
		case strings.HasPrefix(l, "frontend ") || strings.HasPrefix(l, "backend ") || strings.HasPrefix(l, "userlist "):
			skip = false
		}
		l = strings.TrimSpace(l)
		if skip || strings.HasPrefix(l, "#") {
			continue
		}
		for _, p := range sameAsMarathonLB {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

// TestConfigAgreesWithOracle checks Config against what the real
// Marathon-LB generated for every oracle case: the same sections in the
// same order, the same binds, modes, balance, HTTP options, network ACLs,
// cookies, health-check options, userlists and server lines (name, address,
// id, check options, cookie, disabled). This ties the rendering to the
// contract, not only to our own golden files.
func TestConfigAgreesWithOracle(t *testing.T) {
	dirs := caseDirs(t)
	n := 0
	for _, name := range sortedNames(dirs) {
		dir := dirs[name]
		expected, err := os.ReadFile(filepath.Join(dir, "expected.cfg"))
		if err != nil {
			continue // one of Signpost's own cases
		}
		n++
		t.Run(name, func(t *testing.T) {
			table, _ := buildCase(t, dir)
			got, want := comparable(string(Config(table, Info{}))), comparable(string(expected))
			if len(want) == 0 {
				t.Fatal("nothing to compare in expected.cfg: the filter is broken")
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("differs from expected.cfg:\n%s", lineDiff(strings.Join(got, "\n"), strings.Join(want, "\n")))
			}
		})
	}
	if n < 20 {
		t.Fatalf("only %d oracle cases found", n)
	}
}

// TestConfigDeterministic builds each case several times: Build and Config
// iterate maps, and the output must not depend on their order.
func TestConfigDeterministic(t *testing.T) {
	dirs := caseDirs(t)
	for _, name := range sortedNames(dirs) {
		table, problems := buildCase(t, dirs[name])
		first := Config(table, Info{Built: builtAt, Problems: problems})
		for range 5 {
			table, problems := buildCase(t, dirs[name])
			if got := Config(table, Info{Built: builtAt, Problems: problems}); !bytes.Equal(got, first) {
				t.Fatalf("%s: two builds render differently:\n%s", name, lineDiff(string(got), string(first)))
			}
		}
	}
}

func TestConfigNilTable(t *testing.T) {
	for _, info := range []Info{{}, {Built: builtAt}} {
		got := string(Config(nil, info))
		if !strings.Contains(got, "no routes yet") {
			t.Errorf("Config(nil) = %q, want it to say there are no routes yet", got)
		}
		if strings.Contains(got, "frontend") || strings.Contains(got, "backend ") {
			t.Errorf("Config(nil) has sections: %q", got)
		}
		if !info.Built.IsZero() && !strings.Contains(got, "built: 2024-01-02T03:04:05.678Z") {
			t.Errorf("Config(nil) does not show the build time: %q", got)
		}
	}
}

func TestConfigHeader(t *testing.T) {
	table, problems := buildCase(t, "testdata/cases/x1_http_features")
	if len(problems) == 0 {
		t.Fatal("x1_http_features has a malformed PORT label but Build reported no problem")
	}
	got := string(Config(table, Info{Built: builtAt.In(time.FixedZone("X", 3600)), Problems: problems}))
	for _, want := range []string{
		"# built: 2024-01-02T03:04:05.678Z\n", // always UTC
		"# services: 5, servers: 7 (0 draining)\n",
		"#   app /broken port index 0",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("header lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "frontend broken") || strings.Contains(got, "backend broken") {
		t.Error("the disabled service is rendered")
	}
	// Without Info the header has no time and no problems.
	bare := string(Config(table, Info{}))
	if strings.Contains(bare, "built:") || strings.Contains(bare, "problems:") {
		t.Errorf("header without Info mentions build time or problems:\n%s", bare)
	}
}

// handTable is a table that routes.Build would not produce, with label
// values that try to break out of their line, mixed-case paths, a
// clear-text password and missing pointers.
func handTable() *routes.Table {
	ul := &routes.Userlist{Name: "user_x_1", Users: []routes.User{
		{Name: "alice", Password: "s3cret-clear", Insecure: true},
		{Name: "bob", Password: "$5$salt$hash"},
	}}
	b := &routes.Backend{
		Name: "x_1", AppID: "/x", ServicePort: 1, Mode: routes.ModeHTTP, Balance: "roundrobin",
		Auth: &routes.BasicAuth{Realm: "r\"ealm\nuser evil", Userlist: ul},
		HTTP: &routes.HTTPOptions{}, Vhosts: []string{"x.example.com"},
		HealthCheck: &routes.HealthCheck{Type: routes.CheckTCP, Interval: 1500 * time.Millisecond, Fall: 3, Rise: 5},
		Servers:     []routes.Server{{Name: "s1", ID: 7, Addr: netip.MustParseAddrPort("10.0.0.1:80")}},
	}
	return &routes.Table{
		HTTP: &routes.HTTPFrontend{
			Listen: routes.ListenAddr{Port: 80},
			Auth: []routes.AuthRule{{
				Match: routes.Match{Hosts: []string{"x.example.com"}}, Realm: b.Auth.Realm,
				Userlists: []*routes.Userlist{ul, nil},
			}},
			Routes: []routes.RouteRule{
				{Match: routes.Match{Hosts: []string{"x.example.com\nbackend evil"}, Paths: []routes.PathPrefix{
					{Prefix: "/a"}, {Prefix: "/B", IgnoreCase: true}, {Prefix: "/c d#e"},
				}}, Backend: b},
				{Match: routes.Match{Hosts: []string{"y.example.com"}}}, // no backend
			},
		},
		Services: []*routes.Service{
			{Listen: routes.ListenAddr{Port: 1}, Mode: routes.ModeHTTP, BindOptions: "alpn h2\nfrontend evil", Backend: b},
			{Listen: routes.ListenAddr{Port: 2}, Mode: routes.ModeTCP}, // no backend
			nil,
		},
	}
}

func TestConfigHandTable(t *testing.T) {
	got := string(Config(handTable(), Info{Problems: []routes.Problem{{AppID: "/e\nbackend evil", PortIndex: -1, Reason: "r"}}}))
	for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		// Every line is a comment, an indented directive, a section header
		// or blank: nothing from a label can start a section.
		switch {
		case l == "", strings.HasPrefix(l, "#"), strings.HasPrefix(l, "  "):
		case strings.HasPrefix(l, "frontend ") || strings.HasPrefix(l, "backend ") || strings.HasPrefix(l, "userlist "):
			if strings.Contains(l, "evil") {
				t.Errorf("label text started a section: %q", l)
			}
		default:
			t.Errorf("unexpected line %q", l)
		}
	}
	if strings.Contains(got, "s3cret-clear") {
		t.Error("a clear-text password is shown")
	}
	for _, want := range []string{
		"  user alice insecure-password ******\n",
		"  user bob password $5$salt$hash\n",
		`  http-request auth realm "r\"ealm\x0auser evil" if { hdr(host) -i x.example.com } !{ http_auth(user_x_1) }` + "\n",
		// Exact and case-insensitive prefixes are two alternatives; a
		// space and a '#' in a prefix are escaped.
		`  use_backend x_1 if { hdr(host) -i x.example.com\x0abackend\ evil } { path_beg /a /c\ d\#e } || { hdr(host) -i x.example.com\x0abackend\ evil } { path_beg -i /B }` + "\n",
		"  use_backend <none> if { hdr(host) -i y.example.com }\n",
		`  bind *:1 alpn h2\x0afrontend evil` + "\n",
		"  server s1 10.0.0.1:80 id 7 check inter 1500ms fall 3 rise 5\n",
		"\nfrontend <none>\n  bind *:2\n  mode tcp\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

func TestAlternatives(t *testing.T) {
	tests := []struct {
		name string
		m    routes.Match
		want []string
	}{
		{"empty", routes.Match{}, nil},
		{"host", routes.Match{Hosts: []string{"a", "b"}}, []string{"{ f -i a b }"}},
		{"path", routes.Match{Paths: []routes.PathPrefix{{Prefix: "/p"}}}, []string{"{ path_beg /p }"}},
		{"host and path", routes.Match{Hosts: []string{"a"}, Paths: []routes.PathPrefix{{Prefix: "/p"}, {Prefix: "/q"}}},
			[]string{"{ f -i a } { path_beg /p /q }"}},
		{"folded first", routes.Match{Hosts: []string{"a"}, Paths: []routes.PathPrefix{{Prefix: "/P", IgnoreCase: true}, {Prefix: "/q"}}},
			[]string{"{ f -i a } { path_beg -i /P }", "{ f -i a } { path_beg /q }"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := alternatives("f", tt.m)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Errorf("alternatives = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWord(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain.example.com", "plain.example.com"},
		{"a b", `a\ b`},
		{`a"b'c\d#e`, `a\"b\'c\\d\#e`},
		{"a\nb\x7f", `a\x0ab\x7f`},
	}
	for _, tt := range tests {
		if got := word(tt.in); got != tt.want {
			t.Errorf("word(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzEscaping: whatever a label holds, word, quote and clean never let it
// add a line, and word never lets it add an argument.
func FuzzEscaping(f *testing.F) {
	for _, s := range []string{"", "a b", "x\nbackend evil", `"'\\#`, "\x7f\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, out := range []string{word(s), quote(s), clean(s)} {
			if strings.ContainsAny(out, "\n\r") {
				t.Fatalf("%q escapes to %q, which breaks the line", s, out)
			}
		}
		w := word(s)
		for i := 0; i < len(w); i++ {
			if w[i] == '\\' {
				i++ // an escaped character
				continue
			}
			if w[i] == ' ' || w[i] == '#' {
				t.Fatalf("word(%q) = %q has an unescaped separator", s, w)
			}
		}
	})
}
