//go:build linux

package server

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The Linux UDP loop calls recvmmsg and sendmmsg itself instead of going
// through golang.org/x/net's ReadBatch/WriteBatch, for three measured
// reasons (docs/benchmarks-dns.md, profiles at 50k queries per second on
// one core):
//
//   - The calls are made with RawSyscall6 on a non-blocking socket
//     (MSG_DONTWAIT as well, so they can not block whatever the socket's
//     mode). A plain Syscall tells the scheduler the thread may block; a
//     sendmmsg of 32 replies outlasts sysmon's 20 µs tick, so sysmon then
//     hands the P to another thread and the reader has to win it back:
//     sysmon and the futex calls this causes were a fifth of the CPU. An
//     empty socket still parks the goroutine in the netpoller (the
//     RawConn.Read callback returns false on EAGAIN), so nothing spins.
//     The cost: a garbage collection's stop-the-world waits for a batch in
//     progress (tens of µs).
//   - Sender addresses stay raw sockaddrs, copied by the kernel into a
//     reused array and handed straight back to sendmmsg: x/net allocated a
//     *net.UDPAddr per datagram, which is garbage-collector work on the
//     serving core.
//   - Replies are gathered (see gather.go): each datagram has its own iovec
//     array, so pre-encoded sets go to the kernel from the zone's arena.

// mmsghdr is struct mmsghdr: a msghdr and the byte count the kernel fills
// in, padded to the msghdr's alignment (x/sys/unix has the system call
// numbers but not this type).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [unsafe.Sizeof(uintptr(0)) - 4]byte
}

// sockaddr holds a sockaddr_in or sockaddr_in6 as the kernel writes it.
type sockaddr [unix.SizeofSockaddrInet6]byte

// addrPort decodes the sender address, for the rare datagram (a forwarded
// query) whose reply is written outside the batch.
func (a *sockaddr) addrPort(n uint32) (netip.AddrPort, bool) {
	switch binary.NativeEndian.Uint16(a[0:]) {
	case unix.AF_INET:
		if n < unix.SizeofSockaddrInet4 {
			return netip.AddrPort{}, false
		}
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[4:8])), binary.BigEndian.Uint16(a[2:])), true
	case unix.AF_INET6:
		if n < unix.SizeofSockaddrInet6 {
			return netip.AddrPort{}, false
		}
		ip := netip.AddrFrom16([16]byte(a[8:24]))
		if id := binary.NativeEndian.Uint32(a[24:]); id != 0 {
			// net resolves a numeric zone to that interface index.
			ip = ip.WithZone(uitoa(id))
		}
		return netip.AddrPortFrom(ip, binary.BigEndian.Uint16(a[2:])), true
	}
	return netip.AddrPort{}, false
}

func uitoa(v uint32) string {
	var b [10]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		if v /= 10; v == 0 {
			return string(b[i:])
		}
	}
}

// mmsgBatch is one reader's buffers, allocated once: in[i] receives into
// bufs[i] with the sender in names[i]; out[k] sends the k-th reply, from
// replies[k] and gathered[k], to the sender of the datagram it answers.
type mmsgBatch struct {
	in, out  []mmsghdr
	names    []sockaddr
	inIov    []unix.Iovec
	outIov   [][maxGather]unix.Iovec
	bufs     [][]byte
	replies  [][]byte
	gathered []gather
}

func newMmsgBatch(n int) *mmsgBatch {
	b := &mmsgBatch{
		in: make([]mmsghdr, n), out: make([]mmsghdr, n),
		names: make([]sockaddr, n),
		inIov: make([]unix.Iovec, n), outIov: make([][maxGather]unix.Iovec, n),
		bufs: make([][]byte, n), replies: make([][]byte, n),
		gathered: make([]gather, n),
	}
	for i := range n {
		b.bufs[i] = make([]byte, maxTCPSize)
		b.replies[i] = make([]byte, 0, maxUDPSize)
		b.inIov[i].Base = &b.bufs[i][0]
		b.inIov[i].SetLen(len(b.bufs[i]))
		b.in[i].hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		b.in[i].hdr.Iov = &b.inIov[i]
		b.in[i].hdr.SetIovlen(1)
		b.out[i].hdr.Iov = &b.outIov[i][0]
	}
	return b
}

