package sim

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/sim/taskrun"
	"github.com/signpost-dns/signpost/internal/wire/marathon"
	"github.com/signpost-dns/signpost/internal/wire/operator"
)

// networking is how an app's tasks are reached.
type networking int

const (
	hostNet networking = iota
	bridgeNet
	containerNet
)

func appNetworking(a *cluster.App) networking {
	if a.IPAddress != nil {
		return containerNet
	}
	if a.Container != nil && a.Container.Docker != nil {
		switch a.Container.Docker.Network {
		case "BRIDGE":
			return bridgeNet
		case "USER":
			return containerNet
		}
	}
	for _, n := range a.Networks {
		switch n.Mode {
		case "container/bridge":
			return bridgeNet
		case "container", "":
			return containerNet
		}
	}
	return hostNet
}

func portMappings(a *cluster.App) []cluster.AppPortMapping {
	if a.Container == nil {
		return nil
	}
	if len(a.Container.PortMappings) > 0 {
		return a.Container.PortMappings
	}
	if a.Container.Docker != nil {
		return a.Container.Docker.PortMappings
	}
	return nil
}

// mesosHealthChecked reports whether Mesos itself runs a check for the app,
// and so reports `healthy` in task statuses; Marathon-side HTTP/TCP checks are
// invisible to Mesos, as in the real systems.
func mesosHealthChecked(a *cluster.App) bool {
	for _, h := range a.HealthChecks {
		if strings.HasPrefix(h.Protocol, "MESOS_") || h.Protocol == "COMMAND" {
			return true
		}
	}
	return false
}

// taskName is Marathon's PathId.toHostname: "/prod/api" → "api.prod".
func taskName(appID string) string {
	parts := strings.Split(strings.Trim(appID, "/"), "/")
	slices.Reverse(parts)
	return strings.Join(parts, ".")
}

// taskIDPrefix is how Marathon starts a task id: "/prod/api" → "prod_api".
func taskIDPrefix(appID string) string {
	return strings.ReplaceAll(strings.Trim(appID, "/"), "/", "_")
}

func (c *Cluster) containerIPLocked() string {
	n := c.nextContainerIP
	c.nextContainerIP++
	if n%256 == 0 || n%256 == 255 {
		n = c.nextContainerIP
		c.nextContainerIP++
	}
	return fmt.Sprintf("127.%d.%d.%d", 64+n>>16&0x3f, n>>8&0xff, n&0xff)
}

