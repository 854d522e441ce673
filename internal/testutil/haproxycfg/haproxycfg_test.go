package haproxycfg

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/signpost-dns/signpost/internal/testutil/fixtures"
)

func TestTokenize(t *testing.T) {
	cases := []struct {
		name, line string
		want       []string
	}{
		{"blanks and tabs", "  use_backend\t web_10000  if  a ", []string{"use_backend", "web_10000", "if", "a"}},
		{"double quotes keep blanks", `http-request auth realm "my realm" if x`, []string{"http-request", "auth", "realm", "my realm", "if", "x"}},
		{"quotes inside a word", `realm="a b"c`, []string{"realm=a bc"}},
		{"empty quotes are a word", `a "" b`, []string{"a", "", "b"}},
		{"single quotes are literal", `a 'x\ y "z"'`, []string{"a", `x\ y "z"`}},
		{"escaped blank", `reqirep  "^([^ :]*)\ /api/?(.*)" "\1\ /\2"`, []string{"reqirep", "^([^ :]*) /api/?(.*)", `\1 /\2`}},
		{"escaped quotes and backslash", `a \"b\" c\\d "e\"f"`, []string{"a", `"b"`, `c\d`, `e"f`}},
		{"comment after words", "bind *:80 # the HTTP port", []string{"bind", "*:80"}},
		{"comment glued to a word", "mode http#x", []string{"mode", "http"}},
		{"hash in quotes", `rspadd "X-Note: #1"`, []string{"rspadd", "X-Note: #1"}},
		{"escaped hash", `acl a path_beg /\#frag`, []string{"acl", "a", "path_beg", "/#frag"}},
		{"comment line", "  # frontend x", nil},
		{"blank line", " \t ", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Tokenize(c.line); !reflect.DeepEqual(got, c.want) {
				t.Errorf("Tokenize(%q) = %q, want %q", c.line, got, c.want)
			}
		})
	}
}

func TestSections(t *testing.T) {
	text := `  orphan line before any section
# a comment
global
  daemon

defaults
  mode http # inline comment
frontend marathon_http_in
  bind *:80
    # indented comment
  mode http
backend web_10000
  server a 10.0.0.1:1 id 1
`
	want := []Section{
		{Kind: "global", Lines: [][]string{{"daemon"}}},
		{Kind: "defaults", Lines: [][]string{{"mode", "http"}}},
		{Kind: "frontend", Name: "marathon_http_in", Lines: [][]string{{"bind", "*:80"}, {"mode", "http"}}},
		{Kind: "backend", Name: "web_10000", Lines: [][]string{{"server", "a", "10.0.0.1:1", "id", "1"}}},
	}
	if got := Sections(text); !reflect.DeepEqual(got, want) {
		t.Errorf("Sections:\n got  %+v\n want %+v", got, want)
	}
}

func TestParseMap(t *testing.T) {
	got := ParseMap("# vhosts\na.example web_1\nA.example web_2\na.example web_3\n\nbad line here\nb.example  web_4  # comment\n")
	want := map[string]string{"a.example": "web_1", "A.example": "web_2", "b.example": "web_4"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseMap = %v, want %v", got, want)
	}
}

