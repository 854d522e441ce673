package routes

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/cluster"
)

func TestGroups(t *testing.T) {
	tests := []struct {
		name   string
		labels map[string]string
		groups []string
		want   []string
	}{
		{"app group matches", nil, []string{"external"}, []string{"a_10000", "a_10001"}},
		{"other group", nil, []string{"internal"}, nil},
		{"star takes all", nil, []string{"*"}, []string{"a_10000", "a_10001"}},
		{"no group, named flag", map[string]string{"HAPROXY_GROUP": "<unset>"}, []string{"external"}, nil},
		{"no group, star", map[string]string{"HAPROXY_GROUP": "<unset>"}, []string{"internal", "*"}, []string{"a_10000", "a_10001"}},
		{"comma list", map[string]string{"HAPROXY_GROUP": "internal,external"}, []string{"external"}, []string{"a_10000", "a_10001"}},
		{"no trimming", map[string]string{"HAPROXY_GROUP": "internal, external"}, []string{"external"}, nil},
		{"per-port group overrides app group", map[string]string{"HAPROXY_GROUP": "internal", "HAPROXY_0_GROUP": "external"},
			[]string{"external"}, []string{"a_10000"}},
		{"per-port group excludes", map[string]string{"HAPROXY_1_GROUP": "internal"}, []string{"external"}, []string{"a_10000"}},
		{"per-port group without app group", map[string]string{"HAPROXY_GROUP": "<unset>", "HAPROXY_1_GROUP": "x,external"},
			[]string{"external"}, []string{"a_10001"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, _ := build(t, flagsWith(tt.groups...), mkApp("/a", []int{10000, 10001}, tt.labels, mkTask("a.1", "10.0.0.1", 31000, 31001)))
			eqStrings(t, "backends", backendNames(tab), tt.want)
		})
	}
}

func TestStrictModeAndEnabled(t *testing.T) {
	tests := []struct {
		strict  bool
		enabled string // "" = no label
		want    bool
	}{
		{false, "", true}, {false, "false", false}, {false, "nope", false}, {false, "TRUE", true},
		{true, "", false}, {true, "true", true}, {true, "Yes", true}, {true, "y", true}, {true, "t", true},
		{true, "1", false}, {true, "false", false},
	}
	for _, tt := range tests {
		f := flagsWith()
		f.StrictMode = tt.strict
		labels := map[string]string{}
		if tt.enabled != "" {
			labels["HAPROXY_0_ENABLED"] = tt.enabled
		}
		tab, _ := build(t, f, mkApp("/a", []int{10000}, labels, mkTask("a.1", "10.0.0.1", 31000)))
		if got := len(tab.Services) == 1; got != tt.want {
			t.Errorf("strict=%v ENABLED=%q: routed=%v, want %v", tt.strict, tt.enabled, got, tt.want)
		}
	}
}

func TestTaskStates(t *testing.T) {
	kept := map[cluster.TaskState]bool{"": true, cluster.TaskRunning: true, cluster.TaskLost: true, cluster.TaskUnreachable: true}
	states := []cluster.TaskState{"", cluster.TaskStaging, cluster.TaskStarting, cluster.TaskRunning, cluster.TaskKilling,
		cluster.TaskFinished, cluster.TaskFailed, cluster.TaskKilled, cluster.TaskError, cluster.TaskLost, cluster.TaskDropped,
		cluster.TaskUnreachable, cluster.TaskGone, cluster.TaskGoneByOperator, cluster.TaskUnknown}
	for _, s := range states {
		task := mkTask("a.1", "10.0.0.1", 31000)
		task.State = s
		tab, _ := build(t, flagsWith(), mkApp("/a", []int{10000}, nil, task))
		if got := len(tab.Services) == 1; got != kept[s] {
			t.Errorf("state %q: routed=%v, want %v", s, got, kept[s])
		}
	}
	noHost := mkTask("a.1", "", 31000)
	if tab, _ := build(t, flagsWith(), mkApp("/a", []int{10000}, nil, noHost)); len(tab.Services) != 0 {
		t.Error("task without host is routed")
	}
}

func TestHealthCheckFilterAndCache(t *testing.T) {
	withResults := func(task cluster.AppTask, alive ...bool) cluster.AppTask {
		for _, a := range alive {
			task.HealthCheckResults = append(task.HealthCheckResults, cluster.HealthCheckResult{Alive: a, TaskID: task.ID})
		}
		return task
	}
	pi := 0
	app := mkApp("/hc", []int{10000}, nil,
		withResults(mkTask("hc.alive", "10.0.0.1", 31001), true),
		withResults(mkTask("hc.dead", "10.0.0.2", 31002), false),
		mkTask("hc.noresult", "10.0.0.3", 31003),
		withResults(mkTask("hc.mixed", "10.0.0.4", 31004), false, true),
		mkTask("hc.cached", "10.0.0.5", 31005),
		mkTask("hc.cacheddead", "10.0.0.6", 31006),
	)
	app.HealthChecks = []cluster.HealthCheck{{Protocol: "HTTP", Path: "/h", PortIndex: &pi, IntervalSeconds: 3, TimeoutSeconds: 5, MaxConsecutiveFailures: 2}}
	st := &cluster.MarathonState{Apps: []cluster.App{app}}
	prev := HealthCache{}.With("hc.cached", true).With("hc.cacheddead", false).With("hc.dead", true).With("gone.task", true)

	f := flagsWith()
	f.HealthCheck = true
	tab, _ := Build(st, f, prev)
	eqStrings(t, "servers with --health-check", serverAddrs(mustBackend(t, tab, "hc_10000")),
		[]string{"10.0.0.1:31001", "10.0.0.4:31004", "10.0.0.5:31005"})

	next := tab.Health
	for id, want := range map[string]bool{"hc.alive": true, "hc.dead": false, "hc.mixed": true, "hc.cached": true, "hc.cacheddead": false} {
		if alive, known := next.Lookup(id); !known || alive != want {
			t.Errorf("next cache %s = %v,%v; want %v,true", id, alive, known, want)
		}
	}
	if _, known := next.Lookup("hc.noresult"); known {
		t.Error("a task never reported healthy got a cache entry")
	}
	if _, known := next.Lookup("gone.task"); known {
		t.Error("the cache keeps a task Marathon no longer has")
	}
	if alive, _ := prev.Lookup("hc.dead"); !alive || prev.Len() != 4 {
		t.Error("Build changed the cache it was given")
	}

	// A Marathon failover: results are gone, the cache keeps the verdicts.
	failover := app
	failover.Tasks = slices.Clone(app.Tasks)
	for i := range failover.Tasks {
		failover.Tasks[i].HealthCheckResults = nil
	}
	tab2, _ := Build(&cluster.MarathonState{Apps: []cluster.App{failover}}, f, next)
	eqStrings(t, "servers after failover", serverAddrs(mustBackend(t, tab2, "hc_10000")),
		[]string{"10.0.0.1:31001", "10.0.0.4:31004", "10.0.0.5:31005"})

	// Without --health-check every task is routed and HAProxy checks them.
	tab3, _ := Build(st, flagsWith(), prev)
	b := mustBackend(t, tab3, "hc_10000")
	if len(b.Servers) != 6 {
		t.Errorf("without --health-check: %v", serverAddrs(b))
	}
	want := &HealthCheck{Type: CheckHTTP, Path: "/h", Interval: 3 * time.Second, Timeout: 5 * time.Second, Fall: 3, Rise: 2, MarathonProtocol: "HTTP"}
	if !reflect.DeepEqual(b.HealthCheck, want) {
		t.Errorf("health check %+v, want %+v", b.HealthCheck, want)
	}
	if b.Mode != ModeHTTP {
		t.Errorf("an HTTP Marathon check makes the service http; got %s", b.Mode)
	}

	// An app without Marathon checks is not filtered.
	plain := mkApp("/plain", []int{10001}, nil, mkTask("p.1", "10.0.0.1", 32000))
	tab4, _ := Build(&cluster.MarathonState{Apps: []cluster.App{plain}}, f, HealthCache{})
	if len(tab4.Services) != 1 {
		t.Error("--health-check dropped an app without health checks")
	}
}

