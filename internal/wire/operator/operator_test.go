package operator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/wire/jsonw"
	"github.com/signpost-dns/signpost/internal/wire/recordio"
)

// Minimal valid pieces for hand-written inputs.
const (
	okTask  = `{"name":"web","task_id":{"value":"t1"},"framework_id":{"value":"f1"},"agent_id":{"value":"a1"},"state":"TASK_RUNNING"}`
	okAgent = `{"agent_info":{"hostname":"h1","id":{"value":"a1"},"port":5051},"pid":"slave(1)@10.0.0.1:5051","active":true}`
	okFw    = `{"framework_info":{"name":"marathon","id":{"value":"f1"}},"active":true}`
)

func subscribed(tasks, agents, frameworks string) string {
	return `{"type":"SUBSCRIBED","subscribed":{"get_state":{"get_tasks":{"tasks":[` + tasks +
		`]},"get_executors":{},"get_frameworks":{"frameworks":[` + frameworks +
		`]},"get_agents":{"agents":[` + agents + `]}},"heartbeat_interval_seconds":15.0}}`
}

func taskUpdated(status string) string {
	return `{"type":"TASK_UPDATED","task_updated":{"framework_id":{"value":"f1"},"status":` + status + `,"state":"TASK_RUNNING"}}`
}

