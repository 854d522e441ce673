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
// sent to the server (up) and to the client (down), with copyAuto: small
// exchanges through a buffer, bulk transfers spliced (between two
// *net.TCPConn, dst.ReadFrom(src) splices on Linux); with TLS the client side
// is the *tls.Conn and the copy stays buffered (plaintext is counted). A clean EOF half-closes the other side
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
	copyUp := func() (int64, error) { return copyAuto(s.backend, fromClient) }
	copyDown := func() (int64, error) { return copyAuto(toClient, s.backend) }
	if s.tls == nil {
		copyUp = func() (int64, error) { return copyTCP(s.backend, s.client) }
		copyDown = func() (int64, error) { return copyTCP(s.client, s.backend) }
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var err error
		up, err = copyUp()
		if err != nil {
			s.close()
			return
		}
		s.backend.CloseWrite()
	}()
	down, err := copyDown()
	if err != nil {
		s.close()
	} else {
		closeClientWrite()
	}
	<-done
	s.close()
	return up, down
}

// copyBuf is the size of copyAuto's buffer; a read that fills it is taken
// for a bulk transfer.
const copyBuf = 16 << 10

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBuf); return &b }}

// copyAuto is io.Copy with HAProxy's "splice-auto" judgement. splice(2) moves
// bulk data without copying it to user space, but costs two system calls
// and a pipe per chunk like read/write does, plus more work per call: for
// the small messages of request/response protocols a plain buffered copy is
// cheaper (measured in BenchmarkThroughput and scripts/bench-lb.sh). So the
// copy starts buffered and hands over to io.Copy, which splices, as soon as
// one read fills the buffer.
func copyAuto(dst io.Writer, src io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	buf := *bp
	var n int64
	for {
		r, rerr := src.Read(buf)
		if r > 0 {
			w, werr := dst.Write(buf[:r])
			n += int64(w)
			if werr != nil {
				copyBufs.Put(bp)
				return n, werr
			}
		}
		if rerr != nil {
			copyBufs.Put(bp)
			if rerr == io.EOF {
				return n, nil
			}
			return n, rerr
		}
		if r == len(buf) {
			break
		}
	}
	copyBufs.Put(bp)
	m, err := io.Copy(dst, src)
	return n + m, err
}
