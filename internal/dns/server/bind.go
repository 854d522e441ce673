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
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	// With port 0 the kernel picks a free UDP port, which TCP may not have
	// free (an outgoing connection's ephemeral port, on a busy machine):
	// then pick again.
	attempts := 1
	if port == "0" {
		attempts = 20
	}
	for i := 1; ; i++ {
		udp, err := listenUDP(ctx, addr, n)
		if err != nil {
			return nil, nil, err
		}
		la := udp[0].LocalAddr().(*net.UDPAddr)
		ln, err := new(net.ListenConfig).Listen(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(la.Port)))
		if err == nil {
			return udp, ln, nil
		}
		closeAll(udp)
		if i >= attempts {
			return nil, nil, err
		}
	}
}
