//go:build !linux

package main

import (
	"errors"
	"net/netip"
)

// dnslat needs SO_TIMESTAMPNS, which only the Linux build reads.
type socket struct{}

func dial(netip.AddrPort) (*socket, error) { return nil, errors.New("dnslat runs on Linux only") }
func (s *socket) close()                   {}
func (s *socket) send([]byte) error        { return errors.New("unsupported") }
func (s *socket) recv([]byte) (int, int64, error) {
	return 0, 0, errors.New("unsupported")
}
