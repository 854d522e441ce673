package routes

import (
	"slices"
	"sort"
	"strings"
)

// This file turns the http services into the rules of the shared frontends,
// following Marathon-LB's generateHttpVhostAcl template by template, because
// the rule order it produces is the contract: HAProxy takes the first
// use_backend that matches.
//
// Two HAProxy facts shape the result beyond the templates:
//
//   - Named ACLs merge. Marathon-LB names a vhost ACL
//     "host_<sanitised first vhost>_<app id>" and an auth ACL "auth_<same>";
//     when two services produce the same name (two ports of one app with the
//     same first vhost, or ids that sanitise alike) HAProxy ORs every line of
//     that name, and every rule using the name sees all of them. The builder
//     therefore collects patterns per ACL name and resolves the rules' match
//     lists only when every service has been seen.
//   - Rules run in phases (auth, then redirect, then use_backend) whatever
//     their position, which is why the table keeps three lists.

// hostACL, pathACL and authACL accumulate the lines of one named ACL.
type hostACL struct{ patterns []string }

type pathACL struct{ prefixes []PathPrefix }

type authACL struct{ userlists []*Userlist }

// acls is the ACL namespace of one frontend.
type acls struct {
	hosts map[string]*hostACL
	paths map[string]*pathACL
	auths map[string]*authACL
}

func (a *acls) host(name string) *hostACL {
	if a.hosts == nil {
		a.hosts = make(map[string]*hostACL)
	}
	h := a.hosts[name]
	if h == nil {
		h = &hostACL{}
		a.hosts[name] = h
	}
	return h
}

func (a *acls) path(name string) *pathACL {
	if a.paths == nil {
		a.paths = make(map[string]*pathACL)
	}
	p := a.paths[name]
	if p == nil {
		p = &pathACL{}
		a.paths[name] = p
	}
	return p
}

func (a *acls) auth(name string) *authACL {
	if a.auths == nil {
		a.auths = make(map[string]*authACL)
	}
	u := a.auths[name]
	if u == nil {
		u = &authACL{}
		a.auths[name] = u
	}
	return u
}

type ruleKind uint8

const (
	kindAuth ruleKind = iota
	kindRedirect
	kindRoute
	kindRouteMap
)

// pendingRule is a rule whose named ACLs are not resolved yet. On the HTTP
// frontend the host condition is a named ACL (host); on the HTTPS frontend
// it is an inline "{ ssl_fc_sni <vhost> }" (sni).
type pendingRule struct {
	kind    ruleKind
	host    *hostACL
	sni     []string
	path    *pathACL
	auth    *authACL
	realm   string
	backend *Backend
}

// block is what one service contributes to both vhost frontends; blocks are
// ordered by weight, highest first, ties in service order.
type block struct {
	weight int
	http   []pendingRule
	https  []pendingRule
}

type frontendBuilder struct {
	flags  *Flags
	blocks []block
	httpA  acls
	httpsA acls
	// domainMap is Marathon-LB's domain2backend.map, shared by the HTTP and
	// HTTPS catch-alls; dupHTTP/dupHTTPS say whether each was emitted.
	domainMap         map[string]*Backend
	dupHTTP, dupHTTPS bool
	vhostTLS          map[string]*vhostTLSBuild
	appIDs            map[string]bool
	appA              map[string]*hostACL
	appRules          []appPending
	appMap            map[string]*Backend
	appidMapped       bool
}

type vhostTLSBuild struct {
	certs, opts map[string]bool
}

type appPending struct {
	acl     *hostACL
	backend *Backend
}

func newFrontendBuilder(flags *Flags) *frontendBuilder {
	return &frontendBuilder{flags: flags}
}

func patterns(vhost string) []string { return strings.Fields(vhost) }

func addMap(m *map[string]*Backend, keys []string, b *Backend) {
	if *m == nil {
		*m = make(map[string]*Backend)
	}
	for _, k := range keys {
		// HAProxy keeps the first of duplicate map keys.
		if _, dup := (*m)[k]; !dup {
			(*m)[k] = b
		}
	}
}

// addService adds an http service in Marathon-LB's order (app id, then
// service port), after the group and enabled filters.
func (fb *frontendBuilder) addService(appID string, c *svcConfig, b *Backend) {
	if fb.flags.BindHTTPHTTPS && len(c.vhosts) > 0 {
		fb.addVhosts(appID, c, b)
	}
	if b.Mode == ModeHTTP && !fb.appIDs[appID] {
		// Only the first http port of an app is reachable by app id.
		if fb.appIDs == nil {
			fb.appIDs = make(map[string]bool)
		}
		fb.appIDs[appID] = true
		if fb.flags.HAProxyMap {
			fb.appidMapped = true
			addMap(&fb.appMap, []string{appID}, b)
			return
		}
		name := "app_" + sanitize(appID)
		if fb.appA == nil {
			fb.appA = make(map[string]*hostACL)
		}
		acl := fb.appA[name]
		if acl == nil {
			acl = &hostACL{}
			fb.appA[name] = acl
		}
		acl.patterns = append(acl.patterns, appID)
		fb.appRules = append(fb.appRules, appPending{acl: acl, backend: b})
	}
}

