package routes

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// appLabels are an app's HAPROXY_ labels sorted out in one pass: app-level
// ones by name, per-port ones by index and suffix ("HAPROXY_0_VHOST" →
// ports[0]["VHOST"]).
type appLabels struct {
	group    string
	hasGroup bool
	ports    map[int]map[string]string
	unknown  []string
}

const labelPrefix = "HAPROXY_"

// appLevelLabels are the app-wide labels Marathon-LB or zdd.py read.
var appLevelLabels = map[string]bool{
	"GROUP": true, "DEPLOYMENT_GROUP": true, "DEPLOYMENT_ALT_PORT": true,
	"DEPLOYMENT_COLOUR": true, "DEPLOYMENT_STARTED_AT": true,
	"DEPLOYMENT_TARGET_INSTANCES": true, "DEPLOYMENT_NEW_INSTANCES": true,
	"APP_ID": true,
}

func splitLabels(labels map[string]string) appLabels {
	var l appLabels
	for k, v := range labels {
		rest, ok := strings.CutPrefix(k, labelPrefix)
		if !ok {
			continue
		}
		if rest == "GROUP" {
			l.group, l.hasGroup = v, true
			continue
		}
		if appLevelLabels[rest] {
			continue
		}
		idx, suffix, ok := strings.Cut(rest, "_")
		n, err := strconv.Atoi(idx)
		if !ok || err != nil || n < 0 || idx != strconv.Itoa(n) {
			l.unknown = append(l.unknown, k)
			continue
		}
		if l.ports == nil {
			l.ports = make(map[int]map[string]string)
		}
		if l.ports[n] == nil {
			l.ports[n] = make(map[string]string)
		}
		l.ports[n][suffix] = v
	}
	slices.Sort(l.unknown)
	return l
}

// routingLabels are the per-port label suffixes with a routing meaning.
var routingLabels = map[string]bool{
	"GROUP": true, "ENABLED": true, "VHOST": true, "PATH": true, "BACKEND_WEIGHT": true,
	"MODE": true, "PORT": true, "BIND_ADDR": true, "BIND_OPTIONS": true, "SSL_CERT": true,
	"BALANCE": true, "STICKY": true, "REDIRECT_TO_HTTPS": true, "USE_HSTS": true, "AUTH": true,
	"HTTP_BACKEND_PROXYPASS_PATH": true, "HTTP_BACKEND_REVPROXY_PATH": true,
	"HTTP_BACKEND_REDIR": true, "BACKEND_NETWORK_ALLOWED_ACL": true,
	"BACKEND_HEALTHCHECK_PORT_INDEX": true,
}

// templateLabels are Marathon-LB's per-port template overrides: raw HAProxy
// text a native proxy cannot execute.
var templateLabels = map[string]bool{
	"USERLIST_HEAD": true, "FRONTEND_HEAD": true, "BACKEND_HEAD": true,
	"BACKEND_REDIRECT_HTTP_TO_HTTPS": true, "BACKEND_REDIRECT_HTTP_TO_HTTPS_WITH_PATH": true,
	"BACKEND_HSTS_OPTIONS": true, "HTTP_FRONTEND_ACL": true, "HTTP_FRONTEND_ACL_WITH_AUTH": true,
	"HTTP_FRONTEND_ACL_ONLY": true, "HTTP_FRONTEND_ROUTING_ONLY": true,
	"HTTP_FRONTEND_ROUTING_ONLY_WITH_AUTH": true, "HTTP_FRONTEND_ACL_WITH_PATH": true,
	"HTTP_FRONTEND_ACL_WITH_AUTH_AND_PATH": true, "HTTP_FRONTEND_ACL_ONLY_WITH_PATH": true,
	"HTTP_FRONTEND_ACL_ONLY_WITH_PATH_AND_AUTH": true, "HTTPS_FRONTEND_ACL_ONLY_WITH_PATH": true,
	"HTTP_FRONTEND_ROUTING_ONLY_WITH_PATH": true, "HTTP_FRONTEND_ROUTING_ONLY_WITH_PATH_AND_AUTH": true,
	"HTTPS_FRONTEND_ROUTING_ONLY_WITH_PATH_AND_AUTH": true, "HTTP_FRONTEND_APPID_ACL": true,
	"HTTPS_FRONTEND_ACL": true, "HTTPS_FRONTEND_ACL_WITH_AUTH": true,
	"HTTPS_FRONTEND_AUTH_ACL_ONLY": true, "HTTPS_FRONTEND_AUTH_REQUEST_ONLY": true,
	"HTTPS_FRONTEND_ACL_WITH_PATH": true, "HTTPS_FRONTEND_ACL_WITH_AUTH_AND_PATH": true,
	"MAP_HTTP_FRONTEND_ACL": true, "MAP_HTTP_FRONTEND_ACL_ONLY": true,
	"MAP_HTTP_FRONTEND_APPID_ACL": true, "MAP_HTTPS_FRONTEND_ACL": true,
	"BACKEND_HTTP_OPTIONS": true, "HTTP_BACKEND_PROXYPASS_GLUE": true,
	"HTTP_BACKEND_REVPROXY_GLUE":       true,
	"BACKEND_HTTP_HEALTHCHECK_OPTIONS": true, "BACKEND_TCP_HEALTHCHECK_OPTIONS": true,
	"BACKEND_STICKY_OPTIONS": true, "BACKEND_SERVER_OPTIONS": true,
	"BACKEND_SERVER_HTTP_HEALTHCHECK_OPTIONS": true, "BACKEND_SERVER_TCP_HEALTHCHECK_OPTIONS": true,
	"FRONTEND_BACKEND_GLUE": true, "HTTP_BACKEND_NETWORK_ALLOWED_ACL": true,
	"TCP_BACKEND_NETWORK_ALLOWED_ACL": true,
}

