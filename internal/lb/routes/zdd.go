package routes

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// Labels of Marathon-LB's zero-downtime deployments (zdd.py writes them).
const (
	labelDeploymentGroup     = "HAPROXY_DEPLOYMENT_GROUP"
	labelDeploymentStartedAt = "HAPROXY_DEPLOYMENT_STARTED_AT"
	labelDeploymentTarget    = "HAPROXY_DEPLOYMENT_TARGET_INSTANCES"
	labelDeploymentNew       = "HAPROXY_DEPLOYMENT_NEW_INSTANCES"
)

// lbApp is an app as the load balancer sees it: possibly several Marathon
// apps of one deployment group merged under the group's id. def is the
// Marathon definition that supplies labels, ports and health checks; it is
// shared with the caller's snapshot and never modified.
type lbApp struct {
	id    string
	def   *cluster.App
	tasks []lbTask
}

type lbTask struct {
	t        *cluster.AppTask
	draining bool
}

func plainApp(a *cluster.App) lbApp {
	tasks := make([]lbTask, len(a.Tasks))
	for i := range a.Tasks {
		tasks[i] = lbTask{t: &a.Tasks[i]}
	}
	return lbApp{id: a.ID, def: a, tasks: tasks}
}

// groupApps mirrors the first pass of get_apps: apps carrying
// HAPROXY_DEPLOYMENT_GROUP are renamed "/<group>" and merged pairwise, so
// that the blue and green apps of a zero-downtime deployment form one
// backend whose old tasks drain as new ones become healthy. The result
// keeps Marathon-LB's order — ungrouped apps in snapshot order, then the
// groups in order of first appearance — because auto-assigned service
// ports depend on it.
func groupApps(st *cluster.MarathonState, problems *[]Problem) []lbApp {
	var plain, groups []lbApp
	index := map[string]int{}
	for i := range st.Apps {
		a := &st.Apps[i]
		g, ok := a.Labels[labelDeploymentGroup]
		if !ok {
			plain = append(plain, plainApp(a))
			continue
		}
		if g == "" {
			// Marathon-LB indexes g[0] and aborts; route it as a plain app.
			*problems = append(*problems, Problem{AppID: a.ID, PortIndex: -1, Label: labelDeploymentGroup,
				Reason: "empty deployment group; app routed on its own"})
			plain = append(plain, plainApp(a))
			continue
		}
		if g[0] != '/' {
			g = "/" + g
		}
		cur := plainApp(a)
		cur.id = g
		if j, seen := index[g]; seen {
			groups[j] = mergeDeployment(groups[j], cur, problems)
		} else {
			index[g] = len(groups)
			groups = append(groups, cur)
		}
	}
	return append(plain, groups...)
}

// mergeDeployment merges the current app into the group's previous one.
// The newer app (later HAPROXY_DEPLOYMENT_STARTED_AT; missing is oldest) is
// "new"; as many old tasks (sorted by id, so the choice is stable) are
// marked draining as new tasks are healthy, but never so many that fewer
// than the target instance count would remain: target is the new app's
// HAPROXY_DEPLOYMENT_TARGET_INSTANCES during a hybrid deployment
// (HAPROXY_DEPLOYMENT_NEW_INSTANCES present), else 1. The merged app keeps
// the old app's definition — labels, service ports, health checks.
//
// Marathon-LB additionally swaps old and new in a hybrid deployment when the
// old app was scaled later (versionInfo.lastScalingAt); the cluster model
// does not carry versionInfo, so that swap is not made.
func mergeDeployment(prev, cur lbApp, problems *[]Problem) lbApp {
	prevDate := deploymentStart(prev, problems)
	curDate := deploymentStart(cur, problems)
	old, new := cur, prev
	if prevDate.Before(curDate) {
		old, new = prev, cur
	}
	target := 1
	if _, hybrid := new.def.Labels[labelDeploymentNew]; hybrid {
		v := new.def.Labels[labelDeploymentTarget]
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			// Marathon-LB aborts; draining nothing keeps every task serving.
			*problems = append(*problems, Problem{AppID: new.id, PortIndex: -1, Label: labelDeploymentTarget,
				Reason: "not an integer (" + strconv.Quote(v) + "); no old task is drained"})
			n = int(^uint(0) >> 1)
		}
		target = n
	}
	oldTasks := slices.Clone(old.tasks)
	slices.SortStableFunc(oldTasks, func(a, b lbTask) int { return strings.Compare(a.t.ID, b.t.ID) })

	// Marathon-LB looks at the health checks of the app being merged in
	// (cur), not necessarily of the new one; kept for identical results.
	healthyNew := 0
	if len(cur.def.HealthChecks) > 0 {
		for _, t := range new.tasks {
			for _, r := range t.t.HealthCheckResults {
				if r.Alive {
					healthyNew++
					break
				}
			}
		}
	} else {
		healthyNew = new.def.Instances
	}
	drainable := max(0, healthyNew+old.def.Instances-target)
	if target == int(^uint(0)>>1) {
		drainable = 0
	}
	for i := range min(len(oldTasks), healthyNew, drainable) {
		oldTasks[i].draining = true
	}
	return lbApp{id: old.id, def: old.def, tasks: append(oldTasks, new.tasks...)}
}

// deploymentStart parses HAPROXY_DEPLOYMENT_STARTED_AT (zdd.py writes
// Python's isoformat(), without zone); missing or unparsable is the zero time.
func deploymentStart(a lbApp, problems *[]Problem) time.Time {
	v, ok := a.def.Labels[labelDeploymentStartedAt]
	if !ok {
		return time.Time{}
	}
	for _, layout := range []string{
		"2006-01-02T15:04:05.999999999Z07:00",
		"2006-01-02T15:04:05.999999999",
		"2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999",
		"2006-01-02T15:04Z07:00",
		"2006-01-02T15:04",
		"2006-01-02",
	} {
		if t, err := time.Parse(layout, strings.TrimSpace(v)); err == nil {
			return t
		}
	}
	*problems = append(*problems, Problem{AppID: a.def.ID, PortIndex: -1, Label: labelDeploymentStartedAt,
		Reason: "not an ISO 8601 time (" + strconv.Quote(v) + "); taken as the oldest"})
	return time.Time{}
}
