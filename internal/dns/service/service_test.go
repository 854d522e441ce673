package service

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/internal/dns/config"
	"github.com/signpost-dns/signpost/internal/sim/simserver"
	"github.com/signpost-dns/signpost/internal/testutil/leakcheck"
)

func query(t *testing.T, server, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, server)
	if err != nil {
		t.Fatalf("query %s: %v", name, err)
	}
	return r
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLifecycle follows one service through what an operator sees: answers
// (SERVFAIL) before the first state, records once the master answers, the
// last good records kept and reported stale when the master goes away, and
// fresh again when it comes back.
func TestLifecycle(t *testing.T) {
	leakcheck.Verify(t)
	ctx, cancel := context.WithCancel(context.Background())
	sim, err := simserver.Start(ctx, simserver.Config{MesosAddr: "127.0.0.1:0", MarathonAddr: "127.0.0.1:0", ControlAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	// No leader at first: the master answers 503, so no state loads.
	if err := sim.Cluster.SetLeader(-1); err != nil {
		t.Fatal(err)
	}
	master := strings.TrimPrefix(sim.MasterURLs[0], "http://")
	cfg, _, err := config.Parse([]byte(`{"masters":["` + master + `"],"refreshSeconds":1,"stateTimeoutSeconds":1,
		"listener":"127.0.0.1","port":0,"httplistener":"127.0.0.1","httpport":0,"externalon":false}`))
	if err != nil {
		t.Fatal(err)
	}
	// Collect must come after the swap: it is there to collect what the
	// swap made garbage.
	var svc *Service
	var collects, collectsBeforeSwap atomic.Int32
	svc, err = New(cfg, Options{Version: "test", Collect: func() {
		collects.Add(1)
		if svc.table.Load() == nil {
			collectsBeforeSwap.Add(1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx, ready) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	<-ready
	api := "http://" + svc.HTTPAddr

	if r := query(t, svc.DNSAddr, "leader.mesos.", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("before the first state: %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	if code, body := httpGet(t, api+"/health"); code != 503 || !strings.Contains(body, "no state loaded yet") {
		t.Errorf("/health before the first state: %d %s", code, body)
	}

	if err := sim.Cluster.SetLeader(0); err != nil {
		t.Fatal(err)
	}
	eventually(t, "records load", func() bool { return query(t, svc.DNSAddr, "leader.mesos.", dns.TypeA).Rcode == dns.RcodeSuccess })
	if code, _ := httpGet(t, api+"/health"); code != 200 {
		t.Errorf("/health with fresh records: %d", code)
	}
	eventually(t, "Options.Collect is called after the first update", func() bool { return collects.Load() > 0 })
	if n := collectsBeforeSwap.Load(); n != 0 {
		t.Errorf("Options.Collect called %d times before the table was swapped in", n)
	}
	_, metrics := httpGet(t, api+"/metrics")
	for _, want := range []string{`signpost_dns_queries_total{qtype="A"}`, `signpost_dns_replies_total{rcode="SERVFAIL"}`,
		`signpost_dns_records{count="names",type="A"}`, "signpost_dns_state_age_seconds", "signpost_dns_generation_seconds", "signpost_dns_healthy 1"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// The master goes away: the last records keep being served, and once
	// they are older than the limit /health and /metrics say so.
	sim.Cluster.SetLeader(-1)
	eventually(t, "/health reports stale records", func() bool {
		code, body := httpGet(t, api+"/health")
		return code == 503 && strings.Contains(body, "stale")
	})
	if r := query(t, svc.DNSAddr, "leader.mesos.", dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("stale records not served: %v", r)
	}
	if _, m := httpGet(t, api+"/metrics"); !strings.Contains(m, "signpost_dns_healthy 0") || !strings.Contains(m, "signpost_dns_state_consecutive_failures") {
		t.Errorf("/metrics does not report staleness")
	}

	sim.Cluster.SetLeader(0)
	eventually(t, "fresh again", func() bool { code, _ := httpGet(t, api+"/health"); return code == 200 })
	http.DefaultClient.CloseIdleConnections()
}
