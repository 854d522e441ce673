// Package haproxycfg reads the HAProxy configuration that the real
// Marathon-LB generates — each conformance case's expected.cfg in
// shared/fixtures/marathon-lb/conformance, with its map files — into what
// it says about routing: the shared HTTP, HTTPS and app-id frontends' rules
// in order (conditions resolved through their ACLs, --haproxy-map lookups
// through the map files), the per-app frontends, the backends with their
// servers in order, and the userlists.
//
// That configuration is the oracle of the conformance tests, and two of
// them read it: the route-table comparison of internal/lb/routes and the
// end-to-end requests of internal/lb/e2e. Test files cannot share code
// across packages, so the one parser lives here. It imports nothing of
// Signpost's own model, so that the tests check Signpost against what
// Marathon-LB wrote, not against Signpost's idea of it.
//
// It understands only what Marathon-LB's default templates write and
// ignores every other directive; a routing condition it cannot express is
// an error rather than a guess.
package haproxycfg

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Config is the routing a configuration expresses.
type Config struct {
	HTTP      *Shared // frontend marathon_http_in; nil without one
	HTTPS     *Shared // frontend marathon_https_in; nil without one
	AppID     AppID   // frontend marathon_http_appid_in
	Frontends []Frontend
	Backends  []Backend
	Userlists []Userlist
}

// Backend returns the backend called name, or nil.
func (c *Config) Backend(name string) *Backend {
	for i := range c.Backends {
		if c.Backends[i].Name == name {
			return &c.Backends[i]
		}
	}
	return nil
}

// Shared is marathon_http_in or marathon_https_in. HAProxy runs every auth
// rule, then every redirect, then the first matching use_backend.
type Shared struct {
	Bind     string   // the bind address, "*:80"
	Certs    []string // the bind line's crt files, in order
	Auth     []Rule   // http-request auth rules
	Redirect []Rule   // redirect rules
	Route    []Rule   // use_backend rules
}

// Rule is one rule whose condition holds when a request matches one of
// Hosts (or Hosts is empty) and one of Paths (or Paths is empty). A rule
// whose condition has alternatives ("||") is read as one Rule an
// alternative, in order, which routes the same.
type Rule struct {
	// Hosts are hdr(host) -i or ssl_fc_sni patterns.
	Hosts []string
	// Paths are path_beg prefixes.
	Paths []Path
	// Userlists are those whose credentials lift an auth rule
	// (!http_auth(<userlist>) in its condition).
	Userlists []string
	// Backend is the use_backend target.
	Backend string
	// Realm is the realm of an auth rule.
	Realm string
	// Map is a use_backend map lookup (--haproxy-map): key → backend. The
	// keys are what HAProxy looks up: the lower-case host without port, or
	// the lower-case app id.
	Map map[string]string
}

// Path is one path_beg pattern.
type Path struct {
	Prefix     string
	IgnoreCase bool // -i
}

// AppID is marathon_http_appid_in: the first rule whose AppIDs has the
// X-Marathon-App-Id header (case-insensitively) wins, else Map decides.
type AppID struct {
	Rules []AppRule
	Map   map[string]string // lower-case app id → backend (--haproxy-map)
}

// AppRule is one use_backend rule of the app-id frontend.
type AppRule struct {
	AppIDs  []string
	Backend string
}

// Frontend is a per-app frontend (any frontend but the three shared ones).
type Frontend struct {
	Name        string
	Bind        string // "*:10001", "127.0.0.1:10001"
	Mode        string // "tcp" or "http"
	SSLCert     string // the bind line's "ssl crt <file>"
	BindOptions string // the rest of the bind line, as written
	Backend     string
}

