package operator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// rawEvent holds the payloads undecoded, so that only the one matching the
// type is decoded and a problem in it is reported against the right type.
type rawEvent struct {
	Type             *string         `json:"type"`
	Subscribed       json.RawMessage `json:"subscribed"`
	TaskAdded        json.RawMessage `json:"task_added"`
	TaskUpdated      json.RawMessage `json:"task_updated"`
	AgentAdded       json.RawMessage `json:"agent_added"`
	AgentRemoved     json.RawMessage `json:"agent_removed"`
	FrameworkAdded   json.RawMessage `json:"framework_added"`
	FrameworkUpdated json.RawMessage `json:"framework_updated"`
	FrameworkRemoved json.RawMessage `json:"framework_removed"`
}

type rawResponse struct {
	Type     *string         `json:"type"`
	GetState json.RawMessage `json:"get_state"`
}

// rawGetState keeps array elements raw so that each is decoded on its own
// and one malformed element cannot fail the others.
type rawGetState struct {
	GetTasks *struct {
		Tasks         []json.RawMessage `json:"tasks"`
		LaunchedTasks []json.RawMessage `json:"launched_tasks"`
	} `json:"get_tasks"`
	GetFrameworks *struct {
		Frameworks []json.RawMessage `json:"frameworks"`
	} `json:"get_frameworks"`
	GetAgents *struct {
		Agents []json.RawMessage `json:"agents"`
	} `json:"get_agents"`
}

// unmarshal decodes data into v and turns encoding/json's errors into ones
// that name the message type and the field path.
func unmarshal(typ, path string, data []byte, v any) error {
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return &FieldError{Type: typ, Path: joinPath(path, te.Field), Problem: fmt.Sprintf("want %s, got %s", jsonKind(te.Type), te.Value)}
	}
	// Everything else json.Unmarshal reports on a []byte is a syntax
	// error, truncation included.
	return fmt.Errorf("%w: %s: %w", ErrSyntax, typ, err)
}

