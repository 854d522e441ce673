package marathon

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/wire/sse"
)

func boolp(b bool) *bool { return &b }

// canonicalEvents are payloads in exactly the field order and spelling
// Marathon writes (Formats.scala / Events.scala), one per typed event, so
// that EncodeEvent(DecodeEvent(x)) must give back x byte for byte.
var canonicalEvents = []struct {
	name string
	json string
	want Event
}{
	{
		"status update",
		`{"slaveId":"20150707-153709-201330860-5050-12052-S0","taskId":"test-app.5dd78972-6771-11e5-94e1-be5b2935a987","taskStatus":"TASK_RUNNING","message":"","appId":"/test-app","host":"srv4.hw.ca1.mesosphere.com","ipAddresses":[{"ipAddress":"172.17.0.2","protocol":"IPv4"},{"ipAddress":"fd00::2","protocol":"IPv6"}],"ports":[31182],"version":"2015-09-11T22:11:03.156Z","eventType":"status_update_event","timestamp":"2015-09-30T12:47:11.286Z"}`,
		Event{Type: EventStatusUpdate, StatusUpdate: &StatusUpdate{
			SlaveID: "20150707-153709-201330860-5050-12052-S0", TaskID: "test-app.5dd78972-6771-11e5-94e1-be5b2935a987",
			TaskStatus: cluster.TaskRunning, AppID: "/test-app", Host: "srv4.hw.ca1.mesosphere.com",
			IPAddresses: []cluster.IPAddress{{IP: "172.17.0.2", Protocol: "IPv4"}, {IP: "fd00::2", Protocol: "IPv6"}},
			Ports:       []int{31182}, Version: "2015-09-11T22:11:03.156Z", Timestamp: "2015-09-30T12:47:11.286Z",
		}},
	},
	{
		"status update of an IP-per-task pod (no ports)",
		`{"slaveId":"S4","taskId":"pod.instance-1.c","taskStatus":"TASK_KILLING","message":"","appId":"/pod-with-virtual-network","host":"192.168.65.111","ipAddresses":[{"ipAddress":"9.0.1.3","protocol":"IPv4"}],"ports":[],"version":"2018-10-08T03:05:06.521Z","eventType":"status_update_event","timestamp":"2018-10-08T03:09:57.000Z"}`,
		Event{Type: EventStatusUpdate, StatusUpdate: &StatusUpdate{
			SlaveID: "S4", TaskID: "pod.instance-1.c", TaskStatus: cluster.TaskKilling, AppID: "/pod-with-virtual-network",
			Host: "192.168.65.111", IPAddresses: []cluster.IPAddress{{IP: "9.0.1.3", Protocol: "IPv4"}},
			Version: "2018-10-08T03:05:06.521Z", Timestamp: "2018-10-08T03:09:57.000Z",
		}},
	},
	{
		"health status changed",
		`{"appId":"/my-app","instanceId":"my-app.instance-c7c311a4-b669-11e6-a48f-0ea4f4b1778c","version":"2014-04-04T06:26:23.051Z","alive":true,"eventType":"health_status_changed_event","timestamp":"2014-03-01T23:29:30.158Z"}`,
		Event{Type: EventHealthStatusChanged, HealthStatusChanged: &HealthStatusChanged{
			AppID: "/my-app", InstanceID: "my-app.instance-c7c311a4-b669-11e6-a48f-0ea4f4b1778c",
			Version: "2014-04-04T06:26:23.051Z", Alive: true, Timestamp: "2014-03-01T23:29:30.158Z",
		}},
	},
	{
		"health status changed, ≤1.3 with taskId",
		`{"appId":"/my-app","taskId":"my-app_0-1396592784349","version":"2014-04-04T06:26:23.051Z","alive":false,"eventType":"health_status_changed_event","timestamp":"2014-03-01T23:29:30.158Z"}`,
		Event{Type: EventHealthStatusChanged, HealthStatusChanged: &HealthStatusChanged{
			AppID: "/my-app", TaskID: "my-app_0-1396592784349", Version: "2014-04-04T06:26:23.051Z", Timestamp: "2014-03-01T23:29:30.158Z",
		}},
	},
	{
		"instance changed",
		`{"instanceId":"pod-multi.instance-a5f2bd75-caaa-11e8-a129-70b3d5800001","condition":"Failed","runSpecId":"/pod-multi","agentId":"2275bb07-f40c-4d1e-884a-3d1332aed113-S4","host":"192.168.65.111","runSpecVersion":"2018-10-08T03:31:31.171Z","timestamp":"2018-10-08T03:31:31.438Z","eventType":"instance_changed_event"}`,
		Event{Type: EventInstanceChanged, InstanceChanged: &InstanceChanged{
			InstanceID: "pod-multi.instance-a5f2bd75-caaa-11e8-a129-70b3d5800001", Condition: "Failed", RunSpecID: "/pod-multi",
			AgentID: "2275bb07-f40c-4d1e-884a-3d1332aed113-S4", Host: "192.168.65.111",
			RunSpecVersion: "2018-10-08T03:31:31.171Z", Timestamp: "2018-10-08T03:31:31.438Z",
		}},
	},
	{
		"instance health changed",
		`{"instanceId":"my-app.instance-c7c311a4-b669-11e6-a48f-0ea4f4b1778c","runSpecId":"/app-id","healthy":true,"runSpecVersion":"2014-03-01T23:29:30.158Z","timestamp":"2014-03-01T23:29:30.158Z","eventType":"instance_health_changed_event"}`,
		Event{Type: EventInstanceHealthChanged, InstanceHealthChanged: &InstanceHealthChanged{
			InstanceID: "my-app.instance-c7c311a4-b669-11e6-a48f-0ea4f4b1778c", RunSpecID: "/app-id", Healthy: boolp(true),
			RunSpecVersion: "2014-03-01T23:29:30.158Z", Timestamp: "2014-03-01T23:29:30.158Z",
		}},
	},
	{
		"instance health unknown",
		`{"instanceId":"a.instance-1","runSpecId":"/a","healthy":null,"runSpecVersion":"v","timestamp":"t","eventType":"instance_health_changed_event"}`,
		Event{Type: EventInstanceHealthChanged, InstanceHealthChanged: &InstanceHealthChanged{
			InstanceID: "a.instance-1", RunSpecID: "/a", RunSpecVersion: "v", Timestamp: "t",
		}},
	},
	{
		"api post",
		`{"clientIp":"0:0:0:0:0:0:0:1","uri":"/v2/apps/my-app","appDefinition":{"id":"/my-app","cmd":"sleep 30","instances":2,"labels":{"HAPROXY_GROUP":"external"},"version":"2014-09-09T05:57:50.866Z","requirePorts":false,"portDefinitions":[{"port":10001,"protocol":"tcp","labels":{}}],"healthChecks":[]},"eventType":"api_post_event","timestamp":"2014-03-01T23:29:30.158Z"}`,
		Event{Type: EventAPIPost, APIPost: &APIPost{
			ClientIP: "0:0:0:0:0:0:0:1", URI: "/v2/apps/my-app", Timestamp: "2014-03-01T23:29:30.158Z",
			App: cluster.App{ID: "/my-app", Cmd: "sleep 30", Instances: 2, Labels: map[string]string{"HAPROXY_GROUP": "external"},
				Version: "2014-09-09T05:57:50.866Z", PortDefinitions: []cluster.PortDefinition{{Port: 10001, Protocol: "tcp"}}},
		}},
	},
	{
		"app terminated",
		`{"appId":"/my-app","eventType":"app_terminated_event","timestamp":"2014-03-01T23:29:30.158Z"}`,
		Event{Type: EventAppTerminated, AppTerminated: &AppTerminated{AppID: "/my-app", Timestamp: "2014-03-01T23:29:30.158Z"}},
	},
	{
		"deployment info",
		`{"plan":{"id":"867ed450-f6a8-4d33-9b0e-e11c5513990b","steps":[{"actions":[{"action":"StartApplication","app":"/a"}]},{"actions":[{"action":"ScaleApplication","app":"/a"},{"action":"ScaleApplication","app":"/b"},{"action":"StartPod","pod":"/p"}]}],"version":"2014-03-01T23:24:14.846Z"},"currentStep":{"actions":[{"action":"ScaleApplication","app":"/b"},{"action":"ScaleApplication","app":"/c"}]},"eventType":"deployment_info","timestamp":"2014-03-01T23:29:30.158Z"}`,
		Event{Type: EventDeploymentInfo, Deployment: &Deployment{
			Plan: DeploymentPlan{ID: "867ed450-f6a8-4d33-9b0e-e11c5513990b", Version: "2014-03-01T23:24:14.846Z", Steps: [][]DeploymentAction{
				{{Action: "StartApplication", App: "/a"}},
				{{Action: "ScaleApplication", App: "/a"}, {Action: "ScaleApplication", App: "/b"}, {Action: "StartPod", Pod: "/p"}},
			}},
			CurrentStep: []DeploymentAction{{Action: "ScaleApplication", App: "/b"}, {Action: "ScaleApplication", App: "/c"}},
			Timestamp:   "2014-03-01T23:29:30.158Z",
		}},
	},
	{
		"deployment step success",
		`{"plan":{"id":"p","steps":[{"actions":[{"action":"StopApplication","app":"/gone"}]}],"version":"v"},"currentStep":{"actions":[{"action":"StopApplication","app":"/gone"}]},"eventType":"deployment_step_success","timestamp":"t"}`,
		Event{Type: EventDeploymentStepSuccess, Deployment: &Deployment{
			Plan:        DeploymentPlan{ID: "p", Version: "v", Steps: [][]DeploymentAction{{{Action: "StopApplication", App: "/gone"}}}},
			CurrentStep: []DeploymentAction{{Action: "StopApplication", App: "/gone"}}, Timestamp: "t",
		}},
	},
	{
		"deployment step failure",
		`{"plan":{"id":"p","steps":[],"version":"v"},"currentStep":{"actions":[]},"eventType":"deployment_step_failure","timestamp":"t"}`,
		Event{Type: EventDeploymentStepFailure, Deployment: &Deployment{Plan: DeploymentPlan{ID: "p", Version: "v"}, Timestamp: "t"}},
	},
	{
		"deployment success",
		`{"id":"867ed450-f6a8-4d33-9b0e-e11c5513990b","plan":{"id":"867ed450-f6a8-4d33-9b0e-e11c5513990b","steps":[{"actions":[{"action":"RestartApplication","app":"/web"}]}],"version":"2014-03-01T23:24:14.846Z"},"eventType":"deployment_success","timestamp":"2014-03-01T23:29:30.158Z"}`,
		Event{Type: EventDeploymentSuccess, Deployment: &Deployment{
			ID:        "867ed450-f6a8-4d33-9b0e-e11c5513990b",
			Plan:      DeploymentPlan{ID: "867ed450-f6a8-4d33-9b0e-e11c5513990b", Version: "2014-03-01T23:24:14.846Z", Steps: [][]DeploymentAction{{{Action: "RestartApplication", App: "/web"}}}},
			Timestamp: "2014-03-01T23:29:30.158Z",
		}},
	},
	{
		"deployment failed with reason",
		`{"id":"d","plan":{"id":"d","steps":[{"actions":[{"action":"StartApplication","app":"/x"}]}],"version":"v"},"eventType":"deployment_failed","timestamp":"t","reason":"boom"}`,
		Event{Type: EventDeploymentFailed, Deployment: &Deployment{
			ID: "d", Plan: DeploymentPlan{ID: "d", Version: "v", Steps: [][]DeploymentAction{{{Action: "StartApplication", App: "/x"}}}},
			Reason: "boom", Timestamp: "t",
		}},
	},
	{
		"failed health check",
		`{"appId":"/my-app","eventType":"failed_health_check_event","healthCheck":{"gracePeriodSeconds":5,"ignoreHttp1xx":false,"intervalSeconds":10,"maxConsecutiveFailures":3,"path":"/health","portIndex":0,"protocol":"HTTP","timeoutSeconds":10,"delaySeconds":15},"taskId":"my-app.instance-c7c311a4-b669-11e6-a48f-0ea4f4b1778c","timestamp":"2014-03-01T23:29:30.158Z"}`,
		Event{Type: EventFailedHealthCheck, FailedHealthCheck: &FailedHealthCheck{
			AppID: "/my-app", TaskID: "my-app.instance-c7c311a4-b669-11e6-a48f-0ea4f4b1778c", Timestamp: "2014-03-01T23:29:30.158Z",
			HealthCheck: &cluster.HealthCheck{Protocol: "HTTP", Path: "/health", PortIndex: intp(0), GracePeriodSeconds: 5,
				IntervalSeconds: 10, TimeoutSeconds: 10, MaxConsecutiveFailures: 3, DelaySeconds: 15},
		}},
	},
	{
		"unhealthy instance kill",
		`{"appId":"/my-app","taskId":"my-app.instance-1._app.1","instanceId":"my-app.instance-1","version":"2016-03-16T13:05:00.590Z","reason":"500 Internal Server Error","host":"localhost","slaveId":"4fb620fa-ba8d-4eb0-8ae3-f2912aaf015c-S0","eventType":"unhealthy_instance_kill_event","timestamp":"2016-03-21T09:15:10.764Z"}`,
		Event{Type: EventUnhealthyInstanceKill, UnhealthyInstanceKill: &UnhealthyInstanceKill{
			AppID: "/my-app", TaskID: "my-app.instance-1._app.1", InstanceID: "my-app.instance-1", Version: "2016-03-16T13:05:00.590Z",
			Reason: "500 Internal Server Error", Host: "localhost", SlaveID: "4fb620fa-ba8d-4eb0-8ae3-f2912aaf015c-S0",
			Timestamp: "2016-03-21T09:15:10.764Z",
		}},
	},
	{
		// Byte for byte the example of Marathon's event-bus documentation.
		"unhealthy task kill (pre-1.4)",
		`{"appId":"/my-app","taskId":"my-app_0-1396592784349","version":"2016-03-16T13:05:00.590Z","reason":"500 Internal Server Error","host":"localhost","slaveId":"4fb620fa-ba8d-4eb0-8ae3-f2912aaf015c-S0","eventType":"unhealthy_task_kill_event","timestamp":"2016-03-21T09:15:10.764Z"}`,
		Event{Type: EventUnhealthyTaskKill, UnhealthyInstanceKill: &UnhealthyInstanceKill{
			AppID: "/my-app", TaskID: "my-app_0-1396592784349", Version: "2016-03-16T13:05:00.590Z",
			Reason: "500 Internal Server Error", Host: "localhost", SlaveID: "4fb620fa-ba8d-4eb0-8ae3-f2912aaf015c-S0",
			Timestamp: "2016-03-21T09:15:10.764Z",
		}},
	},
	{
		// Byte for byte the first event of v2-events-sse-docs.txt.
		"stream attached",
		`{"remoteAddress":"0:0:0:0:0:0:0:1","eventType":"event_stream_attached","timestamp":"2015-09-30T12:44:30.061Z"}`,
		Event{Type: EventStreamAttached, StreamAttached: &StreamAttached{RemoteAddress: "0:0:0:0:0:0:0:1", Timestamp: "2015-09-30T12:44:30.061Z"}},
	},
	{
		"other types keep their raw JSON",
		`{"groupId":"/product-a/backend","version":"2014-04-04T06:26:23.051Z","eventType":"group_change_success","timestamp":"2014-03-01T23:29:30.158Z"}`,
		Event{Type: "group_change_success", Raw: []byte(`{"groupId":"/product-a/backend","version":"2014-04-04T06:26:23.051Z","eventType":"group_change_success","timestamp":"2014-03-01T23:29:30.158Z"}`)},
	},
}

