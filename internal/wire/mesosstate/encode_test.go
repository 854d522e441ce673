package mesosstate

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/wire/jsonw"
)

// fullState sets every field of the model, so the round trip covers the
// encoder's optional branches.
func fullState() *cluster.MesosState {
	yes, no := true, false
	return &cluster.MesosState{
		Version: "1.4.0", ID: "master-id", PID: "master@10.0.0.1:5050", Hostname: "m1",
		Leader:     "master@10.0.0.1:5050",
		LeaderInfo: &cluster.MasterInfo{ID: "master-id", PID: "master@10.0.0.1:5050", Hostname: "m1", IP: "10.0.0.1", Port: 5050, Version: "1.4.0"},
		Cluster:    "prod \"east\"", ElectedTime: 1500000000.25, StartTime: 1499999999.125,
		Agents: []cluster.Agent{
			{ID: "S0", Hostname: "a0", Port: 5051, PID: "slave(1)@10.0.1.1:5051", Active: true,
				Attributes: map[string]string{"rack": "r1", "zone": "z\n1", "az": "3"},
				Resources:  cluster.Resources{CPUs: 8, Mem: 31016.5, Disk: 1e6, GPUs: 1, Ports: []cluster.PortRange{{Begin: 31000, End: 32000}, {Begin: 5000, End: 5000}}}},
			{ID: "S1", Hostname: "a1", PID: "slave(1)@[2001:db8::1]:5051"},
		},
		Frameworks: []cluster.Framework{
			{ID: "f0", Name: "marathon", PID: "scheduler-1@10.0.0.1:4000", Hostname: "m1", WebUIURL: "http://m1:8080", Role: "*", Active: true,
				Tasks: []cluster.Task{
					{ID: "web.1", Name: "web", FrameworkID: "f0", AgentID: "S0", ExecutorID: "ex", State: cluster.TaskRunning, Role: "*",
						Ports:  []cluster.PortRange{{Begin: 31000, End: 31001}},
						Labels: []cluster.Label{{Key: "HAPROXY_GROUP", Value: "external"}, {Key: "dup", Value: "1"}, {Key: "dup", Value: "2"}, {}},
						Statuses: []cluster.TaskStatus{
							{State: cluster.TaskRunning, Timestamp: 1500000001.5, Healthy: &yes,
								Labels:      []cluster.Label{{Key: "Docker.NetworkSettings.IPAddress", Value: "172.17.0.2"}},
								ContainerID: "c-1", Message: "healthy", Source: "SOURCE_EXECUTOR", Reason: "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED",
								NetworkInfos: []cluster.NetworkInfo{
									{Name: "dcos", IPAddresses: []cluster.IPAddress{{IP: "9.0.0.2", Protocol: "IPv4"}, {IP: "fd01::2", Protocol: "IPv6"}, {IP: "9.0.0.3"}},
										Groups: []string{"g"}, Labels: []cluster.Label{{Key: "k", Value: "v"}},
										PortMappings: []cluster.PortMapping{{HostPort: 31000, ContainerPort: 80, Protocol: "tcp"}, {HostPort: 31001, ContainerPort: 53}}},
									{},
								}},
							{State: cluster.TaskStaging, Timestamp: 1500000000, Healthy: &no},
							{State: cluster.TaskStarting, NetworkInfos: []cluster.NetworkInfo{{Name: "x"}}},
						},
						Discovery: &cluster.DiscoveryInfo{Visibility: "FRAMEWORK", Name: "web", Environment: "prod", Location: "eu", Version: "v2",
							Ports: []cluster.DiscoveryPort{
								{Number: 80, Name: "http", Protocol: "tcp", Visibility: "CLUSTER", Labels: []cluster.Label{{Key: "network-scope", Value: "host"}}},
								{Number: 53, Protocol: "udp"},
							},
							Labels: []cluster.Label{{Key: "dc", Value: "de1"}}},
						Container: &cluster.ContainerInfo{Type: "DOCKER", Hostname: "web-host",
							Docker:       &cluster.DockerInfo{Image: "nginx", Network: "BRIDGE", PortMappings: []cluster.PortMapping{{HostPort: 31000, ContainerPort: 80, Protocol: "tcp"}}},
							NetworkInfos: []cluster.NetworkInfo{{Name: "dcos", IPAddresses: []cluster.IPAddress{{}}, Labels: []cluster.Label{{Key: "a", Value: "b"}}}}},
						HasHealthCheck: true},
					{ID: "bare", State: cluster.TaskStaging, Discovery: &cluster.DiscoveryInfo{}, Container: &cluster.ContainerInfo{Docker: &cluster.DockerInfo{}}},
				}},
			{ID: "f1", Name: "no pid"},
		},
	}
}

