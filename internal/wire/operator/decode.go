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

// rawJSON is json.RawMessage without the copy: it aliases the input being
// decoded. That is safe because nothing decoded from it outlives the call
// (the model holds strings, which are copies), and it matters because a
// SUBSCRIBED record can be hundreds of megabytes.
type rawJSON []byte

func (r *rawJSON) UnmarshalJSON(b []byte) error {
	*r = b
	return nil
}

// lenient decodes one array element and keeps its error instead of failing
// the array, so that one malformed task cannot take the snapshot down.
type lenient[T any] struct {
	v    *T
	null bool
	err  error
}

func (l *lenient[T]) UnmarshalJSON(b []byte) error {
	if absent(b) {
		l.null = true
		return nil
	}
	l.v = new(T)
	l.err = json.Unmarshal(b, l.v)
	return nil
}

// wrap presents elements decoded in one go as lenient ones.
func wrap[T any](xs []*T) []lenient[T] {
	if xs == nil {
		return nil
	}
	out := make([]lenient[T], len(xs))
	for i, x := range xs {
		out[i] = lenient[T]{v: x, null: x == nil}
	}
	return out
}

// payloads are the event payloads other than SUBSCRIBED's, kept undecoded so
// that only the one matching the type is decoded and a problem in it is
// reported against the right type.
type payloads struct {
	TaskAdded        rawJSON `json:"task_added"`
	TaskUpdated      rawJSON `json:"task_updated"`
	AgentAdded       rawJSON `json:"agent_added"`
	AgentRemoved     rawJSON `json:"agent_removed"`
	FrameworkAdded   rawJSON `json:"framework_added"`
	FrameworkUpdated rawJSON `json:"framework_updated"`
	FrameworkRemoved rawJSON `json:"framework_removed"`
}

// Decoding a state takes one of two routes. The fast one decodes a whole
// record in a single encoding/json pass, which is what a 200 MiB SUBSCRIBED
// needs; it succeeds whenever no field has the wrong JSON type. When one
// does, the record is decoded again along the precise route, element by
// element (lenient), so that the bad element is skipped and named while the
// rest is kept. Missing fields are found after decoding, on either route.

type stateOf[T, A, F any] struct {
	GetTasks *struct {
		Tasks         []T `json:"tasks"`
		LaunchedTasks []T `json:"launched_tasks"`
	} `json:"get_tasks"`
	GetFrameworks *struct {
		Frameworks []F `json:"frameworks"`
	} `json:"get_frameworks"`
	GetAgents *struct {
		Agents []A `json:"agents"`
	} `json:"get_agents"`
}

type subscribedOf[T, A, F any] struct {
	GetState                 *stateOf[T, A, F] `json:"get_state"`
	HeartbeatIntervalSeconds float64           `json:"heartbeat_interval_seconds"`
}

type (
	fastState         = stateOf[*wTask, *wAgent, *wFramework]
	fastSubscribed    = subscribedOf[*wTask, *wAgent, *wFramework]
	lenientState      = stateOf[lenient[wTask], lenient[wAgent], lenient[wFramework]]
	lenientSubscribed = subscribedOf[lenient[wTask], lenient[wAgent], lenient[wFramework]]
)

// toLenient turns a state decoded on the fast route into the form the
// conversion works on, without copying elements.
func toLenient(s *fastState) *lenientState {
	if s == nil {
		return nil
	}
	out := &lenientState{}
	if t := s.GetTasks; t != nil {
		out.GetTasks = &struct {
			Tasks         []lenient[wTask] `json:"tasks"`
			LaunchedTasks []lenient[wTask] `json:"launched_tasks"`
		}{wrap(t.Tasks), wrap(t.LaunchedTasks)}
	}
	if f := s.GetFrameworks; f != nil {
		out.GetFrameworks = &struct {
			Frameworks []lenient[wFramework] `json:"frameworks"`
		}{wrap(f.Frameworks)}
	}
	if a := s.GetAgents; a != nil {
		out.GetAgents = &struct {
			Agents []lenient[wAgent] `json:"agents"`
		}{wrap(a.Agents)}
	}
	return out
}

// fastEvent decodes SUBSCRIBED's payload in the same pass as the envelope;
// rawEvent leaves it raw for the precise route.
type fastEvent struct {
	Type       *string         `json:"type"`
	Subscribed *fastSubscribed `json:"subscribed"`
	payloads
}

type rawEvent struct {
	Type       *string `json:"type"`
	Subscribed rawJSON `json:"subscribed"`
	payloads
}

type fastResponse struct {
	Type     *string    `json:"type"`
	GetState *fastState `json:"get_state"`
}

type rawResponse struct {
	Type     *string       `json:"type"`
	GetState *lenientState `json:"get_state"`
}

// envelope is an event's type and payloads, by whichever route.
type envelope struct {
	typ        *string
	subscribed *lenientSubscribed // set on the fast route
	rawSub     rawJSON            // set on the precise route
	payloads
}

func decodeEnvelope(data []byte) (envelope, error) {
	var fast fastEvent
	err := json.Unmarshal(data, &fast)
	if err == nil {
		env := envelope{typ: fast.Type, payloads: fast.payloads}
		if s := fast.Subscribed; s != nil {
			env.subscribed = &lenientSubscribed{GetState: toLenient(s.GetState), HeartbeatIntervalSeconds: s.HeartbeatIntervalSeconds}
		}
		return env, nil
	}
	if !isTypeError(err) {
		return envelope{}, jsonError("event", "", err)
	}
	var raw rawEvent
	if err := unmarshal("event", "", data, &raw); err != nil {
		return envelope{}, err
	}
	return envelope{typ: raw.Type, rawSub: raw.Subscribed, payloads: raw.payloads}, nil
}

