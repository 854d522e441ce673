package service

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/signpost-dns/signpost/internal/dns/config"
)

// resolveHost looks a pid's or leader's hostname up, bounded in time so that
// a slow resolver cannot stall a refresh.
func resolveHost(host string) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	return addrs, nil
}

// nsAddrs are the addresses of the name server's own record, as Mesos-DNS
// derives them from the listener: every non-loopback interface address for
// 0.0.0.0, else the listener itself.
func nsAddrs(listener string) []netip.Addr {
	ip, err := netip.ParseAddr(listener)
	if err != nil {
		return nil
	}
	if !ip.IsUnspecified() {
		return []netip.Addr{ip.Unmap()}
	}
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range ifaddrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil || p.Addr().IsLoopback() || p.Addr().IsLinkLocalUnicast() {
			continue
		}
		out = append(out, p.Addr().Unmap())
	}
	return out
}

// tlsClient builds the HTTPS client for the masters from the config's CA and
// client certificate files, failing at start-up when they cannot be read.
func tlsClient(cfg config.Config) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CACertFile != "" {
		pem, err := os.ReadFile(cfg.CACertFile)
		if err != nil {
			return nil, fmt.Errorf(`config key "CACertFile": %w`, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf(`config key "CACertFile": %s holds no PEM certificate`, cfg.CACertFile)
		}
		tc.RootCAs = pool
	}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf(`config keys "CertFile"/"KeyFile": %w`, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, Proxy: nil}}, nil
}
