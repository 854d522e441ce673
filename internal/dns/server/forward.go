package server

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/miekg/dns"
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, maxTCPSize+2); return &b }}

// Forward relays query (a message for which Answer reported forward) to the
// upstreams of its zone, over UDP or TCP as the client used, and returns the
// reply to send: the first upstream reply that arrived without a transport
// error, as-is (upstream rcode, flags and records preserved) with the
// client's id, trimmed to the client's size limit; SERVFAIL when every
// upstream failed; REFUSED when nothing serves the name. It blocks for at
// most Timeout per upstream; ctx aborts it.
func (s *Server) Forward(ctx context.Context, msg []byte, tcp bool) []byte {
	var q query
	if parseQuery(msg, &q) != parseOK {
		return nil
	}
	g := s.matchUpstreams(q.key[:q.keyLen])
	if g < 0 {
		return s.simple(nil, msg, &q, rcodeRefused, 0, &s.fwdShard)
	}
	return s.forward(ctx, msg, &q, tcp, g)
}

func (s *Server) forward(ctx context.Context, msg []byte, q *query, tcp bool, g int) []byte {
	for _, addr := range s.groups[g].addrs {
		reply, err := s.exchange(ctx, addr, msg, q, tcp)
		if err == nil {
			binary.BigEndian.PutUint16(reply, q.id)
			reply = s.fitRelay(reply, msg, q, tcp)
			s.fwdShard.rcode[reply[3]&0xF].Add(1)
			return reply
		}
		s.upstreamFailures.Add(1)
		s.log.Debug("upstream failed", "upstream", addr, "err", err)
		if ctx.Err() != nil {
			break
		}
	}
	s.forwardFailures.Add(1)
	return s.simple(nil, msg, q, rcodeServFail, 0, &s.fwdShard)
}

var errBadReply = errors.New("reply does not match the query")

// exchange sends msg to one upstream under a fresh random id (a spoofed
// reply has to guess it; the client's id is restored by the caller) and
// waits for the matching reply.
func (s *Server) exchange(ctx context.Context, addr string, msg []byte, q *query, tcp bool) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	network := "udp"
	if tcp {
		network = "tcp"
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	// Cancellation (shutdown) interrupts blocked reads and writes at once.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	id := uint16(rand.Uint32())
	if tcp {
		binary.BigEndian.PutUint16(buf, uint16(len(msg)))
		n := copy(buf[2:], msg)
		binary.BigEndian.PutUint16(buf[2:], id)
		if _, err := c.Write(buf[:2+n]); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(c, buf[:2]); err != nil {
			return nil, err
		}
		l := int(binary.BigEndian.Uint16(buf))
		if _, err := io.ReadFull(c, buf[:l]); err != nil {
			return nil, err
		}
		if !matches(buf[:l], id, msg, q) {
			return nil, errBadReply
		}
		return append([]byte(nil), buf[:l]...), nil
	}
	n := copy(buf, msg)
	binary.BigEndian.PutUint16(buf, id)
	if _, err := c.Write(buf[:n]); err != nil {
		return nil, err
	}
	for {
		// The socket is connected: only the upstream's datagrams arrive.
		// Ignore stray ones (late replies) until ours or the deadline.
		n, err := c.Read(buf)
		if err != nil {
			return nil, err
		}
		if matches(buf[:n], id, msg, q) {
			return append([]byte(nil), buf[:n]...), nil
		}
	}
}

// matches reports whether r is a response with id to the question of msg
// (compared case-insensitively: upstreams may randomize case). A reply
// without a question (some FORMERR/SERVFAIL replies) is accepted.
func matches(r []byte, id uint16, msg []byte, q *query) bool {
	if len(r) < headerLen || binary.BigEndian.Uint16(r) != id || r[2]&0x80 == 0 {
		return false
	}
	if binary.BigEndian.Uint16(r[4:]) == 0 {
		return true
	}
	if len(r) < q.qEnd {
		return false
	}
	for i := headerLen; i < q.qEnd; i++ {
		a, b := r[i], msg[i]
		if a != b && a|0x20 != b|0x20 {
			return false
		}
	}
	return true
}

// fitRelay trims an upstream reply that exceeds the client's limit. It is
// rare (the upstream saw the client's own EDNS size), so it may use
// miekg/dns.
func (s *Server) fitRelay(r, msg []byte, q *query, tcp bool) []byte {
	limit := maxTCPSize
	if !tcp {
		limit = minUDPSize
		if q.edns && q.udpSize > minUDPSize {
			limit = min(int(q.udpSize), maxUDPSize)
		}
	}
	if len(r) <= limit {
		return r
	}
	var m dns.Msg
	if err := m.Unpack(r); err != nil {
		// Can not be trimmed: send the header and question with TC, so the
		// client retries over TCP.
		out := make([]byte, q.qEnd)
		copy(out[headerLen:], msg[headerLen:q.qEnd])
		putHeader(out, q.id, binary.BigEndian.Uint16(r[2:])|flagTC, 1, 0, 0, 0)
		return out
	}
	m.Truncate(limit)
	if !s.opts.SetTruncateBit {
		m.Truncated = false
	}
	out, err := m.Pack()
	if err != nil {
		s.log.Error("relay: repacking a trimmed reply", "err", err)
		return s.simple(nil, msg, q, rcodeServFail, 0, &s.fwdShard)
	}
	return out
}

// startForward runs one forward in its own goroutine, at most MaxForwarding
// at a time, and hands the reply to send. msg is copied: the caller's buffer
// is reused for the next packet at once.
func (s *Server) startForward(ctx context.Context, wg *sync.WaitGroup, msg []byte, tcp bool, g int, send func([]byte)) {
	var q query
	if parseQuery(msg, &q) != parseOK {
		return
	}
	select {
	case s.fwdSem <- struct{}{}:
	default:
		s.forwardOverflow.Add(1)
		send(s.simple(nil, msg, &q, rcodeServFail, 0, &s.fwdShard))
		return
	}
	msg = append([]byte(nil), msg...)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() { <-s.fwdSem }()
		send(s.forward(ctx, msg, &q, tcp, g))
	}()
}