// launchLocked starts one task of ap and walks it to TASK_RUNNING (and
// healthy, when the app has checks), emitting every event on the way.
func (c *Cluster) launchLocked(ap *app) (*task, error) {
	def := &ap.def
	mode := appNetworking(def)
	ag, err := c.placeLocked(fixedHostPorts(def, mode))
	if err != nil {
		return nil, err
	}
	id := taskIDPrefix(def.ID) + "." + c.uuid()
	now := c.cfg.Now()

	var hostPorts, containerPorts []int
	var discoveryPorts []cluster.DiscoveryPort
	var dockerMappings []cluster.PortMapping
	fail := func(err error) (*task, error) {
		for _, p := range hostPorts {
			delete(ag.used, p)
		}
		return nil, err
	}
	switch mode {
	case hostNet:
		for _, pd := range def.PortDefinitions {
			p := 0
			if def.RequirePorts && pd.Port != 0 {
				if ag.used[pd.Port] {
					return fail(fmt.Errorf("app %s: port %d in use on agent %s", def.ID, pd.Port, ag.info.ID))
				}
				p = pd.Port
				ag.used[p] = true
			} else if p, err = ag.allocPort(); err != nil {
				return fail(err)
			}
			hostPorts = append(hostPorts, p)
			containerPorts = append(containerPorts, p)
			discoveryPorts = append(discoveryPorts, discoveryPort(p, pd.Name, pd.Protocol, pd.Labels, "host", ""))
		}
	default:
		for _, pm := range portMappings(def) {
			hp := 0
			if pm.HostPort != nil || mode == bridgeNet {
				if pm.HostPort != nil && *pm.HostPort != 0 {
					hp = *pm.HostPort
					if ag.used[hp] {
						return fail(fmt.Errorf("app %s: port %d in use on agent %s", def.ID, hp, ag.info.ID))
					}
					ag.used[hp] = true
				} else if hp, err = ag.allocPort(); err != nil {
					return fail(err)
				}
				hostPorts = append(hostPorts, hp)
			}
			cp := pm.ContainerPort
			if cp == 0 {
				cp = hp
			}
			containerPorts = append(containerPorts, cp)
			if hp != 0 {
				dockerMappings = append(dockerMappings, cluster.PortMapping{HostPort: hp, ContainerPort: cp, Protocol: protoOr(pm.Protocol)})
				discoveryPorts = append(discoveryPorts, discoveryPort(hp, pm.Name, pm.Protocol, pm.Labels, "host", ""))
			} else {
				discoveryPorts = append(discoveryPorts, discoveryPort(cp, pm.Name, pm.Protocol, pm.Labels, "container", networkName(def)))
			}
		}
		if def.IPAddress != nil && len(portMappings(def)) == 0 {
			for _, dp := range def.IPAddress.DiscoveryPorts {
				containerPorts = append(containerPorts, dp.Number)
				discoveryPorts = append(discoveryPorts, discoveryPort(dp.Number, dp.Name, dp.Protocol, dp.Labels, "container", def.IPAddress.NetworkName))
			}
		}
	}

	taskIP := ag.ip
	if mode != hostNet {
		taskIP = c.containerIPLocked()
	}

	servicePorts := appServicePorts(def)
	mt := cluster.Task{
		ID:          id,
		Name:        taskName(def.ID),
		FrameworkID: c.marathonFW.info.ID,
		AgentID:     ag.info.ID,
		ExecutorID:  "",
		State:       cluster.TaskStaging,
		Role:        "*",
		Ports:       portRanges(hostPorts),
		Labels:      labelList(def.Labels),
		Discovery: &cluster.DiscoveryInfo{
			Visibility: "FRAMEWORK",
			Name:       taskName(def.ID),
			Ports:      discoveryPorts,
		},
		HasHealthCheck: mesosHealthChecked(def),
	}
	switch mode {
	case bridgeNet:
		mt.Container = &cluster.ContainerInfo{Type: "DOCKER", Docker: &cluster.DockerInfo{Image: dockerImage(def), Network: "BRIDGE", PortMappings: dockerMappings}}
	case containerNet:
		mt.Container = &cluster.ContainerInfo{Type: "MESOS", NetworkInfos: []cluster.NetworkInfo{{Name: networkName(def)}}}
	}
	at := cluster.AppTask{
		ID:           id,
		AppID:        def.ID,
		Host:         ag.info.Hostname,
		SlaveID:      ag.info.ID,
		State:        cluster.TaskStaging,
		Ports:        hostPorts,
		ServicePorts: servicePorts,
		StagedAt:     isoTime(now),
		Version:      def.Version,
	}
	if mode != hostNet {
		at.IPAddresses = []cluster.IPAddress{{IP: taskIP, Protocol: "IPv4"}}
	} else {
		at.IPAddresses = []cluster.IPAddress{{IP: ag.ip, Protocol: "IPv4"}}
	}
	t := &task{mesos: mt, marathon: at, app: ap, fw: c.marathonFW, agent: ag}
	if c.cfg.Runner != nil {
		t.listen = listenSpecs(t, mode, taskIP, hostPorts, containerPorts, c.taskKind(def))
	}

	c.tasks[id] = t
	ap.tasks = append(ap.tasks, t)
	c.marathonFW.tasks = append(c.marathonFW.tasks, t)
	c.changed()
	if c.mesosEvents.active() {
		added := t.mesos
		c.mesosEvents.publish(operator.Event{Type: operator.TypeTaskAdded, TaskAdded: &added})
	}
	c.marathonEvents.publish(c.instanceChanged(t, "Staging"))

	c.transitionLocked(t, cluster.TaskStarting, "")
	for _, s := range t.listen {
		if err := c.cfg.Runner.Start(s); err != nil {
			c.transitionLocked(t, cluster.TaskFailed, err.Error())
			c.removeTaskLocked(t)
			return nil, fmt.Errorf("task %s: %w", id, err)
		}
	}
	c.transitionLocked(t, cluster.TaskRunning, "")
	if len(def.HealthChecks) > 0 {
		c.setHealthLocked(t, true, "")
	}
	return t, nil
}

