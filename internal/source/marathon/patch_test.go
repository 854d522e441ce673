package marathon

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/cluster"
	wire "github.com/signpost-dns/signpost/internal/wire/marathon"
)

// patchBase is a snapshot with one app per kind of case: /web (one health
// check, two tasks), /multi (two health checks), /tcp (no check).
func patchBase() *cluster.MarathonState {
	one := []cluster.HealthCheck{{Protocol: "HTTP", Path: "/"}}
	return &cluster.MarathonState{Apps: []cluster.App{
		{ID: "/web", Version: "v2", HealthChecks: one, Tasks: []cluster.AppTask{
			{ID: "web.1", AppID: "/web", Host: "10.0.0.1", State: cluster.TaskRunning, Ports: []int{31001}, Version: "v2",
				HealthCheckResults: []cluster.HealthCheckResult{{Alive: true, TaskID: "web.1", InstanceID: "web.marathon-1"}}},
			{ID: "web.instance-2._app.1", AppID: "/web", Host: "10.0.0.2", State: cluster.TaskRunning, Ports: []int{31002}, Version: "v2"},
		}},
		{ID: "/multi", Version: "v1", HealthChecks: append(one, one...), Tasks: []cluster.AppTask{
			{ID: "multi.1", AppID: "/multi", Host: "10.0.0.3", State: cluster.TaskRunning, Version: "v1"},
		}},
		{ID: "/tcp", Version: "v1"},
	}}
}

func status(app, task string, st cluster.TaskState, version string) wire.Event {
	return wire.Event{Type: wire.EventStatusUpdate, StatusUpdate: &wire.StatusUpdate{
		AppID: app, TaskID: task, TaskStatus: st, Version: version,
		Host: "10.0.0.9", SlaveID: "agent9", Ports: []int{31009},
		IPAddresses: []cluster.IPAddress{{IP: "10.0.0.9", Protocol: "IPv4"}},
	}}
}

func health(app, task, instance string, alive bool) wire.Event {
	return wire.Event{Type: wire.EventHealthStatusChanged, HealthStatusChanged: &wire.HealthStatusChanged{
		AppID: app, TaskID: task, InstanceID: instance, Alive: alive, Version: "v2",
	}}
}

