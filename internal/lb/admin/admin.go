// Package admin serves the HTTP endpoints of `signpost lb` that Marathon-LB
// users and tools know from HAProxy's "listen stats" section
// (spec/marathon-lb.md §6): the health check, the current configuration, the
// map files, the signal endpoints and Prometheus metrics.
//
// Marathon-LB answers them from files and processes (the HAProxy config read
// by Lua at worker start, the map files next to it, pkill); Signpost answers
// from the route table being served, so what they show is always what
// routes traffic now. The differences:
//
//   - /_haproxy_getconfig renders the route table in HAProxy's syntax for
//     reading and diffing (see Config); it is not a loadable HAProxy
//     configuration and has no global/defaults/stats sections.
//   - /_haproxy_getvhostmap and /_haproxy_getappmap are empty without
//     --haproxy-map, as in Marathon-LB (see VhostMap for the small
//     differences in content).
//   - /_mlb_signal/hup and /_mlb_signal/usr1 call the load balancer directly
//     instead of running pkill, so they cannot fail with 500 ("poll mode"),
//     and they answer only GET and POST.
//   - /_haproxy_getpids and HAProxy's stats page (/haproxy?stats) do not
//     exist: there is one process and no HAProxy. Unknown paths get 404.
package admin

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/routes"
)

// Source is what the endpoints need from the running load balancer.
type Source interface {
	// Table is the current route table; nil before the first build.
	Table() *routes.Table
	// Refetch asks for a full refetch from Marathon (/_mlb_signal/hup,
	// Marathon-LB's SIGHUP). It must not block: requests are coalesced by
	// the caller's loop, as Marathon-LB coalesces its pending_reset flag.
	Refetch()
	// Rebuild asks for the routes to be rebuilt from the last snapshot
	// (/_mlb_signal/usr1, Marathon-LB's SIGUSR1). It must not block.
	Rebuild()
}

// Info is what the getconfig header says about a table beyond its content.
type Info struct {
	// Built is when the table was built; zero when unknown.
	Built time.Time
	// Problems are what the build left out or ignored (routes.Build's
	// second result), listed as comments so that an operator looking at
	// the configuration sees why an app is missing.
	Problems []routes.Problem
}

// InfoSource is optionally implemented by a Source that keeps the build
// time and problems of its table. TableInfo returns the table together with
// its Info so that the two cannot come from different generations; the
// getconfig endpoint then uses it instead of Table.
type InfoSource interface {
	TableInfo() (*routes.Table, Info)
}

// Paths of the endpoints, as Marathon-LB's HAProxy configuration names them.
const (
	PathHealthCheck = "/_haproxy_health_check"
	PathGetConfig   = "/_haproxy_getconfig"
	PathGetVhostMap = "/_haproxy_getvhostmap"
	PathGetAppMap   = "/_haproxy_getappmap"
	PathSignalHUP   = "/_mlb_signal/hup"
	PathSignalUSR1  = "/_mlb_signal/usr1"
	PathMetrics     = "/metrics"
)

// healthBody is what HAProxy's monitor-uri answers (checked against HAProxy
// 2.6), so checks that compare the body keep working.
const healthBody = "<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n"

// Handler serves Marathon-LB's endpoints; metrics is the Prometheus handler
// mounted at /metrics (nil: 404). A nil logger discards; a nil src serves
// as "no table yet" and ignores the signals.
//
// Paths are matched exactly, like the "path" ACLs of Marathon-LB's HAProxy
// configuration: no redirects for trailing slashes or cleaned paths, and the
// query string is ignored.
func Handler(src Source, metrics http.Handler, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if src == nil {
		src = noSource{}
	}
	return &handler{src: src, metrics: metrics, log: logger}
}

type handler struct {
	src     Source
	metrics http.Handler
	log     *slog.Logger
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case PathHealthCheck:
		// monitor-uri answers every method while the process runs.
		w.Header().Set("Cache-Control", "no-cache")
		writeBody(w, "text/html", []byte(healthBody))
	case PathGetConfig:
		if !allow(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		t, info := h.table()
		writeBody(w, "text/plain; charset=utf-8", Config(t, info))
	case PathGetVhostMap:
		if !allow(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		writeBody(w, "text/plain; charset=utf-8", VhostMap(h.src.Table()))
	case PathGetAppMap:
		if !allow(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		writeBody(w, "text/plain; charset=utf-8", AppMap(h.src.Table()))
	case PathSignalHUP:
		if !allow(w, r, http.MethodGet, http.MethodPost) {
			return
		}
		h.log.Info("full refetch from Marathon requested", "endpoint", PathSignalHUP, "remote", r.RemoteAddr)
		h.src.Refetch()
		writeBody(w, "text/plain; charset=utf-8", []byte("Sent SIGHUP signal to marathon-lb: signpost lb refetches every app from Marathon\n"))
	case PathSignalUSR1:
		if !allow(w, r, http.MethodGet, http.MethodPost) {
			return
		}
		h.log.Info("route rebuild requested", "endpoint", PathSignalUSR1, "remote", r.RemoteAddr)
		h.src.Rebuild()
		writeBody(w, "text/plain; charset=utf-8", []byte("Sent SIGUSR1 signal to marathon-lb: signpost lb rebuilds its routes from the last snapshot\n"))
	case PathMetrics:
		if h.metrics == nil {
			notFound(w)
			return
		}
		h.metrics.ServeHTTP(w, r)
	default:
		notFound(w)
	}
}

// noSource stands in for a nil Source: no table, signals ignored.
type noSource struct{}

func (noSource) Table() *routes.Table { return nil }
func (noSource) Refetch()             {}
func (noSource) Rebuild()             {}

// table is the table and its Info, consistent when the Source can say both.
func (h *handler) table() (*routes.Table, Info) {
	if is, ok := h.src.(InfoSource); ok {
		return is.TableInfo()
	}
	return h.src.Table(), Info{}
}

// allow answers 405 with an Allow header unless r uses one of methods.
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	allowed := strings.Join(methods, ", ")
	w.Header().Set("Allow", allowed)
	http.Error(w, "405 method "+r.Method+" not allowed on "+r.URL.Path+"; use "+allowed, http.StatusMethodNotAllowed)
	return false
}

func notFound(w http.ResponseWriter) {
	http.Error(w, "404 not found: signpost lb serves "+PathHealthCheck+", "+PathGetConfig+", "+
		PathGetVhostMap+", "+PathGetAppMap+", "+PathSignalHUP+", "+PathSignalUSR1+" and "+PathMetrics,
		http.StatusNotFound)
}

// writeBody answers 200 with a complete body and its length, as the Lua
// services do (content-length, no chunking).
func writeBody(w http.ResponseWriter, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	// For HEAD, net/http discards the body and keeps the headers.
	_, _ = w.Write(body)
}
