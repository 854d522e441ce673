package sim

import (
	"slices"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/testutil/leakcheck"
	"github.com/signpost-dns/signpost/internal/wire/operator"
)

// A grace period no test waits for: while it runs, a killed task must be
// TASK_KILLING however slow the machine is.
const longGrace = time.Hour

// stateOf maps each task of the app (as /v2/apps lists it) to its state.
func stateOf(t *testing.T, c *Cluster, appID string) map[string]cluster.TaskState {
	t.Helper()
	a, ok := c.App(appID)
	if !ok {
		return nil
	}
	out := map[string]cluster.TaskState{}
	for _, at := range a.Tasks {
		out[at.ID] = at.State
	}
	return out
}

// mesosStates maps every Mesos task of the leading master's view to its state.
func mesosStates(c *Cluster) map[string]cluster.TaskState {
	out := map[string]cluster.TaskState{}
	for _, f := range c.MesosState().Frameworks {
		for _, t := range f.Tasks {
			out[t.ID] = t.State
		}
	}
	return out
}

func countState(m map[string]cluster.TaskState, s cluster.TaskState) int {
	n := 0
	for _, v := range m {
		if v == s {
			n++
		}
	}
	return n
}

// graceCluster is a cluster with three agents and /web, 3 instances, whose
// kills take grace.
func graceCluster(t *testing.T, grace time.Duration) *Cluster {
	t.Helper()
	c := New(Config{Now: fakeClock(), Seed: 3, KillGrace: grace})
	t.Cleanup(c.Close)
	c.AddAgents(3)
	if _, err := c.AddApp(cluster.App{ID: "/web", Instances: 3, PortDefinitions: []cluster.PortDefinition{{}}}); err != nil {
		t.Fatal(err)
	}
	return c
}

// graceKills are the ways a task gets killed with grace, each with the ids of
// the tasks it kills (given the app's tasks before, oldest first) and how
// many running tasks the app should have once they are gone.
var graceKills = []struct {
	name    string
	kill    func(c *Cluster, ids []string) error
	killed  func(ids []string) []string
	running int
	deleted bool
}{
	{
		name:    "KillTask replaces",
		kill:    func(c *Cluster, ids []string) error { return c.KillTask(ids[1], false) },
		killed:  func(ids []string) []string { return ids[1:2] },
		running: 3,
	},
	{
		name:    "KillTask scales",
		kill:    func(c *Cluster, ids []string) error { return c.KillTask(ids[0], true) },
		killed:  func(ids []string) []string { return ids[:1] },
		running: 2,
	},
	{
		name:    "scale down",
		kill:    func(c *Cluster, ids []string) error { return c.ScaleApp("/web", 1) },
		killed:  func(ids []string) []string { return ids[1:] }, // youngest first
		running: 1,
	},
	{
		name:    "restart",
		kill:    func(c *Cluster, ids []string) error { return c.RestartApp("/web") },
		killed:  func(ids []string) []string { return ids },
		running: 3,
	},
	{
		name: "update",
		kill: func(c *Cluster, ids []string) error {
			_, err := c.UpdateApp(cluster.App{ID: "/web", Instances: 3, PortDefinitions: []cluster.PortDefinition{{}}, Labels: map[string]string{"v": "2"}})
			return err
		},
		killed:  func(ids []string) []string { return ids },
		running: 3,
	},
	{
		name:    "delete",
		kill:    func(c *Cluster, ids []string) error { return c.DeleteApp("/web") },
		killed:  func(ids []string) []string { return ids },
		deleted: true,
	},
}

func appTaskIDs(t *testing.T, c *Cluster) []string {
	t.Helper()
	a, _ := c.App("/web")
	var ids []string
	for _, at := range a.Tasks {
		ids = append(ids, at.ID)
	}
	if len(ids) != 3 {
		t.Fatalf("/web has %d tasks, want 3", len(ids))
	}
	return ids
}

