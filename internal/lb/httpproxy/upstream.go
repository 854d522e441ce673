package httpproxy

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// serverState is one server's pool of idle keep-alive connections and its
// counters. It outlives table generations as long as the server stays in
// its backend, so an Apply that changes nothing for a server keeps its warm
// connections.
type serverState struct {
	backend, name, hostPort string
	addr                    netip.AddrPort // set under Proxy.mu; read via dialAddr
	maxIdle                 int
	// draining is the server's Draining flag in the current table;
	// removed is set when it left the table (a request routed with the
	// previous generation must not pick it any more).
	draining, removed atomic.Bool

	mu     sync.Mutex
	idle   []*upConn // LIFO: the most recently used is the most likely alive
	closed bool      // removed or draining: pooled connections are refused
	// busy are the connections carrying an exchange (or an upgraded
	// tunnel) right now; drain cuts them once the drain timeout passes.
	busy  map[net.Conn]struct{}
	drain *time.Timer // set while removed or draining

	active        atomic.Int64
	requests      atomic.Uint64
	connects      atomic.Uint64
	reused        atomic.Uint64
	connectErrors atomic.Uint64
	serverErrors  atomic.Uint64
	clientAborts  atomic.Uint64
	status        [6]atomic.Uint64 // by status class: [1]=1xx … [5]=5xx
	latencySum    atomic.Int64     // ns, request head read → response fully sent
	latencyCount  atomic.Uint64
}

// upConn is a connection to a server with its buffers.
type upConn struct {
	nc        net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
}

func (s *serverState) closeIdle() {
	s.mu.Lock()
	s.closed = true
	idle := s.idle
	s.idle = nil
	s.mu.Unlock()
	for _, u := range idle {
		u.nc.Close()
	}
}

func (s *serverState) reopen() {
	s.mu.Lock()
	s.closed = false
	if s.drain != nil {
		s.drain.Stop()
		s.drain = nil
	}
	s.mu.Unlock()
}

// hold and release track a connection in use by an exchange.
func (s *serverState) hold(nc net.Conn) {
	s.mu.Lock()
	if s.busy == nil {
		s.busy = make(map[net.Conn]struct{})
	}
	s.busy[nc] = struct{}{}
	s.mu.Unlock()
}

func (s *serverState) release(nc net.Conn) {
	s.mu.Lock()
	delete(s.busy, nc)
	s.mu.Unlock()
}

// startDrain bounds the exchanges still running on a server that left the
// table or is draining: after timeout, whatever is still open is cut
// (--drain-timeout) and then runs, unless the server came back meanwhile
// (reopen). Idempotent: the first call sets the deadline.
func (s *serverState) startDrain(timeout time.Duration, then func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.drain != nil {
		return
	}
	s.drain = time.AfterFunc(timeout, func() {
		if !s.removed.Load() && !s.draining.Load() {
			return
		}
		if then != nil {
			defer then()
		}
		s.mu.Lock()
		busy := make([]net.Conn, 0, len(s.busy))
		for nc := range s.busy {
			busy = append(busy, nc)
		}
		s.mu.Unlock()
		for _, nc := range busy {
			nc.Close()
		}
	})
}

// stopDrain cancels a pending drain deadline (at Close, which cuts
// everything itself).
func (s *serverState) stopDrain() {
	s.mu.Lock()
	if s.drain != nil {
		s.drain.Stop()
		s.drain = nil
	}
	s.mu.Unlock()
}

// get takes the most recently pooled connection, dropping any idle longer
// than maxAge.
func (s *serverState) get(maxAge time.Duration) *upConn {
	s.mu.Lock()
	for n := len(s.idle); n > 0; n = len(s.idle) {
		u := s.idle[n-1]
		s.idle[n-1] = nil
		s.idle = s.idle[:n-1]
		if time.Since(u.idleSince) < maxAge {
			s.mu.Unlock()
			return u
		}
		s.mu.Unlock()
		u.nc.Close()
		s.mu.Lock()
	}
	s.mu.Unlock()
	return nil
}

// put returns a connection after a complete exchange; it is closed instead
// when the pool is full or the server is no longer accepting requests.
func (s *serverState) put(u *upConn) {
	u.idleSince = time.Now()
	s.mu.Lock()
	if s.closed || len(s.idle) >= s.maxIdle || s.draining.Load() {
		s.mu.Unlock()
		u.nc.Close()
		return
	}
	s.idle = append(s.idle, u)
	s.mu.Unlock()
}

var upBufPool = sync.Pool{New: func() any {
	return &upConn{br: bufio.NewReaderSize(nil, 16<<10), bw: bufio.NewWriterSize(nil, 16<<10)}
}}

func (p *Proxy) dial(s *serverState) (*upConn, error) {
	d := net.Dialer{Timeout: p.opts.ConnectTimeout}
	p.mu.Lock()
	addr := s.addr
	p.mu.Unlock()
	target := s.hostPort
	if addr.IsValid() {
		target = addr.String()
	}
	nc, err := d.DialContext(context.Background(), "tcp", target)
	if err != nil {
		return nil, err
	}
	u := upBufPool.Get().(*upConn)
	u.nc = nc
	u.br.Reset(nc)
	u.bw.Reset(nc)
	return u, nil
}

// discard closes a connection that must not be reused.
func (u *upConn) discard() {
	u.nc.Close()
	u.nc = nil
	u.br.Reset(nil)
	u.bw.Reset(nil)
	upBufPool.Put(u)
}
