// Package httpproxy is the HTTP data plane of `signpost lb`: the shared
// plain-HTTP vhost frontend (Marathon-LB's marathon_http_in, default :80),
// the shared TLS vhost frontend (marathon_https_in, default :443), the
// X-Marathon-App-Id frontend (marathon_http_appid_in, default :9091) and
// one frontend per http-mode service port (Marathon-LB's per-app frontends
// on <BIND_ADDR>:<service port>, with TLS when SSL_CERT is set), serving the
// routing decided by a routes.Table.
//
// It is a lean HTTP/1.1 proxy of its own rather than net/http plus
// httputil.ReverseProxy because the latter reached only about 0.3× HAProxy's
// keep-alive request rate, and the issue asks for at least 0.7×. The hot path
// therefore parses request and response heads straight out of a bufio.Reader
// into per-connection structs that are reused from request to request,
// forwards header bytes verbatim (only X-Forwarded-* are added, and the few
// headers a backend option rewrites), streams bodies without re-framing
// them, and keeps a bounded LIFO pool of keep-alive connections per server.
//
// Routing follows the reference semantics of routes.HTTPFrontend.Route,
// routes.HTTPSFrontend.Route and routes.AppIDFrontend.Route exactly; the
// table is published with an atomic pointer swap by Apply, so a
// configuration change never blocks requests. Per-service listeners follow
// the tcpproxy rules: a listen address that persists across Apply keeps its
// socket, and a removed service's listener closes only once its open
// connections have ended (idle keep-alive ones are closed at once) or
// DrainTimeout has passed.
//
// TLS is terminated with crypto/tls. Certificates are HAProxy "crt"
// arguments: a PEM file with the chain and the key (or a "<file>.key"
// beside it), or a directory of such files; they are chosen by SNI (exact
// name, then wildcard, else the first). They are read again whenever Apply
// sees a different list or changed files; one that fails to load is logged
// and skipped, never fatal. With --group-https-by-vhost the handshake is
// accepted only for a known vhost, with that vhost's certificates.
//
// Deliberate behaviour, relative to Marathon-LB's HAProxy:
//
//   - Server connections are kept alive and pooled (HAProxy there runs
//     "option http-server-close"); client keep-alive idles for 30s, not 1s.
//   - A request with both Content-Length and Transfer-Encoding, a
//     Transfer-Encoding other than "chunked", folded header lines, or a CR
//     or NUL in a header value is refused with 400 (smuggling defence).
//   - A failed connection attempt moves on to the next server (retries 3,
//     redispatch). Once any request byte was written, the request is never
//     sent elsewhere; the only resend is of a bodyless idempotent request
//     on a fresh connection to the same server when a pooled connection
//     proves dead before any response byte.
//   - "Expect: 100-continue" is answered by the proxy itself.
//   - Request bodies are streamed concurrently with the response, so
//     full-duplex servers (echoing while reading) work.
//   - Sticky backends ("cookie mesosphere_server_id insert indirect
//     nocache"): as in HAProxy the cookie is set ("; path=/") only when
//     the client did not present the serving server's, it is removed from
//     requests and from the server's own Set-Cookie lines, and a down or
//     removed server's clients are balanced anew — and, as HAProxy 2.6 does
//     with Marathon-LB's "disabled" servers, so are the clients of a
//     Draining one (no new requests; zdd.py waits for its sessions to end). An inserted
//     cookie always comes with "Cache-Control: private"; HAProxy adds it
//     only to responses it deems cacheable.
//   - USE_HSTS, PROXYPASS and REVPROXY work; Marathon-LB's templates for
//     them (rspadd, reqirep, rspirep) are refused by HAProxy ≥ 2.1.
//
// Password hashes are verified as crypt.go documents (schemes HAProxy's
// libxcrypt would accept that are not implemented never match).
//
// Not implemented yet: balance algorithms other than roundrobin,
// static-rr, leastconn, source, first, uri [whole] and hdr(name) (they
// fall back to roundrobin with a log line); BIND_OPTIONS.
package httpproxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/routes"
	"github.com/signpost-dns/signpost/internal/lb/tlscerts"
)

