package records

import (
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// Small states built in code, for the behaviours the fixture does not show.

func agentAt(id, ip string) cluster.Agent {
	host := ip
	if strings.Contains(ip, ":") {
		host = "[" + ip + "]"
	}
	return cluster.Agent{ID: id, PID: "slave(1)@" + host + ":5051"}
}

type taskOpt func(*cluster.Task)

func runningTask(id, name, agent string, opts ...taskOpt) cluster.Task {
	t := cluster.Task{ID: id, Name: name, AgentID: agent, State: cluster.TaskRunning,
		Statuses: []cluster.TaskStatus{{State: cluster.TaskRunning, Timestamp: 100}}}
	for _, o := range opts {
		o(&t)
	}
	return t
}

func withPorts(r ...cluster.PortRange) taskOpt { return func(t *cluster.Task) { t.Ports = r } }

func withNetInfo(ips ...string) taskOpt {
	return func(t *cluster.Task) {
		var ni cluster.NetworkInfo
		for _, ip := range ips {
			ni.IPAddresses = append(ni.IPAddresses, cluster.IPAddress{IP: ip})
		}
		t.Statuses[len(t.Statuses)-1].NetworkInfos = []cluster.NetworkInfo{ni}
	}
}

func withDiscovery(name string, ports ...cluster.DiscoveryPort) taskOpt {
	return func(t *cluster.Task) { t.Discovery = &cluster.DiscoveryInfo{Name: name, Ports: ports} }
}

func withHealth(h ...*bool) taskOpt {
	return func(t *cluster.Task) {
		t.Statuses = nil
		for i, v := range h {
			t.Statuses = append(t.Statuses, cluster.TaskStatus{State: cluster.TaskRunning, Timestamp: float64(100 + i), Healthy: v})
		}
	}
}

func boolp(v bool) *bool { return &v }

func marathon(tasks ...cluster.Task) cluster.Framework {
	return cluster.Framework{ID: "fw-marathon", Name: "marathon", PID: "scheduler(1)@10.0.0.1:8080", Active: true, Tasks: tasks}
}

func baseConfig() Config {
	return Config{Domain: "mesos", Masters: []string{"10.0.0.5:5050"}}
}

func baseState(fws ...cluster.Framework) *cluster.MesosState {
	return &cluster.MesosState{
		Leader:     "master@10.0.0.5:5050",
		Agents:     []cluster.Agent{agentAt("a-S0", "10.1.0.1"), agentAt("a-S1", "10.1.0.2"), agentAt("a-S2", "2001:db8::2")},
		Frameworks: fws,
	}
}

// addrStrings is the text of the A and AAAA values of name, or nil.
func addrStrings(tb *Table, name string) []string {
	var out []string
	for _, ip := range append(slices.Clone(tb.A[name]), tb.AAAA[name]...) {
		out = append(out, ip.String())
	}
	return out
}

func srvStrings(tb *Table, name string) []string {
	var out []string
	for _, v := range tb.SRV[name] {
		out = append(out, v.Target+":"+strconv.Itoa(int(v.Port)))
	}
	return out
}

func enumerated(tb *Table) map[string][]Record {
	out := map[string][]Record{}
	for _, f := range tb.Frameworks {
		for _, tk := range f.Tasks {
			out[tk.ID] = tk.Records
		}
	}
	return out
}

// TestMasterRecords uses the cases of Mesos-DNS's TestMasterRecord (spec
// §4.4): masterN follows the masters list, the leader takes its place in it
// or the next index after it.
func TestMasterRecords(t *testing.T) {
	type rr = [3]string // name, value, type
	leaderSRV := func(port string) []rr {
		return []rr{{"_leader._tcp.foo.com.", "leader.foo.com.:" + port, "SRV"}, {"_leader._udp.foo.com.", "leader.foo.com.:" + port, "SRV"}}
	}
	cases := []struct {
		name    string
		masters []string
		leader  string
		want    []rr
		warns   int
	}{
		{"no leader", nil, "", nil, 1},
		{"@", nil, "@", nil, 1},
		{"1@", nil, "1@", nil, 1},
		{"@2", nil, "@2", nil, 1},
		{"no port", nil, "3@4", nil, 1},
		{"leader only", nil, "5@0.0.0.6:7", append([]rr{
			{"leader.foo.com.", "0.0.0.6", "A"}, {"master.foo.com.", "0.0.0.6", "A"}, {"master0.foo.com.", "0.0.0.6", "A"},
		}, leaderSRV("7")...), 0},
		{"IPv6 leader", nil, "5@[2001:db8::1]:7", append([]rr{
			{"leader.foo.com.", "2001:db8::1", "AAAA"}, {"master.foo.com.", "2001:db8::1", "AAAA"}, {"master0.foo.com.", "2001:db8::1", "AAAA"},
		}, leaderSRV("7")...), 0},
		{"single master is the leader", []string{"0.0.0.6:7"}, "5@0.0.0.6:7", append([]rr{
			{"leader.foo.com.", "0.0.0.6", "A"}, {"master.foo.com.", "0.0.0.6", "A"}, {"master0.foo.com.", "0.0.0.6", "A"},
		}, leaderSRV("7")...), 0},
		{"leader not in list", []string{"0.0.0.8:9"}, "5@0.0.0.6:7", append([]rr{
			{"leader.foo.com.", "0.0.0.6", "A"}, {"master.foo.com.", "0.0.0.6", "A"}, {"master.foo.com.", "0.0.0.8", "A"},
			{"master0.foo.com.", "0.0.0.8", "A"}, {"master1.foo.com.", "0.0.0.6", "A"},
		}, leaderSRV("7")...), 0},
		{"duplicate masters", []string{"0.0.0.8:9", "0.0.0.8:9"}, "5@0.0.0.6:7", append([]rr{
			{"leader.foo.com.", "0.0.0.6", "A"}, {"master.foo.com.", "0.0.0.6", "A"}, {"master.foo.com.", "0.0.0.8", "A"},
			{"master0.foo.com.", "0.0.0.8", "A"}, {"master1.foo.com.", "0.0.0.6", "A"},
		}, leaderSRV("7")...), 0},
		{"leader last in list", []string{"0.0.0.8:9", "0.0.0.6:7"}, "5@0.0.0.6:7", append([]rr{
			{"leader.foo.com.", "0.0.0.6", "A"}, {"master.foo.com.", "0.0.0.6", "A"}, {"master.foo.com.", "0.0.0.8", "A"},
			{"master0.foo.com.", "0.0.0.8", "A"}, {"master1.foo.com.", "0.0.0.6", "A"},
		}, leaderSRV("7")...), 0},
		{"leader listed twice", []string{"0.0.0.8:9", "0.0.0.6:7", "0.0.0.6:7"}, "5@0.0.0.6:7", append([]rr{
			{"leader.foo.com.", "0.0.0.6", "A"}, {"master.foo.com.", "0.0.0.6", "A"}, {"master.foo.com.", "0.0.0.8", "A"},
			{"master0.foo.com.", "0.0.0.8", "A"}, {"master1.foo.com.", "0.0.0.6", "A"},
		}, leaderSRV("7")...), 0},
		{"leader in the middle", []string{"0.0.0.8:9", "0.0.0.6:7", "0.0.0.7:0"}, "5@0.0.0.6:7", append([]rr{
			{"leader.foo.com.", "0.0.0.6", "A"}, {"master.foo.com.", "0.0.0.6", "A"}, {"master.foo.com.", "0.0.0.8", "A"},
			{"master.foo.com.", "0.0.0.7", "A"}, {"master0.foo.com.", "0.0.0.8", "A"}, {"master1.foo.com.", "0.0.0.6", "A"},
			{"master2.foo.com.", "0.0.0.7", "A"},
		}, leaderSRV("7")...), 0},
		{"IPv6 master", []string{"0.0.0.8:9", "0.0.0.6:7", "[2001:db8::1]:0"}, "5@0.0.0.6:7", append([]rr{
			{"leader.foo.com.", "0.0.0.6", "A"}, {"master.foo.com.", "0.0.0.6", "A"}, {"master.foo.com.", "0.0.0.8", "A"},
			{"master.foo.com.", "2001:db8::1", "AAAA"}, {"master0.foo.com.", "0.0.0.8", "A"}, {"master1.foo.com.", "0.0.0.6", "A"},
			{"master2.foo.com.", "2001:db8::1", "AAAA"},
		}, leaderSRV("7")...), 0},
		// The leader's address is compared as a string, as in Mesos-DNS: a
		// master listed with another port is a different entry, whose IP
		// is already under master., so it is skipped as a duplicate.
		{"same IP other port", []string{"0.0.0.6:5050"}, "5@0.0.0.6:7", append([]rr{
			{"leader.foo.com.", "0.0.0.6", "A"}, {"master.foo.com.", "0.0.0.6", "A"}, {"master0.foo.com.", "0.0.0.6", "A"},
		}, leaderSRV("7")...), 0},
		// Signpost: host names are resolved instead of crashing.
		{"host-name leader", []string{"0.0.0.8:9"}, "master@leader.example:5050", append([]rr{
			{"leader.foo.com.", "10.9.9.9", "A"}, {"master.foo.com.", "10.9.9.9", "A"}, {"master.foo.com.", "0.0.0.8", "A"},
			{"master0.foo.com.", "0.0.0.8", "A"}, {"master1.foo.com.", "10.9.9.9", "A"},
		}, leaderSRV("5050")...), 0},
		{"host-name master", []string{"leader.example:5050", "0.0.0.8:9"}, "master@leader.example:5050", append([]rr{
			{"leader.foo.com.", "10.9.9.9", "A"}, {"master.foo.com.", "10.9.9.9", "A"}, {"master.foo.com.", "0.0.0.8", "A"},
			{"master0.foo.com.", "10.9.9.9", "A"}, {"master1.foo.com.", "0.0.0.8", "A"},
		}, leaderSRV("5050")...), 0},
		// Signpost: a bad leader costs its own records; the masters are still
		// numbered (Mesos-DNS dropped them all, or crashed on a host name).
		{"garbage leader keeps masters", []string{"0.0.0.8:9", "0.0.0.9:9"}, "garbage", []rr{
			{"master.foo.com.", "0.0.0.8", "A"}, {"master.foo.com.", "0.0.0.9", "A"},
			{"master0.foo.com.", "0.0.0.8", "A"}, {"master1.foo.com.", "0.0.0.9", "A"},
		}, 1},
		{"unresolvable leader", []string{"0.0.0.8:9"}, "master@nowhere.invalid:5050", []rr{
			{"master.foo.com.", "0.0.0.8", "A"}, {"master0.foo.com.", "0.0.0.8", "A"},
		}, 1},
		{"unresolvable master", []string{"nowhere.invalid:5050", "0.0.0.8:9"}, "5@0.0.0.8:9", append([]rr{
			{"leader.foo.com.", "0.0.0.8", "A"}, {"master.foo.com.", "0.0.0.8", "A"}, {"master0.foo.com.", "0.0.0.8", "A"},
		}, leaderSRV("9")...), 1},
	}
	resolve := func(host string) ([]netip.Addr, error) {
		if host == "leader.example" {
			return []netip.Addr{netip.MustParseAddr("10.9.9.9")}, nil
		}
		return nil, errors.New("no such host")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tb, warns := Build(&cluster.MesosState{Leader: tc.leader},
				Config{Domain: "foo.com", Masters: tc.masters, Resolve: resolve})
			if len(warns) != tc.warns {
				t.Errorf("warnings = %v, want %d", warns, tc.warns)
			}
			var got []rr
			for name, ips := range tb.A {
				for _, ip := range ips {
					got = append(got, rr{name, ip.String(), "A"})
				}
			}
			for name, ips := range tb.AAAA {
				for _, ip := range ips {
					got = append(got, rr{name, ip.String(), "AAAA"})
				}
			}
			for name := range tb.SRV {
				for _, v := range srvStrings(tb, name) {
					got = append(got, rr{name, v, "SRV"})
				}
			}
			cmp := func(a, b rr) int { return strings.Compare(a[0]+" "+a[1]+" "+a[2], b[0]+" "+b[1]+" "+b[2]) }
			slices.SortFunc(got, cmp)
			want := slices.Clone(tc.want)
			slices.SortFunc(want, cmp)
			if !slices.Equal(got, want) {
				t.Errorf("got  %v\nwant %v", got, want)
			}
		})
	}
}