// TestPatch: each event either changes the snapshot exactly as the next
// /v2/apps would, or is refused (left to the refetch) — and the snapshot it
// was given never changes.
func TestPatch(t *testing.T) {
	type check func(t *testing.T, st *cluster.MarathonState)
	tasksOf := func(st *cluster.MarathonState, app string) []cluster.AppTask {
		for _, a := range st.Apps {
			if a.ID == app {
				return a.Tasks
			}
		}
		t.Fatalf("no app %s", app)
		return nil
	}
	ids := func(app string, want ...string) check {
		return func(t *testing.T, st *cluster.MarathonState) {
			var got []string
			for _, k := range tasksOf(st, app) {
				got = append(got, k.ID)
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%s tasks %v, want %v", app, got, want)
			}
		}
	}
	taskIs := func(app, id string, ok func(cluster.AppTask) bool, what string) check {
		return func(t *testing.T, st *cluster.MarathonState) {
			for _, k := range tasksOf(st, app) {
				if k.ID == id {
					if !ok(k) {
						t.Errorf("task %s: want %s, got %+v", id, what, k)
					}
					return
				}
			}
			t.Errorf("no task %s", id)
		}
	}
	alive := func(want bool) func(cluster.AppTask) bool {
		return func(k cluster.AppTask) bool {
			return len(k.HealthCheckResults) == 1 && k.HealthCheckResults[0].Alive == want
		}
	}
	for _, tc := range []struct {
		name    string
		ev      wire.Event
		applied bool
		changed bool
		check   check
	}{
		{"new task of the current version is added", status("/web", "web.3", cluster.TaskRunning, "v2"), true, true,
			taskIs("/web", "web.3", func(k cluster.AppTask) bool {
				return k.State == cluster.TaskRunning && k.Host == "10.0.0.9" && k.Ports[0] == 31009 && k.IPAddresses[0].IP == "10.0.0.9"
			}, "running on 10.0.0.9:31009")},
		{"new task of another version is left to the refetch", status("/web", "web.3", cluster.TaskRunning, "v3"), false, false, ids("/web", "web.1", "web.instance-2._app.1")},
		{"new task without a version is left to the refetch", status("/web", "web.3", cluster.TaskRunning, ""), false, false, nil},
		{"task of an unknown app is left to the refetch", status("/new", "new.1", cluster.TaskRunning, "v1"), false, false, nil},
		{"killed task is removed", status("/web", "web.1", cluster.TaskKilled, "v2"), true, true, ids("/web", "web.instance-2._app.1")},
		{"finished task of an old version is removed too", status("/web", "web.1", cluster.TaskFinished, "v1"), true, true, ids("/web", "web.instance-2._app.1")},
		{"kill of an unknown task changes nothing", status("/web", "web.7", cluster.TaskKilled, "v2"), true, false, nil},
		{"lost task stays listed, as in /v2/apps", status("/web", "web.1", cluster.TaskLost, "v2"), true, true,
			taskIs("/web", "web.1", func(k cluster.AppTask) bool { return k.State == cluster.TaskLost }, "TASK_LOST")},
		{"killing state is recorded", status("/web", "web.1", cluster.TaskKilling, "v1"), true, true,
			taskIs("/web", "web.1", func(k cluster.AppTask) bool { return k.State == cluster.TaskKilling }, "TASK_KILLING")},
		{"repeated running update changes nothing",
			wire.Event{Type: wire.EventStatusUpdate, StatusUpdate: &wire.StatusUpdate{AppID: "/web", TaskID: "web.1", TaskStatus: cluster.TaskRunning, Version: "v2", Host: "10.0.0.1", Ports: []int{31001}}},
			true, false, nil},
		{"health by task id (Marathon ≤1.3)", health("/web", "web.1", "", false), true, true, taskIs("/web", "web.1", alive(false), "dead")},
		{"health by instance id from the results", health("/web", "", "web.marathon-1", false), true, true, taskIs("/web", "web.1", alive(false), "dead")},
		{"health by 1.5 instance id", health("/web", "", "web.instance-2", true), true, true, taskIs("/web", "web.instance-2._app.1", alive(true), "alive")},
		{"health of a task not listed is left to the refetch", health("/web", "", "web.instance-9", true), false, false, nil},
		{"health of an app with two checks is left to the refetch", health("/multi", "multi.1", "", false), false, false, nil},
		{"health of an unknown app is left to the refetch", health("/gone", "gone.1", "", false), false, false, nil},
		{"deleted app is removed", wire.Event{Type: wire.EventAppTerminated, AppTerminated: &wire.AppTerminated{AppID: "/multi"}}, true, true,
			func(t *testing.T, st *cluster.MarathonState) {
				if len(st.Apps) != 2 || st.Apps[1].ID != "/tcp" {
					t.Errorf("apps %+v, want /web and /tcp", st.Apps)
				}
			}},
		{"other events are not applied", wire.Event{Type: wire.EventDeploymentSuccess, Deployment: &wire.Deployment{ID: "d1"}}, false, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := patchBase()
			want := patchBase()
			p := newPatcher(base)
			if got := p.apply(tc.ev); got != tc.applied {
				t.Errorf("apply = %v, want %v", got, tc.applied)
			}
			if changed := p.result() != base; changed != tc.changed {
				t.Errorf("changed = %v, want %v", changed, tc.changed)
			}
			if !reflect.DeepEqual(base, want) {
				t.Errorf("the old snapshot was modified")
			}
			if tc.check != nil {
				tc.check(t, p.result())
			}
		})
	}
}