// ErrClosed is returned by Apply after Close.
var ErrClosed = errors.New("httpproxy: proxy closed")

// Options configure a Proxy. Zero values take the defaults noted, which are
// Marathon-LB's HAProxy "defaults" section where one applies.
type Options struct {
	// HTTPAddr is where the shared vhost frontend listens, default ":80";
	// "-" disables it.
	HTTPAddr string
	// HTTPSAddr is where the shared TLS vhost frontend listens, default
	// ":443"; "-" disables it.
	HTTPSAddr string
	// AppIDAddr is where the X-Marathon-App-Id frontend listens, default
	// ":9091"; "-" disables it.
	AppIDAddr string
	// HTTPListener, HTTPSListener and AppIDListener, when set, are used
	// instead of opening the addresses (tests, socket activation). The
	// Proxy owns them. HTTPSListener must be a plain TCP listener: the
	// Proxy terminates TLS itself.
	HTTPListener  net.Listener
	HTTPSListener net.Listener
	AppIDListener net.Listener

	// Healthy reports whether the active health check of a server passes
	// (Backend.HealthCheck). Nil means every server is up. A server it
	// declares down gets no new requests; those in flight finish. It is
	// called on the request path, so it must be cheap and safe for
	// concurrent use.
	Healthy func(backend string, s *routes.Server) bool
	// Logger receives certificate, listener and configuration problems;
	// nil discards them.
	Logger *slog.Logger

	// ConnectTimeout bounds a connection attempt to a server (HAProxy
	// "timeout connect", 3s in Marathon-LB's template).
	ConnectTimeout time.Duration
	// ServerTimeout is the longest a server may stay silent while a response
	// is expected ("timeout server", 30s).
	ServerTimeout time.Duration
	// ClientTimeout is the longest a client may stay silent while sending a
	// request body ("timeout client", 30s).
	ClientTimeout time.Duration
	// RequestTimeout bounds the arrival of a whole request head once its
	// first byte came ("timeout http-request", 15s), and a TLS handshake.
	RequestTimeout time.Duration
	// KeepAliveTimeout is how long an idle client connection waits for its
	// next request ("timeout http-keep-alive", 1s in Marathon-LB; default
	// here 30s because the proxy, unlike HAProxy in http-server-close mode,
	// holds no server connection for an idle client).
	KeepAliveTimeout time.Duration
	// TunnelTimeout is the inactivity limit of upgraded connections
	// ("timeout tunnel", 3600s).
	TunnelTimeout time.Duration
	// MaxIdlePerServer bounds each server's pool of idle keep-alive
	// connections, default 64.
	MaxIdlePerServer int
	// IdleConnTimeout drops pooled server connections idle longer than this,
	// default 4s: below the 5s keep-alive timeout of Node.js and most
	// servers, so a pooled connection is rarely closed under our feet.
	IdleConnTimeout time.Duration
	// Retries is how many other servers are tried after a failed connection
	// attempt (HAProxy "retries 3" with "option redispatch").
	Retries int
	// DrainTimeout (--drain-timeout; default 10s) is how long Close waits
	// for in-flight requests before it cuts every connection, how long a
	// removed service's listener waits for its connections, and how long
	// exchanges and upgraded tunnels on a server that left the table or
	// became Draining may go on before they are cut.
	DrainTimeout time.Duration
	// MaxHeaderBytes bounds a request or response head, default 64 KiB.
	MaxHeaderBytes int
}

func (o *Options) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if o.HTTPAddr == "" {
		o.HTTPAddr = ":80"
	}
	if o.HTTPSAddr == "" {
		o.HTTPSAddr = ":443"
	}
	if o.AppIDAddr == "" {
		o.AppIDAddr = ":9091"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	def(&o.ConnectTimeout, 3*time.Second)
	def(&o.ServerTimeout, 30*time.Second)
	def(&o.ClientTimeout, 30*time.Second)
	def(&o.RequestTimeout, 15*time.Second)
	def(&o.KeepAliveTimeout, 30*time.Second)
	def(&o.TunnelTimeout, time.Hour)
	def(&o.IdleConnTimeout, 4*time.Second)
	def(&o.DrainTimeout, 10*time.Second)
	if o.MaxIdlePerServer == 0 {
		o.MaxIdlePerServer = 64
	}
	if o.Retries == 0 {
		o.Retries = 3
	}
	if o.MaxHeaderBytes == 0 {
		o.MaxHeaderBytes = 64 << 10
	}
}

