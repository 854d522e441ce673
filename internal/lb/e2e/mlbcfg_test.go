package e2e

import (
	"bufio"
	"fmt"
	"slices"
	"strings"
)

// This file reads what a Marathon-LB HAProxy configuration (a conformance
// case's expected.cfg) says about routing, and decides from it alone where
// a request goes. It is deliberately independent of internal/lb/routes (a
// small copy of the ideas of its haproxycfg_test.go), so that the tests
// check signpost against the oracle, not against signpost's own model. It
// understands only what Marathon-LB's default templates write.

// mlbConfig is the routing an expected.cfg expresses.
type mlbConfig struct {
	HTTP, HTTPS *mlbShared
	AppID       mlbAppID
	Frontends   []mlbFrontend
	Backends    map[string]*mlbBackend
}

// mlbShared is marathon_http_in or marathon_https_in: HAProxy runs every
// auth rule, then every redirect, then the first matching use_backend.
type mlbShared struct {
	Auth, Redirect, Route []mlbRule
}

// mlbRule is one rule: all its hosts/paths conditions must hold.
type mlbRule struct {
	Hosts   []string // hdr(host) -i or ssl_fc_sni patterns; empty: any
	Paths   []mlbPath
	Backend string
	Realm   string
	// Map is a --haproxy-map lookup (host or app id → backend).
	Map map[string]string
}

type mlbPath struct {
	prefix string
	icase  bool
}

type mlbAppID struct {
	Rules []mlbRule // Hosts are the app ids
	Map   map[string]string
}

// mlbFrontend is a per-app frontend.
type mlbFrontend struct {
	Name, Bind, Mode, SSLCert, Backend string
}

type mlbBackend struct {
	Name, Mode, Balance string
	Sticky              bool
	Networks            []string // allowed sources; empty: all
	Servers             []mlbServer
}

type mlbServer struct {
	Name, Addr string
	Disabled   bool
}

// active returns the addresses of the servers that take new requests.
func (b *mlbBackend) active() []string {
	var out []string
	for _, s := range b.Servers {
		if !s.Disabled {
			out = append(out, s.Addr)
		}
	}
	return out
}

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
			quoted, in = !quoted, true
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
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
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

type aclLine struct {
	fetch    string
	icase    bool
	patterns []string
}

func parseACL(tok []string) aclLine {
	l := aclLine{fetch: tok[0]}
	rest := tok[1:]
	for len(rest) > 0 && strings.HasPrefix(rest[0], "-") {
		l.icase = l.icase || rest[0] == "-i"
		rest = rest[1:]
	}
	l.patterns = rest
	return l
}

// cond turns the terms after "if" into a rule's hosts and paths; named
// ACLs with several lines are merged (any line matching is enough).
func cond(tok []string, acls map[string][]aclLine) (mlbRule, error) {
	var r mlbRule
	i := slices.Index(tok, "if")
	if i < 0 {
		return r, nil
	}
	terms := tok[i+1:]
	for i := 0; i < len(terms); i++ {
		t, neg := terms[i], false
		if t == "!" {
			i++
			t, neg = terms[i], true
		} else if strings.HasPrefix(t, "!") {
			t, neg = t[1:], true
		}
		var lines []aclLine
		if t == "{" {
			j := slices.Index(terms[i:], "}")
			if j < 0 {
				return r, fmt.Errorf("unclosed { in %q", terms)
			}
			lines = []aclLine{parseACL(terms[i+1 : i+j])}
			i += j
		} else {
			var ok bool
			if lines, ok = acls[t]; !ok {
				return r, fmt.Errorf("unknown ACL %q", t)
			}
		}
		for _, l := range lines {
			switch {
			case l.fetch == "ssl_fc" && neg: // plain HTTP only: true on the :80 frontend
			case l.fetch == "hdr(host)" || l.fetch == "ssl_fc_sni" || l.fetch == "hdr(x-marathon-app-id)":
				r.Hosts = append(r.Hosts, l.patterns...)
			case l.fetch == "path_beg":
				for _, p := range l.patterns {
					r.Paths = append(r.Paths, mlbPath{prefix: p, icase: l.icase})
				}
			case strings.HasPrefix(l.fetch, "http_auth(") && neg: // credentials checked by the test itself
			default:
				return r, fmt.Errorf("condition term %q (%+v) not understood", t, l)
			}
		}
	}
	return r, nil
}

func mapOf(tok string, maps map[string]map[string]string) map[string]string {
	// %[req.hdr(host),lower,regsub(:.*$,,),map(/marathon-lb/domain2backend.map)]
	file := tok[strings.Index(tok, "map(")+4 : strings.LastIndex(tok, ")]")]
	m := maps[file[strings.LastIndex(file, "/")+1:]]
	if m == nil {
		m = map[string]string{}
	}
	return m
}

