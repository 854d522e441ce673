package routes

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Table is one generation of the route table. It is immutable once Build
// returns it, so the data plane can publish it with an atomic pointer swap
// and serve from the old generation until the swap.
type Table struct {
	// HTTP is the shared vhost frontend (Marathon-LB's marathon_http_in on
	// *:80); nil with --dont-bind-http-https.
	HTTP *HTTPFrontend
	// HTTPS is the shared TLS vhost frontend (marathon_https_in on *:443);
	// nil with --dont-bind-http-https.
	HTTPS *HTTPSFrontend
	// AppID is the X-Marathon-App-Id frontend (marathon_http_appid_in on
	// *:9091). Marathon-LB emits it even with --dont-bind-http-https.
	AppID *AppIDFrontend
	// Services are the per-app frontends, one per exposed service port, in
	// Marathon-LB's order (app id, then service port). Each owns its backend.
	Services []*Service
	// Health is the health cache to pass to the next Build (see HealthCache).
	Health HealthCache

	byListen  map[ListenAddr]*Service
	byBackend map[string]*Backend
}

// Service returns the per-app frontend bound exactly at l, or nil.
func (t *Table) Service(l ListenAddr) *Service { return t.byListen[l] }

// Lookup returns the per-app frontend that accepts a connection to dst: the
// one bound to dst's address, else the one bound to all addresses on that
// port (a specific bind wins, as with SO_REUSEPORT sockets in the kernel).
func (t *Table) Lookup(dst netip.AddrPort) *Service {
	if s := t.byListen[ListenAddr{Addr: dst.Addr().Unmap(), Port: dst.Port()}]; s != nil {
		return s
	}
	return t.byListen[ListenAddr{Port: dst.Port()}]
}

// Backend returns the backend with Marathon-LB's name (e.g. "nginx_10000").
func (t *Table) Backend(name string) *Backend { return t.byBackend[name] }

// ListenAddr is where a frontend listens. The zero Addr means every address,
// HAProxy's "*" (which HAProxy itself binds as 0.0.0.0; a Go listener on ":port"
// also accepts IPv6).
type ListenAddr struct {
	Addr netip.Addr
	Port uint16
}

// String renders the address like an HAProxy bind line: "*:80", "127.0.0.1:8443".
func (l ListenAddr) String() string {
	p := strconv.Itoa(int(l.Port))
	if !l.Addr.IsValid() {
		return "*:" + p
	}
	return netip.AddrPortFrom(l.Addr, l.Port).String()
}

// Mode is a frontend's or backend's proxy mode.
type Mode string

const (
	// ModeTCP proxies connections as byte streams.
	ModeTCP Mode = "tcp"
	// ModeHTTP parses requests, adds X-Forwarded-* headers and can route by
	// Host, path and headers.
	ModeHTTP Mode = "http"
)

// Service is a per-app frontend: a listener for one service port of one app
// that sends everything to its backend.
type Service struct {
	// Listen is HAPROXY_{n}_BIND_ADDR (default all) and the service port
	// (HAPROXY_{n}_PORT, else Marathon's, else auto-assigned).
	Listen ListenAddr
	Mode   Mode
	// SSLCert is HAPROXY_{n}_SSL_CERT: terminate TLS on this listener with
	// that PEM file (HAProxy "ssl crt <path>"; a directory loads every file).
	SSLCert string
	// BindOptions is HAPROXY_{n}_BIND_OPTIONS verbatim (HAProxy bind
	// keywords such as "alpn h2,http/1.1" or "accept-proxy"); the data plane
	// decides which it supports.
	BindOptions string
	Backend     *Backend
}

// Backend is a pool of servers with its balancing and HTTP behaviour.
type Backend struct {
	// Name is Marathon-LB's backend name, "<app id with / as _>_<port>".
	Name  string
	AppID string
	// PortIndex is the index of the service port in the app's port list.
	PortIndex int
	// ServicePort is the port the service binds (after HAPROXY_{n}_PORT).
	ServicePort int
	Mode        Mode
	// Balance is the HAProxy algorithm from HAPROXY_{n}_BALANCE, default
	// "roundrobin" (also "leastconn", "source", "uri", "hdr(name)", ...).
	Balance string
	// Sticky is HAPROXY_{n}_STICKY: insert cookie StickyCookie with the
	// server's Cookie value ("insert indirect nocache") and pin clients to it.
	Sticky bool
	// HealthCheck is the active check of every server; nil means servers are
	// never checked and always considered up.
	HealthCheck *HealthCheck
	// Auth is HAPROXY_{n}_AUTH. It is enforced only by the vhost rules of the
	// shared HTTP/HTTPS frontends (Marathon-LB puts the check there), so the
	// service's own port and the app-id frontend do not ask for credentials.
	Auth *BasicAuth
	// HTTP holds the HTTP-only behaviour; nil in tcp mode.
	HTTP *HTTPOptions
	// Vhosts are the host names of HAPROXY_{n}_VHOST (lower-cased), for
	// status pages; routing by them is in the shared frontends' rules.
	Vhosts []string
	// AllowedNetworks is HAPROXY_{n}_BACKEND_NETWORK_ALLOWED_ACL: when
	// non-empty, clients whose source address is in none of these prefixes
	// are refused (HTTP 403 in http mode, connection closed in tcp mode).
	AllowedNetworks []netip.Prefix
	// Servers are ordered as Marathon-LB orders them: by task host, then
	// port (relevant to "first" balancing and to server ids).
	Servers []Server
}

