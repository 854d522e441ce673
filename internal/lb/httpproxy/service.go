package httpproxy

import (
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/routes"
	"github.com/signpost-dns/signpost/internal/lb/tlscerts"
)

// svcFrontend is the listener of one http-mode service (Marathon-LB's
// per-app frontend). It outlives table generations as long as a service
// listens at its address; gen is what the current table says about it.
type svcFrontend struct {
	listen routes.ListenAddr
	ln     net.Listener
	gen    atomic.Pointer[svcGen]
	tlsCfg *tls.Config

	// Guarded by Proxy.mu.
	conns    int  // open client connections
	retiring bool // service gone from the table: refuse, then close
	timer    *time.Timer
	closed   bool
	// retiringFlag mirrors retiring for the request path, which does not
	// take Proxy.mu.
	retiringFlag atomic.Bool
}

// svcGen is one generation of a service: its backend's balancing state
// and, with SSL_CERT, its certificates.
type svcGen struct {
	bs    *backendState
	tls   bool
	certs *tlscerts.Set // nil with tls: the certificate failed to load
}

func (p *Proxy) listenService(l routes.ListenAddr) (*svcFrontend, error) {
	addr := ":" + strconv.Itoa(int(l.Port))
	if l.Addr.IsValid() {
		addr = net.JoinHostPort(l.Addr.Unmap().String(), strconv.Itoa(int(l.Port)))
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("httpproxy: listen %s: %w", l, err)
	}
	f := &svcFrontend{listen: l, ln: ln}
	f.tlsCfg = newTLSConfig(func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		g := f.gen.Load()
		if g == nil {
			return nil, tlscerts.ErrNoCertificate
		}
		return g.certs.GetCertificate(h)
	})
	return f, nil
}

// revive cancels a retirement when the service came back before its
// listener closed: the same socket goes on. Called with Proxy.mu held.
func (f *svcFrontend) revive() {
	if !f.retiring {
		return
	}
	f.retiring = false
	f.retiringFlag.Store(false)
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
}

// retire starts draining a service that left the table: new connections
// are accepted and closed, idle keep-alive connections are closed now,
// connections serving a request close after it, and whatever is still open
// after DrainTimeout is cut. The listener closes with the last connection.
// Called with p.mu held.
func (p *Proxy) retire(f *svcFrontend) {
	if f.retiring || f.closed {
		return
	}
	f.retiring = true
	f.retiringFlag.Store(true)
	if f.conns == 0 {
		p.closeService(f)
		return
	}
	for c := range p.conns {
		if c.svc == f && c.state.CompareAndSwap(connIdle, connClosed) {
			c.raw.Close()
		}
	}
	f.timer = time.AfterFunc(p.opts.DrainTimeout, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if !f.retiring || f.closed {
			return
		}
		for c := range p.conns {
			if c.svc == f {
				c.raw.Close()
				c.closeUpstream()
			}
		}
	})
}

// closeService closes f's listener and forgets it. Called with p.mu held.
func (p *Proxy) closeService(f *svcFrontend) {
	if f.closed {
		return
	}
	f.closed = true
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	f.ln.Close()
	if p.svcs[f.listen] == f {
		delete(p.svcs, f.listen)
	}
}
