package service

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/signpost-dns/signpost/internal/lb/admin"
)

// adminHandler serves Marathon-LB's endpoints (internal/lb/admin) with the
// service's Prometheus registry at /metrics.
func (s *Service) adminHandler() http.Handler {
	return admin.Handler(s, promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}), s.log)
}
