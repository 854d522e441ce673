package mesosstate

import (
	"reflect"
	"strconv"
	"testing"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// synthState builds a Marathon-style cluster: agents with attributes and a
// port range, tasks spread over ten frameworks, each task with Docker bridge
// port mappings, discovery info, labels, a health check and two statuses of
// which the running one carries the container's network info.
func synthState(nAgents, nTasks int) *cluster.MesosState {
	const prefix = "5c5a3b0e-8a1f-4f6a-9d27-0b1c2d3e4f50"
	st := &cluster.MesosState{
		Version: "1.4.0", ID: prefix, PID: "master@10.0.0.1:5050", Hostname: "master1.example",
		Leader:      "master@10.0.0.1:5050",
		LeaderInfo:  &cluster.MasterInfo{ID: prefix, PID: "master@10.0.0.1:5050", Hostname: "master1.example", IP: "10.0.0.1", Port: 5050, Version: "1.4.0"},
		Cluster:     "bench",
		ElectedTime: 1500000000.123456, StartTime: 1499999990.654321,
		Agents:     make([]cluster.Agent, nAgents),
		Frameworks: make([]cluster.Framework, 10),
	}
	agentIP := func(i int) string {
		return "10." + strconv.Itoa(1+i>>16) + "." + strconv.Itoa(i>>8&0xFF) + "." + strconv.Itoa(i&0xFF)
	}
	for i := range st.Agents {
		ip := agentIP(i)
		st.Agents[i] = cluster.Agent{
			ID: prefix + "-S" + strconv.Itoa(i), Hostname: "agent" + strconv.Itoa(i) + ".example", Port: 5051,
			PID: "slave(1)@" + ip + ":5051", Active: i%100 != 99,
			Attributes: map[string]string{"rack": "r" + strconv.Itoa(i%40), "zone": "z" + strconv.Itoa(i%3)},
			Resources: cluster.Resources{CPUs: 16, Mem: 64000, Disk: 500000,
				Ports: []cluster.PortRange{{Begin: 1025, End: 2180}, {Begin: 31000, End: 32000}}},
		}
	}
	for f := range st.Frameworks {
		st.Frameworks[f] = cluster.Framework{
			ID: prefix + "-000" + strconv.Itoa(f), Name: "marathon-" + strconv.Itoa(f),
			PID:      "scheduler-" + strconv.Itoa(f) + "@10.0.0.1:4" + strconv.Itoa(1000+f),
			Hostname: "master1.example", WebUIURL: "http://master1.example:8080", Role: "*", Active: true,
			Tasks: make([]cluster.Task, 0, nTasks/10+1),
		}
	}
	for i := 0; i < nTasks; i++ {
		fw := &st.Frameworks[i%10]
		app := "app-" + strconv.Itoa(i/10)
		agent := &st.Agents[i%nAgents]
		hp := 31000 + i%500*2
		healthy := i%7 != 0
		fw.Tasks = append(fw.Tasks, cluster.Task{
			ID:   app + ".instance-8c0d8e5a-" + strconv.Itoa(1000000+i) + "._app.1",
			Name: app, FrameworkID: fw.ID, AgentID: agent.ID, State: cluster.TaskRunning, Role: "*",
			Ports: []cluster.PortRange{{Begin: hp, End: hp + 1}},
			Labels: []cluster.Label{{Key: "HAPROXY_GROUP", Value: "external"},
				{Key: "HAPROXY_0_VHOST", Value: app + ".example.com"}},
			Statuses: []cluster.TaskStatus{
				{State: cluster.TaskStarting, Timestamp: 1500000100 + float64(i)/1000},
				{State: cluster.TaskRunning, Timestamp: 1500000105.5 + float64(i)/1000, Healthy: &healthy,
					ContainerID: "0f6f3c2e-" + strconv.Itoa(i),
					Labels:      []cluster.Label{{Key: "Docker.NetworkSettings.IPAddress", Value: "172.17.0." + strconv.Itoa(2+i%250)}},
					NetworkInfos: []cluster.NetworkInfo{{IPAddresses: []cluster.IPAddress{{IP: agentIP(i % nAgents), Protocol: "IPv4"}},
						PortMappings: []cluster.PortMapping{{HostPort: hp, ContainerPort: 80, Protocol: "tcp"}}}}},
			},
			Discovery: &cluster.DiscoveryInfo{Visibility: "FRAMEWORK", Name: app + ".group",
				Ports: []cluster.DiscoveryPort{
					{Number: hp, Name: "http", Protocol: "tcp", Labels: []cluster.Label{{Key: "network-scope", Value: "host"}}},
					{Number: hp + 1, Name: "metrics", Protocol: "tcp", Labels: []cluster.Label{{Key: "network-scope", Value: "host"}}},
				}},
			Container: &cluster.ContainerInfo{Type: "DOCKER", Docker: &cluster.DockerInfo{Image: "nginx:1.25", Network: "BRIDGE",
				PortMappings: []cluster.PortMapping{{HostPort: hp, ContainerPort: 80, Protocol: "tcp"}, {HostPort: hp + 1, ContainerPort: 9090, Protocol: "tcp"}}}},
			HasHealthCheck: true,
		})
	}
	return st
}

func TestSyntheticRoundTrip(t *testing.T) {
	st := synthState(100, 1000)
	enc, err := Encode(st)
	if err != nil {
		t.Fatal(err)
	}
	back, skipped, err := Decode(enc)
	if err != nil || len(skipped) > 0 {
		t.Fatalf("Decode: %v %v", skipped, err)
	}
	if !reflect.DeepEqual(back, st) {
		t.Fatal("synthetic state does not round-trip")
	}
	if hint := sizeHint(st); hint < len(enc) {
		t.Errorf("sizeHint %d < encoded size %d: Encode would reallocate", hint, len(enc))
	}
}

func BenchmarkEncode100kTasks(b *testing.B) {
	st := synthState(10000, 100000)
	var n int
	b.ReportAllocs()
	for b.Loop() {
		out, err := Encode(st)
		if err != nil {
			b.Fatal(err)
		}
		n = len(out)
	}
	b.SetBytes(int64(n))
	b.ReportMetric(float64(n)/1e6, "MB/doc")
}

// BenchmarkAppend100kTasks is the simulator's steady state: one buffer
// reused across requests.
func BenchmarkAppend100kTasks(b *testing.B) {
	st := synthState(10000, 100000)
	buf, err := Append(nil, st)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = Append(buf[:0], st); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
	b.ReportMetric(float64(len(buf))/1e6, "MB/doc")
}

func BenchmarkDecode100kTasks(b *testing.B) {
	data, err := Encode(synthState(10000, 100000))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		st, skipped, err := Decode(data)
		if err != nil || len(skipped) > 0 || len(st.Agents) != 10000 {
			b.Fatalf("Decode: %v %v", skipped, err)
		}
	}
	b.ReportMetric(float64(len(data))/1e6, "MB/doc")
}
