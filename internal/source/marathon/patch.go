package marathon

import (
	"reflect"
	"slices"
	"strings"

	"github.com/signpost-dns/signpost/internal/cluster"
	wire "github.com/signpost-dns/signpost/internal/wire/marathon"
)

// Applying events without refetching.
//
// A refetch of /v2/apps costs the leader and the follower time that grows with
// the cluster (tens of milliseconds for 1,000 apps, seconds for 10,000), so a
// task that comes up or dies would wait that long for its route. Two kinds of
// event carry everything routing needs about one task, and are applied to the
// last snapshot at once:
//
//   - api_post_event: an app definition was created or changed through the
//     API; the event carries the whole new definition (version included),
//     which replaces the old one while the tasks stay. Unless a service port
//     in it is still 0: Marathon assigns those, and only /v2/apps has them.
//   - app_terminated_event: an app was deleted; it leaves /v2/apps.
//   - status_update_event: a task of a known app is added or updated (state,
//     host, ports, IP addresses) or, in a terminal state, removed — which is
//     what the next /v2/apps would show. A task not seen before is added only
//     when it runs the app's current version: a task of a new version may
//     need a new app definition (other ports, other labels), which only a
//     refetch gives.
//   - health_status_changed_event: a task's Marathon health verdict flips.
//     Only for apps with exactly one health check, because the routing rule
//     is "any check alive" and one event speaks for one check.
//
// Every applied event still asks for a refetch (once the events pause for
// confirmDelay, at most maxConfirmDelay after the first; an event that cannot
// be applied asks within Config.Coalesce), so an event that was applied
// wrongly, or a change no event describes, is corrected within seconds. Events that arrive while a fetch is in
// flight are replayed, in order, on the fetched state: the fetch may have been
// answered before they happened. Events queued before the fetch started are
// not (its answer already holds them, and replaying an old event could undo
// a newer change no event describes); each replayed event has asked for
// another fetch, which settles any doubt. Replaying is safe because each
// patch sets a task to what the event says rather than changing it relative
// to before.

// patchable reports whether an event is of a kind patch may apply.
func patchable(e wire.Event) bool {
	return e.StatusUpdate != nil || e.HealthStatusChanged != nil || e.APIPost != nil || e.AppTerminated != nil
}

// patcher applies events to a snapshot copy-on-write: the apps slice is copied
// once, and each app's task list once, the first time they change. Apps and
// tasks not touched stay shared with the old snapshot, which is never changed.
type patcher struct {
	old  *cluster.MarathonState
	next *cluster.MarathonState
	// changes counts the changes that may change a route; hidden is set
	// when a change may not (a TASK_KILLING task leaving once its kill
	// grace is over, which Marathon-LB stopped routing at TASK_KILLING).
	// A snapshot with hidden changes only need not cost a rebuild.
	changes int
	hidden  bool
	index   map[string]int // app id → index
	touched map[int]bool   // apps whose Tasks are already our own copy
}

func newPatcher(st *cluster.MarathonState) *patcher {
	return &patcher{old: st}
}

// visible reports whether the patched snapshot may route differently from
// the old one.
func (p *patcher) visible() bool { return p.changes > 0 || !p.hidden && p.next != nil }

// result is the patched snapshot, or the old one when nothing applied.
func (p *patcher) result() *cluster.MarathonState {
	if p.next == nil {
		return p.old
	}
	return p.next
}

// app returns the index of an app in the snapshot, or -1.
func (p *patcher) app(id string) int {
	if p.index == nil {
		apps := p.result().Apps
		p.index = make(map[string]int, len(apps))
		for i := range apps {
			p.index[apps[i].ID] = i
		}
	}
	if i, ok := p.index[id]; ok {
		return i
	}
	return -1
}

// own makes app i's task list writable and returns the app; with i = -1 it
// only makes the apps slice writable.
func (p *patcher) own(i int) *cluster.App {
	if p.next == nil {
		st := *p.old
		st.Apps = append([]cluster.App(nil), p.old.Apps...)
		p.next = &st
		p.touched = make(map[int]bool)
	}
	if i < 0 {
		if p.index == nil {
			p.app("")
		}
		p.changes++
		return nil
	}
	p.changes++
	a := &p.next.Apps[i]
	if !p.touched[i] {
		a.Tasks = append([]cluster.AppTask(nil), a.Tasks...)
		p.touched[i] = true
	}
	return a
}

