package mesosstate

import (
	"errors"
	"strings"
	"testing"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// task builds a small valid task object with the given id and extra fields.
func taskJSON(id string, extra string) string {
	s := `{"id":"` + id + `","name":"web","framework_id":"f1","slave_id":"S0","state":"TASK_RUNNING",` +
		`"resources":{"ports":"[31000-31000]"},"statuses":[{"state":"TASK_RUNNING","timestamp":1.5}]`
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

func stateWithTasks(tasks ...string) string {
	return `{"version":"1.4.0","frameworks":[{"id":"f0","name":"other","tasks":[]},` +
		`{"id":"f1","name":"marathon","tasks":[` + strings.Join(tasks, ",") + `]}]}`
}

func TestDecodeMalformed(t *testing.T) {
	fake := readFixture(t, "mesos-dns/fake.json")
	tests := []struct {
		name    string
		in      string
		wantErr string   // substring of err; "" means no error
		skipped []string // one substring per skipped entry, in order
		tasks   []string // ids of the tasks kept, when checked
		agents  int      // agents kept, when > 0 checked
	}{
		{name: "not JSON", in: "hello", wantErr: `mesos state: invalid JSON at offset 0: invalid character 'h'`},
		{name: "empty input", in: "", wantErr: "unexpected end of JSON input"},
		{name: "white space only", in: " \n", wantErr: "unexpected end of JSON input"},
		{name: "truncated", in: string(fake[:len(fake)/2]), wantErr: "unexpected end of JSON input"},
		{name: "truncated in string", in: `{"version":"1.`, wantErr: "unexpected end of JSON input"},
		{name: "top-level array", in: `[{"version":"1"}]`, wantErr: "mesos state: expected object, got array"},
		{name: "top-level string", in: `"state"`, wantErr: "expected object, got string"},
		{name: "top-level null", in: `null`, wantErr: "expected object, got null"},
		{name: "trailing garbage", in: `{} {}`, wantErr: "after top-level value"},
		{name: "trailing comma", in: `{"version":"1",}`, wantErr: "looking for beginning of object key"},
		{name: "missing colon", in: `{"version" "1"}`, wantErr: "after object key"},
		{name: "bad literal", in: `{"x":nul}`, wantErr: "in literal null"},
		{name: "leading zero", in: `{"x":01}`, wantErr: "after object member value"},
		{name: "bare decimal point", in: `{"x":1.}`, wantErr: "after decimal point"},
		{name: "invalid escape", in: `{"version":"\x"}`, wantErr: `invalid escape \x`},
		{name: "control character in string", in: "{\"version\":\"a\nb\"}", wantErr: "in string literal"},
		{name: "too deep", in: `{"x":` + strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1) + `}`,
			wantErr: "exceeded max nesting depth"},
		{name: "slaves is a string", in: `{"slaves":"none"}`,
			wantErr: `mesos state: field "slaves": expected array, got string`},
		{name: "frameworks is an object", in: `{"frameworks":{}}`,
			wantErr: `mesos state: field "frameworks": expected array, got object`},
		{name: "version is a number", in: `{"version":1.4}`,
			wantErr: `mesos state: field "version": expected string, got number`},
		{name: "start_time is a string", in: `{"start_time":"now"}`,
			wantErr: `field "start_time": expected number, got string`},
		{name: "leader_info.port is a string", in: `{"leader_info":{"id":"m","port":"5050"}}`,
			wantErr: `mesos state: field "leader_info.port": expected number, got string`},
		{name: "leader_info is an array", in: `{"leader_info":[]}`,
			wantErr: `field "leader_info": expected object, got array`},

		{name: "empty object", in: `{}`},
		{name: "unknown fields of any type", in: `{"flags":{"a":"b"},"x":[1,{"y":null}],"slaves":[],"frameworks":null,"completed_frameworks":7}`},
		{name: "completed frameworks are not decoded", in: `{"completed_frameworks":[{"id":5}]}`},
		{name: "completed tasks are not decoded", in: `{"frameworks":[{"id":"f","completed_tasks":[{"id":5}],"tasks":[]}]}`},

		{name: "one bad task among good ones",
			in: stateWithTasks(
				taskJSON("web.1", ""),
				taskJSON("web.2", `"statuses":[{"state":"TASK_RUNNING","timestamp":"yesterday"}]`),
				taskJSON("web.3", ""),
				`{"name":"no id","statuses":[]}`,
				`42`,
				taskJSON("web.6", ""),
			),
			skipped: []string{
				`frameworks[1].tasks[1] (id "web.2"): field "statuses[0].timestamp": expected number, got string`,
				`frameworks[1].tasks[3]: missing field "id"`,
				`frameworks[1].tasks[4]: expected object, got number`,
			},
			tasks: []string{"web.1", "web.3", "web.6"}},
		{name: "error before the id still reports the id",
			in:      stateWithTasks(`{"labels":"x","id":"late.1"}`, taskJSON("web.1", "")),
			skipped: []string{`frameworks[1].tasks[0] (id "late.1"): field "labels": expected array or object, got string`},
			tasks:   []string{"web.1"}},
		{name: "bad task ports string",
			in:      stateWithTasks(taskJSON("web.1", ""), taskJSON("web.2", `"resources":{"ports":"[31000-]"}`)),
			skipped: []string{`frameworks[1].tasks[1] (id "web.2"): field "resources.ports": invalid port ranges "[31000-]"`},
			tasks:   []string{"web.1"}},
		{name: "reversed port range",
			in:      stateWithTasks(taskJSON("web.1", `"resources":{"ports":"[31005-31000]"}`)),
			skipped: []string{`field "resources.ports": invalid port ranges "[31005-31000]": range 31005-31000 ends before it begins`}},
		{name: "ports not a string",
			in:      stateWithTasks(taskJSON("web.1", `"resources":{"ports":[31000]}`)),
			skipped: []string{`field "resources.ports": expected string, got array`}},
		{name: "healthy not a boolean",
			in:      stateWithTasks(taskJSON("web.1", `"statuses":[{"state":"TASK_RUNNING","timestamp":1,"healthy":"yes"}]`)),
			skipped: []string{`(id "web.1"): field "statuses[0].healthy": expected boolean, got string`}},
		{name: "bad discovery port number",
			in:      stateWithTasks(taskJSON("web.1", `"discovery":{"visibility":"FRAMEWORK","ports":{"ports":[{"number":80},{"number":"443"}]}}`)),
			skipped: []string{`field "discovery.ports.ports[1].number": expected number, got string`}},
		{name: "fractional host port",
			in:      stateWithTasks(taskJSON("web.1", `"container":{"type":"DOCKER","docker":{"image":"x","port_mappings":[{"host_port":80.5,"container_port":80}]}}`)),
			skipped: []string{`field "container.docker.port_mappings[0].host_port": expected integer, got number 80.5`}},
		{name: "label value not a string",
			in:      stateWithTasks(taskJSON("web.1", `"labels":[{"key":"a","value":1}]`)),
			skipped: []string{`field "labels[0].value": expected string, got number`}},
		{name: "network info IP not a string",
			in:      stateWithTasks(taskJSON("web.1", `"statuses":[{"state":"TASK_RUNNING","timestamp":1,"container_status":{"network_infos":[{"ip_addresses":[{"ip_address":10}]}]}}]`)),
			skipped: []string{`field "statuses[0].container_status.network_infos[0].ip_addresses[0].ip_address": expected string, got number`}},
		{name: "timestamp out of range",
			in:      stateWithTasks(taskJSON("web.1", `"statuses":[{"state":"TASK_RUNNING","timestamp":1e400}]`)),
			skipped: []string{`field "statuses[0].timestamp": number 1e400 out of range`}},
		{name: "null task element",
			in:      stateWithTasks(`null`, taskJSON("web.1", "")),
			skipped: []string{`frameworks[1].tasks[0]: expected object, got null`},
			tasks:   []string{"web.1"}},
		{name: "bad framework hides its tasks' faults",
			in:      `{"frameworks":[{"id":"f1","name":5,"tasks":[{"id":"t","statuses":"x"}]},{"id":"f2","tasks":[` + taskJSON("web.1", "") + `]}]}`,
			skipped: []string{`frameworks[0] (id "f1"): field "name": expected string, got number`},
			tasks:   []string{"web.1"}},
		{name: "framework tasks not an array",
			in:      `{"frameworks":[{"id":"f1","tasks":"none"}]}`,
			skipped: []string{`frameworks[0] (id "f1"): field "tasks": expected array, got string`}},
		{name: "framework without id",
			in:      `{"frameworks":[{"name":"x","tasks":[]},{"id":"f2","tasks":[]}]}`,
			skipped: []string{`frameworks[0]: missing field "id"`}},
		{name: "bad agent among good ones",
			in: `{"slaves":[{"id":"S0","hostname":"a"},{"id":"S1","resources":{"ports":"31000-31005"}},` +
				`{"id":"S2","attributes":{"rack":true}},{"id":"S3","active":"yes"},{"hostname":"x"},"S5",{"id":"S6","port":5051}]}`,
			skipped: []string{
				`slaves[1] (id "S1"): field "resources.ports": invalid port ranges "31000-31005"`,
				`slaves[2] (id "S2"): field "attributes.rack": expected string or number, got boolean`,
				`slaves[3] (id "S3"): field "active": expected boolean, got string`,
				`slaves[4]: missing field "id"`,
				`slaves[5]: expected object, got string`,
			},
			agents: 2},
		{name: "syntax error inside a task fails the document",
			in:      stateWithTasks(taskJSON("web.1", ""), `{"id":"web.2",}`),
			wantErr: "looking for beginning of object key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, skipped, err := Decode([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				if st != nil || skipped != nil {
					t.Errorf("with an error Decode returned state %v and skipped %v", st != nil, skipped)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if len(skipped) != len(tc.skipped) {
				t.Fatalf("skipped = %q, want %d entries like %q", skipped, len(tc.skipped), tc.skipped)
			}
			for i, s := range skipped {
				if !strings.Contains(s.Error(), tc.skipped[i]) {
					t.Errorf("skipped[%d] = %q, want it to contain %q", i, s, tc.skipped[i])
				}
				var se *SkipError
				if !errors.As(s, &se) {
					t.Errorf("skipped[%d] is %T, not *SkipError", i, s)
				}
			}
			if tc.tasks != nil {
				var got []string
				for _, f := range st.Frameworks {
					for _, task := range f.Tasks {
						got = append(got, task.ID)
					}
				}
				eq(t, "kept tasks", got, tc.tasks)
			}
			if tc.agents > 0 {
				eq(t, "kept agents", len(st.Agents), tc.agents)
			}
		})
	}
}