// TestParse reads small configurations in the shape Marathon-LB writes.
func TestParse(t *testing.T) {
	maps := map[string]map[string]string{
		"domain2backend.map": {"m.example": "m_1"},
		"app2backend.map":    {"/m": "m_1"},
	}
	cases := []struct {
		name string
		cfg  string
		get  func(*Config) any
		want any
	}{
		{
			name: "named ACL lines merge, path_beg -i, rule order kept",
			cfg: `frontend marathon_http_in
  bind *:80
  mode http
  acl host_a hdr(host) -i a.example
  acl host_a hdr(host) -i b.example c.example
  acl path_a path_beg -i /api
  use_backend api_1 if host_a path_a
  use_backend web_1 if host_a
  use_backend any_1
`,
			get: func(c *Config) any { return c.HTTP },
			want: &Shared{Bind: "*:80", Route: []Rule{
				{Hosts: []string{"a.example", "b.example", "c.example"}, Paths: []Path{{"/api", true}}, Backend: "api_1"},
				{Hosts: []string{"a.example", "b.example", "c.example"}, Backend: "web_1"},
				{Backend: "any_1"},
			}},
		},
		{
			name: "anonymous ACLs, || and or split a rule",
			cfg: `frontend marathon_https_in
  bind *:443 ssl crt /etc/ssl/a.pem crt /etc/ssl/b.pem
  acl p path_beg /p
  use_backend x_1 if { ssl_fc_sni x.example } p || { ssl_fc_sni y.example }
  use_backend z_1 if { ssl_fc_sni z.example } or { ssl_fc_sni w.example } p
`,
			get: func(c *Config) any { return c.HTTPS },
			want: &Shared{Bind: "*:443", Certs: []string{"/etc/ssl/a.pem", "/etc/ssl/b.pem"}, Route: []Rule{
				{Hosts: []string{"x.example"}, Paths: []Path{{Prefix: "/p"}}, Backend: "x_1"},
				{Hosts: []string{"y.example"}, Backend: "x_1"},
				{Hosts: []string{"z.example"}, Backend: "z_1"},
				{Hosts: []string{"w.example"}, Paths: []Path{{Prefix: "/p"}}, Backend: "z_1"},
			}},
		},
		{
			name: "negations: auth with !http_auth, redirect with !{ ssl_fc } and ! alone",
			cfg: `frontend marathon_http_in
  bind *:80
  acl host_s hdr(host) -i s.example
  acl auth_s http_auth(users_1)
  http-request auth realm "my realm" if host_s !auth_s
  http-request auth realm r2 if host_s ! auth_s
  redirect scheme https code 301 if !{ ssl_fc } host_s
  use_backend s_1 if host_s
`,
			get: func(c *Config) any { return c.HTTP },
			want: &Shared{Bind: "*:80",
				Auth: []Rule{
					{Hosts: []string{"s.example"}, Userlists: []string{"users_1"}, Realm: "my realm"},
					{Hosts: []string{"s.example"}, Userlists: []string{"users_1"}, Realm: "r2"},
				},
				Redirect: []Rule{{Hosts: []string{"s.example"}}},
				Route:    []Rule{{Hosts: []string{"s.example"}, Backend: "s_1"}},
			},
		},
		{
			name: "map lookups by the map file's base name",
			cfg: `frontend marathon_http_in
  bind *:80
  use_backend %[req.hdr(host),lower,regsub(:.*$,,),map(/etc/haproxy/domain2backend.map)]
frontend marathon_http_appid_in
  bind *:9091
  acl app_a hdr(x-marathon-app-id) -i /a
  use_backend a_1 if app_a
  use_backend %[req.hdr(x-marathon-app-id),lower,map(/marathon-lb/app2backend.map)]
`,
			get: func(c *Config) any { return []any{c.HTTP.Route, c.AppID} },
			want: []any{
				[]Rule{{Map: map[string]string{"m.example": "m_1"}}},
				AppID{Rules: []AppRule{{AppIDs: []string{"/a"}, Backend: "a_1"}}, Map: map[string]string{"/m": "m_1"}},
			},
		},
		{
			name: "per-app frontends",
			cfg: `frontend web_10000
  bind 127.0.0.1:10000 ssl crt /etc/ssl/w.pem accept-proxy
  mode http
  use_backend web_10000
frontend db_10001
  bind *:10001
  mode tcp
  use_backend db_10001
`,
			get: func(c *Config) any { return c.Frontends },
			want: []Frontend{
				{Name: "web_10000", Bind: "127.0.0.1:10000", Mode: "http", SSLCert: "/etc/ssl/w.pem", BindOptions: "accept-proxy", Backend: "web_10000"},
				{Name: "db_10001", Bind: "*:10001", Mode: "tcp", Backend: "db_10001"},
			},
		},
		{
			name: "backends: balance, stickiness, checks, network ACL, servers in order",
			cfg: `backend web_10000
  balance leastconn
  mode http
  option forwardfor
  option httpchk GET /health
  timeout check 5s
  cookie mesosphere_server_id insert indirect nocache
  acl network_allowed src 10.0.0.0/8 192.168.1.1
  http-request allow if network_allowed
  http-request deny
  server b 10.0.0.2:31002 id 2 check inter 3s fall 2 port 9000 cookie c2
  server a 10.0.0.1:31001 id 1 check disabled
backend db_10001
  mode tcp
  acl network_allowed src 10.1.0.0/16
  tcp-request content accept if network_allowed
  server c 10.0.0.3:31003 id 3
userlist users_1
  user alice password $6$hash
`,
			get: func(c *Config) any { return []any{c.Backends, c.Userlists} },
			want: []any{
				[]Backend{{
					Name: "web_10000", Mode: "http", Balance: "leastconn", Cookie: "mesosphere_server_id",
					HTTPOptions: true, HTTPCheck: "GET /health", CheckTimeout: "5s",
					Networks: []string{"10.0.0.0/8", "192.168.1.1"}, NetworkAction: "http",
					Servers: []Server{
						{Name: "b", Addr: "10.0.0.2:31002", ID: 2, Checked: true, Check: "inter 3s fall 2", CheckPort: 9000, Cookie: "c2"},
						{Name: "a", Addr: "10.0.0.1:31001", ID: 1, Checked: true, Disabled: true},
					},
				}, {
					Name: "db_10001", Mode: "tcp", Networks: []string{"10.1.0.0/16"}, NetworkAction: "tcp",
					Servers: []Server{{Name: "c", Addr: "10.0.0.3:31003", ID: 3}},
				}},
				[]Userlist{{Name: "users_1", Users: []string{"alice password $6$hash"}}},
			},
		},
		{
			name: "HTTP backend options",
			cfg: `backend web_10000
  mode http
  rspadd  Strict-Transport-Security:\ max-age=15768000
  http-request set-header Host in.example
  reqirep  "^([^ :]*)\ /api/?(.*)" "\1\ /\2"
  acl hdr_location res.hdr(Location) -m found
  rspirep "^Location: (https?://in.example(:[0-9]+)?)?(/.*)" "Location:   /api if hdr_location"
  acl is_root path -i /
  acl is_domain hdr(host) -i a.example
  acl is_domain hdr(host) -i b.example
  redirect code 301 location /app if is_domain is_root
`,
			get: func(c *Config) any {
				b := c.Backend("web_10000")
				return []string{strings.Join([]string{b.Mode, b.ProxyPass, b.RevProxy, b.RootRedirect}, "|"), strings.Repeat("hsts", btoi(b.HSTS))}
			},
			want: []string{"http|in.example /api|in.example /api|a.example,b.example /app", "hsts"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse(c.cfg, maps)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.get(cfg); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got\n  %+v\nwant\n  %+v", got, c.want)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestParseRefuses: what the parser cannot express is an error, not a
// silently different rule.
func TestParseRefuses(t *testing.T) {
	front := "frontend marathon_http_in\n  bind *:80\n  acl h hdr(host) -i h.example\n"
	cases := []struct {
		name, cfg, want string
	}{
		{"unknown ACL", front + "  use_backend b if nope\n", `unknown ACL "nope"`},
		{"unclosed anonymous ACL", front + "  use_backend b if { ssl_fc_sni x\n", "unclosed"},
		{"negated host", front + "  use_backend b if !h\n", "not understood"},
		{"ssl_fc required", front + "  use_backend b if { ssl_fc } h\n", "not understood"},
		{"! at the end", front + "  use_backend b if h !\n", "! at the end"},
		{"unless", front + "  use_backend b unless h\n", "unless"},
		{"map not given", front + "  use_backend %[req.hdr(host),lower,map(/etc/haproxy/other.map)]\n", "other.map not given"},
		{"server option", "backend b\n  server s 10.0.0.1:1 weight 2\n", `option "weight"`},
		{"server id", "backend b\n  server s 10.0.0.1:1 id x\n", "id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestLoadFixtures reads real Marathon-LB output: every conformance case
// loads, and two are read as they say.
func TestLoadFixtures(t *testing.T) {
	for _, f := range fixtures.Glob(t, "marathon-lb/conformance/*/expected.cfg") {
		t.Run(filepath.Base(filepath.Dir(f)), func(t *testing.T) {
			c, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if c.HTTP == nil || len(c.Backends) == 0 {
				t.Errorf("no HTTP frontend or no backend read: %+v", c)
			}
		})
	}

	t.Run("map files beside the config", func(t *testing.T) {
		c, err := Load(fixtures.Path(t, "marathon-lb/conformance/42_haproxy_map/expected.cfg"))
		if err != nil {
			t.Fatal(err)
		}
		wantHTTP := []Rule{
			{Hosts: []string{"m2.example.com"}, Paths: []Path{{Prefix: "/p"}}, Backend: "m2_10311"},
			{Map: map[string]string{"m1.example.com": "m1_10310", "m1b.example.com": "m1_10310"}},
		}
		if !reflect.DeepEqual(c.HTTP.Route, wantHTTP) {
			t.Errorf("HTTP routes %+v, want %+v", c.HTTP.Route, wantHTTP)
		}
		if want := map[string]string{"/m1": "m1_10310", "/m2": "m2_10311"}; !reflect.DeepEqual(c.AppID.Map, want) {
			t.Errorf("app-id map %v, want %v", c.AppID.Map, want)
		}
		if c.HTTPS == nil || c.HTTPS.Bind != "*:443" || !reflect.DeepEqual(c.HTTPS.Certs, []string{"/etc/ssl/cert.pem"}) {
			t.Errorf("HTTPS frontend %+v", c.HTTPS)
		}
	})

	t.Run("sticky servers in order", func(t *testing.T) {
		b := fixtureBackend(t, "19_sticky_balance", "sticky_10121")
		if b.Balance != "leastconn" || b.Cookie != "mesosphere_server_id" {
			t.Errorf("balance %q cookie %q", b.Balance, b.Cookie)
		}
		want := []string{"10.0.0.1:31121", "10.0.0.2:31122"}
		if got := b.Active(); !reflect.DeepEqual(got, want) {
			t.Errorf("servers %v, want %v", got, want)
		}
		if b.Servers[1].Cookie != "b7c2cb14d3" || b.Servers[1].ID != 22980 || !b.Servers[1].Checked {
			t.Errorf("second server %+v", b.Servers[1])
		}
	})

	t.Run("a draining server is not active", func(t *testing.T) {
		b := fixtureBackend(t, "60_zdd_upstream_fixture", "nginx_10000")
		var disabled []string
		for _, s := range b.Servers {
			if s.Disabled {
				disabled = append(disabled, s.Addr)
				if s.Check != "inter 3s fall 11" {
					t.Errorf("server %s check %q", s.Name, s.Check)
				}
			}
		}
		if len(disabled) != 1 || disabled[0] != "10.0.6.25:31184" {
			t.Errorf("disabled %v, want [10.0.6.25:31184]", disabled)
		}
		if len(b.Active()) != len(b.Servers)-1 {
			t.Errorf("%d active of %d servers", len(b.Active()), len(b.Servers))
		}
	})
}

// fixtureBackend loads a conformance case's expected.cfg and returns one of
// its backends.
func fixtureBackend(t *testing.T, dir, name string) *Backend {
	t.Helper()
	c, err := Load(fixtures.Path(t, "marathon-lb/conformance/"+dir+"/expected.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Backend(name)
	if b == nil {
		t.Fatalf("%s: no backend %s", dir, name)
	}
	return b
}
