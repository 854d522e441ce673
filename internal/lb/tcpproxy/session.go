package tcpproxy

import (
	"io"
	"net"
	"sync"
)

// session is one proxied connection. close may come from another goroutine
// (a drain timeout, Close) at any point, including during the dial.
type session struct {
	client *net.TCPConn

	mu      sync.Mutex
	backend *net.TCPConn
	closed  bool
}

// setBackend installs the dialled server connection; false means the
// session was closed meanwhile and bc must be dropped.
func (s *session) setBackend(bc *net.TCPConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		bc.Close()
		return false
	}
	s.backend = bc
	return true
}

func (s *session) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.client.Close()
	if s.backend != nil {
		s.backend.Close()
	}
}

// pipe copies both directions until both have ended and returns the bytes
// sent to the server (up) and to the client (down). Both io.Copy calls are
// between two *net.TCPConn, so dst.ReadFrom(src) splices on Linux. A clean
// EOF half-closes the other side (TCP half-close is passed through, as
// HAProxy does); an error in either direction aborts both.
func (s *session) pipe() (up, down int64) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		var err error
		up, err = io.Copy(s.backend, s.client)
		if err != nil {
			s.close()
			return
		}
		s.backend.CloseWrite()
	}()
	down, err := io.Copy(s.client, s.backend)
	if err != nil {
		s.close()
	} else {
		s.client.CloseWrite()
	}
	<-done
	s.close()
	return up, down
}