// TestHealthFilter: with HealthFilter, a task whose latest status (by
// timestamp, among all statuses) says unhealthy gets no records and no
// enumerate entry; without it, Build behaves like Mesos-DNS and publishes it.
func TestHealthFilter(t *testing.T) {
	st := baseState(marathon(
		runningTask("ok.1", "ok", "a-S0", withHealth(boolp(true))),
		runningTask("nocheck.1", "nocheck", "a-S0", withHealth(nil)),
		runningTask("sick.1", "sick", "a-S0", withHealth(boolp(true), boolp(false)), withPorts(cluster.PortRange{Begin: 80, End: 80})),
		runningTask("recovered.1", "recovered", "a-S1", withHealth(boolp(false), boolp(true))),
		// Statuses out of order: the highest timestamp decides, not the
		// position.
		runningTask("late.1", "late", "a-S1", func(t *cluster.Task) {
			t.Statuses = []cluster.TaskStatus{
				{State: cluster.TaskRunning, Timestamp: 300, Healthy: boolp(false)},
				{State: cluster.TaskRunning, Timestamp: 200, Healthy: boolp(true)},
			}
		}),
		// A newer unhealthy status in another state still counts.
		runningTask("killing.1", "killing", "a-S1", func(t *cluster.Task) {
			t.Statuses = []cluster.TaskStatus{
				{State: cluster.TaskRunning, Timestamp: 100, Healthy: boolp(true)},
				{State: cluster.TaskKilling, Timestamp: 200, Healthy: boolp(false)},
			}
		}),
	))
	for _, filter := range []bool{true, false} {
		t.Run("filter="+strconv.FormatBool(filter), func(t *testing.T) {
			cfg := baseConfig()
			cfg.HealthFilter, cfg.PTROn = filter, true
			tb, warns := Build(st, cfg)
			if len(warns) > 0 {
				t.Fatal(warns)
			}
			enum := enumerated(tb)
			for _, tc := range []struct {
				name      string
				unhealthy bool
			}{{"ok", false}, {"nocheck", false}, {"sick", true}, {"recovered", false}, {"late", true}, {"killing", true}} {
				hidden := filter && tc.unhealthy
				_, listed := enum[tc.name+".1"]
				has := len(addrStrings(tb, tc.name+".marathon.mesos.")) > 0
				hasSlave := len(addrStrings(tb, tc.name+".marathon.slave.mesos.")) > 0
				if has == hidden || hasSlave == hidden || listed == hidden {
					t.Errorf("%s: A=%v slave-A=%v enumerated=%v, want all %v", tc.name, has, hasSlave, listed, !hidden)
				}
			}
			if srv := tb.SRV["_sick._tcp.marathon.mesos."]; (len(srv) == 0) != filter {
				t.Errorf("_sick._tcp SRV = %v with filter=%v", srv, filter)
			}
			// The PTR for the agent lists only published tasks.
			ptr := tb.PTR["1.0.1.10.in-addr.arpa."]
			if slices.Contains(ptr, "sick-"+HashID("sick.1")+"-s0.marathon.mesos.") == filter {
				t.Errorf("PTR %v with filter=%v", ptr, filter)
			}
		})
	}
}

