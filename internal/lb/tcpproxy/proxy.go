// Package tcpproxy is the TCP data plane of `signpost lb`: one listener per
// tcp-mode service port of the route table (Marathon-LB's per-app frontends
// on <BIND_ADDR>:<service port>), proxying each accepted connection as a
// byte stream to one server of the service's backend.
//
// Its promise is that a route change never drops a connection:
//
//   - Apply reconciles the listeners with a new routes.Table built off the
//     data path. A listener whose (address, port) persists is never closed
//     or reopened — the same socket keeps accepting — and the service's
//     backend set is replaced with one atomic pointer store, so an accept
//     in flight sees either the old or the new set, never a mix.
//   - A server that disappears from the table or becomes Draining (HAProxy
//     "disabled", the old colour of a zero-downtime deployment) gets no new
//     connections; its open connections go on until they end or
//     Options.DrainTimeout passes, and only then are they cut. A server
//     that fails its active health check (Options.Healthy) gets no new
//     connections either, but its open ones are never cut for it.
//   - A removed service keeps its socket until its open connections have
//     ended (or DrainTimeout passed); meanwhile new connections to it are
//     accepted and closed at once. Should the service come back before
//     that, the same socket is reused.
//
// Bytes are copied with io.Copy between two *net.TCPConn, which on Linux
// takes the splice(2) path (TCPConn.ReadFrom): the payload never enters
// user space. Nothing may wrap either connection, or the copy falls back to
// a user-space buffer; that is why byte counters are updated when a
// direction ends rather than per read.
//
// # TLS termination
//
// A service with SSLCert (HAPROXY_{n}_SSL_CERT in tcp mode, HAProxy's
// "bind <addr>:<port> ssl crt <path>" under "mode tcp") terminates TLS:
// the listener completes the handshake with the certificates of that
// "crt" argument (a PEM file or a directory, see package tlscerts; chosen
// by SNI: exact name, then wildcard, else the first), and only then picks
// a server and proxies the decrypted stream to it in clear, as HAProxy
// does. "alpn <list>" in BindOptions is offered to clients (the server
// then has to speak what was negotiated); other bind keywords are ignored.
// As with Marathon-LB's HAProxy, TLS 1.0 and session tickets are off.
//
//   - Such connections lose the splice path: the client side is a
//     *tls.Conn, so bytes go through a user-space buffer to be decrypted
//     and encrypted. Plain services keep splice. Byte counters count the
//     plaintext.
//   - The handshake must finish within Options.HandshakeTimeout, so a
//     client that never finishes it cannot hold a goroutine; it counts as
//     refused. The ACL of the service applies before the handshake.
//   - Certificates are loaded by Apply (outside the data path) and read
//     again when their files change. A certificate that cannot be loaded
//     is reported in Apply's error; when nothing of it loads, that
//     service's listener stays (its socket persists as for any service)
//     but closes every connection at once rather than serve it in clear,
//     until an Apply finds the certificate loadable. A directory with some
//     broken files serves the files that loaded (and Apply reports the
//     others). Everything else in the table is applied regardless.
//   - A half-close is passed through as for plain services: the client's
//     close_notify (or a FIN at a record boundary) half-closes the server
//     connection, and the server's FIN sends close_notify then a FIN to the
//     client.
//   - Draining, retirement and persistent listeners are the same as for
//     plain services; a connection still in its handshake counts as open.
package tcpproxy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/routes"
	"github.com/signpost-dns/signpost/internal/lb/tlscerts"
)

// Defaults for the zero Options. DialTimeout and MaxAttempts follow the
// defaults section Marathon-LB writes ("timeout connect 3s", "retries 3"
// with "option redispatch": one attempt plus three more, spread over the
// backend's servers).
const (
	DefaultDrainTimeout = 30 * time.Second
	DefaultDialTimeout  = 3 * time.Second
	DefaultMaxAttempts  = 4
	// DefaultHandshakeTimeout bounds a TLS handshake on a service with
	// SSLCert; HAProxy has no separate knob (its "timeout client", 30s in
	// Marathon-LB's defaults, covers it), but a handshake needs a few
	// round trips, not half a minute.
	DefaultHandshakeTimeout = 10 * time.Second
)

// ErrClosed is returned by Apply after Close.
var ErrClosed = errors.New("tcpproxy: proxy closed")

// Options configure a Proxy. The zero value is usable.
type Options struct {
	// DrainTimeout bounds how long open connections to a removed or
	// draining server, or through a removed service's listener, may go on
	// before they are closed (--drain-timeout). Zero means
	// DefaultDrainTimeout.
	DrainTimeout time.Duration
	// DialTimeout bounds one connect attempt to a server. Zero means
	// DefaultDialTimeout.
	DialTimeout time.Duration
	// MaxAttempts is how many servers a connection tries before it is
	// given up (a failed connect moves on to the next server; nothing has
	// been sent yet, so that is safe). Zero means DefaultMaxAttempts.
	MaxAttempts int
	// HandshakeTimeout bounds the TLS handshake of a connection to a
	// service with SSLCert; one that has not finished by then is closed.
	// Zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// Logger receives accept and connect failures; nil discards them.
	Logger *slog.Logger
	// ListenConfig opens the listeners (tests use it to set socket
	// options); nil means a zero net.ListenConfig.
	ListenConfig *net.ListenConfig
	// Filter selects the services this proxy serves. Nil means those with
	// Mode routes.ModeTCP; http-mode services belong to the HTTP data plane.
	Filter func(*routes.Service) bool
	// Healthy reports whether the active health check of a server passes
	// (Backend.HealthCheck; healthcheck.Checker.Up). Nil means every server
	// is up. A server it declares down gets no new connections, as with
	// HAProxy: balancing and connect retries skip it, and a service whose
	// servers are all down closes new connections at once. Connections
	// already open to it are left alone. It is called on the accept path,
	// so it must be cheap and safe for concurrent use.
	Healthy func(backend string, s *routes.Server) bool
}

