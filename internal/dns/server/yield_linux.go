//go:build linux

package server

import (
	"net"

	"golang.org/x/sys/unix"
)

// readers are the sockets of the running UDP readers, for Yield.
type readers struct {
	fds []unix.PollFd
}

// addReader registers c for Yield while it is being served; the returned
// function unregisters it (before c is closed, so that Yield never polls a
// descriptor number that was reused).
func (s *Server) addReader(c *net.UDPConn) func() {
	rc, err := c.SyscallConn()
	if err != nil {
		return func() {}
	}
	fd := -1
	rc.Control(func(f uintptr) { fd = int(f) })
	if fd < 0 {
		return func() {}
	}
	s.readersMu.Lock()
	s.readers.fds = append(s.readers.fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	s.readersMu.Unlock()
	return func() {
		s.readersMu.Lock()
		defer s.readersMu.Unlock()
		fds := s.readers.fds
		for i := range fds {
			if fds[i].Fd == int32(fd) {
				s.readers.fds = append(fds[:i], fds[i+1:]...)
				return
			}
		}
	}
}

// udpReadable reports whether a reader's socket has a datagram waiting.
func (s *Server) udpReadable() bool {
	s.readersMu.Lock()
	defer s.readersMu.Unlock()
	fds := s.readers.fds
	if len(fds) == 0 {
		return false
	}
	for i := range fds {
		fds[i].Revents = 0
	}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0
}