// TestBadObjects: one bad object costs only its own records, with a warning
// naming it; Mesos-DNS would reject the whole state or crash instead.
func TestBadObjects(t *testing.T) {
	resolve := func(host string) ([]netip.Addr, error) {
		switch host {
		case "master.example":
			return []netip.Addr{netip.MustParseAddr("10.0.0.5")}, nil
		case "sched.example":
			return []netip.Addr{netip.MustParseAddr("10.0.0.7"), netip.MustParseAddr("2001:db8::7")}, nil
		case "agent.example":
			return []netip.Addr{netip.MustParseAddr("10.1.0.9")}, nil
		}
		return nil, errors.New("no such host")
	}
	good := func() *cluster.MesosState {
		return baseState(marathon(runningTask("web.1", "web", "a-S0", withPorts(cluster.PortRange{Begin: 31000, End: 31000}))))
	}
	cases := []struct {
		name    string
		mutate  func(*cluster.MesosState)
		resolve bool
		// warn is the Kind and ID of the expected warning ("" for none).
		warnKind, warnID string
		present, absent  []string
	}{
		{
			name: "framework pid with an unresolvable host name",
			mutate: func(st *cluster.MesosState) {
				st.Frameworks = append(st.Frameworks, cluster.Framework{ID: "fw-x", Name: "chronos", PID: "scheduler(1)@no-such-host.invalid:4400",
					Tasks: []cluster.Task{runningTask("job.1", "job", "a-S1")}})
			},
			resolve:  true,
			warnKind: "framework", warnID: "fw-x",
			absent:  []string{"chronos.mesos.", "_framework._tcp.chronos.mesos."},
			present: []string{"job.chronos.mesos.", "marathon.mesos.", "_framework._tcp.marathon.mesos."},
		},
		{
			name: "framework pid with a resolvable host name",
			mutate: func(st *cluster.MesosState) {
				st.Frameworks = append(st.Frameworks, cluster.Framework{ID: "fw-x", Name: "chronos", PID: "scheduler(1)@sched.example:4400"})
			},
			resolve: true,
			present: []string{"chronos.mesos.", "_framework._tcp.chronos.mesos."},
		},
		{
			name: "framework pid that is malformed",
			mutate: func(st *cluster.MesosState) {
				st.Frameworks = append(st.Frameworks, cluster.Framework{ID: "fw-x", Name: "chronos", PID: "scheduler(1)@@1.2.3.4:x",
					Tasks: []cluster.Task{runningTask("job.1", "job", "a-S1")}})
			},
			warnKind: "framework", warnID: "fw-x",
			absent:  []string{"chronos.mesos."},
			present: []string{"job.chronos.mesos."},
		},
		{
			name: "framework host name without a resolver",
			mutate: func(st *cluster.MesosState) {
				st.Frameworks = append(st.Frameworks, cluster.Framework{ID: "fw-x", Name: "http fw", Hostname: "sched.example"})
			},
			warnKind: "framework", warnID: "fw-x",
			absent: []string{"httpfw.mesos."},
		},
		{
			name: "agent pid that is malformed",
			mutate: func(st *cluster.MesosState) {
				st.Agents = append(st.Agents, cluster.Agent{ID: "bad-S9", PID: "slave(1)@10.1.0.9"})
				st.Frameworks[0].Tasks = append(st.Frameworks[0].Tasks, runningTask("orphan.1", "orphan", "bad-S9"))
			},
			warnKind: "agent", warnID: "bad-S9",
			absent: []string{"orphan.marathon.mesos.", "orphan.marathon.slave.mesos."},
		},
		{
			name: "agent pid that is null",
			mutate: func(st *cluster.MesosState) {
				st.Agents = append(st.Agents, cluster.Agent{ID: "bad-S9"})
			},
			warnKind: "agent", warnID: "bad-S9",
		},
		{
			name: "agent pid with a resolvable host name",
			mutate: func(st *cluster.MesosState) {
				st.Agents = append(st.Agents, cluster.Agent{ID: "named-S9", PID: "slave(1)@agent.example:5051"})
				st.Frameworks[0].Tasks = append(st.Frameworks[0].Tasks, runningTask("named.1", "named", "named-S9"))
			},
			resolve: true,
			present: []string{"named.marathon.mesos.", "named.marathon.slave.mesos."},
		},
		{
			name:    "leader that is a host name",
			mutate:  func(st *cluster.MesosState) { st.Leader = "master@master.example:5050" },
			resolve: true,
			present: []string{"leader.mesos.", "master.mesos.", "master0.mesos.", "_leader._tcp.mesos."},
		},
		{
			name:     "leader that is garbage",
			mutate:   func(st *cluster.MesosState) { st.Leader = "garbage" },
			warnKind: "leader", warnID: "garbage",
			absent:  []string{"leader.mesos.", "_leader._tcp.mesos.", "_leader._udp.mesos."},
			present: []string{"master.mesos.", "master0.mesos."},
		},
		{
			name:     "leader with a bad port",
			mutate:   func(st *cluster.MesosState) { st.Leader = "master@10.0.0.5:http" },
			warnKind: "leader", warnID: "master@10.0.0.5:http",
			absent:  []string{"leader.mesos.", "_leader._tcp.mesos."},
			present: []string{"master.mesos."},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := good()
			tc.mutate(st)
			cfg := baseConfig()
			if tc.resolve {
				cfg.Resolve = resolve
			}
			tb, warns := Build(st, cfg)
			if tc.warnKind == "" {
				if len(warns) > 0 {
					t.Errorf("unexpected warnings %v", warns)
				}
			} else {
				var de *DropError
				if len(warns) != 1 || !errors.As(warns[0], &de) || de.Kind != tc.warnKind || de.ID != tc.warnID {
					t.Errorf("warnings = %v, want one %s %q", warns, tc.warnKind, tc.warnID)
				} else if !strings.Contains(de.Error(), strconv.Quote(tc.warnID)) {
					t.Errorf("warning %q does not name %q", de, tc.warnID)
				}
			}
			for _, name := range tc.absent {
				if tb.Has(name) {
					t.Errorf("%s present, want it dropped", name)
				}
			}
			// The good task and the agents are always there.
			for _, name := range append(tc.present, "web.marathon.mesos.", "web-"+HashID("web.1")+"-s0.marathon.slave.mesos.",
				"_web._tcp.marathon.mesos.", "slave.mesos.", "_slave._tcp.mesos.", "master.mesos.") {
				if !tb.Has(name) {
					t.Errorf("%s missing", name)
				}
			}
			checkTable(t, st, tb)
		})
	}
}