// addVhosts is generateHttpVhostAcl. The HTTP frontend gets named host
// ACLs, the HTTPS frontend inline SNI conditions; PATH adds path_<backend>,
// AUTH an auth ACL plus an "http-request auth" rule, REDIRECT_TO_HTTPS a
// redirect on HTTP (then, with a PATH or several vhosts, no use_backend on
// HTTP at all); with --haproxy-map a plain vhost goes to the map instead and
// the first service to need the map catch-all gets weight -1.
func (fb *frontendBuilder) addVhosts(appID string, c *svcConfig, b *Backend) {
	aclName := sanitize(c.vhosts[0]) + "_" + aclAppPart(appID)
	hostX := fb.httpA.host("host_" + aclName)
	var userlist *Userlist
	var realm string
	if c.auth != nil {
		userlist, realm = c.auth.Userlist, c.auth.Realm
	}
	P, A, R, M := len(c.path) > 0, c.auth != nil, c.redirect, fb.flags.HAProxyMap
	weight := c.weight
	var http, https []pendingRule
	route := func(host *hostACL, path *pathACL) {
		http = append(http, pendingRule{kind: kindRoute, host: host, path: path, backend: b})
	}
	redirect := func(path *pathACL) {
		http = append(http, pendingRule{kind: kindRedirect, host: hostX, path: path})
	}
	authHTTP := func(path *pathACL, auth *authACL) {
		http = append(http, pendingRule{kind: kindAuth, host: hostX, path: path, auth: auth, realm: realm})
	}
	routeSNI := func(sni []string, path *pathACL) {
		https = append(https, pendingRule{kind: kindRoute, sni: sni, path: path, backend: b})
	}
	authSNI := func(sni []string, path *pathACL, auth *authACL) {
		https = append(https, pendingRule{kind: kindAuth, sni: sni, path: path, auth: auth, realm: realm})
	}
	mapHTTP := func(keys []string) {
		if !fb.dupHTTP {
			weight = -1
			http = append(http, pendingRule{kind: kindRouteMap})
			fb.dupHTTP = true
		}
		addMap(&fb.domainMap, keys, b)
	}
	mapHTTPS := func(keys []string) {
		if !fb.dupHTTPS {
			weight = -1
			https = append(https, pendingRule{kind: kindRouteMap})
			fb.dupHTTPS = true
		}
		addMap(&fb.domainMap, keys, b)
	}
	pathB := func() *pathACL {
		p := fb.httpA.path("path_" + b.Name)
		p.prefixes = append(p.prefixes, c.path...)
		return p
	}
	pathBS := func() *pathACL {
		p := fb.httpsA.path("path_" + b.Name)
		p.prefixes = append(p.prefixes, c.path...)
		return p
	}
	authX := func() *authACL {
		a := fb.httpA.auth("auth_" + aclName)
		a.userlists = append(a.userlists, userlist)
		return a
	}
	authXS := func() *authACL {
		a := fb.httpsA.auth("auth_" + aclName)
		a.userlists = append(a.userlists, userlist)
		return a
	}
	addHost := func(v string) { hostX.patterns = append(hostX.patterns, patterns(v)...) }

	if !c.multiVhost {
		v := c.vhosts[0]
		sni := patterns(v)
		switch {
		case P && R:
			addHost(v)
			redirect(pathB())
		case P && A:
			addHost(v)
			auth := authX()
			path := pathB()
			authHTTP(path, auth)
			route(hostX, path)
		case P:
			addHost(v)
			route(hostX, pathB())
		case R:
			addHost(v)
			route(hostX, nil)
			redirect(nil)
		case A:
			addHost(v)
			authHTTP(nil, authX())
			route(hostX, nil)
		case M:
			mapHTTP(sni)
		default:
			addHost(v)
			route(hostX, nil)
		}
		switch {
		case P:
			path := pathBS()
			if A {
				authSNI(sni, path, authXS())
			}
			routeSNI(sni, path)
		case A:
			authSNI(sni, nil, authXS())
			routeSNI(sni, nil)
		case M:
			mapHTTPS(sni)
		default:
			routeSNI(sni, nil)
		}
		fb.vhostTLS1(v, c)
	} else {
		var path, pathS *pathACL
		var auth *authACL
		if P {
			path = pathB()
			if A {
				auth = authX()
			}
			pathS = pathBS()
		}
		for _, v := range c.vhosts {
			sni := patterns(v)
			if M && !P && !A && !R {
				mapHTTP(sni)
			} else {
				addHost(v)
			}
			switch {
			case P:
				if A {
					authSNI(sni, pathS, authXS())
				}
				routeSNI(sni, pathS)
			case A:
				authSNI(sni, nil, authXS())
				routeSNI(sni, nil)
			case M:
				mapHTTPS(sni)
			default:
				routeSNI(sni, nil)
			}
			fb.vhostTLS1(v, c)
		}
		switch {
		case R:
			redirect(path)
		case P:
			if A {
				authHTTP(path, auth)
			}
			route(hostX, path)
		case A:
			authHTTP(nil, authX())
			route(hostX, nil)
		case !M:
			route(hostX, nil)
		}
	}
	fb.blocks = append(fb.blocks, block{weight: weight, http: http, https: https})
}

