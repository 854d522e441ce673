package sim

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/wire/marathon"
)

// Marathon assigns service ports from this range (local_port_min/max).
const (
	servicePortMin = 10000
	servicePortMax = 20000
)

// ErrNotFound is returned for an app or task that does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when creating an app that exists.
var ErrConflict = errors.New("already exists")

// ValidateAppID checks an app id the way Marathon's PathId does, returning
// the absolute form.
func ValidateAppID(id string) (string, error) {
	if id == "" {
		return "", errors.New(`app "id": missing`)
	}
	if !strings.HasPrefix(id, "/") {
		id = "/" + id
	}
	for _, seg := range strings.Split(strings.Trim(id, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("app id %q: empty or relative path segment", id)
		}
		for _, r := range seg {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
				return "", fmt.Errorf("app id %q: segment %q must be lower-case letters, digits, '-' and '.'", id, seg)
			}
		}
		if seg[0] == '-' || seg[len(seg)-1] == '-' {
			return "", fmt.Errorf("app id %q: segment %q must not start or end with '-'", id, seg)
		}
	}
	return strings.TrimSuffix(id, "/"), nil
}

func appServicePorts(a *cluster.App) []int {
	var out []int
	if appNetworking(a) == hostNet {
		for _, pd := range a.PortDefinitions {
			out = append(out, pd.Port)
		}
		return out
	}
	for _, pm := range portMappings(a) {
		out = append(out, pm.ServicePort)
	}
	return out
}

// assignServicePortsLocked replaces 0 service ports with unique ones from
// Marathon's range, leaving given ones as they are.
func (c *Cluster) assignServicePortsLocked(a *cluster.App) error {
	next := func() (int, error) {
		for range servicePortMax - servicePortMin + 1 {
			p := c.nextServicePort
			c.nextServicePort++
			if c.nextServicePort > servicePortMax {
				c.nextServicePort = servicePortMin
			}
			if !c.servicePortsUsed[p] {
				c.servicePortsUsed[p] = true
				return p, nil
			}
		}
		return 0, errors.New("service port range exhausted")
	}
	if appNetworking(a) == hostNet {
		pds := slices.Clone(a.PortDefinitions)
		for i := range pds {
			if pds[i].Port == 0 {
				p, err := next()
				if err != nil {
					return err
				}
				pds[i].Port = p
			} else {
				c.servicePortsUsed[pds[i].Port] = true
			}
			if pds[i].Protocol == "" {
				pds[i].Protocol = "tcp"
			}
		}
		a.PortDefinitions = pds
		return nil
	}
	pms := slices.Clone(portMappings(a))
	for i := range pms {
		if pms[i].ServicePort == 0 {
			p, err := next()
			if err != nil {
				return err
			}
			pms[i].ServicePort = p
		} else {
			c.servicePortsUsed[pms[i].ServicePort] = true
		}
		if pms[i].Protocol == "" {
			pms[i].Protocol = "tcp"
		}
	}
	if a.Container != nil {
		ct := *a.Container
		if len(ct.PortMappings) > 0 {
			ct.PortMappings = pms
		} else if ct.Docker != nil {
			d := *ct.Docker
			d.PortMappings = pms
			ct.Docker = &d
		}
		a.Container = &ct
	}
	return nil
}

// AddApp creates an app and launches its instances, as POST /v2/apps does.
func (c *Cluster) AddApp(def cluster.App) (cluster.App, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addAppLocked(def, true)
}

func (c *Cluster) addAppLocked(def cluster.App, announce bool) (cluster.App, error) {
	id, err := ValidateAppID(def.ID)
	if err != nil {
		return cluster.App{}, err
	}
	def.ID = id
	if _, ok := c.appByID[id]; ok {
		return cluster.App{}, fmt.Errorf("app %s: %w", id, ErrConflict)
	}
	if def.Instances < 0 {
		return cluster.App{}, fmt.Errorf(`app %s: "instances" must not be negative`, id)
	}
	def.Tasks = nil
	def.Labels = maps.Clone(def.Labels)
	if err := c.assignServicePortsLocked(&def); err != nil {
		return cluster.App{}, fmt.Errorf("app %s: %w", id, err)
	}
	def.Version = isoTime(c.cfg.Now())
	ap := &app{def: def}
	c.apps = append(c.apps, ap)
	c.appByID[id] = ap
	c.changed()
	var d *marathon.Deployment
	if announce {
		d = c.publishDeploymentStartLocked(ap, "/v2/apps", "StartApplication")
	}
	err = c.reconcileLocked(ap)
	c.publishDeploymentEndLocked(d)
	return ap.def, err
}

