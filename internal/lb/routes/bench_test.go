package routes

import (
	"strconv"
	"testing"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// benchState is a cluster of n apps with three running tasks each: a third
// tcp, a third with a vhost, a third with a vhost and a path, half of them
// with a Marathon HTTP health check and results, spread over 500 agents.
func benchState(n int) *cluster.MarathonState {
	st := &cluster.MarathonState{Apps: make([]cluster.App, n)}
	pi := 0
	for i := range n {
		id := "/team" + strconv.Itoa(i%50) + "/app" + strconv.Itoa(i)
		labels := map[string]string{"HAPROXY_GROUP": "external"}
		switch i % 3 {
		case 1:
			labels["HAPROXY_0_VHOST"] = "app" + strconv.Itoa(i) + ".example.com"
		case 2:
			labels["HAPROXY_0_VHOST"] = "shared" + strconv.Itoa(i%100) + ".example.com"
			labels["HAPROXY_0_PATH"] = "/app" + strconv.Itoa(i)
		}
		a := cluster.App{
			ID: id, Instances: 3, Labels: labels,
			PortDefinitions: []cluster.PortDefinition{{Port: 10000 + i, Protocol: "tcp"}},
			Tasks:           make([]cluster.AppTask, 3),
		}
		if i%2 == 0 {
			a.HealthChecks = []cluster.HealthCheck{{Protocol: "HTTP", Path: "/health", PortIndex: &pi,
				IntervalSeconds: 10, TimeoutSeconds: 5, MaxConsecutiveFailures: 3}}
		}
		for k := range 3 {
			host := "10.0." + strconv.Itoa((i*3+k)%500/250) + "." + strconv.Itoa((i*3+k)%250+1)
			t := cluster.AppTask{
				ID: id[1:] + "." + strconv.Itoa(k), AppID: id, Host: host, State: cluster.TaskRunning,
				Ports: []int{20000 + (i*3+k)%40000}, IPAddresses: []cluster.IPAddress{{IP: host}},
			}
			if a.HealthChecks != nil {
				t.HealthCheckResults = []cluster.HealthCheckResult{{Alive: true, TaskID: t.ID}}
			}
			a.Tasks[k] = t
		}
		st.Apps[i] = a
	}
	return st
}

// BenchmarkBuild10kApps measures a full rebuild for 10,000 apps × 3 tasks,
// what every Marathon event costs (Marathon-LB regenerates everything too).
func BenchmarkBuild10kApps(b *testing.B) {
	st := benchState(10000)
	f := DefaultFlags()
	f.Groups = []string{"external"}
	f.HealthCheck = true
	tab, problems := Build(st, f, HealthCache{})
	if len(tab.Services) != 10000 || len(problems) != 0 {
		b.Fatalf("services %d, problems %v", len(tab.Services), problems)
	}
	health := tab.Health
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		tab, _ = Build(st, f, health)
	}
	b.ReportMetric(float64(len(tab.HTTP.Routes)), "http-rules")
}
