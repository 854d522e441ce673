package service

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/lb/routes"
)

// fakeDNS answers from a table and counts lookups per name.
type fakeDNS struct {
	mu      sync.Mutex
	answers map[string]string // "" = NXDOMAIN; "slow" = never answers
	asked   map[string]int
}

func (f *fakeDNS) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	f.asked[host]++
	a, ok := f.answers[host]
	f.mu.Unlock()
	switch {
	case a == "slow":
		<-ctx.Done()
		return nil, ctx.Err()
	case !ok || a == "":
		return nil, errors.New("no such host")
	}
	var out []netip.Addr
	for _, s := range strings.Split(a, ",") {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

func (f *fakeDNS) set(host, addrs string) {
	f.mu.Lock()
	f.answers[host] = addrs
	f.mu.Unlock()
}

func (f *fakeDNS) count(host string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asked[host]
}

func stateWithHosts(hosts ...string) *cluster.MarathonState {
	app := cluster.App{ID: "/a"}
	for i, h := range hosts {
		app.Tasks = append(app.Tasks, cluster.AppTask{ID: "a." + string(rune('0'+i)), Host: h})
	}
	return &cluster.MarathonState{Apps: []cluster.App{app}}
}

func TestResolver(t *testing.T) {
	dns := &fakeDNS{answers: map[string]string{
		"agent1": "10.0.0.1", "agent2": "2001:db8::2,10.0.0.2", "v6only": "2001:db8::6", "slow": "slow",
	}, asked: map[string]int{}}
	r := newResolver(dns.lookup, 200*time.Millisecond, slog.New(slog.DiscardHandler))
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	ctx := context.Background()

	look := r.prepare(ctx, stateWithHosts("agent1", "agent2", "v6only", "10.9.9.9", "gone", "slow", "agent1"))
	for host, want := range map[string]string{"agent1": "10.0.0.1", "agent2": "10.0.0.2", "v6only": "2001:db8::6", "gone": "", "slow": "", "10.9.9.9": ""} {
		a, ok := look(host)
		if got := map[bool]string{true: a.String(), false: ""}[ok]; got != want {
			t.Errorf("%s: %q, want %q (IPv4 first; failures and IP literals absent)", host, got, want)
		}
	}
	if n := dns.count("agent1"); n != 1 {
		t.Errorf("agent1 looked up %d times in one build, want 1", n)
	}
	if n := dns.count("10.9.9.9"); n != 0 {
		t.Errorf("an IP literal was looked up")
	}

	// Within the TTL nothing is asked again; a failure is retried after
	// the negative TTL only.
	dns.set("gone", "10.0.0.7")
	look = r.prepare(ctx, stateWithHosts("agent1", "gone"))
	if _, ok := look("gone"); ok || dns.count("agent1") != 1 || dns.count("gone") != 1 {
		t.Errorf("re-resolved within the TTL: agent1 %d, gone %d", dns.count("agent1"), dns.count("gone"))
	}
	now = now.Add(resolveNegativeTTL)
	look = r.prepare(ctx, stateWithHosts("agent1", "gone"))
	if a, ok := look("gone"); !ok || a.String() != "10.0.0.7" {
		t.Errorf("failed name not retried after the negative TTL: %v %v", a, ok)
	}

	// After the TTL a name is looked up again; a failure then keeps the
	// last good address.
	now = now.Add(resolveTTL)
	dns.set("agent1", "")
	look = r.prepare(ctx, stateWithHosts("agent1"))
	if a, ok := look("agent1"); !ok || a.String() != "10.0.0.1" || dns.count("agent1") != 2 {
		t.Errorf("DNS outage: %v %v (asked %d)", a, ok, dns.count("agent1"))
	}
	// Names that left the cluster are forgotten.
	if _, ok := r.cache["gone"]; ok {
		t.Error("a host no longer in the state is still cached")
	}

	// Build uses it: a task on a name that does not resolve is left out
	// with a problem, the others are routed at the resolved address.
	st := &cluster.MarathonState{Apps: []cluster.App{{
		ID: "/web", Instances: 2, Labels: map[string]string{"HAPROXY_GROUP": "external"},
		PortDefinitions: []cluster.PortDefinition{{Port: 10000}},
		Tasks: []cluster.AppTask{
			{ID: "web.1", Host: "agent2", State: cluster.TaskRunning, Ports: []int{31000}},
			{ID: "web.2", Host: "nowhere", State: cluster.TaskRunning, Ports: []int{31001}},
		},
	}}}
	flags := routes.DefaultFlags()
	flags.Groups = []string{"external"}
	flags.Resolve = r.prepare(ctx, st)
	tb, problems := routes.Build(st, flags, routes.HealthCache{})
	if len(tb.Services) != 1 || len(tb.Services[0].Backend.Servers) != 1 || tb.Services[0].Backend.Servers[0].HostPort != "10.0.0.2:31000" {
		t.Errorf("table %+v", tb.Services)
	}
	if len(problems) != 1 || !strings.Contains(problems[0].String(), `cannot resolve task host "nowhere"`) {
		t.Errorf("problems %v", problems)
	}
}