// liveTasks are an app's tasks that have not been killed: the ones that
// count towards its instances. TASK_KILLING tasks are still in ap.tasks (so
// that /v2/apps lists them, as Marathon does) but are on their way out.
func liveTasks(ap *app) []*task {
	var out []*task
	for _, t := range ap.tasks {
		if !t.killing() {
			out = append(out, t)
		}
	}
	return out
}

// reconcileLocked launches or kills tasks until the app has its instance count.
func (c *Cluster) reconcileLocked(ap *app) error {
	live := liveTasks(ap)
	for n := len(live); n < ap.def.Instances; n++ {
		if _, err := c.launchLocked(ap); err != nil {
			return fmt.Errorf("app %s: %w", ap.def.ID, err)
		}
	}
	// Marathon's default killSelection is YOUNGEST_FIRST.
	for i := len(live) - 1; i >= ap.def.Instances; i-- {
		c.killLocked(live[i])
	}
	return nil
}

// ScaleApp sets an app's instance count.
func (c *Cluster) ScaleApp(id string, instances int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ap, ok := c.appByID[id]
	if !ok {
		return fmt.Errorf("app %s: %w", id, ErrNotFound)
	}
	if instances < 0 {
		return fmt.Errorf(`app %s: "instances" must not be negative`, id)
	}
	def := ap.def
	def.Instances = instances
	def.Version = isoTime(c.cfg.Now())
	ap.def = def
	c.changed()
	d := c.publishDeploymentStartLocked(ap, "/v2/apps"+id, "ScaleApplication")
	err := c.reconcileLocked(ap)
	c.publishDeploymentEndLocked(d)
	return err
}

// UpdateApp replaces an app's definition, as PUT /v2/apps/{id} does. A change
// of anything but the instance count is a rolling deploy: new tasks start
// first, then the old ones are killed (with the kill grace period).
func (c *Cluster) UpdateApp(def cluster.App) (cluster.App, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, err := ValidateAppID(def.ID)
	if err != nil {
		return cluster.App{}, err
	}
	def.ID = id
	ap, ok := c.appByID[id]
	if !ok {
		return c.addAppLocked(def, true)
	}
	def.Tasks = nil
	def.Labels = maps.Clone(def.Labels)
	if err := c.assignServicePortsLocked(&def); err != nil {
		return cluster.App{}, fmt.Errorf("app %s: %w", id, err)
	}
	old := ap.def
	onlyScale := func() bool {
		a, b := old, def
		a.Instances, b.Instances = 0, 0
		a.Version, b.Version = "", ""
		return reflect.DeepEqual(a, b)
	}()
	def.Version = isoTime(c.cfg.Now())
	ap.def = def
	c.changed()
	action := "RestartApplication"
	if onlyScale {
		action = "ScaleApplication"
	}
	d := c.publishDeploymentStartLocked(ap, "/v2/apps"+id, action)
	defer c.publishDeploymentEndLocked(d)
	if onlyScale {
		return ap.def, c.reconcileLocked(ap)
	}
	oldTasks := liveTasks(ap)
	for range def.Instances {
		if _, err := c.launchLocked(ap); err != nil {
			return ap.def, fmt.Errorf("app %s: %w", id, err)
		}
	}
	for _, t := range oldTasks {
		c.killLocked(t)
	}
	return ap.def, nil
}

// RestartApp replaces every task of an app with a new one the way
// Marathon's default upgrade strategy (minimumHealthCapacity 1) does: the
// new tasks start first, then the old ones are killed, each with the kill
// grace period, so the app never has fewer tasks serving than it had.
func (c *Cluster) RestartApp(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ap, ok := c.appByID[id]
	if !ok {
		return fmt.Errorf("app %s: %w", id, ErrNotFound)
	}
	d := c.publishDeploymentStartLocked(ap, "/v2/apps"+id+"/restart", "RestartApplication")
	defer c.publishDeploymentEndLocked(d)
	oldTasks := liveTasks(ap)
	for range oldTasks {
		if _, err := c.launchLocked(ap); err != nil {
			return err
		}
	}
	for _, t := range oldTasks {
		c.killLocked(t)
	}
	return nil
}