func TestEventRoundTrip(t *testing.T) {
	for _, tt := range canonicalEvents {
		t.Run(tt.name, func(t *testing.T) {
			for _, sseType := range []string{tt.want.Type, ""} {
				got, err := DecodeEvent(sseType, []byte(tt.json))
				if err != nil {
					t.Fatal(err)
				}
				eq(t, "decoded", got, tt.want)
			}
			out, err := EncodeEvent(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.json {
				t.Errorf("EncodeEvent:\n got %s\nwant %s", out, tt.json)
			}
		})
	}
}

func TestDeploymentAffectedApps(t *testing.T) {
	var info string
	for _, c := range canonicalEvents {
		if c.name == "deployment info" {
			info = c.json
		}
	}
	e, err := DecodeEvent("", []byte(info))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "affected apps", e.Deployment.AffectedApps(), []string{"/a", "/b", "/c"})
	eq(t, "none", (&Deployment{}).AffectedApps(), []string(nil))
}

// The event-bus documentation shows older shapes: a heavy plan with
// original/target groups, steps as bare actions, actions named by "type",
// and a deployment_success with nothing but an id.
func TestDecodeEventDocsShapes(t *testing.T) {
	heavy := `{"eventType":"deployment_info","timestamp":"2014-03-01T23:29:30.158Z","plan":{"id":"867ed450-f6a8-4d33-9b0e-e11c5513990b",
	 "original":{"apps":[],"dependencies":[],"groups":[],"id":"/","version":"2014-09-09T06:30:49.667Z"},
	 "target":{"apps":[{"id":"/my-app","instances":2,"ports":[10001]}],"dependencies":[],"groups":[],"id":"/","version":"2014-09-09T05:57:50.866Z"},
	 "steps":[{"action":"ScaleApplication","app":"/my-app"}],"version":"2014-03-01T23:24:14.846Z"},
	 "currentStep":{"actions":[{"type":"ScaleApplication","app":"/my-app"}]}}`
	e, err := DecodeEvent("", []byte(heavy))
	if err != nil {
		t.Fatal(err)
	}
	act := []DeploymentAction{{Action: "ScaleApplication", App: "/my-app"}}
	eq(t, "heavy plan", e.Deployment, &Deployment{
		Plan:        DeploymentPlan{ID: "867ed450-f6a8-4d33-9b0e-e11c5513990b", Version: "2014-03-01T23:24:14.846Z", Steps: [][]DeploymentAction{act}},
		CurrentStep: act, Timestamp: "2014-03-01T23:29:30.158Z",
	})
	// Pre-1.0 /v2/deployments wrote each step as a bare array of actions.
	e, err = DecodeEvent("deployment_info", []byte(`{"plan":{"steps":[[{"action":"ScaleApplication","app":"/my-app"}]]}}`))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "array step", e.Deployment.Plan.Steps, [][]DeploymentAction{act})

	e, err = DecodeEvent("", []byte(`{"eventType":"deployment_success","timestamp":"2014-03-01T23:29:30.158Z","id":"867ed450-f6a8-4d33-9b0e-e11c5513990b"}`))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "id only", e.Deployment, &Deployment{ID: "867ed450-f6a8-4d33-9b0e-e11c5513990b", Timestamp: "2014-03-01T23:29:30.158Z"})
	out, _ := EncodeEvent(e)
	eq(t, "re-encoded", string(out), `{"id":"867ed450-f6a8-4d33-9b0e-e11c5513990b","eventType":"deployment_success","timestamp":"2014-03-01T23:29:30.158Z"}`)

	// api_post_event as documented: an old full app definition.
	post := `{"eventType":"api_post_event","timestamp":"2014-03-01T23:29:30.158Z","clientIp":"0:0:0:0:0:0:0:1","uri":"/v2/apps/my-app",
	 "appDefinition":{"args":[],"backoffFactor":1.15,"backoffSeconds":1,"cmd":"sleep 30","constraints":[],"container":null,"cpus":0.2,
	 "dependencies":[],"disk":0.0,"env":{},"executor":"","healthChecks":[],"id":"/my-app","instances":2,"mem":32.0,"ports":[10001],
	 "requirePorts":false,"storeUrls":[],"upgradeStrategy":{"minimumHealthCapacity":1.0},"uris":[],"user":null,"version":"2014-09-09T05:57:50.866Z"}}`
	e, err = DecodeEvent("", []byte(post))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "api post app", e.APIPost.App, cluster.App{ID: "/my-app", Cmd: "sleep 30", Instances: 2,
		Version: "2014-09-09T05:57:50.866Z", PortDefinitions: []cluster.PortDefinition{{Port: 10001, Protocol: "tcp"}}})
	// An appDefinition never carries tasks; stray ones are dropped.
	e, err = DecodeEvent("api_post_event", []byte(`{"appDefinition":{"id":"/a","tasks":[{"id":"a.1"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "no tasks", e.APIPost.App.Tasks, []cluster.AppTask(nil))
}

// The SSE event line wins over the payload's eventType, because that is
// what the server filtered on.
func TestDecodeEventTypePrecedence(t *testing.T) {
	e, err := DecodeEvent("app_terminated_event", []byte(`{"appId":"/a","eventType":"something_else"}`))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "type", e.Type, EventAppTerminated)
	eq(t, "payload", e.AppTerminated, &AppTerminated{AppID: "/a"})
}

func TestDecodeEventMalformed(t *testing.T) {
	tests := []struct{ name, typ, in, err string }{
		{"no type at all", "", `{"taskId":"x"}`, `marathon event: no event type in the SSE event nor in the payload`},
		{"invalid JSON", "status_update_event", `{"taskId":`, `marathon event status_update_event: invalid JSON: unexpected end of JSON input`},
		{"not an object", "", `[1]`, `marathon event: expected object, got array`},
		{"eventType not a string", "", `{"eventType":5}`, `marathon event: field "eventType": expected string, got number`},
		{"status update without task", "status_update_event", `{"taskStatus":"TASK_RUNNING"}`, `marathon event status_update_event: field "taskId": expected non-empty string, got nothing`},
		{"status update without status", "", `{"eventType":"status_update_event","taskId":"t"}`, `marathon event status_update_event: field "taskStatus": expected non-empty string, got nothing`},
		{"status update ports", "status_update_event", `{"taskId":"t","taskStatus":"TASK_RUNNING","ports":"31000"}`, `marathon event status_update_event: field "ports": expected array, got string`},
		{"status update IPs", "status_update_event", `{"taskId":"t","taskStatus":"TASK_RUNNING","ipAddresses":[{"ipAddress":[]}]}`, `marathon event status_update_event: field "ipAddresses[0].ipAddress": expected string, got array`},
		{"health without instance", "health_status_changed_event", `{"appId":"/a","alive":true}`, `marathon event health_status_changed_event: field "instanceId": expected non-empty string (or taskId), got nothing`},
		{"health alive a string", "health_status_changed_event", `{"appId":"/a","instanceId":"i","alive":"true"}`, `marathon event health_status_changed_event: field "alive": expected boolean, got string`},
		{"instance without id", "instance_changed_event", `{"condition":"Running"}`, `marathon event instance_changed_event: field "instanceId": expected non-empty string, got nothing`},
		{"instance healthy a string", "instance_health_changed_event", `{"instanceId":"i","healthy":"yes"}`, `marathon event instance_health_changed_event: field "healthy": expected boolean, got string`},
		{"api post without app", "api_post_event", `{"uri":"/v2/apps"}`, `marathon event api_post_event: field "appDefinition": expected object, got nothing`},
		{"api post with bad app", "api_post_event", `{"appDefinition":{"id":"/a","labels":[]}}`, `marathon event api_post_event: appDefinition: field "labels": expected object, got array`},
		{"app terminated without app", "app_terminated_event", `{"appId":""}`, `marathon event app_terminated_event: field "appId": expected non-empty string, got empty string`},
		{"deployment steps", "deployment_info", `{"plan":{"steps":"none"}}`, `marathon event deployment_info: field "plan.steps": expected array, got string`},
		{"deployment step", "deployment_info", `{"plan":{"steps":[7]}}`, `marathon event deployment_info: field "plan.steps[0]": expected object, got number`},
		{"deployment action", "deployment_info", `{"plan":{"steps":[{"actions":[{"app":1}]}]}}`, `marathon event deployment_info: field "plan.steps[0].actions[0].app": expected string, got number`},
		{"failed check", "failed_health_check_event", `{"appId":"/a","healthCheck":{"portIndex":true}}`, `marathon event failed_health_check_event: field "healthCheck.portIndex": expected integer, got boolean`},
		{"kill without app", "unhealthy_instance_kill_event", `{"taskId":"t"}`, `marathon event unhealthy_instance_kill_event: field "appId": expected non-empty string, got nothing`},
		{"attached address", "event_stream_attached", `{"remoteAddress":1}`, `marathon event event_stream_attached: field "remoteAddress": expected string, got number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeEvent(tt.typ, []byte(tt.in))
			if err == nil || err.Error() != tt.err {
				t.Fatalf("error\n %v\nwant\n %q", err, tt.err)
			}
		})
	}
}

