package marathon

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/signpost-dns/signpost/internal/cluster"
)

func TestAppsRoundTripFixtures(t *testing.T) {
	for name, b := range appsFixtures(t) {
		t.Run(name, func(t *testing.T) {
			st := decodeAppsOK(t, b)
			out, err := EncodeApps(st, true)
			if err != nil {
				t.Fatal(err)
			}
			again := decodeAppsOK(t, out)
			if !reflect.DeepEqual(again, st) {
				t.Fatalf("round trip changed the state:\n got %#v\nwant %#v\njson %s", again, st, out)
			}
			// Encoding is a fixed point after one decode.
			out2, err := EncodeApps(again, true)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, out2) {
				t.Errorf("second encoding differs:\n%s\n%s", out, out2)
			}
			// Without embedded tasks, the apps come back without tasks.
			noTasks, err := EncodeApps(st, false)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(noTasks, []byte(`"tasks"`)) {
				t.Errorf("tasks written without embedTasks: %s", noTasks)
			}
			bare := decodeAppsOK(t, noTasks)
			for i := range st.Apps {
				want := st.Apps[i]
				want.Tasks = nil
				eq(t, "app without tasks", bare.Apps[i], want)
			}
			// Each app survives GET /v2/apps/{id}.
			for _, a := range st.Apps {
				one, err := EncodeApp(a)
				if err != nil {
					t.Fatal(err)
				}
				got, err := DecodeApp(one)
				if err != nil {
					t.Fatal(err)
				}
				eq(t, "EncodeApp/DecodeApp", got, a)
			}
		})
	}
}

func TestAppDefinitionRoundTripFixtures(t *testing.T) {
	for name, b := range appFixtures(t) {
		t.Run(name, func(t *testing.T) {
			a := decodeAppOK(t, b)
			out, err := EncodeApp(a)
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "round trip", decodeAppOK(t, out), a)
		})
	}
}