func TestDecodeEventMalformed(t *testing.T) {
	full := fixtureLines(t, "subscribe-stream-operator-api.jsonl")[2]
	tests := []struct {
		name   string
		in     string
		syntax bool   // want ErrSyntax
		want   string // exact error text, when not a syntax error
	}{
		{name: "not JSON", in: `hello`, syntax: true},
		{name: "empty", in: ``, syntax: true},
		{name: "truncated", in: string(full[:len(full)/2]), syntax: true},
		{name: "truncated by one byte", in: string(full[:len(full)-1]), syntax: true},
		{name: "trailing garbage", in: `{"type":"HEARTBEAT"}x`, syntax: true},
		{name: "two records glued", in: `{"type":"HEARTBEAT"}{"type":"HEARTBEAT"}`, syntax: true},
		{name: "array", in: `[]`, want: `event: want object, got array`},
		{name: "null", in: `null`, want: `event: field "type": missing`},
		{name: "missing type", in: `{"task_added":{}}`, want: `event: field "type": missing`},
		{name: "empty type", in: `{"type":""}`, want: `event: field "type": empty`},
		{name: "type not a string", in: `{"type":9}`, want: `event: field "type": want string, got number`},
		{name: "payload missing", in: `{"type":"TASK_ADDED"}`, want: `TASK_ADDED: field "task_added": missing`},
		{name: "payload null", in: `{"type":"TASK_ADDED","task_added":null}`, want: `TASK_ADDED: field "task_added": missing`},
		{name: "payload wrong type", in: `{"type":"TASK_ADDED","task_added":[]}`, want: `TASK_ADDED: field "task_added": want object, got array`},
		{name: "task missing", in: `{"type":"TASK_ADDED","task_added":{}}`, want: `TASK_ADDED: field "task_added.task": missing`},
		{name: "task id missing", in: `{"type":"TASK_ADDED","task_added":{"task":{"name":"x","framework_id":{"value":"f"},"agent_id":{"value":"a"},"state":"TASK_STAGING"}}}`,
			want: `TASK_ADDED: field "task_added.task.task_id": missing`},
		{name: "task id empty", in: `{"type":"TASK_ADDED","task_added":{"task":{"task_id":{"value":""}}}}`,
			want: `TASK_ADDED: field "task_added.task.task_id": missing`},
		{name: "task id not wrapped", in: `{"type":"TASK_ADDED","task_added":{"task":{"task_id":"t1"}}}`,
			want: `TASK_ADDED: field "task_added.task.task_id": want object, got string`},
		{name: "task id number", in: `{"type":"TASK_ADDED","task_added":{"task":{"task_id":{"value":7}}}}`,
			want: `TASK_ADDED: field "task_added.task.task_id.value": want string, got number`},
		{name: "task agent missing", in: `{"type":"TASK_ADDED","task_added":{"task":{"task_id":{"value":"t"},"framework_id":{"value":"f"},"state":"TASK_STAGING"}}}`,
			want: `TASK_ADDED: field "task_added.task.agent_id": missing`},
		{name: "task state missing", in: `{"type":"TASK_ADDED","task_added":{"task":{"task_id":{"value":"t"},"framework_id":{"value":"f"},"agent_id":{"value":"a"}}}}`,
			want: `TASK_ADDED: field "task_added.task.state": missing`},
		{name: "v0 bare label array", in: `{"type":"TASK_ADDED","task_added":{"task":{"labels":[{"key":"k","value":"v"}]}}}`,
			want: `TASK_ADDED: field "task_added.task.labels": want object, got array`},
		{name: "port range as string", in: `{"type":"TASK_ADDED","task_added":{"task":{"resources":[{"name":"ports","ranges":{"range":[{"begin":"1"}]}}]}}}`,
			want: `TASK_ADDED: field "task_added.task.resources.ranges.range.begin": want integer, got string`},
		{name: "fractional port", in: `{"type":"TASK_ADDED","task_added":{"task":{"discovery":{"ports":{"ports":[{"number":80.5}]}}}}}`,
			want: `TASK_ADDED: field "task_added.task.discovery.ports.ports.number": want integer, got number 80.5`},
		{name: "task status without state", in: `{"type":"TASK_ADDED","task_added":{"task":` + strings.TrimSuffix(okTask, "}") + `,"statuses":[{"state":"TASK_RUNNING"},{"timestamp":1}]}}}`,
			want: `TASK_ADDED: field "task_added.task.statuses[1].state": missing`},
		{name: "update status task id missing", in: taskUpdated(`{"state":"TASK_RUNNING"}`),
			want: `TASK_UPDATED: field "task_updated.status.task_id": missing`},
		{name: "update status missing", in: `{"type":"TASK_UPDATED","task_updated":{"framework_id":{"value":"f1"},"state":"TASK_RUNNING"}}`,
			want: `TASK_UPDATED: field "task_updated.status": missing`},
		{name: "update framework missing", in: `{"type":"TASK_UPDATED","task_updated":{"status":{"task_id":{"value":"t"},"state":"TASK_RUNNING"}}}`,
			want: `TASK_UPDATED: field "task_updated.framework_id": missing`},
		{name: "update status state missing", in: taskUpdated(`{"task_id":{"value":"t"}}`),
			want: `TASK_UPDATED: field "task_updated.status.state": missing`},
		{name: "update timestamp string", in: taskUpdated(`{"task_id":{"value":"t"},"state":"TASK_RUNNING","timestamp":"now"}`),
			want: `TASK_UPDATED: field "task_updated.status.timestamp": want number, got string`},
		{name: "update healthy string", in: taskUpdated(`{"task_id":{"value":"t"},"state":"TASK_RUNNING","healthy":"yes"}`),
			want: `TASK_UPDATED: field "task_updated.status.healthy": want boolean, got string`},
		{name: "update ip not a string", in: taskUpdated(`{"task_id":{"value":"t"},"state":"TASK_RUNNING","container_status":{"network_infos":[{"ip_addresses":[{"ip_address":10}]}]}}`),
			want: `TASK_UPDATED: field "task_updated.status.container_status.network_infos.ip_addresses.ip_address": want string, got number`},
		{name: "agent added missing info", in: `{"type":"AGENT_ADDED","agent_added":{"agent":{"pid":"x"}}}`,
			want: `AGENT_ADDED: field "agent_added.agent.agent_info": missing`},
		{name: "agent added missing hostname", in: `{"type":"AGENT_ADDED","agent_added":{"agent":{"agent_info":{"id":{"value":"a"}}}}}`,
			want: `AGENT_ADDED: field "agent_added.agent.agent_info.hostname": missing`},
		{name: "agent port string", in: `{"type":"AGENT_ADDED","agent_added":{"agent":{"agent_info":{"port":"5051"}}}}`,
			want: `AGENT_ADDED: field "agent_added.agent.agent_info.port": want integer, got string`},
		{name: "agent removed empty", in: `{"type":"AGENT_REMOVED","agent_removed":{}}`,
			want: `AGENT_REMOVED: field "agent_removed.agent_id": missing`},
		{name: "framework added no id", in: `{"type":"FRAMEWORK_ADDED","framework_added":{"framework":{"framework_info":{"name":"x"}}}}`,
			want: `FRAMEWORK_ADDED: field "framework_added.framework.framework_info.id": missing`},
		{name: "framework updated no info", in: `{"type":"FRAMEWORK_UPDATED","framework_updated":{"framework":{"active":true}}}`,
			want: `FRAMEWORK_UPDATED: field "framework_updated.framework.framework_info": missing`},
		{name: "framework removed no info", in: `{"type":"FRAMEWORK_REMOVED","framework_removed":{}}`,
			want: `FRAMEWORK_REMOVED: field "framework_removed.framework_info": missing`},
		{name: "subscribed without state", in: `{"type":"SUBSCRIBED","subscribed":{"heartbeat_interval_seconds":15}}`,
			want: `SUBSCRIBED: field "subscribed.get_state": missing`},
		{name: "subscribed tasks not a list", in: `{"type":"SUBSCRIBED","subscribed":{"get_state":{"get_tasks":{"tasks":{}}}}}`,
			want: `SUBSCRIBED: field "subscribed.get_state.get_tasks.tasks": want array, got object`},
		{name: "subscribed heartbeat string", in: `{"type":"SUBSCRIBED","subscribed":{"get_state":{},"heartbeat_interval_seconds":"15"}}`,
			want: `SUBSCRIBED: field "subscribed.heartbeat_interval_seconds": want number, got string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := DecodeEvent([]byte(tt.in))
			if err == nil {
				t.Fatalf("no error; event %+v", ev)
			}
			if !reflect.DeepEqual(ev, Event{}) {
				t.Errorf("event %+v returned with error", ev)
			}
			if tt.syntax {
				if !errors.Is(err, ErrSyntax) {
					t.Fatalf("error %v does not wrap ErrSyntax", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T %v is not a *FieldError", err, err)
			}
			if err.Error() != tt.want {
				t.Fatalf("error\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestDecodeEventTolerant(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Event
	}{
		{"unknown type kept", `{"type":"OPERATION_UPDATED","operation_updated":{"x":1}}`, Event{Type: "OPERATION_UPDATED"}},
		{"unknown fields", `{"type":"HEARTBEAT","future":{"a":[1,2]}}`, Event{Type: TypeHeartbeat}},
		{"type last", `{"agent_removed":{"agent_id":{"value":"a1"}},"type":"AGENT_REMOVED"}`, Event{Type: TypeAgentRemoved, AgentRemoved: "a1"}},
		{"irrelevant payload ignored", `{"type":"AGENT_REMOVED","agent_removed":{"agent_id":{"value":"a1"}},"task_added":"junk"}`,
			Event{Type: TypeAgentRemoved, AgentRemoved: "a1"}},
		{"framework removed", `{"type":"FRAMEWORK_REMOVED","framework_removed":{"framework_info":{"user":"root","name":"hello-world","id":{"value":"f9"}}}}`,
			Event{Type: TypeFrameworkRemoved, FrameworkRemoved: "f9"}},
		{"update state from status", `{"type":"TASK_UPDATED","task_updated":{"framework_id":{"value":"f1"},"status":{"task_id":{"value":"t"},"state":"TASK_KILLED"}}}`,
			Event{Type: TypeTaskUpdated, TaskUpdated: &TaskUpdated{FrameworkID: "f1", TaskID: "t", State: cluster.TaskKilled,
				Status: cluster.TaskStatus{State: cluster.TaskKilled}}}},
		{"task with nothing optional", `{"type":"TASK_ADDED","task_added":{"task":` + okTask + `}}`,
			Event{Type: TypeTaskAdded, TaskAdded: &cluster.Task{ID: "t1", Name: "web", FrameworkID: "f1", AgentID: "a1", State: cluster.TaskRunning}}},
		{"empty sub-messages", `{"type":"SUBSCRIBED","subscribed":{"get_state":{"get_tasks":{},"get_executors":{},"get_frameworks":{},"get_agents":{}}}}`,
			Event{Type: TypeSubscribed, Subscribed: &Subscribed{State: &cluster.MesosState{}}}},
		{"launched_tasks of Mesos 1.0/1.1", `{"type":"SUBSCRIBED","subscribed":{"get_state":{"get_tasks":{"launched_tasks":[` + okTask + `]}}}}`,
			Event{Type: TypeSubscribed, Subscribed: &Subscribed{State: &cluster.MesosState{Frameworks: []cluster.Framework{{ID: "f1",
				Tasks: []cluster.Task{{ID: "t1", Name: "web", FrameworkID: "f1", AgentID: "a1", State: cluster.TaskRunning}}}}}}}},
		{"agent attributes of every kind", `{"type":"AGENT_ADDED","agent_added":{"agent":{"agent_info":{"hostname":"h","id":{"value":"a"},"attributes":[` +
			`{"name":"rack","type":"TEXT","text":{"value":"r1"}},{"name":"cores","type":"SCALAR","scalar":{"value":2.5}},` +
			`{"name":"span","type":"RANGES","ranges":{"range":[{"begin":1,"end":2},{"begin":5,"end":5}]}},{"name":"zones","type":"SET","set":{"item":["a","b"]}}]},` +
			`"total_resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"role":"*"},{"name":"cpus","type":"SCALAR","scalar":{"value":2},"role":"r"},{"name":"gpus","type":"SCALAR","scalar":{"value":1}}]}}}`,
			Event{Type: TypeAgentAdded, AgentAdded: &cluster.Agent{ID: "a", Hostname: "h",
				Attributes: map[string]string{"rack": "r1", "cores": "2.5", "span": "[1-2, 5-5]", "zones": "{a,b}"},
				Resources:  cluster.Resources{CPUs: 3, GPUs: 1}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := DecodeEvent([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ev, tt.want) {
				t.Fatalf("got %+v\nwant %+v", ev, tt.want)
			}
		})
	}
}

// TestSubscribedSkipsBadElements checks that malformed elements of the
// snapshot are reported with their paths and the rest is kept.
func TestSubscribedSkipsBadElements(t *testing.T) {
	badTask := `{"name":"bad","framework_id":{"value":"f1"},"agent_id":{"value":"a1"},"state":"TASK_RUNNING"}`
	typoTask := `{"name":"typo","task_id":{"value":"t3"},"framework_id":{"value":"f1"},"agent_id":{"value":"a1"},"state":"TASK_RUNNING","statuses":[{"state":"TASK_RUNNING","timestamp":"x"}]}`
	orphan := `{"name":"orphan","task_id":{"value":"t4"},"framework_id":{"value":"f-gone"},"agent_id":{"value":"a1"},"state":"TASK_RUNNING"}`
	badFwTask := `{"name":"under-bad-fw","task_id":{"value":"t5"},"framework_id":{"value":"f2"},"agent_id":{"value":"a1"},"state":"TASK_RUNNING"}`
	badAgent := `{"agent_info":{"hostname":"h2","id":{"value":"a2"},"port":"x"}}`
	badFw := `{"framework_info":{"name":"broken","id":{"value":"f2"},"webui_url":7}}`
	in := subscribed(
		strings.Join([]string{okTask, badTask, typoTask, orphan, "null", badFwTask}, ","),
		strings.Join([]string{badAgent, okAgent}, ","),
		strings.Join([]string{badFw, okFw}, ","))

	ev, err := DecodeEvent([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	sub := ev.Subscribed
	var got []string
	for _, e := range sub.Skipped {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Errorf("skipped %T is not a *FieldError", e)
		}
		got = append(got, e.Error())
	}
	want := []string{
		`SUBSCRIBED: field "subscribed.get_state.get_agents.agents[0].agent_info.port": want integer, got string`,
		`SUBSCRIBED: field "subscribed.get_state.get_frameworks.frameworks[0].framework_info.webui_url": want string, got number`,
		`SUBSCRIBED: field "subscribed.get_state.get_tasks.tasks[1].task_id": missing`,
		`SUBSCRIBED: field "subscribed.get_state.get_tasks.tasks[2].statuses.timestamp": want number, got string`,
		`SUBSCRIBED: field "subscribed.get_state.get_tasks.tasks[4]": missing`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("skipped:\n got %q\nwant %q", got, want)
	}

	st := sub.State
	eq(t, "agents", len(st.Agents), 1)
	eq(t, "agent", st.Agents[0].ID, "a1")
	var fws []string
	for _, f := range st.Frameworks {
		var ids []string
		for _, task := range f.Tasks {
			ids = append(ids, task.ID)
		}
		fws = append(fws, fmt.Sprintf("%s(%s):%v", f.ID, f.Name, ids))
	}
	// f-gone and f2 (whose framework entry was malformed) become
	// placeholders, in order of first appearance.
	eq(t, "frameworks", fws, []string{"f1(marathon):[t1]", "f-gone():[t4]", "f2():[t5]"})
}

func TestDecodeGetStateErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
		syntax         bool
	}{
		{name: "not JSON", in: `{"type":`, syntax: true},
		{name: "missing type", in: `{"get_state":{}}`, want: `GET_STATE: field "type": missing`},
		{name: "other response", in: `{"type":"GET_HEALTH","get_health":{"healthy":true}}`, want: `GET_STATE: field "type": is "GET_HEALTH", want GET_STATE`},
		{name: "no state", in: `{"type":"GET_STATE"}`, want: `GET_STATE: field "get_state": missing`},
		{name: "agents wrong", in: `{"type":"GET_STATE","get_state":{"get_agents":{"agents":1}}}`, want: `GET_STATE: field "get_state.get_agents.agents": want array, got number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, skipped, err := DecodeGetState([]byte(tt.in))
			if err == nil || st != nil || skipped != nil {
				t.Fatalf("st %v skipped %v err %v", st, skipped, err)
			}
			if tt.syntax {
				if !errors.Is(err, ErrSyntax) {
					t.Fatalf("%v does not wrap ErrSyntax", err)
				}
				return
			}
			if err.Error() != tt.want {
				t.Fatalf("error\n got %s\nwant %s", err, tt.want)
			}
		})
	}

	// Both decoding routes: only missing fields (fast), and a mistyped
	// field too (precise, element by element).
	for _, tasks := range []string{okTask + `,{}`, okTask + `,{},{"task_id":5}`} {
		st, skipped, err := DecodeGetState([]byte(`{"type":"GET_STATE","get_state":{"get_tasks":{"tasks":[` + tasks + `]},"get_agents":{"agents":[` + okAgent + `]}}}`))
		if err != nil {
			t.Fatal(err)
		}
		want := `[GET_STATE: field "get_state.get_tasks.tasks[1].task_id": missing]`
		if strings.Contains(tasks, "5") {
			want = `[GET_STATE: field "get_state.get_tasks.tasks[1].task_id": missing GET_STATE: field "get_state.get_tasks.tasks[2].task_id": want object, got number]`
		}
		eq(t, "skipped", fmt.Sprint(skipped), want)
		eq(t, "kept", len(st.Frameworks[0].Tasks)+len(st.Agents), 2)
	}
}

func TestEncodeShapes(t *testing.T) {
	healthy := true
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"heartbeat", Event{Type: TypeHeartbeat}, `{"type":"HEARTBEAT"}`},
		{"unknown", Event{Type: "NEW"}, `{"type":"NEW"}`},
		{"empty subscribed", Event{Type: TypeSubscribed, Subscribed: &Subscribed{State: &cluster.MesosState{}, HeartbeatIntervalSeconds: 15}},
			`{"type":"SUBSCRIBED","subscribed":{"get_state":{"get_tasks":{},"get_executors":{},"get_frameworks":{},"get_agents":{}},"heartbeat_interval_seconds":15}}`},
		{"agent removed", Event{Type: TypeAgentRemoved, AgentRemoved: "a1"}, `{"type":"AGENT_REMOVED","agent_removed":{"agent_id":{"value":"a1"}}}`},
		{"framework removed", Event{Type: TypeFrameworkRemoved, FrameworkRemoved: "f1"},
			`{"type":"FRAMEWORK_REMOVED","framework_removed":{"framework_info":{"name":"","id":{"value":"f1"}}}}`},
		{"task updated", Event{Type: TypeTaskUpdated, TaskUpdated: &TaskUpdated{
			FrameworkID: "f1", TaskID: "t1", AgentID: "a1", ExecutorID: "e1", State: cluster.TaskRunning,
			Status: cluster.TaskStatus{State: cluster.TaskRunning, Timestamp: 1520884850.64141, Healthy: &healthy, Source: "SOURCE_EXECUTOR",
				ContainerID: "c1", NetworkInfos: []cluster.NetworkInfo{{IPAddresses: []cluster.IPAddress{{IP: "10.0.0.5", Protocol: "IPv4"}}}}},
		}}, `{"type":"TASK_UPDATED","task_updated":{"framework_id":{"value":"f1"},"status":{"task_id":{"value":"t1"},"state":"TASK_RUNNING",` +
			`"source":"SOURCE_EXECUTOR","agent_id":{"value":"a1"},"executor_id":{"value":"e1"},"timestamp":1520884850.64141,"uuid":"UUID","healthy":true,` +
			`"container_status":{"container_id":{"value":"c1"},"network_infos":[{"ip_addresses":[{"protocol":"IPv4","ip_address":"10.0.0.5"}]}]}},"state":"TASK_RUNNING"}}`},
		{"task added", Event{Type: TypeTaskAdded, TaskAdded: &cluster.Task{ID: "t1", Name: "web", FrameworkID: "f1", AgentID: "a1",
			State: cluster.TaskStaging, Role: "*", Ports: []cluster.PortRange{{Begin: 31000, End: 31001}}, Labels: []cluster.Label{{Key: "a", Value: "b&c"}},
			HasHealthCheck: true}},
			`{"type":"TASK_ADDED","task_added":{"task":{"name":"web","task_id":{"value":"t1"},"framework_id":{"value":"f1"},"agent_id":{"value":"a1"},` +
				`"state":"TASK_STAGING","resources":[{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":31001}]},"allocation_info":{"role":"*"}}],` +
				`"labels":{"labels":[{"key":"a","value":"b&c"}]},"health_check":{}}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := EncodeEvent(tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			got := string(b)
			if i := strings.Index(got, `"uuid":"`); i >= 0 {
				// The uuid is derived; check its form, then mask it.
				end := strings.Index(got[i+8:], `"`)
				uuid := got[i+8 : i+8+end]
				if len(uuid) != 24 || !strings.HasSuffix(uuid, "==") {
					t.Errorf("uuid %q is not base64 of 16 bytes", uuid)
				}
				got = got[:i+8] + "UUID" + got[i+8+end:]
			}
			if got != tt.want {
				t.Fatalf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	for _, ev := range []Event{
		{},
		{Type: TypeSubscribed},
		{Type: TypeSubscribed, Subscribed: &Subscribed{}},
		{Type: TypeTaskAdded},
		{Type: TypeTaskUpdated},
		{Type: TypeAgentAdded},
		{Type: TypeAgentRemoved},
		{Type: TypeFrameworkAdded},
		{Type: TypeFrameworkUpdated},
		{Type: TypeFrameworkRemoved},
	} {
		if b, err := EncodeEvent(ev); err == nil {
			t.Errorf("EncodeEvent(%+v) = %s, want error", ev, b)
		}
	}
	if _, err := EncodeGetState(nil); err == nil {
		t.Error("EncodeGetState(nil) did not fail")
	}
}

// frame prefixes each line with its RecordIO length, as a master sends it.
func frame(lines [][]byte) []byte {
	var buf bytes.Buffer
	w := recordio.NewWriter(&buf)
	for _, l := range lines {
		_ = w.Write(l)
	}
	return buf.Bytes()
}

// TestReplayRecordIO feeds each capture through the RecordIO reader the way
// a real stream arrives — re-chunked arbitrarily — and expects the same
// events as decoding the lines directly.
func TestReplayRecordIO(t *testing.T) {
	chunkers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"one-byte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
		{"data-err", iotest.DataErrReader},
	}
	for _, file := range streamFixtures {
		want := decodeFixture(t, file)
		stream := frame(fixtureLines(t, file))
		for _, c := range chunkers {
			t.Run(file+"/"+c.name, func(t *testing.T) {
				r := recordio.NewReader(c.wrap(bytes.NewReader(stream)), 1<<20)
				var got []Event
				for {
					rec, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					ev, err := DecodeEvent(rec)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, ev)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("replayed %d events differ from the %d decoded directly", len(got), len(want))
				}
			})
		}
		t.Run(file+"/ReadEvents", func(t *testing.T) {
			var got []Event
			err := ReadEvents(context.Background(), iotest.HalfReader(bytes.NewReader(stream)), 0, func(ev Event) error {
				got = append(got, ev)
				return nil
			})
			if err != io.EOF {
				t.Fatalf("ReadEvents = %v, want io.EOF", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatal("ReadEvents events differ")
			}
		})
	}
}

func TestReadEventsStops(t *testing.T) {
	lines := fixtureLines(t, "subscribe-stream-recovered-agents.jsonl")

	// A malformed event in the middle ends the stream, naming its position.
	bad := append(append([][]byte{}, lines[:2]...), []byte(`{"type":"AGENT_REMOVED","agent_removed":{}}`))
	n := 0
	err := ReadEvents(context.Background(), bytes.NewReader(frame(bad)), 0, func(Event) error { n++; return nil })
	var fe *FieldError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "event 2 of the stream") || n != 2 {
		t.Fatalf("err %v after %d events", err, n)
	}

	// fn's error is returned as is.
	stop := errors.New("stop")
	err = ReadEvents(context.Background(), bytes.NewReader(frame(lines)), 0, func(Event) error { return stop })
	if err != stop {
		t.Fatalf("err %v, want fn's error", err)
	}

	// A cancelled context is noticed between records.
	ctx, cancel := context.WithCancel(context.Background())
	n = 0
	err = ReadEvents(ctx, bytes.NewReader(frame(lines)), 0, func(Event) error { n++; cancel(); return nil })
	if !errors.Is(err, context.Canceled) || n != 1 {
		t.Fatalf("err %v after %d events", err, n)
	}

	// A stream cut inside a record is not a clean end.
	stream := frame(lines)
	err = ReadEvents(context.Background(), bytes.NewReader(stream[:len(stream)-10]), 0, func(Event) error { return nil })
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err %v, want unexpected EOF", err)
	}
}

// FuzzDecodeEvent checks that DecodeEvent never panics, and that whatever it
// accepts survives an encode/decode round trip with stable bytes.
func FuzzDecodeEvent(f *testing.F) {
	for _, file := range streamFixtures {
		for _, l := range fixtureLines(f, file) {
			f.Add(l)
		}
	}
	for _, s := range []string{
		`{"type":"HEARTBEAT"}`, `{"type":"AGENT_REMOVED","agent_removed":{"agent_id":{"value":"a"}}}`,
		subscribed(okTask+`,{}`, okAgent, okFw), `[]`, `{"type":7}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := DecodeEvent(data)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) && !errors.Is(err, ErrSyntax) {
				t.Fatalf("error of unexpected kind %T: %v", err, err)
			}
			return
		}
		if ev.Type == "" {
			t.Fatal("event without type")
		}
		if ev.Subscribed != nil {
			ev.Subscribed.Skipped = nil // not encoded
		}
		enc, err := EncodeEvent(ev)
		if err != nil {
			if errors.Is(err, jsonw.ErrNonFinite) {
				return // resource sums that overflow to ±Inf have no JSON form
			}
			t.Fatalf("decoded event does not encode: %v", err)
		}
		back, err := DecodeEvent(enc)
		if err != nil {
			t.Fatalf("encoding does not decode: %v\n%s", err, enc)
		}
		if !reflect.DeepEqual(back, ev) {
			t.Fatalf("round trip differs\n got %+v\nwant %+v\n%s", back, ev, enc)
		}
		again, _ := EncodeEvent(back)
		if !bytes.Equal(again, enc) {
			t.Fatalf("re-encoding differs:\n%s\n%s", enc, again)
		}
	})
}

// syntheticState builds a cluster of the given size with tasks shaped like
// Marathon's: discovery, a docker container, a label, and two statuses with
// container IPs.
func syntheticState(agents, tasks int) *cluster.MesosState {
	st := &cluster.MesosState{}
	for i := range agents {
		st.Agents = append(st.Agents, cluster.Agent{
			ID: fmt.Sprintf("c620b0f5-ce56-472b-814a-aa36b40206af-S%d", i), Hostname: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255),
			Port: 5051, PID: fmt.Sprintf("slave(1)@10.%d.%d.%d:5051", i>>16&255, i>>8&255, i&255), Active: true,
			Attributes: map[string]string{"rack": strconv.Itoa(i % 40)},
			Resources:  cluster.Resources{CPUs: 16, Mem: 64000, Disk: 500000, Ports: []cluster.PortRange{{Begin: 1025, End: 2180}, {Begin: 2182, End: 3887}, {Begin: 3889, End: 5049}, {Begin: 5052, End: 32000}}},
		})
	}
	const apps = 1000
	st.Frameworks = []cluster.Framework{{ID: "c620b0f5-ce56-472b-814a-aa36b40206af-0001", Name: "marathon", Hostname: "10.0.7.40",
		WebUIURL: "https://10.0.7.40:8443", Role: "slave_public", Active: true}}
	f := &st.Frameworks[0]
	f.Tasks = make([]cluster.Task, tasks)
	healthy := true
	for i := range f.Tasks {
		app := fmt.Sprintf("app-%d", i%apps)
		id := fmt.Sprintf("%s.instance-%08x-2930-11e8-96bf-70b3d5800001._app.1", app, i)
		port := 20000 + i%10000
		ip := fmt.Sprintf("9.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		nets := []cluster.NetworkInfo{{Name: "dcos", IPAddresses: []cluster.IPAddress{{IP: ip, Protocol: "IPv4"}},
			PortMappings: []cluster.PortMapping{{HostPort: port, ContainerPort: 8080, Protocol: "tcp"}}}}
		f.Tasks[i] = cluster.Task{
			ID: id, Name: app, FrameworkID: f.ID, AgentID: st.Agents[i%agents].ID, ExecutorID: id,
			State: cluster.TaskRunning, Role: "slave_public", Ports: []cluster.PortRange{{Begin: port, End: port}},
			Labels: []cluster.Label{{Key: "HAPROXY_GROUP", Value: "external"}},
			Statuses: []cluster.TaskStatus{
				{State: cluster.TaskStarting, Timestamp: 1521215081.56817 + float64(i), Source: "SOURCE_EXECUTOR", ContainerID: "b0093d89-9df2-4d20-b92d-288aaa3b3b88", NetworkInfos: nets},
				{State: cluster.TaskRunning, Timestamp: 1521215082.56817 + float64(i), Source: "SOURCE_EXECUTOR", ContainerID: "b0093d89-9df2-4d20-b92d-288aaa3b3b88", NetworkInfos: nets, Healthy: &healthy},
			},
			Discovery: &cluster.DiscoveryInfo{Visibility: "FRAMEWORK", Name: app, Ports: []cluster.DiscoveryPort{{Number: port, Name: "http", Protocol: "tcp",
				Labels: []cluster.Label{{Key: "VIP_0", Value: "/" + app + ":80"}, {Key: "network-scope", Value: "host"}}}}},
			Container: &cluster.ContainerInfo{Type: "DOCKER", Docker: &cluster.DockerInfo{Image: "python:3-alpine", Network: "BRIDGE",
				PortMappings: []cluster.PortMapping{{HostPort: port, ContainerPort: 8080, Protocol: "tcp"}}}},
			HasHealthCheck: true,
		}
	}
	return st
}

func TestSyntheticRoundTrip(t *testing.T) {
	st := syntheticState(10, 100)
	ev := Event{Type: TypeSubscribed, Subscribed: &Subscribed{State: st, HeartbeatIntervalSeconds: 15}}
	b, err := EncodeEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, ev) {
		t.Fatal("synthetic SUBSCRIBED does not round-trip")
	}
	gs, err := EncodeGetState(st)
	if err != nil {
		t.Fatal(err)
	}
	st2, skipped, err := DecodeGetState(gs)
	if err != nil || skipped != nil || !reflect.DeepEqual(st2, st) {
		t.Fatalf("synthetic GET_STATE does not round-trip: %v %v", err, skipped)
	}
}

func BenchmarkEncodeSubscribed100k(b *testing.B) {
	ev := Event{Type: TypeSubscribed, Subscribed: &Subscribed{State: syntheticState(10_000, 100_000), HeartbeatIntervalSeconds: 15}}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		data, err := EncodeEvent(ev)
		if err != nil {
			b.Fatal(err)
		}
		n = len(data)
	}
	b.ReportMetric(float64(n)/(1<<20), "MiB/event")
	b.SetBytes(int64(n))
}

func BenchmarkDecodeSubscribed100k(b *testing.B) {
	data, err := EncodeEvent(Event{Type: TypeSubscribed, Subscribed: &Subscribed{State: syntheticState(10_000, 100_000), HeartbeatIntervalSeconds: 15}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := DecodeEvent(data); err != nil {
			b.Fatal(err)
		}
	}
}
