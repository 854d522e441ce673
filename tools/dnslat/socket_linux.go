package main

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// socket is a connected, non-blocking UDP socket that hands every datagram
// over with the kernel's receive timestamp.
type socket struct {
	fd  int
	oob []byte
	msg unix.Msghdr
	iov unix.Iovec
}

func dial(addr netip.AddrPort) (*socket, error) {
	family := unix.AF_INET
	if addr.Addr().Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	s := &socket{fd: fd, oob: make([]byte, unix.CmsgSpace(16))}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		s.close()
		return nil, err
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	var sa unix.Sockaddr
	if addr.Addr().Is6() {
		sa = &unix.SockaddrInet6{Port: int(addr.Port()), Addr: addr.Addr().As16()}
	} else {
		sa = &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}
	}
	if err := unix.Connect(fd, sa); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *socket) close() { unix.Close(s.fd) }

func (s *socket) send(p []byte) error {
	_, err := unix.Write(s.fd, p)
	return err
}

// recv reads one datagram without blocking and returns its length and the
// kernel's receive time (ns, wall clock; 0 if the kernel gave none). No allocation: it is called in a
// tight loop between paced sends.
func (s *socket) recv(buf []byte) (int, int64, error) {
	s.iov.Base = &buf[0]
	s.iov.SetLen(len(buf))
	s.msg.Iov = &s.iov
	s.msg.Iovlen = 1
	s.msg.Control = &s.oob[0]
	s.msg.SetControllen(len(s.oob))
	n, _, e := unix.RawSyscall(unix.SYS_RECVMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&s.msg)), unix.MSG_DONTWAIT)
	if e != 0 {
		return 0, 0, e
	}
	oob := s.oob[:s.msg.Controllen]
	for len(oob) >= unix.CmsgLen(0) {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.CmsgLen(0) || l > len(oob) {
			break
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && l >= unix.CmsgLen(16) {
			d := oob[unix.CmsgLen(0):]
			sec := int64(binary.NativeEndian.Uint64(d[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(d[8:16]))
			return int(n), sec*1e9 + nsec, nil
		}
		oob = oob[min(len(oob), unix.CmsgSpace(l-unix.CmsgLen(0))):]
	}
	return int(n), 0, nil // no timestamp: the caller takes its own time
}