// TestKillGraceKeepsKillingTasks checks, for every way of killing, that a
// killed task stays TASK_KILLING in both views during its grace period, that
// it no longer counts towards the app's instances, and that the app already
// has its running tasks (replacements start at once, restarts start the new
// tasks first).
func TestKillGraceKeepsKillingTasks(t *testing.T) {
	for _, tc := range graceKills {
		t.Run(tc.name, func(t *testing.T) {
			c := graceCluster(t, longGrace)
			ids := appTaskIDs(t, c)
			if err := tc.kill(c, ids); err != nil {
				t.Fatal(err)
			}
			killed := tc.killed(ids)
			ms := mesosStates(c)
			for _, id := range killed {
				if ms[id] != cluster.TaskKilling {
					t.Errorf("Mesos: killed task %s is %q, want TASK_KILLING", id, ms[id])
				}
			}
			if tc.deleted {
				if _, ok := c.App("/web"); ok {
					t.Error("deleted app still listed")
				}
				if n := countState(ms, cluster.TaskRunning); n != 0 {
					t.Errorf("Mesos: %d running tasks after delete", n)
				}
				return
			}
			st := stateOf(t, c, "/web")
			for _, id := range killed {
				if st[id] != cluster.TaskKilling {
					t.Errorf("Marathon: killed task %s is %q, want TASK_KILLING", id, st[id])
				}
			}
			if n := countState(st, cluster.TaskRunning); n != tc.running {
				t.Errorf("Marathon: %d running tasks, want %d (%v)", n, tc.running, st)
			}
			if len(st) != tc.running+len(killed) {
				t.Errorf("Marathon lists %d tasks, want %d running + %d killing", len(st), tc.running, len(killed))
			}
			// The killing tasks do not count: a reconcile now changes nothing.
			if err := c.ScaleApp("/web", tc.running); err != nil {
				t.Fatal(err)
			}
			if again := stateOf(t, c, "/web"); len(again) != len(st) || countState(again, cluster.TaskRunning) != tc.running {
				t.Errorf("scaling to the same count changed the tasks: %v -> %v", st, again)
			}
		})
	}
}

// TestKillGraceEnds checks, for every way of killing, that each killed task
// goes TASK_KILLING then TASK_KILLED in the operator stream and the Marathon
// event bus, in that order and with nothing after, and is gone from both
// views once its grace period is over. It waits for events, never for time.
func TestKillGraceEnds(t *testing.T) {
	for _, tc := range graceKills {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck.Verify(t)
			c := graceCluster(t, 20*time.Millisecond)
			ids := appTaskIDs(t, c)
			_, msub := c.SubscribeMesos()
			defer msub.Close()
			mara := c.SubscribeMarathon()
			defer mara.Close()
			if err := tc.kill(c, ids); err != nil {
				t.Fatal(err)
			}
			killed := tc.killed(ids)

			mesosSeen := map[string][]cluster.TaskState{}
			marathonSeen := map[string][]cluster.TaskState{}
			done := func() bool {
				for _, id := range killed {
					if !slices.Contains(mesosSeen[id], cluster.TaskKilled) || !slices.Contains(marathonSeen[id], cluster.TaskKilled) {
						return false
					}
				}
				return true
			}
			deadline := time.After(30 * time.Second)
			for !done() {
				select {
				case e, ok := <-msub.Events:
					if !ok {
						t.Fatalf("operator stream ended: %v", msub.Err())
					}
					if e.Type == operator.TypeTaskUpdated {
						mesosSeen[e.TaskUpdated.TaskID] = append(mesosSeen[e.TaskUpdated.TaskID], e.TaskUpdated.State)
					}
				case e, ok := <-mara.Events:
					if !ok {
						t.Fatalf("event bus ended: %v", mara.Err())
					}
					if e.Type == "status_update_event" {
						marathonSeen[e.StatusUpdate.TaskID] = append(marathonSeen[e.StatusUpdate.TaskID], e.StatusUpdate.TaskStatus)
					}
				case <-deadline:
					t.Fatalf("no TASK_KILLED for every killed task within 30 s; Mesos saw %v, Marathon %v", mesosSeen, marathonSeen)
				}
			}
			want := []cluster.TaskState{cluster.TaskKilling, cluster.TaskKilled}
			for _, id := range killed {
				if !slices.Equal(mesosSeen[id], want) {
					t.Errorf("Mesos: task %s went %v, want %v", id, mesosSeen[id], want)
				}
				if !slices.Equal(marathonSeen[id], want) {
					t.Errorf("Marathon: task %s went %v, want %v", id, marathonSeen[id], want)
				}
			}
			ms := mesosStates(c)
			st := stateOf(t, c, "/web")
			for _, id := range killed {
				if _, ok := ms[id]; ok {
					t.Errorf("Mesos still lists killed task %s", id)
				}
				if _, ok := st[id]; ok {
					t.Errorf("Marathon still lists killed task %s", id)
				}
			}
			if n := countState(ms, cluster.TaskRunning); n != tc.running || len(ms) != tc.running {
				t.Errorf("Mesos: %v, want %d running tasks and nothing else", ms, tc.running)
			}
		})
	}
}