func TestEncodeEventErrors(t *testing.T) {
	tests := []struct {
		name string
		e    Event
	}{
		{"no type", Event{StatusUpdate: &StatusUpdate{}}},
		{"typed type without payload", Event{Type: EventStatusUpdate}},
		{"payload of another type", Event{Type: EventStatusUpdate, AppTerminated: &AppTerminated{AppID: "/a"}}},
		{"unknown type without raw", Event{Type: "pod_created_event"}},
		{"invalid raw", Event{Type: "pod_created_event", Raw: []byte(`{`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if out, err := EncodeEvent(tt.e); err == nil {
				t.Fatalf("no error, wrote %s", out)
			}
		})
	}
	// One Deployment serves all events of a deployment; each type writes its own fields.
	d := &Deployment{ID: "d", Reason: "r", Plan: DeploymentPlan{ID: "d", Version: "v"},
		CurrentStep: []DeploymentAction{{Action: "StartApplication", App: "/a"}}, Timestamp: "t"}
	info, err := EncodeEvent(Event{Type: EventDeploymentInfo, Deployment: d})
	if err != nil || string(info) != `{"plan":{"id":"d","steps":[],"version":"v"},"currentStep":{"actions":[{"action":"StartApplication","app":"/a"}]},"eventType":"deployment_info","timestamp":"t"}` {
		t.Errorf("deployment_info from a shared Deployment: %s, %v", info, err)
	}
	done, err := EncodeEvent(Event{Type: EventDeploymentSuccess, Deployment: d})
	if err != nil || string(done) != `{"id":"d","plan":{"id":"d","steps":[],"version":"v"},"eventType":"deployment_success","timestamp":"t"}` {
		t.Errorf("deployment_success from a shared Deployment: %s, %v", done, err)
	}
	// A known type may also be sent from Raw, e.g. to replay a capture.
	out, err := EncodeEvent(Event{Type: EventStatusUpdate, Raw: []byte(" {\"taskId\" : \"t\"} ")})
	if err != nil || string(out) != `{"taskId":"t"}` {
		t.Fatalf("raw status update: %s, %v", out, err)
	}
}

// A simulator writes events with sse.Writer and EncodeEvent; a source reads
// them with sse.Reader and DecodeEvent. Everything must survive the trip.
func TestEventsOverSSE(t *testing.T) {
	var buf bytes.Buffer
	w := sse.NewWriter(&buf)
	for _, tt := range canonicalEvents {
		data, err := EncodeEvent(tt.want)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteEvent(tt.want.Type, data); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteHeartbeat(); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.HasPrefix(buf.String(), "event: status_update_event\r\ndata: {\"slaveId\"") {
		t.Errorf("framing: %q", buf.String()[:60])
	}
	r := sse.NewReader(&buf)
	for i := 0; ; i++ {
		se, err := r.Next()
		if err == io.EOF {
			if i != len(canonicalEvents) {
				t.Fatalf("read %d events, want %d", i, len(canonicalEvents))
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		e, err := DecodeEvent(se.Type, se.Data)
		if err != nil {
			t.Fatal(err)
		}
		eq(t, canonicalEvents[i].name, e, canonicalEvents[i].want)
	}
}