// StickyCookie is the cookie Marathon-LB inserts for sticky backends.
const StickyCookie = "mesosphere_server_id"

// Server is one task port behind a backend.
type Server struct {
	// Name is Marathon-LB's server name (e.g. "10_0_2_148_1565" or
	// "agent1_10_0_0_5_8080"); the sticky cookie and ID derive from it.
	Name string
	// ID is Marathon-LB's stable HAProxy server id, unique in the backend.
	ID     int
	TaskID string
	// Host is the Mesos agent running the task (task.host).
	Host string
	// Addr is where to connect. It is invalid only when the task host is a
	// hostname and Flags.Resolve is nil; HostPort then names what to resolve.
	Addr netip.AddrPort
	// HostPort is Addr as "ip:port", or "hostname:port" when unresolved.
	HostPort string
	// CheckPort is the port health checks connect to; 0 means Addr's port.
	CheckPort int
	// Cookie is the sticky cookie value (set only when the backend is sticky).
	Cookie string
	// Draining marks the old tasks of a zero-downtime deployment (HAProxy
	// "disabled", i.e. MAINT): no new connections or requests, existing
	// ones and sticky-cookie clients are not moved away by force.
	Draining bool
}

// CheckType says how a health check probes a server.
type CheckType string

const (
	// CheckTCP succeeds when a TCP connection opens.
	CheckTCP CheckType = "tcp"
	// CheckHTTP sends "GET <Path>" (HTTP/1.0, no Host) and wants a 2xx/3xx.
	CheckHTTP CheckType = "http"
)

// HealthCheck is the active check HAProxy would run against every server.
// It is derived from the app's first Marathon health check that applies to
// the port (one with an explicit "port" applies to every port, a quirk kept
// from Marathon-LB), or from the one at HAPROXY_{n}_BACKEND_HEALTHCHECK_PORT_INDEX.
type HealthCheck struct {
	Type CheckType
	// Path is the HTTP path, "/" when the Marathon check has none.
	Path string
	// Interval between checks (Marathon intervalSeconds).
	Interval time.Duration
	// Timeout of one check: timeoutSeconds for HTTP checks; HAProxy's
	// default (the interval) for TCP checks, which Marathon-LB leaves unset.
	Timeout time.Duration
	// Fall is the number of consecutive failures that mark a server down
	// (maxConsecutiveFailures+1, as Marathon-LB writes it).
	Fall int
	// Rise is the number of successes that mark a server up again (HAProxy's
	// default, 2; Marathon-LB never sets it).
	Rise int
	// MarathonProtocol is the protocol of the Marathon check it came from
	// ("HTTP", "TCP", "COMMAND", "MESOS_HTTP", ...; empty when Implicit).
	// An HTTPS check is probed with plain HTTP, as Marathon-LB does.
	MarathonProtocol string
	// Implicit marks the check HAProxy runs only because the backend is
	// sticky (Marathon-LB writes "check cookie ..."): a TCP check with
	// HAProxy's defaults, 2 s interval, fall 3.
	Implicit bool
}

// BasicAuth is the HTTP basic authentication of a backend's vhost rules.
type BasicAuth struct {
	Realm    string
	Userlist *Userlist
}

// Userlist is HAProxy's "userlist user_<backend>".
type Userlist struct {
	Name  string
	Users []User
}

// User is one user of a userlist.
type User struct {
	Name string
	// Password is a crypt(3) hash ("$6$...", "$5$...", "$1$...", DES) unless
	// Insecure, in which case it is the clear text. Marathon-LB's AUTH label
	// always yields a hash (HAProxy "password"); Insecure is there for
	// userlists written with "insecure-password".
	Password string
	Insecure bool
}

