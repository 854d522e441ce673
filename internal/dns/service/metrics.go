package service

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics exports the server's counters and the state's freshness at scrape
// time, reading atomics only, so metrics cost nothing on the query path.
type metrics struct{ s *Service }

var (
	descQueries = prometheus.NewDesc("signpost_dns_queries_total",
		"DNS queries received, by question type.", []string{"qtype"}, nil)
	descReplies = prometheus.NewDesc("signpost_dns_replies_total",
		"DNS replies sent, by response code.", []string{"rcode"}, nil)
	descForwarded = prometheus.NewDesc("signpost_dns_forwarded_total",
		"Queries outside the domain forwarded to upstream resolvers.", nil, nil)
	descUpstreamFailures = prometheus.NewDesc("signpost_dns_upstream_failures_total",
		"Failed attempts at one upstream resolver (timeouts, refusals, bad replies).", nil, nil)
	descForwardFailures = prometheus.NewDesc("signpost_dns_forward_failures_total",
		"Forwarded queries answered SERVFAIL because every upstream failed or the in-flight bound was reached.", nil, nil)
	descTruncated = prometheus.NewDesc("signpost_dns_truncated_total",
		"Replies that lost records to the size limit.", nil, nil)
	descRecords = prometheus.NewDesc("signpost_dns_records",
		"Records being served, by type: names and values.", []string{"type", "count"}, nil)
	descStateAge = prometheus.NewDesc("signpost_dns_state_age_seconds",
		"Seconds since the Mesos state was last fetched successfully (absent before the first).", nil, nil)
	descFetchFailures = prometheus.NewDesc("signpost_dns_state_consecutive_failures",
		"State fetches that failed in a row since the last success.", nil, nil)
	descBuild = prometheus.NewDesc("signpost_dns_generation_seconds",
		"Time the last record generation took.", nil, nil)
	descBuilds = prometheus.NewDesc("signpost_dns_generations_total",
		"Record tables generated and swapped in.", nil, nil)
	descDropped = prometheus.NewDesc("signpost_dns_dropped_objects",
		"Objects (frameworks, agents, tasks, masters) left out of the last table because they could not be used.", nil, nil)
	descReady = prometheus.NewDesc("signpost_dns_healthy",
		"1 when records are loaded and fresh (as /health), else 0.", nil, nil)
)

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueries, descReplies, descForwarded, descUpstreamFailures, descForwardFailures,
		descTruncated, descRecords, descStateAge, descFetchFailures, descBuild, descBuilds, descDropped, descReady} {
		ch <- d
	}
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	st := m.s.dns.Stats()
	for qtype, n := range st.Queries {
		ch <- prometheus.MustNewConstMetric(descQueries, prometheus.CounterValue, float64(n), qtype)
	}
	for rcode, n := range st.Rcodes {
		ch <- prometheus.MustNewConstMetric(descReplies, prometheus.CounterValue, float64(n), rcode)
	}
	ch <- prometheus.MustNewConstMetric(descForwarded, prometheus.CounterValue, float64(st.Forwarded))
	ch <- prometheus.MustNewConstMetric(descUpstreamFailures, prometheus.CounterValue, float64(st.UpstreamFailures))
	ch <- prometheus.MustNewConstMetric(descForwardFailures, prometheus.CounterValue, float64(st.ForwardFailures+st.ForwardOverflow))
	ch <- prometheus.MustNewConstMetric(descTruncated, prometheus.CounterValue, float64(st.Truncated))
	if t := m.s.table.Load(); t != nil {
		for typ, c := range t.Counts() {
			ch <- prometheus.MustNewConstMetric(descRecords, prometheus.GaugeValue, float64(c[0]), typ, "names")
			ch <- prometheus.MustNewConstMetric(descRecords, prometheus.GaugeValue, float64(c[1]), typ, "values")
		}
	}
	h := m.s.poller.Health()
	if !h.LastSuccess.IsZero() {
		ch <- prometheus.MustNewConstMetric(descStateAge, prometheus.GaugeValue, m.s.now().Sub(h.LastSuccess).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(descFetchFailures, prometheus.GaugeValue, float64(h.ConsecutiveFailures))
	m.s.mu.Lock()
	build, builds, dropped := m.s.buildTime, m.s.builds, m.s.dropped
	m.s.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descBuild, prometheus.GaugeValue, build.Seconds())
	ch <- prometheus.MustNewConstMetric(descBuilds, prometheus.CounterValue, float64(builds))
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.GaugeValue, float64(dropped))
	healthy := 0.0
	if m.s.Health().OK {
		healthy = 1
	}
	ch <- prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, healthy)
}