func TestTasksRoundTrip(t *testing.T) {
	tasks, _, err := DecodeTasks(readFixture(t, "marathon/v2-tasks-docs.json"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := EncodeTasks(tasks)
	if err != nil {
		t.Fatal(err)
	}
	again, skipped, err := DecodeTasks(out)
	if err != nil || skipped != nil {
		t.Fatal(err, skipped)
	}
	eq(t, "tasks", again, tasks)
	empty, _ := EncodeTasks(nil)
	eq(t, "no tasks", string(empty), `{"tasks":[]}`)
}

func TestInfoRoundTrip(t *testing.T) {
	in, err := DecodeInfo(readFixture(t, "marathon/v2-info-docs.json"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := EncodeInfo(in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := DecodeInfo(out)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "info", again, in)
	leaderless, _ := EncodeInfo(Info{Name: "marathon"})
	if !bytes.Contains(leaderless, []byte(`"leader":null,"frameworkId":null`)) {
		t.Errorf("leaderless info %s", leaderless)
	}
}

// goldenState exercises every branch of the encoder: a host app with a
// health check and tasks in several states, a container-network app whose
// port mappings have and lack host ports, a pre-1.5 bridged app and a
// 1.0–1.4 IP-per-task app.
func goldenState() *cluster.MarathonState {
	return &cluster.MarathonState{Apps: []cluster.App{
		{
			ID: "/web", Instances: 2, Cmd: "a && b <c>", Labels: map[string]string{"HAPROXY_GROUP": "external"},
			Version: "v1", PortDefinitions: []cluster.PortDefinition{{Port: 10000, Protocol: "tcp", Name: "http"}},
			Networks: []cluster.Network{{Mode: "host"}},
			HealthChecks: []cluster.HealthCheck{{Protocol: "HTTP", Path: "/health", PortIndex: intp(0), GracePeriodSeconds: 300,
				IntervalSeconds: 60, TimeoutSeconds: 20, MaxConsecutiveFailures: 3, DelaySeconds: 15}},
			Tasks: []cluster.AppTask{
				{ID: "web.1", AppID: "/web", Host: "10.0.0.1", SlaveID: "S1", State: cluster.TaskRunning, Ports: []int{31000},
					IPAddresses: []cluster.IPAddress{{IP: "10.0.0.1", Protocol: "IPv4"}}, StagedAt: "s", StartedAt: "t", Version: "v1",
					HealthCheckResults: []cluster.HealthCheckResult{{Alive: true, FirstSuccess: "f", LastSuccess: "l", InstanceID: "web.marathon-1"}}},
				{ID: "web.2", AppID: "/web", Host: "10.0.0.2", State: cluster.TaskStaging,
					HealthCheckResults: []cluster.HealthCheckResult{{Alive: false, ConsecutiveFailures: 2, LastFailure: "x", LastFailureCause: "503"}}},
			},
		},
		{
			ID: "/ippc", Instances: 1,
			Container: &cluster.AppContainer{Type: "MESOS", PortMappings: []cluster.AppPortMapping{
				{ContainerPort: 8080, ServicePort: 10001, Protocol: "tcp", Name: "http", NetworkNames: []string{"dcos"}},
				{ContainerPort: 9090, HostPort: intp(0), Protocol: "udp", Labels: map[string]string{"VIP_0": "/x:9090"}},
			}},
			Networks: []cluster.Network{{Mode: "container", Name: "dcos", Labels: map[string]string{"k": "v"}}},
		},
		{
			ID: "/bridge", Instances: 1,
			Container: &cluster.AppContainer{Type: "DOCKER", Docker: &cluster.AppDocker{Image: "nginx", Network: "BRIDGE",
				PortMappings: []cluster.AppPortMapping{{ContainerPort: 80, HostPort: intp(0), ServicePort: 10002, Protocol: "tcp"}}}},
			HealthChecks: []cluster.HealthCheck{{Protocol: "COMMAND", Command: "curl -f localhost", GracePeriodSeconds: 1,
				IntervalSeconds: 2, TimeoutSeconds: 3, MaxConsecutiveFailures: 4, DelaySeconds: 5, IgnoreHTTP1xx: true}},
		},
		{
			ID: "/legacy-ippc", Instances: 1, RequirePorts: true,
			IPAddress: &cluster.AppIPAddress{NetworkName: "dcos", Groups: []string{"g"}, DiscoveryPorts: []cluster.AppDiscoveryPort{
				{Number: 80, Name: "http", Protocol: "tcp"}}},
		},
	}}
}

const goldenApps = `{"apps":[` +
	`{"id":"/web","cmd":"a && b <c>","instances":2,"labels":{"HAPROXY_GROUP":"external"},"version":"v1","requirePorts":false,` +
	`"portDefinitions":[{"port":10000,"protocol":"tcp","name":"http","labels":{}}],"networks":[{"mode":"host"}],` +
	`"healthChecks":[{"gracePeriodSeconds":300,"ignoreHttp1xx":false,"intervalSeconds":60,"maxConsecutiveFailures":3,"path":"/health","portIndex":0,"protocol":"HTTP","timeoutSeconds":20,"delaySeconds":15}],` +
	`"tasksStaged":1,"tasksRunning":1,"tasksHealthy":1,"tasksUnhealthy":1,"deployments":[],"tasks":[` +
	`{"ipAddresses":[{"ipAddress":"10.0.0.1","protocol":"IPv4"}],"stagedAt":"s","state":"TASK_RUNNING","ports":[31000],"startedAt":"t","version":"v1","id":"web.1","appId":"/web","slaveId":"S1","host":"10.0.0.1",` +
	`"healthCheckResults":[{"alive":true,"consecutiveFailures":0,"firstSuccess":"f","lastFailure":null,"lastSuccess":"l","lastFailureCause":null,"instanceId":"web.marathon-1"}]},` +
	`{"state":"TASK_STAGING","ports":[],"id":"web.2","appId":"/web","slaveId":"","host":"10.0.0.2",` +
	`"healthCheckResults":[{"alive":false,"consecutiveFailures":2,"firstSuccess":null,"lastFailure":"x","lastSuccess":null,"lastFailureCause":"503"}]}]},` +
	`{"id":"/ippc","instances":1,"labels":{},"requirePorts":false,"container":{"type":"MESOS","portMappings":[` +
	`{"containerPort":8080,"servicePort":10001,"protocol":"tcp","name":"http","labels":{},"networkNames":["dcos"]},` +
	`{"containerPort":9090,"hostPort":0,"servicePort":0,"protocol":"udp","labels":{"VIP_0":"/x:9090"}}]},` +
	`"networks":[{"mode":"container","name":"dcos","labels":{"k":"v"}}],"healthChecks":[],` +
	`"tasksStaged":0,"tasksRunning":0,"tasksHealthy":0,"tasksUnhealthy":0,"deployments":[],"tasks":[]},` +
	`{"id":"/bridge","instances":1,"labels":{},"requirePorts":false,"container":{"type":"DOCKER","docker":{"image":"nginx","network":"BRIDGE",` +
	`"portMappings":[{"containerPort":80,"hostPort":0,"servicePort":10002,"protocol":"tcp","labels":{}}]}},` +
	`"healthChecks":[{"gracePeriodSeconds":1,"ignoreHttp1xx":true,"intervalSeconds":2,"maxConsecutiveFailures":4,"protocol":"COMMAND","command":{"value":"curl -f localhost"},"timeoutSeconds":3,"delaySeconds":5}],` +
	`"tasksStaged":0,"tasksRunning":0,"tasksHealthy":0,"tasksUnhealthy":0,"deployments":[],"tasks":[]},` +
	`{"id":"/legacy-ippc","instances":1,"labels":{},"requirePorts":true,` +
	`"ipAddress":{"groups":["g"],"labels":{},"discovery":{"ports":[{"number":80,"name":"http","protocol":"tcp","labels":{}}]},"networkName":"dcos"},` +
	`"healthChecks":[],"tasksStaged":0,"tasksRunning":0,"tasksHealthy":0,"tasksUnhealthy":0,"deployments":[],"tasks":[]}` +
	`]}`

func TestEncodeAppsGolden(t *testing.T) {
	st := goldenState()
	out, err := EncodeApps(st, true)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != goldenApps {
		t.Errorf("EncodeApps:\n got %s\nwant %s", out, goldenApps)
	}
	eq(t, "decode golden", decodeAppsOK(t, out), st)
}

func TestEncodeShapes(t *testing.T) {
	host := cluster.App{ID: "/h", Instances: 1}
	out, _ := EncodeApp(host)
	// A host app without ports still says so, as Marathon does.
	for _, want := range []string{`{"app":{"id":"/h"`, `"portDefinitions":[]`, `"labels":{}`, `"healthChecks":[]`, `"deployments":[]`, `"tasks":[]`} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("EncodeApp(host) lacks %s: %s", want, out)
		}
	}
	bridged := cluster.App{ID: "/b", Instances: 1, Networks: []cluster.Network{{Mode: "container/bridge"}}}
	out, _ = EncodeApp(bridged)
	if bytes.Contains(out, []byte("portDefinitions")) {
		t.Errorf("bridged app has portDefinitions: %s", out)
	}
	// Defaults the model leaves empty are written as Marathon would.
	defaults := cluster.App{ID: "/d", Instances: 1,
		Container: &cluster.AppContainer{PortMappings: []cluster.AppPortMapping{{ContainerPort: 1}}},
		Networks:  []cluster.Network{{}},
		Tasks:     []cluster.AppTask{{ID: "d.1", IPAddresses: []cluster.IPAddress{{IP: "::1"}}}}}
	out, _ = EncodeApp(defaults)
	for _, want := range []string{`"type":"DOCKER"`, `"protocol":"tcp"`, `"mode":"container"`, `"protocol":"IPv4"`} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("defaults: lacks %s: %s", want, out)
		}
	}
	empty, _ := EncodeApps(&cluster.MarathonState{}, true)
	eq(t, "empty state", string(empty), `{"apps":[]}`)
	nilState, _ := EncodeApps(nil, false)
	eq(t, "nil state", string(nilState), `{"apps":[]}`)
}