func TestNetworking(t *testing.T) {
	hp := func(p int) *int { return &p }
	tests := []struct {
		name    string
		app     cluster.App
		backend string
		servers []string // "name addr"
	}{
		{
			name:    "host: task ports",
			app:     mkApp("/h", []int{10000}, nil, mkTask("h.1", "10.0.0.1", 31000)),
			backend: "h_10000", servers: []string{"10_0_0_1_31000 10.0.0.1:31000"},
		},
		{
			name:    "host: no task ports, port definitions",
			app:     mkApp("/h", []int{10000}, nil, mkTask("h.1", "10.0.0.1")),
			backend: "h_10000", servers: []string{"10_0_0_1_10000 10.0.0.1:10000"},
		},
		{
			name: "docker BRIDGE before 1.5",
			app: func() cluster.App {
				a := mkApp("/b", nil, nil, mkTask("b.1", "10.0.0.1", 31400))
				a.Container = &cluster.AppContainer{Type: "DOCKER", Docker: &cluster.AppDocker{Network: "BRIDGE",
					PortMappings: []cluster.AppPortMapping{{ContainerPort: 80, HostPort: hp(0), ServicePort: 10400}}}}
				return a
			}(),
			backend: "b_10400", servers: []string{"10_0_0_1_31400 10.0.0.1:31400"},
		},
		{
			name: "container/bridge 1.5",
			app: func() cluster.App {
				a := mkApp("/b", nil, nil, mkTask("b.1", "10.0.2.148", 1565))
				a.Tasks[0].IPAddresses = []cluster.IPAddress{{IP: "172.17.0.2"}}
				a.Networks = []cluster.Network{{Mode: "container/bridge"}}
				a.Container = &cluster.AppContainer{Type: "DOCKER", PortMappings: []cluster.AppPortMapping{{ContainerPort: 80, HostPort: hp(0), ServicePort: 10101}}}
				return a
			}(),
			backend: "b_10101", servers: []string{"10_0_2_148_1565 10.0.2.148:1565"},
		},
		{
			name: "container/bridge without task ports: container port on the host",
			app: func() cluster.App {
				a := mkApp("/b", nil, nil, mkTask("b.1", "10.0.0.1"))
				a.Networks = []cluster.Network{{Mode: "container/bridge"}}
				a.Container = &cluster.AppContainer{PortMappings: []cluster.AppPortMapping{{ContainerPort: 80, ServicePort: 10101}}}
				return a
			}(),
			backend: "b_10101", servers: []string{"10_0_0_1_80 10.0.0.1:80"},
		},
		{
			name: "IP-per-task 1.5 with service port",
			app: func() cluster.App {
				a := mkApp("/c", nil, nil, mkTask("c.1", "10.0.0.1"))
				a.Tasks[0].IPAddresses = []cluster.IPAddress{{IP: "9.0.1.5"}}
				a.Networks = []cluster.Network{{Mode: "container", Name: "dcos"}}
				a.Container = &cluster.AppContainer{Type: "MESOS", PortMappings: []cluster.AppPortMapping{{ContainerPort: 8080, ServicePort: 10410}}}
				return a
			}(),
			backend: "c_10410", servers: []string{"10_0_0_1_9_0_1_5_8080 9.0.1.5:8080"},
		},
		{
			name: "docker USER network before 1.5",
			app: func() cluster.App {
				a := mkApp("/u", nil, nil, mkTask("u.1", "10.0.0.1"))
				a.Tasks[0].IPAddresses = []cluster.IPAddress{{IP: "9.0.0.7"}}
				a.Container = &cluster.AppContainer{Type: "DOCKER", Docker: &cluster.AppDocker{Network: "USER",
					PortMappings: []cluster.AppPortMapping{{ContainerPort: 9000, ServicePort: 10420}}}}
				return a
			}(),
			backend: "u_10420", servers: []string{"10_0_0_1_9_0_0_7_9000 9.0.0.7:9000"},
		},
		{
			name: "legacy ipAddress: auto-assigned service port",
			app: func() cluster.App {
				a := mkApp("/calico", nil, nil, mkTask("calico.1", "10.0.0.1"))
				a.Tasks[0].IPAddresses = []cluster.IPAddress{{IP: "192.168.0.9"}}
				a.IPAddress = &cluster.AppIPAddress{NetworkName: "calico", DiscoveryPorts: []cluster.AppDiscoveryPort{{Number: 80, Name: "http"}}}
				return a
			}(),
			backend: "calico_10052", servers: []string{"10_0_0_1_192_168_0_9_80 192.168.0.9:80"},
		},
		{
			name: "IP-per-task task without IP is skipped",
			app: func() cluster.App {
				a := mkApp("/c", nil, nil, mkTask("c.1", "10.0.0.1"), mkTask("c.2", "10.0.0.2"))
				a.Tasks[0].IPAddresses = nil
				a.Tasks[1].IPAddresses = []cluster.IPAddress{{IP: "9.0.0.2"}}
				a.Networks = []cluster.Network{{Mode: "container"}}
				a.Container = &cluster.AppContainer{PortMappings: []cluster.AppPortMapping{{ContainerPort: 80, ServicePort: 10500}}}
				return a
			}(),
			backend: "c_10500", servers: []string{"10_0_0_2_9_0_0_2_80 9.0.0.2:80"},
		},
		{
			name: "more service ports than task ports: zip",
			app: mkApp("/z", []int{10600, 10601}, nil, mkTask("z.1", "10.0.0.1", 31600),
				mkTask("z.2", "10.0.0.2", 31700, 31701)),
			backend: "z_10600", servers: []string{"10_0_0_1_31600 10.0.0.1:31600", "10_0_0_2_31700 10.0.0.2:31700"},
		},
		{
			name: "servers sorted by host string then port",
			app: mkApp("/s", []int{10000}, nil, mkTask("s.1", "10.0.0.2", 1), mkTask("s.2", "10.0.0.10", 5),
				mkTask("s.3", "10.0.0.10", 2)),
			backend: "s_10000", servers: []string{"10_0_0_10_2 10.0.0.10:2", "10_0_0_10_5 10.0.0.10:5", "10_0_0_2_1 10.0.0.2:1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, problems := build(t, flagsWith(), tt.app)
			if d := disabled(problems); len(d) > 0 {
				t.Errorf("problems %v", d)
			}
			b := mustBackend(t, tab, tt.backend)
			var got []string
			for _, s := range b.Servers {
				got = append(got, s.Name+" "+s.HostPort)
			}
			eqStrings(t, "servers", got, tt.servers)
		})
	}

	// With the ip-per-task range disabled the legacy app has no service.
	a := tests[7].app
	f := flagsWith()
	f.MinServPortIPPerTask, f.MaxServPortIPPerTask = 0, 0
	if tab, _ := build(t, f, a); len(tab.Services) != 0 {
		t.Errorf("range disabled: %v", backendNames(tab))
	}
}