// TestPatchSequence: replaying a burst in order gives the final state, and
// untouched apps stay shared with the old snapshot.
func TestPatchSequence(t *testing.T) {
	base := patchBase()
	p := newPatcher(base)
	for _, e := range []wire.Event{
		status("/web", "web.3", cluster.TaskStaging, "v2"),
		status("/web", "web.3", cluster.TaskRunning, "v2"),
		status("/web", "web.1", cluster.TaskKilling, "v2"),
		status("/web", "web.1", cluster.TaskKilled, "v2"),
		status("/web", "web.3", cluster.TaskRunning, "v2"), // replayed twice: idempotent
	} {
		p.apply(e)
	}
	st := p.result()
	var got []string
	for _, k := range st.Apps[0].Tasks {
		got = append(got, k.ID+"="+string(k.State))
	}
	if want := "web.instance-2._app.1=TASK_RUNNING,web.3=TASK_RUNNING"; strings.Join(got, ",") != want {
		t.Errorf("tasks %v, want %s", got, want)
	}
	if &st.Apps[1].Tasks[0] != &base.Apps[1].Tasks[0] {
		t.Errorf("an untouched app's tasks were copied")
	}
}

// TestEventsApplied: against the simulator, a scale-up reaches the consumer
// as an applied snapshot well before the coalesced refetch could (the
// coalescing delay is an hour here), and the refetch-free snapshot is what
// /v2/apps then says.
func TestEventsApplied(t *testing.T) {
	leakCheck(t)
	s := startSim(t, 100*time.Millisecond)
	postApp(t, s, `{"id":"/web","instances":1,"portDefinitions":[{"port":0}]}`)
	cfg := testConfig(t, s.MarathonURL)
	cfg.Coalesce = time.Hour
	cfg.Resync = time.Hour
	r := start(t, cfg)
	r.next(t, "the initial state", func(u Update) bool { return runningTasks(u, "/web") == 1 })
	r.status(t, "connected", func(st Status) bool { return st.Connected })

	do(t, http.MethodPut, s.MarathonURL+"/v2/apps/web", `{"instances":3}`, http.StatusOK)
	u := r.next(t, "/web scaled to 3", func(u Update) bool { return runningTasks(u, "/web") == 3 })
	if !strings.HasPrefix(u.Reason, ReasonAppliedPrefix) {
		t.Errorf("Reason %q, want %q…", u.Reason, ReasonAppliedPrefix)
	}
	if st := r.f.Status(); st.AppliedEvents == 0 || st.Fetches != 1 {
		t.Errorf("status %+v: want applied events and no fetch after the initial one", st)
	}
	fetched, err := New(testConfig(t, s.MarathonURL))
	if err != nil {
		t.Fatal(err)
	}
	truth, err := fetched.fetch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := taskSet(u.State, "/web"), taskSet(truth.State, "/web"); got != want {
		t.Errorf("applied tasks\n %s\nwant (from /v2/apps)\n %s", got, want)
	}
	if !sameRouting(u.State, truth.State) {
		t.Errorf("the applied snapshot differs for routing from /v2/apps:\n%+v\n%+v", u.State.Apps, truth.State.Apps)
	}

	// A kill is applied the same way.
	id := strings.Split(taskSet(u.State, "/web"), " ")[0]
	do(t, http.MethodPost, s.MarathonURL+"/v2/tasks/delete", `{"ids":["`+strings.Split(id, "@")[0]+`"]}`, http.StatusOK)
	r.next(t, "the killed task gone", func(u Update) bool {
		return !strings.Contains(taskSet(u.State, "/web"), strings.Split(id, "@")[0]+"@")
	})
}

// taskSet renders an app's running tasks as "id@host:ports" words, sorted
// as Marathon lists them.
func taskSet(st *cluster.MarathonState, app string) string {
	var words []string
	for _, a := range st.Apps {
		if a.ID != app {
			continue
		}
		for _, k := range a.Tasks {
			if k.State == cluster.TaskRunning {
				words = append(words, fmt.Sprintf("%s@%s:%v", k.ID, k.Host, k.Ports))
			}
		}
	}
	slices.Sort(words)
	return strings.Join(words, " ")
}

