package mesosstate

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// The fixtures are byte-for-byte copies of /work/shared/fixtures (see
// SOURCES.md there): real master captures from Mesos 0.27, 0.28 and 1.0 and
// the hand-edited state Mesos-DNS tests itself with.

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func decodeFixture(t testing.TB, name string) *cluster.MesosState {
	t.Helper()
	st, skipped, err := Decode(readFixture(t, name))
	if err != nil {
		t.Fatalf("Decode(%s): %v", name, err)
	}
	for _, s := range skipped {
		t.Errorf("Decode(%s) skipped %v", name, s)
	}
	return st
}

func countTasks(st *cluster.MesosState) int {
	n := 0
	for _, f := range st.Frameworks {
		n += len(f.Tasks)
	}
	return n
}

// tasksByID returns every task with the id, in document order; ids are not
// unique in Mesos-DNS's fake.json.
func tasksByID(st *cluster.MesosState, id string) []*cluster.Task {
	var out []*cluster.Task
	for i := range st.Frameworks {
		for j := range st.Frameworks[i].Tasks {
			if t := &st.Frameworks[i].Tasks[j]; t.ID == id {
				out = append(out, t)
			}
		}
	}
	return out
}

func mustTask(t *testing.T, st *cluster.MesosState, id string) *cluster.Task {
	t.Helper()
	ts := tasksByID(st, id)
	if len(ts) == 0 {
		t.Fatalf("no task %q", id)
	}
	return ts[0]
}

func mustAgent(t *testing.T, st *cluster.MesosState, id string) *cluster.Agent {
	t.Helper()
	for i := range st.Agents {
		if st.Agents[i].ID == id {
			return &st.Agents[i]
		}
	}
	t.Fatalf("no agent %q", id)
	return nil
}