// apply applies one event and reports whether it could; an event it cannot
// apply safely leaves the snapshot as it was (the refetch will tell).
func (p *patcher) apply(e wire.Event) bool {
	switch {
	case e.StatusUpdate != nil:
		return p.statusUpdate(e.StatusUpdate)
	case e.HealthStatusChanged != nil:
		return p.healthChanged(e.HealthStatusChanged)
	case e.APIPost != nil:
		return p.define(&e.APIPost.App)
	case e.AppTerminated != nil:
		return p.remove(e.AppTerminated.AppID)
	}
	return false
}

// define puts a new app definition in place, keeping the app's tasks.
func (p *patcher) define(def *cluster.App) bool {
	if def.ID == "" || def.Version == "" || unassignedServicePort(def) {
		return false
	}
	i := p.app(def.ID)
	if i < 0 {
		p.own(-1)
		p.next.Apps = append(p.next.Apps, *def)
		p.next.Apps[len(p.next.Apps)-1].Tasks = nil
		p.index[def.ID] = len(p.next.Apps) - 1
		p.touched[len(p.next.Apps)-1] = true
		return true
	}
	a := p.own(i)
	tasks := a.Tasks
	*a = *def
	a.Tasks = tasks
	return true
}

// remove takes a deleted app out.
func (p *patcher) remove(id string) bool {
	i := p.app(id)
	if i < 0 {
		return true // never seen, or already gone
	}
	p.own(-1)
	apps := p.next.Apps
	p.next.Apps = append(apps[:i:i], apps[i+1:]...)
	// Indexes after i moved: rebuild them on the next lookup.
	touched := make(map[int]bool, len(p.touched))
	for k := range p.touched {
		switch {
		case k < i:
			touched[k] = true
		case k > i:
			touched[k-1] = true
		}
	}
	p.touched, p.index = touched, nil
	return true
}

// unassignedServicePort reports whether a definition still has a service
// port for Marathon to assign.
func unassignedServicePort(a *cluster.App) bool {
	for _, d := range a.PortDefinitions {
		if d.Port == 0 {
			return true
		}
	}
	if a.Container != nil {
		for _, m := range a.Container.PortMappings {
			if m.ServicePort == 0 {
				return true
			}
		}
		if a.Container.Docker != nil {
			for _, m := range a.Container.Docker.PortMappings {
				if m.ServicePort == 0 {
					return true
				}
			}
		}
	}
	return false
}

func (p *patcher) statusUpdate(u *wire.StatusUpdate) bool {
	i := p.app(u.AppID)
	if i < 0 || u.TaskID == "" {
		return false // a new app: its definition comes with the refetch
	}
	cur := &p.result().Apps[i]
	t := taskIndex(cur.Tasks, u.TaskID)
	if removedState[u.TaskStatus] {
		if t < 0 {
			return true // already gone
		}
		killing := cur.Tasks[t].State == cluster.TaskKilling
		a := p.own(i)
		a.Tasks = append(a.Tasks[:t], a.Tasks[t+1:]...)
		if killing {
			// Marathon-LB stopped routing it at TASK_KILLING: its
			// removal changes no route.
			p.changes--
			p.hidden = true
		}
		return true
	}
	if t >= 0 && sameTask(&cur.Tasks[t], u) {
		return true // nothing new: no copy, no rebuild downstream
	}
	if t < 0 && (u.Version == "" || u.Version != cur.Version) {
		return false // a task of another version may need another definition
	}
	a := p.own(i)
	if t < 0 {
		a.Tasks = append(a.Tasks, cluster.AppTask{ID: u.TaskID, AppID: u.AppID, Version: u.Version})
		t = len(a.Tasks) - 1
	}
	task := &a.Tasks[t]
	task.State = u.TaskStatus
	if u.Host != "" {
		task.Host, task.SlaveID = u.Host, u.SlaveID
	}
	if u.Ports != nil {
		task.Ports = u.Ports
	}
	if u.IPAddresses != nil {
		task.IPAddresses = u.IPAddresses
	}
	return true
}

// removedState are the states in which a task leaves /v2/apps. TASK_LOST is
// not one: Marathon keeps lost tasks listed (and Marathon-LB keeps routing
// them) until they come back or are expunged.
var removedState = map[cluster.TaskState]bool{
	cluster.TaskFinished: true, cluster.TaskFailed: true, cluster.TaskKilled: true,
	cluster.TaskError: true, cluster.TaskDropped: true, cluster.TaskGone: true,
	cluster.TaskGoneByOperator: true,
}

