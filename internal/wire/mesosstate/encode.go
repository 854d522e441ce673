package mesosstate

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/wire/jsonw"
)

// The encoder appends JSON by hand instead of using encoding/json: the
// simulator serves states of 100,000 tasks, and the wire shape is irregular
// (labels are a bare array in one place and an object in another, ports are
// a string) in ways struct tags cannot express without a parallel set of
// wire types and a copy of the whole state.

// Encode writes st as a Mesos 1.x master writes /master/state. See Append.
func Encode(st *cluster.MesosState) ([]byte, error) {
	if st == nil {
		return nil, errors.New("mesosstate: cannot encode a nil state")
	}
	return Append(make([]byte, 0, sizeHint(st)), st)
}

// Append appends st to dst as a Mesos 1.x master writes /master/state, so a
// server can reuse one buffer across requests.
//
// Everything in the model is written in the place and shape Mesos uses:
// snake_case names, "slaves" and "slave_id", bare-array task and status
// labels, {"labels":[…]} objects in discovery and container network infos,
// port ranges as "[b-e, b-e]" strings, "leader" only when there is one, and
// the constant fields a real master has (activated_slaves,
// completed_frameworks, orphan_tasks and so on). What the model does not
// keep (task cpus and mem, health check details) is not invented: task
// resources carry only ports and health_check is {}. A few model fields that
// the master never writes (status message, source and reason; leader_info's
// address and version) are written when set, so that Decode(Encode(s)) == s.
//
// The only error is a NaN or infinite number, which JSON cannot express.
func Append(dst []byte, st *cluster.MesosState) ([]byte, error) {
	if st == nil {
		return dst, errors.New("mesosstate: cannot encode a nil state")
	}
	e := encoder{b: dst}
	e.state(st)
	if e.err != nil {
		return dst, e.err
	}
	return e.b, nil
}

// sizeHint estimates the encoded size from the model's string lengths and
// element counts (the constants are the lengths of the fixed JSON around
// them, rounded up), so that Encode allocates its buffer once; on the
// fixtures it is 10–20% above the real size. Heavy escaping can exceed it,
// and then append grows the buffer.
func sizeHint(st *cluster.MesosState) int {
	n := 320 + len(st.Version) + len(st.ID) + len(st.PID) + len(st.Hostname) + len(st.Leader) + len(st.Cluster)
	if m := st.LeaderInfo; m != nil {
		n += 140 + len(m.ID) + len(m.PID) + 2*len(m.Hostname) + len(m.IP) + len(m.Version)
	}
	for i := range st.Agents {
		a := &st.Agents[i]
		n += 160 + len(a.ID) + len(a.Hostname) + len(a.PID) + 14*len(a.Resources.Ports)
		for k, v := range a.Attributes {
			n += 6 + len(k) + len(v)
		}
	}
	for i := range st.Frameworks {
		f := &st.Frameworks[i]
		n += 200 + len(f.ID) + len(f.Name) + len(f.PID) + len(f.Hostname) + len(f.WebUIURL) + len(f.Role)
		for j := range f.Tasks {
			n += taskSize(&f.Tasks[j])
		}
	}
	return n
}

func taskSize(t *cluster.Task) int {
	n := 130 + len(t.ID) + len(t.Name) + len(t.FrameworkID) + len(t.ExecutorID) + len(t.AgentID) +
		len(t.State) + len(t.Role) + 14*len(t.Ports) + labelsSize(t.Labels)
	for i := range t.Statuses {
		s := &t.Statuses[i]
		n += 70 + len(s.State) + len(s.ContainerID) + len(s.Message) + len(s.Source) + len(s.Reason) +
			labelsSize(s.Labels) + networkInfosSize(s.NetworkInfos)
	}
	if d := t.Discovery; d != nil {
		n += 110 + len(d.Visibility) + len(d.Name) + len(d.Environment) + len(d.Location) + len(d.Version) + labelsSize(d.Labels)
		for _, p := range d.Ports {
			n += 60 + len(p.Name) + len(p.Protocol) + len(p.Visibility) + labelsSize(p.Labels)
		}
	}
	if c := t.Container; c != nil {
		n += 40 + len(c.Type) + len(c.Hostname) + networkInfosSize(c.NetworkInfos)
		if d := c.Docker; d != nil {
			n += 40 + len(d.Image) + len(d.Network) + portMappingsSize(d.PortMappings)
		}
	}
	return n
}