// frontendKind says which routing a listener applies.
type frontendKind uint8

const (
	frontHTTP frontendKind = iota
	frontHTTPS
	frontAppID
	frontService
)

// Proxy serves the shared frontends and the http-mode service frontends of
// the current table.
type Proxy struct {
	opts Options
	log  *slog.Logger

	lns   []listener
	state atomic.Pointer[compiled]
	// httpsTLS is the TLS configuration of the shared HTTPS frontend; its
	// callbacks read the certificates of the current generation.
	httpsTLS *tls.Config

	// applyMu serialises Apply (certificate loading happens outside mu).
	applyMu sync.Mutex
	certs   *tlscerts.Loader

	// mu guards servers (the registry that keeps pools and counters of a
	// server alive across Apply), conns, svcs and serving.
	mu      sync.Mutex
	servers map[serverKey]*serverState
	// leaving are servers that left the table and whose exchanges in
	// flight have until their drain timeout; one that comes back is
	// revived from here.
	leaving map[serverKey]*serverState
	conns   map[*clientConn]struct{}
	svcs    map[routes.ListenAddr]*svcFrontend
	serving bool
	closing atomic.Bool

	stats  proxyCounters
	verify *verifier

	serveOnce sync.Once
	closeOnce sync.Once
	done      chan struct{}
	connWG    sync.WaitGroup
	acceptWG  sync.WaitGroup
}

type listener struct {
	ln   net.Listener
	kind frontendKind
	svc  *svcFrontend // frontService only
}

// compiled is one published generation: the table plus the per-backend
// balancing state and the certificates derived from it.
type compiled struct {
	t        *routes.Table
	backends map[*routes.Backend]*backendState
	// https are the shared HTTPS frontend's certificates (nil: none
	// loaded); vhosts those of each vhost with GroupByVhost.
	https  *tlscerts.Set
	vhosts map[string]*tlscerts.Set
}

type serverKey struct{ backend, hostPort string }

// New opens the shared frontend listeners (once; Apply never reopens them)
// and returns a Proxy with an empty table, which answers 503 to everything
// (and fails every TLS handshake) until the first Apply.
func New(opts Options) (*Proxy, error) {
	opts.setDefaults()
	p := &Proxy{
		opts:    opts,
		log:     opts.Logger,
		certs:   tlscerts.NewLoader(opts.Logger),
		servers: map[serverKey]*serverState{},
		leaving: map[serverKey]*serverState{},
		conns:   map[*clientConn]struct{}{},
		verify:  newVerifier(),
		svcs:    map[routes.ListenAddr]*svcFrontend{},
		done:    make(chan struct{}),
	}
	p.httpsTLS = newTLSConfig(p.httpsCertificate)
	p.state.Store(&compiled{t: &routes.Table{}, backends: map[*routes.Backend]*backendState{}})
	open := func(ln net.Listener, addr string, kind frontendKind) error {
		if ln == nil {
			if addr == "-" {
				return nil
			}
			var err error
			if ln, err = net.Listen("tcp", addr); err != nil {
				return err
			}
		}
		p.lns = append(p.lns, listener{ln: ln, kind: kind})
		return nil
	}
	for _, f := range []struct {
		ln   net.Listener
		addr string
		kind frontendKind
	}{
		{opts.HTTPListener, opts.HTTPAddr, frontHTTP},
		{opts.HTTPSListener, opts.HTTPSAddr, frontHTTPS},
		{opts.AppIDListener, opts.AppIDAddr, frontAppID},
	} {
		if err := open(f.ln, f.addr, f.kind); err != nil {
			p.closeListeners()
			// Listeners passed in are owned by the Proxy even on failure.
			for _, l := range []net.Listener{opts.HTTPListener, opts.HTTPSListener, opts.AppIDListener} {
				if l != nil {
					l.Close()
				}
			}
			return nil, err
		}
	}
	return p, nil
}

