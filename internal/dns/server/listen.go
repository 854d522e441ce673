package server

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// ListenAndServe serves UDP and TCP on addr ("ip:port"; port 0 picks one
// port for both) until ctx ends, then closes its sockets, waits for every
// goroutine it started (readers, connections, forwards) and returns nil.
// Listeners open at once, before the first table (queries in the domain
// get SERVFAIL until then).
//
// UDP uses Options.UDPReaders sockets bound with SO_REUSEPORT, one reading
// goroutine each: the kernel spreads datagrams over the sockets, so readers
// share no socket lock and no receive queue (on systems without
// SO_REUSEPORT, the readers share one socket).
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	udp, tcp, err := s.Listen(ctx, addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, udp, tcp)
}

func closeAll(cs []*net.UDPConn) {
	for _, c := range cs {
		c.Close()
	}
}

// Serve is ListenAndServe on sockets the caller opened: one reading
// goroutine per element of udp (the same socket may appear more than once),
// and tcp when not nil. It takes ownership of the sockets.
func (s *Server) Serve(ctx context.Context, udp []*net.UDPConn, tcp net.Listener) error {
	var wg sync.WaitGroup
	conns := &connSet{m: map[net.Conn]struct{}{}, max: s.opts.MaxTCPConns}
	var unregister []func()
	for _, c := range udp {
		sh := s.newShard()
		unregister = append(unregister, s.addReader(c))
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveUDP(ctx, &wg, c, sh)
		}()
	}
	if tcp != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveTCP(ctx, &wg, tcp, conns)
		}()
	}
	<-ctx.Done()
	for _, f := range unregister {
		f()
	}
	closeAll(udp)
	if tcp != nil {
		tcp.Close()
	}
	conns.closeAll()
	wg.Wait()
	return nil
}

// udpBatch is how many datagrams one recvmmsg/sendmmsg call moves at most;
// 1 selects the plain one-datagram-per-syscall loop.
var udpBatch = 32

// serveUDPSimple is the one-datagram-per-syscall loop.
func (s *Server) serveUDPSimple(ctx context.Context, wg *sync.WaitGroup, c *net.UDPConn, sh *shard) {
	buf := make([]byte, maxTCPSize)
	out := make([]byte, 0, maxTCPSize)
	for {
		n, addr, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			continue
		}
		reply, g := s.answer(buf[:n], false, out, sh)
		if reply != nil {
			c.WriteToUDPAddrPort(reply, addr)
		} else if g >= 0 {
			s.startForward(ctx, wg, buf[:n], false, g, func(r []byte) {
				c.WriteToUDPAddrPort(r, addr)
			})
		}
	}
}

// connSet tracks open TCP connections so that shutdown can close them and
// MaxTCPConns can be enforced.
type connSet struct {
	mu     sync.Mutex
	m      map[net.Conn]struct{}
	max    int
	closed bool
}

func (cs *connSet) add(c net.Conn) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed || len(cs.m) >= cs.max {
		return false
	}
	cs.m[c] = struct{}{}
	return true
}

func (cs *connSet) remove(c net.Conn) {
	cs.mu.Lock()
	delete(cs.m, c)
	cs.mu.Unlock()
}

func (cs *connSet) closeAll() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.closed = true
	for c := range cs.m {
		c.Close()
	}
}

func (s *Server) serveTCP(ctx context.Context, wg *sync.WaitGroup, ln net.Listener, conns *connSet) {
	sh := s.newShard()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			// Out of file descriptors and the like: back off a little.
			s.log.Warn("dns tcp accept", "err", err)
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				return
			}
			continue
		}
		if !conns.add(c) {
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conns.remove(c)
			defer c.Close()
			s.serveConn(ctx, wg, c, sh)
		}()
	}
}

// serveConn reads length-prefixed queries (RFC 1035 §4.2.2, several per
// connection, RFC 7766) until the client closes or is idle for
// TCPIdleTimeout. Forwarded queries are answered when their reply arrives,
// possibly out of order (RFC 7766 §6.2.1.1), so one slow upstream does not
// hold up the connection.
func (s *Server) serveConn(ctx context.Context, wg *sync.WaitGroup, c net.Conn, sh *shard) {
	var wmu sync.Mutex
	write := func(frame []byte) {
		wmu.Lock()
		defer wmu.Unlock()
		c.SetWriteDeadline(time.Now().Add(s.opts.TCPIdleTimeout))
		c.Write(frame)
	}
	var hdr [2]byte
	buf := make([]byte, 512)
	for {
		c.SetReadDeadline(time.Now().Add(s.opts.TCPIdleTimeout))
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(hdr[:]))
		if n > len(buf) {
			buf = make([]byte, n)
		}
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			return
		}
		bp := bufPool.Get().(*[]byte)
		out := *bp
		reply, g := s.answer(buf[:n], true, out[2:2], sh)
		if reply != nil {
			if len(reply) > 0 && &reply[0] == &out[2] {
				binary.BigEndian.PutUint16(out, uint16(len(reply)))
				write(out[:2+len(reply)])
			} else {
				write(frame(reply))
			}
		} else if g >= 0 {
			s.startForward(ctx, wg, buf[:n], true, g, func(r []byte) { write(frame(r)) })
		}
		bufPool.Put(bp)
	}
}

func frame(r []byte) []byte {
	f := make([]byte, 2+len(r))
	binary.BigEndian.PutUint16(f, uint16(len(r)))
	copy(f[2:], r)
	return f
}