// truthy is Marathon-LB's string_to_bool, used for every boolean label.
func truthy(v string) bool {
	switch strings.ToLower(v) {
	case "true", "t", "yes", "y":
		return true
	}
	return false
}

// groupsOf is the groups a service port belongs to, as a comma list:
// HAPROXY_{n}_GROUP if present, else HAPROXY_GROUP; has is false when
// neither label exists.
func groupsOf(l appLabels, port map[string]string) (list string, has bool) {
	if g, ok := port["GROUP"]; ok {
		return g, true
	}
	return l.group, l.hasGroup
}

// selected is has_group: "*" takes everything, else one of the service's
// groups must be a --group. The list is split on "," exactly as
// Marathon-LB does (no trimming, so "a, b" is the groups "a" and " b").
func selected(flags []string, list string, has bool) bool {
	for _, f := range flags {
		if f == "*" {
			return true
		}
	}
	if !has {
		return false
	}
	for {
		g, rest, more := strings.Cut(list, ",")
		for _, f := range flags {
			if f == g {
				return true
			}
		}
		if !more {
			break
		}
		list = rest
	}
	return false
}

// svcConfig is one service port's configuration after its labels, before
// tasks are attached.
type svcConfig struct {
	index       int
	origPort    int // Marathon's service port: tasks attach by it
	port        int // bind port and backend name (HAPROXY_{n}_PORT)
	bindAddr    netip.Addr
	bindOptions string
	sslCert     string
	mode        Mode // "" until defaulted
	vhostLabel  string
	vhosts      []string // comma entries, each a whitespace-separated pattern list
	multiVhost  bool
	path        []PathPrefix // empty: no path condition
	weight      int
	balance     string
	sticky      bool
	redirect    bool
	hsts        bool
	auth        *BasicAuth
	proxyPass   string
	revProxy    string
	redir       string
	networks    []netip.Prefix
	hcIndex     int // -1 unless BACKEND_HEALTHCHECK_PORT_INDEX
	hc          *cluster.HealthCheck
}