// Decoding normalises so that equal clusters compare equal whatever the
// Marathon version wrote: [] and {} and null and absence are the same.
func TestDecodeNormalisation(t *testing.T) {
	a := `{"apps":[{"id":"/a","labels":{},"portDefinitions":null,"ports":[],"networks":[],"healthChecks":[],"container":null,"ipAddress":null,"cmd":null,"tasks":[{"id":"t","ports":[],"servicePorts":null,"ipAddresses":[],"healthCheckResults":[]}]}]}`
	b := `{"apps":[{"id":"a","tasks":[{"id":"t","appId":"/a"}]}]}`
	eq(t, "normalised", decodeAppsOK(t, []byte(a)), decodeAppsOK(t, []byte(b)))
	st := decodeAppsOK(t, []byte(b))
	eq(t, "app", st.Apps[0], cluster.App{ID: "/a", Instances: 1, Tasks: []cluster.AppTask{{ID: "t", AppID: "/a"}}})
	// A null label value is dropped (marathon-lb strips nulls).
	st = decodeAppsOK(t, []byte(`{"apps":[{"id":"/a","labels":{"A":"1","B":null}}]}`))
	eq(t, "labels", st.Apps[0].Labels, map[string]string{"A": "1"})
	// A present hostPort of 0 stays distinct from an absent one.
	st = decodeAppsOK(t, []byte(`{"apps":[{"id":"/a","container":{"portMappings":[{"containerPort":80},{"containerPort":81,"hostPort":0},{"containerPort":82,"hostPort":31000}]}}]}`))
	pms := st.Apps[0].Container.PortMappings
	eq(t, "hostPorts", []*int{pms[0].HostPort, pms[1].HostPort, pms[2].HostPort}, []*int{nil, intp(0), intp(31000)})
	// Integral numbers written as floats are accepted.
	st = decodeAppsOK(t, []byte(`{"apps":[{"id":"/a","instances":2.0,"portDefinitions":[{"port":1e4}]}]}`))
	eq(t, "float ints", []int{st.Apps[0].Instances, st.Apps[0].PortDefinitions[0].Port}, []int{2, 10000})
	// A health-check command may be a bare string.
	st = decodeAppsOK(t, []byte(`{"apps":[{"id":"/a","healthChecks":[{"protocol":"COMMAND","command":"true"}]}]}`))
	eq(t, "command", st.Apps[0].HealthChecks[0].Command, "true")
	// DecodeApp accepts the GET /v2/apps/{id} wrapper.
	app, err := DecodeApp([]byte(`{"app":{"id":"/w","tasks":[{"id":"w.1"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "wrapped app", app, cluster.App{ID: "/w", Instances: 1, Tasks: []cluster.AppTask{{ID: "w.1", AppID: "/w"}}})
}