// Backend is one backend section.
type Backend struct {
	Name    string
	Mode    string
	Balance string // as written; empty when the section has no balance line (HAProxy's default is roundrobin)
	// Cookie is the name of the cookie of a cookie line (stickiness), or
	// empty without one.
	Cookie        string
	HTTPOptions   bool     // option forwardfor (Marathon-LB's HTTP options)
	HTTPCheck     string   // option httpchk arguments, "GET /path"
	CheckTimeout  string   // timeout check, "5s"
	Networks      []string // the network_allowed ACL's sources; empty: all
	NetworkAction string   // where network_allowed is enforced: "http" or "tcp"
	HSTS          bool     // a Strict-Transport-Security header is added
	ProxyPass     string   // "<host> <path>" of HAPROXY_{n}_HTTP_BACKEND_PROXYPASS_PATH
	RevProxy      string   // "<host> <path>" of HAPROXY_{n}_HTTP_BACKEND_REVPROXY_PATH
	RootRedirect  string   // "<hosts,> <location>" of HAPROXY_{n}_HTTP_BACKEND_REDIR
	Servers       []Server // in order
}

// Active returns the addresses of the servers that take new requests (the
// ones not disabled), in order.
func (b *Backend) Active() []string {
	var out []string
	for _, s := range b.Servers {
		if !s.Disabled {
			out = append(out, s.Addr)
		}
	}
	return out
}

// Server is one server line.
type Server struct {
	Name      string
	Addr      string // "ip:port"
	ID        int
	Checked   bool   // check
	Check     string // "inter 3s fall 3" when check timings are given
	CheckPort int    // port: the health check's port
	Cookie    string
	Disabled  bool // draining
}

// Userlist is one userlist section.
type Userlist struct {
	Name  string
	Users []string // "<user> password <hash>" as written
}

// Tokenize splits a configuration line the way HAProxy does: on blanks,
// with "double" and 'single' quotes, backslash escapes outside single
// quotes (\ , \#, \\, \", \', \r, \n, \t; any other backslash stays, as
// in "\1" or "\."), and an unquoted # starting a comment.
func Tokenize(line string) []string {
	var out []string
	var cur strings.Builder
	in := false    // inside a word
	var quote byte // the open quote, or 0
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && quote != '\'' && i+1 < len(line):
			i++
			switch e := line[i]; e {
			case ' ', '#', '\\', '"', '\'':
				cur.WriteByte(e)
			case 'r':
				cur.WriteByte('\r')
			case 'n':
				cur.WriteByte('\n')
			case 't':
				cur.WriteByte('\t')
			default: // not an escape: kept, as regular expressions need
				cur.WriteByte('\\')
				cur.WriteByte(e)
			}
			in = true
		case (c == '"' || c == '\'') && (quote == 0 || quote == c):
			if quote == 0 {
				quote = c
			} else {
				quote = 0
			}
			in = true
		case quote != 0:
			cur.WriteByte(c)
		case c == '#':
			i = len(line)
		case c == ' ' || c == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// Section is one section of a configuration: a line starting in the first
// column ("backend web_10000"), then its indented lines.
type Section struct {
	Kind  string     // "global", "defaults", "frontend", "backend", "userlist", "listen"
	Name  string     // empty for global and defaults
	Lines [][]string // each line's tokens; blank and comment lines are left out
}

// Sections splits a configuration into its sections, in order. Indented
// lines before the first section are dropped.
func Sections(text string) []Section {
	var secs []Section
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		tok := Tokenize(line)
		if len(tok) == 0 {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			name := ""
			if len(tok) > 1 {
				name = tok[1]
			}
			secs = append(secs, Section{Kind: tok[0], Name: name})
			continue
		}
		if len(secs) > 0 {
			secs[len(secs)-1].Lines = append(secs[len(secs)-1].Lines, tok)
		}
	}
	return secs
}

// ParseMap reads a map file's "<key> <backend>" lines; of duplicate keys
// the first wins, as in HAProxy.
func ParseMap(text string) map[string]string {
	m := map[string]string{}
	for line := range strings.SplitSeq(text, "\n") {
		if f := Tokenize(line); len(f) == 2 {
			if _, dup := m[f[0]]; !dup {
				m[f[0]] = f[1]
			}
		}
	}
	return m
}

// Load reads the configuration at path and every *.map file beside it (a
// map(/any/dir/<name>.map) lookup in the configuration uses <name>.map).
func Load(path string) (*Config, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(filepath.Dir(path), "*.map"))
	if err != nil {
		return nil, err
	}
	maps := map[string]map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		maps[filepath.Base(f)] = ParseMap(string(b))
	}
	c, err := Parse(string(text), maps)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse reads a configuration. maps holds the map files by base name; a
