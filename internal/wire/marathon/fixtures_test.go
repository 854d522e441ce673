package marathon

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/wire/sse"
)

// sharedFixtures is where the project keeps the originals of testdata/.
const sharedFixtures = "../../../../shared/fixtures"

func intp(i int) *int { return &i }

func readFixture(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeAppsOK decodes an apps document that must decode without skips.
func decodeAppsOK(t *testing.T, b []byte) *cluster.MarathonState {
	t.Helper()
	st, skipped, err := DecodeApps(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) > 0 {
		t.Fatalf("skipped: %v", skipped)
	}
	return st
}

func appByID(t *testing.T, st *cluster.MarathonState, id string) cluster.App {
	t.Helper()
	for _, a := range st.Apps {
		if a.ID == id {
			return a
		}
	}
	t.Fatalf("no app %q", id)
	return cluster.App{}
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %#v\nwant %#v", what, got, want)
	}
}

// The checks below assert concrete facts of each real capture, so that a
// decoder that silently drops a field fails here and not in the LB.

func checkDocsApps(t *testing.T, b []byte) {
	st := decodeAppsOK(t, b)
	eq(t, "apps", len(st.Apps), 1)
	a := st.Apps[0]
	eq(t, "id", a.ID, "/myapp")
	eq(t, "cmd", a.Cmd, "env && sleep 60")
	eq(t, "instances", a.Instances, 3)
	eq(t, "version", a.Version, "2015-09-25T15:13:48.343Z")
	// The old "ports" list becomes port definitions.
	eq(t, "portDefinitions", a.PortDefinitions, []cluster.PortDefinition{{Port: 10013, Protocol: "tcp"}, {Port: 10015, Protocol: "tcp"}})
	eq(t, "labels ({} → nil)", a.Labels, map[string]string(nil))
	eq(t, "container (null)", a.Container, (*cluster.AppContainer)(nil))
	eq(t, "healthChecks ([] → nil)", a.HealthChecks, []cluster.HealthCheck(nil))
	eq(t, "tasks", a.Tasks, []cluster.AppTask(nil))
}

func checkMarathon15Bridge(t *testing.T, b []byte) {
	st := decodeAppsOK(t, b)
	eq(t, "apps", len(st.Apps), 1)
	a := st.Apps[0]
	eq(t, "id", a.ID, "/pywebserver")
	eq(t, "labels", a.Labels, map[string]string{"HAPROXY_GROUP": "external", "HAPROXY_0_VHOST": "myvhost.com"})
	eq(t, "networks", a.Networks, []cluster.Network{{Mode: "container/bridge"}})
	eq(t, "portDefinitions", a.PortDefinitions, []cluster.PortDefinition(nil))
	eq(t, "container", a.Container, &cluster.AppContainer{
		Type:   "DOCKER",
		Docker: &cluster.AppDocker{Image: "python:3"},
		PortMappings: []cluster.AppPortMapping{
			{ContainerPort: 80, HostPort: intp(0), ServicePort: 10101, Protocol: "tcp", Name: "test"},
		},
	})
	eq(t, "tasks", a.Tasks, []cluster.AppTask{{
		ID:          "pywebserver.8cad6a69-6ca8-11e7-beb2-0e2beceebfcc",
		AppID:       "/pywebserver",
		Host:        "10.0.2.148",
		SlaveID:     "db7b40e2-791c-445f-b373-183e2a648a86-S1",
		State:       cluster.TaskRunning,
		Ports:       []int{1565},
		IPAddresses: []cluster.IPAddress{{IP: "172.17.0.2", Protocol: "IPv4"}},
		StagedAt:    "2017-07-19T17:34:43.039Z",
		StartedAt:   "2017-07-19T17:35:15.654Z",
		Version:     "2017-07-19T17:34:41.967Z",
	}})
}