func labelsSize(ls []cluster.Label) int {
	if len(ls) == 0 {
		return 0
	}
	n := 24
	for _, l := range ls {
		n += 22 + len(l.Key) + len(l.Value)
	}
	return n
}

func networkInfosSize(ns []cluster.NetworkInfo) int {
	if len(ns) == 0 {
		return 0
	}
	n := 40
	for i := range ns {
		ni := &ns[i]
		n += 30 + len(ni.Name) + labelsSize(ni.Labels) + portMappingsSize(ni.PortMappings)
		for _, a := range ni.IPAddresses {
			n += 32 + len(a.IP) + len(a.Protocol)
		}
		for _, g := range ni.Groups {
			n += 3 + len(g)
		}
	}
	return n
}

func portMappingsSize(ms []cluster.PortMapping) int {
	if len(ms) == 0 {
		return 0
	}
	n := 20
	for _, m := range ms {
		n += 60 + len(m.Protocol)
	}
	return n
}

type encoder struct {
	b    []byte
	err  error
	keys []string // scratch for sorting attribute names
}

func (e *encoder) str(s string) { e.b = jsonw.AppendString(e.b, s) }

func (e *encoder) int(v int) { e.b = strconv.AppendInt(e.b, int64(v), 10) }

func (e *encoder) bool(v bool) { e.b = strconv.AppendBool(e.b, v) }

// float writes v as encoding/json would (see jsonw.AppendFloat); Mesos
// writes timestamps like 1471134069.16307, which this reproduces digit for
// digit. NaN and ±Inf fail the encoding, naming the field.
func (e *encoder) float(v float64, field string) {
	var err error
	if e.b, err = jsonw.AppendFloat(e.b, v); err != nil && e.err == nil {
		e.err = fmt.Errorf("mesosstate: cannot encode %v in %s", v, field)
	}
}

func (e *encoder) state(st *cluster.MesosState) {
	e.b = append(e.b, `{"version":`...)
	e.str(st.Version)
	e.b = append(e.b, `,"id":`...)
	e.str(st.ID)
	e.b = append(e.b, `,"pid":`...)
	e.str(st.PID)
	e.b = append(e.b, `,"hostname":`...)
	e.str(st.Hostname)
	if st.Leader != "" {
		e.b = append(e.b, `,"leader":`...)
		e.str(st.Leader)
	}
	if st.LeaderInfo != nil {
		e.b = append(e.b, `,"leader_info":`...)
		e.leaderInfo(st.LeaderInfo)
	}
	if st.Cluster != "" {
		e.b = append(e.b, `,"cluster":`...)
		e.str(st.Cluster)
	}
	e.b = append(e.b, `,"start_time":`...)
	e.float(st.StartTime, "start_time")
	if st.ElectedTime != 0 {
		e.b = append(e.b, `,"elected_time":`...)
		e.float(st.ElectedTime, "elected_time")
	}
	active := 0
	for i := range st.Agents {
		if st.Agents[i].Active {
			active++
		}
	}
	e.b = append(e.b, `,"activated_slaves":`...)
	e.int(active)
	e.b = append(e.b, `,"deactivated_slaves":`...)
	e.int(len(st.Agents) - active)
	e.b = append(e.b, `,"unreachable_slaves":0,"slaves":[`...)
	for i := range st.Agents {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.agent(&st.Agents[i])
	}
	e.b = append(e.b, `],"frameworks":[`...)
	for i := range st.Frameworks {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.framework(&st.Frameworks[i])
	}
	e.b = append(e.b, `],"completed_frameworks":[],"orphan_tasks":[],"unregistered_frameworks":[]}`...)
}

