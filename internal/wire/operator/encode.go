package operator

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// The encoder writes JSON by hand rather than through encoding/json: a
// SUBSCRIBED record for 100,000 tasks is over 200 MiB, and reflection plus
// intermediate wire structs made it several times slower and twice as
// memory-hungry. Field order and presence follow the real captures (proto
// field order; optional fields only when set; required ones always, even
// when zero — a discovery port number of 0 is real). The fixture tests check
// that every key written here is one a real master wrote in the same place.

// EncodeEvent renders e as a real master would send it on the SUBSCRIBE
// stream: compact JSON, one record without the RecordIO length (frame it
// with recordio.Writer). Only the payload matching e.Type is used; an event
// of a type this package does not know is written as {"type":…} alone, like
// HEARTBEAT.
//
// What the model does not hold is either left out or made up the way Mesos
// would fill it: statuses get a uuid derived from the task id, state and
// timestamp (stable, so re-encoding gives the same bytes); a task with a
// health check gets an empty "health_check":{}; a task with a role but no
// ports gets a zero "cpus" resource to carry the role; Framework.PID (no v1
// counterpart) and the master-level fields of MesosState are not written.
func EncodeEvent(e Event) ([]byte, error) {
	w := &jsonWriter{}
	switch e.Type {
	case "":
		return nil, errors.New("operator: encode event: empty type")
	case TypeSubscribed:
		if e.Subscribed == nil || e.Subscribed.State == nil {
			return nil, fmt.Errorf("operator: encode %s: no state", e.Type)
		}
		w.b = make([]byte, 0, estimateState(e.Subscribed.State))
	case TypeTaskAdded:
		if e.TaskAdded == nil {
			return nil, fmt.Errorf("operator: encode %s: no task", e.Type)
		}
	case TypeTaskUpdated:
		if e.TaskUpdated == nil {
			return nil, fmt.Errorf("operator: encode %s: no update", e.Type)
		}
	case TypeAgentAdded:
		if e.AgentAdded == nil {
			return nil, fmt.Errorf("operator: encode %s: no agent", e.Type)
		}
	case TypeAgentRemoved:
		if e.AgentRemoved == "" {
			return nil, fmt.Errorf("operator: encode %s: no agent id", e.Type)
		}
	case TypeFrameworkAdded:
		if e.FrameworkAdded == nil {
			return nil, fmt.Errorf("operator: encode %s: no framework", e.Type)
		}
	case TypeFrameworkUpdated:
		if e.FrameworkUpdated == nil {
			return nil, fmt.Errorf("operator: encode %s: no framework", e.Type)
		}
	case TypeFrameworkRemoved:
		if e.FrameworkRemoved == "" {
			return nil, fmt.Errorf("operator: encode %s: no framework id", e.Type)
		}
	}

	w.obj()
	w.strField("type", e.Type)
	switch e.Type {
	case TypeSubscribed:
		w.key("subscribed")
		w.obj()
		w.key("get_state")
		w.getState(e.Subscribed.State)
		if hb := e.Subscribed.HeartbeatIntervalSeconds; hb != 0 {
			w.key("heartbeat_interval_seconds")
			w.float(hb)
		}
		w.end()
	case TypeTaskAdded:
		w.key("task_added")
		w.obj()
		w.key("task")
		w.task(e.TaskAdded, "")
		w.end()
	case TypeTaskUpdated:
		u := e.TaskUpdated
		w.key("task_updated")
		w.obj()
		w.id("framework_id", u.FrameworkID)
		w.key("status")
		w.status(&u.Status, u.TaskID, u.AgentID, u.ExecutorID)
		w.strField("state", string(u.State))
		w.end()
	case TypeAgentAdded:
		w.key("agent_added")
		w.obj()
		w.key("agent")
		w.agent(e.AgentAdded)
		w.end()
	case TypeAgentRemoved:
		w.key("agent_removed")
		w.obj()
		w.id("agent_id", e.AgentRemoved)
		w.end()
	case TypeFrameworkAdded, TypeFrameworkUpdated:
		f := e.FrameworkAdded
		if e.Type == TypeFrameworkUpdated {
			f = e.FrameworkUpdated
		}
		w.key(payloadKey(e.Type))
		w.obj()
		w.key("framework")
		w.framework(f)
		w.end()
	case TypeFrameworkRemoved:
		w.key("framework_removed")
		w.obj()
		w.key("framework_info")
		w.frameworkInfo(&cluster.Framework{ID: e.FrameworkRemoved})
		w.end()
	}
	w.end()
	if w.err != nil {
		return nil, fmt.Errorf("operator: encode %s: %w", e.Type, w.err)
	}
	return w.b, nil
}

