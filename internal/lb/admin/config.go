package admin

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/routes"
)

// Config renders a route table in HAProxy's configuration syntax, in the
// layout of Marathon-LB's generated haproxy.cfg (userlists, the :80, :9091
// and :443 frontends, one frontend per service, then the backends, services
// in (app id, service port) order), so that operators used to
// /_haproxy_getconfig can read it and diff two of them. The output is a pure
// function of (t, info): two calls give the same bytes.
//
// It says what Signpost routes, not what Marathon-LB would have written:
//
//   - Conditions are inline ("{ hdr(host) -i a.example.com }") instead of
//     Marathon-LB's named ACLs, since the table keeps the resolved match,
//     not the ACL names; a rule with paths of both cases becomes two
//     alternatives joined with "||".
//   - SNI conditions carry -i: Signpost matches SNI ignoring case.
//   - HSTS, proxypass and revproxy are written with HAProxy ≥ 2.1 directives
//     (Marathon-LB's rspadd/reqirep/rspirep no longer load, spec §10).
//   - Per-vhost TLS of --group-https-by-vhost is listed as comments on the
//     :443 frontend instead of Marathon-LB's loopback frontends.
//   - Map lookups name the map file without a directory (the table does not
//     keep --haproxy-config); /_haproxy_getvhostmap and /_haproxy_getappmap
//     show their content.
//   - Clear-text passwords (insecure-password) are masked; crypt hashes are
//     shown, as in Marathon-LB (they are in the app's AUTH label anyway).
//
// A nil table renders a header saying there are no routes yet.
func Config(t *routes.Table, info Info) []byte {
	w := &cfgWriter{}
	w.header(t, info)
	if t == nil {
		return []byte(w.String())
	}
	w.userlists(t)
	if t.HTTP != nil {
		w.httpFrontend(t.HTTP)
	}
	if t.AppID != nil {
		w.appIDFrontend(t.AppID)
	}
	if t.HTTPS != nil {
		w.httpsFrontend(t.HTTPS)
	}
	for _, s := range t.Services {
		if s != nil {
			w.serviceFrontend(s)
		}
	}
	for _, s := range t.Services {
		if s != nil && s.Backend != nil {
			w.backend(s.Backend)
		}
	}
	return []byte(w.String())
}

// Names of the map files in the use_backend lines (Marathon-LB puts them
// next to --haproxy-config).
const (
	vhostMapFile = "domain2backend.map"
	appMapFile   = "app2backend.map"
)

type cfgWriter struct{ strings.Builder }

// line writes one indented configuration line of the non-empty parts.
func (w *cfgWriter) line(parts ...string) {
	w.WriteString("  ")
	sep := ""
	for _, p := range parts {
		if p == "" {
			continue
		}
		w.WriteString(sep)
		w.WriteString(p)
		sep = " "
	}
	w.WriteByte('\n')
}

// section starts a block ("frontend x"), preceded by a blank line as in
// Marathon-LB's output.
func (w *cfgWriter) section(kind, name string) {
	w.WriteString("\n")
	w.WriteString(kind)
	w.WriteString(" ")
	w.WriteString(word(name))
	w.WriteString("\n")
}

// comment writes a comment line; indent is "" or "  ".
func (w *cfgWriter) comment(indent, text string) {
	w.WriteString(indent)
	w.WriteString("# ")
	w.WriteString(clean(text))
	w.WriteByte('\n')
}

const headerText = `# Signpost route table (signpost lb), in HAProxy configuration syntax so that
# it reads and diffs like Marathon-LB's haproxy.cfg; HAProxy cannot load it.
# Host is matched without its :port and ignoring case, SNI ignoring case.
# Each frontend applies its http-request rules, then redirects, then the
# first use_backend that matches, as HAProxy does.
`