// TestPatchDefinitions: api_post_event replaces a definition and keeps the
// tasks, adds a new app, and is refused while a service port is unassigned;
// app_terminated_event removes the app.
func TestPatchDefinitions(t *testing.T) {
	post := func(a cluster.App) wire.Event {
		return wire.Event{Type: wire.EventAPIPost, APIPost: &wire.APIPost{App: a}}
	}
	base := patchBase()
	p := newPatcher(base)
	if !p.apply(post(cluster.App{ID: "/web", Version: "v3", Labels: map[string]string{"HAPROXY_GROUP": "external"},
		PortDefinitions: []cluster.PortDefinition{{Port: 10001}}})) {
		t.Fatal("new definition of /web refused")
	}
	if !p.apply(post(cluster.App{ID: "/fresh", Version: "v1", PortDefinitions: []cluster.PortDefinition{{Port: 10002}}})) {
		t.Fatal("new app refused")
	}
	if p.apply(post(cluster.App{ID: "/auto", Version: "v1", PortDefinitions: []cluster.PortDefinition{{Port: 0}}})) {
		t.Error("app with a service port still to assign was applied")
	}
	if !p.apply(status("/web", "web.3", cluster.TaskRunning, "v3")) {
		t.Error("task of the new version refused after its definition")
	}
	if !p.apply(wire.Event{Type: wire.EventAppTerminated, AppTerminated: &wire.AppTerminated{AppID: "/multi"}}) {
		t.Error("app_terminated_event refused")
	}
	if !p.apply(status("/fresh", "fresh.1", cluster.TaskRunning, "v1")) {
		t.Error("task of the new app refused after /multi's removal moved it")
	}
	st := p.result()
	var got []string
	for _, a := range st.Apps {
		got = append(got, fmt.Sprintf("%s@%s:%d", a.ID, a.Version, len(a.Tasks)))
	}
	if want := "/web@v3:3 /tcp@v1:0 /fresh@v1:1"; strings.Join(got, " ") != want {
		t.Errorf("apps %v, want %s", got, want)
	}
	if st.Apps[0].Labels["HAPROXY_GROUP"] != "external" {
		t.Errorf("/web labels %v, want the new definition's", st.Apps[0].Labels)
	}
	if !reflect.DeepEqual(base, patchBase()) {
		t.Error("the old snapshot was modified")
	}
}

// TestSameRouting: what a confirming fetch may differ in without a rebuild
// (task order, timestamps, result details), and what it may not.
func TestSameRouting(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(st *cluster.MarathonState)
		same   bool
	}{
		{"identical", func(st *cluster.MarathonState) {}, true},
		{"tasks in another order, timestamps filled in", func(st *cluster.MarathonState) {
			ts := st.Apps[0].Tasks
			ts[0], ts[1] = ts[1], ts[0]
			ts[0].StartedAt = "2026-11-25T00:00:00Z"
			ts[1].HealthCheckResults[0].ConsecutiveFailures = 0
		}, true},
		{"another app version", func(st *cluster.MarathonState) { st.Apps[2].Version = "v9" }, false},
		{"app without a version on one side", func(st *cluster.MarathonState) { st.Apps[2].Version = "" }, false},
		{"app missing", func(st *cluster.MarathonState) { st.Apps = st.Apps[:2] }, false},
		{"task missing", func(st *cluster.MarathonState) { st.Apps[0].Tasks = st.Apps[0].Tasks[:1] }, false},
		{"task state", func(st *cluster.MarathonState) { st.Apps[0].Tasks[0].State = cluster.TaskKilling }, false},
		{"task port", func(st *cluster.MarathonState) { st.Apps[0].Tasks[0].Ports = []int{1} }, false},
		{"health verdict", func(st *cluster.MarathonState) { st.Apps[0].Tasks[0].HealthCheckResults[0].Alive = false }, false},
		{"first health result", func(st *cluster.MarathonState) {
			st.Apps[0].Tasks[1].HealthCheckResults = []cluster.HealthCheckResult{{Alive: false}}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := patchBase(), patchBase()
			tc.change(b)
			if got := sameRouting(a, b); got != tc.same {
				t.Errorf("sameRouting = %v, want %v", got, tc.same)
			}
		})
	}
	unversioned := func(labels map[string]string) *cluster.MarathonState {
		return &cluster.MarathonState{Apps: []cluster.App{{ID: "/u", Labels: labels}}}
	}
	for _, tc := range []struct {
		name string
		a, b *cluster.MarathonState
		same bool
	}{
		{"unversioned, same definition", unversioned(map[string]string{"A": "1"}), unversioned(map[string]string{"A": "1"}), true},
		{"unversioned, another label", unversioned(map[string]string{"A": "1"}), unversioned(map[string]string{"A": "2"}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sameRouting(tc.a, tc.b); got != tc.same {
				t.Errorf("sameRouting = %v, want %v", got, tc.same)
			}
		})
	}
}