// HTTPOptions is the http-mode behaviour of a backend. Every http backend
// adds X-Forwarded-For, sets X-Forwarded-Port to the port the client
// connected to and adds "X-Forwarded-Proto: https" on TLS connections.
type HTTPOptions struct {
	// RedirectToHTTPS is HAPROXY_{n}_REDIRECT_TO_HTTPS, for status pages;
	// the redirect itself is HTTPFrontend.Redirects (it applies on the
	// shared :80 frontend only, not on the service's own port).
	RedirectToHTTPS bool
	// HSTS adds "Strict-Transport-Security: max-age=15768000" to every
	// response (HAPROXY_{n}_USE_HSTS).
	HSTS bool
	// ProxyPassPath (HAPROXY_{n}_HTTP_BACKEND_PROXYPASS_PATH) is removed,
	// case-insensitively and with an optional following "/", from the start
	// of the request path ("/pp/x" → "/x"), and Host is set to ProxyPassHost.
	ProxyPassPath string
	// ProxyPassHost is the VHOST label as written (Marathon-LB sets Host to
	// it verbatim, even a comma list); empty means Host is left alone.
	ProxyPassHost string
	// RevProxyPath (HAPROXY_{n}_HTTP_BACKEND_REVPROXY_PATH) replaces the
	// whole Location response header when it is a path or an absolute URL
	// on RevProxyHost (http or https, any port).
	RevProxyPath string
	RevProxyHost string
	// RootRedirect is HAPROXY_{n}_HTTP_BACKEND_REDIR; nil when unset.
	RootRedirect *RootRedirect
}

// RootRedirect answers "301 Location: <Location>" to requests for exactly
// "/" (case-insensitive) whose Host is one of Hosts.
type RootRedirect struct {
	// Hosts are the whitespace-separated words of the VHOST label, compared
	// with the Host header like a vhost rule. Marathon-LB uses the label
	// verbatim, so with a comma list the single pattern "a.com,b.com" never
	// matches a real Host; that is preserved.
	Hosts    []string
	Location string
}

// Match is the condition of a shared-frontend rule: all of its parts must
// hold; an empty part holds for every request.
type Match struct {
	// Hosts are lower-case names compared, case-insensitively and with any
	// ":port" removed, with the Host header (HTTP frontend) or the TLS SNI
	// (HTTPS frontend). Any one matching is enough.
	Hosts []string
	// Paths are path prefixes (HAPROXY_{n}_PATH, HAProxy path_beg): the
	// request path (without query) must begin with one of them.
	Paths []PathPrefix
}

// PathPrefix is one path_beg pattern.
type PathPrefix struct {
	Prefix string
	// IgnoreCase is HAProxy's "-i" flag in the PATH label.
	IgnoreCase bool
}

// AuthRule is "http-request auth": when Match holds and the request's
// credentials are valid for none of Userlists, answer 401 with Realm.
type AuthRule struct {
	Match
	Realm string
	// Userlists are every userlist the rule's ACL name accepts (usually one;
	// several when two services share the ACL name, see frontend.go).
	Userlists []*Userlist
}

// RedirectRule is HAPROXY_{n}_REDIRECT_TO_HTTPS on the plain HTTP frontend:
// when Match holds, answer 301 to the same URL with the https scheme.
type RedirectRule struct {
	Match
}

// RouteRule is one "use_backend". Either Backend is set (static rule) or Map
// is (Marathon-LB's --haproxy-map catch-all).
type RouteRule struct {
	Match
	Backend *Backend
	// Map is the dynamic --haproxy-map lookup: the lower-cased Host without
	// port (or SNI) is looked up; a hit routes there, a miss ends rule
	// evaluation without a backend (HAProxy falls back to the absent default
	// backend, i.e. 503) — later rules are never consulted.
	Map map[string]*Backend
}

// HTTPFrontend is the shared plain-HTTP vhost frontend. HAProxy evaluates
// its rules in three phases whatever their order in the configuration —
// every auth rule ("http-request"), then every redirect rule ("redirect"),
// then the routing rules ("use_backend", first match wins) — so the rules
// are kept as three ordered lists. Within each list the order is
// Marathon-LB's: blocks of services sorted by BACKEND_WEIGHT, highest first,
// ties in (app id, service port) order.
type HTTPFrontend struct {
	Listen    ListenAddr
	Auth      []AuthRule
	Redirects []RedirectRule
	Routes    []RouteRule
}

// HTTPSFrontend is the shared TLS frontend: it terminates TLS with Certs and
// routes the decrypted requests by SNI (Match.Hosts) and path.
type HTTPSFrontend struct {
	Listen ListenAddr
	// Certs are --ssl-certs in order (HAProxy "crt" arguments; the first is
	// presented when no certificate matches the SNI).
	Certs []string
	// GroupByVhost is --group-https-by-vhost: the TLS handshake is accepted
	// only for an SNI in Vhosts and terminated with that vhost's certificates
	// and bind options; other connections are closed.
	GroupByVhost bool
	Vhosts       map[string]VhostTLS
	Auth         []AuthRule
	Routes       []RouteRule
}

