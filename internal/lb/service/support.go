package service

import (
	"context"
	"net"
	"net/netip"
)

// defaultLookup resolves with the system resolver, over IPv4 and IPv6.
func defaultLookup(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}