// TestPTR: PTROn adds task IP → canonical name and agent IP → slave.D,
// deduplicated and sorted, in the standard reverse forms.
func TestPTR(t *testing.T) {
	st := baseState(marathon(
		runningTask("web.1", "web", "a-S0", withNetInfo("10.2.0.1", "fd00::1")),
		runningTask("web.2", "web", "a-S0"), // host IP
		runningTask("api.1", "api.v1", "a-S0", withDiscovery("api.v1"), withNetInfo("10.2.0.1")),
		runningTask("v6.1", "v6", "a-S2"),
	))
	cfg := baseConfig()
	cfg.PTROn = true
	tb, _ := Build(st, cfg)
	canon := func(name, id, slave string) string { return name + "-" + HashID(id) + "-" + slave + ".marathon.mesos." }
	want := map[string][]string{
		"1.0.1.10.in-addr.arpa.": {"slave.mesos.", canon("web", "web.2", "s0")},
		"2.0.1.10.in-addr.arpa.": {"slave.mesos."},
		"1.0.2.10.in-addr.arpa.": {canon("api-v1", "api.1", "s0"), canon("web", "web.1", "s0")},
		"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.": {canon("web", "web.1", "s0")},
		"2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.": {canon("v6", "v6.1", "s2"), "slave.mesos."},
	}
	for name, w := range want {
		slices.Sort(w)
		if got := tb.PTR[name]; !slices.Equal(got, w) {
			t.Errorf("PTR %s = %q, want %q", name, got, w)
		}
	}
	if len(tb.PTR) != len(want) {
		t.Errorf("PTR has %d names, want %d: %v", len(tb.PTR), len(want), tb.PTR)
	}
	checkTable(t, st, tb)

	cfg.PTROn = false
	if tb, _ := Build(st, cfg); len(tb.PTR) != 0 {
		t.Errorf("PTROn false: PTR = %v", tb.PTR)
	}
}