func mustFramework(t *testing.T, st *cluster.MesosState, id string) *cluster.Framework {
	t.Helper()
	for i := range st.Frameworks {
		if st.Frameworks[i].ID == id {
			return &st.Frameworks[i]
		}
	}
	t.Fatalf("no framework %q", id)
	return nil
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func ptr[T any](v T) *T { return &v }

func labelValue(ls []cluster.Label, key string) (string, bool) {
	for _, l := range ls {
		if l.Key == key {
			return l.Value, true
		}
	}
	return "", false
}

// fakeJSONChecks are the facts shared by Mesos-DNS's fake.json and its two
// branch variants.
func fakeJSONChecks(t *testing.T, st *cluster.MesosState) {
	eq(t, "Version", st.Version, "0.19.1")
	eq(t, "ID", st.ID, "20140916-194712-631065744-5050-4798")
	eq(t, "Leader", st.Leader, "master@1.2.3.4:5050")
	eq(t, "PID", st.PID, "master@1.2.3.4:5050")
	eq(t, "Hostname", st.Hostname, "localhost")
	eq(t, "LeaderInfo", st.LeaderInfo, (*cluster.MasterInfo)(nil))
	eq(t, "ElectedTime", st.ElectedTime, 1414913536.12863)
	eq(t, "StartTime", st.StartTime, 1410896832.93425)
	eq(t, "agents", len(st.Agents), 4)
	eq(t, "tasks", countTasks(st), 10)

	// The IPv6 agent; fake.json's agents have no "active" key at all.
	a := mustAgent(t, st, "20140803-194712-3041283216-5050-2116-3")
	eq(t, "agent PID", a.PID, "slave(1)@[2001:db8::1]:5051")
	eq(t, "agent Hostname", a.Hostname, "2001:db8::1")
	eq(t, "agent Active", a.Active, false)
	eq(t, "agent Attributes", a.Attributes, map[string]string{"host": "dev-123-1g.c.mesos.internal"})
	eq(t, "agent Resources", a.Resources, cluster.Resources{CPUs: 8, Mem: 31016, Disk: 1855784,
		Ports: []cluster.PortRange{{Begin: 31000, End: 32000}}})

	f := mustFramework(t, st, "20140703-014514-3041283216-5050-5349-0001")
	eq(t, "ipv6 framework Name", f.Name, "ipv6-framework")
	eq(t, "ipv6 framework PID", f.PID, "scheduler(1)@[2001:db8::1]:25501")
	np := mustFramework(t, st, "20140703-014514-3041283216-5050-5348-0002")
	eq(t, `"no pid" framework PID`, np.PID, "")
	eq(t, `"no pid" framework tasks`, len(np.Tasks), 0)
	m := mustFramework(t, st, "20140703-014514-3041283216-5050-5348-0000")
	eq(t, "marathon Name", m.Name, "marathon")
	eq(t, "marathon Hostname", m.Hostname, "google.com")
	eq(t, "marathon Role", m.Role, "*")
	eq(t, "marathon tasks", len(m.Tasks), 8)
	c := mustFramework(t, st, "20140703-014514-3041283216-5050-5348-0001")
	eq(t, "chronos Name", c.Name, "chronos with a space AND MIXED CASE-2.0.1")
	// Kept as sent, though it does not match the enclosing framework.
	eq(t, "chronos task FrameworkID", c.Tasks[0].FrameworkID, "20140703-014514-3041283216-5050-5348-000")

	toy := mustTask(t, st, "toy-store.b8db9f73-562f-11e4-a088-c20493233aa5")
	eq(t, "toy-store Ports", toy.Ports, []cluster.PortRange{{Begin: 31354, End: 31354}, {Begin: 31355, End: 31355}})
	eq(t, "toy-store AgentID", toy.AgentID, "20140803-194712-3041283216-5050-2116-3")
	eq(t, "toy-store ContainerID", toy.Statuses[0].ContainerID, "da87d8aa-98f1-4fc3-a260-f92c116fc926")
	last := toy.Statuses[0].NetworkInfos[len(toy.Statuses[0].NetworkInfos)-1]
	eq(t, "toy-store last network", last, cluster.NetworkInfo{Name: "dcos6", IPAddresses: []cluster.IPAddress{
		{IP: "12.0.1.2", Protocol: "IPv4"}, {IP: "fd01:b::1:8000:2", Protocol: "IPv6"}}})

	// Two different tasks share this id (names liquor.store and big.dog2).
	liquor := tasksByID(st, "liquor-store.b8db9f73-562f-11e4-a088-c20493233aa5")
	eq(t, "tasks with the liquor-store id", len(liquor), 2)
	eq(t, "liquor names", []string{liquor[0].Name, liquor[1].Name}, []string{"liquor.store", "big.dog2"})
	l := liquor[0]
	eq(t, "liquor Discovery", l.Discovery, &cluster.DiscoveryInfo{
		Visibility: "CLUSTER", Name: "liquor.store", Environment: "prod", Location: "europe", Version: "1.0",
		Ports:  []cluster.DiscoveryPort{{Number: 80, Name: "http", Protocol: "tcp"}, {Number: 443, Name: "https", Protocol: "tcp"}},
		Labels: []cluster.Label{{Key: "dc", Value: "de1"}, {Key: "canary", Value: "Teneriffa"}},
	})
	eq(t, "liquor statuses", len(l.Statuses), 4)
	// Statuses are not in time order; the latest running one is the second.
	latest := l.LatestStatus(cluster.TaskRunning)
	eq(t, "liquor latest running timestamp", latest.Timestamp, 1413572390.09275)
	ip, _ := labelValue(latest.Labels, "Docker.NetworkSettings.IPAddress")
	eq(t, "liquor latest Docker IP", ip, "10.3.0.1")
	eq(t, "liquor Healthy", latest.Healthy, (*bool)(nil))

	nginx := mustTask(t, st, "nginx.1bc32344-3dda-11e4-a088-c20493233aa5")
	eq(t, `nginx Ports ("[]")`, nginx.Ports, []cluster.PortRange(nil))
	ip, _ = labelValue(nginx.Statuses[0].Labels, "MesosContainerizer.NetworkSettings.IPAddress")
	eq(t, "nginx Mesos IP", ip, "10.3.0.3")
	poseidon := mustTask(t, st, "poseidon.bc4e3796-2d7a-11e4-b8df-d43d7edb01cd")
	eq(t, "poseidon State", poseidon.State, cluster.TaskKilled)
	eq(t, "poseidon status Labels", poseidon.Statuses[0].Labels, []cluster.Label{{Key: "foo", Value: "bar"}})
}

var fixtureTests = []struct {
	file  string
	check func(t *testing.T, st *cluster.MesosState)
}{
	{"mesos-state/mesos-0.27.0-docker-bridge-state.json", func(t *testing.T, st *cluster.MesosState) {
		eq(t, "Version", st.Version, "0.27.0")
		eq(t, "Leader", st.Leader, "master@10.0.7.22:5050")
		eq(t, "Cluster", st.Cluster, "sargun-4flnaak")
		eq(t, "ElectedTime", st.ElectedTime, 1450463853.34292)
		eq(t, "agents", len(st.Agents), 1)
		eq(t, "frameworks", len(st.Frameworks), 1)
		eq(t, "tasks (completed ones ignored)", countTasks(st), 1)
		a := mustAgent(t, st, "460fd813-ea4c-44db-b2bb-78a02cd6db37-S0")
		eq(t, "agent PID", a.PID, "slave(1)@10.0.2.4:5051")
		eq(t, "agent Active", a.Active, true)
		eq(t, "agent Attributes", a.Attributes, map[string]string(nil))
		eq(t, "agent port ranges", len(a.Resources.Ports), 7)
		eq(t, "agent last port range", a.Resources.Ports[6], cluster.PortRange{Begin: 8182, End: 32000})
		f := st.Frameworks[0]
		eq(t, "framework", [4]string{f.Name, f.PID, f.Role, f.WebUIURL}, [4]string{"marathon",
			"scheduler-02958493-28f0-402b-96b9-d6255d75c223@10.0.7.22:41314", "slave_public", "http://10.0.7.22:8080"})
		task := mustTask(t, st, "test.6579d29b-a5be-11e5-b87a-0aaf95d09f0f")
		eq(t, "Labels", task.Labels, []cluster.Label{{Key: "vip_PORT0", Value: "tcp://1.2.3.4:5000"}})
		eq(t, "Ports", task.Ports, []cluster.PortRange{{Begin: 28027, End: 28027}})
		eq(t, "Container", task.Container, &cluster.ContainerInfo{Type: "DOCKER", Docker: &cluster.DockerInfo{
			Image: "ubuntu:latest", Network: "BRIDGE",
			PortMappings: []cluster.PortMapping{{HostPort: 28027, ContainerPort: 80, Protocol: "tcp"}}}})
		s := task.Statuses[0]
		ip, _ := labelValue(s.Labels, "Docker.NetworkSettings.IPAddress")
		eq(t, "Docker IP label", ip, "172.17.0.5")
		// Both ip_address and ip_addresses (without protocol) are sent.
		eq(t, "status NetworkInfos", s.NetworkInfos, []cluster.NetworkInfo{{IPAddresses: []cluster.IPAddress{{IP: "172.17.0.5"}}}})
		eq(t, "HasHealthCheck", task.HasHealthCheck, false)
		eq(t, "Healthy", s.Healthy, (*bool)(nil))
	}},
	{"mesos-state/mesos-0.28.0-dcos-discovery-health-state.json", func(t *testing.T, st *cluster.MesosState) {
		eq(t, "Version", st.Version, "0.28.0")
		eq(t, "Cluster", st.Cluster, "SSH Installed DCOS")
		eq(t, "Leader", st.Leader, "master@10.10.0.106:5050")
		eq(t, "agents", len(st.Agents), 3)
		eq(t, "tasks", countTasks(st), 2)
		eq(t, "S0 ports", mustAgent(t, st, "338e8e55-1f6d-468f-ad29-34395d3b1c38-S0").Resources.Ports,
			[]cluster.PortRange{{Begin: 5000, End: 6000}})
		proxy := mustTask(t, st, "integration-test-proxy-to-minuteman-vip-597177d7b90b4cfaac21ccf48822be52.788bb83d-eff0-11e5-8568-c2926e3a9a93")
		eq(t, "proxy Healthy", proxy.Statuses[0].Healthy, ptr(false))
		// healthy is sent although the 0.28 master wrote no health_check.
		eq(t, "proxy HasHealthCheck", proxy.HasHealthCheck, false)
		eq(t, "proxy Discovery", proxy.Discovery, &cluster.DiscoveryInfo{Visibility: "FRAMEWORK",
			Name:  "integration-test-proxy-to-minuteman-vip-597177d7b90b4cfaac21ccf48822be52",
			Ports: []cluster.DiscoveryPort{{Number: 21464, Protocol: "tcp"}}})
		eq(t, "proxy Ports", proxy.Ports, []cluster.PortRange{{Begin: 21464, End: 21464}})
		eq(t, "proxy IPs", proxy.Statuses[0].NetworkInfos[0].IPAddresses, []cluster.IPAddress{{IP: "10.10.0.109"}})
		app := mustTask(t, st, "integration-test-app-with-minuteman-vip-597177d7b90b4cfaac21ccf48822be52.637947ab-eff0-11e5-8568-c2926e3a9a93")
		eq(t, "app Labels", app.Labels, []cluster.Label{{Key: "vip_PORT0", Value: "tcp://1.2.3.4:5000"}})
		eq(t, "app Healthy", app.Statuses[0].Healthy, (*bool)(nil))
		eq(t, "app AgentID", app.AgentID, "338e8e55-1f6d-468f-ad29-34395d3b1c38-S2")
	}},
	{"mesos-state/mesos-1.0.0-dcos-calico-state.json", func(t *testing.T, st *cluster.MesosState) {
		eq(t, "Version", st.Version, "1.0.0")
		eq(t, "Leader", st.Leader, "master@192.168.65.90:5050")
		eq(t, "LeaderInfo (added in 1.2)", st.LeaderInfo, (*cluster.MasterInfo)(nil))
		eq(t, "Cluster", st.Cluster, "dcos-vagrant")
		eq(t, "agents", len(st.Agents), 2)
		eq(t, "S0 Attributes", mustAgent(t, st, "10172a79-151f-4bd3-aeec-9ef367a7ddcc-S0").Attributes,
			map[string]string{"public_ip": "true"})
		eq(t, "S1 Resources", mustAgent(t, st, "10172a79-151f-4bd3-aeec-9ef367a7ddcc-S1").Resources.CPUs, 2.0)
		var names []string
		for _, f := range st.Frameworks {
			names = append(names, f.Name)
		}
		eq(t, "frameworks (completed ignored)", names, []string{"calico", "etcd", "marathon", "metronome"})
		eq(t, "tasks", countTasks(st), 10)
		eq(t, "calico tasks", len(st.Frameworks[0].Tasks), 6)

		cni := mustTask(t, st, "test-mesos-cni.ff2019e6-61b4-11e6-a0e4-70b3d5800001")
		// Status network_infos: labels [] (bare array) → none.
		eq(t, "cni status NetworkInfos", cni.Statuses[0].NetworkInfos, []cluster.NetworkInfo{{Name: "calico",
			IPAddresses: []cluster.IPAddress{{IP: "192.168.246.11", Protocol: "IPv4"}}}})
		// container.network_infos: ip_addresses [{}] and labels {} as Marathon requests them.
		eq(t, "cni Container", cni.Container, &cluster.ContainerInfo{Type: "MESOS", NetworkInfos: []cluster.NetworkInfo{
			{Name: "calico", IPAddresses: []cluster.IPAddress{{}}}}})
		// "ports":{} → no ports.
		eq(t, "cni Discovery", cni.Discovery, &cluster.DiscoveryInfo{Visibility: "FRAMEWORK", Name: "test-mesos-cni"})
		eq(t, "cni Ports", cni.Ports, []cluster.PortRange(nil))

		etcd := mustTask(t, st, "etcd-1471132631 192.168.65.111 1025 1026 1027")
		eq(t, "etcd-server ExecutorID", etcd.ExecutorID, "etcd-1471132631")
		eq(t, "etcd-server Discovery", etcd.Discovery, &cluster.DiscoveryInfo{Visibility: "EXTERNAL", Name: "etcd-server",
			Ports: []cluster.DiscoveryPort{{Number: 1025, Protocol: "tcp"}, {Number: 1026, Protocol: "client"}}})
		eq(t, "etcd-server Ports", etcd.Ports, []cluster.PortRange{{Begin: 1025, End: 1027}})
		eq(t, "etcd-server integral timestamp", etcd.Statuses[0].Timestamp, 1471132669.0)

		calico := mustTask(t, st, "calico.28b74147-61b2-11e6-a0e4-70b3d5800001")
		eq(t, "calico labels", len(calico.Labels), 8)
		v, _ := labelValue(calico.Labels, "DCOS_PACKAGE_NAME")
		eq(t, "calico DCOS_PACKAGE_NAME", v, "calico")
		eq(t, "calico Docker", calico.Container.Docker, &cluster.DockerInfo{Image: "calico/calico-dcos:v0.1.0", Network: "HOST"})
		eq(t, "calico host IP", calico.Statuses[0].NetworkInfos[0].IPAddresses[0].IP, "192.168.65.111")

		node := mustTask(t, st, "RunCalicoNode-BDA269D3-1C7D-48A5-9005-C0D4F31584CF")
		eq(t, "RunCalicoNode Container", node.Container, (*cluster.ContainerInfo)(nil))
		eq(t, "RunCalicoNode AgentID", node.AgentID, "10172a79-151f-4bd3-aeec-9ef367a7ddcc-S0")
	}},
	{"mesos-state/mesos-dns-factories-fake.json", func(t *testing.T, st *cluster.MesosState) {
		fakeJSONChecks(t, st)
		eq(t, "frameworks", len(st.Frameworks), 4)
		eq(t, "toy-store networks", len(mustTask(t, st, "toy-store.b8db9f73-562f-11e4-a088-c20493233aa5").Statuses[0].NetworkInfos), 2)
	}},
	{"mesos-dns/fake.json", func(t *testing.T, st *cluster.MesosState) {
		fakeJSONChecks(t, st)
		eq(t, "frameworks", len(st.Frameworks), 4)
		toy := mustTask(t, st, "toy-store.b8db9f73-562f-11e4-a088-c20493233aa5")
		eq(t, "toy-store first network", toy.Statuses[0].NetworkInfos[0], cluster.NetworkInfo{Name: "dcos6",
			IPAddresses: []cluster.IPAddress{{IP: "12.0.1.3", Protocol: "IPv4"}}})
	}},
	{"mesos-dns/fake.v0.7.x-branch.json", func(t *testing.T, st *cluster.MesosState) {
		fakeJSONChecks(t, st)
		eq(t, "frameworks", len(st.Frameworks), 4)
		// This variant lacks the 12.0.1.3 network.
		eq(t, "toy-store networks", len(mustTask(t, st, "toy-store.b8db9f73-562f-11e4-a088-c20493233aa5").Statuses[0].NetworkInfos), 1)
	}},
	{"mesos-dns/fake.ignore-inactive-frameworks-branch.json", func(t *testing.T, st *cluster.MesosState) {
		fakeJSONChecks(t, st)
		eq(t, "frameworks (inactive one kept)", len(st.Frameworks), 5)
		f := mustFramework(t, st, "1b4c4343-a8a1-48ca-a74c-4e24d7947303-0002")
		eq(t, "inactive framework", [3]any{f.Name, f.Active, f.Role}, [3]any{"marathon", false, "marathon"})
		eq(t, "inactive framework WebUIURL", f.WebUIURL, "http://10.0.2.175:26074")
	}},
}

func TestDecodeFixtures(t *testing.T) {
	for _, tc := range fixtureTests {
		t.Run(tc.file, func(t *testing.T) {
			tc.check(t, decodeFixture(t, tc.file))
		})
	}
}

func TestFixturesCovered(t *testing.T) {
	files, err := filepath.Glob("testdata/*/*.json")
	if err != nil {
		t.Fatal(err)
	}
	tested := map[string]bool{}
	for _, tc := range fixtureTests {
		tested[filepath.Join("testdata", tc.file)] = true
	}
	for _, f := range files {
		if !tested[f] {
			t.Errorf("fixture %s has no decode test", f)
		}
	}
}

func TestRoundTripFixtures(t *testing.T) {
	for _, tc := range fixtureTests {
		t.Run(tc.file, func(t *testing.T) {
			st := decodeFixture(t, tc.file)
			enc, err := Encode(st)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(enc) {
				t.Fatalf("Encode wrote invalid JSON:\n%s", enc)
			}
			st2, skipped, err := Decode(enc)
			if err != nil || len(skipped) > 0 {
				t.Fatalf("Decode(Encode) = %v, %v", skipped, err)
			}
			if !reflect.DeepEqual(st, st2) {
				t.Fatalf("Decode(Encode(s)) != s\nencoded: %s", enc)
			}
			// The facts hold for the re-decoded state too.
			tc.check(t, st2)
			enc2, err := Encode(st2)
			if err != nil || !bytes.Equal(enc, enc2) {
				t.Fatalf("Encode not deterministic: %v", err)
			}
			// Append reuses the caller's buffer.
			buf := []byte("prefix")
			buf, err = Append(buf, st)
			if err != nil || !bytes.Equal(buf, append([]byte("prefix"), enc...)) {
				t.Fatalf("Append differs from Encode: %v", err)
			}
		})
	}
}

// TestDecodeYields checks that Yield is called as decoding goes, about once
// per yieldEvery agents and tasks, and that yielding changes nothing in the
// result.
func TestDecodeYields(t *testing.T) {
	data, err := Encode(synthState(100, 1000))
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	got, skipped, err := DecodeOptions{Yield: func() { calls++ }}.Decode(data)
	if err != nil || len(skipped) > 0 {
		t.Fatalf("Decode with Yield: %v %v", skipped, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("Decode with Yield decodes differently")
	}
	// One call every yieldEvery agents and tasks, and one per block copied
	// when the arrays are flattened (synthState puts the tasks in frameworks
	// of at most a few hundred).
	units := 100 + 1000
	flat := 0
	for _, f := range got.Frameworks {
		flat += (len(f.Tasks) + blockLen - 1) / blockLen
	}
	flat += (len(got.Agents) + blockLen - 1) / blockLen
	if want := units/yieldEvery + flat; calls != want {
		t.Errorf("Yield called %d times for %d agents and tasks, want %d", calls, units, want)
	}
}
