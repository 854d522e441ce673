//go:build !linux

package tcpproxy

import "net"

// copyTCP is copyAuto where the Linux read-skipping copy is not built.
func copyTCP(dst, src *net.TCPConn) (int64, error) { return copyAuto(dst, src) }