// TestPatchVisible: a TASK_KILLING task leaving (its kill grace over) is
// kept in the snapshot but marked as changing no route; anything else is
// visible.
func TestPatchVisible(t *testing.T) {
	for _, tc := range []struct {
		name    string
		events  []wire.Event
		visible bool
	}{
		{"killing task removed", []wire.Event{
			status("/web", "web.1", cluster.TaskKilling, "v2"),
		}, true},
		{"removal after killing, alone", nil, false},
		{"removal of a running task", []wire.Event{status("/web", "web.instance-2._app.1", cluster.TaskKilled, "v2")}, true},
		{"removal after killing with another change", []wire.Event{status("/web", "web.3", cluster.TaskRunning, "v2")}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := patchBase()
			if tc.name != "killing task removed" {
				// web.1 is already TASK_KILLING in the snapshot.
				base.Apps[0].Tasks[0].State = cluster.TaskKilling
			}
			p := newPatcher(base)
			evs := tc.events
			if tc.name != "killing task removed" && tc.name != "removal of a running task" {
				evs = append([]wire.Event{status("/web", "web.1", cluster.TaskKilled, "v2")}, evs...)
			}
			for _, e := range evs {
				p.apply(e)
			}
			if p.result() == base {
				t.Fatal("nothing changed")
			}
			if got := p.visible(); got != tc.visible {
				t.Errorf("visible = %v, want %v", got, tc.visible)
			}
		})
	}
}

// TestConfirmDebounced: the confirming fetch moves later while events keep
// coming, never past maxConfirmDelay after the first, and never delays a
// fetch something else asked for.
func TestConfirmDebounced(t *testing.T) {
	f, err := New(Config{URLs: []string{"http://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	f.confirm("event: a")
	if p := f.pending; !p.set || !p.confirmOnly || p.due.Before(before.Add(confirmDelay)) || p.due.After(time.Now().Add(confirmDelay)) {
		t.Fatalf("first confirm: %+v", p)
	}
	// Events kept coming for almost the whole window: the next one may move
	// the fetch only to the cap.
	f.pending.first = time.Now().Add(-maxConfirmDelay + time.Second)
	f.confirm("event: b")
	if want := f.pending.first.Add(maxConfirmDelay); !f.pending.due.Equal(want) {
		t.Errorf("confirm near the cap: due %v, want the cap %v", f.pending.due, want)
	}
	// A fetch asked for by something else keeps the earlier time, and
	// confirm no longer moves it.
	f.request("event: c", 0)
	due := f.pending.due
	f.confirm("event: d")
	if f.pending.confirmOnly || !f.pending.due.Equal(due) || time.Until(due) > 0 {
		t.Errorf("after a plain request: %+v", f.pending)
	}
}