// DeleteApp kills an app's tasks and removes it. The app leaves /v2/apps at
// once, as it leaves Marathon's root group when the deployment starts; its
// tasks stay in the Mesos view as TASK_KILLING for the kill grace period.
func (c *Cluster) DeleteApp(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ap, ok := c.appByID[id]
	if !ok {
		return fmt.Errorf("app %s: %w", id, ErrNotFound)
	}
	for _, t := range liveTasks(ap) {
		c.killLocked(t)
	}
	c.apps = slices.DeleteFunc(c.apps, func(x *app) bool { return x == ap })
	delete(c.appByID, id)
	for _, p := range appServicePorts(&ap.def) {
		delete(c.servicePortsUsed, p)
	}
	c.changed()
	c.marathonEvents.publish(marathon.Event{Type: "app_terminated_event", AppTerminated: &marathon.AppTerminated{
		AppID: id, Timestamp: isoTime(c.cfg.Now()),
	}})
	return nil
}

// App returns one app with its tasks.
func (c *Cluster) App(id string) (cluster.App, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ap, ok := c.appByID[id]
	if !ok {
		return cluster.App{}, false
	}
	a := ap.def
	a.Tasks = make([]cluster.AppTask, len(ap.tasks))
	for i, t := range ap.tasks {
		a.Tasks[i] = t.marathon
	}
	return a, true
}

// publishDeploymentStartLocked emits what Marathon emits when an API call
// changes an app: api_post_event, group_change_success and deployment_info
// for a one-step plan. It returns the deployment to end.
func (c *Cluster) publishDeploymentStartLocked(ap *app, uri, action string) *marathon.Deployment {
	if !c.marathonEvents.active() {
		return nil
	}
	now := isoTime(c.cfg.Now())
	step := []marathon.DeploymentAction{{Action: action, App: ap.def.ID}}
	d := &marathon.Deployment{
		ID:          c.uuid(),
		Plan:        marathon.DeploymentPlan{ID: c.uuid(), Version: ap.def.Version, Steps: [][]marathon.DeploymentAction{step}},
		CurrentStep: step,
		Timestamp:   now,
	}
	d.Plan.ID = d.ID
	info := *d
	c.marathonEvents.publish(
		marathon.Event{Type: marathon.EventAPIPost, APIPost: &marathon.APIPost{ClientIP: "127.0.0.1", URI: uri, App: ap.def, Timestamp: now}},
		marathon.Event{Type: "group_change_success", Raw: groupChange(ap.def, now)},
		marathon.Event{Type: marathon.EventDeploymentInfo, Deployment: &info},
	)
	return d
}

// publishDeploymentEndLocked emits deployment_step_success and
// deployment_success once the tasks have changed.
func (c *Cluster) publishDeploymentEndLocked(d *marathon.Deployment) {
	if d == nil || !c.marathonEvents.active() {
		return
	}
	d.Timestamp = isoTime(c.cfg.Now())
	step, done := *d, *d
	c.marathonEvents.publish(
		marathon.Event{Type: marathon.EventDeploymentStepSuccess, Deployment: &step},
		marathon.Event{Type: marathon.EventDeploymentSuccess, Deployment: &done},
	)
}

func groupChange(a cluster.App, now string) []byte {
	group := a.ID[:strings.LastIndexByte(a.ID, '/')+1]
	if len(group) > 1 {
		group = strings.TrimSuffix(group, "/")
	}
	return fmt.Appendf(nil, `{"groupId":%q,"version":%q,"eventType":"group_change_success","timestamp":%q}`, group, a.Version, now)
}

// SetLeader makes master idx lead; -1 leaves the cluster without a leader.
func (c *Cluster) SetLeader(idx int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if idx < -1 || idx >= len(c.cfg.Masters) {
		return fmt.Errorf("no master %d (have %d)", idx, len(c.cfg.Masters))
	}
	if c.leader != idx {
		c.leader = idx
		close(c.leaderChanged)
		c.leaderChanged = make(chan struct{})
	}
	c.changed()
	return nil
}