// newTLSConfig is the server TLS setup of every TLS listener: Marathon-LB's
// HAProxy allows neither SSLv3 nor TLS 1.0 and disables session tickets;
// only HTTP/1.1 is offered by ALPN.
func newTLSConfig(get func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS12,
		SessionTicketsDisabled: true,
		NextProtos:             []string{"http/1.1"},
		GetCertificate:         get,
	}
}

// httpsCertificate chooses the shared HTTPS frontend's certificate for a
// handshake; with GroupByVhost an SNI that is no vhost fails it.
func (p *Proxy) httpsCertificate(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
	st := p.state.Load()
	f := st.t.HTTPS
	if f == nil {
		return nil, tlscerts.ErrNoCertificate
	}
	if f.GroupByVhost {
		cs := st.vhosts[strings.ToLower(strings.TrimSuffix(h.ServerName, "."))]
		if cs == nil {
			return nil, errors.New("httpproxy: TLS server name is no vhost of --group-https-by-vhost")
		}
		return cs.Pick(h.ServerName), nil
	}
	return st.https.GetCertificate(h)
}

// HTTPAddr is the address of the shared HTTP frontend, nil when disabled.
func (p *Proxy) HTTPAddr() net.Addr { return p.addr(frontHTTP) }

// HTTPSAddr is the address of the shared HTTPS frontend, nil when disabled.
func (p *Proxy) HTTPSAddr() net.Addr { return p.addr(frontHTTPS) }

// AppIDAddr is the address of the app-id frontend, nil when disabled.
func (p *Proxy) AppIDAddr() net.Addr { return p.addr(frontAppID) }

func (p *Proxy) addr(k frontendKind) net.Addr {
	for _, l := range p.lns {
		if l.kind == k {
			return l.ln.Addr()
		}
	}
	return nil
}

// ServiceAddr is the address the listener of the http-mode service at l is
// bound to (useful when l's port is 0), nil when there is none.
func (p *Proxy) ServiceAddr(l routes.ListenAddr) net.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f := p.svcs[l]; f != nil && !f.closed {
		return f.ln.Addr()
	}
	return nil
}