func (p *patcher) healthChanged(h *wire.HealthStatusChanged) bool {
	i := p.app(h.AppID)
	if i < 0 {
		return false
	}
	cur := &p.result().Apps[i]
	if len(cur.HealthChecks) != 1 {
		return false // one event speaks for one of several checks
	}
	t := -1
	for k := range cur.Tasks {
		if isTaskOf(&cur.Tasks[k], h.TaskID, h.InstanceID) {
			t = k
			break
		}
	}
	if t < 0 {
		return false
	}
	a := p.own(i)
	task := &a.Tasks[t]
	r := cluster.HealthCheckResult{Alive: h.Alive, TaskID: task.ID, InstanceID: h.InstanceID}
	if len(task.HealthCheckResults) == 1 {
		r = task.HealthCheckResults[0]
		r.Alive = h.Alive
	}
	task.HealthCheckResults = []cluster.HealthCheckResult{r}
	return true
}

// sameTask reports whether a status update says nothing t does not say.
func sameTask(t *cluster.AppTask, u *wire.StatusUpdate) bool {
	return t.State == u.TaskStatus &&
		(u.Host == "" || t.Host == u.Host) &&
		(u.Ports == nil || slices.Equal(t.Ports, u.Ports)) &&
		(u.IPAddresses == nil || slices.Equal(t.IPAddresses, u.IPAddresses))
}

func taskIndex(tasks []cluster.AppTask, id string) int {
	for k := range tasks {
		if tasks[k].ID == id {
			return k
		}
	}
	return -1
}

// isTaskOf reports whether a health event naming taskID (Marathon ≤1.3) or
// instanceID (≥1.4) is about task t. Instance ids relate to task ids in two
// ways: "app.marathon-<uuid>" is the instance of task "app.<uuid>" (1.4),
// and "app.instance-<uuid>" of tasks "app.instance-<uuid>._app.<n>" (≥1.5);
// /v2/apps also names the instance in each health result once one has run.
func isTaskOf(t *cluster.AppTask, taskID, instanceID string) bool {
	if taskID != "" {
		return t.ID == taskID
	}
	if instanceID == "" {
		return false
	}
	for _, r := range t.HealthCheckResults {
		if r.InstanceID == instanceID {
			return true
		}
	}
	if strings.HasPrefix(t.ID, instanceID+".") {
		return true
	}
	return strings.Contains(instanceID, ".marathon-") &&
		t.ID == strings.Replace(instanceID, ".marathon-", ".", 1)
}

// sameRouting reports whether two snapshots agree on everything a route
// table is built from: the same apps at the same versions (Marathon gives
// every definition change a new version), and the same tasks with the same
// state, addresses, ports and health verdict. A refetch that only confirms
// the events applied since the last one then costs no rebuild. Apps without
// a version are compared field by field.
func sameRouting(a, b *cluster.MarathonState) bool {
	if len(a.Apps) != len(b.Apps) {
		return false
	}
	byID := make(map[string]*cluster.App, len(a.Apps))
	for i := range a.Apps {
		byID[a.Apps[i].ID] = &a.Apps[i]
	}
	for i := range b.Apps {
		y := &b.Apps[i]
		x := byID[y.ID]
		if x == nil || x.Version != y.Version || len(x.Tasks) != len(y.Tasks) || x.Version == "" && !sameDefinition(x, y) {
			return false
		}
		for k := range y.Tasks {
			yt := &y.Tasks[k]
			xi := taskIndex(x.Tasks, yt.ID)
			if xi < 0 || !sameTaskRouting(&x.Tasks[xi], yt) {
				return false
			}
		}
	}
	return true
}

// sameDefinition compares two definitions field by field, for apps without
// a version (Marathon always sets one; documents loaded from elsewhere may
// not).
func sameDefinition(x, y *cluster.App) bool {
	a, b := *x, *y
	a.Tasks, b.Tasks = nil, nil
	return reflect.DeepEqual(a, b)
}

func sameTaskRouting(x, y *cluster.AppTask) bool {
	return x.State == y.State && x.Host == y.Host && x.AppID == y.AppID &&
		slices.Equal(x.Ports, y.Ports) && slices.Equal(x.IPAddresses, y.IPAddresses) &&
		verdict(x.HealthCheckResults) == verdict(y.HealthCheckResults)
}

// verdict is what --health-check reads of a task's results: none (-1),
// any alive (1) or none alive (0).
func verdict(rs []cluster.HealthCheckResult) int {
	if len(rs) == 0 {
		return -1
	}
	for _, r := range rs {
		if r.Alive {
			return 1
		}
	}
	return 0
}
