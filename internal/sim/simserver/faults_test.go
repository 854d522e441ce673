package simserver

import (
	"context"
	"net/http"
	"testing"
)

// TestFaultInjection makes every second /v2/apps request fail and checks
// that the rule is applied by count, only to its target, and can be cleared.
func TestFaultInjection(t *testing.T) {
	s := startSim(t, context.Background(), Config{})
	do(t, "POST", s.ControlURL+"/sim/v1/faults", `{"target":"marathon","path":"/v2/apps","status":503,"every":2}`, http.StatusCreated)
	do(t, "GET", s.MarathonURL+"/v2/apps", "", 200)
	do(t, "GET", s.MarathonURL+"/v2/apps", "", 503)
	do(t, "GET", s.MarathonURL+"/v2/apps", "", 200)
	do(t, "GET", s.MarathonURL+"/v2/info", "", 200)
	do(t, "GET", s.MasterURLs[0]+"/master/state", "", 200)
	do(t, "DELETE", s.ControlURL+"/sim/v1/faults", "", 200)
	do(t, "GET", s.MarathonURL+"/v2/apps", "", 200)
	do(t, "GET", s.MarathonURL+"/v2/apps", "", 200)

	do(t, "POST", s.ControlURL+"/sim/v1/faults", `{"target":"mesos","drop":true}`, http.StatusCreated)
	if _, err := http.Get(s.MasterURLs[0] + "/master/state"); err == nil {
		t.Error("a dropped connection answered")
	}
	for _, bad := range []string{`{"target":"zk"}`, `{"target":"mesos","status":42}`, `{"target":"mesos","latencyMs":-1}`, `{"target":"mesos","path":"v2"}`, `{"target":"mesos","bogus":1}`} {
		do(t, "POST", s.ControlURL+"/sim/v1/faults", bad, http.StatusBadRequest)
	}
}

// TestMarathonAPIWrites covers the write paths an operator uses.
func TestMarathonAPIWrites(t *testing.T) {
	s := startSim(t, context.Background(), Config{})
	postApp(t, s, `{"id":"/a/b","instances":2,"portDefinitions":[{"port":0,"name":"http"}],"labels":{"HAPROXY_GROUP":"external"}}`)
	do(t, "POST", s.MarathonURL+"/v2/apps", `{"id":"/a/b"}`, http.StatusConflict)
	do(t, "POST", s.MarathonURL+"/v2/apps", `{"id":"/Bad_Id"}`, 422)
	do(t, "POST", s.MarathonURL+"/v2/apps", `{"id":"/x","labels":[]}`, 422)
	if n := len(taskIDs(t, s, "/a/b")); n != 2 {
		t.Fatalf("%d tasks, want 2", n)
	}
	do(t, "PUT", s.MarathonURL+"/v2/apps/a/b", `{"instances":4}`, 200)
	if n := len(taskIDs(t, s, "/a/b")); n != 4 {
		t.Fatalf("after scale: %d tasks, want 4", n)
	}
	before := taskIDs(t, s, "/a/b")
	do(t, "PUT", s.MarathonURL+"/v2/apps/a/b", `{"labels":{"HAPROXY_GROUP":"internal"}}`, 200)
	after := taskIDs(t, s, "/a/b")
	if len(after) != 4 {
		t.Fatalf("after deploy: %d tasks", len(after))
	}
	for _, a := range after {
		for _, b := range before {
			if a == b {
				t.Errorf("task %s survived a config change; a deploy replaces tasks", a)
			}
		}
	}
	do(t, "DELETE", s.MarathonURL+"/v2/apps/a/b/tasks/"+after[0]+"?scale=true", "", 200)
	if n := len(taskIDs(t, s, "/a/b")); n != 3 {
		t.Fatalf("after kill with scale: %d tasks, want 3", n)
	}
	do(t, "POST", s.MarathonURL+"/v2/apps/a/b/restart", "", 200)
	do(t, "GET", s.MarathonURL+"/v2/apps/a/b", "", 200)
	do(t, "GET", s.MarathonURL+"/v2/apps/a/b/tasks", "", 200)
	do(t, "DELETE", s.MarathonURL+"/v2/apps/a/b", "", 200)
	do(t, "GET", s.MarathonURL+"/v2/apps/a/b", "", 404)
	if n := len(taskIDs(t, s, "/a/b")); n != 0 {
		t.Fatalf("after delete: %d tasks", n)
	}
	st := s.Cluster.MesosState()
	for _, f := range st.Frameworks {
		if len(f.Tasks) != 0 {
			t.Errorf("Mesos still lists %d tasks of %s", len(f.Tasks), f.Name)
		}
	}
}