func decodeResponse(data []byte) (typ *string, st *lenientState, err error) {
	var fast fastResponse
	err = json.Unmarshal(data, &fast)
	if err == nil {
		return fast.Type, toLenient(fast.GetState), nil
	}
	if !isTypeError(err) {
		return nil, nil, jsonError("GET_STATE", "", err)
	}
	var raw rawResponse
	if err := unmarshal("GET_STATE", "", data, &raw); err != nil {
		return nil, nil, err
	}
	return raw.Type, raw.GetState, nil
}

func isTypeError(err error) bool {
	var te *json.UnmarshalTypeError
	return errors.As(err, &te)
}

// unmarshal decodes data into v and turns encoding/json's errors into ones
// that name the message type and the field path.
func unmarshal(typ, path string, data []byte, v any) error {
	return jsonError(typ, path, json.Unmarshal(data, v))
}

func jsonError(typ, path string, err error) error {
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
func absent(raw []byte) bool {
	return len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// decoder carries the message type into every error it makes.
type decoder struct {
	typ string
}

func (d decoder) missing(path string) error {
	return &FieldError{Type: d.typ, Path: path, Problem: "missing"}
}

func (d decoder) payload(path string, raw rawJSON, v any) error {
	if absent(raw) {
		return d.missing(path)
	}
	return unmarshal(d.typ, path, raw, v)
}

func (d decoder) subscribed(env *envelope) (*Subscribed, error) {
	w := env.subscribed
	if w == nil {
		w = &lenientSubscribed{}
		if err := d.payload("subscribed", env.rawSub, w); err != nil {
			return nil, err
		}
	}
	st, skipped, err := d.state("subscribed.get_state", w.GetState)
	if err != nil {
		return nil, err
	}
	return &Subscribed{State: st, HeartbeatIntervalSeconds: w.HeartbeatIntervalSeconds, Skipped: skipped}, nil
}

func (d decoder) taskAdded(raw rawJSON) (*cluster.Task, error) {
	var w struct {
		Task rawJSON `json:"task"`
	}
	if err := d.payload("task_added", raw, &w); err != nil {
		return nil, err
	}
	t, err := d.payloadTask("task_added.task", w.Task)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func (d decoder) taskUpdated(raw rawJSON) (*TaskUpdated, error) {
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

func (d decoder) agentAdded(raw rawJSON) (*cluster.Agent, error) {
	var w struct {
		Agent *lenient[wAgent] `json:"agent"`
	}
	if err := d.payload("agent_added", raw, &w); err != nil {
		return nil, err
	}
	if w.Agent == nil {
		return nil, d.missing("agent_added.agent")
	}
	a, err := d.agent("agent_added.agent", w.Agent)
	if err != nil {
		return nil, err
	}
	return &a, nil
}

func (d decoder) agentRemoved(raw rawJSON) (string, error) {
	var w wAgentRemoved
	if err := d.payload("agent_removed", raw, &w); err != nil {
		return "", err
	}
	if w.AgentID.value() == "" {
		return "", d.missing("agent_removed.agent_id")
	}
	return w.AgentID.Value, nil
}

func (d decoder) frameworkEvent(path string, raw rawJSON) (*cluster.Framework, error) {
	var w struct {
		Framework *lenient[wFramework] `json:"framework"`
	}
	if err := d.payload(path, raw, &w); err != nil {
		return nil, err
	}
	if w.Framework == nil {
		return nil, d.missing(path + ".framework")
	}
	f, err := d.framework(path+".framework", w.Framework)
	if err != nil {
		return nil, err
	}
	return &f, nil
}

func (d decoder) frameworkRemoved(raw rawJSON) (string, error) {
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

// state converts a GetState message. A task, agent or framework that failed
// to decode or lacks a field it needs is left out and reported in skipped.
func (d decoder) state(path string, w *lenientState) (*cluster.MesosState, []error, error) {
	if w == nil {
		return nil, nil, d.missing(path)
	}
	st := &cluster.MesosState{}
	var skipped []error

	if w.GetAgents != nil {
		p := path + ".get_agents.agents"
		for i := range w.GetAgents.Agents {
			a, err := d.agent(fmt.Sprintf("%s[%d]", p, i), &w.GetAgents.Agents[i])
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
		for i := range w.GetFrameworks.Frameworks {
			f, err := d.framework(fmt.Sprintf("%s[%d]", p, i), &w.GetFrameworks.Frameworks[i])
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
		for i := range tasks {
			t, err := d.task(fmt.Sprintf("%s[%d]", p, i), &tasks[i])
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

// element returns the decoded element or the error that made it unusable.
func element[T any](d decoder, path string, l *lenient[T]) (*T, error) {
	switch {
	case l.null:
		return nil, d.missing(path)
	case l.err != nil:
		return nil, jsonError(d.typ, path, l.err)
	}
	return l.v, nil
}

// payloadTask decodes the raw task of a TASK_ADDED event.
func (d decoder) payloadTask(path string, raw rawJSON) (cluster.Task, error) {
	var l lenient[wTask]
	_ = l.UnmarshalJSON(raw)
	return d.task(path, &l)
}

func (d decoder) task(path string, l *lenient[wTask]) (cluster.Task, error) {
	w, err := element(d, path, l)
	if err != nil {
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

func (d decoder) agent(path string, l *lenient[wAgent]) (cluster.Agent, error) {
	w, err := element(d, path, l)
	if err != nil {
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

func (d decoder) framework(path string, l *lenient[wFramework]) (cluster.Framework, error) {
	w, err := element(d, path, l)
	if err != nil {
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
