package tcpproxy

import (
	"errors"
	"io"
	"net"
	"syscall"
)

// copyTCP is copyAuto for two plain TCP connections, without the read that
// finds the socket empty. A Go Read returns after one read(2), and the next
// Read first tries read(2) again, which fails with EAGAIN before the
// goroutine parks: for the request/response traffic of a load balancer that
// is a third of the system calls of a message. Here the whole copy runs
// inside one RawConn.Read, whose callback, after a read that did not fill the
// buffer (the socket is drained, as HAProxy also assumes), asks to wait for
// the next readiness edge instead of reading again; data that arrives
// meanwhile has raised that edge, so nothing is missed. A read that fills the
// buffer means a bulk transfer, which is handed to io.Copy (splice).
func copyTCP(dst, src *net.TCPConn) (int64, error) {
	rc, err := src.SyscallConn()
	if err != nil {
		return copyAuto(dst, src)
	}
	bp := copyBufs.Get().(*[]byte)
	buf := *bp
	var n int64
	var rerr, werr error
	bulk := false
	err = rc.Read(func(fd uintptr) bool {
		for {
			r, e := syscall.Read(int(fd), buf)
			switch {
			case e == syscall.EINTR:
				continue
			case e == syscall.EAGAIN:
				return false
			case e != nil:
				rerr = e
				return true
			case r == 0:
				rerr = io.EOF
				return true
			}
			w, e2 := dst.Write(buf[:r])
			n += int64(w)
			if e2 != nil {
				werr = e2
				return true
			}
			if r == len(buf) {
				bulk = true
				return true
			}
			return false // drained: wait for the next edge
		}
	})
	copyBufs.Put(bp)
	switch {
	case werr != nil:
		return n, werr
	case errors.Is(rerr, io.EOF):
		return n, nil
	case rerr != nil:
		return n, rerr
	case err != nil:
		return n, err
	case bulk:
		m, err := io.Copy(dst, src)
		return n + m, err
	}
	return n, nil
}