// leaderInfo writes what Mesos ≥1.2 writes (id, pid, port, hostname) and, if
// the model has them, the MasterInfo address and version that the protobuf
// carries but the master leaves out here.
func (e *encoder) leaderInfo(m *cluster.MasterInfo) {
	e.b = append(e.b, `{"id":`...)
	e.str(m.ID)
	e.b = append(e.b, `,"pid":`...)
	e.str(m.PID)
	e.b = append(e.b, `,"port":`...)
	e.int(m.Port)
	e.b = append(e.b, `,"hostname":`...)
	e.str(m.Hostname)
	if m.IP != "" {
		e.b = append(e.b, `,"address":{"hostname":`...)
		e.str(m.Hostname)
		e.b = append(e.b, `,"ip":`...)
		e.str(m.IP)
		e.b = append(e.b, `,"port":`...)
		e.int(m.Port)
		e.b = append(e.b, '}')
	}
	if m.Version != "" {
		e.b = append(e.b, `,"version":`...)
		e.str(m.Version)
	}
	e.b = append(e.b, '}')
}

func (e *encoder) agent(a *cluster.Agent) {
	e.b = append(e.b, `{"id":`...)
	e.str(a.ID)
	e.b = append(e.b, `,"pid":`...)
	e.str(a.PID)
	e.b = append(e.b, `,"hostname":`...)
	e.str(a.Hostname)
	e.b = append(e.b, `,"port":`...)
	e.int(a.Port)
	e.b = append(e.b, `,"resources":`...)
	e.resources(&a.Resources)
	e.b = append(e.b, `,"attributes":{`...)
	e.keys = e.keys[:0]
	for k := range a.Attributes {
		e.keys = append(e.keys, k)
	}
	slices.Sort(e.keys)
	for i, k := range e.keys {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.str(k)
		e.b = append(e.b, ':')
		e.str(a.Attributes[k])
	}
	e.b = append(e.b, `},"active":`...)
	e.bool(a.Active)
	e.b = append(e.b, '}')
}

func (e *encoder) resources(r *cluster.Resources) {
	e.b = append(e.b, `{"cpus":`...)
	e.float(r.CPUs, "cpus")
	e.b = append(e.b, `,"disk":`...)
	e.float(r.Disk, "disk")
	e.b = append(e.b, `,"gpus":`...)
	e.float(r.GPUs, "gpus")
	e.b = append(e.b, `,"mem":`...)
	e.float(r.Mem, "mem")
	if len(r.Ports) > 0 {
		e.b = append(e.b, `,"ports":"`...)
		e.b = appendPortRanges(e.b, r.Ports)
		e.b = append(e.b, '"')
	}
	e.b = append(e.b, '}')
}

func (e *encoder) framework(f *cluster.Framework) {
	e.b = append(e.b, `{"id":`...)
	e.str(f.ID)
	e.b = append(e.b, `,"name":`...)
	e.str(f.Name)
	if f.PID != "" {
		e.b = append(e.b, `,"pid":`...)
		e.str(f.PID)
	}
	e.b = append(e.b, `,"hostname":`...)
	e.str(f.Hostname)
	e.b = append(e.b, `,"webui_url":`...)
	e.str(f.WebUIURL)
	e.b = append(e.b, `,"role":`...)
	e.str(f.Role)
	e.b = append(e.b, `,"active":`...)
	e.bool(f.Active)
	e.b = append(e.b, `,"tasks":[`...)
	for i := range f.Tasks {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.task(&f.Tasks[i])
	}
	e.b = append(e.b, `],"unreachable_tasks":[],"completed_tasks":[],"offers":[],"executors":[]}`...)
}

func (e *encoder) task(t *cluster.Task) {
	e.b = append(e.b, `{"id":`...)
	e.str(t.ID)
	e.b = append(e.b, `,"name":`...)
	e.str(t.Name)
	e.b = append(e.b, `,"framework_id":`...)
	e.str(t.FrameworkID)
	e.b = append(e.b, `,"executor_id":`...)
	e.str(t.ExecutorID)
	e.b = append(e.b, `,"slave_id":`...)
	e.str(t.AgentID)
	e.b = append(e.b, `,"state":`...)
	e.str(string(t.State))
	e.b = append(e.b, `,"resources":{`...)
	if len(t.Ports) > 0 {
		e.b = append(e.b, `"ports":"`...)
		e.b = appendPortRanges(e.b, t.Ports)
		e.b = append(e.b, '"')
	}
	e.b = append(e.b, '}')
	if t.Role != "" {
		e.b = append(e.b, `,"role":`...)
		e.str(t.Role)
	}
	e.b = append(e.b, `,"statuses":[`...)
	for i := range t.Statuses {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.status(&t.Statuses[i])
	}
	e.b = append(e.b, ']')
	if len(t.Labels) > 0 {
		e.b = append(e.b, `,"labels":`...)
		e.labelArray(t.Labels)
	}
	if t.Discovery != nil {
		e.b = append(e.b, `,"discovery":`...)
		e.discovery(t.Discovery)
	}
	if t.Container != nil {
		e.b = append(e.b, `,"container":`...)
		e.container(t.Container)
	}
	if t.HasHealthCheck {
		e.b = append(e.b, `,"health_check":{}`...)
	}
	e.b = append(e.b, '}')
}