// EncodeGetState renders st as the response to a GET_STATE call,
// {"type":"GET_STATE","get_state":{…}}.
func EncodeGetState(st *cluster.MesosState) ([]byte, error) {
	if st == nil {
		return nil, errors.New("operator: encode GET_STATE: nil state")
	}
	w := &jsonWriter{b: make([]byte, 0, estimateState(st))}
	w.obj()
	w.strField("type", "GET_STATE")
	w.key("get_state")
	w.getState(st)
	w.end()
	if w.err != nil {
		return nil, fmt.Errorf("operator: encode GET_STATE: %w", w.err)
	}
	return w.b, nil
}

func payloadKey(typ string) string {
	switch typ {
	case TypeFrameworkAdded:
		return "framework_added"
	case TypeFrameworkUpdated:
		return "framework_updated"
	}
	return ""
}

// estimateState guesses the encoded size so that a big snapshot is built in
// one buffer instead of a dozen doublings of a 200 MiB slice.
func estimateState(st *cluster.MesosState) int {
	n := 256 + 1024*len(st.Agents)
	for i := range st.Frameworks {
		n += 512
		for j := range st.Frameworks[i].Tasks {
			n += 1024 + 640*len(st.Frameworks[i].Tasks[j].Statuses)
		}
	}
	return n
}

func (w *jsonWriter) getState(st *cluster.MesosState) {
	w.obj()

	w.key("get_tasks")
	w.obj()
	hasTasks := false
	for i := range st.Frameworks {
		if len(st.Frameworks[i].Tasks) > 0 {
			hasTasks = true
			break
		}
	}
	if hasTasks {
		w.key("tasks")
		w.arr()
		for i := range st.Frameworks {
			f := &st.Frameworks[i]
			for j := range f.Tasks {
				w.task(&f.Tasks[j], f.ID)
			}
		}
		w.endArr()
	}
	w.end()

	w.key("get_executors")
	w.obj()
	w.end()

	w.key("get_frameworks")
	w.obj()
	if len(st.Frameworks) > 0 {
		w.key("frameworks")
		w.arr()
		for i := range st.Frameworks {
			w.framework(&st.Frameworks[i])
		}
		w.endArr()
	}
	w.end()

	w.key("get_agents")
	w.obj()
	if len(st.Agents) > 0 {
		w.key("agents")
		w.arr()
		for i := range st.Agents {
			w.agent(&st.Agents[i])
		}
		w.endArr()
	}
	w.end()

	w.end()
}

// task writes a Task; frameworkID stands in for an empty t.FrameworkID when
// the task is written under its framework.
func (w *jsonWriter) task(t *cluster.Task, frameworkID string) {
	fid := t.FrameworkID
	if fid == "" {
		fid = frameworkID
	}
	w.obj()
	w.strField("name", t.Name)
	w.id("task_id", t.ID)
	w.id("framework_id", fid)
	w.optID("executor_id", t.ExecutorID)
	w.id("agent_id", t.AgentID)
	w.strField("state", string(t.State))
	w.taskResources(t)
	if len(t.Statuses) > 0 {
		w.key("statuses")
		w.arr()
		for i := range t.Statuses {
			w.status(&t.Statuses[i], t.ID, t.AgentID, t.ExecutorID)
		}
		w.endArr()
	}
	w.labels("labels", t.Labels)
	w.discovery(t.Discovery)
	w.container(t.Container)
	if t.HasHealthCheck {
		w.key("health_check")
		w.obj()
		w.end()
	}
	w.end()
}

// taskResources writes the task's ports, allocated to its role as Mesos ≥1.5
// does. The model keeps no cpus or mem for tasks; a task with a role but no
// ports gets a zero cpus resource so that the role is not lost.
func (w *jsonWriter) taskResources(t *cluster.Task) {
	if len(t.Ports) == 0 && t.Role == "" {
		return
	}
	w.key("resources")
	w.arr()
	w.obj()
	if len(t.Ports) > 0 {
		w.strField("name", "ports")
		w.strField("type", "RANGES")
		w.ranges(t.Ports)
	} else {
		w.strField("name", "cpus")
		w.strField("type", "SCALAR")
		w.scalar(0)
	}
	if t.Role != "" {
		w.key("allocation_info")
		w.obj()
		w.strField("role", t.Role)
		w.end()
	}
	w.end()
	w.endArr()
}