func TestEncodeFullRoundTrip(t *testing.T) {
	st := fullState()
	enc, err := Encode(st)
	if err != nil {
		t.Fatal(err)
	}
	back, skipped, err := Decode(enc)
	if err != nil || len(skipped) > 0 {
		t.Fatalf("Decode: %v %v", skipped, err)
	}
	if !reflect.DeepEqual(back, st) {
		t.Fatalf("round trip differs:\n%s", enc)
	}
}

// TestEncodeShape checks the encoded document with encoding/json against the
// shape a Mesos 1.x master writes.
func TestEncodeShape(t *testing.T) {
	enc, err := Encode(fullState())
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(enc, &doc); err != nil {
		t.Fatalf("encoding/json rejects the output: %v", err)
	}
	get := func(v any, path ...any) any {
		t.Helper()
		for _, p := range path {
			switch p := p.(type) {
			case string:
				m, ok := v.(map[string]any)
				if !ok {
					t.Fatalf("%v: not an object at %q", path, p)
				}
				if v, ok = m[p]; !ok {
					t.Fatalf("%v: no %q", path, p)
				}
			case int:
				a, ok := v.([]any)
				if !ok || p >= len(a) {
					t.Fatalf("%v: no element %d", path, p)
				}
				v = a[p]
			}
		}
		return v
	}
	for _, k := range []string{"completed_frameworks", "orphan_tasks", "unregistered_frameworks"} {
		eq(t, k, get(doc, k), any([]any{}))
	}
	eq(t, "activated_slaves", get(doc, "activated_slaves"), any(1.0))
	eq(t, "deactivated_slaves", get(doc, "deactivated_slaves"), any(1.0))
	eq(t, "agent ports", get(doc, "slaves", 0, "resources", "ports"), any("[31000-32000, 5000-5000]"))
	eq(t, "agent attributes", get(doc, "slaves", 0, "attributes", "zone"), any("z\n1"))
	task := get(doc, "frameworks", 0, "tasks", 0)
	eq(t, "slave_id", get(task, "slave_id"), any("S0"))
	eq(t, "task ports", get(task, "resources", "ports"), any("[31000-31001]"))
	eq(t, "task labels are a bare array", get(task, "labels", 0, "key"), any("HAPROXY_GROUP"))
	eq(t, "status labels are a bare array", get(task, "statuses", 0, "labels", 0, "value"), any("172.17.0.2"))
	ni := get(task, "statuses", 0, "container_status", "network_infos", 0)
	eq(t, "status network labels are a bare array", get(ni, "labels", 0, "key"), any("k"))
	eq(t, "status network ip", get(ni, "ip_addresses", 1), any(map[string]any{"ip_address": "fd01::2", "protocol": "IPv6"}))
	eq(t, "container id", get(task, "statuses", 0, "container_status", "container_id", "value"), any("c-1"))
	eq(t, "healthy", get(task, "statuses", 0, "healthy"), any(true))
	eq(t, "discovery labels object", get(task, "discovery", "labels", "labels", 0, "value"), any("de1"))
	eq(t, "discovery port labels object", get(task, "discovery", "ports", "ports", 0, "labels", "labels", 0, "value"), any("host"))
	eq(t, "container network labels object", get(task, "container", "network_infos", 0, "labels", "labels", 0, "key"), any("a"))
	eq(t, "container network empty ip", get(task, "container", "network_infos", 0, "ip_addresses"), any([]any{map[string]any{}}))
	eq(t, "docker port mapping", get(task, "container", "docker", "port_mappings", 0, "host_port"), any(31000.0))
	eq(t, "health_check", get(task, "health_check"), any(map[string]any{}))
	eq(t, "empty network info", get(task, "statuses", 0, "container_status", "network_infos", 1), any(map[string]any{}))
	if _, ok := get(doc, "frameworks", 1).(map[string]any)["pid"]; ok {
		t.Error(`a framework without a pid has a "pid" field`)
	}
	if _, ok := get(doc, "frameworks", 0).(map[string]any)["pid"]; !ok {
		t.Error(`a framework with a pid has no "pid" field`)
	}
}