// parseService applies one service port's labels. A label that cannot be
// honoured yields a problem; ok=false means the service is disabled. The
// label order matters only for PATH after BACKEND_WEIGHT (Marathon-LB
// applies labels alphabetically): PATH raises a weight of 0 to 1.
func parseService(c *svcConfig, app *cluster.App, appID string, index, servicePort int, port map[string]string, problems *[]Problem) (ok bool) {
	*c = svcConfig{index: index, origPort: servicePort, port: servicePort, balance: "roundrobin", hcIndex: -1}
	bad := func(suffix, reason string) {
		*problems = append(*problems, Problem{AppID: appID, PortIndex: index, ServicePort: servicePort,
			Label: labelKey(index, suffix), Reason: reason, Disabled: true})
		ok = false
	}
	warn := func(suffix, reason string) {
		*problems = append(*problems, Problem{AppID: appID, PortIndex: index, ServicePort: servicePort,
			Label: labelKey(index, suffix), Reason: reason})
	}
	ok = true

	c.hc = healthCheckFor(app, index)
	if c.hc != nil && c.hc.Protocol == "HTTP" {
		c.mode = ModeHTTP
	}

	if v, has := port["AUTH"]; has {
		parts := strings.Split(v, ":")
		switch {
		case len(parts) != 3:
			bad("AUTH", "want realm:user:password-hash with exactly two colons")
		case parts[0] == "":
			bad("AUTH", "empty realm (Marathon-LB would silently skip the password check)")
		case parts[1] == "":
			bad("AUTH", "empty user name")
		default:
			c.auth = &BasicAuth{Realm: parts[0], Userlist: &Userlist{
				Users: []User{{Name: parts[1], Password: parts[2]}},
			}}
			if !isCryptHash(parts[2]) {
				warn("AUTH", "password is not a crypt(3) hash; it is compared as one, so no password matches")
			}
		}
	}
	if v, has := port["BACKEND_HEALTHCHECK_PORT_INDEX"]; has {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		switch {
		case err != nil:
			bad("BACKEND_HEALTHCHECK_PORT_INDEX", "not an integer: "+strconv.Quote(v))
		case n < 0:
			// Marathon-LB would index Python-style from the end.
			warn("BACKEND_HEALTHCHECK_PORT_INDEX", "negative index, ignored")
		default:
			c.hcIndex = n
		}
	}
	if v, has := port["BACKEND_NETWORK_ALLOWED_ACL"]; has {
		for _, w := range strings.Fields(v) {
			p, err := parseNetwork(w)
			if err != nil {
				bad("BACKEND_NETWORK_ALLOWED_ACL", "not an IP address or CIDR: "+strconv.Quote(w))
				break
			}
			c.networks = append(c.networks, p)
		}
	}
	if v, has := port["BACKEND_WEIGHT"]; has {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			bad("BACKEND_WEIGHT", "not an integer: "+strconv.Quote(v))
		}
		c.weight = n
	}
	if v, has := port["BALANCE"]; has {
		if !validBalance(v) {
			bad("BALANCE", "unknown balance algorithm "+strconv.Quote(v))
		}
		c.balance = strings.TrimSpace(v)
	}
	if v, has := port["BIND_ADDR"]; has {
		a, err := parseBindAddr(v)
		if err != nil {
			bad("BIND_ADDR", "not an IP address or *: "+strconv.Quote(v))
		}
		c.bindAddr = a
	}
	c.bindOptions = port["BIND_OPTIONS"]
	c.proxyPass = port["HTTP_BACKEND_PROXYPASS_PATH"]
	c.redir = port["HTTP_BACKEND_REDIR"]
	c.revProxy = port["HTTP_BACKEND_REVPROXY_PATH"]
	if v, has := port["MODE"]; has {
		switch m := strings.ToLower(strings.TrimSpace(v)); m {
		case "tcp", "http":
			c.mode = Mode(m)
		default:
			bad("MODE", "want tcp or http, not "+strconv.Quote(v))
		}
	}
	if v, has := port["PATH"]; has {
		// An empty PATH routes like no PATH (Marathon-LB tests it for
		// truth) but still raises the weight.
		paths, err := parsePath(v)
		switch {
		case err != "":
			bad("PATH", err)
		case v != "" && len(paths) == 0:
			bad("PATH", "no path prefix in "+strconv.Quote(v))
		}
		c.path = paths
		if c.weight == 0 {
			c.weight = 1
		}
	}
	if v, has := port["PORT"]; has {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		switch {
		case err != nil:
			bad("PORT", "not an integer: "+strconv.Quote(v))
		case n < 1 || n > 65535:
			bad("PORT", "port "+strconv.Itoa(n)+" out of range 1-65535")
		default:
			c.port = n
		}
	}
	c.redirect = truthy(port["REDIRECT_TO_HTTPS"])
	c.sslCert = port["SSL_CERT"]
	c.sticky = truthy(port["STICKY"])
	c.hsts = truthy(port["USE_HSTS"])
	if v := strings.ToLower(port["VHOST"]); v != "" {
		c.vhostLabel = v
		c.multiVhost = strings.Contains(v, ",")
		for _, e := range strings.Split(v, ",") {
			if strings.TrimSpace(e) != "" {
				c.vhosts = append(c.vhosts, e)
			}
		}
		if len(c.vhosts) == 0 {
			bad("VHOST", "no host name in "+strconv.Quote(port["VHOST"]))
		}
	}

	// Borrowing the health check of another port (issue #198) happens after
	// the labels, so a borrowed HTTP-like check makes the service http even
	// against HAPROXY_{n}_MODE=tcp — Marathon-LB's order, kept.
	if c.hc == nil && c.hcIndex >= 0 {
		c.hc = healthCheckFor(app, c.hcIndex)
		if c.hc != nil {
			switch c.hc.Protocol {
			case "HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS":
				c.mode = ModeHTTP
			}
		}
	}
	if c.mode == "" {
		c.mode = ModeTCP
		if c.vhostLabel != "" {
			c.mode = ModeHTTP
		}
	}
	if ok && c.mode == ModeTCP && len(c.vhosts) > 0 {
		// HAProxy refuses use_backend from an http frontend to a tcp backend,
		// so Marathon-LB's validation would throw the app out.
		bad("MODE", "VHOST needs http mode but the service is tcp")
	}
	return ok
}