func (w *jsonWriter) ranges(ps []cluster.PortRange) {
	w.key("ranges")
	w.obj()
	w.key("range")
	w.arr()
	for _, p := range ps {
		w.obj()
		w.key("begin")
		w.int(p.Begin)
		w.key("end")
		w.int(p.End)
		w.end()
	}
	w.endArr()
	w.end()
}

func (w *jsonWriter) scalar(v float64) {
	w.key("scalar")
	w.obj()
	w.key("value")
	w.float(v)
	w.end()
}

// status writes a TaskStatus with the ids Mesos repeats in every status.
func (w *jsonWriter) status(s *cluster.TaskStatus, taskID, agentID, executorID string) {
	w.obj()
	w.id("task_id", taskID)
	w.strField("state", string(s.State))
	w.optStr("message", s.Message)
	w.optStr("source", s.Source)
	w.optStr("reason", s.Reason)
	w.optID("agent_id", agentID)
	w.optID("executor_id", executorID)
	w.key("timestamp")
	w.float(s.Timestamp)
	w.key("uuid")
	w.b = appendStatusUUID(append(w.b, '"'), taskID, s)
	w.b = append(w.b, '"')
	if s.Healthy != nil {
		w.key("healthy")
		w.bool(*s.Healthy)
	}
	w.labels("labels", s.Labels)
	if s.ContainerID != "" || len(s.NetworkInfos) > 0 {
		w.key("container_status")
		w.obj()
		w.optID("container_id", s.ContainerID)
		w.networkInfos(s.NetworkInfos)
		w.end()
	}
	w.end()
}

// appendStatusUUID appends the base64 16-byte uuid every real status
// carries. The model has none to give, so it is derived from what identifies
// the update.
func appendStatusUUID(b []byte, taskID string, s *cluster.TaskStatus) []byte {
	h := fnv.New128a()
	h.Write([]byte(taskID))
	h.Write([]byte{0})
	h.Write([]byte(s.State))
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], math.Float64bits(s.Timestamp))
	h.Write(ts[:])
	var sum [16]byte
	return base64.StdEncoding.AppendEncode(b, h.Sum(sum[:0]))
}

// labels writes a v1 Labels message, {"labels":[…]}, when there are any.
func (w *jsonWriter) labels(key string, ls []cluster.Label) {
	if len(ls) == 0 {
		return
	}
	w.key(key)
	w.obj()
	w.key("labels")
	w.arr()
	for _, l := range ls {
		w.obj()
		w.strField("key", l.Key)
		w.strField("value", l.Value)
		w.end()
	}
	w.endArr()
	w.end()
}

func (w *jsonWriter) portMappings(ps []cluster.PortMapping) {
	if len(ps) == 0 {
		return
	}
	w.key("port_mappings")
	w.arr()
	for _, p := range ps {
		w.obj()
		w.key("host_port")
		w.int(p.HostPort)
		w.key("container_port")
		w.int(p.ContainerPort)
		w.optStr("protocol", p.Protocol)
		w.end()
	}
	w.endArr()
}

func (w *jsonWriter) networkInfos(ns []cluster.NetworkInfo) {
	if len(ns) == 0 {
		return
	}
	w.key("network_infos")
	w.arr()
	for i := range ns {
		n := &ns[i]
		w.obj()
		if len(n.IPAddresses) > 0 {
			w.key("ip_addresses")
			w.arr()
			for _, ip := range n.IPAddresses {
				w.obj()
				w.optStr("protocol", ip.Protocol)
				w.optStr("ip_address", ip.IP)
				w.end()
			}
			w.endArr()
		}
		w.optStr("name", n.Name)
		if len(n.Groups) > 0 {
			w.key("groups")
			w.arr()
			for _, g := range n.Groups {
				w.str(g)
			}
			w.endArr()
		}
		w.labels("labels", n.Labels)
		w.portMappings(n.PortMappings)
		w.end()
	}
	w.endArr()
}