// TestKillGraceEdgeCases covers what may happen to a task during its grace
// period: killed again, its agent lost, its health changed, the cluster
// closed.
func TestKillGraceEdgeCases(t *testing.T) {
	t.Run("killed again", func(t *testing.T) {
		c := graceCluster(t, longGrace)
		ids := appTaskIDs(t, c)
		if err := c.KillTask(ids[0], false); err != nil {
			t.Fatal(err)
		}
		before := stateOf(t, c, "/web")
		v := c.Version()
		if err := c.KillTask(ids[0], false); err != nil {
			t.Errorf("killing a TASK_KILLING task: %v", err)
		}
		if err := c.KillTask(ids[0], true); err != nil {
			t.Errorf("killing a TASK_KILLING task with scale: %v", err)
		}
		if c.Version() != v || len(stateOf(t, c, "/web")) != len(before) {
			t.Errorf("a second kill changed the cluster: %v -> %v", before, stateOf(t, c, "/web"))
		}
		if a, _ := c.App("/web"); a.Instances != 3 {
			t.Errorf("instances %d, want 3", a.Instances)
		}
	})
	t.Run("health of a killing task", func(t *testing.T) {
		c := graceCluster(t, longGrace)
		ids := appTaskIDs(t, c)
		if err := c.KillTask(ids[0], true); err != nil {
			t.Fatal(err)
		}
		if err := c.SetHealth(ids[0], false); err == nil {
			t.Error("SetHealth on a TASK_KILLING task: no error")
		}
	})
	t.Run("agent lost", func(t *testing.T) {
		c := graceCluster(t, longGrace)
		ids := appTaskIDs(t, c)
		if err := c.KillTask(ids[0], false); err != nil {
			t.Fatal(err)
		}
		var agentID string
		for _, f := range c.MesosState().Frameworks {
			for _, tk := range f.Tasks {
				if tk.ID == ids[0] {
					agentID = tk.AgentID
				}
			}
		}
		_, sub := c.SubscribeMesos()
		defer sub.Close()
		if err := c.LoseAgent(agentID); err != nil {
			t.Fatal(err)
		}
		ms := mesosStates(c)
		if _, ok := ms[ids[0]]; ok {
			t.Errorf("the killing task outlived its agent: %v", ms)
		}
		// The lost agent held the killing task and maybe one running task:
		// only the running one is replaced.
		if n := countState(ms, cluster.TaskRunning); n != 3 {
			t.Errorf("%d running tasks after losing an agent, want 3: %v", n, ms)
		}
		var states []cluster.TaskState
		for len(sub.Events) > 0 {
			if e := <-sub.Events; e.Type == operator.TypeTaskUpdated && e.TaskUpdated.TaskID == ids[0] {
				states = append(states, e.TaskUpdated.State)
			}
		}
		if !slices.Equal(states, []cluster.TaskState{cluster.TaskLost}) {
			t.Errorf("killing task on a lost agent went %v, want TASK_LOST only", states)
		}
	})
	t.Run("closed during grace", func(t *testing.T) {
		leakcheck.Verify(t)
		c := graceCluster(t, longGrace)
		ids := appTaskIDs(t, c)
		sub := c.SubscribeMarathon()
		if err := c.RestartApp("/web"); err != nil {
			t.Fatal(err)
		}
		c.Close()
		c.Close()
		// After Close no timer may change anything; the version stays.
		v := c.Version()
		time.Sleep(50 * time.Millisecond)
		if c.Version() != v {
			t.Error("the cluster changed after Close")
		}
		for range sub.Events {
		}
		if sub.Err() != ErrClosed {
			t.Errorf("subscription ended with %v, want ErrClosed", sub.Err())
		}
		// Kills after Close are immediate: no timer is started that
		// nobody would stop.
		if err := c.ScaleApp("/web", 0); err != nil {
			t.Fatal(err)
		}
		if st := stateOf(t, c, "/web"); countState(st, cluster.TaskRunning) != 0 || countState(st, cluster.TaskKilled) != 0 || len(st) != len(ids) {
			t.Errorf("after scaling to 0 once closed: %v, want only the %d killing tasks", st, len(ids))
		}
	})
}