// fixedHostPorts are the host ports an app's tasks must have exactly
// (requirePorts, or a fixed hostPort in a mapping): a task can only go to an
// agent where they are free, which matters while an old task of the same app
// still holds them in its kill grace period.
func fixedHostPorts(def *cluster.App, mode networking) []int {
	var out []int
	if mode == hostNet {
		if def.RequirePorts {
			for _, pd := range def.PortDefinitions {
				if pd.Port != 0 {
					out = append(out, pd.Port)
				}
			}
		}
		return out
	}
	for _, pm := range portMappings(def) {
		if pm.HostPort != nil && *pm.HostPort != 0 {
			out = append(out, *pm.HostPort)
		}
	}
	return out
}

func listenSpecs(t *task, mode networking, taskIP string, hostPorts, containerPorts []int, kind taskrun.Kind) []taskrun.Spec {
	spec := taskrun.Spec{TaskID: t.mesos.ID, AppID: t.marathon.AppID, Kind: kind, IP: t.agent.ip, Ports: hostPorts}
	if mode != hostNet {
		// The task's own address answers on its container ports, as a
		// container on an overlay or bridge network would.
		var ports []int
		for _, p := range containerPorts {
			if p != 0 {
				ports = append(ports, p)
			}
		}
		if len(hostPorts) == 0 {
			spec.IP, spec.Ports = taskIP, ports
		} else if len(ports) > 0 {
			spec.AlsoIP, spec.AlsoPorts = taskIP, ports
		}
	}
	return []taskrun.Spec{spec}
}

// taskKind lets an app choose what its real tasks serve with the label
// SIGNPOST_SIM_KIND ("tcp" or "http"); the simulator's default otherwise.
func (c *Cluster) taskKind(a *cluster.App) taskrun.Kind {
	switch a.Labels["SIGNPOST_SIM_KIND"] {
	case "tcp", "tcp-echo":
		return taskrun.TCPEcho
	case "http":
		return taskrun.HTTP
	}
	return c.cfg.TaskKind
}

func protoOr(p string) string {
	if p == "" {
		return "tcp"
	}
	return p
}

func networkName(a *cluster.App) string {
	if a.IPAddress != nil {
		return a.IPAddress.NetworkName
	}
	for _, n := range a.Networks {
		if n.Name != "" {
			return n.Name
		}
	}
	if a.Container != nil && a.Container.Docker != nil && a.Container.Docker.Network == "BRIDGE" {
		return "mesos-bridge"
	}
	return "dcos"
}

func dockerImage(a *cluster.App) string {
	if a.Container != nil && a.Container.Docker != nil {
		return a.Container.Docker.Image
	}
	return ""
}

func discoveryPort(number int, name, protocol string, labels map[string]string, scope, network string) cluster.DiscoveryPort {
	p := cluster.DiscoveryPort{Number: number, Name: name, Protocol: protoOr(protocol)}
	for _, k := range sortedKeys(labels) {
		p.Labels = append(p.Labels, cluster.Label{Key: k, Value: labels[k]})
	}
	p.Labels = append(p.Labels, cluster.Label{Key: "network-scope", Value: scope})
	if network != "" {
		p.Labels = append(p.Labels, cluster.Label{Key: "network-name", Value: network})
	}
	return p
}

func portRanges(ports []int) []cluster.PortRange {
	if len(ports) == 0 {
		return nil
	}
	sorted := slices.Sorted(slices.Values(ports))
	out := make([]cluster.PortRange, 0, len(sorted))
	for _, p := range sorted {
		out = append(out, cluster.PortRange{Begin: p, End: p})
	}
	return out
}