func (e *encoder) status(s *cluster.TaskStatus) {
	e.b = append(e.b, `{"state":`...)
	e.str(string(s.State))
	e.b = append(e.b, `,"timestamp":`...)
	e.float(s.Timestamp, "timestamp")
	if len(s.Labels) > 0 {
		e.b = append(e.b, `,"labels":`...)
		e.labelArray(s.Labels)
	}
	if s.ContainerID != "" || len(s.NetworkInfos) > 0 {
		e.b = append(e.b, `,"container_status":{`...)
		comma := false
		if s.ContainerID != "" {
			e.b = append(e.b, `"container_id":{"value":`...)
			e.str(s.ContainerID)
			e.b = append(e.b, '}')
			comma = true
		}
		if len(s.NetworkInfos) > 0 {
			if comma {
				e.b = append(e.b, ',')
			}
			e.b = append(e.b, `"network_infos":`...)
			e.networkInfos(s.NetworkInfos, false)
		}
		e.b = append(e.b, '}')
	}
	if s.Healthy != nil {
		e.b = append(e.b, `,"healthy":`...)
		e.bool(*s.Healthy)
	}
	if s.Message != "" {
		e.b = append(e.b, `,"message":`...)
		e.str(s.Message)
	}
	if s.Source != "" {
		e.b = append(e.b, `,"source":`...)
		e.str(s.Source)
	}
	if s.Reason != "" {
		e.b = append(e.b, `,"reason":`...)
		e.str(s.Reason)
	}
	e.b = append(e.b, '}')
}

// networkInfos writes a NetworkInfo list; protobuf selects the container
// shape (labels as {"labels":[…]}) over the status shape (bare array).
func (e *encoder) networkInfos(ns []cluster.NetworkInfo, protobuf bool) {
	e.b = append(e.b, '[')
	for i := range ns {
		n := &ns[i]
		if i > 0 {
			e.b = append(e.b, ',')
		}
		open := len(e.b)
		e.b = append(e.b, '{')
		if len(n.IPAddresses) > 0 {
			e.b = append(e.b, `,"ip_addresses":[`...)
			for j, a := range n.IPAddresses {
				if j > 0 {
					e.b = append(e.b, ',')
				}
				e.b = append(e.b, '{')
				if a.Protocol != "" {
					e.b = append(e.b, `"protocol":`...)
					e.str(a.Protocol)
					if a.IP != "" {
						e.b = append(e.b, ',')
					}
				}
				if a.IP != "" {
					e.b = append(e.b, `"ip_address":`...)
					e.str(a.IP)
				}
				e.b = append(e.b, '}')
			}
			e.b = append(e.b, ']')
		}
		if n.Name != "" {
			e.b = append(e.b, `,"name":`...)
			e.str(n.Name)
		}
		if len(n.Groups) > 0 {
			e.b = append(e.b, `,"groups":[`...)
			for j, g := range n.Groups {
				if j > 0 {
					e.b = append(e.b, ',')
				}
				e.str(g)
			}
			e.b = append(e.b, ']')
		}
		if len(n.Labels) > 0 {
			e.b = append(e.b, `,"labels":`...)
			if protobuf {
				e.labelObject(n.Labels)
			} else {
				e.labelArray(n.Labels)
			}
		}
		if len(n.PortMappings) > 0 {
			e.b = append(e.b, `,"port_mappings":`...)
			e.portMappings(n.PortMappings)
		}
		e.b = append(e.b, '}')
		e.dropLeadingComma(open)
	}
	e.b = append(e.b, ']')
}