func TestResolver(t *testing.T) {
	app := mkApp("/r", []int{10000}, nil, mkTask("r.1", "agent-1", 31000), mkTask("r.2", "agent-2", 31001))
	// Unresolved: the data plane gets the host name.
	tab, _ := build(t, flagsWith(), app)
	b := mustBackend(t, tab, "r_10000")
	if s := b.Servers[0]; s.Addr.IsValid() || s.HostPort != "agent-1:31000" || s.Name != "agent-1_31000" {
		t.Errorf("unresolved server %+v", s)
	}
	// Resolved: Marathon-LB's host_ip_port name; an unresolvable host drops its task.
	f := flagsWith()
	f.Resolve = func(h string) (netip.Addr, bool) {
		if h == "agent-1" {
			return netip.MustParseAddr("10.1.0.1"), true
		}
		return netip.Addr{}, false
	}
	tab, problems := build(t, f, app)
	b = mustBackend(t, tab, "r_10000")
	if len(b.Servers) != 1 || b.Servers[0].Name != "agent-1_10_1_0_1_31000" || b.Servers[0].Addr != netip.MustParseAddrPort("10.1.0.1:31000") {
		t.Errorf("resolved servers %+v", b.Servers)
	}
	if len(problems) != 1 || problems[0].TaskID != "r.2" || !problems[0].Disabled {
		t.Errorf("problems %v", problems)
	}
}

func TestVhostLabels(t *testing.T) {
	tab, _ := build(t, flagsWith(), mkApp("/web", []int{10000}, map[string]string{"HAPROXY_0_VHOST": "Web.Example.com,Other.Example.com"},
		mkTask("w.1", "10.0.0.1", 31000)))
	b := mustBackend(t, tab, "web_10000")
	if b.Mode != ModeHTTP || tab.Services[0].Mode != ModeHTTP {
		t.Errorf("VHOST makes http mode, got %s", b.Mode)
	}
	eqStrings(t, "HTTP routes", routeNames(tab.HTTP.Routes), []string{"web_10000 web.example.com,other.example.com"})
	eqStrings(t, "HTTPS routes", routeNames(tab.HTTPS.Routes), []string{"web_10000 web.example.com", "web_10000 other.example.com"})
	if got := tab.AppID.Route("/WEB"); got != b {
		t.Errorf("app-id route = %v", got)
	}
	for _, host := range []string{"web.example.com", "OTHER.example.com:8080"} {
		if d := tab.HTTP.Route(host, "/", nil); d.Action != Forward || d.Backend != b {
			t.Errorf("Route(%s) = %+v", host, d)
		}
	}
	if d := tab.HTTP.Route("nope.example.com", "/", nil); d.Action != NoRoute {
		t.Errorf("unknown host: %+v", d)
	}
	if d := tab.HTTPS.Route("Web.Example.Com", "/x", nil); d.Backend != b {
		t.Errorf("SNI route %+v", d)
	}
}

func TestPathAndWeight(t *testing.T) {
	mk := func(id string, port int, labels map[string]string) cluster.App {
		labels["HAPROXY_0_VHOST"] = "shop.example.com"
		return mkApp(id, []int{port}, labels, mkTask(id+".1", "10.0.0.1", port+20000))
	}
	tab, problems := build(t, flagsWith(),
		mk("/root", 10110, map[string]string{}),
		mk("/api", 10111, map[string]string{"HAPROXY_0_PATH": "/api"}),
		mk("/apiv2", 10112, map[string]string{"HAPROXY_0_PATH": "/api/v2", "HAPROXY_0_BACKEND_WEIGHT": "10"}),
		mk("/zero", 10113, map[string]string{"HAPROXY_0_PATH": "-i /Z /y", "HAPROXY_0_BACKEND_WEIGHT": "0"}),
		mk("/last", 10114, map[string]string{"HAPROXY_0_BACKEND_WEIGHT": "-3"}),
	)
	if len(problems) > 0 {
		t.Fatalf("problems %v", problems)
	}
	eqStrings(t, "route order", routeNames(tab.HTTP.Routes), []string{
		"apiv2_10112 shop.example.com /api/v2",
		"api_10111 shop.example.com /api",
		"zero_10113 shop.example.com /Z /y",
		"root_10110 shop.example.com",
		"last_10114 shop.example.com",
	})
	for path, want := range map[string]string{"/api/v2/x": "apiv2_10112", "/api/x": "api_10111", "/z/1": "zero_10113",
		"/Y": "zero_10113", "/": "root_10110"} {
		if d := tab.HTTP.Route("shop.example.com", path, nil); d.Backend == nil || d.Backend.Name != want {
			t.Errorf("path %s → %+v, want %s", path, d.Backend, want)
		}
	}
	if !tab.HTTP.Routes[2].Paths[0].IgnoreCase {
		t.Error("-i not applied")
	}
}

