package marathon

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeAppsMalformed(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		err     string   // top-level error, exact ("" = none); a trailing "*" matches a prefix
		apps    []string // ids of the apps that still decode
		skipped []string // exact messages of the skipped elements
	}{
		{name: "apps is an object", in: `{"apps":{}}`, err: `marathon apps: field "apps": expected array, got object`},
		{name: "apps is null", in: `{"apps":null}`, err: `marathon apps: field "apps": expected array, got null`},
		{name: "no apps", in: `{"app":{"id":"/a"}}`, err: `marathon apps: field "apps": expected array, got nothing`},
		{name: "document is an array", in: `[{"id":"/a"}]`, err: `marathon apps: expected object, got array`},
		{name: "document is a string", in: `"apps"`, err: `marathon apps: expected object, got string`},
		{name: "empty input", in: ``, err: `marathon apps: invalid JSON: *`},
		{name: "truncated", in: `{"apps":[{"id":"/a"}`, err: `marathon apps: invalid JSON: *`},
		{name: "trailing garbage", in: `{"apps":[]} x`, err: `marathon apps: invalid JSON: *`},
		{name: "empty list", in: `{"apps":[]}`},
		{
			name: "one bad app among good ones",
			in:   `{"apps":[{"id":"/a"},{"id":"/b","labels":[]},{"id":"/web","labels":{"HAPROXY_0_PORT":10000}},{"id":"/c"}]}`,
			apps: []string{"/a", "/c"},
			skipped: []string{
				`apps[1] (id "/b"): field "labels": expected object, got array`,
				`apps[2] (id "/web"): field "labels.HAPROXY_0_PORT": expected string, got number`,
			},
		},
		{name: "app is a number", in: `{"apps":[1,{"id":"/a"}]}`, apps: []string{"/a"}, skipped: []string{`apps[0]: expected object, got number`}},
		{name: "app without id", in: `{"apps":[{"instances":1}]}`, skipped: []string{`apps[0]: field "id": expected non-empty string, got nothing`}},
		{name: "app with empty id", in: `{"apps":[{"id":""}]}`, skipped: []string{`apps[0]: field "id": expected non-empty string, got empty string`}},
		{name: "id not a string", in: `{"apps":[{"id":7}]}`, skipped: []string{`apps[0]: field "id": expected string, got number`}},
		{name: "instances a string", in: `{"apps":[{"id":"/a","instances":"2"}]}`, skipped: []string{`apps[0] (id "/a"): field "instances": expected integer, got string`}},
		{name: "fractional port", in: `{"apps":[{"id":"/a","portDefinitions":[{"port":80.5}]}]}`, skipped: []string{`apps[0] (id "/a"): field "portDefinitions[0].port": expected integer, got number 80.5`}},
		{name: "huge port", in: `{"apps":[{"id":"/a","ports":[1e300]}]}`, skipped: []string{`apps[0] (id "/a"): field "ports[0]": expected integer, got number 1e300`}},
		{name: "port definition not an object", in: `{"apps":[{"id":"/a","portDefinitions":[80]}]}`, skipped: []string{`apps[0] (id "/a"): field "portDefinitions[0]": expected object, got number`}},
		{name: "port definition label", in: `{"apps":[{"id":"/a","portDefinitions":[{"port":80,"labels":{"VIP":true}}]}]}`, skipped: []string{`apps[0] (id "/a"): field "portDefinitions[0].labels.VIP": expected string, got boolean`}},
		{name: "docker host port a string", in: `{"apps":[{"id":"/a","container":{"docker":{"portMappings":[{"containerPort":80},{"hostPort":"0"}]}}}]}`, skipped: []string{`apps[0] (id "/a"): field "container.docker.portMappings[1].hostPort": expected integer, got string`}},
		{name: "container port mappings an object", in: `{"apps":[{"id":"/a","container":{"portMappings":{}}}]}`, skipped: []string{`apps[0] (id "/a"): field "container.portMappings": expected array, got object`}},
		{name: "network names not strings", in: `{"apps":[{"id":"/a","container":{"portMappings":[{"networkNames":[1]}]}}]}`, skipped: []string{`apps[0] (id "/a"): field "container.portMappings[0].networkNames[0]": expected string, got number`}},
		{name: "container a string", in: `{"apps":[{"id":"/a","container":"DOCKER"}]}`, skipped: []string{`apps[0] (id "/a"): field "container": expected object, got string`}},
		{name: "network not an object", in: `{"apps":[{"id":"/a","networks":["host"]}]}`, skipped: []string{`apps[0] (id "/a"): field "networks[0]": expected object, got string`}},
		{name: "ipAddress discovery port", in: `{"apps":[{"id":"/a","ipAddress":{"discovery":{"ports":[{"number":"80"}]}}}]}`, skipped: []string{`apps[0] (id "/a"): field "ipAddress.discovery.ports[0].number": expected integer, got string`}},
		{name: "ipAddress groups", in: `{"apps":[{"id":"/a","ipAddress":{"groups":"g"}}]}`, skipped: []string{`apps[0] (id "/a"): field "ipAddress.groups": expected array, got string`}},
		{name: "health check portIndex", in: `{"apps":[{"id":"/a","healthChecks":[{"portIndex":"0"}]}]}`, skipped: []string{`apps[0] (id "/a"): field "healthChecks[0].portIndex": expected integer, got string`}},
		{name: "health check command", in: `{"apps":[{"id":"/a","healthChecks":[{"command":{"value":1}}]}]}`, skipped: []string{`apps[0] (id "/a"): field "healthChecks[0].command.value": expected string, got number`}},
		{name: "requirePorts a string", in: `{"apps":[{"id":"/a","requirePorts":"true"}]}`, skipped: []string{`apps[0] (id "/a"): field "requirePorts": expected boolean, got string`}},
		{name: "tasks an object", in: `{"apps":[{"id":"/a","tasks":{}}]}`, skipped: []string{`apps[0] (id "/a"): field "tasks": expected array, got object`}},
		{
			name:    "one bad task is skipped, its app kept",
			in:      `{"apps":[{"id":"/a","tasks":[{"id":"a.1","ports":"31000"},{"id":"a.2"},{"host":"h"},{"id":"a.4","healthCheckResults":[{"alive":"yes"}]},{"id":"a.5","ipAddresses":[{"ipAddress":1}]}]}]}`,
			apps:    []string{"/a"},
			skipped: []string{`apps[0].tasks[0] (id "a.1"): field "ports": expected array, got string`, `apps[0].tasks[2]: field "id": expected non-empty string, got nothing`, `apps[0].tasks[3] (id "a.4"): field "healthCheckResults[0].alive": expected boolean, got string`, `apps[0].tasks[4] (id "a.5"): field "ipAddresses[0].ipAddress": expected string, got number`},
		},
		{name: "task state a number", in: `{"apps":[{"id":"/a","tasks":[{"id":"a.1","state":3}]}]}`, apps: []string{"/a"}, skipped: []string{`apps[0].tasks[0] (id "a.1"): field "state": expected string, got number`}},
		{name: "unknown fields of any shape are ignored", in: `{"x":[1,{"y":null}],"apps":[{"id":"/a","fetch":{"weird":[true]},"unreachableStrategy":"disabled","tasks":[{"id":"a.1","localVolumes":7}]}]}`, apps: []string{"/a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, skipped, err := DecodeApps([]byte(tt.in))
			if tt.err != "" {
				if err == nil {
					t.Fatalf("no error, want %q", tt.err)
				}
				if want, ok := strings.CutSuffix(tt.err, "*"); ok {
					if !strings.HasPrefix(err.Error(), want) {
						t.Fatalf("error %q, want prefix %q", err, want)
					}
				} else if err.Error() != tt.err {
					t.Fatalf("error\n %q\nwant\n %q", err, tt.err)
				}
				if st != nil || skipped != nil {
					t.Errorf("state or skipped returned with an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, a := range st.Apps {
				ids = append(ids, a.ID)
			}
			eq(t, "apps", ids, tt.apps)
			var msgs []string
			for _, s := range skipped {
				msgs = append(msgs, s.Error())
				var ee *ElementError
				var fe *FieldError
				if !errors.As(s, &ee) || !errors.As(s, &fe) {
					t.Errorf("skipped %v is not an *ElementError wrapping a *FieldError", s)
				}
			}
			eq(t, "skipped", msgs, tt.skipped)
		})
	}
}

func TestDecodeAppMalformed(t *testing.T) {
	tests := []struct{ name, in, err string }{
		{"wrapper not an object", `{"app":[]}`, `marathon app: field "app": expected object, got array`},
		{"no id", `{"cmd":"x"}`, `marathon app: field "id": expected non-empty string, got nothing`},
		{"bad task fails the app", `{"app":{"id":"/a","tasks":[{"id":"t","ports":[-1,"x"]}]}}`, `marathon app: tasks[0] (id "t"): field "ports[1]": expected integer, got string`},
		{"array", `[]`, `marathon app: expected object, got array`},
		{"invalid", `{`, `marathon app: invalid JSON: unexpected end of JSON input`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeApp([]byte(tt.in))
			if err == nil || err.Error() != tt.err {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
}

func TestDecodeTasksMalformed(t *testing.T) {
	_, _, err := DecodeTasks([]byte(`{"tasks":"none"}`))
	eq(t, "error", err.Error(), `marathon tasks: field "tasks": expected array, got string`)
	_, _, err = DecodeTasks([]byte(`{"apps":[]}`))
	eq(t, "error", err.Error(), `marathon tasks: field "tasks": expected array, got nothing`)
	tasks, skipped, err := DecodeTasks([]byte(`{"tasks":[{"id":"a"},{"id":"b","servicePorts":[true]},[]]}`))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "tasks", len(tasks), 1)
	var msgs []string
	for _, s := range skipped {
		msgs = append(msgs, s.Error())
	}
	eq(t, "skipped", msgs, []string{`tasks[1] (id "b"): field "servicePorts[0]": expected integer, got boolean`, `tasks[2]: expected object, got array`})
}

func TestDecodeInfoMalformed(t *testing.T) {
	for in, want := range map[string]string{
		`{"elected":"yes"}`:                          `marathon info: field "elected": expected boolean, got string`,
		`{"marathon_config":{"local_port_min":"1"}}`: `marathon info: field "marathon_config.local_port_min": expected integer, got string`,
		`{"http_config":[]}`:                         `marathon info: field "http_config": expected object, got array`,
		`[]`:                                         `marathon info: expected object, got array`,
	} {
		if _, err := DecodeInfo([]byte(in)); err == nil || err.Error() != want {
			t.Errorf("DecodeInfo(%s) = %v, want %q", in, err, want)
		}
	}
}
