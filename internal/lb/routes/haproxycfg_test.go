package routes

import (
	"bufio"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// This file reads the routing-relevant part of a Marathon-LB HAProxy
// configuration (the oracle's expected.cfg) into the same comparable shape
// the route table is reduced to, so that the conformance test compares
// routing semantics, not text. It understands only what Marathon-LB's
// default templates write and ignores every other directive.

type semConfig struct {
	HTTP      *semShared
	HTTPS     *semShared
	AppID     semAppID
	Frontends []semFrontend
	Backends  []semBackend
	Userlists []semUserlist
}

type semShared struct {
	Bind     string
	Certs    []string
	Auth     []semRule
	Redirect []semRule
	Route    []semRule
}

type semRule struct {
	Hosts     []string
	Paths     []string
	Backend   string
	Realm     string
	Userlists []string
	Map       map[string]string
}

type semAppID struct {
	Rules []semAppRule
	Map   map[string]string
}

type semAppRule struct {
	AppIDs  []string
	Backend string
}

type semFrontend struct {
	Name, Bind, Mode, SSLCert, BindOptions, Backend string
}

type semBackend struct {
	Name, Mode, Balance string
	HTTPOptions         bool // forwardfor + X-Forwarded-* headers
	Sticky              bool
	HTTPCheck           string // "GET /path"
	CheckTimeout        string // "5s"
	Networks            []string
	NetworkAction       string // "http" or "tcp" allow/deny
	HSTS                bool
	ProxyPass           string // "<host> <path>"
	RevProxy            string // "<host> <path>"
	RootRedirect        string // "<hosts> <location>"
	Servers             []semServer
}

type semServer struct {
	Name, Addr string
	ID         int
	Checked    bool
	Check      string // "inter 3s fall 3" when timings are given
	CheckPort  int
	Cookie     string
	Disabled   bool
}

type semUserlist struct {
	Name  string
	Users []string // "<user> password <hash>"
}

// tokenize splits a config line like HAProxy: on blanks, with "..." quotes
// and backslash escapes.
func tokenize(line string) []string {
	var out []string
	var cur strings.Builder
	in, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			in = true
		case c == '"':
			quoted = !quoted
			in = true
		case (c == ' ' || c == '\t') && !quoted:
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

type cfgSection struct {
	kind, name string
	lines      [][]string
}

func parseSections(text string) []cfgSection {
	var secs []cfgSection
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		tok := tokenize(line)
		if line[0] != ' ' && line[0] != '\t' {
			name := ""
			if len(tok) > 1 {
				name = tok[1]
			}
			secs = append(secs, cfgSection{kind: tok[0], name: name})
			continue
		}
		if len(secs) > 0 {
			secs[len(secs)-1].lines = append(secs[len(secs)-1].lines, tok)
		}
	}
	return secs
}

// aclLine is one "acl <name> <fetch> [flags] <patterns>" line.
type aclLine struct {
	fetch    string
	icase    bool
	patterns []string
}

type condition struct {
	hosts, paths, userlists []string
}

// evalCond turns a rule condition into the match it expresses, resolving
// named ACLs with every line of that name (HAProxy merges them).
func evalCond(terms []string, acls map[string][]aclLine) (condition, error) {
	var c condition
	for i := 0; i < len(terms); i++ {
		t := terms[i]
		neg := false
		if t == "!" {
			neg, i = true, i+1
			t = terms[i]
		} else if strings.HasPrefix(t, "!") && t != "!{" {
			neg, t = true, t[1:]
		}
		if t == "!{" {
			neg, t = true, "{"
		}
		var lines []aclLine
		if t == "{" {
			j := slices.Index(terms[i:], "}")
			if j < 0 {
				return c, fmt.Errorf("unclosed anonymous ACL in %q", terms)
			}
			lines = []aclLine{parseACLBody(terms[i+1 : i+j])}
			i += j
		} else {
			var ok bool
			lines, ok = acls[t]
			if !ok {
				return c, fmt.Errorf("unknown ACL %q", t)
			}
		}
		for _, l := range lines {
			switch {
			case l.fetch == "ssl_fc" && neg:
				// "!{ ssl_fc }": plain HTTP only, always true on :80.
			case l.fetch == "hdr(host)" || l.fetch == "ssl_fc_sni" || l.fetch == "hdr(x-marathon-app-id)":
				c.hosts = append(c.hosts, l.patterns...)
			case l.fetch == "path_beg":
				for _, p := range l.patterns {
					if l.icase {
						p = "-i " + p
					}
					c.paths = append(c.paths, p)
				}
			case strings.HasPrefix(l.fetch, "http_auth(") && neg:
				c.userlists = append(c.userlists, strings.TrimSuffix(strings.TrimPrefix(l.fetch, "http_auth("), ")"))
			default:
				return c, fmt.Errorf("unsupported condition term %q (%+v)", t, l)
			}
		}
	}
	return c, nil
}

func parseACLBody(tok []string) aclLine {
	l := aclLine{fetch: tok[0]}
	rest := tok[1:]
	for len(rest) > 0 && strings.HasPrefix(rest[0], "-") {
		if rest[0] == "-i" {
			l.icase = true
		}
		rest = rest[1:]
	}
	l.patterns = rest
	return l
}

// condOf splits "… if <terms>" off a rule.
func condOf(tok []string) []string {
	if i := slices.Index(tok, "if"); i >= 0 {
		return tok[i+1:]
	}
	return nil
}

func parseShared(sec cfgSection, maps map[string]map[string]string) (*semShared, error) {
	s := &semShared{}
	acls := map[string][]aclLine{}
	for _, tok := range sec.lines {
		switch tok[0] {
		case "bind":
			s.Bind = tok[1]
			for i := 2; i+1 < len(tok); i++ {
				if tok[i] == "crt" {
					s.Certs = append(s.Certs, tok[i+1])
				}
			}
		case "acl":
			acls[tok[1]] = append(acls[tok[1]], parseACLBody(tok[2:]))
		case "use_backend":
			if strings.HasPrefix(tok[1], "%[") {
				file := tok[1][strings.Index(tok[1], "map(")+4 : strings.LastIndex(tok[1], ")]")]
				m := maps[file[strings.LastIndex(file, "/")+1:]]
				if m == nil {
					m = map[string]string{}
				}
				s.Route = append(s.Route, semRule{Map: m})
				continue
			}
			c, err := evalCond(condOf(tok), acls)
			if err != nil {
				return nil, err
			}
			s.Route = append(s.Route, semRule{Hosts: c.hosts, Paths: c.paths, Backend: tok[1]})
		case "http-request":
			if len(tok) > 3 && tok[1] == "auth" && tok[2] == "realm" {
				c, err := evalCond(condOf(tok), acls)
				if err != nil {
					return nil, err
				}
				s.Auth = append(s.Auth, semRule{Hosts: c.hosts, Paths: c.paths, Realm: tok[3], Userlists: c.userlists})
			}
		case "redirect":
			c, err := evalCond(condOf(tok), acls)
			if err != nil {
				return nil, err
			}
			s.Redirect = append(s.Redirect, semRule{Hosts: c.hosts, Paths: c.paths})
		}
	}
	return s, nil
}

func parseAppID(sec cfgSection, maps map[string]map[string]string) (semAppID, error) {
	var a semAppID
	acls := map[string][]aclLine{}
	for _, tok := range sec.lines {
		switch tok[0] {
		case "acl":
			acls[tok[1]] = append(acls[tok[1]], parseACLBody(tok[2:]))
		case "use_backend":
			if strings.HasPrefix(tok[1], "%[") {
				a.Map = maps["app2backend.map"]
				if a.Map == nil {
					a.Map = map[string]string{}
				}
				continue
			}
			c, err := evalCond(condOf(tok), acls)
			if err != nil {
				return a, err
			}
			a.Rules = append(a.Rules, semAppRule{AppIDs: c.hosts, Backend: tok[1]})
		}
	}
	return a, nil
}

func parseBackend(sec cfgSection) (semBackend, error) {
	b := semBackend{Name: sec.name}
	acls := map[string][]aclLine{}
	var setHost string
	for _, tok := range sec.lines {
		switch tok[0] {
		case "balance":
			b.Balance = strings.Join(tok[1:], " ")
		case "mode":
			b.Mode = tok[1]
		case "option":
			switch tok[1] {
			case "forwardfor":
				b.HTTPOptions = true
			case "httpchk":
				b.HTTPCheck = strings.Join(tok[2:], " ")
			}
		case "timeout":
			if tok[1] == "check" {
				b.CheckTimeout = tok[2]
			}
		case "cookie":
			b.Sticky = tok[1] == StickyCookie
		case "acl":
			acls[tok[1]] = append(acls[tok[1]], parseACLBody(tok[2:]))
			if tok[1] == "network_allowed" {
				b.Networks = append(b.Networks, tok[3:]...)
			}
		case "http-request":
			switch {
			case tok[1] == "allow" && slices.Contains(tok, "network_allowed"):
				b.NetworkAction = "http"
			case tok[1] == "set-header" && tok[2] == "Host":
				setHost = tok[3]
			}
		case "tcp-request":
			if slices.Contains(tok, "network_allowed") {
				b.NetworkAction = "tcp"
			}
		case "rspadd":
			if strings.HasPrefix(tok[1], "Strict-Transport-Security:") {
				b.HSTS = true
			}
		case "reqirep":
			// "^([^ :]*)\ <path>/?(.*)"
			p := strings.TrimSuffix(strings.TrimPrefix(tok[1], "^([^ :]*) "), "/?(.*)")
			b.ProxyPass = setHost + " " + p
		case "rspirep":
			// "^Location: (https?://<host>(:[0-9]+)?)?(/.*)" "Location:   <path> if hdr_location"
			h := strings.TrimSuffix(strings.TrimPrefix(tok[1], "^Location: (https?://"), "(:[0-9]+)?)?(/.*)")
			p := strings.Fields(strings.TrimPrefix(tok[2], "Location:"))[0]
			b.RevProxy = h + " " + p
		case "redirect":
			if tok[1] == "code" && tok[3] == "location" {
				var hosts []string
				for _, l := range acls["is_domain"] {
					hosts = append(hosts, l.patterns...)
				}
				b.RootRedirect = strings.Join(hosts, ",") + " " + tok[4]
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

func parseServer(tok []string) (semServer, error) {
	s := semServer{Name: tok[1], Addr: tok[2]}
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
		case "id":
			n, err := strconv.Atoi(arg())
			if err != nil {
				return s, err
			}
			s.ID = n
		case "check":
			s.Checked = true
		case "inter":
			inter = arg()
		case "fall":
			fall = arg()
		case "port":
			n, err := strconv.Atoi(arg())
			if err != nil {
				return s, err
			}
			s.CheckPort = n
		case "cookie":
			s.Cookie = arg()
		case "disabled":
			s.Disabled = true
		default:
			return s, fmt.Errorf("unsupported server option %q", tok[i])
		}
	}
	if inter != "" || fall != "" {
		s.Check = "inter " + inter + " fall " + fall
	}
	return s, nil
}

// parseHAProxyConfig reduces a Marathon-LB configuration to its routing.
// maps holds the map files by base name (for --haproxy-map).
func parseHAProxyConfig(text string, maps map[string]map[string]string) (semConfig, error) {
	var c semConfig
	for _, sec := range parseSections(text) {
		var err error
		switch {
		case sec.kind == "frontend" && sec.name == "marathon_http_in":
			c.HTTP, err = parseShared(sec, maps)
		case sec.kind == "frontend" && sec.name == "marathon_https_in":
			c.HTTPS, err = parseShared(sec, maps)
		case sec.kind == "frontend" && sec.name == "marathon_http_appid_in":
			c.AppID, err = parseAppID(sec, maps)
		case sec.kind == "frontend":
			f := semFrontend{Name: sec.name}
			for _, tok := range sec.lines {
				switch tok[0] {
				case "bind":
					f.Bind = tok[1]
					rest := tok[2:]
					if len(rest) >= 3 && rest[0] == "ssl" && rest[1] == "crt" {
						f.SSLCert, rest = rest[2], rest[3:]
					}
					f.BindOptions = strings.Join(rest, " ")
				case "mode":
					f.Mode = tok[1]
				case "use_backend":
					f.Backend = tok[1]
				}
			}
			c.Frontends = append(c.Frontends, f)
		case sec.kind == "backend":
			var b semBackend
			b, err = parseBackend(sec)
			c.Backends = append(c.Backends, b)
		case sec.kind == "userlist":
			u := semUserlist{Name: sec.name}
			for _, tok := range sec.lines {
				if tok[0] == "user" {
					u.Users = append(u.Users, strings.Join(tok[1:], " "))
				}
			}
			c.Userlists = append(c.Userlists, u)
		}
		if err != nil {
			return c, fmt.Errorf("%s %s: %w", sec.kind, sec.name, err)
		}
	}
	return c, nil
}

// parseMapFile reads "<key> <backend>" lines; the first of duplicate keys wins.
func parseMapFile(text string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 {
			if _, dup := m[f[0]]; !dup {
				m[f[0]] = f[1]
			}
		}
	}
	return m
}

// semOf reduces a route table to the same shape.
func semOf(t *Table) semConfig {
	var c semConfig
	if t.HTTP != nil {
		s := &semShared{Bind: t.HTTP.Listen.String()}
		for _, r := range t.HTTP.Auth {
			s.Auth = append(s.Auth, semAuth(r))
		}
		for _, r := range t.HTTP.Redirects {
			s.Redirect = append(s.Redirect, semMatch(r.Match))
		}
		for _, r := range t.HTTP.Routes {
			s.Route = append(s.Route, semRoute(r))
		}
		c.HTTP = s
	}
	if t.HTTPS != nil {
		s := &semShared{Bind: t.HTTPS.Listen.String(), Certs: t.HTTPS.Certs}
		for _, r := range t.HTTPS.Auth {
			s.Auth = append(s.Auth, semAuth(r))
		}
		for _, r := range t.HTTPS.Routes {
			s.Route = append(s.Route, semRoute(r))
		}
		c.HTTPS = s
	}
	for _, r := range t.AppID.Routes {
		c.AppID.Rules = append(c.AppID.Rules, semAppRule{AppIDs: r.AppIDs, Backend: r.Backend.Name})
	}
	if t.AppID.Map != nil {
		c.AppID.Map = names(t.AppID.Map)
	}
	for _, s := range t.Services {
		b := s.Backend
		c.Frontends = append(c.Frontends, semFrontend{Name: b.Name, Bind: s.Listen.String(), Mode: string(s.Mode),
			SSLCert: s.SSLCert, BindOptions: s.BindOptions, Backend: b.Name})
		sb := semBackend{Name: b.Name, Mode: string(b.Mode), Balance: b.Balance, Sticky: b.Sticky}
		if b.HTTP != nil {
			sb.HTTPOptions = true
			sb.HSTS = b.HTTP.HSTS
			if b.HTTP.ProxyPassPath != "" {
				sb.ProxyPass = b.HTTP.ProxyPassHost + " " + b.HTTP.ProxyPassPath
			}
			if b.HTTP.RevProxyPath != "" {
				sb.RevProxy = b.HTTP.RevProxyHost + " " + b.HTTP.RevProxyPath
			}
			if r := b.HTTP.RootRedirect; r != nil {
				sb.RootRedirect = strings.Join(r.Hosts, ",") + " " + r.Location
			}
		}
		if h := b.HealthCheck; h != nil && !h.Implicit && h.Type == CheckHTTP {
			sb.HTTPCheck = "GET " + h.Path
			sb.CheckTimeout = strconv.Itoa(int(h.Timeout.Seconds())) + "s"
		}
		for _, p := range b.AllowedNetworks {
			if p.Bits() == p.Addr().BitLen() {
				sb.Networks = append(sb.Networks, p.Addr().String())
			} else {
				sb.Networks = append(sb.Networks, p.String())
			}
		}
		if len(b.AllowedNetworks) > 0 {
			sb.NetworkAction = string(b.Mode)
		}
		for _, sv := range b.Servers {
			ss := semServer{Name: sv.Name, Addr: sv.HostPort, ID: sv.ID, CheckPort: sv.CheckPort,
				Cookie: sv.Cookie, Disabled: sv.Draining, Checked: b.HealthCheck != nil}
			if h := b.HealthCheck; h != nil && !h.Implicit {
				ss.Check = "inter " + strconv.Itoa(int(h.Interval.Seconds())) + "s fall " + strconv.Itoa(h.Fall)
			}
			sb.Servers = append(sb.Servers, ss)
		}
		c.Backends = append(c.Backends, sb)
		if b.Auth != nil && b.Auth.Userlist != nil {
			u := semUserlist{Name: b.Auth.Userlist.Name}
			for _, usr := range b.Auth.Userlist.Users {
				kw := "password"
				if usr.Insecure {
					kw = "insecure-password"
				}
				u.Users = append(u.Users, usr.Name+" "+kw+" "+usr.Password)
			}
			c.Userlists = append(c.Userlists, u)
		}
	}
	return c
}

func semMatch(m Match) semRule {
	r := semRule{Hosts: m.Hosts}
	for _, p := range m.Paths {
		s := p.Prefix
		if p.IgnoreCase {
			s = "-i " + s
		}
		r.Paths = append(r.Paths, s)
	}
	return r
}

func semAuth(a AuthRule) semRule {
	r := semMatch(a.Match)
	r.Realm = a.Realm
	for _, u := range a.Userlists {
		r.Userlists = append(r.Userlists, u.Name)
	}
	return r
}

func semRoute(rr RouteRule) semRule {
	if rr.Map != nil {
		return semRule{Map: names(rr.Map)}
	}
	r := semMatch(rr.Match)
	r.Backend = rr.Backend.Name
	return r
}

func names(m map[string]*Backend) map[string]string {
	out := make(map[string]string, len(m))
	for k, b := range m {
		out[k] = b.Name
	}
	return out
}
