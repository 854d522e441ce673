//go:build !linux

package server

import (
	"context"
	"errors"
	"net"
	"sync"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// batchConn is ipv4.PacketConn or ipv6.PacketConn (both use socket.Message).
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// serveUDP is the portable batch loop: x/net's ReadBatch and WriteBatch,
// which move one datagram per system call outside Linux (Linux has its own
// loop, udp_linux.go).
func (s *Server) serveUDP(ctx context.Context, wg *sync.WaitGroup, c *net.UDPConn, sh *shard) {
	if udpBatch <= 1 {
		s.serveUDPSimple(ctx, wg, c, sh)
		return
	}
	var pc batchConn
	if la, ok := c.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() != nil {
		pc = ipv4.NewPacketConn(c)
	} else {
		pc = ipv6.NewPacketConn(c)
	}
	in := make([]ipv4.Message, udpBatch)
	out := make([]ipv4.Message, udpBatch)
	outBufs := make([][]byte, udpBatch)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, maxTCPSize)}
		out[i].Buffers = [][]byte{nil}
		outBufs[i] = make([]byte, 0, maxUDPSize)
	}
	for {
		n, err := pc.ReadBatch(in, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			continue
		}
		k := 0
		for i := range n {
			m := &in[i]
			msg := m.Buffers[0][:m.N]
			reply, g := s.answer(msg, false, outBufs[k], sh)
			if reply != nil {
				out[k].Buffers[0] = reply
				out[k].Addr = m.Addr
				k++
			} else if g >= 0 {
				if ua, ok := m.Addr.(*net.UDPAddr); ok {
					to := ua.AddrPort()
					s.startForward(ctx, wg, msg, false, g, func(r []byte) { c.WriteToUDPAddrPort(r, to) })
				}
			}
		}
		for sent := 0; sent < k; {
			w, err := pc.WriteBatch(out[sent:k], 0)
			if err != nil {
				// One bad destination must not drop the rest of the batch.
				w = 1
			}
			sent += w
		}
	}
}
