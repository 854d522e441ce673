package tcpproxy

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/routes"
	"github.com/signpost-dns/signpost/internal/lb/tlscerts"
)

// tlsSetup is what one table says about TLS on a service with SSLCert.
type tlsSetup struct {
	// cfg terminates TLS; nil when no certificate loaded, and then the
	// service closes every connection rather than serve it in clear.
	cfg *tls.Config
}

// loadTLS loads s's certificate (cached by the Loader until its files
// change) into the TLS setup of its listener. The error names the service
// and the certificate and says what the listener does about it.
func (p *Proxy) loadTLS(s *routes.Service, seen map[string]bool) (*tlsSetup, error) {
	certs, err := p.certs.Load([]string{s.SSLCert}, seen)
	set := tlscerts.NewSet(certs)
	if set == nil {
		if err == nil { // cannot happen: no certificate is always an error
			err = tlscerts.ErrNoCertificate
		}
		return &tlsSetup{}, fmt.Errorf("tcpproxy: %s: TLS certificate %s cannot be loaded, so its connections are closed rather than served in clear: %w", s.Listen, s.SSLCert, err)
	}
	ts := &tlsSetup{cfg: newTLSConfig(set, alpn(s.BindOptions))}
	if err != nil {
		err = fmt.Errorf("tcpproxy: %s: TLS certificate %s loaded in part (%d certificates served): %w", s.Listen, s.SSLCert, set.Len(), err)
	}
	return ts, err
}

// newTLSConfig is the server side of a TLS service port. Marathon-LB's
// HAProxy binds with "no-sslv3 no-tlsv10 no-tls-tickets"; crypto/tls has
// no SSLv3 anyway.
func newTLSConfig(set *tlscerts.Set, protos []string) *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS12,
		SessionTicketsDisabled: true,
		NextProtos:             protos,
		GetCertificate:         set.GetCertificate,
	}
}

// alpn returns the protocols of HAProxy's "alpn <list>" bind keyword in
// opts (HAPROXY_{n}_BIND_OPTIONS), nil when absent. Other keywords and
// their arguments are not looked at.
func alpn(opts string) []string {
	f := strings.Fields(opts)
	for i := 0; i+1 < len(f); i++ {
		if f[i] != "alpn" {
			continue
		}
		var out []string
		for _, p := range strings.Split(f[i+1], ",") {
			// crypto/tls refuses empty or over-long protocol names in
			// the handshake; drop them here instead.
			if p != "" && len(p) < 256 {
				out = append(out, p)
			}
		}
		return out
	}
	return nil
}

// handshake terminates TLS on c within the handshake timeout. The deadline
// is lifted afterwards: from then on the connection is a byte stream like
// any other.
func (f *frontend) handshake(c *net.TCPConn, cfg *tls.Config) (*tls.Conn, error) {
	tc := tls.Server(c, cfg)
	c.SetDeadline(time.Now().Add(f.p.opts.HandshakeTimeout))
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return tc, nil
}