func TestModeLabels(t *testing.T) {
	pi := func(i int) *int { return &i }
	tests := []struct {
		name   string
		labels map[string]string
		checks []cluster.HealthCheck
		mode   Mode
		check  CheckType // "" = none
		appID  bool
	}{
		{"default tcp", nil, nil, ModeTCP, "", false},
		{"MODE=http", map[string]string{"HAPROXY_0_MODE": "HTTP"}, nil, ModeHTTP, "", true},
		{"HTTP check makes http", nil, []cluster.HealthCheck{{Protocol: "HTTP", PortIndex: pi(0), IntervalSeconds: 1, TimeoutSeconds: 1}}, ModeHTTP, CheckHTTP, true},
		{"MODE=tcp beats HTTP check", map[string]string{"HAPROXY_0_MODE": "tcp"}, []cluster.HealthCheck{{Protocol: "HTTP", PortIndex: pi(0)}}, ModeTCP, CheckTCP, false},
		{"MESOS_HTTP stays tcp", nil, []cluster.HealthCheck{{Protocol: "MESOS_HTTP", PortIndex: pi(0)}}, ModeTCP, CheckTCP, false},
		{"TCP check on vhost", map[string]string{"HAPROXY_0_VHOST": "x.com"}, []cluster.HealthCheck{{Protocol: "TCP", PortIndex: pi(0)}}, ModeHTTP, CheckTCP, true},
		{"COMMAND with portIndex on http", map[string]string{"HAPROXY_0_MODE": "http"}, []cluster.HealthCheck{{Protocol: "COMMAND", PortIndex: pi(0)}}, ModeHTTP, CheckHTTP, true},
		{"COMMAND without portIndex applies to nothing", nil, []cluster.HealthCheck{{Protocol: "COMMAND"}}, ModeTCP, "", false},
		{"check for another port", nil, []cluster.HealthCheck{{Protocol: "HTTP", PortIndex: pi(1)}}, ModeTCP, "", false},
		{"check with explicit port applies to all", nil, []cluster.HealthCheck{{Protocol: "HTTP", PortIndex: pi(1)}, {Protocol: "TCP", Port: 8081}}, ModeTCP, CheckTCP, false},
		{"borrowed HTTP check forces http even over MODE=tcp", map[string]string{"HAPROXY_0_MODE": "tcp", "HAPROXY_0_BACKEND_HEALTHCHECK_PORT_INDEX": "1"},
			[]cluster.HealthCheck{{Protocol: "MESOS_HTTP", PortIndex: pi(1)}}, ModeHTTP, CheckHTTP, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := mkApp("/m", []int{10000, 10001}, tt.labels, mkTask("m.1", "10.0.0.1", 31000, 31001))
			app.HealthChecks = tt.checks
			tab, problems := build(t, flagsWith(), app)
			if d := disabled(problems); len(d) > 0 {
				t.Fatalf("problems %v", d)
			}
			b := mustBackend(t, tab, "m_10000")
			if b.Mode != tt.mode {
				t.Errorf("mode %s, want %s", b.Mode, tt.mode)
			}
			var ct CheckType
			if b.HealthCheck != nil {
				ct = b.HealthCheck.Type
			}
			if ct != tt.check {
				t.Errorf("check %q, want %q", ct, tt.check)
			}
			if got := tab.AppID.Route("/m") == b; got != tt.appID {
				t.Errorf("app-id route to port 0: %v, want %v", got, tt.appID)
			}
			if (b.HTTP != nil) != (tt.mode == ModeHTTP) {
				t.Errorf("HTTP options %+v in mode %s", b.HTTP, b.Mode)
			}
		})
	}
}

func TestHealthCheckPortIndex(t *testing.T) {
	pi := 1
	mk := func(idx string) cluster.App {
		a := mkApp("/hcidx", []int{10240, 10241}, map[string]string{"HAPROXY_0_BACKEND_HEALTHCHECK_PORT_INDEX": idx},
			mkTask("t.1", "10.0.0.1", 31240, 31241), mkTask("t.2", "10.0.0.1", 31250, 31239))
		a.HealthChecks = []cluster.HealthCheck{{Protocol: "HTTP", Path: "/health", PortIndex: &pi, IntervalSeconds: 3, TimeoutSeconds: 5, MaxConsecutiveFailures: 2}}
		return a
	}
	tab, _ := build(t, flagsWith(), mk("1"))
	b := mustBackend(t, tab, "hcidx_10240")
	if b.HealthCheck == nil || b.HealthCheck.Path != "/health" || b.Mode != ModeHTTP {
		t.Fatalf("borrowed check %+v mode %s", b.HealthCheck, b.Mode)
	}
	// Each server is checked on its own task's port 1 (Marathon-LB would
	// pair by sorted position and check 31240's task on 31239).
	for _, s := range b.Servers {
		want := map[string]int{"t.1": 31241, "t.2": 31239}[s.TaskID]
		if s.CheckPort != want {
			t.Errorf("%s check port %d, want %d", s.TaskID, s.CheckPort, want)
		}
	}
	if s := mustBackend(t, tab, "hcidx_10241").Servers[0]; s.CheckPort != 0 {
		t.Errorf("port 1 has its own check on its own port, got check port %d", s.CheckPort)
	}
	tab, _ = build(t, flagsWith(), mk("7"))
	if b := mustBackend(t, tab, "hcidx_10240"); b.HealthCheck != nil {
		t.Errorf("out-of-range index borrowed %+v", b.HealthCheck)
	}
	tab, problems := build(t, flagsWith(), mk("one"))
	eqStrings(t, "bad index", disabled(problems), []string{"/hcidx/0/HAPROXY_0_BACKEND_HEALTHCHECK_PORT_INDEX"})
	eqStrings(t, "other port still routed", backendNames(tab), []string{"hcidx_10241"})
}