// absent reports whether a raw payload is missing or JSON null.
func absent(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// decoder carries the message type into every error it makes.
type decoder struct {
	typ string
}

func (d decoder) missing(path string) error {
	return &FieldError{Type: d.typ, Path: path, Problem: "missing"}
}

func (d decoder) payload(path string, raw json.RawMessage, v any) error {
	if absent(raw) {
		return d.missing(path)
	}
	return unmarshal(d.typ, path, raw, v)
}

func (d decoder) subscribed(raw json.RawMessage) (*Subscribed, error) {
	var w struct {
		GetState                 json.RawMessage `json:"get_state"`
		HeartbeatIntervalSeconds float64         `json:"heartbeat_interval_seconds"`
	}
	if err := d.payload("subscribed", raw, &w); err != nil {
		return nil, err
	}
	st, skipped, err := d.state("subscribed.get_state", w.GetState)
	if err != nil {
		return nil, err
	}
	return &Subscribed{State: st, HeartbeatIntervalSeconds: w.HeartbeatIntervalSeconds, Skipped: skipped}, nil
}

func (d decoder) taskAdded(raw json.RawMessage) (*cluster.Task, error) {
	var w struct {
		Task json.RawMessage `json:"task"`
	}
	if err := d.payload("task_added", raw, &w); err != nil {
		return nil, err
	}
	t, err := d.task("task_added.task", w.Task)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func (d decoder) taskUpdated(raw json.RawMessage) (*TaskUpdated, error) {
	var w wTaskUpdated
	if err := d.payload("task_updated", raw, &w); err != nil {
		return nil, err
	}
	const p = "task_updated"
	if w.FrameworkID.value() == "" {
		return nil, d.missing(p + ".framework_id")
	}
	if w.Status == nil {
		return nil, d.missing(p + ".status")
	}
	if w.Status.TaskID.value() == "" {
		return nil, d.missing(p + ".status.task_id")
	}
	st, err := d.status(p+".status", w.Status)
	if err != nil {
		return nil, err
	}
	state := cluster.TaskState(w.State)
	if state == "" {
		// The proto requires it, but the status carries a state too, and
		// an update is worth more than strictness here.
		state = st.State
	}
	return &TaskUpdated{
		FrameworkID: w.FrameworkID.Value,
		TaskID:      w.Status.TaskID.Value,
		AgentID:     w.Status.AgentID.value(),
		ExecutorID:  w.Status.ExecutorID.value(),
		State:       state,
		Status:      st,
	}, nil
}

func (d decoder) agentAdded(raw json.RawMessage) (*cluster.Agent, error) {
	var w struct {
		Agent json.RawMessage `json:"agent"`
	}
	if err := d.payload("agent_added", raw, &w); err != nil {
		return nil, err
	}
	a, err := d.agent("agent_added.agent", w.Agent)
	if err != nil {
		return nil, err
	}
	return &a, nil
}

func (d decoder) agentRemoved(raw json.RawMessage) (string, error) {
	var w wAgentRemoved
	if err := d.payload("agent_removed", raw, &w); err != nil {
		return "", err
	}
	if w.AgentID.value() == "" {
		return "", d.missing("agent_removed.agent_id")
	}
	return w.AgentID.Value, nil
}

func (d decoder) frameworkEvent(path string, raw json.RawMessage) (*cluster.Framework, error) {
	var w struct {
		Framework json.RawMessage `json:"framework"`
	}
	if err := d.payload(path, raw, &w); err != nil {
		return nil, err
	}
	f, err := d.framework(path+".framework", w.Framework)
	if err != nil {
		return nil, err
	}
	return &f, nil
}

func (d decoder) frameworkRemoved(raw json.RawMessage) (string, error) {
	var w wFrameworkRemoved
	if err := d.payload("framework_removed", raw, &w); err != nil {
		return "", err
	}
	if w.FrameworkInfo == nil {
		return "", d.missing("framework_removed.framework_info")
	}
	if w.FrameworkInfo.ID.value() == "" {
		return "", d.missing("framework_removed.framework_info.id")
	}
	return w.FrameworkInfo.ID.Value, nil
}

// state decodes a GetState message. Each task, agent and framework is
// decoded separately; the ones that fail are reported in skipped.
func (d decoder) state(path string, raw json.RawMessage) (*cluster.MesosState, []error, error) {
	var w rawGetState
	if err := d.payload(path, raw, &w); err != nil {
		return nil, nil, err
	}
	st := &cluster.MesosState{}
	var skipped []error

	if w.GetAgents != nil {
		p := path + ".get_agents.agents"
		for i, raw := range w.GetAgents.Agents {
			a, err := d.agent(fmt.Sprintf("%s[%d]", p, i), raw)
			if err != nil {
				skipped = append(skipped, err)
				continue
			}
			st.Agents = append(st.Agents, a)
		}
	}

	index := make(map[string]int) // framework id → index in st.Frameworks
	if w.GetFrameworks != nil {
		p := path + ".get_frameworks.frameworks"
		for i, raw := range w.GetFrameworks.Frameworks {
			f, err := d.framework(fmt.Sprintf("%s[%d]", p, i), raw)
			if err != nil {
				skipped = append(skipped, err)
				continue
			}
			if _, dup := index[f.ID]; !dup {
				index[f.ID] = len(st.Frameworks)
			}
			st.Frameworks = append(st.Frameworks, f)
		}
	}

	if w.GetTasks != nil {
		tasks, key := w.GetTasks.Tasks, "tasks"
		if tasks == nil && w.GetTasks.LaunchedTasks != nil {
			tasks, key = w.GetTasks.LaunchedTasks, "launched_tasks"
		}
		p := path + ".get_tasks." + key
		for i, raw := range tasks {
			t, err := d.task(fmt.Sprintf("%s[%d]", p, i), raw)
			if err != nil {
				skipped = append(skipped, err)
				continue
			}
			fi, ok := index[t.FrameworkID]
			if !ok {
				fi = len(st.Frameworks)
				index[t.FrameworkID] = fi
				st.Frameworks = append(st.Frameworks, cluster.Framework{ID: t.FrameworkID})
			}
			st.Frameworks[fi].Tasks = append(st.Frameworks[fi].Tasks, t)
		}
	}
	return st, skipped, nil
}

func (d decoder) task(path string, raw json.RawMessage) (cluster.Task, error) {
	var w wTask
	if err := d.payload(path, raw, &w); err != nil {
		return cluster.Task{}, err
	}
	switch {
	case w.TaskID.value() == "":
		return cluster.Task{}, d.missing(path + ".task_id")
	case w.FrameworkID.value() == "":
		return cluster.Task{}, d.missing(path + ".framework_id")
	case w.AgentID.value() == "":
		return cluster.Task{}, d.missing(path + ".agent_id")
	case w.State == "":
		return cluster.Task{}, d.missing(path + ".state")
	}
	t := cluster.Task{
		ID:             w.TaskID.Value,
		Name:           w.Name,
		FrameworkID:    w.FrameworkID.Value,
		AgentID:        w.AgentID.Value,
		ExecutorID:     w.ExecutorID.value(),
		State:          cluster.TaskState(w.State),
		Role:           taskRole(w.Resources),
		Ports:          resourcesOf(w.Resources).Ports,
		Labels:         labels(w.Labels),
		Discovery:      discovery(w.Discovery),
		Container:      container(w.Container),
		HasHealthCheck: !absent(w.HealthCheck),
	}
	for i := range w.Statuses {
		s, err := d.status(fmt.Sprintf("%s.statuses[%d]", path, i), &w.Statuses[i])
		if err != nil {
			return cluster.Task{}, err
		}
		t.Statuses = append(t.Statuses, s)
	}
	return t, nil
}

// taskRole is the role the task's resources were allocated to. v1 Task has no
// role field; since Mesos 1.5 (multi-role) each resource says so in
// allocation_info, before that in its reservation role.
func taskRole(rs []wResource) string {
	for _, r := range rs {
		if r.AllocationInfo != nil && r.AllocationInfo.Role != "" {
			return r.AllocationInfo.Role
		}
	}
	for _, r := range rs {
		if r.Role != "" {
			return r.Role
		}
	}
	return ""
}

func (d decoder) status(path string, w *wStatus) (cluster.TaskStatus, error) {
	if w.State == "" {
		return cluster.TaskStatus{}, d.missing(path + ".state")
	}
	s := cluster.TaskStatus{
		State:     cluster.TaskState(w.State),
		Timestamp: w.Timestamp,
		Healthy:   w.Healthy,
		Labels:    labels(w.Labels),
		Message:   w.Message,
		Source:    w.Source,
		Reason:    w.Reason,
	}
	if cs := w.ContainerStatus; cs != nil {
		s.ContainerID = cs.ContainerID.value()
		s.NetworkInfos = networkInfos(cs.NetworkInfos)
	}
	return s, nil
}

func (d decoder) agent(path string, raw json.RawMessage) (cluster.Agent, error) {
	var w wAgent
	if err := d.payload(path, raw, &w); err != nil {
		return cluster.Agent{}, err
	}
	info := w.AgentInfo
	switch {
	case info == nil:
		return cluster.Agent{}, d.missing(path + ".agent_info")
	case info.ID.value() == "":
		return cluster.Agent{}, d.missing(path + ".agent_info.id")
	case info.Hostname == "":
		return cluster.Agent{}, d.missing(path + ".agent_info.hostname")
	}
	res := w.TotalResources
	if len(res) == 0 {
		res = info.Resources
	}
	return cluster.Agent{
		ID:         info.ID.Value,
		Hostname:   info.Hostname,
		Port:       info.Port,
		PID:        w.PID,
		Active:     w.Active,
		Attributes: attributes(info.Attributes),
		Resources:  resourcesOf(res),
	}, nil
}

func (d decoder) framework(path string, raw json.RawMessage) (cluster.Framework, error) {
	var w wFramework
	if err := d.payload(path, raw, &w); err != nil {
		return cluster.Framework{}, err
	}
	info := w.FrameworkInfo
	switch {
	case info == nil:
		return cluster.Framework{}, d.missing(path + ".framework_info")
	case info.ID.value() == "":
		return cluster.Framework{}, d.missing(path + ".framework_info.id")
	}
	role := info.Role
	if role == "" && len(info.Roles) > 0 {
		// A MULTI_ROLE framework lists roles instead; the model has
		// room for one, and the first is the one it registered with.
		role = info.Roles[0]
	}
	return cluster.Framework{
		ID:       info.ID.Value,
		Name:     info.Name,
		Hostname: info.Hostname,
		WebUIURL: info.WebUIURL,
		Role:     role,
		Active:   w.Active,
	}, nil
}

// resourcesOf sums the scalar resources discovery cares about and collects
// the port ranges. A resource may appear several times (one entry per
// reservation), hence the sums.
func resourcesOf(rs []wResource) cluster.Resources {
	var out cluster.Resources
	for _, r := range rs {
		if r.Name == "ports" {
			if r.Ranges != nil {
				for _, rg := range r.Ranges.Range {
					out.Ports = append(out.Ports, cluster.PortRange{Begin: rg.Begin, End: rg.End})
				}
			}
			continue
		}
		if r.Scalar == nil {
			continue
		}
		switch r.Name {
		case "cpus":
			out.CPUs += r.Scalar.Value
		case "mem":
			out.Mem += r.Scalar.Value
		case "disk":
			out.Disk += r.Scalar.Value
		case "gpus":
			out.GPUs += r.Scalar.Value
		}
	}
	return out
}

// attributes renders agent attributes as v0 state.json does, so that values
// look the same whichever API they came from: text as is, scalars as
// numbers, ranges as "[b-e, b-e]", sets as "{a,b}".
func attributes(as []wAttribute) map[string]string {
	if len(as) == 0 {
		return nil
	}
	m := make(map[string]string, len(as))
	for _, a := range as {
		switch {
		case a.Text != nil:
			m[a.Name] = a.Text.Value
		case a.Scalar != nil:
			m[a.Name] = strconv.FormatFloat(a.Scalar.Value, 'f', -1, 64)
		case a.Ranges != nil:
			parts := make([]string, len(a.Ranges.Range))
			for i, r := range a.Ranges.Range {
				parts[i] = fmt.Sprintf("%d-%d", r.Begin, r.End)
			}
			m[a.Name] = "[" + strings.Join(parts, ", ") + "]"
		case a.Set != nil:
			m[a.Name] = "{" + strings.Join(a.Set.Item, ",") + "}"
		default:
			m[a.Name] = ""
		}
	}
	return m
}

// sortedKeys gives attributes a stable order on the wire.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func labels(w *wLabels) []cluster.Label {
	if w == nil || len(w.Labels) == 0 {
		return nil
	}
	out := make([]cluster.Label, len(w.Labels))
	for i, l := range w.Labels {
		out[i] = cluster.Label{Key: l.Key, Value: l.Value}
	}
	return out
}

func portMappings(ws []wPortMapping) []cluster.PortMapping {
	if len(ws) == 0 {
		return nil
	}
	out := make([]cluster.PortMapping, len(ws))
	for i, p := range ws {
		out[i] = cluster.PortMapping{HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: p.Protocol}
	}
	return out
}

func networkInfos(ws []wNetworkInfo) []cluster.NetworkInfo {
	if len(ws) == 0 {
		return nil
	}
	out := make([]cluster.NetworkInfo, len(ws))
	for i, n := range ws {
		ni := cluster.NetworkInfo{
			Name:         n.Name,
			Labels:       labels(n.Labels),
			PortMappings: portMappings(n.PortMappings),
		}
		if len(n.Groups) > 0 {
			ni.Groups = append([]string(nil), n.Groups...)
		}
		if len(n.IPAddresses) > 0 {
			ni.IPAddresses = make([]cluster.IPAddress, len(n.IPAddresses))
			for j, ip := range n.IPAddresses {
				ni.IPAddresses[j] = cluster.IPAddress{IP: ip.IPAddress, Protocol: ip.Protocol}
			}
		}
		out[i] = ni
	}
	return out
}

func discovery(w *wDiscovery) *cluster.DiscoveryInfo {
	if w == nil {
		return nil
	}
	d := &cluster.DiscoveryInfo{
		Visibility:  w.Visibility,
		Name:        w.Name,
		Environment: w.Environment,
		Location:    w.Location,
		Version:     w.Version,
		Labels:      labels(w.Labels),
	}
	if w.Ports != nil && len(w.Ports.Ports) > 0 {
		d.Ports = make([]cluster.DiscoveryPort, len(w.Ports.Ports))
		for i, p := range w.Ports.Ports {
			d.Ports[i] = cluster.DiscoveryPort{
				Number:     p.Number,
				Name:       p.Name,
				Protocol:   p.Protocol,
				Visibility: p.Visibility,
				Labels:     labels(p.Labels),
			}
		}
	}
	return d
}

func container(w *wContainer) *cluster.ContainerInfo {
	if w == nil {
		return nil
	}
	c := &cluster.ContainerInfo{
		Type:         w.Type,
		Hostname:     w.Hostname,
		NetworkInfos: networkInfos(w.NetworkInfos),
	}
	if w.Docker != nil {
		c.Docker = &cluster.DockerInfo{
			Image:        w.Docker.Image,
			Network:      w.Docker.Network,
			PortMappings: portMappings(w.Docker.PortMappings),
		}
	}
	return c
}