func labelKey(index int, suffix string) string {
	return labelPrefix + strconv.Itoa(index) + "_" + suffix
}

// healthCheckFor is get_health_check: the first Marathon check that has an
// explicit port (which then applies to every service port) or this port
// index.
func healthCheckFor(app *cluster.App, index int) *cluster.HealthCheck {
	for i := range app.HealthChecks {
		hc := &app.HealthChecks[i]
		if hc.Port != 0 {
			return hc
		}
		if hc.PortIndex != nil && *hc.PortIndex == index {
			return hc
		}
	}
	return nil
}

// parsePath reads a PATH label, which Marathon-LB pastes after path_beg:
// whitespace-separated prefixes, optionally preceded by HAProxy's -i flag
// (case-insensitive), -n or --. Other flags (-f file, -m method, ...) change
// the matching beyond prefixes and are refused.
func parsePath(v string) ([]PathPrefix, string) {
	var out []PathPrefix
	ignoreCase, flags := false, true
	for _, w := range strings.Fields(v) {
		if flags && strings.HasPrefix(w, "-") {
			switch w {
			case "-i":
				ignoreCase = true
			case "-n":
			case "--":
				flags = false
			default:
				return nil, "unsupported path_beg flag " + strconv.Quote(w)
			}
			continue
		}
		flags = false
		out = append(out, PathPrefix{Prefix: w})
	}
	for i := range out {
		out[i].IgnoreCase = ignoreCase
	}
	return out, ""
}

// parseNetwork reads one entry of BACKEND_NETWORK_ALLOWED_ACL as HAProxy's
// "src" does: an address, a CIDR prefix or address/dotted-mask.
func parseNetwork(w string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(w); err == nil {
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	if p, err := netip.ParsePrefix(w); err == nil {
		return p.Masked(), nil
	}
	addr, mask, found := strings.Cut(w, "/")
	if found {
		a, err1 := netip.ParseAddr(addr)
		m, err2 := netip.ParseAddr(mask)
		if err1 == nil && err2 == nil && a.Is4() && m.Is4() {
			bits, ok := maskBits(m.As4())
			if ok {
				return netip.PrefixFrom(a, bits).Masked(), nil
			}
		}
	}
	_, err := netip.ParsePrefix(w)
	return netip.Prefix{}, err
}

func maskBits(m [4]byte) (int, bool) {
	v := uint32(m[0])<<24 | uint32(m[1])<<16 | uint32(m[2])<<8 | uint32(m[3])
	bits := 0
	for v&0x80000000 != 0 {
		bits++
		v <<= 1
	}
	return bits, v == 0
}

// parseBindAddr reads BIND_ADDR: "*" (or empty) for all addresses, else an
// IP literal (IPv6 with or without brackets).
func parseBindAddr(v string) (netip.Addr, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "*" {
		return netip.Addr{}, nil
	}
	v = strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Addr{}, err
	}
	return a.Unmap(), nil
}

// validBalance accepts HAProxy 2.0's balance algorithms (with arguments).
func validBalance(v string) bool {
	w := strings.Fields(v)
	if len(w) == 0 {
		return false
	}
	switch w[0] {
	case "roundrobin", "static-rr", "leastconn", "first", "source", "uri", "random":
		return true
	case "url_param":
		return len(w) > 1
	}
	for _, p := range []string{"hdr(", "rdp-cookie", "random("} {
		if strings.HasPrefix(w[0], p) {
			return !strings.Contains(p, "(") || strings.HasSuffix(w[0], ")")
		}
	}
	return false
}

// isCryptHash recognises the crypt(3) formats HAProxy's "password" accepts.
func isCryptHash(s string) bool {
	for _, p := range []string{"$1$", "$5$", "$6$", "$2a$", "$2b$", "$2y$", "$y$", "$7$"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	if len(s) != 13 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '.' || c == '/' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}