func TestListenerLabels(t *testing.T) {
	tests := []struct {
		name   string
		labels map[string]string
		listen string
		cert   string
		opts   string
	}{
		{"defaults", nil, "*:10130", "", ""},
		{"PORT", map[string]string{"HAPROXY_0_PORT": " 8443 "}, "*:8443", "", ""},
		{"BIND_ADDR v4", map[string]string{"HAPROXY_0_BIND_ADDR": "127.0.0.1"}, "127.0.0.1:10130", "", ""},
		{"BIND_ADDR v6 brackets", map[string]string{"HAPROXY_0_BIND_ADDR": "[::1]"}, "[::1]:10130", "", ""},
		{"BIND_ADDR star", map[string]string{"HAPROXY_0_BIND_ADDR": "*"}, "*:10130", "", ""},
		{"SSL_CERT and BIND_OPTIONS", map[string]string{"HAPROXY_0_SSL_CERT": "/etc/ssl/tls.pem", "HAPROXY_0_BIND_OPTIONS": "alpn h2,http/1.1"},
			"*:10130", "/etc/ssl/tls.pem", "alpn h2,http/1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, problems := build(t, flagsWith(), mkApp("/tls", []int{10130}, tt.labels, mkTask("t.1", "10.0.0.1", 31130)))
			if len(problems) > 0 || len(tab.Services) != 1 {
				t.Fatalf("problems %v", problems)
			}
			s := tab.Services[0]
			if s.Listen.String() != tt.listen || s.SSLCert != tt.cert || s.BindOptions != tt.opts {
				t.Errorf("service %s %q %q", s.Listen, s.SSLCert, s.BindOptions)
			}
			if tab.Service(s.Listen) != s || s.Backend.Name != "tls_"+strings.TrimPrefix(tt.listen[strings.LastIndex(tt.listen, ":")+1:], "") {
				t.Errorf("lookup/name: %s", s.Backend.Name)
			}
			if len(s.Backend.Servers) != 1 || s.Backend.Servers[0].HostPort != "10.0.0.1:31130" {
				t.Errorf("PORT must not change how tasks attach: %v", serverAddrs(s.Backend))
			}
		})
	}
	tab, _ := build(t, flagsWith(), mkApp("/tls", []int{10130}, map[string]string{"HAPROXY_0_BIND_ADDR": "127.0.0.1"}, mkTask("t.1", "10.0.0.1", 31130)))
	if tab.Lookup(netip.MustParseAddrPort("127.0.0.1:10130")) == nil || tab.Lookup(netip.MustParseAddrPort("10.9.9.9:10130")) != nil {
		t.Error("Lookup by destination")
	}
}

func TestBackendLabels(t *testing.T) {
	tab, problems := build(t, flagsWith(),
		mkApp("/sticky", []int{10121}, map[string]string{"HAPROXY_0_STICKY": "true", "HAPROXY_0_BALANCE": "leastconn", "HAPROXY_0_MODE": "http"},
			mkTask("s.1", "10.0.0.1", 31121), mkTask("s.2", "10.0.0.2", 31122)),
		mkApp("/hdr", []int{10122}, map[string]string{"HAPROXY_0_BALANCE": "hdr(host)"}, mkTask("h.1", "10.0.0.1", 31123)),
		mkApp("/param", []int{10123}, map[string]string{"HAPROXY_0_BALANCE": "url_param userid"}, mkTask("p.1", "10.0.0.1", 31124)),
		mkApp("/web", []int{10124}, map[string]string{
			"HAPROXY_0_VHOST": "web.example.com", "HAPROXY_0_USE_HSTS": "true",
			"HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH": "/pp", "HAPROXY_0_HTTP_BACKEND_REVPROXY_PATH": "/legacy",
			"HAPROXY_0_HTTP_BACKEND_REDIR": "/home", "HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL": "10.1.0.0/16 192.168.1.5 172.16.0.0/255.240.0.0 ::1",
		}, mkTask("w.1", "10.0.0.1", 31125)),
	)
	if d := disabled(problems); len(d) > 0 {
		t.Fatalf("problems %v", d)
	}
	s := mustBackend(t, tab, "sticky_10121")
	if !s.Sticky || s.Balance != "leastconn" || s.Servers[0].Cookie != "479927f5e0" || s.Servers[1].Cookie != "b7c2cb14d3" {
		t.Errorf("sticky backend %+v", s)
	}
	if h := s.HealthCheck; h == nil || !h.Implicit || h.Type != CheckTCP || h.Interval != 2*time.Second || h.Fall != 3 {
		t.Errorf("sticky servers are checked with HAProxy defaults; got %+v", h)
	}
	if b := mustBackend(t, tab, "hdr_10122"); b.Balance != "hdr(host)" {
		t.Errorf("balance %q", b.Balance)
	}
	if b := mustBackend(t, tab, "param_10123"); b.Balance != "url_param userid" {
		t.Errorf("balance %q", b.Balance)
	}
	w := mustBackend(t, tab, "web_10124")
	want := &HTTPOptions{HSTS: true, ProxyPassPath: "/pp", ProxyPassHost: "web.example.com", RevProxyPath: "/legacy",
		RevProxyHost: "web.example.com", RootRedirect: &RootRedirect{Hosts: []string{"web.example.com"}, Location: "/home"}}
	if !reflect.DeepEqual(w.HTTP, want) {
		t.Errorf("HTTP options %+v, want %+v", w.HTTP, want)
	}
	eqStrings(t, "vhosts", w.Vhosts, []string{"web.example.com"})
	var nets []string
	for _, p := range w.AllowedNetworks {
		nets = append(nets, p.String())
	}
	eqStrings(t, "networks", nets, []string{"10.1.0.0/16", "192.168.1.5/32", "172.16.0.0/12", "::1/128"})
}

func TestAuthLabel(t *testing.T) {
	tab, problems := build(t, flagsWith(), mkApp("/private", []int{10105},
		map[string]string{"HAPROXY_0_VHOST": "private.example.com", "HAPROXY_0_AUTH": "my realm:alice:$6$salt$hash"},
		mkTask("p.1", "10.0.0.1", 31105)))
	if len(problems) > 0 {
		t.Fatalf("problems %v", problems)
	}
	b := mustBackend(t, tab, "private_10105")
	want := &BasicAuth{Realm: "my realm", Userlist: &Userlist{Name: "user_private_10105", Users: []User{{Name: "alice", Password: "$6$salt$hash"}}}}
	if !reflect.DeepEqual(b.Auth, want) {
		t.Errorf("auth %+v", b.Auth)
	}
	ok := func(u *Userlist) bool { return u == b.Auth.Userlist }
	if d := tab.HTTP.Route("private.example.com", "/", nil); d.Action != Challenge || d.Realm != "my realm" {
		t.Errorf("no credentials on :80: %+v", d)
	}
	if d := tab.HTTP.Route("private.example.com", "/", ok); d.Action != Forward || d.Backend != b {
		t.Errorf("credentials on :80: %+v", d)
	}
	if d := tab.HTTPS.Route("private.example.com", "/", nil); d.Action != Challenge {
		t.Errorf("no credentials on :443: %+v", d)
	}
	// The service port and the app-id frontend do not ask (Marathon-LB).
	if tab.AppID.Route("/private") != b {
		t.Error("app-id route")
	}

	_, problems = build(t, flagsWith(), mkApp("/p", []int{1}, map[string]string{"HAPROXY_0_VHOST": "p.com", "HAPROXY_0_AUTH": "r:u:plaintext"},
		mkTask("p.1", "10.0.0.1", 2)))
	if w := warnings(problems); len(w) != 1 || !strings.Contains(w[0], "not a crypt(3) hash") {
		t.Errorf("warnings %v", w)
	}
	_, problems = build(t, flagsWith(), mkApp("/p", []int{1}, map[string]string{"HAPROXY_0_AUTH": "r:u:$1$x$y"}, mkTask("p.1", "10.0.0.1", 2)))
	if w := warnings(problems); len(w) != 1 || !strings.Contains(w[0], "no effect without HAPROXY_0_VHOST") {
		t.Errorf("warnings %v", w)
	}
}

