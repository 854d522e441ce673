package server

import (
	"context"
	"net"
	"runtime"
	"strconv"
)

// Listen binds the UDP sockets (Options.UDPReaders of them, SO_REUSEPORT)
// and the TCP listener on addr without serving them, so that a caller can
// learn the bound address and report bind errors before serving; hand the
// result to Serve.
func (s *Server) Listen(ctx context.Context, addr string) ([]*net.UDPConn, net.Listener, error) {
	n := s.opts.UDPReaders
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	udp, err := listenUDP(ctx, addr, n)
	if err != nil {
		return nil, nil, err
	}
	la := udp[0].LocalAddr().(*net.UDPAddr)
	host, _, _ := net.SplitHostPort(addr)
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(la.Port)))
	if err != nil {
		closeAll(udp)
		return nil, nil, err
	}
	return udp, ln, nil
}
