//go:build !linux

package server

import "net"

type readers struct{}

func (s *Server) addReader(c *net.UDPConn) func() { return func() {} }

func (s *Server) udpReadable() bool { return false }
