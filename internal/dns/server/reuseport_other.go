//go:build !linux

package server

import (
	"context"
	"net"
)

// listenUDP opens one UDP socket shared by n readers: SO_REUSEPORT load
// spreading is Linux behaviour.
func listenUDP(ctx context.Context, addr string, n int) ([]*net.UDPConn, error) {
	pc, err := new(net.ListenConfig).ListenPacket(ctx, "udp", addr)
	if err != nil {
		return nil, err
	}
	c := pc.(*net.UDPConn)
	conns := make([]*net.UDPConn, n)
	for i := range conns {
		conns[i] = c
	}
	return conns, nil
}