// VhostTLS is the TLS setup of one vhost with --group-https-by-vhost.
type VhostTLS struct {
	// Certs are the SSL_CERT labels of the vhost's services, else --ssl-certs.
	Certs []string
	// BindOptions are the BIND_OPTIONS labels of the vhost's services.
	BindOptions []string
}

// AppIDFrontend routes by the X-Marathon-App-Id header (case-insensitive)
// to the first http-mode service of each app.
type AppIDFrontend struct {
	Listen ListenAddr
	Routes []AppIDRule
	// Map is the --haproxy-map lookup (lower-cased header value), evaluated
	// after Routes (which are then empty).
	Map map[string]*Backend
}

// AppIDRule routes requests whose X-Marathon-App-Id equals (ignoring case)
// one of AppIDs. Several ids share a rule only when their sanitised ACL
// names collide ("/a.b" and "/a/b"), which HAProxy merges.
type AppIDRule struct {
	AppIDs  []string
	Backend *Backend
}

// Action is what a shared frontend does with a request.
type Action uint8

const (
	// NoRoute: no rule matched; HAProxy answers 503.
	NoRoute Action = iota
	// Forward to Decision.Backend.
	Forward
	// RedirectHTTPS answers 301 to the https URL.
	RedirectHTTPS
	// Challenge answers 401 with WWW-Authenticate for Decision.Realm.
	Challenge
)

// Decision is the outcome of routing one request.
type Decision struct {
	Action  Action
	Backend *Backend
	Realm   string
}

// Authorizer reports whether the request's credentials are valid for u.
type Authorizer func(u *Userlist) bool

// Route decides what the plain-HTTP frontend does with a request for host
// (the Host header, port allowed) and path. It is the reference semantics
// for the data plane and the tests; authorized may be nil (no credentials).
func (f *HTTPFrontend) Route(host, path string, authorized Authorizer) Decision {
	key := hostKey(host)
	if d, ok := checkAuth(f.Auth, key, path, authorized); ok {
		return d
	}
	for i := range f.Redirects {
		if f.Redirects[i].matches(key, path) {
			return Decision{Action: RedirectHTTPS}
		}
	}
	return route(f.Routes, key, path)
}

// Route decides what the HTTPS frontend does with a request that arrived
// with TLS server name sni.
func (f *HTTPSFrontend) Route(sni, path string, authorized Authorizer) Decision {
	key := strings.ToLower(sni)
	if f.GroupByVhost {
		if _, ok := f.Vhosts[key]; !ok {
			return Decision{}
		}
	}
	if d, ok := checkAuth(f.Auth, key, path, authorized); ok {
		return d
	}
	return route(f.Routes, key, path)
}

// Route returns the backend for an X-Marathon-App-Id value, or nil.
func (f *AppIDFrontend) Route(appID string) *Backend {
	for _, r := range f.Routes {
		for _, id := range r.AppIDs {
			if strings.EqualFold(id, appID) {
				return r.Backend
			}
		}
	}
	if f.Map != nil {
		return f.Map[strings.ToLower(appID)]
	}
	return nil
}

func checkAuth(rules []AuthRule, host, path string, authorized Authorizer) (Decision, bool) {
	for i := range rules {
		r := &rules[i]
		if !r.matches(host, path) {
			continue
		}
		ok := false
		for _, u := range r.Userlists {
			if authorized != nil && authorized(u) {
				ok = true
				break
			}
		}
		if !ok {
			return Decision{Action: Challenge, Realm: r.Realm}, true
		}
	}
	return Decision{}, false
}

func route(rules []RouteRule, host, path string) Decision {
	for i := range rules {
		r := &rules[i]
		if r.Map != nil {
			if b := r.Map[host]; b != nil {
				return Decision{Action: Forward, Backend: b}
			}
			return Decision{}
		}
		if r.matches(host, path) {
			return Decision{Action: Forward, Backend: r.Backend}
		}
	}
	return Decision{}
}

// hostKey lower-cases a Host header value and removes its port, so that
// "Example.com:8080" matches the vhost "example.com".
func hostKey(host string) string {
	host = strings.ToLower(host)
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i > 0 {
			return host[:i+1]
		}
		return host
	}
	if i := strings.IndexByte(host, ':'); i >= 0 && strings.Count(host, ":") == 1 {
		return host[:i]
	}
	return host
}

func (m *Match) matches(host, path string) bool {
	if len(m.Hosts) > 0 {
		ok := false
		for _, h := range m.Hosts {
			if h == host {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(m.Paths) > 0 {
		ok := false
		for _, p := range m.Paths {
			if p.matches(path) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (p PathPrefix) matches(path string) bool {
	if len(path) < len(p.Prefix) {
		return false
	}
	if p.IgnoreCase {
		return strings.EqualFold(path[:len(p.Prefix)], p.Prefix)
	}
	return path[:len(p.Prefix)] == p.Prefix
}
