package service

// Everything the service needs from internal/lb/httpproxy is in this file,
// so that a change of that package's API is adapted here alone.

import (
	"context"
	"log/slog"
	"net"

	"github.com/signpost-dns/signpost/internal/lb/httpproxy"
	"github.com/signpost-dns/signpost/internal/lb/routes"
)

// httpPlane is the HTTP data plane: the shared frontends and the http-mode
// service ports.
type httpPlane struct {
	p *httpproxy.Proxy
}

// newHTTPPlane opens the shared HTTP, HTTPS and app-id listeners. With
// --dont-bind-http-https the HTTP and HTTPS ones are not opened.
func newHTTPPlane(cfg Config, healthy func(string, *routes.Server) bool, log *slog.Logger) (*httpPlane, error) {
	o := httpproxy.Options{
		HTTPAddr:      cfg.HTTPAddr,
		HTTPSAddr:     cfg.HTTPSAddr,
		AppIDAddr:     cfg.AppIDAddr,
		HTTPListener:  cfg.Listeners.HTTP,
		HTTPSListener: cfg.Listeners.HTTPS,
		AppIDListener: cfg.Listeners.AppID,
		Healthy:       healthy,
		Logger:        log,
		DrainTimeout:  cfg.DrainTimeout,
	}
	if !cfg.Flags.BindHTTPHTTPS {
		o.HTTPAddr, o.HTTPSAddr = "-", "-"
		for _, l := range []net.Listener{o.HTTPListener, o.HTTPSListener} {
			if l != nil {
				l.Close()
			}
		}
		o.HTTPListener, o.HTTPSListener = nil, nil
	}
	p, err := httpproxy.New(o)
	if err != nil {
		return nil, err
	}
	return &httpPlane{p: p}, nil
}

func (h *httpPlane) apply(t *routes.Table) error { return h.p.Apply(t) }

func (h *httpPlane) serve(ctx context.Context) error { return h.p.Serve(ctx) }

func (h *httpPlane) addrs() Addrs {
	return Addrs{HTTP: h.p.HTTPAddr(), HTTPS: h.p.HTTPSAddr(), AppID: h.p.AppIDAddr()}
}

// stats converts the proxy's counters for the metrics collector.
func (h *httpPlane) stats() (servers []serverStat, front httpFrontStats) {
	st := h.p.Stats()
	front = httpFrontStats{
		badRequest: st.BadRequests, noRoute: st.NoRoute, noServer: st.NoServer,
		redirect: st.Redirects, challenge: st.Challenges, forbidden: st.Forbidden,
		clientConns: st.ClientConns,
	}
	for _, b := range st.Backends {
		for _, s := range b.Servers {
			servers = append(servers, serverStat{
				mode: "http", backend: b.Name, server: s.Name,
				requests: s.Requests, active: s.Active,
				connectErrors: s.ConnectErrors, serverErrors: s.ServerErrors, clientAborts: s.ClientAborts,
				status: s.Status, latencySum: s.LatencySum.Seconds(), latencyCount: s.LatencyCount,
			})
		}
	}
	return servers, front
}