func checkMarathon15HealthChecks(t *testing.T, b []byte) {
	st := decodeAppsOK(t, b)
	eq(t, "apps", len(st.Apps), 1)
	a := st.Apps[0]
	eq(t, "id", a.ID, "/nginx-green")
	eq(t, "label HAPROXY_DEPLOYMENT_COLOUR", a.Labels["HAPROXY_DEPLOYMENT_COLOUR"], "green")
	eq(t, "label count", len(a.Labels), 8)
	eq(t, "healthChecks", a.HealthChecks, []cluster.HealthCheck{{
		Protocol: "MESOS_HTTP", Path: "/", PortIndex: intp(0), GracePeriodSeconds: 15, IntervalSeconds: 3,
		TimeoutSeconds: 15, MaxConsecutiveFailures: 10, DelaySeconds: 15,
	}})
	eq(t, "service port", a.Container.PortMappings[0].ServicePort, 10000)
	eq(t, "host port", a.Container.PortMappings[0].HostPort, intp(0))
	eq(t, "tasks", len(a.Tasks), 3)
	var ports []int
	for _, tk := range a.Tasks {
		ports = append(ports, tk.Ports...)
	}
	eq(t, "task ports", ports, []int{16916, 31184, 23336})
	eq(t, "task 2 IP", a.Tasks[2].IPAddresses, []cluster.IPAddress{{IP: "172.17.0.3", Protocol: "IPv4"}})
	eq(t, "health result", a.Tasks[0].HealthCheckResults, []cluster.HealthCheckResult{{
		Alive:        true,
		FirstSuccess: "2017-07-14T15:14:18.395Z",
		LastSuccess:  "2017-07-14T15:14:18.395Z",
		InstanceID:   "nginx-green.marathon-01da9a15-68a7-11e7-a229-e6a514ca0c21",
	}})
}

func checkPre15DockerBridge(t *testing.T, b []byte) {
	st := decodeAppsOK(t, b)
	eq(t, "apps", len(st.Apps), 2)
	green := appByID(t, st, "/nginx-green")
	eq(t, "green portDefinitions", green.PortDefinitions, []cluster.PortDefinition{{Port: 10000, Protocol: "tcp"}})
	eq(t, "green docker", green.Container.Docker, &cluster.AppDocker{
		Image: "brndnmtthws/nginx-echo-sleep", Network: "BRIDGE",
		PortMappings: []cluster.AppPortMapping{{ContainerPort: 8080, HostPort: intp(0), ServicePort: 10000, Protocol: "tcp"}},
	})
	eq(t, "green container.portMappings", green.Container.PortMappings, []cluster.AppPortMapping(nil))
	eq(t, "green ipAddress (null)", green.IPAddress, (*cluster.AppIPAddress)(nil))
	eq(t, "green health check (delaySeconds defaulted)", green.HealthChecks, []cluster.HealthCheck{{
		Protocol: "HTTP", Path: "/", PortIndex: intp(0), GracePeriodSeconds: 15, IntervalSeconds: 3,
		TimeoutSeconds: 15, MaxConsecutiveFailures: 10, DelaySeconds: 15,
	}})
	eq(t, "green tasks", len(green.Tasks), 3)
	tk := green.Tasks[1]
	eq(t, "task id", tk.ID, "nginx-green.0dbabba6-c931-11e5-9836-026ee08d9f6f")
	eq(t, "task state (pre-1.5: none)", tk.State, cluster.TaskState(""))
	eq(t, "task ports", tk.Ports, []int{31184})
	eq(t, "task IPs", tk.IPAddresses, []cluster.IPAddress{{IP: "172.17.1.71", Protocol: "IPv4"}})
	eq(t, "pre-1.5 result names the task", tk.HealthCheckResults[0].TaskID, tk.ID)
	eq(t, "pre-1.5 result has no instance", tk.HealthCheckResults[0].InstanceID, "")
	blue := appByID(t, st, "/nginx-blue")
	eq(t, "blue ports → portDefinitions", blue.PortDefinitions, []cluster.PortDefinition{{Port: 10001, Protocol: "tcp"}})
	eq(t, "blue service port", blue.Container.Docker.PortMappings[0].ServicePort, 10001)
	eq(t, "blue colour", blue.Labels["HAPROXY_DEPLOYMENT_COLOUR"], "blue")
	eq(t, "blue task host", blue.Tasks[0].Host, "10.0.1.147")
	eq(t, "blue task ports", blue.Tasks[0].Ports, []int{25724})
}

func checkZddAppBlue(t *testing.T, b []byte) {
	st := decodeAppsOK(t, b)
	eq(t, "apps", len(st.Apps), 1)
	a := st.Apps[0]
	eq(t, "id", a.ID, "/nginx-green")
	eq(t, "portDefinitions", a.PortDefinitions, []cluster.PortDefinition{{Port: 10000, Protocol: "tcp"}})
	eq(t, "tasks", len(a.Tasks), 3)
	eq(t, "third task has no ipAddresses", a.Tasks[2].IPAddresses, []cluster.IPAddress(nil))
	eq(t, "third task port", a.Tasks[2].Ports, []int{23336})
}