func TestReverseName(t *testing.T) {
	for in, want := range map[string]string{
		"1.2.3.4":            "4.3.2.1.in-addr.arpa.",
		"255.0.10.100":       "100.10.0.255.in-addr.arpa.",
		"::ffff:1.2.3.4":     "4.3.2.1.in-addr.arpa.",
		"2001:db8::567:89ab": "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
	} {
		if got := reverseName(netip.MustParseAddr(in)); got != want {
			t.Errorf("reverseName(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestInactiveFrameworks documents a kept Mesos-DNS behaviour: a framework
// with active=false is not filtered (unmerged Mesos-DNS PR #517).
func TestInactiveFrameworks(t *testing.T) {
	fw := marathon(runningTask("web.1", "web", "a-S0"))
	fw.Active = false
	tb, _ := Build(baseState(fw), baseConfig())
	for _, name := range []string{"marathon.mesos.", "_framework._tcp.marathon.mesos.", "web.marathon.mesos."} {
		if !tb.Has(name) {
			t.Errorf("%s missing for an inactive framework", name)
		}
	}
	if len(tb.Frameworks) != 1 || len(tb.Frameworks[0].Tasks) != 1 {
		t.Errorf("enumerate = %+v", tb.Frameworks)
	}
}

// TestIPSources: the first source in configured order that yields an IP
// wins, with all of its IPs, read from the latest TASK_RUNNING status.
func TestIPSources(t *testing.T) {
	task := runningTask("t.1", "t", "a-S0", func(t *cluster.Task) {
		t.Statuses = []cluster.TaskStatus{
			{State: cluster.TaskRunning, Timestamp: 200,
				Labels: []cluster.Label{{Key: DockerIPLabel, Value: "10.3.0.2"}, {Key: MesosIPLabel, Value: "bogus"}},
				NetworkInfos: []cluster.NetworkInfo{
					{IPAddresses: []cluster.IPAddress{{IP: "10.4.0.1"}, {IP: "not-an-ip"}}},
					{IPAddresses: []cluster.IPAddress{{IP: "fd00::4"}, {IP: "::ffff:10.4.0.2"}}},
				}},
			// Older RUNNING status and a newer non-RUNNING one: ignored.
			{State: cluster.TaskRunning, Timestamp: 100, Labels: []cluster.Label{{Key: DockerIPLabel, Value: "10.3.0.1"}, {Key: MesosIPLabel, Value: "10.5.0.1"}}},
			{State: cluster.TaskKilling, Timestamp: 300, Labels: []cluster.Label{{Key: DockerIPLabel, Value: "10.3.0.9"}}},
		}
	})
	tieTask := runningTask("tie.1", "tie", "a-S0", func(t *cluster.Task) {
		t.Statuses = []cluster.TaskStatus{
			{State: cluster.TaskRunning, Timestamp: 100, Labels: []cluster.Label{{Key: DockerIPLabel, Value: "10.6.0.1"}}},
			{State: cluster.TaskRunning, Timestamp: 100, Labels: []cluster.Label{{Key: DockerIPLabel, Value: "10.6.0.2"}}},
		}
	})
	for _, tc := range []struct {
		sources []string
		want    []string
	}{
		{nil, []string{"10.4.0.1", "10.4.0.2", "fd00::4"}}, // default: netinfo first
		{[]string{"netinfo", "docker"}, []string{"10.4.0.1", "10.4.0.2", "fd00::4"}},
		{[]string{"docker", "netinfo"}, []string{"10.3.0.2"}},
		{[]string{"mesos", "host"}, []string{"10.1.0.1"}}, // the latest status's mesos label is not an IP
		{[]string{"mesos"}, nil},
		{[]string{"host", "docker"}, []string{"10.1.0.1"}},
	} {
		tb, _ := Build(baseState(marathon(task, tieTask)), Config{IPSources: tc.sources})
		if got := addrStrings(tb, "t.marathon.mesos."); !slices.Equal(got, tc.want) {
			t.Errorf("sources %v: t.marathon.mesos. = %v, want %v", tc.sources, got, tc.want)
		}
		// The .slave names are always the agent's.
		if got := addrStrings(tb, "t.marathon.slave.mesos."); !slices.Equal(got, []string{"10.1.0.1"}) {
			t.Errorf("sources %v: t.marathon.slave.mesos. = %v", tc.sources, got)
		}
	}
	tb, _ := Build(baseState(marathon(tieTask)), Config{IPSources: []string{"docker"}})
	if got := addrStrings(tb, "tie.marathon.mesos."); !slices.Equal(got, []string{"10.6.0.1"}) {
		t.Errorf("timestamp tie: %v, want the first status's IP", got)
	}
	if _, warns := Build(baseState(), Config{IPSources: []string{"netinfo", "autoip"}}); len(warns) != 1 {
		t.Errorf("unknown IP source: warnings %v", warns)
	}
}

// TestTaskRecords covers the names and SRV records of §4.6–4.9 beyond the
// fixture: DiscoveryInfo without protocol (both tcp and udp), named ports
// that sanitise, port ranges, a DiscoveryInfo without a name (ignored).
func TestTaskRecords(t *testing.T) {
	st := baseState(marathon(
		runningTask("svc.1", "ignored", "a-S1", withPorts(cluster.PortRange{Begin: 31000, End: 31001}), withNetInfo("10.2.0.7"),
			withDiscovery("My.Svc",
				cluster.DiscoveryPort{Number: 8080, Name: "Web_UI"},
				cluster.DiscoveryPort{Number: 53, Protocol: "UDP", Name: "dns"},
				cluster.DiscoveryPort{Number: 99999, Protocol: "tcp", Name: "bad"},
			)),
		runningTask("plain.1", "plain", "a-S1", withPorts(cluster.PortRange{Begin: 5, End: 5}),
			withDiscovery("", cluster.DiscoveryPort{Number: 80, Protocol: "tcp"})),
	))
	tb, _ := Build(st, baseConfig())
	h, hp := HashID("svc.1"), HashID("plain.1")
	canon := "my-svc-" + h + "-s1.marathon.mesos."
	canonSlave := "my-svc-" + h + "-s1.marathon.slave.mesos."
	rawCanon := "My.Svc-" + h + "-s1.marathon.mesos."
	want := map[string][]string{
		"_my-svc._tcp.marathon.mesos.":         {canon + ":8080"},
		"_my-svc._udp.marathon.mesos.":         {canon + ":53", canon + ":8080"},
		"_web-ui._my-svc._tcp.marathon.mesos.": {canon + ":8080"},
		"_web-ui._my-svc._udp.marathon.mesos.": {canon + ":8080"},
		"_dns._my-svc._udp.marathon.mesos.":    {canon + ":53"},
		"_my-svc._tcp.marathon.slave.mesos.":   {canonSlave + ":31000", canonSlave + ":31001"},
		"_my-svc._udp.marathon.slave.mesos.":   {canonSlave + ":31000", canonSlave + ":31001"},
		"_My.Svc._tcp.marathon.mesos.":         {rawCanon + ":8080"},
		"_dns._My.Svc._udp.marathon.mesos.":    {rawCanon + ":53"},
		"_bad._my-svc._tcp.marathon.mesos.":    nil, // port out of range
		"_plain._tcp.marathon.mesos.":          {"plain-" + hp + "-s1.marathon.slave.mesos.:5"},
		"_plain._udp.marathon.slave.mesos.":    {"plain-" + hp + "-s1.marathon.slave.mesos.:5"},
		"_ignored._tcp.marathon.mesos.":        nil,
	}
	for name, w := range want {
		if got := srvStrings(tb, name); !slices.Equal(got, w) {
			t.Errorf("SRV %s = %q, want %q", name, got, w)
		}
	}
	for name, w := range map[string][]string{
		"my-svc.marathon.mesos.":       {"10.2.0.7"},
		canon:                          {"10.2.0.7"},
		"my-svc.marathon.slave.mesos.": {"10.1.0.2"},
		canonSlave:                     {"10.1.0.2"},
		"My.Svc.marathon.mesos.":       {"10.2.0.7"}, // raw name, stored verbatim
		rawCanon:                       {"10.2.0.7"},
		"ignored.marathon.mesos.":      nil,
	} {
		if got := addrStrings(tb, name); !slices.Equal(got, w) {
			t.Errorf("%s = %q, want %q", name, got, w)
		}
	}
	checkTable(t, st, tb)
}

// TestEligibility: only TASK_RUNNING tasks on known agents (§4.5); every
// framework is enumerated, with its eligible tasks in state order.
func TestEligibility(t *testing.T) {
	staging := runningTask("st.1", "staging", "a-S0")
	staging.State = cluster.TaskStaging
	st := baseState(
		marathon(runningTask("b.1", "b", "a-S0"), staging, runningTask("lost.1", "lost", "gone-S7"), runningTask("a.1", "a", "a-S1")),
		cluster.Framework{ID: "empty", Name: "empty", Hostname: "10.0.0.9"},
	)
	tb, _ := Build(st, baseConfig())
	if len(tb.Frameworks) != 2 || tb.Frameworks[1].Name != "empty" || len(tb.Frameworks[1].Tasks) != 0 {
		t.Fatalf("frameworks = %+v", tb.Frameworks)
	}
	var ids []string
	for _, tk := range tb.Frameworks[0].Tasks {
		ids = append(ids, tk.ID)
	}
	if !slices.Equal(ids, []string{"b.1", "a.1"}) {
		t.Errorf("enumerated tasks %v", ids)
	}
	for _, name := range []string{"staging.marathon.mesos.", "lost.marathon.mesos."} {
		if tb.Has(name) {
			t.Errorf("%s published", name)
		}
	}
	if got := addrStrings(tb, "empty.mesos."); !slices.Equal(got, []string{"10.0.0.9"}) {
		t.Errorf("pid-less framework: %v", got)
	}
	if tb.Has("_framework._tcp.empty.mesos.") {
		t.Errorf("pid-less framework has an SRV record")
	}
}

// TestEnumerateFirstInserter: a record is listed only under the first task
// that inserted it, as in Mesos-DNS.
func TestEnumerateFirstInserter(t *testing.T) {
	tb, _ := Build(baseState(marathon(runningTask("w.1", "w", "a-S0"), runningTask("w.2", "w", "a-S0"))), baseConfig())
	enum := enumerated(tb)
	has := func(recs []Record, name string) bool {
		return slices.ContainsFunc(recs, func(r Record) bool { return r.Name == name })
	}
	if !has(enum["w.1"], "w.marathon.mesos.") || has(enum["w.2"], "w.marathon.mesos.") {
		t.Errorf("shared name listed under w.1=%v w.2=%v", has(enum["w.1"], "w.marathon.mesos."), has(enum["w.2"], "w.marathon.mesos."))
	}
	if !has(enum["w.2"], "w-"+HashID("w.2")+"-s0.marathon.mesos.") {
		t.Errorf("w.2's canonical name not listed: %v", enum["w.2"])
	}
}

// TestTableSorted: values are sorted and deduplicated; the table is a
// deterministic function of its input.
func TestTableSorted(t *testing.T) {
	st := baseState(marathon(
		runningTask("x.3", "x", "a-S1", withNetInfo("10.9.0.3", "10.9.0.1")),
		runningTask("x.1", "x", "a-S0", withNetInfo("10.9.0.2", "10.9.0.1", "10.9.0.2")),
	))
	tb, _ := Build(st, baseConfig())
	if got := addrStrings(tb, "x.marathon.mesos."); !slices.Equal(got, []string{"10.9.0.1", "10.9.0.2", "10.9.0.3"}) {
		t.Errorf("x.marathon.mesos. = %v", got)
	}
	checkTable(t, st, tb)
}

// TestBuildEmpty: an empty or nil state is not an error, only a table with
// what configuration alone gives (and a warning that there is no leader).
func TestBuildEmpty(t *testing.T) {
	cfg := Config{NSAddrs: []netip.Addr{netip.MustParseAddr("::1")}, Masters: []string{"10.0.0.1:5050"}}
	for _, st := range []*cluster.MesosState{nil, {}} {
		tb, warns := Build(st, cfg)
		if len(warns) != 1 {
			t.Errorf("warnings %v", warns)
		}
		if got := addrStrings(tb, "ns1.mesos."); !slices.Equal(got, []string{"::1"}) {
			t.Errorf("ns1.mesos. = %v", got)
		}
		if got := addrStrings(tb, "master0.mesos."); !slices.Equal(got, []string{"10.0.0.1"}) {
			t.Errorf("master0.mesos. = %v", got)
		}
		if tb.Domain != "mesos." || len(tb.Frameworks) != 0 || len(tb.SRV) != 0 {
			t.Errorf("table %+v", tb)
		}
	}
}

// TestDuplicates: what the same task or two tasks insert twice is one
// record, listed once in enumerate: a DiscoveryInfo name that is already a
// valid label (both passes make the same names), a port listed twice, two
// tasks with the same id on agents with the same id tail.
func TestDuplicates(t *testing.T) {
	st := baseState(marathon(
		runningTask("web.1", "x", "a-S0", withDiscovery("web", cluster.DiscoveryPort{Number: 80, Protocol: "tcp", Name: "http"},
			cluster.DiscoveryPort{Number: 80, Protocol: "tcp", Name: "http"})),
		runningTask("dup.1", "dup", "a-S1", withPorts(cluster.PortRange{Begin: 31000, End: 31001}, cluster.PortRange{Begin: 31001, End: 31001})),
		runningTask("dup.1", "dup", "a-S1", withPorts(cluster.PortRange{Begin: 31000, End: 31000}), withNetInfo("10.2.0.9")),
	))
	st.Agents = append(st.Agents, agentAt("b-S1", "10.1.0.3"))
	st.Frameworks[0].Tasks = append(st.Frameworks[0].Tasks, runningTask("dup.1", "dup", "b-S1"))
	tb, _ := Build(st, baseConfig())
	checkTable(t, st, tb)
	canon := "web-" + HashID("web.1") + "-s0.marathon.mesos."
	for name, want := range map[string][]string{
		"_web._tcp.marathon.mesos.":       {canon + ":80"},
		"_http._web._tcp.marathon.mesos.": {canon + ":80"},
	} {
		if got := srvStrings(tb, name); !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	dup := "dup-" + HashID("dup.1") + "-s1.marathon.slave.mesos."
	if got := srvStrings(tb, "_dup._tcp.marathon.mesos."); !slices.Equal(got, []string{dup + ":31000", dup + ":31001"}) {
		t.Errorf("_dup._tcp = %v", got)
	}
	if got := addrStrings(tb, dup); !slices.Equal(got, []string{"10.1.0.2", "10.1.0.3"}) {
		t.Errorf("%s = %v", dup, got)
	}
	tasks := tb.Frameworks[0].Tasks
	if len(tasks) != 4 || len(tasks[0].Records) != 6 || len(tasks[2].Records) != 2 {
		t.Errorf("enumerate: %+v", tasks)
	}
}

// TestLargeApp: names with hundreds of values (past the point where a name
// gets an index) keep set semantics and first-inserter listing.
func TestLargeApp(t *testing.T) {
	var tasks []cluster.Task
	for i := range 300 {
		agent := []string{"a-S0", "a-S1"}[i%2]
		tasks = append(tasks, runningTask("big."+strconv.Itoa(i), "big", agent, withPorts(cluster.PortRange{Begin: 31000, End: 31002})))
	}
	tasks = append(tasks, tasks[7]) // the same task listed twice
	st := baseState(marathon(tasks...))
	tb, _ := Build(st, baseConfig())
	checkTable(t, st, tb)
	if n := len(tb.SRV["_big._tcp.marathon.mesos."]); n != 900 {
		t.Errorf("_big._tcp has %d values, want 900", n)
	}
	if got := addrStrings(tb, "big.marathon.mesos."); !slices.Equal(got, []string{"10.1.0.1", "10.1.0.2"}) {
		t.Errorf("big.marathon.mesos. = %v", got)
	}
	if last := tb.Frameworks[0].Tasks[300]; len(last.Records) != 0 {
		t.Errorf("repeated task lists %d records", len(last.Records))
	}
}

// checkTable asserts what every table must satisfy, whatever the input:
// every name is in the domain (PTR owners aside), values are sorted and
// unique, every SRV target in the domain has an address unless it is a
// legacy raw-DiscoveryInfo-name record, every PTR value resolves back to
// the IP, and every framework is enumerated. FuzzBuild uses it too.
func checkTable(t testing.TB, st *cluster.MesosState, tb *Table) {
	t.Helper()
	suffix := "." + tb.Domain
	inDomain := func(name string) bool { return strings.HasSuffix(name, suffix) }
	for _, m := range []map[string][]netip.Addr{tb.A, tb.AAAA} {
		for name, ips := range m {
			if !inDomain(name) && name != "ns1.mesos." {
				t.Errorf("name %q outside %s", name, tb.Domain)
			}
			if len(ips) == 0 || !slices.IsSortedFunc(ips, netip.Addr.Compare) || len(slices.Compact(slices.Clone(ips))) != len(ips) {
				t.Errorf("%s: values not sorted and unique: %v", name, ips)
			}
		}
	}
	for name, ips := range tb.A {
		for _, ip := range ips {
			if !ip.Is4() {
				t.Errorf("A %s has %v", name, ip)
			}
		}
	}
	for name, ips := range tb.AAAA {
		for _, ip := range ips {
			if !ip.Is6() || ip.Is4In6() {
				t.Errorf("AAAA %s has %v", name, ip)
			}
		}
	}
	var raw []string
	if st != nil {
		for _, f := range st.Frameworks {
			for _, task := range f.Tasks {
				if d := task.Discovery; d != nil && d.Name != "" {
					raw = append(raw, d.Name+"-")
				}
			}
		}
	}
	legacy := func(target string) bool {
		return slices.ContainsFunc(raw, func(p string) bool { return strings.HasPrefix(target, p) })
	}
	for name, vs := range tb.SRV {
		if !inDomain(name) {
			t.Errorf("SRV name %q outside %s", name, tb.Domain)
		}
		if len(vs) == 0 || !slices.IsSortedFunc(vs, compareSRV) || len(slices.Compact(slices.Clone(vs))) != len(vs) {
			t.Errorf("SRV %s: values not sorted and unique: %v", name, vs)
		}
		for _, v := range vs {
			if inDomain(v.Target) && len(tb.A[v.Target])+len(tb.AAAA[v.Target]) == 0 && !legacy(v.Target) {
				t.Errorf("SRV %s target %s has no address", name, v.Target)
			}
		}
	}
	for rev, names := range tb.PTR {
		if !strings.HasSuffix(rev, ".in-addr.arpa.") && !strings.HasSuffix(rev, ".ip6.arpa.") {
			t.Errorf("PTR owner %q", rev)
		}
		if len(names) == 0 || !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
			t.Errorf("PTR %s: values not sorted and unique: %v", rev, names)
		}
		for _, name := range names {
			ok := slices.ContainsFunc(append(slices.Clone(tb.A[name]), tb.AAAA[name]...),
				func(ip netip.Addr) bool { return reverseName(ip) == rev })
			if !ok {
				t.Errorf("PTR %s → %s does not resolve back", rev, name)
			}
		}
	}
	if st != nil && len(tb.Frameworks) != len(st.Frameworks) {
		t.Errorf("%d frameworks enumerated, state has %d", len(tb.Frameworks), len(st.Frameworks))
	}
	// Every enumerated record is in the table, and listed once.
	type rec struct{ name, host, rtype string }
	table := map[rec]bool{}
	for _, m := range []map[string][]netip.Addr{tb.A, tb.AAAA} {
		for name, ips := range m {
			for _, ip := range ips {
				rtype := "A"
				if ip.Is6() {
					rtype = "AAAA"
				}
				table[rec{name, ip.String(), rtype}] = false
			}
		}
	}
	for name, vs := range tb.SRV {
		for _, v := range vs {
			table[rec{name, v.Target + ":" + strconv.Itoa(int(v.Port)), "SRV"}] = false
		}
	}
	for _, f := range tb.Frameworks {
		for _, task := range f.Tasks {
			for _, r := range task.Records {
				k := rec{r.Name, r.Host, r.RType}
				listed, ok := table[k]
				switch {
				case !ok:
					t.Errorf("enumerated %+v not in the table", r)
				case listed:
					t.Errorf("%+v enumerated twice", r)
				}
				table[k] = true
			}
		}
	}
}

// TestBuildYields: a big build hands the core back every yieldEvery tasks
// and every finishYieldEvery names while it finishes the record sets, and
// the table is the same with or without yielding (a yielding build also
// bounds its map hints and finishes in one goroutine).
func TestBuildYields(t *testing.T) {
	st := syntheticState(50, 1000)
	var calls atomic.Int64
	withYield, _ := Build(st, Config{Yield: func() { calls.Add(1) }, Now: func() time.Time { return time.Unix(1, 0) }})
	without, _ := Build(st, Config{Now: func() time.Time { return time.Unix(1, 0) }})
	want := int64(1000/yieldEvery - 1 + (len(without.A)+len(without.SRV)+len(without.PTR))/finishYieldEvery - 3)
	if got := calls.Load(); got < want {
		t.Errorf("Yield called %d times for 1000 tasks and %d A, %d SRV, %d PTR names, want at least %d",
			got, len(without.A), len(without.SRV), len(without.PTR), want)
	}
	if !reflect.DeepEqual(withYield.A, without.A) || !reflect.DeepEqual(withYield.SRV, without.SRV) || !reflect.DeepEqual(withYield.PTR, without.PTR) {
		t.Errorf("yielding changed the table: %v vs %v", withYield.Counts(), without.Counts())
	}
}
