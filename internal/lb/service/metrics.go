package service

import (
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/signpost-dns/signpost/internal/source/marathon"
)

// metrics is the service's Prometheus registry, its own rather than the
// global one so that two services in one process (tests, the demo) never
// collide. Data-plane and Marathon counters are read at scrape time from the
// proxies' Stats and the follower's Status, so that metrics cost nothing on
// the request path; build metrics are recorded by the build loop.
type metrics struct {
	s        *Service
	reg      *prometheus.Registry
	rebuilds *prometheus.CounterVec
	duration prometheus.Histogram
	problems *prometheus.GaugeVec
}

func newMetrics(s *Service) *metrics {
	m := &metrics{
		s:   s,
		reg: prometheus.NewRegistry(),
		rebuilds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signpost_lb_rebuilds_total",
			Help: "Route tables built and swapped in, by what triggered the build (initial, reconnect, signal, periodic, event, applied, rebuild, retry).",
		}, []string{"trigger"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "signpost_lb_rebuild_duration_seconds",
			Help:    "Time from a Marathon snapshot to its route table serving: host name resolution, build and swap into both data planes.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		problems: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "signpost_lb_problems",
			Help: "Problems of the current route table, by label at fault (empty: none) and kind (disabled: left out; ignored: input without effect; skipped: undecodable in Marathon's answer; listener: cannot listen; healthcheck: active check cannot run).",
		}, []string{"label", "kind"}),
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "signpost_lb_build_info",
		Help:        "Always 1; the version label says which Signpost is running.",
		ConstLabels: prometheus.Labels{"version": s.cfg.Version},
	})
	info.Set(1)
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.rebuilds, m.duration, m.problems, info, &collector{s: s})
	return m
}

// built records one build.
func (m *metrics) built(reason string, took time.Duration, problems map[problemKey]int) {
	trigger, _, _ := strings.Cut(reason, ":")
	m.rebuilds.WithLabelValues(trigger).Inc()
	m.duration.Observe(took.Seconds())
	m.problems.Reset()
	for k, n := range problems {
		m.problems.WithLabelValues(k.label, k.kind).Set(float64(n))
	}
}

// serverStat is one server's counters from either data plane.
type serverStat struct {
	mode, backend, server string
	// requests are HTTP requests or TCP connections established.
	requests uint64
	// active are HTTP requests in flight or open TCP connections.
	active                                    int64
	connectErrors, serverErrors, clientAborts uint64
	status                                    [6]uint64
	latencySum                                float64
	latencyCount                              uint64
	bytesIn, bytesOut                         uint64
}

func (a *serverStat) add(b serverStat) {
	a.requests += b.requests
	a.active += b.active
	a.connectErrors += b.connectErrors
	a.serverErrors += b.serverErrors
	a.clientAborts += b.clientAborts
	for i := range a.status {
		a.status[i] += b.status[i]
	}
	a.latencySum += b.latencySum
	a.latencyCount += b.latencyCount
	a.bytesIn += b.bytesIn
	a.bytesOut += b.bytesOut
}

// httpFrontStats are the HTTP data plane's counters of requests that
// reached no server.
type httpFrontStats struct {
	badRequest, noRoute, noServer, redirect, challenge, forbidden uint64
	clientConns                                                   int
}