// parseMLBConfig reads an expected.cfg; maps holds its map files by name.
func parseMLBConfig(text string, maps map[string]map[string]string) (*mlbConfig, error) {
	c := &mlbConfig{Backends: map[string]*mlbBackend{}}
	for _, sec := range parseSections(text) {
		acls := map[string][]aclLine{}
		switch {
		case sec.kind == "frontend" && (sec.name == "marathon_http_in" || sec.name == "marathon_https_in"):
			s := &mlbShared{}
			for _, tok := range sec.lines {
				switch tok[0] {
				case "acl":
					acls[tok[1]] = append(acls[tok[1]], parseACL(tok[2:]))
				case "use_backend":
					if strings.HasPrefix(tok[1], "%[") {
						s.Route = append(s.Route, mlbRule{Map: mapOf(tok[1], maps)})
						continue
					}
					r, err := cond(tok, acls)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", sec.name, err)
					}
					r.Backend = tok[1]
					s.Route = append(s.Route, r)
				case "http-request":
					if len(tok) > 3 && tok[1] == "auth" && tok[2] == "realm" {
						r, err := cond(tok, acls)
						if err != nil {
							return nil, fmt.Errorf("%s: %w", sec.name, err)
						}
						r.Realm = tok[3]
						s.Auth = append(s.Auth, r)
					}
				case "redirect":
					r, err := cond(tok, acls)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", sec.name, err)
					}
					s.Redirect = append(s.Redirect, r)
				}
			}
			if sec.name == "marathon_http_in" {
				c.HTTP = s
			} else {
				c.HTTPS = s
			}
		case sec.kind == "frontend" && sec.name == "marathon_http_appid_in":
			for _, tok := range sec.lines {
				switch tok[0] {
				case "acl":
					acls[tok[1]] = append(acls[tok[1]], parseACL(tok[2:]))
				case "use_backend":
					if strings.HasPrefix(tok[1], "%[") {
						c.AppID.Map = mapOf(tok[1], maps)
						continue
					}
					r, err := cond(tok, acls)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", sec.name, err)
					}
					r.Backend = tok[1]
					c.AppID.Rules = append(c.AppID.Rules, r)
				}
			}
		case sec.kind == "frontend":
			f := mlbFrontend{Name: sec.name}
			for _, tok := range sec.lines {
				switch tok[0] {
				case "bind":
					f.Bind = tok[1]
					if len(tok) > 4 && tok[2] == "ssl" && tok[3] == "crt" {
						f.SSLCert = tok[4]
					}
				case "mode":
					f.Mode = tok[1]
				case "use_backend":
					f.Backend = tok[1]
				}
			}
			c.Frontends = append(c.Frontends, f)
		case sec.kind == "backend":
			b := &mlbBackend{Name: sec.name, Balance: "roundrobin"}
			for _, tok := range sec.lines {
				switch tok[0] {
				case "balance":
					b.Balance = strings.Join(tok[1:], " ")
				case "mode":
					b.Mode = tok[1]
				case "cookie":
					b.Sticky = true
				case "acl":
					if tok[1] == "network_allowed" {
						b.Networks = append(b.Networks, tok[3:]...)
					}
				case "server":
					b.Servers = append(b.Servers, mlbServer{Name: tok[1], Addr: tok[2], Disabled: slices.Contains(tok, "disabled")})
				}
			}
			c.Backends[b.Name] = b
		}
	}
	return c, nil
}

// parseMapFile reads "<key> <backend>" lines; the first of duplicates wins.
func parseMapFile(text string) map[string]string {
	m := map[string]string{}
	for line := range strings.SplitSeq(text, "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			if _, dup := m[f[0]]; !dup {
				m[f[0]] = f[1]
			}
		}
	}
	return m
}

// outcome is what the oracle configuration does with one request.
type outcome struct {
	// kind is "forward", "redirect", "auth" or "none" (503).
	kind    string
	backend string
	realm   string
}

func (o outcome) String() string {
	switch o.kind {
	case "forward":
		return "forward to " + o.backend
	case "auth":
		return "401 realm " + o.realm
	}
	return o.kind
}

func (r *mlbRule) matches(host, path string) bool {
	if len(r.Hosts) > 0 && !slices.ContainsFunc(r.Hosts, func(h string) bool { return strings.EqualFold(h, host) }) {
		return false
	}
	if len(r.Paths) > 0 && !slices.ContainsFunc(r.Paths, func(p mlbPath) bool {
		if len(path) < len(p.prefix) {
			return false
		}
		if p.icase {
			return strings.EqualFold(path[:len(p.prefix)], p.prefix)
		}
		return path[:len(p.prefix)] == p.prefix
	}) {
		return false
	}
	return true
}

// decide is HAProxy's evaluation of a shared frontend for a request without
// credentials: auth rules, then redirects, then the first use_backend. host
// has no port (Signpost ignores the port, see the routes package doc).
func (s *mlbShared) decide(host, path string) outcome {
	for _, r := range s.Auth {
		if r.matches(host, path) {
			return outcome{kind: "auth", realm: r.Realm}
		}
	}
	for _, r := range s.Redirect {
		if r.matches(host, path) {
			return outcome{kind: "redirect"}
		}
	}
	for _, r := range s.Route {
		if r.Map != nil {
			if b, ok := r.Map[strings.ToLower(host)]; ok {
				return outcome{kind: "forward", backend: b}
			}
			return outcome{kind: "none"}
		}
		if r.matches(host, path) {
			return outcome{kind: "forward", backend: r.Backend}
		}
	}
	return outcome{kind: "none"}
}

// decide routes an X-Marathon-App-Id value.
func (a *mlbAppID) decide(id string) outcome {
	for _, r := range a.Rules {
		if r.matches(id, "") {
			return outcome{kind: "forward", backend: r.Backend}
		}
	}
	if b, ok := a.Map[strings.ToLower(id)]; ok {
		return outcome{kind: "forward", backend: b}
	}
	return outcome{kind: "none"}
}
