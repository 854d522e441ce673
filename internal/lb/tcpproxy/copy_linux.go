package tcpproxy

import (
	"errors"
	"io"
	"net"
	"syscall"
	"unsafe"
)

// copyTCP is copyAuto for two plain TCP connections, shaped like HAProxy's
// event loop rather than like io.Copy. Measured against HAProxy on one core
// (scripts/bench-lb.sh, case tcp), three things of a Go copy cost the most:
//
//   - The read that finds the socket empty. A Go Read returns after one
//     read(2), and the next Read tries read(2) again, which fails with
//     EAGAIN before the goroutine parks: a third of the system calls of a
//     request/response exchange. Here the whole copy runs inside one
//     RawConn.Read, whose callback, after a read that did not fill the
//     buffer (the socket is drained, as HAProxy also assumes), asks to wait
//     for the next readiness edge instead of reading again; data that
//     arrives meanwhile has raised that edge, so nothing is missed.
//   - The runtime's bookkeeping around a system call that can block. read(2)
//     and write(2) on a non-blocking socket never block, so they are made
//     as raw system calls: the processor is never marked as in a system
//     call, so the runtime's monitor thread finds nothing to take back and
//     sleeps, instead of waking every few microseconds on the proxy's core
//     and handing the processor to another thread when a loopback write
//     takes a while (thousands of context switches a second before).
//   - Bulk data through user space: a read that fills the buffer means a
//     bulk transfer, which is handed to io.Copy (splice).
func copyTCP(dst, src *net.TCPConn) (int64, error) {
	rc, err := src.SyscallConn()
	if err != nil {
		return copyAuto(dst, src)
	}
	wc, err := dst.SyscallConn()
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
			r, e := rawIO(syscall.SYS_READ, fd, buf)
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
			w, e2 := writeAll(wc, buf[:r])
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

// writeAll writes p to the socket behind wc, parking only when its send
// buffer is full (the RawConn then waits for writability, and returns the
// connection's close or deadline as an error).
func writeAll(wc syscall.RawConn, p []byte) (int, error) {
	var n int
	var werr error
	err := wc.Write(func(fd uintptr) bool {
		for n < len(p) {
			w, e := rawIO(syscall.SYS_WRITE, fd, p[n:])
			switch {
			case e == syscall.EINTR:
				continue
			case e == syscall.EAGAIN:
				return false
			case e != nil:
				werr = e
				return true
			}
			n += w
		}
		return true
	})
	if werr != nil {
		return n, werr
	}
	return n, err
}

// rawIO is read(2) (trap SYS_READ) or write(2) (SYS_WRITE) without the
// runtime's entersyscall/exitsyscall, for non-blocking sockets only: a raw
// system call that blocked would stall every goroutine of its processor.
func rawIO(trap, fd uintptr, p []byte) (int, error) {
	n, _, e := syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