var (
	descRequests = prometheus.NewDesc("signpost_lb_server_requests_total",
		"Requests (http) or connections (tcp) sent to a server.", []string{"mode", "backend", "server"}, nil)
	descActive = prometheus.NewDesc("signpost_lb_server_active",
		"Requests in flight (http) or open connections (tcp) of a server.", []string{"mode", "backend", "server"}, nil)
	descErrors = prometheus.NewDesc("signpost_lb_server_errors_total",
		"Failures with a server: connect (attempt failed, moved on to another server), server (bad or missing response after connecting), client_abort (the client went away).",
		[]string{"mode", "backend", "server", "kind"}, nil)
	descResponses = prometheus.NewDesc("signpost_lb_server_responses_total",
		"HTTP responses from a server, by status class.", []string{"backend", "server", "code"}, nil)
	descLatency = prometheus.NewDesc("signpost_lb_server_latency_seconds",
		"Time from an HTTP request head being read to its response being fully sent.", []string{"backend", "server"}, nil)
	descBytes = prometheus.NewDesc("signpost_lb_server_bytes_total",
		"Bytes proxied through TCP connections to a server (in: to the server), counted when a connection ends.",
		[]string{"backend", "server", "direction"}, nil)
	descTCPConns = prometheus.NewDesc("signpost_lb_tcp_frontend_connections_total",
		"Client connections accepted by a TCP service listener, and those refused (network ACL, no server up, service removed).",
		[]string{"listen", "backend", "result"}, nil)
	descTCPActive = prometheus.NewDesc("signpost_lb_tcp_frontend_active",
		"Open client connections of a TCP service listener.", []string{"listen", "backend"}, nil)
	descHTTPRejected = prometheus.NewDesc("signpost_lb_http_rejected_total",
		"HTTP requests answered by the proxy itself: bad_request (400), no_route (503), no_server (503), redirect (301), challenge (401), forbidden (403).",
		[]string{"reason"}, nil)
	descHTTPClients = prometheus.NewDesc("signpost_lb_http_client_connections",
		"Open client connections of the HTTP data plane.", nil, nil)
	descServices = prometheus.NewDesc("signpost_lb_services",
		"Services (per-app frontends) and servers in the current route table.", []string{"what"}, nil)

	descCheckUp = prometheus.NewDesc("signpost_lb_server_check_up",
		"1 while a server's active health check passes (HAProxy's UP), 0 when it is DOWN; only for servers of backends with a health check.",
		[]string{"backend", "server"}, nil)
	descCheckFailures = prometheus.NewDesc("signpost_lb_server_check_failures_total",
		"Failed active health checks of a server.", []string{"backend", "server"}, nil)
	descChecks = prometheus.NewDesc("signpost_lb_health_checks_total",
		"Active health checks completed.", nil, nil)

	descConnected = prometheus.NewDesc("signpost_lb_marathon_connected",
		"1 while Marathon's event stream is open.", nil, nil)
	descEvents = prometheus.NewDesc("signpost_lb_marathon_events_total",
		"Relevant Marathon events received, malformed ones included.", nil, nil)
	descMalformed = prometheus.NewDesc("signpost_lb_marathon_malformed_events_total",
		"Marathon events that did not decode (each still triggers a refetch).", nil, nil)
	descApplied = prometheus.NewDesc("signpost_lb_marathon_applied_events_total",
		"Marathon events applied to the last snapshot without a fetch.", nil, nil)
	descReconnects = prometheus.NewDesc("signpost_lb_marathon_reconnects_total",
		"Times the event stream was lost, went idle or could not be opened on any URL.", nil, nil)
	descFetches = prometheus.NewDesc("signpost_lb_marathon_fetches_total",
		"Good GET /v2/apps documents.", nil, nil)
	descFetchErrors = prometheus.NewDesc("signpost_lb_marathon_fetch_errors_total",
		"Rounds of fetching in which no Marathon URL gave a good document.", nil, nil)
	descFetchAge = prometheus.NewDesc("signpost_lb_marathon_last_fetch_age_seconds",
		"Seconds since the last good /v2/apps document (absent before the first).", nil, nil)
	descEventAge = prometheus.NewDesc("signpost_lb_marathon_last_event_age_seconds",
		"Seconds since the last relevant Marathon event (absent before the first).", nil, nil)
)