// TestMalformedLabels checks that each malformed label disables its own
// service only — unlike Marathon-LB, where one bad label stops all apps.
func TestMalformedLabels(t *testing.T) {
	bad := map[string]string{
		"HAPROXY_0_AUTH":                           "realm:user",
		"HAPROXY_0_PORT":                           "abc",
		"HAPROXY_0_BACKEND_WEIGHT":                 "heavy",
		"HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL":    "10.0.0.0/8 10.1.2.3/99",
		"HAPROXY_0_BACKEND_HEALTHCHECK_PORT_INDEX": "x",
		"HAPROXY_0_MODE":                           "udp",
		"HAPROXY_0_BALANCE":                        "fastest",
		"HAPROXY_0_BIND_ADDR":                      "localhost",
		"HAPROXY_0_PATH":                           "-f /etc/paths",
	}
	extra := map[string]map[string]string{
		"HAPROXY_0_PATH": {"HAPROXY_0_VHOST": "x.com"},
	}
	for label, value := range bad {
		t.Run(label, func(t *testing.T) {
			labels := map[string]string{label: value, "HAPROXY_1_VHOST": "ok.example.com"}
			for k, v := range extra[label] {
				labels[k] = v
			}
			tab, problems := build(t, flagsWith(),
				mkApp("/good", []int{10000}, nil, mkTask("g.1", "10.0.0.1", 31000)),
				mkApp("/bad", []int{10001, 10002}, labels, mkTask("b.1", "10.0.0.2", 31001, 31002)),
				mkApp("/zgood", []int{10003}, map[string]string{"HAPROXY_0_VHOST": "z.example.com"}, mkTask("z.1", "10.0.0.3", 31003)),
			)
			eqStrings(t, "disabled", disabled(problems), []string{"/bad/0/" + label})
			eqStrings(t, "backends", backendNames(tab), []string{"bad_10002", "good_10000", "zgood_10003"})
			if !strings.Contains(problems[0].String(), "/bad port index 0 (service port 10001) label "+label) {
				t.Errorf("problem text %q", problems[0])
			}
		})
	}
	// Other malformed values.
	for _, tt := range []struct{ label, value string }{
		{"HAPROXY_0_AUTH", "a:b:c:d"}, {"HAPROXY_0_AUTH", ":user:$6$x"}, {"HAPROXY_0_AUTH", "realm::$6$x"},
		{"HAPROXY_0_PORT", "0"}, {"HAPROXY_0_PORT", "70000"}, {"HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL", "10.0.0.0/255.0.255.0"},
		{"HAPROXY_0_VHOST", " , "},
	} {
		_, problems := build(t, flagsWith(), mkApp("/bad", []int{10001}, map[string]string{tt.label: tt.value}, mkTask("b.1", "10.0.0.2", 31001)))
		eqStrings(t, tt.label+"="+tt.value, disabled(problems), []string{"/bad/0/" + tt.label})
	}
	// A VHOST on an explicitly tcp service cannot be routed by Host.
	_, problems := build(t, flagsWith(), mkApp("/t", []int{1}, map[string]string{"HAPROXY_0_VHOST": "t.com", "HAPROXY_0_MODE": "tcp"}, mkTask("t.1", "10.0.0.1", 2)))
	eqStrings(t, "VHOST+tcp", disabled(problems), []string{"/t/0/HAPROXY_0_MODE"})
	// Problems are only reported for services of our groups.
	_, problems = build(t, flagsWith(), mkApp("/other", []int{1}, map[string]string{"HAPROXY_GROUP": "internal", "HAPROXY_0_PORT": "x"}, mkTask("o.1", "10.0.0.1", 2)))
	if len(problems) != 0 {
		t.Errorf("problems of another group's app: %v", problems)
	}
}

func TestIgnoredLabelWarnings(t *testing.T) {
	_, problems := build(t, flagsWith(), mkApp("/w", []int{10000}, map[string]string{
		"HAPROXY_0_HTTP_FRONTEND_ACL": "  acl x hdr_end(host) -i .example.com\n",
		"HAPROXY_0_FROBNICATE":        "1",
		"HAPROXY_3_VHOST":             "x.com",
		"HAPROXY_SOMETHING":           "1",
		"HAPROXY_0_USE_HSTS":          "true",
		"HAPROXY_DEPLOYMENT_COLOUR":   "blue",
		"OTHER_LABEL":                 "ignored silently",
	}, mkTask("w.1", "10.0.0.1", 31000)))
	got := warnings(problems)
	for _, want := range []string{
		"label HAPROXY_0_HTTP_FRONTEND_ACL: HAProxy template overrides are not supported",
		"label HAPROXY_0_FROBNICATE: unknown label",
		"label HAPROXY_3_VHOST: the app has no service port 3",
		"label HAPROXY_SOMETHING: unknown label",
		"label HAPROXY_0_USE_HSTS: has no effect in tcp mode",
	} {
		if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("missing warning %q in %q", want, got)
		}
	}
	if len(got) != 5 || len(disabled(problems)) != 0 {
		t.Errorf("warnings %q", got)
	}
}

func TestRedirectToHTTPS(t *testing.T) {
	tab, _ := build(t, flagsWith(),
		mkApp("/single", []int{10103}, map[string]string{"HAPROXY_0_VHOST": "secure.example.com", "HAPROXY_0_REDIRECT_TO_HTTPS": "true"},
			mkTask("s.1", "10.0.0.1", 31103)),
		mkApp("/withpath", []int{10104}, map[string]string{"HAPROXY_0_VHOST": "p.example.com", "HAPROXY_0_PATH": "/x",
			"HAPROXY_0_REDIRECT_TO_HTTPS": "yes"}, mkTask("p.1", "10.0.0.1", 31104)),
		mkApp("/multi", []int{10105}, map[string]string{"HAPROXY_0_VHOST": "m1.example.com,m2.example.com",
			"HAPROXY_0_REDIRECT_TO_HTTPS": "true"}, mkTask("m.1", "10.0.0.1", 31105)),
	)
	// Only a single vhost without path keeps its use_backend on :80
	// (unreachable, since redirects run first).
	eqStrings(t, ":80 routes", routeNames(tab.HTTP.Routes), []string{"single_10103 secure.example.com"})
	if b := mustBackend(t, tab, "multi_10105"); !b.HTTP.RedirectToHTTPS {
		t.Error("RedirectToHTTPS not recorded on the backend")
	}
	if len(tab.HTTP.Redirects) != 3 {
		t.Fatalf("redirects %+v", tab.HTTP.Redirects)
	}
	for _, r := range []struct{ host, path string }{{"secure.example.com", "/"}, {"p.example.com", "/x/y"}, {"m2.example.com", "/"}} {
		if d := tab.HTTP.Route(r.host, r.path, nil); d.Action != RedirectHTTPS {
			t.Errorf("%s%s: %+v", r.host, r.path, d)
		}
		if d := tab.HTTPS.Route(r.host, r.path, nil); d.Action != Forward {
			t.Errorf("https %s%s: %+v", r.host, r.path, d)
		}
	}
	if d := tab.HTTP.Route("p.example.com", "/other", nil); d.Action != NoRoute {
		t.Errorf("path outside the redirect: %+v", d)
	}
}