func checkInfoDocs(t *testing.T, b []byte) {
	in, err := DecodeInfo(b)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "info", in, Info{
		Name: "marathon", Version: "1.5.0-SNAPSHOT", Buildref: "unknown", Elected: true, Leader: "localhost:8080",
		FrameworkID: "96d7da70-b731-4cfb-96a7-0ee877af615d-0000", Master: "zk://localhost:2181/mesos",
		MesosLeaderUIURL: "http://localhost:5050/", LocalPortMin: 10000, LocalPortMax: 20000,
		ZooKeeper: "zk://localhost:2181/marathon", HTTPPort: 8080, HTTPSPort: 8443,
	})
}

func checkTasksDocs(t *testing.T, b []byte) {
	tasks, skipped, err := DecodeTasks(b)
	if err != nil || len(skipped) > 0 {
		t.Fatal(err, skipped)
	}
	eq(t, "tasks", tasks, []cluster.AppTask{
		{
			ID: "frontend-foosball.083be411-5d1f-11e5-88f7-56b91e7a505b", AppID: "/frontend-foosball",
			Host: "srv4.example.com", SlaveID: "20150707-153709-201330860-5050-12052-S0", State: cluster.TaskRunning,
			Ports: []int{31292}, ServicePorts: []int{10019}, StagedAt: "2015-09-17T09:32:36.822Z",
			StartedAt: "2015-09-17T09:32:42.598Z", Version: "2015-09-17T09:32:36.583Z",
		},
		{
			ID: "tools_docker_registry.002b4d28-46b9-11e5-b731-525400cce7ed", AppID: "/tools/docker/registry",
			Host: "srv2.example.com", SlaveID: "1cc9e7d0-63d6-4e99-9c58-c0b950401ae2-S24", State: cluster.TaskRunning,
			Ports: []int{31721}, ServicePorts: []int{5000}, StagedAt: "2015-08-19T21:26:49.040Z",
			StartedAt: "2015-08-19T21:26:50.864Z", Version: "2015-08-19T21:26:47.616Z",
		},
	})
}

// checkSSEDocs reads the SSE excerpt through sse.Reader, as a consumer
// would, once with the file's LF line ends and once with Jetty's CRLF.
func checkSSEDocs(t *testing.T, b []byte) {
	for _, in := range [][]byte{b, bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))} {
		r := sse.NewReader(bytes.NewReader(in))
		var evs []Event
		for {
			se, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			e, err := DecodeEvent(se.Type, se.Data)
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, e)
		}
		if len(evs) != 3 {
			t.Fatalf("got %d events", len(evs))
		}
		eq(t, "attached", evs[0], Event{Type: EventStreamAttached, StreamAttached: &StreamAttached{
			RemoteAddress: "0:0:0:0:0:0:0:1", Timestamp: "2015-09-30T12:44:30.061Z"}})
		failed := evs[1].StatusUpdate
		if failed == nil {
			t.Fatal("event 1 is not a status update")
		}
		eq(t, "failed status", failed.TaskStatus, cluster.TaskFailed)
		eq(t, "failed app", failed.AppID, "/foo")
		eq(t, "failed task", failed.TaskID, "foo.0664256e-6771-11e5-94e1-be5b2935a987")
		eq(t, "failed host", failed.Host, "srv5.hw.ca1.mesosphere.com")
		eq(t, "failed ports", failed.Ports, []int{31776})
		if !strings.HasPrefix(failed.Message, "Failed to launch container: Failed to fetch all URIs") {
			t.Errorf("message %q", failed.Message)
		}
		eq(t, "running", evs[2], Event{Type: EventStatusUpdate, StatusUpdate: &StatusUpdate{
			SlaveID: "20150707-153709-201330860-5050-12052-S0", TaskID: "test-app.5dd78972-6771-11e5-94e1-be5b2935a987",
			TaskStatus: cluster.TaskRunning, AppID: "/test-app", Host: "srv4.hw.ca1.mesosphere.com",
			Ports: []int{31182}, Version: "2015-09-11T22:11:03.156Z", Timestamp: "2015-09-30T12:47:11.286Z",
		}})
	}
}

