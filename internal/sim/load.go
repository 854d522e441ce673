package sim

import (
	"fmt"
	"net/netip"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// LoadMesosState replaces the cluster's agents and frameworks with those of a
// captured state, kept exactly as captured. Only the master's own identity
// (pid, hostname, leader) becomes the simulated masters', so that clients
// which follow the `leader` field stay on this machine. Tasks loaded this way
// belong to no Marathon app; the control API can still fail their health or
// kill them. A framework named "marathon" becomes the one new apps run under.
func (c *Cluster) LoadMesosState(st *cluster.MesosState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.Version != "" {
		c.cfg.MesosVersion = st.Version
	}
	if st.ID != "" {
		c.masterID = st.ID
	}
	c.startTime = st.StartTime
	c.clusterName = st.Cluster
	c.agents = nil
	c.agentByID = make(map[string]*agent)
	for _, a := range st.Agents {
		c.addLoadedAgentLocked(a)
	}
	c.nextAgentIdx = len(c.agents)
	c.frameworks = nil
	c.marathonFW = nil
	for _, f := range st.Frameworks {
		fw := &framework{info: f}
		fw.info.Tasks = nil
		for _, t := range f.Tasks {
			lt := &task{mesos: t, fw: fw, agent: c.agentByID[t.AgentID]}
			if lt.agent == nil {
				// A task on an agent the state does not list: give it a
				// placeholder so that lookups never fail.
				lt.agent = &agent{info: cluster.Agent{ID: t.AgentID}, used: map[int]bool{}}
			}
			c.tasks[t.ID] = lt
			fw.tasks = append(fw.tasks, lt)
		}
		c.frameworks = append(c.frameworks, fw)
		if f.Name == "marathon" && c.marathonFW == nil {
			c.marathonFW = fw
		}
	}
	if c.marathonFW == nil {
		c.marathonFW = &framework{info: cluster.Framework{ID: c.masterID + "-0000", Name: "marathon", Active: true, Role: "*"}}
		c.frameworks = append(c.frameworks, c.marathonFW)
	}
	c.changed()
}

// LoadMarathonState adds the apps of a captured /v2/apps document with their
// tasks as captured (ids, hosts, ports), and derives the Mesos view from
// them: one agent per task host, one Mesos task per Marathon task.
func (c *Cluster) LoadMarathonState(st *cluster.MarathonState) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range st.Apps {
		def := a
		def.Tasks = nil
		id, err := ValidateAppID(def.ID)
		if err != nil {
			return err
		}
		def.ID = id
		if _, ok := c.appByID[id]; ok {
			return fmt.Errorf("app %s: %w", id, ErrConflict)
		}
		for _, p := range appServicePorts(&def) {
			c.servicePortsUsed[p] = true
		}
		ap := &app{def: def}
		c.apps = append(c.apps, ap)
		c.appByID[id] = ap
		for _, at := range a.Tasks {
			c.adoptTaskLocked(ap, at)
		}
	}
	c.changed()
	return nil
}

