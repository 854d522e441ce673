package tcpproxy

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
)

// session is one proxied connection. close may come from another goroutine
// (a drain timeout, Close) at any point, including during the handshake or
// the dial.
type session struct {
	client *net.TCPConn
	// tls is the TLS layer over client on a service with SSLCert, set by
	// the connection's goroutine before pipe. close never goes through it:
	// cutting a connection closes the socket without a close_notify, which
	// could block behind a stuck write.
	tls *tls.Conn

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
// sent to the server (up) and to the client (down). Without TLS both
// io.Copy calls are between two *net.TCPConn, so dst.ReadFrom(src) splices
// on Linux; with TLS the client side is the *tls.Conn and the copy is
// buffered (plaintext is counted). A clean EOF half-closes the other side
// (TCP half-close is passed through, as HAProxy does); an error in either
// direction aborts both.
func (s *session) pipe() (up, down int64) {
	var fromClient io.Reader = s.client
	var toClient io.Writer = s.client
	closeClientWrite := s.client.CloseWrite
	if s.tls != nil {
		fromClient, toClient = s.tls, s.tls
		closeClientWrite = func() error {
			s.tls.CloseWrite() // close_notify; leaves the socket open
			return s.client.CloseWrite()
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var err error
		up, err = io.Copy(s.backend, fromClient)
		if err != nil {
			s.close()
			return
		}
		s.backend.CloseWrite()
	}()
	down, err := io.Copy(toClient, s.backend)
	if err != nil {
		s.close()
	} else {
		closeClientWrite()
	}
	<-done
	s.close()
	return up, down
}
