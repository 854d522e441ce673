package server

import (
	"context"
	"net"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// listenUDP opens n UDP sockets on addr with SO_REUSEPORT so that each
// reader goroutine has its own socket and receive queue. With port 0 the
// first socket picks the port and the others join it.
func listenUDP(ctx context.Context, addr string, n int) ([]*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	first, err := lc.ListenPacket(ctx, "udp", addr)
	if err != nil {
		return nil, err
	}
	conns := []*net.UDPConn{first.(*net.UDPConn)}
	host, _, _ := net.SplitHostPort(addr)
	addr = net.JoinHostPort(host, strconv.Itoa(first.LocalAddr().(*net.UDPAddr).Port))
	for len(conns) < n {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			closeAll(conns)
			return nil, err
		}
		conns = append(conns, pc.(*net.UDPConn))
	}
	for _, c := range conns {
		// Absorb bursts; the kernel caps this at net.core.rmem_max.
		c.SetReadBuffer(4 << 20)
	}
	return conns, nil
}