func decodeAppOK(t *testing.T, b []byte) cluster.App {
	t.Helper()
	a, err := DecodeApp(b)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func backendLabels(port, vhost string) map[string]string {
	return map[string]string{"HAPROXY_GROUP": "external", "HAPROXY_0_PORT": port,
		"HAPROXY_0_VHOST": vhost, "HAPROXY_0_ENABLED": "true"}
}

// fixtureChecks covers every non-conformance fixture file; the inventory
// test fails when a fixture has no entry.
var fixtureChecks = map[string]func(t *testing.T, b []byte){
	"marathon/v2-apps-docs.json":                                 checkDocsApps,
	"marathon/v2-apps-embed-tasks-marathon1.5-bridge.json":       checkMarathon15Bridge,
	"marathon/v2-apps-embed-tasks-marathon1.5-healthchecks.json": checkMarathon15HealthChecks,
	"marathon/v2-apps-embed-tasks-pre1.5-docker-bridge.json":     checkPre15DockerBridge,
	"marathon/v2-info-docs.json":                                 checkInfoDocs,
	"marathon/v2-tasks-docs.json":                                checkTasksDocs,
	"marathon/v2-events-sse-docs.txt":                            checkSSEDocs,
	"marathon-lb/tests/marathon15_apps.json":                     checkMarathon15Bridge,
	"marathon-lb/tests/zdd_app_blue_marathon1.5.json":            checkMarathon15HealthChecks,
	"marathon-lb/tests/zdd_apps.json":                            checkPre15DockerBridge,
	"marathon-lb/tests/zdd_app_blue.json":                        checkZddAppBlue,
	"marathon-lb/tests/1-nginx.json": func(t *testing.T, b []byte) {
		a := decodeAppOK(t, b)
		eq(t, "id (relative made absolute)", a.ID, "/nginx")
		eq(t, "instances", a.Instances, 5)
		eq(t, "docker", a.Container.Docker, &cluster.AppDocker{
			Image: "brndnmtthws/nginx-echo-sleep", Network: "BRIDGE",
			PortMappings: []cluster.AppPortMapping{{ContainerPort: 8080, HostPort: intp(0), ServicePort: 10000, Protocol: "tcp"}},
		})
		eq(t, "labels", a.Labels, map[string]string{"HAPROXY_DEPLOYMENT_GROUP": "nginx", "HAPROXY_DEPLOYMENT_ALT_PORT": "10001", "HAPROXY_GROUP": "external"})
		eq(t, "health protocol", a.HealthChecks[0].Protocol, "HTTP")
		eq(t, "health delay (default)", a.HealthChecks[0].DelaySeconds, defaultDelaySeconds)
		eq(t, "no port definitions", a.PortDefinitions, []cluster.PortDefinition(nil))
	},
	"marathon-lb/tests/1-nginx-marathon1.5.json": func(t *testing.T, b []byte) {
		a := decodeAppOK(t, b)
		eq(t, "id", a.ID, "/nginx")
		eq(t, "networks", a.Networks, []cluster.Network{{Mode: "container/bridge"}})
		eq(t, "portMappings", a.Container.PortMappings, []cluster.AppPortMapping{{ContainerPort: 8080, HostPort: intp(0), ServicePort: 10000, Protocol: "tcp"}})
		eq(t, "docker network", a.Container.Docker.Network, "")
		eq(t, "health protocol", a.HealthChecks[0].Protocol, "MESOS_HTTP")
	},
	"marathon-lb/ci/backends/docker_bridge.json": func(t *testing.T, b []byte) {
		a := decodeAppOK(t, b)
		eq(t, "id", a.ID, "/nginx-docker-bridge")
		eq(t, "labels", a.Labels, backendLabels("10100", "nginx-docker-bridge.test"))
		eq(t, "container", a.Container, &cluster.AppContainer{Type: "DOCKER", Docker: &cluster.AppDocker{Image: "nginx"},
			PortMappings: []cluster.AppPortMapping{{ContainerPort: 80, HostPort: intp(0), Protocol: "tcp"}}})
		eq(t, "networks", a.Networks, []cluster.Network{{Mode: "container/bridge"}})
	},
	"marathon-lb/ci/backends/docker_host.json": func(t *testing.T, b []byte) {
		a := decodeAppOK(t, b)
		eq(t, "labels", a.Labels, backendLabels("10300", "nginx-docker-host.test"))
		eq(t, "docker network", a.Container.Docker.Network, "HOST")
		eq(t, "portDefinitions", a.PortDefinitions, []cluster.PortDefinition{{Port: 0, Protocol: "tcp"}})
		eq(t, "networks", a.Networks, []cluster.Network(nil))
	},
	"marathon-lb/ci/backends/docker_ippc.json": func(t *testing.T, b []byte) {
		a := decodeAppOK(t, b)
		eq(t, "ipAddress", a.IPAddress, &cluster.AppIPAddress{NetworkName: "dcos"})
		eq(t, "portMappings (hostPort absent)", a.Container.PortMappings, []cluster.AppPortMapping{{ContainerPort: 80, Protocol: "tcp"}})
		eq(t, "label port", a.Labels["HAPROXY_0_PORT"], "10200")
	},
	"marathon-lb/ci/backends/ucr_bridge.json": func(t *testing.T, b []byte) {
		a := decodeAppOK(t, b)
		eq(t, "type", a.Container.Type, "MESOS")
		eq(t, "portMappings", a.Container.PortMappings, []cluster.AppPortMapping{{ContainerPort: 80, HostPort: intp(0), Protocol: "tcp"}})
		eq(t, "networks", a.Networks, []cluster.Network{{Mode: "container/bridge"}})
		eq(t, "label port", a.Labels["HAPROXY_0_PORT"], "10500")
	},
	"marathon-lb/ci/backends/ucr_host.json": func(t *testing.T, b []byte) {
		a := decodeAppOK(t, b)
		eq(t, "networks", a.Networks, []cluster.Network{{Mode: "host"}})
		eq(t, "portDefinitions", a.PortDefinitions, []cluster.PortDefinition{{Port: 10003, Protocol: "tcp"}})
		eq(t, "label port", a.Labels["HAPROXY_0_PORT"], "10400")
	},
	"marathon-lb/ci/backends/ucr_ippc.json": func(t *testing.T, b []byte) {
		a := decodeAppOK(t, b)
		eq(t, "networks", a.Networks, []cluster.Network{{Mode: "container", Name: "dcos"}})
		eq(t, "template label keeps its newline", a.Labels["HAPROXY_0_BACKEND_SERVER_OPTIONS"],
			"  server {serverName} {host_ipv4}:80 {cookieOptions}{healthCheckOptions}{otherOptions}\n")
		eq(t, "no port mappings", a.Container.PortMappings, []cluster.AppPortMapping(nil))
	},
	"marathon-lb/ci/backends_1.9/docker_bridge.json": func(t *testing.T, b []byte) {
		a := decodeAppOK(t, b)
		pm := []cluster.AppPortMapping{{ContainerPort: 80, HostPort: intp(0), Protocol: "tcp"}}
		eq(t, "both port mapping forms kept", [2][]cluster.AppPortMapping{a.Container.PortMappings, a.Container.Docker.PortMappings}, [2][]cluster.AppPortMapping{pm, pm})
		eq(t, "docker network", a.Container.Docker.Network, "BRIDGE")
		eq(t, "networks", a.Networks, []cluster.Network{{Mode: "container/bridge"}})
	},
	"marathon-lb/ci/backends_1.9/docker_host.json": func(t *testing.T, b []byte) {
		a := decodeAppOK(t, b)
		eq(t, "docker network", a.Container.Docker.Network, "HOST")
		eq(t, "networks", a.Networks, []cluster.Network{{Mode: "container/bridge"}})
		eq(t, "portDefinitions", a.PortDefinitions, []cluster.PortDefinition{{Port: 0, Protocol: "tcp"}})
		eq(t, "portMappings", len(a.Container.PortMappings), 1)
	},
	"marathon-lb/ci/backends_1.9/docker_ippc.json": func(t *testing.T, b []byte) {
		a := decodeAppOK(t, b)
		eq(t, "docker network", a.Container.Docker.Network, "USER")
		eq(t, "ipAddress", a.IPAddress, &cluster.AppIPAddress{NetworkName: "dcos"})
		eq(t, "networks", a.Networks, []cluster.Network{{Mode: "container/bridge"}})
	},
	"marathon-lb/ci/backends_1.9/ucr_host.json": func(t *testing.T, b []byte) {
		a := decodeAppOK(t, b)
		eq(t, "type", a.Container.Type, "MESOS")
		eq(t, "docker image", a.Container.Docker.Image, "nginx")
		eq(t, "portDefinitions", a.PortDefinitions, []cluster.PortDefinition{{Port: 0, Protocol: "tcp"}})
		eq(t, "label port", a.Labels["HAPROXY_0_PORT"], "10400")
	},
}

// conformanceApps is the number of apps of each Marathon-LB oracle case, and
// for some cases a closer look at what the LB depends on.
var conformanceApps = map[string]struct {
	apps  int
	check func(t *testing.T, st *cluster.MarathonState)
}{
	"01_tcp_two_tasks": {1, func(t *testing.T, st *cluster.MarathonState) {
		a := st.Apps[0]
		eq(t, "networks", a.Networks, []cluster.Network{{Mode: "host"}})
		eq(t, "service port", a.PortDefinitions[0].Port, 10000)
		eq(t, "task IPs", []string{a.Tasks[0].IPAddresses[0].IP, a.Tasks[1].IPAddresses[0].IP}, []string{"10.0.0.2", "10.0.0.1"})
		eq(t, "task ports", [][]int{a.Tasks[0].Ports, a.Tasks[1].Ports}, [][]int{{31002}, {31001}})
	}},
	"02_group_filter_external":   {3, nil},
	"03_group_filter_star":       {3, nil},
	"05_nested_app_id":           {1, nil},
	"06_no_tasks_skipped":        {2, nil},
	"10_vhost_single":            {1, nil},
	"12_vhost_path":              {1, nil},
	"13_vhost_redirect_https":    {1, nil},
	"15_vhost_auth":              {1, nil},
	"17_backend_weight_ordering": {3, nil},
	"19_sticky_balance":          {1, nil},
	"20_port_bindaddr_ssl":       {1, nil},
	"22_network_allowed":         {2, nil},
	"24_multi_port_labels":       {1, nil},
	"30_http_healthcheck_filtering": {1, func(t *testing.T, st *cluster.MarathonState) {
		a := st.Apps[0]
		var alive [][]bool
		for _, tk := range a.Tasks {
			var r []bool
			for _, h := range tk.HealthCheckResults {
				r = append(r, h.Alive)
			}
			alive = append(alive, r)
		}
		eq(t, "health results per task", alive, [][]bool{{true}, {false}, nil, {false, true}})
		eq(t, "consecutive failures", a.Tasks[1].HealthCheckResults[0].ConsecutiveFailures, 3)
	}},
	"32_task_states": {1, func(t *testing.T, st *cluster.MarathonState) {
		var states []cluster.TaskState
		for _, tk := range st.Apps[0].Tasks {
			states = append(states, tk.State)
		}
		eq(t, "states", states, []cluster.TaskState{cluster.TaskRunning, cluster.TaskUnreachable, cluster.TaskLost,
			cluster.TaskStaging, cluster.TaskStarting, cluster.TaskKilling, cluster.TaskFinished, cluster.TaskFailed,
			cluster.TaskKilled, cluster.TaskGone, cluster.TaskUnknown, cluster.TaskDropped})
	}},
	"33_tcp_healthcheck": {1, nil},
	"35_healthcheck_port_index": {1, func(t *testing.T, st *cluster.MarathonState) {
		eq(t, "portIndex", st.Apps[0].HealthChecks[0].PortIndex, intp(1))
	}},
	"40_strict_mode": {3, nil},
	"42_haproxy_map": {2, nil},
	"50_docker_bridge_pre15": {1, func(t *testing.T, st *cluster.MarathonState) {
		a := st.Apps[0]
		// "portDefinitions": [] is present, so the legacy "ports" (the
		// bridge's service ports) does not become host port definitions.
		eq(t, "portDefinitions", a.PortDefinitions, []cluster.PortDefinition(nil))
		eq(t, "docker service port", a.Container.Docker.PortMappings[0].ServicePort, 10400)
	}},
	"51_marathon15_bridge_fixture": {1, nil},
	"52_ip_per_task_with_service_port": {1, func(t *testing.T, st *cluster.MarathonState) {
		a := st.Apps[0]
		eq(t, "networks", a.Networks, []cluster.Network{{Mode: "container", Name: "dcos"}})
		eq(t, "portMappings", a.Container.PortMappings, []cluster.AppPortMapping{{ContainerPort: 8080, ServicePort: 10410, Protocol: "tcp", Name: "http"}})
		eq(t, "task IP", a.Tasks[0].IPAddresses, []cluster.IPAddress{{IP: "9.0.1.5", Protocol: "IPv4"}})
		eq(t, "task ports ([] → nil)", a.Tasks[0].Ports, []int(nil))
		eq(t, "instances", a.Instances, 1)
	}},
	"60_zdd_upstream_fixture": {2, nil},
}

func fixtureFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, pat := range []string{"marathon/*.json", "marathon/*.txt", "marathon-lb/tests/*.json", "marathon-lb/ci/*/*.json"} {
		m, err := filepath.Glob(filepath.Join("testdata", pat))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			files = append(files, filepath.ToSlash(strings.TrimPrefix(f, "testdata"+string(filepath.Separator))))
		}
	}
	slices.Sort(files)
	return files
}