// Proxy serves the tcp-mode services of the current route table.
type Proxy struct {
	opts   Options
	log    *slog.Logger
	dialer net.Dialer
	ctx    context.Context // cancelled by Close: aborts dials in flight
	cancel context.CancelFunc

	// wg counts every goroutine the proxy starts (accept loops and
	// connection handlers), so Close can wait for all of them.
	wg sync.WaitGroup

	// applyMu serialises Apply, so certificates can be loaded (file I/O)
	// before mu is taken; certs is used only under it.
	applyMu sync.Mutex
	certs   *tlscerts.Loader

	// mu guards closed and frontends, and listener retirement. Lock order:
	// Proxy.applyMu, Proxy.mu, then frontend.mu, then server.mu.
	mu        sync.Mutex
	closed    bool
	frontends map[routes.ListenAddr]*frontend
}

// New returns a Proxy with no listeners; Apply opens them.
func New(opts Options) *Proxy {
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if opts.ListenConfig == nil {
		opts.ListenConfig = &net.ListenConfig{}
	}
	if opts.Filter == nil {
		opts.Filter = func(s *routes.Service) bool { return s.Mode == routes.ModeTCP }
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Proxy{
		opts:      opts,
		log:       log,
		dialer:    net.Dialer{Timeout: opts.DialTimeout},
		ctx:       ctx,
		cancel:    cancel,
		certs:     tlscerts.NewLoader(nil), // failures are Apply's errors
		frontends: make(map[routes.ListenAddr]*frontend),
	}
}

// Apply makes the proxy serve t's services (those Options.Filter selects).
// New listen addresses get a listener; existing ones keep theirs and get
// the new backend set atomically; listeners of services no longer in t
// drain (see the package comment). A listener that cannot be opened is
// reported in the returned error while every other service is still
// applied, so one port conflict does not freeze the whole table; so is a
// TLS certificate that cannot be loaded (see the package comment for what
// its service does then). Apply is safe to call concurrently with traffic;
// calls are serialised.
func (p *Proxy) Apply(t *routes.Table) error {
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	if p.isClosed() {
		return ErrClosed
	}
	var errs []error
	want := make(map[routes.ListenAddr]*routes.Service)
	if t != nil {
		for _, s := range t.Services {
			if s == nil || s.Backend == nil || !p.opts.Filter(s) {
				continue
			}
			if _, dup := want[s.Listen]; dup {
				errs = append(errs, fmt.Errorf("tcpproxy: %s: listen address used by two services; keeping the first", s.Listen))
				continue
			}
			want[s.Listen] = s
		}
	}
	// In address order, so that the error of the same problems reads the
	// same from one Apply to the next.
	order := make([]routes.ListenAddr, 0, len(want))
	for l := range want {
		order = append(order, l)
	}
	slices.SortFunc(order, func(a, b routes.ListenAddr) int {
		return cmp.Or(a.Addr.Compare(b.Addr), cmp.Compare(a.Port, b.Port))
	})

	// Certificates first: file I/O stays outside mu.
	seen := map[string]bool{}
	secure := make(map[routes.ListenAddr]*tlsSetup)
	for _, l := range order {
		if s := want[l]; s.SSLCert != "" {
			ts, err := p.loadTLS(s, seen)
			if err != nil {
				errs = append(errs, err)
			}
			secure[l] = ts
		}
	}
	p.certs.Forget(seen)

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	for _, l := range order {
		s := want[l]
		f := p.frontends[l]
		if f == nil {
			var err error
			f, err = p.listen(l)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			p.frontends[l] = f
			f.update(s.Backend, secure[l])
			p.wg.Add(1)
			go f.acceptLoop()
			continue
		}
		f.update(s.Backend, secure[l]) // also revives a frontend that was draining
	}
	for l, f := range p.frontends {
		if _, ok := want[l]; !ok {
			f.retire()
		}
	}
	return errors.Join(errs...)
}

func (p *Proxy) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func (p *Proxy) listen(l routes.ListenAddr) (*frontend, error) {
	addr := fmt.Sprintf(":%d", l.Port)
	if l.Addr.IsValid() {
		addr = net.JoinHostPort(l.Addr.Unmap().String(), fmt.Sprint(l.Port))
	}
	ln, err := p.opts.ListenConfig.Listen(p.ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("tcpproxy: listen %s: %w", l, err)
	}
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		ln.Close()
		return nil, fmt.Errorf("tcpproxy: listen %s: not a TCP listener (%T)", l, ln)
	}
	return newFrontend(p, l, tl), nil
}

// forget drops f once its listener has closed after draining, unless Apply
// has revived it or replaced it in the meantime.
func (p *Proxy) forget(f *frontend) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frontends[f.listen] == f && f.finishRetire() {
		delete(p.frontends, f.listen)
	}
}

// Addr returns the address the listener for l is bound to (useful when l's
// port is 0), or nil when there is none.
func (p *Proxy) Addr(l routes.ListenAddr) net.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f := p.frontends[l]; f != nil {
		return f.ln.Addr()
	}
	return nil
}

// Run serves until ctx is done, then closes the proxy. Listeners serve from
// Apply on; Run only ties the proxy's lifetime to ctx.
func (p *Proxy) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
	case <-p.ctx.Done():
	}
	p.Close()
	return nil
}

// Close closes every listener and connection at once and waits for every
// goroutine of the proxy to end. Graceful draining is Apply's job (apply an
// empty table and wait); Close is for process exit and tests.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		p.cancel()
		for l, f := range p.frontends {
			f.shutdown()
			delete(p.frontends, l)
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}