// collector reads the data planes' and the follower's counters at scrape time.
type collector struct{ s *Service }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descActive, descErrors, descResponses, descLatency, descBytes,
		descTCPConns, descTCPActive, descHTTPRejected, descHTTPClients, descServices, descCheckUp, descCheckFailures, descChecks,
		descConnected, descEvents, descMalformed, descApplied, descReconnects, descFetches, descFetchErrors, descFetchAge, descEventAge} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.collectMarathon(ch, c.s.follower.Status())
	if t := c.s.Table(); t != nil {
		servers := 0
		for _, svc := range t.Services {
			if svc.Backend != nil {
				servers += len(svc.Backend.Servers)
			}
		}
		ch <- prometheus.MustNewConstMetric(descServices, prometheus.GaugeValue, float64(len(t.Services)), "services")
		ch <- prometheus.MustNewConstMetric(descServices, prometheus.GaugeValue, float64(servers), "servers")
	}
	c.collectChecks(ch)
	c.s.mu.Lock()
	tp, hp := c.s.tcp, c.s.http
	c.s.mu.Unlock()
	if tp == nil || hp == nil {
		return
	}
	// A server may appear twice (a removed one still draining next to its
	// successor at the same address): sum, since a metric must be unique.
	type key struct{ mode, backend, server string }
	agg := map[key]*serverStat{}
	var order []key
	addServer := func(s serverStat) {
		k := key{s.mode, s.backend, s.server}
		if a := agg[k]; a != nil {
			a.add(s)
			return
		}
		agg[k] = &s
		order = append(order, k)
	}
	type fkey struct{ listen, backend string }
	fronts := map[fkey][3]float64{}
	for _, f := range tp.Stats().Frontends {
		k := fkey{f.Listen.String(), f.Backend}
		v := fronts[k]
		v[0] += float64(f.Accepted)
		v[1] += float64(f.Refused)
		v[2] += float64(f.Active)
		fronts[k] = v
		for _, s := range f.Servers {
			addServer(serverStat{mode: "tcp", backend: f.Backend, server: s.Name, requests: s.Total,
				active: s.Active, connectErrors: s.Errors, bytesIn: s.BytesIn, bytesOut: s.BytesOut})
		}
	}
	hs, front := hp.stats()
	for _, s := range hs {
		addServer(s)
	}
	for _, k := range order {
		s := agg[k]
		ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(s.requests), s.mode, s.backend, s.server)
		ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(s.active), s.mode, s.backend, s.server)
		ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(s.connectErrors), s.mode, s.backend, s.server, "connect")
		if s.mode == "tcp" {
			ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(s.bytesIn), s.backend, s.server, "in")
			ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(s.bytesOut), s.backend, s.server, "out")
			continue
		}
		ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(s.serverErrors), s.mode, s.backend, s.server, "server")
		ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(s.clientAborts), s.mode, s.backend, s.server, "client_abort")
		for class := 1; class < len(s.status); class++ {
			ch <- prometheus.MustNewConstMetric(descResponses, prometheus.CounterValue, float64(s.status[class]),
				s.backend, s.server, strconv.Itoa(class)+"xx")
		}
		ch <- prometheus.MustNewConstSummary(descLatency, s.latencyCount, s.latencySum, nil, s.backend, s.server)
	}
	for k, v := range fronts {
		ch <- prometheus.MustNewConstMetric(descTCPConns, prometheus.CounterValue, v[0], k.listen, k.backend, "accepted")
		ch <- prometheus.MustNewConstMetric(descTCPConns, prometheus.CounterValue, v[1], k.listen, k.backend, "refused")
		ch <- prometheus.MustNewConstMetric(descTCPActive, prometheus.GaugeValue, v[2], k.listen, k.backend)
	}
	for _, r := range []struct {
		reason string
		n      uint64
	}{{"bad_request", front.badRequest}, {"no_route", front.noRoute}, {"no_server", front.noServer},
		{"redirect", front.redirect}, {"challenge", front.challenge}, {"forbidden", front.forbidden}} {
		ch <- prometheus.MustNewConstMetric(descHTTPRejected, prometheus.CounterValue, float64(r.n), r.reason)
	}
	ch <- prometheus.MustNewConstMetric(descHTTPClients, prometheus.GaugeValue, float64(front.clientConns))
}

func (c *collector) collectMarathon(ch chan<- prometheus.Metric, st marathon.Status) {
	connected := 0.0
	if st.Connected {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, connected)
	ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(st.Events))
	ch <- prometheus.MustNewConstMetric(descMalformed, prometheus.CounterValue, float64(st.MalformedEvents))
	ch <- prometheus.MustNewConstMetric(descApplied, prometheus.CounterValue, float64(st.AppliedEvents))
	ch <- prometheus.MustNewConstMetric(descReconnects, prometheus.CounterValue, float64(st.Reconnects))
	ch <- prometheus.MustNewConstMetric(descFetches, prometheus.CounterValue, float64(st.Fetches))
	ch <- prometheus.MustNewConstMetric(descFetchErrors, prometheus.CounterValue, float64(st.FetchErrors))
	now := time.Now()
	if !st.LastFetch.IsZero() {
		ch <- prometheus.MustNewConstMetric(descFetchAge, prometheus.GaugeValue, now.Sub(st.LastFetch).Seconds())
	}
	if !st.LastEvent.IsZero() {
		ch <- prometheus.MustNewConstMetric(descEventAge, prometheus.GaugeValue, now.Sub(st.LastEvent).Seconds())
	}
}

func (c *collector) collectChecks(ch chan<- prometheus.Metric) {
	st := c.s.checker.Stats()
	ch <- prometheus.MustNewConstMetric(descChecks, prometheus.CounterValue, float64(st.Checks))
	seen := map[[2]string]bool{}
	for _, s := range st.Servers {
		k := [2]string{s.Backend, s.Server}
		if seen[k] {
			continue
		}
		seen[k] = true
		up := 0.0
		if s.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descCheckUp, prometheus.GaugeValue, up, s.Backend, s.Server)
		ch <- prometheus.MustNewConstMetric(descCheckFailures, prometheus.CounterValue, float64(s.Failures), s.Backend, s.Server)
	}
}