func conformanceCases(t testing.TB) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join("testdata", "marathon-lb", "conformance", "*", "apps.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []string
	for _, f := range m {
		cases = append(cases, filepath.Base(filepath.Dir(f)))
	}
	return cases
}

func TestFixtureInventory(t *testing.T) {
	files := fixtureFiles(t)
	if len(files) < 20 {
		t.Fatalf("only %d fixture files found", len(files))
	}
	for _, f := range files {
		if fixtureChecks[f] == nil {
			t.Errorf("fixture %s has no check", f)
		}
	}
	for f := range fixtureChecks {
		if !slices.Contains(files, f) {
			t.Errorf("check for missing fixture %s", f)
		}
	}
	cases := conformanceCases(t)
	for _, c := range cases {
		if _, ok := conformanceApps[c]; !ok {
			t.Errorf("conformance case %s has no entry", c)
		}
	}
	if len(cases) != len(conformanceApps) {
		t.Errorf("%d conformance cases, %d entries", len(cases), len(conformanceApps))
	}
}

// TestFixturesMatchShared guards the testdata copies against drifting from
// the project's shared fixtures.
func TestFixturesMatchShared(t *testing.T) {
	if _, err := os.Stat(sharedFixtures); err != nil {
		t.Skip("shared fixtures not present:", err)
	}
	files := fixtureFiles(t)
	for _, c := range conformanceCases(t) {
		files = append(files, "marathon-lb/conformance/"+c+"/apps.json")
	}
	for _, f := range files {
		shared, err := os.ReadFile(filepath.Join(sharedFixtures, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if !bytes.Equal(shared, readFixture(t, f)) {
			t.Errorf("testdata/%s differs from the shared fixture", f)
		}
	}
}

func TestDecodeFixtures(t *testing.T) {
	for _, f := range fixtureFiles(t) {
		t.Run(f, func(t *testing.T) {
			fixtureChecks[f](t, readFixture(t, f))
		})
	}
}

func TestDecodeConformance(t *testing.T) {
	for _, c := range conformanceCases(t) {
		t.Run(c, func(t *testing.T) {
			st := decodeAppsOK(t, readFixture(t, "marathon-lb/conformance/"+c+"/apps.json"))
			want := conformanceApps[c]
			if len(st.Apps) != want.apps {
				t.Fatalf("%d apps, want %d", len(st.Apps), want.apps)
			}
			for _, a := range st.Apps {
				if !strings.HasPrefix(a.ID, "/") {
					t.Errorf("app id %q is not absolute", a.ID)
				}
			}
			if want.check != nil {
				want.check(t, st)
			}
		})
	}
}

// appsFixtures returns every apps-shaped fixture.
func appsFixtures(t testing.TB) map[string][]byte {
	out := map[string][]byte{}
	for _, f := range fixtureFiles(t) {
		b := readFixture(t, f)
		if bytes.Contains(b, []byte(`"apps"`)) {
			out[f] = b
		}
	}
	for _, c := range conformanceCases(t) {
		f := "marathon-lb/conformance/" + c + "/apps.json"
		out[f] = readFixture(t, f)
	}
	return out
}

// appFixtures returns every bare app definition fixture.
func appFixtures(t testing.TB) map[string][]byte {
	out := map[string][]byte{}
	for _, f := range fixtureFiles(t) {
		if strings.Contains(f, "/ci/") || strings.Contains(f, "1-nginx") {
			out[f] = readFixture(t, f)
		}
	}
	return out
}