// lookup of a map file that maps does not hold is an error.
func Parse(text string, maps map[string]map[string]string) (*Config, error) {
	c := &Config{}
	for _, sec := range Sections(text) {
		var err error
		switch {
		case sec.Kind == "frontend" && sec.Name == "marathon_http_in":
			c.HTTP, err = parseShared(sec, maps)
		case sec.Kind == "frontend" && sec.Name == "marathon_https_in":
			c.HTTPS, err = parseShared(sec, maps)
		case sec.Kind == "frontend" && sec.Name == "marathon_http_appid_in":
			c.AppID, err = parseAppID(sec, maps)
		case sec.Kind == "frontend":
			c.Frontends = append(c.Frontends, parseFrontend(sec))
		case sec.Kind == "backend":
			var b Backend
			b, err = parseBackend(sec)
			c.Backends = append(c.Backends, b)
		case sec.Kind == "userlist":
			u := Userlist{Name: sec.Name}
			for _, tok := range sec.Lines {
				if tok[0] == "user" {
					u.Users = append(u.Users, strings.Join(tok[1:], " "))
				}
			}
			c.Userlists = append(c.Userlists, u)
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", sec.Kind, sec.Name, err)
		}
	}
	return c, nil
}

// acl is one "acl <name> <fetch> [-flags] <patterns>" line, or the body of
// an anonymous "{ <fetch> [-flags] <patterns> }".
type acl struct {
	fetch    string
	icase    bool
	patterns []string
}

// acls holds a section's named ACLs; HAProxy ORs the lines of one name.
type acls map[string][]acl

func (a acls) add(tok []string) error {
	if len(tok) < 3 {
		return fmt.Errorf("acl line %q too short", tok)
	}
	a[tok[1]] = append(a[tok[1]], parseACL(tok[2:]))
	return nil
}

func parseACL(tok []string) acl {
	l := acl{}
	if len(tok) > 0 {
		l.fetch = tok[0]
		tok = tok[1:]
	}
	for len(tok) > 0 && strings.HasPrefix(tok[0], "-") {
		l.icase = l.icase || tok[0] == "-i"
		tok = tok[1:]
	}
	l.patterns = tok
	return l
}

// match is what one alternative of a condition requires.
type match struct {
	hosts     []string
	paths     []Path
	userlists []string
}

// condition reads the terms after "if" of a rule line (none: always),
// one match per "||" (or "or") alternative.
func condition(tok []string, named acls) ([]match, error) {
	i := slices.Index(tok, "if")
	if i < 0 {
		if slices.Contains(tok, "unless") {
			return nil, fmt.Errorf("unless in %q not understood", tok)
		}
		return []match{{}}, nil
	}
	var out []match
	var m match
	terms := tok[i+1:]
	for i := 0; i < len(terms); i++ {
		t, neg := terms[i], false
		if t == "||" || t == "or" {
			out, m = append(out, m), match{}
			continue
		}
		if t == "!" {
			if i+1 == len(terms) {
				return nil, fmt.Errorf("! at the end of %q", terms)
			}
			i++
			t, neg = terms[i], true
		} else if strings.HasPrefix(t, "!") {
			t, neg = t[1:], true
		}
		var lines []acl
		if t == "{" {
			j := slices.Index(terms[i:], "}")
			if j < 0 {
				return nil, fmt.Errorf("unclosed anonymous ACL in %q", terms)
			}
			lines = []acl{parseACL(terms[i+1 : i+j])}
			i += j
		} else {
			var ok bool
			if lines, ok = named[t]; !ok {
				return nil, fmt.Errorf("unknown ACL %q", t)
			}
		}
		for _, l := range lines {
			switch {
			case l.fetch == "ssl_fc" && neg:
				// "!{ ssl_fc }": plain HTTP only, always true on :80.
			case !neg && (l.fetch == "hdr(host)" || l.fetch == "ssl_fc_sni" || l.fetch == "hdr(x-marathon-app-id)"):
				m.hosts = append(m.hosts, l.patterns...)
			case !neg && l.fetch == "path_beg":
				for _, p := range l.patterns {
					m.paths = append(m.paths, Path{Prefix: p, IgnoreCase: l.icase})
				}
			case neg && strings.HasPrefix(l.fetch, "http_auth(") && strings.HasSuffix(l.fetch, ")"):
				m.userlists = append(m.userlists, strings.TrimSuffix(strings.TrimPrefix(l.fetch, "http_auth("), ")"))
			default:
				return nil, fmt.Errorf("condition term %q (%+v, negated %v) not understood", t, l, neg)
			}
		}
	}
	return append(out, m), nil
}