// setReply points out[k] at the reply (reply itself, or g's slices when
// gathered) and at the sender of in[i].
func (b *mmsgBatch) setReply(k, i int, reply []byte, g *gather) {
	iov := &b.outIov[k]
	n := 0
	if g.n == 0 {
		iov[0].Base = &reply[0]
		iov[0].SetLen(len(reply))
		n = 1
	} else {
		for _, p := range g.v[:g.n] {
			if len(p) > 0 {
				iov[n].Base = &p[0]
				iov[n].SetLen(len(p))
				n++
			}
		}
	}
	h := &b.out[k].hdr
	h.SetIovlen(n)
	h.Name = b.in[i].hdr.Name
	h.Namelen = b.in[i].hdr.Namelen
}

// release drops the references the first k replies hold into zone arenas,
// so that a slot left unused after a Swap does not keep an old zone alive.
func (b *mmsgBatch) release(k int) {
	for j := range k {
		if g := &b.gathered[j]; g.n > 0 {
			clear(g.v[:g.n])
			clear(b.outIov[j][:g.n])
			g.n = 0
		}
	}
}

// serveUDP reads datagrams in batches (recvmmsg) and writes the replies in
// batches (sendmmsg): on a loaded server each system call then moves many
// datagrams, and system calls, not answering, are the cost of a UDP DNS
// server. Under light load a batch is simply one datagram: a non-blocking
// recvmmsg returns what is queued and does not wait for more.
func (s *Server) serveUDP(ctx context.Context, wg *sync.WaitGroup, c *net.UDPConn, sh *shard) {
	rc, err := c.SyscallConn()
	if udpBatch <= 1 || err != nil {
		s.serveUDPSimple(ctx, wg, c, sh)
		return
	}
	b := newMmsgBatch(udpBatch)
	// The callbacks are made once: a closure passed to RawConn.Read in the
	// loop would be allocated per call.
	var n, k, sent int
	var errno syscall.Errno
	recv := func(fd uintptr) bool {
		r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.in[0])), uintptr(len(b.in)), unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EAGAIN {
			return false // park in the netpoller until readable
		}
		n, errno = int(r), e
		return true
	}
	send := func(fd uintptr) bool {
		r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.out[sent])), uintptr(k-sent), unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EAGAIN {
			return false // send buffer full: wait until writable
		}
		if e != 0 || r == 0 {
			// The first datagram failed (a bad destination, say): skip
			// it rather than drop the rest of the batch.
			sent++
		} else {
			sent += int(r)
		}
		return true
	}
	for {
		for i := range b.in {
			b.in[i].hdr.Namelen = uint32(len(sockaddr{}))
		}
		if err := rc.Read(recv); err != nil {
			if !errors.Is(err, net.ErrClosed) && ctx.Err() == nil {
				s.log.Error("dns udp reader stopped", "err", err)
			}
			return
		}
		if errno != 0 {
			continue
		}
		k = 0
		for i := range n {
			m := &b.in[i]
			msg := b.bufs[i][:min(int(m.len), len(b.bufs[i]))]
			g := &b.gathered[k]
			reply, grp := s.answerGather(msg, false, b.replies[k][:0], g, sh)
			if len(reply) > 0 {
				b.setReply(k, i, reply, g)
				k++
			} else if grp >= 0 {
				if to, ok := b.names[i].addrPort(m.hdr.Namelen); ok {
					s.startForward(ctx, wg, msg, false, grp, func(r []byte) { c.WriteToUDPAddrPort(r, to) })
				}
			}
		}
		for sent = 0; sent < k; {
			if err := rc.Write(send); err != nil {
				return
			}
		}
		b.release(k)
	}
}
