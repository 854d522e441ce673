package operator

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// EncodeEvent renders e as a real master would send it on the SUBSCRIBE
// stream: compact JSON, one record without the RecordIO length (frame it
// with recordio.Writer). Only the payload matching e.Type is used; an event
// of a type this package does not know is written as {"type":…} alone, like
// HEARTBEAT.
//
// What the model does not hold is either left out or made up the way Mesos
// would fill it: statuses get a uuid derived from the task id, state and
// timestamp (stable, so re-encoding gives the same bytes), a task with a
// health check gets an empty "health_check":{}, and the master-level fields
// of MesosState and Framework.PID (no v1 counterpart) are not written.
func EncodeEvent(e Event) ([]byte, error) {
	w := wEvent{Type: e.Type}
	switch e.Type {
	case "":
		return nil, errors.New("operator: encode event: empty type")
	case TypeSubscribed:
		if e.Subscribed == nil || e.Subscribed.State == nil {
			return nil, fmt.Errorf("operator: encode %s: no state", e.Type)
		}
		w.Subscribed = &wSubscribed{
			GetState:                 getStateToWire(e.Subscribed.State),
			HeartbeatIntervalSeconds: e.Subscribed.HeartbeatIntervalSeconds,
		}
	case TypeTaskAdded:
		if e.TaskAdded == nil {
			return nil, fmt.Errorf("operator: encode %s: no task", e.Type)
		}
		w.TaskAdded = &wTaskAdded{Task: taskToWire(e.TaskAdded, "")}
	case TypeTaskUpdated:
		u := e.TaskUpdated
		if u == nil {
			return nil, fmt.Errorf("operator: encode %s: no update", e.Type)
		}
		w.TaskUpdated = &wTaskUpdated{
			FrameworkID: &wID{Value: u.FrameworkID},
			Status:      statusToWire(&u.Status, u.TaskID, u.AgentID, u.ExecutorID),
			State:       string(u.State),
		}
	case TypeAgentAdded:
		if e.AgentAdded == nil {
			return nil, fmt.Errorf("operator: encode %s: no agent", e.Type)
		}
		w.AgentAdded = &wAgentAdded{Agent: agentToWire(e.AgentAdded)}
	case TypeAgentRemoved:
		if e.AgentRemoved == "" {
			return nil, fmt.Errorf("operator: encode %s: no agent id", e.Type)
		}
		w.AgentRemoved = &wAgentRemoved{AgentID: &wID{Value: e.AgentRemoved}}
	case TypeFrameworkAdded:
		if e.FrameworkAdded == nil {
			return nil, fmt.Errorf("operator: encode %s: no framework", e.Type)
		}
		w.FrameworkAdded = &wFrameworkEvent{Framework: frameworkToWire(e.FrameworkAdded)}
	case TypeFrameworkUpdated:
		if e.FrameworkUpdated == nil {
			return nil, fmt.Errorf("operator: encode %s: no framework", e.Type)
		}
		w.FrameworkUpdated = &wFrameworkEvent{Framework: frameworkToWire(e.FrameworkUpdated)}
	case TypeFrameworkRemoved:
		if e.FrameworkRemoved == "" {
			return nil, fmt.Errorf("operator: encode %s: no framework id", e.Type)
		}
		w.FrameworkRemoved = &wFrameworkRemoved{FrameworkInfo: &wFrameworkInfo{ID: &wID{Value: e.FrameworkRemoved}}}
	}
	return marshal(&w)
}

// EncodeGetState renders st as the response to a GET_STATE call,
// {"type":"GET_STATE","get_state":{…}}.
func EncodeGetState(st *cluster.MesosState) ([]byte, error) {
	if st == nil {
		return nil, errors.New("operator: encode GET_STATE: nil state")
	}
	return marshal(&wResponse{Type: "GET_STATE", GetState: getStateToWire(st)})
}

// marshal writes compact JSON without encoding/json's HTML escaping: Mesos
// does not escape <, > and &, and label values are often URLs.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("operator: encode: %w", err)
	}
	b := buf.Bytes()
	return b[:len(b)-1], nil // Encode appends a newline.
}