// dropLeadingComma turns "{,"a":1}" written from position open into
// "{"a":1}", so optional fields can each be written with a leading comma.
func (e *encoder) dropLeadingComma(open int) {
	if open+1 < len(e.b) && e.b[open+1] == ',' {
		e.b = append(e.b[:open+1], e.b[open+2:]...)
	}
}

func (e *encoder) portMappings(ms []cluster.PortMapping) {
	e.b = append(e.b, '[')
	for i, m := range ms {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.b = append(e.b, `{"host_port":`...)
		e.int(m.HostPort)
		e.b = append(e.b, `,"container_port":`...)
		e.int(m.ContainerPort)
		if m.Protocol != "" {
			e.b = append(e.b, `,"protocol":`...)
			e.str(m.Protocol)
		}
		e.b = append(e.b, '}')
	}
	e.b = append(e.b, ']')
}

func (e *encoder) labelArray(ls []cluster.Label) {
	e.b = append(e.b, '[')
	for i, l := range ls {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.b = append(e.b, `{"key":`...)
		e.str(l.Key)
		e.b = append(e.b, `,"value":`...)
		e.str(l.Value)
		e.b = append(e.b, '}')
	}
	e.b = append(e.b, ']')
}

func (e *encoder) labelObject(ls []cluster.Label) {
	e.b = append(e.b, `{"labels":`...)
	e.labelArray(ls)
	e.b = append(e.b, '}')
}

func (e *encoder) discovery(d *cluster.DiscoveryInfo) {
	e.b = append(e.b, `{"visibility":`...)
	e.str(d.Visibility)
	if d.Name != "" {
		e.b = append(e.b, `,"name":`...)
		e.str(d.Name)
	}
	if d.Environment != "" {
		e.b = append(e.b, `,"environment":`...)
		e.str(d.Environment)
	}
	if d.Location != "" {
		e.b = append(e.b, `,"location":`...)
		e.str(d.Location)
	}
	if d.Version != "" {
		e.b = append(e.b, `,"version":`...)
		e.str(d.Version)
	}
	e.b = append(e.b, `,"ports":{`...)
	if len(d.Ports) > 0 {
		e.b = append(e.b, `"ports":[`...)
		for i := range d.Ports {
			p := &d.Ports[i]
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.b = append(e.b, `{"number":`...)
			e.int(p.Number)
			if p.Name != "" {
				e.b = append(e.b, `,"name":`...)
				e.str(p.Name)
			}
			e.b = append(e.b, `,"protocol":`...)
			e.str(p.Protocol)
			if p.Visibility != "" {
				e.b = append(e.b, `,"visibility":`...)
				e.str(p.Visibility)
			}
			if len(p.Labels) > 0 {
				e.b = append(e.b, `,"labels":`...)
				e.labelObject(p.Labels)
			}
			e.b = append(e.b, '}')
		}
		e.b = append(e.b, ']')
	}
	e.b = append(e.b, '}')
	if len(d.Labels) > 0 {
		e.b = append(e.b, `,"labels":`...)
		e.labelObject(d.Labels)
	}
	e.b = append(e.b, '}')
}

func (e *encoder) container(c *cluster.ContainerInfo) {
	e.b = append(e.b, `{"type":`...)
	e.str(c.Type)
	if c.Hostname != "" {
		e.b = append(e.b, `,"hostname":`...)
		e.str(c.Hostname)
	}
	if c.Docker != nil {
		e.b = append(e.b, `,"docker":{"image":`...)
		e.str(c.Docker.Image)
		if c.Docker.Network != "" {
			e.b = append(e.b, `,"network":`...)
			e.str(c.Docker.Network)
		}
		if len(c.Docker.PortMappings) > 0 {
			e.b = append(e.b, `,"port_mappings":`...)
			e.portMappings(c.Docker.PortMappings)
		}
		e.b = append(e.b, '}')
	}
	if len(c.NetworkInfos) > 0 {
		e.b = append(e.b, `,"network_infos":`...)
		e.networkInfos(c.NetworkInfos, true)
	}
	e.b = append(e.b, '}')
}