// A skipped element leaves no trace in the model: a framework whose only task
// was skipped has nil Tasks, as if it had sent "tasks":[] (found by fuzzing:
// an empty non-nil slice broke Decode(Encode(s)) == s).
func TestSkipLeavesNoTrace(t *testing.T) {
	st, skipped, err := Decode([]byte(`{"slaves":[{"id":5}],"frameworks":[{"id":"f","tasks":[{"id":"t","labels":5}]},{"name":"x"}]}`))
	if err != nil || len(skipped) != 3 {
		t.Fatalf("skipped %v, err %v", skipped, err)
	}
	if st.Agents != nil || st.Frameworks[0].Tasks != nil || len(st.Frameworks) != 1 {
		t.Errorf("skipped elements left empty slices: %#v", st)
	}
	st, _, err = Decode([]byte(`{"frameworks":[{"name":"x"}]}`))
	if err != nil || st.Frameworks != nil {
		t.Errorf("Frameworks = %#v, want nil", st.Frameworks)
	}
}

func TestSkipErrorUnwrap(t *testing.T) {
	_, skipped, err := Decode([]byte(`{"slaves":[{"hostname":"x"},{"id":"S1","port":"5051"}]}`))
	if err != nil || len(skipped) != 2 {
		t.Fatalf("skipped %v, err %v", skipped, err)
	}
	if !errors.Is(skipped[0], ErrMissingID) {
		t.Errorf("skipped[0] = %v, want ErrMissingID", skipped[0])
	}
	var fe *FieldError
	if !errors.As(skipped[1], &fe) || fe.Field != "port" || fe.Msg != "expected number, got string" {
		t.Errorf("skipped[1] = %#v", fe)
	}
	var se *SkipError
	if !errors.As(skipped[1], &se) || se.Path != "slaves[1]" || se.ID != "S1" {
		t.Errorf("skipped[1] = %#v", se)
	}
	_, _, err = Decode([]byte(`{"hostname":["x"]}`))
	if !errors.As(err, &fe) || fe.Field != "hostname" {
		t.Errorf("top-level err = %v, want a *FieldError for hostname", err)
	}
	_, _, err = Decode([]byte(`{"hostname":`))
	var syn *SyntaxError
	if !errors.As(err, &syn) || syn.Offset != len(`{"hostname":`) {
		t.Errorf("err = %#v, want a *SyntaxError at the end", err)
	}
}