func (w *cfgWriter) header(t *routes.Table, info Info) {
	if t == nil {
		w.WriteString("# Signpost route table (signpost lb): no routes yet, the first table has not\n# been built (waiting for Marathon).\n")
	} else {
		w.WriteString(headerText)
	}
	if !info.Built.IsZero() {
		w.comment("", "built: "+info.Built.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	}
	if t != nil {
		servers, draining := 0, 0
		for _, s := range t.Services {
			if s == nil || s.Backend == nil {
				continue
			}
			servers += len(s.Backend.Servers)
			for _, sv := range s.Backend.Servers {
				if sv.Draining {
					draining++
				}
			}
		}
		w.comment("", fmt.Sprintf("services: %d, servers: %d (%d draining)", len(t.Services), servers, draining))
	}
	if len(info.Problems) > 0 {
		w.comment("", fmt.Sprintf("problems: %d (what the build left out or ignored)", len(info.Problems)))
		for _, p := range info.Problems {
			w.comment("", "  "+p.String())
		}
	}
}

// userlists writes the userlists of the auth rules and backends, in
// service order, each once.
func (w *cfgWriter) userlists(t *routes.Table) {
	seen := map[string]bool{}
	emit := func(u *routes.Userlist) {
		if u == nil || seen[u.Name] {
			return
		}
		seen[u.Name] = true
		w.section("userlist", u.Name)
		for _, usr := range u.Users {
			if usr.Insecure {
				w.line("user", word(usr.Name), "insecure-password", "******")
			} else {
				w.line("user", word(usr.Name), "password", word(usr.Password))
			}
		}
	}
	for _, s := range t.Services {
		if s != nil && s.Backend != nil && s.Backend.Auth != nil {
			emit(s.Backend.Auth.Userlist)
		}
	}
	for _, f := range [][]routes.AuthRule{httpAuth(t), httpsAuth(t)} {
		for _, r := range f {
			for _, u := range r.Userlists {
				emit(u)
			}
		}
	}
}

func httpAuth(t *routes.Table) []routes.AuthRule {
	if t.HTTP == nil {
		return nil
	}
	return t.HTTP.Auth
}

func httpsAuth(t *routes.Table) []routes.AuthRule {
	if t.HTTPS == nil {
		return nil
	}
	return t.HTTPS.Auth
}

func (w *cfgWriter) httpFrontend(f *routes.HTTPFrontend) {
	w.section("frontend", "marathon_http_in")
	w.line("bind", f.Listen.String())
	w.line("mode", "http")
	const fetch = "hdr(host)"
	for _, r := range f.Auth {
		w.line("http-request auth realm", quote(r.Realm), ifCond(cond(nil, alternatives(fetch, r.Match), authTerms(r.Userlists))))
	}
	for _, r := range f.Redirects {
		w.line("redirect scheme https code 301", ifCond(cond([]string{"!{ ssl_fc }"}, alternatives(fetch, r.Match), nil)))
	}
	for _, r := range f.Routes {
		if r.Map != nil {
			w.comment("  ", fmt.Sprintf("--haproxy-map: %d host names, see %s", len(r.Map), PathGetVhostMap))
			w.line("use_backend", "%[req.hdr(host),lower,regsub(:.*$,,),map("+vhostMapFile+")]")
			continue
		}
		w.useBackend(r.Backend, cond(nil, alternatives(fetch, r.Match), nil))
	}
}

func (w *cfgWriter) httpsFrontend(f *routes.HTTPSFrontend) {
	w.section("frontend", "marathon_https_in")
	bind := []string{"bind", f.Listen.String(), "ssl"}
	for _, c := range f.Certs {
		bind = append(bind, "crt", word(c))
	}
	w.line(bind...)
	w.line("mode", "http")
	if f.GroupByVhost {
		w.comment("  ", "--group-https-by-vhost: TLS is accepted only for these server names,")
		w.comment("  ", "with their own certificates and bind options:")
		names := make([]string, 0, len(f.Vhosts))
		for n := range f.Vhosts {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			v := f.Vhosts[n]
			parts := []string{"sni", n}
			for _, c := range v.Certs {
				parts = append(parts, "crt", c)
			}
			parts = append(parts, v.BindOptions...)
			w.comment("  ", "  "+strings.Join(parts, " "))
		}
	}
	const fetch = "ssl_fc_sni"
	for _, r := range f.Auth {
		w.line("http-request auth realm", quote(r.Realm), ifCond(cond(nil, alternatives(fetch, r.Match), authTerms(r.Userlists))))
	}
	for _, r := range f.Routes {
		if r.Map != nil {
			w.comment("  ", fmt.Sprintf("--haproxy-map: %d host names, see %s", len(r.Map), PathGetVhostMap))
			w.line("use_backend", "%[ssl_fc_sni,lower,map("+vhostMapFile+")]")
			continue
		}
		w.useBackend(r.Backend, cond(nil, alternatives(fetch, r.Match), nil))
	}
}

func (w *cfgWriter) appIDFrontend(f *routes.AppIDFrontend) {
	w.section("frontend", "marathon_http_appid_in")
	w.line("bind", f.Listen.String())
	w.line("mode", "http")
	for _, r := range f.Routes {
		w.useBackend(r.Backend, "{ hdr(x-marathon-app-id) -i "+words(r.AppIDs)+" }")
	}
	if f.Map != nil {
		w.comment("  ", fmt.Sprintf("--haproxy-map: %d app ids, see %s", len(f.Map), PathGetAppMap))
		w.line("use_backend", "%[req.hdr(x-marathon-app-id),lower,map("+appMapFile+")]")
	}
}

// useBackend writes "use_backend <b> [if <condition>]".
func (w *cfgWriter) useBackend(b *routes.Backend, condition string) {
	name := "<none>"
	if b != nil {
		name = word(b.Name)
	}
	w.line("use_backend", name, ifCond(condition))
}

// ifCond is "if <condition>", or nothing for an unconditional rule.
func ifCond(condition string) string {
	if condition == "" {
		return ""
	}
	return "if " + condition
}

func (w *cfgWriter) serviceFrontend(s *routes.Service) {
	name := "<none>"
	if s.Backend != nil {
		name = s.Backend.Name
	}
	w.section("frontend", name)
	bind := []string{"bind", s.Listen.String()}
	if s.SSLCert != "" {
		bind = append(bind, "ssl", "crt", word(s.SSLCert))
	}
	if s.BindOptions != "" {
		// Verbatim HAProxy bind keywords, several words.
		bind = append(bind, clean(s.BindOptions))
	}
	w.line(bind...)
	w.line("mode", string(s.Mode))
	if s.Backend != nil {
		w.useBackend(s.Backend, "")
	}
}

func (w *cfgWriter) backend(b *routes.Backend) {
	w.section("backend", b.Name)
	about := fmt.Sprintf("app %s, service port %d (port index %d)", b.AppID, b.ServicePort, b.PortIndex)
	if len(b.Vhosts) > 0 {
		about += ", vhosts " + strings.Join(b.Vhosts, " ")
	}
	w.comment("  ", about)
	w.line("balance", clean(b.Balance))
	w.line("mode", string(b.Mode))
	if h := b.HTTP; h != nil {
		w.line("option forwardfor")
		w.line("http-request set-header X-Forwarded-Port %[dst_port]")
		w.line("http-request add-header X-Forwarded-Proto https if { ssl_fc }")
		if h.HSTS {
			w.line("http-response set-header Strict-Transport-Security max-age=15768000")
		}
		if h.ProxyPassPath != "" {
			if h.ProxyPassHost != "" {
				w.line("http-request set-header Host", word(h.ProxyPassHost))
			}
			w.line("http-request replace-path", regexArg("(?i)^"+regexp.QuoteMeta(h.ProxyPassPath)+"/?(.*)"), `/\1`)
		}
		if h.RevProxyPath != "" {
			w.line("http-response replace-header Location",
				regexArg("^(https?://"+regexp.QuoteMeta(h.RevProxyHost)+"(:[0-9]+)?)?(/.*)$"), word(h.RevProxyPath))
		}
		if rr := h.RootRedirect; rr != nil {
			w.line("redirect code 301 location", word(rr.Location), "if { hdr(host) -i "+words(rr.Hosts)+" } { path -i / }")
		}
	}
	if len(b.AllowedNetworks) > 0 {
		for _, n := range b.AllowedNetworks {
			src := n.String()
			if n.IsSingleIP() {
				src = n.Addr().String()
			}
			w.line("acl network_allowed src", src)
		}
		if b.Mode == routes.ModeHTTP {
			w.line("http-request allow if network_allowed")
			w.line("http-request deny")
		} else {
			w.line("tcp-request content accept if network_allowed")
			w.line("tcp-request content reject")
		}
	}
	if b.Sticky {
		w.line("cookie", routes.StickyCookie, "insert indirect nocache")
	}
	hc := b.HealthCheck
	if hc != nil && !hc.Implicit && hc.Type == routes.CheckHTTP {
		w.line("option  httpchk GET", word(hc.Path))
		if hc.Timeout > 0 {
			w.line("timeout check", duration(hc.Timeout))
		}
	}
	for _, sv := range b.Servers {
		w.server(&sv, hc)
	}
}

func (w *cfgWriter) server(sv *routes.Server, hc *routes.HealthCheck) {
	addr := sv.HostPort
	if addr == "" {
		addr = sv.Addr.String()
	}
	parts := []string{"server", word(sv.Name), word(addr), "id", strconv.Itoa(sv.ID)}
	if hc != nil {
		parts = append(parts, "check")
		if !hc.Implicit {
			parts = append(parts, "inter", duration(hc.Interval), "fall", strconv.Itoa(hc.Fall))
			// HAProxy's default rise is 2, which Marathon-LB never changes.
			if hc.Rise != 0 && hc.Rise != 2 {
				parts = append(parts, "rise", strconv.Itoa(hc.Rise))
			}
		}
		if sv.CheckPort != 0 {
			parts = append(parts, "port", strconv.Itoa(sv.CheckPort))
		}
	}
	if sv.Cookie != "" {
		parts = append(parts, "cookie", word(sv.Cookie))
	}
	if sv.Draining {
		parts = append(parts, "disabled")
	}
	w.line(parts...)
}

// alternatives renders a match as HAProxy conditions that are ORed: the
// host condition with each group of path prefixes (one group per case
// sensitivity), or the host condition alone. None means always.
func alternatives(fetch string, m routes.Match) []string {
	var host string
	if len(m.Hosts) > 0 {
		host = "{ " + fetch + " -i " + words(m.Hosts) + " }"
	}
	var exact, folded []string
	first := -1 // which group appears first: 0 exact, 1 folded
	for _, p := range m.Paths {
		if p.IgnoreCase {
			folded = append(folded, p.Prefix)
			if first < 0 {
				first = 1
			}
		} else {
			exact = append(exact, p.Prefix)
			if first < 0 {
				first = 0
			}
		}
	}
	var groups []string
	if len(exact) > 0 {
		groups = append(groups, "{ path_beg "+words(exact)+" }")
	}
	if len(folded) > 0 {
		groups = append(groups, "{ path_beg -i "+words(folded)+" }")
	}
	if first == 1 && len(groups) == 2 {
		groups[0], groups[1] = groups[1], groups[0]
	}
	if len(groups) == 0 {
		if host == "" {
			return nil
		}
		return []string{host}
	}
	out := make([]string, len(groups))
	for i, g := range groups {
		if host != "" {
			g = host + " " + g
		}
		out[i] = g
	}
	return out
}

// cond joins the alternatives with "||", each preceded by prefix and
// followed by suffix terms (which hold in every alternative).
func cond(prefix, alts, suffix []string) string {
	if len(alts) == 0 {
		alts = []string{""}
	}
	out := make([]string, 0, len(alts))
	for _, a := range alts {
		var terms []string
		terms = append(terms, prefix...)
		if a != "" {
			terms = append(terms, a)
		}
		terms = append(terms, suffix...)
		out = append(out, strings.Join(terms, " "))
	}
	return strings.Join(out, " || ")
}

// authTerms is "no userlist accepts the credentials", each userlist once
// (an ACL that HAProxy merged from several lines can name one many times).
func authTerms(lists []*routes.Userlist) []string {
	var out []string
	seen := map[string]bool{}
	for _, u := range lists {
		if u != nil && !seen[u.Name] {
			seen[u.Name] = true
			out = append(out, "!{ http_auth("+word(u.Name)+") }")
		}
	}
	return out
}

// duration writes a duration as HAProxy does: whole seconds as "5s",
// otherwise milliseconds.
func duration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

func words(ws []string) string {
	out := make([]string, len(ws))
	for i, s := range ws {
		out[i] = word(s)
	}
	return strings.Join(out, " ")
}

// word escapes one HAProxy argument: the characters that would split it,
// quote it or start a comment get a backslash, control characters are
// written as \xNN, so a label value can never add a line or an argument.
func word(s string) string {
	if s == "" {
		return `""`
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\\' || c == '#' || c == '"' || c == '\'':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// regexArg writes a regular expression in single quotes, where HAProxy
// takes backslashes literally, unless it holds a quote or a control
// character.
func regexArg(s string) string {
	if strings.ContainsRune(s, '\'') || clean(s) != s {
		return word(s)
	}
	return "'" + s + "'"
}

// quote writes s as an HAProxy double-quoted string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// clean replaces control characters (a newline above all) with \xNN, for
// text written verbatim or in comments.
func clean(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			var b strings.Builder
			for j := 0; j < len(s); j++ {
				if c := s[j]; c < 0x20 || c == 0x7f {
					fmt.Fprintf(&b, `\x%02x`, c)
				} else {
					b.WriteByte(c)
				}
			}
			return b.String()
		}
	}
	return s
}