// TestKillGraceCloseRace closes a cluster while grace timers fire, some
// before Close, some waiting for the lock, some stopped: under -race and
// leakcheck, nothing may race, leak or change the cluster after Close.
func TestKillGraceCloseRace(t *testing.T) {
	leakcheck.Verify(t)
	for range 20 {
		c := New(Config{Now: fakeClock(), Seed: 3, KillGrace: time.Microsecond})
		c.AddAgents(3)
		if _, err := c.AddApp(cluster.App{ID: "/web", Instances: 5, PortDefinitions: []cluster.PortDefinition{{}}}); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if err := c.RestartApp("/web"); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
		v := c.Version()
		time.Sleep(time.Millisecond)
		if c.Version() != v {
			t.Fatal("the cluster changed after Close")
		}
	}
}

// TestKillGraceFixedPorts checks that a task whose app needs a fixed host
// port goes to another agent while the killed task still holds the port.
func TestKillGraceFixedPorts(t *testing.T) {
	c := New(Config{Now: fakeClock(), Seed: 3, KillGrace: longGrace})
	defer c.Close()
	c.AddAgents(2)
	if _, err := c.AddApp(cluster.App{ID: "/fixed", Instances: 1, RequirePorts: true, PortDefinitions: []cluster.PortDefinition{{Port: 31500}}}); err != nil {
		t.Fatal(err)
	}
	a, _ := c.App("/fixed")
	old := a.Tasks[0]
	if err := c.RestartApp("/fixed"); err != nil {
		t.Fatalf("restart with the port held by the killing task: %v", err)
	}
	a, _ = c.App("/fixed")
	var running []cluster.AppTask
	for _, at := range a.Tasks {
		if at.State == cluster.TaskRunning {
			running = append(running, at)
		}
	}
	if len(running) != 1 || running[0].SlaveID == old.SlaveID || !slices.Equal(running[0].Ports, []int{31500}) {
		t.Errorf("new task %+v, want one on another agent than %s, port 31500", running, old.SlaveID)
	}
	// Both agents hold the port now: a third task has nowhere to go, and
	// the error names the port.
	if err := c.ScaleApp("/fixed", 2); err == nil || !contains(err.Error(), "31500") {
		t.Errorf("scaling beyond the free ports: %v, want an error naming port 31500", err)
	}
}

// TestNoGraceIsImmediate checks that the default (no grace) keeps kills in
// one step: TASK_KILLING and TASK_KILLED before the call returns.
func TestNoGraceIsImmediate(t *testing.T) {
	c := graceCluster(t, 0)
	ids := appTaskIDs(t, c)
	sub := c.SubscribeMarathon()
	defer sub.Close()
	if err := c.KillTask(ids[0], false); err != nil {
		t.Fatal(err)
	}
	var states []cluster.TaskState
	for len(sub.Events) > 0 {
		if e := <-sub.Events; e.Type == "status_update_event" && e.StatusUpdate.TaskID == ids[0] {
			states = append(states, e.StatusUpdate.TaskStatus)
		}
	}
	if !slices.Equal(states, []cluster.TaskState{cluster.TaskKilling, cluster.TaskKilled}) {
		t.Errorf("killed task went %v", states)
	}
	if st := stateOf(t, c, "/web"); len(st) != 3 || countState(st, cluster.TaskRunning) != 3 {
		t.Errorf("after kill: %v", st)
	}
}
