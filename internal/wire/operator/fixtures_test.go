package operator

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// The three SUBSCRIBE captures in testdata/, one event per line.
var streamFixtures = []string{
	"subscribe-stream-operator-api.jsonl",
	"subscribe-stream-recovered-agents.jsonl",
	"subscribe-stream-hello-overlay.jsonl",
}

func fixtureLines(t testing.TB, name string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	for _, l := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			lines = append(lines, l)
		}
	}
	return lines
}

func decodeFixture(t testing.TB, name string) []Event {
	t.Helper()
	var evs []Event
	for i, l := range fixtureLines(t, name) {
		ev, err := DecodeEvent(l)
		if err != nil {
			t.Fatalf("%s line %d: %v", name, i+1, err)
		}
		if ev.Subscribed != nil && len(ev.Subscribed.Skipped) > 0 {
			t.Fatalf("%s line %d: skipped %v", name, i+1, ev.Subscribed.Skipped)
		}
		evs = append(evs, ev)
	}
	return evs
}

func rep(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func seq(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func one(s string) []string { return []string{s} }

func TestFixtureEventTypes(t *testing.T) {
	const (
		sub = TypeSubscribed
		ta  = TypeTaskAdded
		tu  = TypeTaskUpdated
	)
	tests := []struct {
		file string
		want []string
	}{
		{"subscribe-stream-operator-api.jsonl", seq(
			one(sub), one(TypeFrameworkUpdated),
			rep(ta, 2), rep(tu, 4), rep(ta, 2), rep(tu, 4), rep(ta, 3), rep(tu, 4),
			one(ta), rep(tu, 4), one(ta), rep(tu, 2), rep(ta, 3), rep(tu, 6),
		)},
		{"subscribe-stream-recovered-agents.jsonl", []string{
			sub, TypeHeartbeat, TypeAgentAdded, TypeFrameworkAdded, ta, TypeFrameworkUpdated, ta, tu, tu,
		}},
		{"subscribe-stream-hello-overlay.jsonl", seq(
			one(sub), one(ta), rep(tu, 2), one(TypeFrameworkAdded),
			one(ta), rep(tu, 2), one(ta), rep(tu, 2), one(ta), rep(tu, 2),
		)},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			evs := decodeFixture(t, tt.file)
			var got []string
			for _, ev := range evs {
				got = append(got, ev.Type)
				if err := payloadMatchesType(ev); err != "" {
					t.Errorf("%s: %s", ev.Type, err)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("types:\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

// payloadMatchesType checks that exactly the payload of ev.Type is set.
func payloadMatchesType(ev Event) string {
	set := map[string]bool{
		TypeSubscribed:       ev.Subscribed != nil,
		TypeTaskAdded:        ev.TaskAdded != nil,
		TypeTaskUpdated:      ev.TaskUpdated != nil,
		TypeAgentAdded:       ev.AgentAdded != nil,
		TypeAgentRemoved:     ev.AgentRemoved != "",
		TypeFrameworkAdded:   ev.FrameworkAdded != nil,
		TypeFrameworkUpdated: ev.FrameworkUpdated != nil,
		TypeFrameworkRemoved: ev.FrameworkRemoved != "",
	}
	for typ, ok := range set {
		if ok != (typ == ev.Type) {
			return "payload " + typ + " set wrongly"
		}
	}
	return ""
}

func ips(ns []cluster.NetworkInfo) []string {
	var out []string
	for _, n := range ns {
		for _, ip := range n.IPAddresses {
			out = append(out, ip.IP)
		}
	}
	return out
}

func labelMap(ls []cluster.Label) map[string]string {
	m := map[string]string{}
	for _, l := range ls {
		m[l.Key] = l.Value
	}
	return m
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func findTaskUpdate(evs []Event, taskID string, state cluster.TaskState) *TaskUpdated {
	for _, ev := range evs {
		if u := ev.TaskUpdated; u != nil && u.TaskID == taskID && u.Status.State == state {
			return u
		}
	}
	return nil
}

func TestFixtureOperatorAPI(t *testing.T) {
	evs := decodeFixture(t, "subscribe-stream-operator-api.jsonl")
	const prefix = "30257977-0153-499d-a5b0-35afd842ef4d-"

	sub := evs[0].Subscribed
	eq(t, "heartbeat", sub.HeartbeatIntervalSeconds, 15.0)
	st := sub.State
	if len(st.Agents) != 2 {
		t.Fatalf("%d agents", len(st.Agents))
	}
	a := st.Agents[0]
	eq(t, "agent id", a.ID, prefix+"S0")
	eq(t, "agent hostname", a.Hostname, "172.17.0.4")
	eq(t, "agent pid", a.PID, "slave(1)@172.17.0.4:5051")
	eq(t, "agent port", a.Port, 5051)
	eq(t, "agent active", a.Active, true)
	eq(t, "agent scalars", [3]float64{a.Resources.CPUs, a.Resources.Mem, a.Resources.Disk}, [3]float64{4, 6949, 47170})
	eq(t, "agent ports", a.Resources.Ports, []cluster.PortRange{
		{Begin: 1025, End: 2180}, {Begin: 2182, End: 3887}, {Begin: 3889, End: 5049}, {Begin: 5052, End: 8079}, {Begin: 8082, End: 8180}, {Begin: 8182, End: 32000}})
	eq(t, "agent 1", st.Agents[1].ID, prefix+"S1")
	eq(t, "agent 1 pid", st.Agents[1].PID, "slave(1)@172.17.0.3:5051")
	eq(t, "frameworks", st.Frameworks, []cluster.Framework{{
		ID: prefix + "0000", Name: "metronome", Hostname: "172.17.0.2",
		WebUIURL: "http://172.17.0.2:9000", Active: true,
	}})

	eq(t, "framework updated", *evs[1].FrameworkUpdated, cluster.Framework{
		ID: prefix + "0001", Name: "marathon", Hostname: "172.17.0.2",
		WebUIURL: "http://172.17.0.2:8080", Role: "slave_public", Active: true,
	})

	bridge := evs[2].TaskAdded
	eq(t, "task id", bridge.ID, "docker-on-bridge.0ef76549-2630-11e8-af52-70b3d5800001")
	eq(t, "task name", bridge.Name, "docker-on-bridge")
	eq(t, "task agent", bridge.AgentID, prefix+"S0")
	eq(t, "task framework", bridge.FrameworkID, prefix+"0001")
	eq(t, "task state", bridge.State, cluster.TaskStaging)
	eq(t, "task role", bridge.Role, "slave_public")
	eq(t, "task ports", bridge.Ports, []cluster.PortRange{{Begin: 20560, End: 20560}})
	eq(t, "task health check", bridge.HasHealthCheck, false)
	eq(t, "discovery", bridge.Discovery, &cluster.DiscoveryInfo{
		Visibility: "FRAMEWORK", Name: "docker-on-bridge",
		Ports: []cluster.DiscoveryPort{{Number: 20560, Name: "http", Protocol: "tcp",
			Labels: []cluster.Label{{Key: "network-scope", Value: "host"}}}},
	})
	eq(t, "container", bridge.Container, &cluster.ContainerInfo{
		Type: "DOCKER",
		Docker: &cluster.DockerInfo{Image: "python:3-alpine", Network: "BRIDGE",
			PortMappings: []cluster.PortMapping{{HostPort: 20560, ContainerPort: 8080, Protocol: "tcp"}}},
	})

	dcos := evs[3].TaskAdded
	eq(t, "dcos container networks", dcos.Container.NetworkInfos, []cluster.NetworkInfo{{Name: "dcos"}})
	eq(t, "dcos docker network", dcos.Container.Docker.Network, "USER")
	eq(t, "dcos discovery labels", labelMap(dcos.Discovery.Ports[0].Labels),
		map[string]string{"network-scope": "container", "network-name": "dcos"})

	// The bridge task's STARTING status reports the agent's address, the
	// RUNNING one the container's: why only the latest RUNNING status counts.
	starting := findTaskUpdate(evs, bridge.ID, cluster.TaskStarting)
	eq(t, "bridge starting ips", ips(starting.Status.NetworkInfos), []string{"172.17.0.4"})
	running := findTaskUpdate(evs, bridge.ID, cluster.TaskRunning)
	eq(t, "update framework", running.FrameworkID, prefix+"0001")
	eq(t, "update agent", running.AgentID, prefix+"S0")
	eq(t, "update executor", running.ExecutorID, bridge.ID)
	eq(t, "update state", running.State, cluster.TaskRunning)
	eq(t, "bridge running ips", ips(running.Status.NetworkInfos), []string{"172.18.0.2"})
	eq(t, "bridge running protocol", running.Status.NetworkInfos[0].IPAddresses[0].Protocol, "IPv4")
	eq(t, "container id", running.Status.ContainerID, "e305b7bd-6f0a-498c-8ae8-5ccaf62a436c")
	eq(t, "timestamp", running.Status.Timestamp, 1520884850.64141)
	eq(t, "source", running.Status.Source, "SOURCE_EXECUTOR")
	if running.Status.Healthy != nil {
		t.Errorf("healthy set on a task without health check")
	}

	dcosRun := findTaskUpdate(evs, dcos.ID, cluster.TaskRunning)
	eq(t, "dcos running network", dcosRun.Status.NetworkInfos[0].Name, "dcos")
	eq(t, "dcos running ips", ips(dcosRun.Status.NetworkInfos), []string{"9.0.2.130"})

	noneOnDCOS := evs[9].TaskAdded
	eq(t, "none-on-dcos id", noneOnDCOS.ID, "none-on-dcos.115c093a-2630-11e8-af52-70b3d5800001")
	eq(t, "port number 0 kept", noneOnDCOS.Discovery.Ports[0].Number, 0)
	eq(t, "port name", noneOnDCOS.Discovery.Ports[0].Name, "default")
	eq(t, "mesos container networks", noneOnDCOS.Container.NetworkInfos, []cluster.NetworkInfo{{
		Name: "dcos", IPAddresses: []cluster.IPAddress{{Protocol: "IPv4"}}}})
	eq(t, "mesos container type", noneOnDCOS.Container.Type, "MESOS")
	if noneOnDCOS.Container.Docker != nil {
		t.Errorf("docker info on a MESOS container")
	}

	ipv6 := findTaskUpdate(evs, "docker-on-ipv6.602453f2-28e7-11e8-8cba-70b3d5800001", cluster.TaskRunning)
	eq(t, "dual stack", ipv6.Status.NetworkInfos, []cluster.NetworkInfo{{
		Name: "dcos6",
		IPAddresses: []cluster.IPAddress{
			{IP: "172.19.0.2", Protocol: "IPv4"},
			{IP: "fd01:b::2:8000:0:2", Protocol: "IPv6"},
		},
	}})

	const pod = "pod-on-bridge.instance-e9d06dcd-2930-11e8-96bf-70b3d5800001.app"
	podStart := findTaskUpdate(evs, pod, cluster.TaskStarting)
	eq(t, "nested container id", podStart.Status.ContainerID, "b0093d89-9df2-4d20-b92d-288aaa3b3b88")
	eq(t, "pod starting networks", len(podStart.Status.NetworkInfos), 0)
	eq(t, "pod executor", podStart.ExecutorID, "instance-pod-on-bridge.e9d06dcd-2930-11e8-96bf-70b3d5800001")
	podRun := findTaskUpdate(evs, pod, cluster.TaskRunning)
	eq(t, "pod running network", podRun.Status.NetworkInfos, []cluster.NetworkInfo{{
		Name:         "mesos-bridge",
		IPAddresses:  []cluster.IPAddress{{IP: "172.31.254.4", Protocol: "IPv4"}},
		PortMappings: []cluster.PortMapping{{HostPort: 2254, ContainerPort: 8080, Protocol: "tcp"}},
	}})
	eq(t, "pod agent", podRun.AgentID, prefix+"S1")
}

func TestFixtureRecoveredAgents(t *testing.T) {
	evs := decodeFixture(t, "subscribe-stream-recovered-agents.jsonl")
	const prefix = "65fccc5d-35a8-4cae-9eb2-05922043018e-"

	// Every sub-message of get_state is {} and the only agent is a
	// recovered one, which is not registered and so not in the state.
	eq(t, "subscribed state", evs[0].Subscribed.State, &cluster.MesosState{})
	eq(t, "heartbeat", evs[1], Event{Type: TypeHeartbeat})

	a := evs[2].AgentAdded
	eq(t, "agent", a.ID, prefix+"S0")
	eq(t, "agent hostname", a.Hostname, "172.17.0.4")
	eq(t, "agent pid", a.PID, "slave(1)@172.17.0.4:5051")
	eq(t, "agent disk", a.Resources.Disk, 31119.0)
	eq(t, "agent port ranges", len(a.Resources.Ports), 6)

	eq(t, "framework added", *evs[3].FrameworkAdded, cluster.Framework{
		ID: prefix + "0001", Name: "marathon", Hostname: "172.17.0.3",
		WebUIURL: "http://172.17.0.3:8080", Role: "slave_public", Active: false,
	})
	eq(t, "framework updated active", evs[5].FrameworkUpdated.Active, true)

	// A re-registering agent reports a task that already failed.
	failed := evs[4].TaskAdded
	eq(t, "failed id", failed.ID, "web.instance-8b38cc52-c951-11e9-8d5b-70b3d5800001._app.1")
	eq(t, "failed state", failed.State, cluster.TaskFailed)
	eq(t, "statuses", len(failed.Statuses), 3)
	last := failed.LatestStatus("")
	eq(t, "latest status", last.State, cluster.TaskFailed)
	eq(t, "message", last.Message, "Executor terminated")
	eq(t, "reason", last.Reason, "REASON_EXECUTOR_TERMINATED")
	eq(t, "source", last.Source, "SOURCE_AGENT")
	run := failed.LatestStatus(cluster.TaskRunning)
	eq(t, "running ips", ips(run.NetworkInfos), []string{"172.31.254.9"})
	eq(t, "running mappings", run.NetworkInfos[0].PortMappings, []cluster.PortMapping{{HostPort: 2160, ContainerPort: 10080, Protocol: "tcp"}})
	eq(t, "discovery port", failed.Discovery.Ports, []cluster.DiscoveryPort{{
		Number: 2160, Protocol: "tcp",
		Labels: []cluster.Label{{Key: "VIP_0", Value: "/web:10080"}, {Key: "network-scope", Value: "host"}},
	}})
	eq(t, "container", failed.Container, &cluster.ContainerInfo{
		Type: "MESOS",
		NetworkInfos: []cluster.NetworkInfo{{
			Name:         "mesos-bridge",
			IPAddresses:  []cluster.IPAddress{{Protocol: "IPv4"}},
			PortMappings: []cluster.PortMapping{{HostPort: 2160, ContainerPort: 10080, Protocol: "tcp"}},
		}},
	})

	second := evs[6].TaskAdded
	eq(t, "second task", second.ID, "web.instance-8b38cc52-c951-11e9-8d5b-70b3d5800001._app.2")
	eq(t, "second ports", second.Ports, []cluster.PortRange{{Begin: 16424, End: 16424}})
	eq(t, "second role", second.Role, "slave_public")

	u := evs[8].TaskUpdated
	eq(t, "update", u.TaskID, second.ID)
	eq(t, "update state", u.State, cluster.TaskRunning)
	eq(t, "update ips", ips(u.Status.NetworkInfos), []string{"172.31.254.10"})
	eq(t, "update timestamp", u.Status.Timestamp, 1566970877.74094)
}

func TestFixtureHelloOverlay(t *testing.T) {
	evs := decodeFixture(t, "subscribe-stream-hello-overlay.jsonl")
	const prefix = "c620b0f5-ce56-472b-814a-aa36b40206af-"

	st := evs[0].Subscribed.State
	var agentIDs, fwNames []string
	for _, a := range st.Agents {
		agentIDs = append(agentIDs, a.ID)
	}
	for _, f := range st.Frameworks {
		fwNames = append(fwNames, f.Name)
	}
	eq(t, "agents", agentIDs, []string{prefix + "S1", prefix + "S0"})
	eq(t, "frameworks", fwNames, []string{"marathon", "metronome"})
	public := st.Agents[1]
	eq(t, "public agent host", public.Hostname, "10.0.4.200")
	eq(t, "public agent attributes", public.Attributes, map[string]string{"public_ip": "true"})
	eq(t, "public agent cpus", public.Resources.CPUs, 4.0)
	eq(t, "marathon", st.Frameworks[0].WebUIURL, "https://10.0.7.40:8443")
	eq(t, "marathon role", st.Frameworks[0].Role, "slave_public")

	hw := evs[1].TaskAdded
	eq(t, "hello-world id", hw.ID, "hello-world.cea59641-2bea-11e8-93f9-6a3d376ad59c")
	eq(t, "hello-world labels", len(hw.Labels), 14)
	lm := labelMap(hw.Labels)
	eq(t, "DCOS_SERVICE_NAME", lm["DCOS_SERVICE_NAME"], "hello-world")
	if v, ok := lm["DCOS_PACKAGE_OPTIONS"]; !ok || v != "" {
		t.Errorf("empty label value lost: %q %v", v, ok)
	}
	eq(t, "hello-world discovery", hw.Discovery.Ports, []cluster.DiscoveryPort{{
		Number: 19630, Name: "api", Protocol: "tcp", Labels: []cluster.Label{{Key: "VIP_0", Value: "/api.hello-world:80"}}}})
	eq(t, "hello-world ports", hw.Ports, []cluster.PortRange{{Begin: 19630, End: 19630}})
	if hw.Container != nil {
		t.Errorf("container on a command task")
	}

	eq(t, "sdk framework", *evs[4].FrameworkAdded, cluster.Framework{
		ID: prefix + "0002", Name: "hello-world", Role: "hello-world-role", Active: true})

	overlay := evs[5].TaskAdded
	eq(t, "overlay executor", overlay.ExecutorID, "hello-overlay__589b3ffa-c5e9-4545-adbd-b84f2ff97813")
	eq(t, "overlay role", overlay.Role, "hello-world-role")
	eq(t, "overlay has no port resources", len(overlay.Ports), 0)
	eq(t, "overlay discovery", overlay.Discovery, &cluster.DiscoveryInfo{
		Visibility: "CLUSTER", Name: "hello-overlay-0-server",
		Ports: []cluster.DiscoveryPort{
			{Number: 1025, Name: "overlay-dummy", Protocol: "tcp", Visibility: "CLUSTER"},
			{Number: 1026, Name: "overlay-dynport", Protocol: "tcp", Visibility: "CLUSTER"},
		},
	})
	run := findTaskUpdate(evs, overlay.ID, cluster.TaskRunning)
	eq(t, "overlay ip", ips(run.Status.NetworkInfos), []string{"9.0.2.2"})
	eq(t, "overlay network", run.Status.NetworkInfos[0].Name, "dcos")
	eq(t, "overlay container", run.Status.ContainerID, "77176505-dcfa-4c9b-8fc8-d2c00e9417c9")

	vip := evs[8].TaskAdded
	eq(t, "vip discovery labels", labelMap(vip.Discovery.Ports[0].Labels), map[string]string{
		"VIP_d8c37956-f5e8-4c3c-870d-306b40dd1492": "overlay-vip:80", "network-scope": "container"})
	eq(t, "vip port visibility", vip.Discovery.Ports[0].Visibility, "EXTERNAL")
	vipRun := findTaskUpdate(evs, vip.ID, cluster.TaskRunning)
	eq(t, "status network labels", vipRun.Status.NetworkInfos[0].Labels, []cluster.Label{{Key: "key0", Value: "val0"}, {Key: "key1", Value: "val1"}})

	hostVIP := evs[11].TaskAdded
	eq(t, "host-vip ports", hostVIP.Ports, []cluster.PortRange{{Begin: 4044, End: 4044}})
	hostRun := findTaskUpdate(evs, hostVIP.ID, cluster.TaskRunning)
	eq(t, "host-vip ip", ips(hostRun.Status.NetworkInfos), []string{"10.0.0.49"})
}

func TestFixtureGetState(t *testing.T) {
	data, err := os.ReadFile("testdata/get-state-tcp-and-udp.json")
	if err != nil {
		t.Fatal(err)
	}
	st, skipped, err := DecodeGetState(data)
	if err != nil || len(skipped) > 0 {
		t.Fatalf("err %v, skipped %v", err, skipped)
	}
	const prefix = "0e559f52-e43a-497a-90b8-11688d98f60c-"
	eq(t, "agents", len(st.Agents), 1)
	eq(t, "agent", st.Agents[0].ID, prefix+"S0")
	eq(t, "agent pid", st.Agents[0].PID, "slave(1)@172.17.0.3:5051")
	eq(t, "agent disk", st.Agents[0].Resources.Disk, 41520.0)
	if len(st.Frameworks) != 2 {
		t.Fatalf("%d frameworks", len(st.Frameworks))
	}
	eq(t, "metronome", st.Frameworks[0].Name, "metronome")
	eq(t, "metronome tasks", len(st.Frameworks[0].Tasks), 0)
	m := st.Frameworks[1]
	eq(t, "marathon", [2]string{m.ID, m.Name}, [2]string{prefix + "0000", "marathon"})
	if len(m.Tasks) != 1 {
		t.Fatalf("marathon has %d tasks", len(m.Tasks))
	}
	task := m.Tasks[0]
	eq(t, "task", task.ID, "app.80eefa01-d956-11e8-8b68-70b3d5800002")
	eq(t, "state", task.State, cluster.TaskRunning)
	eq(t, "ports", task.Ports, []cluster.PortRange{{Begin: 6416, End: 6417}})
	eq(t, "health check", task.HasHealthCheck, true)
	eq(t, "statuses", len(task.Statuses), 2)
	eq(t, "starting status not healthy-flagged", task.Statuses[0].Healthy, (*bool)(nil))
	run := task.LatestStatus(cluster.TaskRunning)
	if run.Healthy == nil || !*run.Healthy {
		t.Errorf("healthy = %v, want true", run.Healthy)
	}
	eq(t, "reason", run.Reason, "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED")
	eq(t, "ip", ips(run.NetworkInfos), []string{"172.17.0.3"})
	eq(t, "timestamp", run.Timestamp, 1540582635.261834)
	vip := []cluster.Label{{Key: "VIP_0", Value: "/app:80"}}
	eq(t, "discovery ports", task.Discovery.Ports, []cluster.DiscoveryPort{
		{Number: 6416, Name: "http", Protocol: "udp", Labels: vip},
		{Number: 6416, Name: "http", Protocol: "tcp", Labels: vip},
		{Number: 6417, Name: "foobar", Protocol: "udp"},
		{Number: 6417, Name: "foobar", Protocol: "tcp"},
	})
	eq(t, "docker", *task.Container.Docker, cluster.DockerInfo{Image: "python:3-alpine", Network: "HOST"})
}

// TestFixtureRoundTrip encodes every decoded fixture event and decodes it
// again: the model must survive, a second encoding must give the same bytes,
// and every key the encoder writes must be one the real master wrote in the
// same place (the encoder invents no shapes).
func TestFixtureRoundTrip(t *testing.T) {
	for _, file := range streamFixtures {
		for i, line := range fixtureLines(t, file) {
			ev, err := DecodeEvent(line)
			if err != nil {
				t.Fatal(err)
			}
			enc, err := EncodeEvent(ev)
			if err != nil {
				t.Fatalf("%s:%d: encode: %v", file, i+1, err)
			}
			back, err := DecodeEvent(enc)
			if err != nil {
				t.Fatalf("%s:%d: decode of encoding: %v\n%s", file, i+1, err, enc)
			}
			if !reflect.DeepEqual(back, ev) {
				t.Errorf("%s:%d: round trip differs\n got %+v\nwant %+v", file, i+1, back, ev)
			}
			again, _ := EncodeEvent(back)
			if !bytes.Equal(again, enc) {
				t.Errorf("%s:%d: re-encoding is not stable", file, i+1)
			}
			checkShape(t, file+":"+strconv.Itoa(i+1), line, enc)
		}
	}

	data, _ := os.ReadFile("testdata/get-state-tcp-and-udp.json")
	st, _, _ := DecodeGetState(data)
	enc, err := EncodeGetState(st)
	if err != nil {
		t.Fatal(err)
	}
	back, skipped, err := DecodeGetState(enc)
	if err != nil || skipped != nil {
		t.Fatalf("err %v skipped %v", err, skipped)
	}
	eq(t, "GET_STATE round trip", back, st)
	checkShape(t, "GET_STATE", data, enc)
}

// checkShape fails if enc has a key path that orig lacks. Array elements are
// collapsed to [] so that shapes, not counts, are compared.
func checkShape(t *testing.T, name string, orig, enc []byte) {
	t.Helper()
	want, got := keyPaths(t, orig), keyPaths(t, enc)
	for p := range got {
		// A MULTI_ROLE framework's "roles" list comes back as the one
		// "role" the model holds; both are real FrameworkInfo shapes.
		if strings.HasSuffix(p, "framework_info.role") && want[p+"s"] {
			continue
		}
		if !want[p] {
			t.Errorf("%s: encoder wrote %s, which the capture does not have", name, p)
		}
	}
}

func keyPaths(t *testing.T, data []byte) map[string]bool {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	paths := map[string]bool{}
	var walk func(string, any)
	walk = func(p string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				paths[p+"."+k] = true
				walk(p+"."+k, c)
			}
		case []any:
			for _, c := range v {
				walk(p+"[]", c)
			}
		}
	}
	walk("", v)
	return paths
}