func labelList(m map[string]string) []cluster.Label {
	if len(m) == 0 {
		return nil
	}
	out := make([]cluster.Label, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, cluster.Label{Key: k, Value: m[k]})
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sortTasks(ts []*task) {
	slices.SortFunc(ts, func(a, b *task) int { return strings.Compare(a.mesos.ID, b.mesos.ID) })
}

// nextTimestamp is the clock in epoch seconds, forced to move forward so that
// a task's statuses never tie (consumers pick the newest by timestamp).
func (c *Cluster) nextTimestamp() float64 {
	ts := epoch(c.cfg.Now())
	if ts <= c.lastTimestamp {
		ts = c.lastTimestamp + 1e-6
	}
	c.lastTimestamp = ts
	return ts
}

// transitionLocked moves t to state with a new status, and emits the Mesos
// TASK_UPDATED and Marathon status_update/instance_changed events.
func (c *Cluster) transitionLocked(t *task, state cluster.TaskState, message string) {
	status := cluster.TaskStatus{
		State:     state,
		Timestamp: c.nextTimestamp(),
		Message:   message,
		Source:    "SOURCE_EXECUTOR",
	}
	if state == cluster.TaskLost {
		status.Source = "SOURCE_MASTER"
		status.Reason = "REASON_AGENT_REMOVED"
	}
	if state == cluster.TaskRunning {
		status.ContainerID = c.uuid()
		ip := t.agent.ip
		if len(t.marathon.IPAddresses) > 0 {
			ip = t.marathon.IPAddresses[0].IP
		}
		ni := cluster.NetworkInfo{IPAddresses: []cluster.IPAddress{{IP: ip, Protocol: "IPv4"}}}
		if t.mesos.Container != nil {
			if d := t.mesos.Container.Docker; d != nil {
				status.Labels = []cluster.Label{{Key: "Docker.NetworkSettings.IPAddress", Value: ip}}
				ni.PortMappings = d.PortMappings
			}
			if len(t.mesos.Container.NetworkInfos) > 0 {
				ni.Name = t.mesos.Container.NetworkInfos[0].Name
			}
		}
		status.NetworkInfos = []cluster.NetworkInfo{ni}
	} else if prev := t.mesos.LatestStatus(""); prev != nil && !state.Terminal() {
		status.NetworkInfos = prev.NetworkInfos
		status.ContainerID = prev.ContainerID
	}
	if t.mesos.HasHealthCheck && state == cluster.TaskRunning {
		// Mesos reports health only once a check has run.
	} else if t.mesos.HasHealthCheck {
		if prev := t.mesos.LatestStatus(""); prev != nil && prev.Healthy != nil && !state.Terminal() {
			h := *prev.Healthy
			status.Healthy = &h
		}
	}
	t.mesos.State = state
	t.mesos.Statuses = append(slices.Clip(t.mesos.Statuses), status)
	t.marathon.State = state
	if state == cluster.TaskRunning && t.marathon.StartedAt == "" {
		t.marathon.StartedAt = isoTime(c.cfg.Now())
	}
	c.changed()
	c.publishStatusLocked(t, status)
}

func (c *Cluster) publishStatusLocked(t *task, status cluster.TaskStatus) {
	if c.mesosEvents.active() {
		c.mesosEvents.publish(operator.Event{Type: operator.TypeTaskUpdated, TaskUpdated: &operator.TaskUpdated{
			FrameworkID: t.mesos.FrameworkID,
			TaskID:      t.mesos.ID,
			AgentID:     t.mesos.AgentID,
			State:       t.mesos.State,
			Status:      status,
		}})
	}
	if t.app == nil || !c.marathonEvents.active() {
		return
	}
	ts := isoTime(c.cfg.Now())
	c.marathonEvents.publish(
		marathon.Event{Type: "status_update_event", StatusUpdate: &marathon.StatusUpdate{
			SlaveID:     t.marathon.SlaveID,
			TaskID:      t.marathon.ID,
			TaskStatus:  status.State,
			Message:     status.Message,
			AppID:       t.marathon.AppID,
			Host:        t.marathon.Host,
			IPAddresses: t.marathon.IPAddresses,
			Ports:       t.marathon.Ports,
			Version:     t.marathon.Version,
			Timestamp:   ts,
		}},
		c.instanceChanged(t, condition(status.State)),
	)
}

func condition(s cluster.TaskState) string {
	switch s {
	case cluster.TaskStaging:
		return "Staging"
	case cluster.TaskStarting:
		return "Starting"
	case cluster.TaskRunning:
		return "Running"
	case cluster.TaskKilling:
		return "Killing"
	case cluster.TaskKilled:
		return "Killed"
	case cluster.TaskFailed:
		return "Failed"
	case cluster.TaskFinished:
		return "Finished"
	case cluster.TaskError:
		return "Error"
	case cluster.TaskLost, cluster.TaskUnreachable:
		return "Unreachable"
	case cluster.TaskGone, cluster.TaskGoneByOperator:
		return "Gone"
	case cluster.TaskDropped:
		return "Dropped"
	}
	return "Unknown"
}

func (c *Cluster) instanceChanged(t *task, cond string) marathon.Event {
	return marathon.Event{Type: "instance_changed_event", InstanceChanged: &marathon.InstanceChanged{
		InstanceID:     instanceID(t.marathon.ID),
		Condition:      cond,
		RunSpecID:      t.marathon.AppID,
		AgentID:        t.marathon.SlaveID,
		Host:           t.marathon.Host,
		RunSpecVersion: t.marathon.Version,
		Timestamp:      isoTime(c.cfg.Now()),
	}}
}

// instanceID is Marathon's instance id for a task id in the classic form
// "<app>.<uuid>" → "<app>.marathon-<uuid>".
func instanceID(taskID string) string {
	if i := strings.LastIndexByte(taskID, '.'); i >= 0 {
		return taskID[:i] + ".marathon-" + taskID[i+1:]
	}
	return taskID
}

// setHealthLocked records a health result for a running task in both views.
func (c *Cluster) setHealthLocked(t *task, healthy bool, cause string) {
	now := isoTime(c.cfg.Now())
	prev := t.marathon.HealthCheckResults
	r := cluster.HealthCheckResult{Alive: healthy, InstanceID: instanceID(t.marathon.ID)}
	if len(prev) > 0 {
		r = prev[0]
	}
	r.Alive = healthy
	if healthy {
		if r.FirstSuccess == "" {
			r.FirstSuccess = now
		}
		r.LastSuccess = now
		r.ConsecutiveFailures = 0
	} else {
		r.LastFailure = now
		r.LastFailureCause = cause
		r.ConsecutiveFailures++
	}
	checks := 1
	if t.app != nil && len(t.app.def.HealthChecks) > 0 {
		checks = len(t.app.def.HealthChecks)
	}
	results := make([]cluster.HealthCheckResult, checks)
	for i := range results {
		results[i] = r
	}
	t.marathon.HealthCheckResults = results

	if c.cfg.Runner != nil {
		c.cfg.Runner.SetHealthy(t.mesos.ID, healthy)
	}
	if t.mesos.HasHealthCheck {
		status := cluster.TaskStatus{
			State:     cluster.TaskRunning,
			Timestamp: c.nextTimestamp(),
			Healthy:   &healthy,
			Source:    "SOURCE_EXECUTOR",
			Reason:    "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED",
		}
		if prev := t.mesos.LatestStatus(cluster.TaskRunning); prev != nil {
			status.NetworkInfos = prev.NetworkInfos
			status.ContainerID = prev.ContainerID
			status.Labels = prev.Labels
		}
		t.mesos.Statuses = append(slices.Clip(t.mesos.Statuses), status)
		if c.mesosEvents.active() {
			c.mesosEvents.publish(operator.Event{Type: operator.TypeTaskUpdated, TaskUpdated: &operator.TaskUpdated{
				FrameworkID: t.mesos.FrameworkID, TaskID: t.mesos.ID, AgentID: t.mesos.AgentID,
				State: t.mesos.State, Status: status,
			}})
		}
	}
	c.changed()
	if t.app == nil || !c.marathonEvents.active() {
		return
	}
	var events []marathon.Event
	if !healthy {
		events = append(events, marathon.Event{Type: "failed_health_check_event", FailedHealthCheck: &marathon.FailedHealthCheck{
			AppID: t.marathon.AppID, TaskID: instanceID(t.marathon.ID), Timestamp: now,
		}})
	}
	h := healthy
	events = append(events,
		marathon.Event{Type: "health_status_changed_event", HealthStatusChanged: &marathon.HealthStatusChanged{
			AppID: t.marathon.AppID, InstanceID: instanceID(t.marathon.ID), Version: t.marathon.Version, Alive: healthy, Timestamp: now,
		}},
		marathon.Event{Type: "instance_health_changed_event", InstanceHealthChanged: &marathon.InstanceHealthChanged{
			InstanceID: instanceID(t.marathon.ID), RunSpecID: t.marathon.AppID, Healthy: &h, RunSpecVersion: t.marathon.Version, Timestamp: now,
		}},
	)
	c.marathonEvents.publish(events...)
}

// SetHealth passes or fails every health check of a task, as if its checks
// had just run. It works for Marathon apps and for tasks loaded from a state.
func (c *Cluster) SetHealth(taskID string, healthy bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.tasks[taskID]
	if !ok {
		return fmt.Errorf("no task %q", taskID)
	}
	if t.mesos.State != cluster.TaskRunning {
		return fmt.Errorf("task %q is %s, not running", taskID, t.mesos.State)
	}
	if t.app != nil && len(t.app.def.HealthChecks) == 0 {
		return fmt.Errorf("app %s has no health checks", t.app.def.ID)
	}
	cause := ""
	if !healthy {
		cause = "simulated failure"
	}
	if t.app == nil {
		t.mesos.HasHealthCheck = true
	}
	c.setHealthLocked(t, healthy, cause)
	return nil
}

// removeTaskLocked forgets a task that reached a terminal state.
func (c *Cluster) removeTaskLocked(t *task) {
	c.stopKillTimerLocked(t)
	delete(c.tasks, t.mesos.ID)
	for _, p := range t.marathon.Ports {
		delete(t.agent.used, p)
	}
	if t.app != nil {
		t.app.tasks = slices.DeleteFunc(t.app.tasks, func(x *task) bool { return x == t })
	}
	t.fw.tasks = slices.DeleteFunc(t.fw.tasks, func(x *task) bool { return x == t })
	if c.cfg.Runner != nil {
		_ = c.cfg.Runner.Stop(t.mesos.ID, 0)
	}
	c.changed()
}

// killing reports whether t has been killed and is in its grace period.
func (t *task) killing() bool { return t.mesos.State == cluster.TaskKilling }

// killLocked kills a task the way Mesos does: TASK_KILLING now (the SIGTERM),
// and TASK_KILLED with the task removed and its process stopped once the
// grace period has passed (the SIGKILL). Until then the task is listed as
// TASK_KILLING in both views and its real process keeps serving. With no
// grace, or once the cluster is closed, both steps happen at once. Killing a
// task that is already TASK_KILLING changes nothing, as a second SIGTERM
// would not.
func (c *Cluster) killLocked(t *task) {
	if t.killing() {
		return
	}
	c.transitionLocked(t, cluster.TaskKilling, "")
	if c.cfg.KillGrace <= 0 || c.closed {
		c.transitionLocked(t, cluster.TaskKilled, "")
		c.removeTaskLocked(t)
		return
	}
	c.graceTimers.Add(1)
	t.killTimer = time.AfterFunc(c.cfg.KillGrace, func() { c.graceOver(t) })
}

// graceOver ends a task's grace period: TASK_KILLED, removed, stopped. It
// runs on the timer's goroutine and does nothing if the task went another
// way meanwhile (its agent was lost) or the cluster was closed.
func (c *Cluster) graceOver(t *task) {
	defer c.graceTimers.Done()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || t.killTimer == nil {
		return
	}
	t.killTimer = nil
	c.transitionLocked(t, cluster.TaskKilled, "")
	c.removeTaskLocked(t)
}

// stopKillTimerLocked cancels t's grace timer, if any. A timer that has
// already fired cannot be stopped; its graceOver finds killTimer nil and
// leaves the task alone.
func (c *Cluster) stopKillTimerLocked(t *task) {
	if t.killTimer == nil {
		return
	}
	if t.killTimer.Stop() {
		c.graceTimers.Done()
	}
	t.killTimer = nil
}

// KillTask kills a task. Marathon then starts a replacement unless scale is
// true, in which case the app's instance count drops by one (as with
// DELETE /v2/apps/{app}/tasks/{task}?scale=true). The replacement starts at
// once, while the killed task is still in its grace period. Killing a task
// that is already TASK_KILLING does nothing: that kill has already decided
// whether the app is replaced or scaled.
func (c *Cluster) KillTask(taskID string, scale bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.tasks[taskID]
	if !ok {
		return fmt.Errorf("no task %q", taskID)
	}
	if t.killing() {
		return nil
	}
	c.killLocked(t)
	if t.app == nil || c.appByID[t.app.def.ID] != t.app {
		return nil
	}
	if scale {
		t.app.def.Instances--
		c.changed()
		return nil
	}
	_, err := c.launchLocked(t.app)
	return err
}