func TestEncodeOmitsAbsentFields(t *testing.T) {
	st := &cluster.MesosState{Agents: []cluster.Agent{{ID: "S"}}, Frameworks: []cluster.Framework{{ID: "f",
		Tasks: []cluster.Task{{ID: "t", Statuses: []cluster.TaskStatus{{State: cluster.TaskRunning}}}}}}}
	enc, err := Encode(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, absent := range []string{`"leader"`, `"leader_info"`, `"cluster"`, `"elected_time"`, `"healthy"`,
		`"container_status"`, `"labels"`, `"discovery"`, `"container"`, `"health_check"`, `"ports":"`} {
		if strings.Contains(string(enc), absent) {
			t.Errorf("%s written for an empty model:\n%s", absent, enc)
		}
	}
	var doc struct {
		Frameworks []struct {
			PID   *string
			Tasks []struct{ Role *string }
		}
	}
	if err := json.Unmarshal(enc, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Frameworks[0].PID != nil || doc.Frameworks[0].Tasks[0].Role != nil {
		t.Errorf("framework pid or task role written though empty:\n%s", enc)
	}
}

func TestEncodeErrors(t *testing.T) {
	if _, err := Encode(nil); err == nil {
		t.Error("Encode(nil) succeeded")
	}
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		st := &cluster.MesosState{Frameworks: []cluster.Framework{{ID: "f", Tasks: []cluster.Task{{ID: "t",
			Statuses: []cluster.TaskStatus{{Timestamp: v}}}}}}}
		if _, err := Encode(st); err == nil || !strings.Contains(err.Error(), "timestamp") {
			t.Errorf("Encode with timestamp %v: err = %v", v, err)
		}
	}
}

func TestEncodeFloats(t *testing.T) {
	for _, v := range []float64{0, -0.0, 1, 64, 0.1, 1471134069.16307, 1471132669, 1e-7, 123456789e-20, 1e21, 1.5e300, -2.5, math.SmallestNonzeroFloat64, math.MaxFloat64} {
		var e encoder
		e.float(v, "x")
		want, _ := json.Marshal(v)
		if string(e.b) != string(want) {
			t.Errorf("float(%v) = %s, encoding/json writes %s", v, e.b, want)
		}
		var d decoder
		d.data = e.b
		if got := d.float("x"); got != v || d.err != nil || d.soft != nil {
			t.Errorf("float(%s) read back as %v (%v %v)", e.b, got, d.err, d.soft)
		}
	}
}

func TestStringEscaping(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `"plain"`},
		{`q"b\s/`, `"q\"b\\s/"`},
		{"\n\r\t\b\f", `"\n\r\t\b\f"`},
		{"\x00\x01\x1f\x7f", `"\u0000\u0001\u001f` + "\x7f" + `"`},
		{"é日本😀", `"é日本😀"`},
		{"\u2028\u2029", `"\u2028\u2029"`},
		{"a\xffb", `"a\ufffdb"`},
		{"\xe6\x97", `"\ufffd\ufffd"`}, // truncated 3-byte sequence: one per byte
		{"\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`},
		{"<&>", `"<&>"`},
	}
	for _, tc := range tests {
		got := string(jsonw.AppendString(nil, tc.in))
		if got != tc.want {
			t.Errorf("jsonw.AppendString(%q) = %s, want %s", tc.in, got, tc.want)
		}
		// encoding/json reads back what Decode reads back.
		var viaStd string
		if err := json.Unmarshal([]byte(got), &viaStd); err != nil {
			t.Errorf("encoding/json rejects %s: %v", got, err)
		}
		s := scanner{data: []byte(got)}
		if viaOurs := string(s.readString()); viaOurs != viaStd || s.err != nil {
			t.Errorf("readString(%s) = %q, encoding/json reads %q", got, viaOurs, viaStd)
		}
		if utf8.ValidString(tc.in) && viaStd != tc.in {
			t.Errorf("valid string %q came back as %q", tc.in, viaStd)
		}
	}
}

// TestReadStringMatchesEncodingJSON compares string decoding, including
// escapes, surrogates and invalid UTF-8, against encoding/json.
func TestReadStringMatchesEncodingJSON(t *testing.T) {
	for _, lit := range []string{
		`""`, `"abc"`, `"\u00e9"`, `"\ud83d\ude00"`, `"\ud800"`, `"\udc00x"`, `"\ud800\u0041"`, `"\ud800\ud800"`,
		`"\/\"\\\b\f\n\r\t"`, "\"\xff\xfe\"", "\"caf\xc3\xa9\"", "\"\xf0\x9f\x98\"", `"\u0000"`, `"\uFFFF"`,
	} {
		var want string
		if err := json.Unmarshal([]byte(lit), &want); err != nil {
			t.Fatalf("encoding/json: %s: %v", lit, err)
		}
		s := scanner{data: []byte(lit)}
		if got := string(s.readString()); got != want || s.err != nil || s.pos != len(lit) {
			t.Errorf("readString(%s) = %q (err %v), encoding/json gives %q", lit, got, s.err, want)
		}
	}
}