// Apply publishes t. Requests already routed finish on the servers they
// chose, within DrainTimeout when their server left or is draining; new
// requests use t. Servers no longer in t, and draining ones, lose
// their idle pooled connections and get no new requests, while the
// counters and pools of servers that stay are kept. The http-mode services
// of t get their listeners (see the package comment for their lifecycle).
// A listener that cannot be opened, or two services on one address, is
// reported in the returned error while everything else is applied.
func (p *Proxy) Apply(t *routes.Table) error {
	if t == nil {
		t = &routes.Table{}
	}
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	if p.closing.Load() {
		return ErrClosed
	}
	c := &compiled{t: t, backends: map[*routes.Backend]*backendState{}}

	// Certificates first: file I/O stays outside mu.
	seen := map[string]bool{}
	svcCerts := map[string]*tlscerts.Set{}
	if f := t.HTTPS; f != nil && p.HTTPSAddr() != nil {
		if f.GroupByVhost {
			c.vhosts = make(map[string]*tlscerts.Set, len(f.Vhosts))
			for name, v := range f.Vhosts {
				if cs := loadSet(p.certs, v.Certs, seen); cs != nil {
					c.vhosts[name] = cs
				}
			}
		} else {
			c.https = loadSet(p.certs, f.Certs, seen)
		}
	}
	for _, s := range t.Services {
		if s != nil && s.Mode == routes.ModeHTTP && s.SSLCert != "" && svcCerts[s.SSLCert] == nil {
			svcCerts[s.SSLCert] = loadSet(p.certs, []string{s.SSLCert}, seen)
		}
	}
	p.certs.Forget(seen)

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing.Load() {
		return ErrClosed
	}
	live := map[serverKey]bool{}
	add := func(b *routes.Backend) {
		if b == nil || c.backends[b] != nil {
			return
		}
		bs := newBackendState(b, p.opts.Healthy, p.log)
		for i := range b.Servers {
			s := &b.Servers[i]
			k := serverKey{b.Name, s.HostPort}
			ss := p.servers[k]
			if ss == nil && p.leaving[k] != nil {
				// Back before its drain timeout: the same state, so
				// its exchanges in flight are no longer bounded.
				ss = p.leaving[k]
				delete(p.leaving, k)
				p.servers[k] = ss
			}
			if ss == nil {
				ss = &serverState{backend: b.Name, name: s.Name, hostPort: s.HostPort, maxIdle: p.opts.MaxIdlePerServer}
				p.servers[k] = ss
			}
			ss.addr = s.Addr
			ss.removed.Store(false)
			ss.draining.Store(s.Draining)
			if s.Draining {
				ss.closeIdle()
				ss.startDrain(p.opts.DrainTimeout, nil)
			} else {
				ss.reopen()
			}
			live[k] = true
			if bs.byCookie != nil && s.Cookie != "" {
				if _, dup := bs.byCookie[s.Cookie]; !dup {
					bs.byCookie[s.Cookie] = len(bs.servers)
				}
			}
			bs.servers = append(bs.servers, ss)
			bs.rs = append(bs.rs, s)
		}
		c.backends[b] = bs
	}
	if t.HTTP != nil {
		for i := range t.HTTP.Routes {
			r := &t.HTTP.Routes[i]
			add(r.Backend)
			for _, b := range r.Map {
				add(b)
			}
		}
	}
	if t.HTTPS != nil {
		for i := range t.HTTPS.Routes {
			r := &t.HTTPS.Routes[i]
			add(r.Backend)
			for _, b := range r.Map {
				add(b)
			}
		}
	}
	if t.AppID != nil {
		for _, r := range t.AppID.Routes {
			add(r.Backend)
		}
		for _, b := range t.AppID.Map {
			add(b)
		}
	}
	var errs []error
	want := map[routes.ListenAddr]*routes.Service{}
	for _, s := range t.Services {
		if s == nil || s.Mode != routes.ModeHTTP || s.Backend == nil {
			continue
		}
		if _, dup := want[s.Listen]; dup {
			errs = append(errs, fmt.Errorf("httpproxy: %s: listen address used by two services; keeping the first", s.Listen))
			continue
		}
		want[s.Listen] = s
		add(s.Backend)
	}
	p.state.Store(c)

	for l, s := range want {
		g := &svcGen{bs: c.backends[s.Backend]}
		if s.SSLCert != "" {
			g.tls = true
			g.certs = svcCerts[s.SSLCert]
		}
		f := p.svcs[l]
		if f == nil {
			var err error
			if f, err = p.listenService(l); err != nil {
				errs = append(errs, err)
				continue
			}
			f.gen.Store(g)
			p.svcs[l] = f
			if p.serving {
				p.startAccept(listener{ln: f.ln, kind: frontService, svc: f})
			}
			continue
		}
		f.gen.Store(g)
		f.revive()
	}
	for l, f := range p.svcs {
		if _, ok := want[l]; !ok {
			p.retire(f)
		}
	}
	// Servers that left are marked only now that every new generation is
	// published: a request that finds its (old) backend without a usable
	// server because of this routes again and sees the new one.
	for k, ss := range p.servers {
		if !live[k] {
			ss.removed.Store(true)
			ss.closeIdle()
			delete(p.servers, k)
			p.leaving[k] = ss
			ss.startDrain(p.opts.DrainTimeout, func() {
				p.mu.Lock()
				if p.leaving[k] == ss {
					delete(p.leaving, k)
				}
				p.mu.Unlock()
			})
		}
	}
	return errors.Join(errs...)
}