func getStateToWire(st *cluster.MesosState) *wGetState {
	gs := &wGetState{}
	n := 0
	for i := range st.Frameworks {
		n += len(st.Frameworks[i].Tasks)
	}
	if n > 0 {
		gs.GetTasks.Tasks = make([]wTask, 0, n)
	}
	for i := range st.Frameworks {
		f := &st.Frameworks[i]
		gs.GetFrameworks.Frameworks = append(gs.GetFrameworks.Frameworks, *frameworkToWire(f))
		for j := range f.Tasks {
			gs.GetTasks.Tasks = append(gs.GetTasks.Tasks, *taskToWire(&f.Tasks[j], f.ID))
		}
	}
	if len(st.Agents) > 0 {
		gs.GetAgents.Agents = make([]wAgent, len(st.Agents))
		for i := range st.Agents {
			gs.GetAgents.Agents[i] = *agentToWire(&st.Agents[i])
		}
	}
	return gs
}

// taskToWire renders a task; frameworkID stands in for an empty
// t.FrameworkID when the task is written under its framework.
func taskToWire(t *cluster.Task, frameworkID string) *wTask {
	fid := t.FrameworkID
	if fid == "" {
		fid = frameworkID
	}
	w := &wTask{
		Name:        t.Name,
		TaskID:      &wID{Value: t.ID},
		FrameworkID: &wID{Value: fid},
		ExecutorID:  newID(t.ExecutorID),
		AgentID:     &wID{Value: t.AgentID},
		State:       string(t.State),
		Resources:   taskResources(t),
		Labels:      labelsToWire(t.Labels),
		Discovery:   discoveryToWire(t.Discovery),
		Container:   containerToWire(t.Container),
	}
	if len(t.Statuses) > 0 {
		w.Statuses = make([]wStatus, len(t.Statuses))
		for i := range t.Statuses {
			w.Statuses[i] = *statusToWire(&t.Statuses[i], t.ID, t.AgentID, t.ExecutorID)
		}
	}
	if t.HasHealthCheck {
		w.HealthCheck = json.RawMessage(`{}`)
	}
	return w
}

// taskResources writes the task's ports, allocated to its role as Mesos ≥1.5
// does. The model keeps no cpus or mem for tasks; a task with a role but no
// ports gets a zero cpus resource so that the role is not lost.
func taskResources(t *cluster.Task) []wResource {
	var alloc *wAllocationInfo
	if t.Role != "" {
		alloc = &wAllocationInfo{Role: t.Role}
	}
	if len(t.Ports) > 0 {
		return []wResource{{Name: "ports", Type: "RANGES", Ranges: rangesToWire(t.Ports), AllocationInfo: alloc}}
	}
	if alloc != nil {
		return []wResource{{Name: "cpus", Type: "SCALAR", Scalar: &wScalar{}, AllocationInfo: alloc}}
	}
	return nil
}

func rangesToWire(ps []cluster.PortRange) *wRanges {
	r := &wRanges{Range: make([]wRange, len(ps))}
	for i, p := range ps {
		r.Range[i] = wRange{Begin: p.Begin, End: p.End}
	}
	return r
}

// statusToWire renders a status with the ids Mesos repeats in every status.
func statusToWire(s *cluster.TaskStatus, taskID, agentID, executorID string) *wStatus {
	w := &wStatus{
		TaskID:     &wID{Value: taskID},
		State:      string(s.State),
		Message:    s.Message,
		Source:     s.Source,
		Reason:     s.Reason,
		AgentID:    newID(agentID),
		ExecutorID: newID(executorID),
		Timestamp:  s.Timestamp,
		UUID:       statusUUID(taskID, s),
		Labels:     labelsToWire(s.Labels),
	}
	if s.Healthy != nil {
		h := *s.Healthy
		w.Healthy = &h
	}
	if s.ContainerID != "" || len(s.NetworkInfos) > 0 {
		w.ContainerStatus = &wContainerStatus{
			ContainerID:  newID(s.ContainerID),
			NetworkInfos: networkInfosToWire(s.NetworkInfos),
		}
	}
	return w
}

// statusUUID makes the base64 16-byte uuid every real status carries. The
// model has none to give, so it is derived from what identifies the update.
func statusUUID(taskID string, s *cluster.TaskStatus) string {
	h := fnv.New128a()
	h.Write([]byte(taskID))
	h.Write([]byte{0})
	h.Write([]byte(s.State))
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], math.Float64bits(s.Timestamp))
	h.Write(ts[:])
	var sum [16]byte
	return base64.StdEncoding.EncodeToString(h.Sum(sum[:0]))
}

func labelsToWire(ls []cluster.Label) *wLabels {
	if len(ls) == 0 {
		return nil
	}
	w := &wLabels{Labels: make([]wLabel, len(ls))}
	for i, l := range ls {
		w.Labels[i] = wLabel{Key: l.Key, Value: l.Value}
	}
	return w
}