// lookup returns the map a "%[<fetch>,...,map(<file>)]" use_backend looks
// its backend up in.
func lookup(tok string, maps map[string]map[string]string) (map[string]string, error) {
	i, j := strings.Index(tok, "map("), strings.LastIndex(tok, ")]")
	if i < 0 || j < i {
		return nil, fmt.Errorf("use_backend %s: no map lookup", tok)
	}
	file := filepath.Base(tok[i+4 : j])
	m, ok := maps[file]
	if !ok {
		return nil, fmt.Errorf("use_backend %s: map file %s not given", tok, file)
	}
	return m, nil
}

func parseShared(sec Section, maps map[string]map[string]string) (*Shared, error) {
	s := &Shared{}
	named := acls{}
	for _, tok := range sec.Lines {
		// rules adds one rule an alternative of tok's condition.
		rules := func(to *[]Rule, r Rule) error {
			ms, err := condition(tok, named)
			for _, m := range ms {
				r.Hosts, r.Paths, r.Userlists = m.hosts, m.paths, m.userlists
				*to = append(*to, r)
			}
			return err
		}
		var err error
		switch tok[0] {
		case "bind":
			if len(tok) > 1 {
				s.Bind = tok[1]
			}
			for i := 2; i+1 < len(tok); i++ {
				if tok[i] == "crt" {
					s.Certs = append(s.Certs, tok[i+1])
				}
			}
		case "acl":
			err = named.add(tok)
		case "use_backend":
			if len(tok) < 2 {
				return nil, fmt.Errorf("use_backend without a backend")
			}
			if strings.HasPrefix(tok[1], "%[") {
				var m map[string]string
				if m, err = lookup(tok[1], maps); err == nil {
					s.Route = append(s.Route, Rule{Map: m})
				}
				break
			}
			err = rules(&s.Route, Rule{Backend: tok[1]})
		case "http-request":
			if len(tok) > 3 && tok[1] == "auth" && tok[2] == "realm" {
				err = rules(&s.Auth, Rule{Realm: tok[3]})
			}
		case "redirect":
			err = rules(&s.Redirect, Rule{})
		}
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

func parseAppID(sec Section, maps map[string]map[string]string) (AppID, error) {
	var a AppID
	named := acls{}
	for _, tok := range sec.Lines {
		switch tok[0] {
		case "acl":
			if err := named.add(tok); err != nil {
				return a, err
			}
		case "use_backend":
			if len(tok) < 2 {
				return a, fmt.Errorf("use_backend without a backend")
			}
			if strings.HasPrefix(tok[1], "%[") {
				m, err := lookup(tok[1], maps)
				if err != nil {
					return a, err
				}
				a.Map = m
				continue
			}
			ms, err := condition(tok, named)
			if err != nil {
				return a, err
			}
			for _, m := range ms {
				if len(m.paths) > 0 || len(m.userlists) > 0 {
					return a, fmt.Errorf("app-id rule %q: only app ids understood", tok)
				}
				a.Rules = append(a.Rules, AppRule{AppIDs: m.hosts, Backend: tok[1]})
			}
		}
	}
	return a, nil
}

func parseFrontend(sec Section) Frontend {
	f := Frontend{Name: sec.Name}
	for _, tok := range sec.Lines {
		switch {
		case tok[0] == "bind" && len(tok) > 1:
			f.Bind = tok[1]
			rest := tok[2:]
			if len(rest) >= 3 && rest[0] == "ssl" && rest[1] == "crt" {
				f.SSLCert, rest = rest[2], rest[3:]
			}
			f.BindOptions = strings.Join(rest, " ")
		case tok[0] == "mode" && len(tok) > 1:
			f.Mode = tok[1]
		case tok[0] == "use_backend" && len(tok) > 1:
			f.Backend = tok[1]
		}
	}
	return f
}

func parseBackend(sec Section) (Backend, error) {
	b := Backend{Name: sec.Name}
	named := acls{}
	var setHost string
	for _, tok := range sec.Lines {
		arg := func(i int) string {
			if i < len(tok) {
				return tok[i]
			}
			return ""
		}
		switch tok[0] {
		case "balance":
			b.Balance = strings.Join(tok[1:], " ")
		case "mode":
			b.Mode = arg(1)
		case "option":
			switch arg(1) {
			case "forwardfor":
				b.HTTPOptions = true
			case "httpchk":
				b.HTTPCheck = strings.Join(tok[2:], " ")
			}
		case "timeout":
			if arg(1) == "check" {
				b.CheckTimeout = arg(2)
			}
		case "cookie":
			b.Cookie = arg(1)
		case "acl":
			if err := named.add(tok); err != nil {
				return b, err
			}
			if tok[1] == "network_allowed" {
				b.Networks = append(b.Networks, tok[3:]...)
			}
		case "http-request":
			switch {
			case arg(1) == "allow" && slices.Contains(tok, "network_allowed"):
				b.NetworkAction = "http"
			case arg(1) == "set-header" && arg(2) == "Host":
				setHost = arg(3)
			}
		case "tcp-request":
			if slices.Contains(tok, "network_allowed") {
				b.NetworkAction = "tcp"
			}
		case "rspadd":
			if strings.HasPrefix(arg(1), "Strict-Transport-Security:") {
				b.HSTS = true
			}
		case "reqirep":
			// "^([^ :]*)\ <path>/?(.*)" after tokenizing
			p := strings.TrimSuffix(strings.TrimPrefix(arg(1), "^([^ :]*) "), "/?(.*)")
			b.ProxyPass = setHost + " " + p
		case "rspirep":
			// "^Location: (https?://<host>(:[0-9]+)?)?(/.*)" "Location:   <path> if hdr_location"
			h := strings.TrimSuffix(strings.TrimPrefix(arg(1), "^Location: (https?://"), "(:[0-9]+)?)?(/.*)")
			p := strings.Fields(strings.TrimPrefix(arg(2), "Location:"))
			if len(p) == 0 {
				return b, fmt.Errorf("rspirep %q not understood", tok)
			}
			b.RevProxy = h + " " + p[0]
		case "redirect":
			if arg(1) == "code" && arg(3) == "location" {
				var hosts []string
				for _, l := range named["is_domain"] {
					hosts = append(hosts, l.patterns...)
				}
				b.RootRedirect = strings.Join(hosts, ",") + " " + arg(4)
			}
		case "server":
			s, err := parseServer(tok)
			if err != nil {
				return b, err
			}
			b.Servers = append(b.Servers, s)
		}
	}
	return b, nil
}

func parseServer(tok []string) (Server, error) {
	if len(tok) < 3 {
		return Server{}, fmt.Errorf("server line %q too short", tok)
	}
	s := Server{Name: tok[1], Addr: tok[2]}
	var inter, fall string
	for i := 3; i < len(tok); i++ {
		arg := func() string {
			i++
			if i < len(tok) {
				return tok[i]
			}
			return ""
		}
		switch tok[i] {
		case "id", "port":
			opt := tok[i]
			n, err := strconv.Atoi(arg())
			if err != nil {
				return s, fmt.Errorf("server %s: %s: %w", s.Name, opt, err)
			}
			if opt == "id" {
				s.ID = n
			} else {
				s.CheckPort = n
			}
		case "check":
			s.Checked = true
		case "inter":
			inter = arg()
		case "fall":
			fall = arg()
		case "cookie":
			s.Cookie = arg()
		case "disabled":
			s.Disabled = true
		default:
			return s, fmt.Errorf("server %s: option %q not understood", s.Name, tok[i])
		}
	}
	if inter != "" || fall != "" {
		s.Check = "inter " + inter + " fall " + fall
	}
	return s, nil
}