func (w *jsonWriter) discovery(d *cluster.DiscoveryInfo) {
	if d == nil {
		return
	}
	w.key("discovery")
	w.obj()
	w.optStr("visibility", d.Visibility)
	w.optStr("name", d.Name)
	w.optStr("environment", d.Environment)
	w.optStr("location", d.Location)
	w.optStr("version", d.Version)
	if len(d.Ports) > 0 {
		w.key("ports")
		w.obj()
		w.key("ports")
		w.arr()
		for i := range d.Ports {
			p := &d.Ports[i]
			w.obj()
			w.key("number")
			w.int(p.Number)
			w.optStr("name", p.Name)
			w.optStr("protocol", p.Protocol)
			w.optStr("visibility", p.Visibility)
			w.labels("labels", p.Labels)
			w.end()
		}
		w.endArr()
		w.end()
	}
	w.labels("labels", d.Labels)
	w.end()
}

func (w *jsonWriter) container(c *cluster.ContainerInfo) {
	if c == nil {
		return
	}
	w.key("container")
	w.obj()
	w.optStr("type", c.Type)
	w.optStr("hostname", c.Hostname)
	if d := c.Docker; d != nil {
		w.key("docker")
		w.obj()
		w.strField("image", d.Image)
		w.optStr("network", d.Network)
		w.portMappings(d.PortMappings)
		w.key("privileged")
		w.bool(false)
		w.key("force_pull_image")
		w.bool(false)
		w.end()
	}
	if c.Type == "MESOS" {
		// Mesos always writes the MesosInfo of a MESOS container, if
		// only as {} when there is no image.
		w.key("mesos")
		w.obj()
		w.end()
	}
	w.networkInfos(c.NetworkInfos)
	w.end()
}

func (w *jsonWriter) agent(a *cluster.Agent) {
	w.obj()
	w.key("agent_info")
	w.obj()
	w.strField("hostname", a.Hostname)
	if a.Port != 0 {
		w.key("port")
		w.int(a.Port)
	}
	w.resources("resources", &a.Resources, "")
	if len(a.Attributes) > 0 {
		w.key("attributes")
		w.arr()
		for _, k := range sortedKeys(a.Attributes) {
			w.obj()
			w.strField("name", k)
			w.strField("type", "TEXT")
			w.key("text")
			w.obj()
			w.strField("value", a.Attributes[k])
			w.end()
			w.end()
		}
		w.endArr()
	}
	w.id("id", a.ID)
	w.end()
	w.key("active")
	w.bool(a.Active)
	w.optStr("pid", a.PID)
	w.resources("total_resources", &a.Resources, "*")
	w.end()
}

// resources writes an agent's resources in the order Mesos does: ports
// first, then disk, cpus, mem (and gpus when there are any). role is "*" for
// total_resources and empty for agent_info.resources, as in the captures.
func (w *jsonWriter) resources(key string, r *cluster.Resources, role string) {
	scalars := [...]struct {
		name  string
		value float64
	}{{"disk", r.Disk}, {"cpus", r.CPUs}, {"mem", r.Mem}, {"gpus", r.GPUs}}
	some := len(r.Ports) > 0
	for _, s := range scalars {
		some = some || s.value != 0
	}
	if !some {
		return
	}
	w.key(key)
	w.arr()
	if len(r.Ports) > 0 {
		w.obj()
		w.strField("name", "ports")
		w.strField("type", "RANGES")
		w.ranges(r.Ports)
		w.optStr("role", role)
		w.end()
	}
	for _, s := range scalars {
		if s.value == 0 {
			continue
		}
		w.obj()
		w.strField("name", s.name)
		w.strField("type", "SCALAR")
		w.scalar(s.value)
		w.optStr("role", role)
		w.end()
	}
	w.endArr()
}

func (w *jsonWriter) frameworkInfo(f *cluster.Framework) {
	w.obj()
	w.strField("name", f.Name)
	w.id("id", f.ID)
	w.optStr("role", f.Role)
	w.optStr("hostname", f.Hostname)
	w.optStr("webui_url", f.WebUIURL)
	w.end()
}

func (w *jsonWriter) framework(f *cluster.Framework) {
	w.obj()
	w.key("framework_info")
	w.frameworkInfo(f)
	w.key("active")
	w.bool(f.Active)
	w.key("connected")
	w.bool(f.Active)
	w.key("recovered")
	w.bool(false)
	w.end()
}
