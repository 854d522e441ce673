//go:build !linux

package main

import (
	"errors"
	"net"
)

// serveBatch needs recvmmsg/sendmmsg; elsewhere use -batch 1.
func serveBatch(c *net.UDPConn, reply []byte, batch int, raw bool) (uint64, error) {
	return 0, errors.New("-batch above 1 needs Linux (recvmmsg/sendmmsg); use -batch 1")
}