// adoptTaskLocked makes a captured Marathon task part of the cluster.
func (c *Cluster) adoptTaskLocked(ap *app, at cluster.AppTask) {
	ag := c.agentByID[at.SlaveID]
	if ag == nil {
		ip := at.Host
		if _, err := netip.ParseAddr(ip); err != nil {
			ip = agentIP(c.nextAgentIdx)
		}
		c.nextAgentIdx++
		id := at.SlaveID
		if id == "" {
			id = fmt.Sprintf("%s-S%d", c.masterID, c.nextAgentIdx)
		}
		ag = c.addLoadedAgentLocked(cluster.Agent{
			ID: id, Hostname: at.Host, Port: 5051, PID: "slave(1)@" + ip + ":5051", Active: true,
			Resources: cluster.Resources{CPUs: 8, Mem: 30720, Disk: 100000, Ports: []cluster.PortRange{{Begin: agentPortBegin, End: agentPortEnd}}},
		})
	}
	for _, p := range at.Ports {
		ag.used[p] = true
	}
	def := &ap.def
	state := at.State
	if state == "" {
		state = cluster.TaskRunning
	}
	mt := cluster.Task{
		ID: at.ID, Name: taskName(def.ID), FrameworkID: c.marathonFW.info.ID, AgentID: ag.info.ID,
		State: state, Role: "*", Ports: portRanges(at.Ports), Labels: labelList(def.Labels),
		Discovery:      &cluster.DiscoveryInfo{Visibility: "FRAMEWORK", Name: taskName(def.ID)},
		HasHealthCheck: mesosHealthChecked(def),
	}
	for i, p := range at.Ports {
		name, proto := "", "tcp"
		if i < len(def.PortDefinitions) {
			name, proto = def.PortDefinitions[i].Name, protoOr(def.PortDefinitions[i].Protocol)
		} else if pms := portMappings(def); i < len(pms) {
			name, proto = pms[i].Name, protoOr(pms[i].Protocol)
		}
		mt.Discovery.Ports = append(mt.Discovery.Ports, discoveryPort(p, name, proto, nil, "host", ""))
	}
	ip := ag.ip
	if len(at.IPAddresses) > 0 {
		ip = at.IPAddresses[0].IP
	}
	status := cluster.TaskStatus{
		State: state, Timestamp: c.nextTimestamp(), Source: "SOURCE_EXECUTOR",
		NetworkInfos: []cluster.NetworkInfo{{IPAddresses: []cluster.IPAddress{{IP: ip, Protocol: "IPv4"}}}},
	}
	if len(at.HealthCheckResults) > 0 && mt.HasHealthCheck {
		h := at.HealthCheckResults[0].Alive
		status.Healthy = &h
	}
	mt.Statuses = []cluster.TaskStatus{status}
	t := &task{mesos: mt, marathon: at, app: ap, fw: c.marathonFW, agent: ag}
	if at.AppID == "" {
		t.marathon.AppID = def.ID
	}
	c.tasks[at.ID] = t
	ap.tasks = append(ap.tasks, t)
	c.marathonFW.tasks = append(c.marathonFW.tasks, t)
}

// SyntheticSpec sizes a generated cluster.
type SyntheticSpec struct {
	Agents    int
	Apps      int
	Instances int
}

// BuildSynthetic adds agents and apps of three networking kinds (host ports,
// Docker bridge, IP-per-task), with Marathon-LB labels and, on every second
// app, a Mesos HTTP health check — the mix a real cluster has.
func (c *Cluster) BuildSynthetic(spec SyntheticSpec) error {
	c.AddAgents(spec.Agents)
	for i := range spec.Apps {
		if _, err := c.AddApp(SyntheticApp(i, spec.Instances)); err != nil {
			return err
		}
	}
	return nil
}

// SyntheticApp is the i-th app of a generated cluster.
func SyntheticApp(i, instances int) cluster.App {
	a := cluster.App{
		ID:        fmt.Sprintf("/group-%d/app-%d", i%10, i),
		Instances: instances,
		Cmd:       "signpost-task",
		Labels: map[string]string{
			"HAPROXY_GROUP":   "external",
			"HAPROXY_0_VHOST": fmt.Sprintf("app-%d.example.com", i),
		},
	}
	switch i % 3 {
	case 0:
		a.PortDefinitions = []cluster.PortDefinition{{Port: 0, Protocol: "tcp", Name: "http"}}
	case 1:
		zero := 0
		a.Container = &cluster.AppContainer{Type: "DOCKER", Docker: &cluster.AppDocker{Image: "nginx"},
			PortMappings: []cluster.AppPortMapping{{ContainerPort: 80, HostPort: &zero, Protocol: "tcp", Name: "http"}}}
		a.Networks = []cluster.Network{{Mode: "container/bridge"}}
	case 2:
		a.Container = &cluster.AppContainer{Type: "MESOS",
			PortMappings: []cluster.AppPortMapping{{ContainerPort: 8080, Protocol: "tcp", Name: "http"}}}
		a.Networks = []cluster.Network{{Mode: "container", Name: "dcos"}}
	}
	if i%2 == 0 {
		zero := 0
		a.HealthChecks = []cluster.HealthCheck{{Protocol: "MESOS_HTTP", Path: "/health", PortIndex: &zero,
			GracePeriodSeconds: 300, IntervalSeconds: 60, TimeoutSeconds: 20, MaxConsecutiveFailures: 3}}
	}
	return a
}