// Tolerated variations that real or plausible masters produce.
func TestDecodeQuirks(t *testing.T) {
	in := `{
	  "leader_info": {"id":"m1","pid":"master@10.0.0.1:5050","port":5050,"hostname":"m1.example","domain":{}},
	  "slaves": [{"id":"S0","port":5051,"active":true,"attributes":{"rack":3,"weight":1.50,"zone":"a","gone":null},
	              "resources":{"cpus":4,"mem":1024.5,"disk":10,"gpus":1,"cpus_revocable":2}}],
	  "frameworks": [{"id":"f1","roles":["dev","prod"],"tasks":[{
	    "id":"t1","role":"dev","health_check":{"type":"HTTP"},
	    "labels":{"labels":[{"key":"k","value":"v"}]},
	    "discovery":{"visibility":"FRAMEWORK","ports":[{"number":80,"protocol":"tcp","labels":[{"key":"network-scope","value":"host"}]}]},
	    "statuses":[
	      {"state":"TASK_RUNNING","timestamp":2,"healthy":true,"message":"ok","source":"SOURCE_EXECUTOR","reason":"REASON_X",
	       "container_status":{"container_id":{"value":"c1","parent":{"value":"p"}},"network_infos":[
	         {"ip_address":"10.1.1.1","protocol":"IPv6"},
	         {"ip_address":"10.2.2.2","ip_addresses":[{"ip_address":"10.3.3.3"}]},
	         {"ip_address":"10.4.4.4","ip_addresses":[]},
	         {"groups":["g1","g2"],"labels":{"labels":[{"key":"a","value":"b"}]},"port_mappings":[{"host_port":1,"container_port":2}]}
	       ]}},
	      {"state":"TASK_STARTING","timestamp":1,"healthy":null}
	    ]}]}]
	}`
	st, skipped, err := Decode([]byte(in))
	if err != nil || len(skipped) > 0 {
		t.Fatalf("Decode: %v %v", skipped, err)
	}
	eq(t, "LeaderInfo", *st.LeaderInfo, cluster.MasterInfo{ID: "m1", PID: "master@10.0.0.1:5050", Hostname: "m1.example", Port: 5050})
	a := st.Agents[0]
	eq(t, "Attributes (numbers as their text)", a.Attributes, map[string]string{"rack": "3", "weight": "1.50", "zone": "a"})
	eq(t, "Resources", [4]float64{a.Resources.CPUs, a.Resources.Mem, a.Resources.Disk, a.Resources.GPUs}, [4]float64{4, 1024.5, 10, 1})
	eq(t, "Port", a.Port, 5051)
	f := st.Frameworks[0]
	eq(t, "Role from roles", f.Role, "dev")
	task := f.Tasks[0]
	eq(t, "HasHealthCheck", task.HasHealthCheck, true)
	eq(t, "task labels object", task.Labels[0].Value, "v")
	eq(t, "bare discovery ports", task.Discovery.Ports[0].Labels[0].Value, "host")
	s := task.Statuses[0]
	eq(t, "Healthy", s.Healthy, ptr(true))
	eq(t, "Message/Source/Reason", [3]string{s.Message, s.Source, s.Reason}, [3]string{"ok", "SOURCE_EXECUTOR", "REASON_X"})
	eq(t, "ContainerID", s.ContainerID, "c1")
	eq(t, "legacy ip_address with protocol", s.NetworkInfos[0].IPAddresses, []cluster.IPAddress{{IP: "10.1.1.1", Protocol: "IPv6"}})
	eq(t, "ip_addresses wins over ip_address", s.NetworkInfos[1].IPAddresses, []cluster.IPAddress{{IP: "10.3.3.3"}})
	eq(t, "legacy ip_address when ip_addresses empty", s.NetworkInfos[2].IPAddresses, []cluster.IPAddress{{IP: "10.4.4.4"}})
	eq(t, "groups", s.NetworkInfos[3].Groups, []string{"g1", "g2"})
	eq(t, "status network labels object", s.NetworkInfos[3].Labels[0].Key, "a")
	eq(t, "status port mappings", s.NetworkInfos[3].PortMappings[0].ContainerPort, 2)
	eq(t, "healthy null", task.Statuses[1].Healthy, (*bool)(nil))

	// Explicit role wins over roles; null everywhere means absent.
	st, _, err = Decode([]byte(`{"leader":null,"frameworks":[{"id":"f","roles":["a"],"role":"b","tasks":null}],"slaves":[{"id":"S","attributes":null,"resources":null}]}`))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "Role", st.Frameworks[0].Role, "b")
	eq(t, "Leader", st.Leader, "")
}