// Serve accepts connections on every frontend until ctx ends or Close is
// called; it then drains (see Close) and returns. It may be called once.
func (p *Proxy) Serve(ctx context.Context) error {
	started := false
	p.serveOnce.Do(func() { started = true })
	if !started {
		return errors.New("httpproxy: Serve called twice")
	}
	p.mu.Lock()
	if !p.closing.Load() {
		p.serving = true
		for _, l := range p.lns {
			p.startAccept(l)
		}
		for _, f := range p.svcs {
			if !f.closed {
				p.startAccept(listener{ln: f.ln, kind: frontService, svc: f})
			}
		}
	}
	p.mu.Unlock()
	select {
	case <-ctx.Done():
		p.Close()
	case <-p.done:
	}
	return nil
}

// startAccept starts an accept loop; called with mu held and not closing.
func (p *Proxy) startAccept(l listener) {
	p.acceptWG.Add(1)
	go p.acceptLoop(l)
}

func (p *Proxy) acceptLoop(l listener) {
	defer p.acceptWG.Done()
	var delay time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if p.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: back off like net/http instead of
			// spinning or giving up the listener.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			p.log.Warn("http accept failed; retrying", "listen", l.ln.Addr().String(), "err", err, "in", delay)
			select {
			case <-time.After(delay):
				continue
			case <-p.done:
				return
			}
		}
		delay = 0
		c := newClientConn(p, nc, l)
		p.mu.Lock()
		if p.closing.Load() || (l.svc != nil && l.svc.retiring) {
			// A retiring service accepts and closes, so that clients
			// fail fast instead of queueing in the backlog.
			p.mu.Unlock()
			c.release()
			nc.Close()
			continue
		}
		p.conns[c] = struct{}{}
		if l.svc != nil {
			l.svc.conns++
		}
		p.connWG.Add(1)
		p.mu.Unlock()
		go c.serve()
	}
}

// connDone unregisters a finished client connection; the last connection
// of a retiring service closes its listener.
func (p *Proxy) connDone(c *clientConn) {
	p.mu.Lock()
	delete(p.conns, c)
	if f := c.svc; f != nil {
		f.conns--
		if f.retiring && f.conns == 0 {
			p.closeService(f)
		}
	}
	p.mu.Unlock()
}

// Close stops accepting, closes idle client connections, lets requests in
// flight finish for up to DrainTimeout (their connections close after the
// response), then cuts whatever remains and closes pooled server
// connections. It returns when every goroutine of the Proxy has ended.
func (p *Proxy) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closing.Store(true)
		close(p.done)
		for _, f := range p.svcs {
			p.closeService(f)
		}
		p.mu.Unlock()
		p.closeListeners()
		p.acceptWG.Wait()
		p.mu.Lock()
		for c := range p.conns {
			// Only connections waiting for their next request are cut
			// now; one that is reading or serving a request finishes it
			// and then sees closing.
			if c.state.CompareAndSwap(connIdle, connClosed) {
				c.raw.Close()
			}
		}
		p.mu.Unlock()
		drained := make(chan struct{})
		go func() { p.connWG.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(p.opts.DrainTimeout):
			p.mu.Lock()
			for c := range p.conns {
				c.raw.Close()
				c.closeUpstream()
			}
			p.mu.Unlock()
			<-drained
		}
		p.mu.Lock()
		for _, ss := range p.servers {
			ss.stopDrain()
			ss.closeIdle()
		}
		for k, ss := range p.leaving {
			ss.stopDrain()
			delete(p.leaving, k)
		}
		p.mu.Unlock()
	})
	return nil
}

func (p *Proxy) closeListeners() {
	for _, l := range p.lns {
		l.ln.Close()
	}
}

// allowed applies HAPROXY_{n}_BACKEND_NETWORK_ALLOWED_ACL.
func allowed(b *routes.Backend, ip netip.Addr) bool {
	if len(b.AllowedNetworks) == 0 {
		return true
	}
	ip = ip.Unmap()
	for _, pfx := range b.AllowedNetworks {
		if pfx.Contains(ip) {
			return true
		}
	}
	return false
}