func TestRulePhases(t *testing.T) {
	// /a (weight 10, path /a) comes first among use_backend rules, but /b's
	// auth on the same host is an http-request rule and runs before any
	// use_backend: HAProxy challenges requests that /a would serve.
	tab, _ := build(t, flagsWith(),
		mkApp("/a", []int{10001}, map[string]string{"HAPROXY_0_VHOST": "h.com", "HAPROXY_0_PATH": "/a", "HAPROXY_0_BACKEND_WEIGHT": "10"},
			mkTask("a.1", "10.0.0.1", 1)),
		mkApp("/b", []int{10002}, map[string]string{"HAPROXY_0_VHOST": "h.com", "HAPROXY_0_AUTH": "r:u:$6$x"},
			mkTask("b.1", "10.0.0.1", 2)),
	)
	if d := tab.HTTP.Route("h.com", "/a", nil); d.Action != Challenge {
		t.Errorf("auth phase first: %+v", d)
	}
	if d := tab.HTTP.Route("h.com", "/a", func(*Userlist) bool { return true }); d.Backend == nil || d.Backend.Name != "a_10001" {
		t.Errorf("then use_backend order: %+v", d)
	}
}

func TestACLNameMerge(t *testing.T) {
	// Two ports of one app whose first vhost is the same share the ACL
	// host_a_com_x, which HAProxy ORs: port 0's rule also matches b.com.
	tab, _ := build(t, flagsWith(), mkApp("/x", []int{10000, 10001},
		map[string]string{"HAPROXY_0_VHOST": "a.com", "HAPROXY_1_VHOST": "a.com,b.com"}, mkTask("x.1", "10.0.0.1", 1, 2)))
	eqStrings(t, "routes", routeNames(tab.HTTP.Routes), []string{"x_10000 a.com,a.com,b.com", "x_10001 a.com,a.com,b.com"})
	if d := tab.HTTP.Route("b.com", "/", nil); d.Backend == nil || d.Backend.Name != "x_10000" {
		t.Errorf("b.com → %+v", d)
	}
	// Only the first http port of an app is reachable by app id.
	if b := tab.AppID.Route("/x"); b == nil || b.Name != "x_10000" {
		t.Errorf("app id → %v", b)
	}
}

func TestHAProxyMap(t *testing.T) {
	f := flagsWith()
	f.HAProxyMap = true
	tab, _ := build(t, f,
		mkApp("/m1", []int{10310}, map[string]string{"HAPROXY_0_VHOST": "m1.example.com,m1b.example.com", "HAPROXY_0_BACKEND_WEIGHT": "50"},
			mkTask("m1.1", "10.0.0.1", 1)),
		mkApp("/m2", []int{10311}, map[string]string{"HAPROXY_0_VHOST": "m2.example.com", "HAPROXY_0_PATH": "/p"}, mkTask("m2.1", "10.0.0.1", 2)),
		mkApp("/m3", []int{10312}, map[string]string{"HAPROXY_0_VHOST": "m3.example.com", "HAPROXY_0_BACKEND_WEIGHT": "-5"}, mkTask("m3.1", "10.0.0.1", 3)),
	)
	// The first map user gets weight -1 whatever its label says; later
	// map users keep theirs but contribute no rule; negative-weight rules
	// after the catch-all are never reached.
	eqStrings(t, "routes", routeNames(tab.HTTP.Routes), []string{"m2_10311 m2.example.com /p", "<map>"})
	if d := tab.HTTP.Route("M3.example.com:80", "/", nil); d.Backend == nil || d.Backend.Name != "m3_10312" {
		t.Errorf("map hit: %+v", d)
	}
	if d := tab.HTTP.Route("m2.example.com", "/other", nil); d.Action != NoRoute {
		t.Errorf("map miss: %+v", d)
	}
	if b := tab.AppID.Route("/m2"); b == nil || b.Name != "m2_10311" || len(tab.AppID.Routes) != 0 {
		t.Errorf("app-id map %v", tab.AppID.Map)
	}
}

func TestSharedFrontendFlags(t *testing.T) {
	app := mkApp("/web", []int{80}, map[string]string{"HAPROXY_0_VHOST": "web.example.com", "HAPROXY_0_SSL_CERT": "/w.pem"},
		mkTask("w.1", "10.0.0.1", 31000))
	tab, problems := build(t, flagsWith(), app)
	eqStrings(t, "port 80 conflicts with the HTTP frontend", disabled(problems), []string{"/web/0/"})
	if len(tab.Services) != 0 {
		t.Error("conflicting service routed")
	}

	f := flagsWith()
	f.BindHTTPHTTPS = false
	tab, problems = build(t, f, app)
	if len(problems) != 0 || tab.HTTP != nil || tab.HTTPS != nil || tab.AppID == nil || len(tab.Services) != 1 {
		t.Errorf("--dont-bind-http-https: %+v %v", tab, problems)
	}
	if tab.AppID.Route("/web") == nil {
		t.Error("app-id frontend stays with --dont-bind-http-https")
	}

	f = flagsWith()
	f.GroupHTTPSByVhost = true
	f.SSLCerts = []string{"/a.pem", "/b.pem"}
	app2 := mkApp("/other", []int{10001}, map[string]string{"HAPROXY_0_VHOST": "other.example.com"}, mkTask("o.1", "10.0.0.1", 1))
	app.PortDefinitions[0].Port = 10000
	tab, _ = build(t, f, app, app2)
	want := map[string]VhostTLS{
		"web.example.com":   {Certs: []string{"/w.pem"}},
		"other.example.com": {Certs: []string{"/a.pem", "/b.pem"}},
	}
	if !reflect.DeepEqual(tab.HTTPS.Vhosts, want) || !tab.HTTPS.GroupByVhost {
		t.Errorf("vhost TLS %+v", tab.HTTPS.Vhosts)
	}
	if d := tab.HTTPS.Route("unknown.example.com", "/", nil); d.Action != NoRoute {
		t.Errorf("unknown SNI: %+v", d)
	}
}