func portMappingsToWire(ps []cluster.PortMapping) []wPortMapping {
	if len(ps) == 0 {
		return nil
	}
	out := make([]wPortMapping, len(ps))
	for i, p := range ps {
		out[i] = wPortMapping{HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: p.Protocol}
	}
	return out
}

func networkInfosToWire(ns []cluster.NetworkInfo) []wNetworkInfo {
	if len(ns) == 0 {
		return nil
	}
	out := make([]wNetworkInfo, len(ns))
	for i := range ns {
		n := &ns[i]
		w := wNetworkInfo{
			Name:         n.Name,
			Groups:       n.Groups,
			Labels:       labelsToWire(n.Labels),
			PortMappings: portMappingsToWire(n.PortMappings),
		}
		if len(n.IPAddresses) > 0 {
			w.IPAddresses = make([]wIPAddress, len(n.IPAddresses))
			for j, ip := range n.IPAddresses {
				w.IPAddresses[j] = wIPAddress{Protocol: ip.Protocol, IPAddress: ip.IP}
			}
		}
		out[i] = w
	}
	return out
}

func discoveryToWire(d *cluster.DiscoveryInfo) *wDiscovery {
	if d == nil {
		return nil
	}
	w := &wDiscovery{
		Visibility:  d.Visibility,
		Name:        d.Name,
		Environment: d.Environment,
		Location:    d.Location,
		Version:     d.Version,
		Labels:      labelsToWire(d.Labels),
	}
	if len(d.Ports) > 0 {
		w.Ports = &wDiscoveryPorts{Ports: make([]wDiscoveryPort, len(d.Ports))}
		for i, p := range d.Ports {
			w.Ports.Ports[i] = wDiscoveryPort{
				Number:     p.Number,
				Name:       p.Name,
				Protocol:   p.Protocol,
				Visibility: p.Visibility,
				Labels:     labelsToWire(p.Labels),
			}
		}
	}
	return w
}

func containerToWire(c *cluster.ContainerInfo) *wContainer {
	if c == nil {
		return nil
	}
	w := &wContainer{
		Type:         c.Type,
		Hostname:     c.Hostname,
		NetworkInfos: networkInfosToWire(c.NetworkInfos),
	}
	if c.Docker != nil {
		w.Docker = &wDocker{
			Image:        c.Docker.Image,
			Network:      c.Docker.Network,
			PortMappings: portMappingsToWire(c.Docker.PortMappings),
		}
	}
	if c.Type == "MESOS" {
		// Mesos always writes the MesosInfo of a MESOS container, if
		// only as {} when there is no image.
		w.Mesos = json.RawMessage(`{}`)
	}
	return w
}

func agentToWire(a *cluster.Agent) *wAgent {
	info := &wAgentInfo{
		Hostname:  a.Hostname,
		Port:      a.Port,
		Resources: resourcesToWire(&a.Resources, ""),
		ID:        &wID{Value: a.ID},
	}
	if len(a.Attributes) > 0 {
		info.Attributes = make([]wAttribute, 0, len(a.Attributes))
		for _, k := range sortedKeys(a.Attributes) {
			info.Attributes = append(info.Attributes, wAttribute{Name: k, Type: "TEXT", Text: &wText{Value: a.Attributes[k]}})
		}
	}
	return &wAgent{
		AgentInfo:      info,
		Active:         a.Active,
		PID:            a.PID,
		TotalResources: resourcesToWire(&a.Resources, "*"),
	}
}

// resourcesToWire writes an agent's resources in the order Mesos does: ports
// first, then disk, cpus, mem (and gpus when there are any). role is "*" for
// total_resources and empty for agent_info.resources, as in the captures.
func resourcesToWire(r *cluster.Resources, role string) []wResource {
	var out []wResource
	if len(r.Ports) > 0 {
		out = append(out, wResource{Name: "ports", Type: "RANGES", Ranges: rangesToWire(r.Ports), Role: role})
	}
	for _, s := range []struct {
		name  string
		value float64
	}{{"disk", r.Disk}, {"cpus", r.CPUs}, {"mem", r.Mem}, {"gpus", r.GPUs}} {
		if s.value != 0 {
			out = append(out, wResource{Name: s.name, Type: "SCALAR", Scalar: &wScalar{Value: s.value}, Role: role})
		}
	}
	return out
}

func frameworkToWire(f *cluster.Framework) *wFramework {
	return &wFramework{
		FrameworkInfo: &wFrameworkInfo{
			Name:     f.Name,
			ID:       &wID{Value: f.ID},
			Role:     f.Role,
			Hostname: f.Hostname,
			WebUIURL: f.WebUIURL,
		},
		Active:    f.Active,
		Connected: f.Active,
	}
}