// vhostTLS1 records a vhost's certificate and bind options for
// --group-https-by-vhost.
func (fb *frontendBuilder) vhostTLS1(v string, c *svcConfig) {
	if !fb.flags.GroupHTTPSByVhost {
		return
	}
	if fb.vhostTLS == nil {
		fb.vhostTLS = make(map[string]*vhostTLSBuild)
	}
	for _, h := range patterns(v) {
		t := fb.vhostTLS[h]
		if t == nil {
			t = &vhostTLSBuild{certs: map[string]bool{}, opts: map[string]bool{}}
			fb.vhostTLS[h] = t
		}
		if c.sslCert != "" {
			t.certs[c.sslCert] = true
		}
		if c.bindOptions != "" {
			t.opts[c.bindOptions] = true
		}
	}
}

// finish resolves the ACLs and lays the rules out in weight order.
func (fb *frontendBuilder) finish(t *Table) {
	f := fb.flags
	sort.SliceStable(fb.blocks, func(i, j int) bool { return fb.blocks[i].weight > fb.blocks[j].weight })
	if f.BindHTTPHTTPS {
		h := &HTTPFrontend{Listen: f.HTTPAddr}
		s := &HTTPSFrontend{Listen: f.HTTPSAddr, Certs: slices.Clone(f.SSLCerts), GroupByVhost: f.GroupHTTPSByVhost}
		for _, b := range fb.blocks {
			for _, r := range b.http {
				m := resolve(r)
				switch r.kind {
				case kindAuth:
					h.Auth = append(h.Auth, AuthRule{Match: m, Realm: r.realm, Userlists: r.auth.userlists})
				case kindRedirect:
					h.Redirects = append(h.Redirects, RedirectRule{Match: m})
				case kindRoute:
					h.Routes = append(h.Routes, RouteRule{Match: m, Backend: r.backend})
				case kindRouteMap:
					h.Routes = append(h.Routes, RouteRule{Map: fb.domainMapOrEmpty()})
				}
			}
			for _, r := range b.https {
				m := resolve(r)
				switch r.kind {
				case kindAuth:
					s.Auth = append(s.Auth, AuthRule{Match: m, Realm: r.realm, Userlists: r.auth.userlists})
				case kindRoute:
					s.Routes = append(s.Routes, RouteRule{Match: m, Backend: r.backend})
				case kindRouteMap:
					s.Routes = append(s.Routes, RouteRule{Map: fb.domainMapOrEmpty()})
				}
			}
		}
		if f.GroupHTTPSByVhost {
			s.Vhosts = make(map[string]VhostTLS, len(fb.vhostTLS))
			for name, v := range fb.vhostTLS {
				certs := sortedKeys(v.certs)
				if len(certs) == 0 {
					certs = slices.Clone(f.SSLCerts)
				}
				s.Vhosts[name] = VhostTLS{Certs: certs, BindOptions: sortedKeys(v.opts)}
			}
		}
		t.HTTP, t.HTTPS = h, s
	}
	a := &AppIDFrontend{Listen: f.AppIDAddr}
	for _, r := range fb.appRules {
		a.Routes = append(a.Routes, AppIDRule{AppIDs: r.acl.patterns, Backend: r.backend})
	}
	if fb.appidMapped {
		a.Map = fb.appMap
	}
	t.AppID = a
}

func (fb *frontendBuilder) domainMapOrEmpty() map[string]*Backend {
	if fb.domainMap == nil {
		fb.domainMap = map[string]*Backend{}
	}
	return fb.domainMap
}

func resolve(r pendingRule) Match {
	var m Match
	if r.host != nil {
		m.Hosts = r.host.patterns
	} else {
		m.Hosts = r.sni
	}
	if r.path != nil {
		m.Paths = r.path.prefixes
	}
	return m
}

func sortedKeys(m map[string]bool) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