func TestBindConflicts(t *testing.T) {
	tab, problems := build(t, flagsWith(),
		mkApp("/a", []int{10000}, nil, mkTask("a.1", "10.0.0.1", 1)),
		mkApp("/b", []int{10000}, nil, mkTask("b.1", "10.0.0.1", 2)),
		mkApp("/c", []int{10001, 10002}, map[string]string{"HAPROXY_1_PORT": "10001"}, mkTask("c.1", "10.0.0.1", 3, 4)),
		mkApp("/d", []int{10003, 10003}, nil, mkTask("d.1", "10.0.0.1", 5, 6)),
	)
	eqStrings(t, "backends", backendNames(tab), []string{"a_10000", "c_10001", "d_10003"})
	eqStrings(t, "disabled", disabled(problems), []string{"/b/0/", "/c/1/", "/d/1/"})
}

func TestZeroDowntimeDeployment(t *testing.T) {
	pi := 0
	mk := func(id, colour, started string, instances int, extra map[string]string, tasks ...cluster.AppTask) cluster.App {
		labels := map[string]string{"HAPROXY_DEPLOYMENT_GROUP": "nginx", "HAPROXY_DEPLOYMENT_COLOUR": colour,
			"HAPROXY_0_PORT": "10000", "HAPROXY_DEPLOYMENT_ALT_PORT": "10001"}
		if started != "" {
			labels["HAPROXY_DEPLOYMENT_STARTED_AT"] = started
		}
		for k, v := range extra {
			labels[k] = v
		}
		port := 10000
		if colour == "blue" {
			port = 10001
		}
		for i := range tasks {
			tasks[i].HealthCheckResults = []cluster.HealthCheckResult{{Alive: true}}
		}
		a := mkApp(id, []int{port}, labels, tasks...)
		a.Instances = instances
		a.HealthChecks = []cluster.HealthCheck{{Protocol: "TCP", PortIndex: &pi, IntervalSeconds: 3, MaxConsecutiveFailures: 10}}
		return a
	}
	green := mk("/nginx-green", "green", "2016-02-01T14:13:42.499089", 3, nil,
		mkTask("green.b", "10.0.6.25", 2), mkTask("green.a", "10.0.6.25", 1), mkTask("green.c", "10.0.6.25", 3))
	blue := mk("/nginx-blue", "blue", "2016-02-01T14:57:54.371005", 2, nil,
		mkTask("blue.a", "10.0.1.147", 4), mkTask("blue.b", "10.0.1.147", 5))

	tab, problems := build(t, flagsWith(), green, blue)
	if len(problems) != 0 {
		t.Fatalf("problems %v", problems)
	}
	b := mustBackend(t, tab, "nginx_10000")
	// Two healthy new tasks, target 1: drain min(3, 2, 2+3-1) = 2 old tasks, by task id.
	eqStrings(t, "servers", serverAddrs(b), []string{"10.0.1.147:4", "10.0.1.147:5",
		"10.0.6.25:1 draining", "10.0.6.25:2 draining", "10.0.6.25:3"})
	if len(tab.Services) != 1 || b.AppID != "/nginx" {
		t.Errorf("merged services %v", backendNames(tab))
	}

	// Hybrid deployment: target from the new app's TARGET_INSTANCES.
	hybrid := map[string]string{"HAPROXY_DEPLOYMENT_NEW_INSTANCES": "2", "HAPROXY_DEPLOYMENT_TARGET_INSTANCES": "4"}
	blueH := mk("/nginx-blue", "blue", "2016-02-01T14:57:54", 2, hybrid, mkTask("blue.a", "10.0.1.147", 4), mkTask("blue.b", "10.0.1.147", 5))
	tab, _ = build(t, flagsWith(), blueH, green)
	var drained int
	for _, s := range mustBackend(t, tab, "nginx_10000").Servers {
		if s.Draining {
			drained++
		}
	}
	if drained != 1 { // min(3, 2, 2+3-4)
		t.Errorf("hybrid drained %d, want 1", drained)
	}

	// A bad target drains nothing and is reported.
	blueH.Labels["HAPROXY_DEPLOYMENT_TARGET_INSTANCES"] = "lots"
	tab, problems = build(t, flagsWith(), green, blueH)
	for _, s := range mustBackend(t, tab, "nginx_10000").Servers {
		if s.Draining {
			t.Errorf("drained %s with a bad target", s.TaskID)
		}
	}
	if len(problems) != 1 || problems[0].Label != "HAPROXY_DEPLOYMENT_TARGET_INSTANCES" {
		t.Errorf("problems %v", problems)
	}
}

func TestFrameworkName(t *testing.T) {
	f := flagsWith()
	f.FrameworkName = "marathon-lb"
	tab, _ := build(t, f, mkApp("/marathon-lb", []int{10000}, nil, mkTask("l.1", "10.0.0.1", 1)),
		mkApp("/app", []int{10001}, nil, mkTask("a.1", "10.0.0.1", 2)))
	eqStrings(t, "backends", backendNames(tab), []string{"app_10001"})
}

// TestBuildIsPure checks that Build leaves its input alone and that the same
// input gives the same table, which lets every LB instance agree.
func TestBuildIsPure(t *testing.T) {
	green := mkApp("/g", []int{10000}, map[string]string{"HAPROXY_DEPLOYMENT_GROUP": "grp", "HAPROXY_DEPLOYMENT_STARTED_AT": "2020-01-01T00:00:00"},
		mkTask("g.2", "10.0.0.2", 2), mkTask("g.1", "10.0.0.1", 1))
	blue := mkApp("/b", []int{10000}, map[string]string{"HAPROXY_DEPLOYMENT_GROUP": "grp", "HAPROXY_DEPLOYMENT_STARTED_AT": "2020-01-02T00:00:00",
		"HAPROXY_0_VHOST": "x.com", "HAPROXY_0_AUTH": "r:u:$6$h"}, mkTask("b.1", "10.0.0.3", 3))
	st := &cluster.MarathonState{Apps: []cluster.App{green, blue}}
	before, _ := json.Marshal(st)
	f := flagsWith()
	t1, p1 := Build(st, f, HealthCache{})
	t2, p2 := Build(st, f, HealthCache{})
	after, _ := json.Marshal(st)
	if string(before) != string(after) {
		t.Error("Build modified its input")
	}
	if !reflect.DeepEqual(semOf(t1), semOf(t2)) || !reflect.DeepEqual(p1, p2) {
		t.Error("Build is not deterministic")
	}
	empty, _ := Build(nil, f, HealthCache{})
	if empty.AppID == nil || empty.HTTP == nil || len(empty.Services) != 0 {
		t.Errorf("empty snapshot: %+v", empty)
	}
}
