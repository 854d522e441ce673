package mesosstate

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// Decode decodes a v0 /master/state (or /state.json) document.
//
// err is non-nil when the document as a whole is unusable: it is not JSON,
// not an object, or a top-level field Decode reads has the wrong type. Then st
// is nil. Otherwise skipped lists, as *SkipError values, the agents,
// frameworks and tasks that were left out because they were malformed or had
// no id; everything else is in st.
//
// Unknown fields are ignored, and so is null wherever a value is optional.
// Only the active "frameworks" are decoded: completed frameworks and
// completed tasks are history that discovery has no use for.
func Decode(data []byte) (st *cluster.MesosState, skipped []error, err error) {
	return DecodeOptions{}.Decode(data)
}

// DecodeOptions are Decode's settings for callers that need them.
type DecodeOptions struct {
	// Yield, when set, is called every yieldEvery agents and tasks (tens
	// of microseconds of decoding). Decoding a large cluster's state takes
	// hundreds of milliseconds of uninterrupted CPU; a DNS server that
	// shares the process's only P with it passes its Yield here, so that
	// queries arriving meanwhile are answered in between instead of
	// waiting for the scheduler's 10 ms preemption (docs/benchmarks-dns.md).
	Yield func()
}

// yieldEvery is how many agents and tasks are decoded between two calls of
// DecodeOptions.Yield: at ~2–5 µs each, about 50 µs of work, against a
// Yield that costs one poll system call when nothing waits.
const yieldEvery = 16

// Decode is the package's Decode with o's settings.
func (o DecodeOptions) Decode(data []byte) (st *cluster.MesosState, skipped []error, err error) {
	d := decoder{scanner: scanner{data: data}, yield: o.Yield}
	st = new(cluster.MesosState)
	if err := d.root(func(key []byte) { d.stateMember(st, key) }); err != nil {
		return nil, nil, fmt.Errorf("mesos state: %w", err)
	}
	return st, d.skipped, nil
}

// seg is one step of the path to the current value: a field name, or an
// array index when name is empty.
type seg struct {
	name string
	idx  int
}

// decoder is the typed layer over scanner. Type errors are "soft": the first
// one in the current unit (the document, or one agent, framework or task) is
// kept in soft, the offending value is skipped, and decoding carries on to the
// end of the unit so that the scanner stays in step and the unit's id is known
// for the report.
type decoder struct {
	scanner
	soft    *FieldError
	path    []seg
	base    int // path[base:] is relative to the current unit
	skipped []error
	strs    map[string]string
	yield   func() // DecodeOptions.Yield; nil: never
	units   int    // agents and tasks decoded, for yield
}

// step counts one agent or task and yields every yieldEvery.
func (d *decoder) step() {
	if d.yield == nil {
		return
	}
	if d.units++; d.units%yieldEvery == 0 {
		d.yield()
	}
}

// maxInterned bounds the intern table so that a hostile document cannot grow
// it without limit; ids beyond it are simply not shared.
const maxInterned = 1 << 16

func (d *decoder) pathString(from int, field string) string {
	var b strings.Builder
	for _, s := range d.path[from:] {
		if s.name == "" {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.idx))
			b.WriteByte(']')
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.name)
	}
	if field != "" {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(field)
	}
	return b.String()
}

// fieldErr records a soft error for the value named field (relative to the
// current path) unless the unit already has one.
func (d *decoder) fieldErr(field, msg string) {
	if d.soft == nil && d.err == nil {
		d.soft = &FieldError{Field: d.pathString(d.base, field), Msg: msg}
	}
}

// typeErr records that the next value, of kind got, is not a want, and skips
// it. At the end of input or on garbage it is a syntax error instead.
func (d *decoder) typeErr(field, want string, got kind) {
	if got != kindEOF && got != kindInvalid {
		d.fieldErr(field, "expected "+want+", got "+got.String())
	}
	d.skipValue()
}

func (d *decoder) push(name string) {
	if name != "" {
		d.path = append(d.path, seg{name: name})
	}
}

func (d *decoder) pop(name string) {
	if name != "" {
		d.path = d.path[:len(d.path)-1]
	}
}

// root decodes the whole input as one object, calling member for each key.
func (d *decoder) root(member func(key []byte)) error {
	switch k := d.peek(); k {
	case kindObject:
	case kindEOF, kindInvalid:
		d.skipValue()
		return d.err
	default:
		d.skipValue()
		if d.err != nil {
			return d.err
		}
		return fmt.Errorf("expected object, got %s", k)
	}
	d.beginObject()
	for first := true; ; {
		key, ok := d.nextMember(&first)
		if !ok {
			break
		}
		member(key)
	}
	if d.err == nil {
		d.skipWS()
		if d.pos < len(d.data) {
			d.failChar("after top-level value")
		}
	}
	if d.err != nil {
		return d.err
	}
	if d.soft != nil {
		return d.soft
	}
	return nil
}

// object decodes the value of member field as an object, calling member for
// each key; member must consume the value. null counts as absent. It reports
// whether there was an object.
func (d *decoder) object(field string, member func(key []byte)) bool {
	switch k := d.peek(); k {
	case kindObject:
	case kindNull:
		d.readNull()
		return false
	default:
		d.typeErr(field, "object", k)
		return false
	}
	d.push(field)
	d.beginObject()
	for first := true; ; {
		key, ok := d.nextMember(&first)
		if !ok {
			break
		}
		member(key)
	}
	d.pop(field)
	return true
}

// elemObject is object for an array element, where null is not an element.
func (d *decoder) elemObject(member func(key []byte)) bool {
	if k := d.peek(); k != kindObject {
		d.typeErr("", "object", k)
		return false
	}
	return d.object("", member)
}

// array decodes the value of member field as an array, calling elem for each
// element with the index on the path; elem must consume the element.
func (d *decoder) array(field string, elem func(i int)) {
	switch k := d.peek(); k {
	case kindArray:
	case kindNull:
		d.readNull()
		return
	default:
		d.typeErr(field, "array", k)
		return
	}
	d.push(field)
	d.beginArray()
	for i, first := 0, true; d.nextElem(&first); i++ {
		d.path = append(d.path, seg{idx: i})
		elem(i)
		d.path = d.path[:len(d.path)-1]
	}
	d.pop(field)
}

// unit runs fn as a unit of its own: fn's type errors are returned instead
// of counting against the enclosing unit.
func (d *decoder) unit(fn func()) error {
	base, soft := d.base, d.soft
	d.base, d.soft = len(d.path), nil
	fn()
	err := d.soft
	d.base, d.soft = base, soft
	if err != nil {
		return err
	}
	return nil
}

// addSkip reports the element at the current path as skipped.
func (d *decoder) addSkip(err error, id string) {
	if d.err != nil {
		return // the document fails anyway
	}
	if err == nil {
		err = ErrMissingID
	}
	d.skipped = append(d.skipped, &SkipError{Path: d.pathString(0, ""), ID: id, Err: err})
}

func (d *decoder) str(field string) string {
	switch k := d.peek(); k {
	case kindString:
		return string(d.readString())
	case kindNull:
		d.readNull()
	default:
		d.typeErr(field, "string", k)
	}
	return ""
}

// istr is str for values that repeat across tasks (states, protocols,
// framework and agent ids): they share one string instead of allocating
// 100,000 copies.
func (d *decoder) istr(field string) string {
	switch k := d.peek(); k {
	case kindString:
		return d.intern(d.readString())
	case kindNull:
		d.readNull()
	default:
		d.typeErr(field, "string", k)
	}
	return ""
}

func (d *decoder) intern(b []byte) string {
	if s, ok := commonString(b); ok {
		return s
	}
	if s, ok := d.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if d.strs == nil {
		d.strs = make(map[string]string)
	}
	if len(d.strs) < maxInterned {
		d.strs[s] = s
	}
	return s
}

func commonString(b []byte) (string, bool) {
	switch string(b) {
	case "":
		return "", true
	case "TASK_RUNNING":
		return "TASK_RUNNING", true
	case "TASK_STAGING":
		return "TASK_STAGING", true
	case "TASK_STARTING":
		return "TASK_STARTING", true
	case "TASK_KILLING":
		return "TASK_KILLING", true
	case "TASK_FINISHED":
		return "TASK_FINISHED", true
	case "TASK_FAILED":
		return "TASK_FAILED", true
	case "TASK_KILLED":
		return "TASK_KILLED", true
	case "TASK_LOST":
		return "TASK_LOST", true
	case "tcp":
		return "tcp", true
	case "udp":
		return "udp", true
	case "IPv4":
		return "IPv4", true
	case "IPv6":
		return "IPv6", true
	case "FRAMEWORK":
		return "FRAMEWORK", true
	case "CLUSTER":
		return "CLUSTER", true
	case "EXTERNAL":
		return "EXTERNAL", true
	case "DOCKER":
		return "DOCKER", true
	case "MESOS":
		return "MESOS", true
	case "HOST":
		return "HOST", true
	case "BRIDGE":
		return "BRIDGE", true
	case "USER":
		return "USER", true
	case "*":
		return "*", true
	}
	return "", false
}

func (d *decoder) float(field string) float64 {
	switch k := d.peek(); k {
	case kindNumber:
		lit := d.readNumber()
		if v, ok := smallInt(lit); ok {
			return float64(v)
		}
		v, err := strconv.ParseFloat(string(lit), 64)
		if err != nil && (math.IsInf(v, 0) || math.IsNaN(v)) {
			d.fieldErr(field, "number "+string(lit)+" out of range")
			return 0
		}
		return v
	case kindNull:
		d.readNull()
	default:
		d.typeErr(field, "number", k)
	}
	return 0
}

// smallInt converts a literal of at most 15 digits without a fraction, which
// is exact and much cheaper than ParseFloat.
func smallInt(lit []byte) (int64, bool) {
	neg := len(lit) > 0 && lit[0] == '-'
	digits := lit
	if neg {
		digits = lit[1:]
	}
	if len(digits) == 0 || len(digits) > 15 {
		return 0, false
	}
	var v int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

// integer reads a number that must be integral; "5050.0" and "5.05e3" are
// accepted because they denote an integer exactly.
func (d *decoder) integer(field string) int {
	switch k := d.peek(); k {
	case kindNumber:
		lit := d.readNumber()
		if v, ok := smallInt(lit); ok {
			return int(v)
		}
		if v, err := strconv.ParseInt(string(lit), 10, strconv.IntSize); err == nil {
			return int(v)
		}
		f, err := strconv.ParseFloat(string(lit), 64)
		if err == nil && f == math.Trunc(f) && f >= math.MinInt && f < math.MaxInt {
			return int(f)
		}
		d.fieldErr(field, "expected integer, got number "+string(lit))
	case kindNull:
		d.readNull()
	default:
		d.typeErr(field, "number", k)
	}
	return 0
}

func (d *decoder) boolean(field string) bool {
	switch k := d.peek(); k {
	case kindBool:
		return d.readBool()
	case kindNull:
		d.readNull()
	default:
		d.typeErr(field, "boolean", k)
	}
	return false
}

func (d *decoder) optBool(field string) *bool {
	switch k := d.peek(); k {
	case kindBool:
		v := d.readBool()
		return &v
	case kindNull:
		d.readNull()
	default:
		d.typeErr(field, "boolean", k)
	}
	return nil
}

func (d *decoder) ports(field string) []cluster.PortRange {
	switch k := d.peek(); k {
	case kindString:
		r, err := parsePortRanges(d.readString())
		if err != nil {
			d.fieldErr(field, err.Error())
			return nil
		}
		return r
	case kindNull:
		d.readNull()
	default:
		d.typeErr(field, "string", k)
	}
	return nil
}

func (d *decoder) stateMember(st *cluster.MesosState, key []byte) {
	switch string(key) {
	case "version":
		st.Version = d.str("version")
	case "id":
		st.ID = d.str("id")
	case "pid":
		st.PID = d.str("pid")
	case "hostname":
		st.Hostname = d.str("hostname")
	case "leader":
		st.Leader = d.str("leader")
	case "cluster":
		st.Cluster = d.str("cluster")
	case "elected_time":
		st.ElectedTime = d.float("elected_time")
	case "start_time":
		st.StartTime = d.float("start_time")
	case "leader_info":
		st.LeaderInfo = nil
		var w masterInfoWire
		if d.object("leader_info", func(key []byte) { d.masterInfoMember(&w, key) }) {
			m := w.resolve()
			st.LeaderInfo = &m
		}
	case "slaves":
		var agents blocks[cluster.Agent]
		d.array("slaves", func(int) { d.agentElem(&agents) })
		st.Agents = agents.flatten(d.yield)
	case "frameworks":
		st.Frameworks = nil
		d.array("frameworks", func(int) { d.frameworkElem(&st.Frameworks) })
	default:
		d.skipValue()
	}
}

func (d *decoder) optInteger(field string) (int, bool) {
	if d.peek() == kindNull {
		d.readNull()
		return 0, false
	}
	return d.integer(field), true
}

func (d *decoder) agentElem(agents *blocks[cluster.Agent]) {
	d.step()
	a := agents.next()
	if err := d.unit(func() { d.agent(a) }); err != nil || a.ID == "" {
		d.addSkip(err, a.ID)
		agents.dropLast()
	}
}

// dropLast removes a skipped element; an emptied slice becomes nil, as if
// the element had never been there, so that the model does not depend on
// what was skipped.
func dropLast[T any](s []T) []T {
	if len(s) == 1 {
		return nil
	}
	return s[:len(s)-1]
}

func (d *decoder) agent(a *cluster.Agent) {
	d.elemObject(func(key []byte) {
		switch string(key) {
		case "id":
			a.ID = d.istr("id")
		case "hostname":
			a.Hostname = d.str("hostname")
		case "port":
			a.Port = d.integer("port")
		case "pid":
			a.PID = d.str("pid")
		case "active":
			a.Active = d.boolean("active")
		case "attributes":
			d.attributes(a)
		case "resources":
			a.Resources = cluster.Resources{}
			d.object("resources", func(key []byte) { d.resourceMember(&a.Resources, key) })
		default:
			d.skipValue()
		}
	})
}

// attributes keeps text attributes as they are and scalar ones (JSON
// numbers) as their literal text; the model has one string type for both.
func (d *decoder) attributes(a *cluster.Agent) {
	a.Attributes = nil
	d.object("attributes", func(key []byte) {
		name := string(key)
		var v string
		switch k := d.peek(); k {
		case kindString:
			v = string(d.readString())
		case kindNumber:
			v = string(d.readNumber())
		case kindNull:
			d.readNull()
			return
		default:
			d.typeErr(name, "string or number", k)
			return
		}
		if a.Attributes == nil {
			a.Attributes = make(map[string]string)
		}
		a.Attributes[name] = v
	})
}

func (d *decoder) resourceMember(r *cluster.Resources, key []byte) {
	switch string(key) {
	case "cpus":
		r.CPUs = d.float("cpus")
	case "mem":
		r.Mem = d.float("mem")
	case "disk":
		r.Disk = d.float("disk")
	case "gpus":
		r.GPUs = d.float("gpus")
	case "ports":
		r.Ports = d.ports("ports")
	default:
		d.skipValue()
	}
}

func (d *decoder) frameworkElem(fws *[]cluster.Framework) {
	*fws = append(*fws, cluster.Framework{})
	f := &(*fws)[len(*fws)-1]
	nskipped := len(d.skipped)
	if err := d.unit(func() { d.framework(f) }); err != nil || f.ID == "" {
		// The framework's own fault hides whatever was wrong with its tasks.
		d.skipped = d.skipped[:nskipped]
		d.addSkip(err, f.ID)
		*fws = dropLast(*fws)
	}
}

func (d *decoder) framework(f *cluster.Framework) {
	var firstRole string
	d.elemObject(func(key []byte) {
		switch string(key) {
		case "id":
			f.ID = d.istr("id")
		case "name":
			f.Name = d.str("name")
		case "pid":
			f.PID = d.str("pid")
		case "hostname":
			f.Hostname = d.str("hostname")
		case "webui_url":
			f.WebUIURL = d.str("webui_url")
		case "role":
			f.Role = d.istr("role")
		case "roles":
			// MULTI_ROLE frameworks (Mesos ≥1.3) have "roles" instead of "role".
			firstRole = ""
			d.array("roles", func(i int) {
				if r := d.istr(""); i == 0 {
					firstRole = r
				}
			})
		case "active":
			f.Active = d.boolean("active")
		case "tasks":
			var tasks blocks[cluster.Task]
			d.array("tasks", func(int) { d.taskElem(&tasks) })
			f.Tasks = tasks.flatten(d.yield)
		default:
			d.skipValue()
		}
	})
	if f.Role == "" {
		f.Role = firstRole
	}
}

func (d *decoder) taskElem(tasks *blocks[cluster.Task]) {
	d.step()
	t := tasks.next()
	if err := d.unit(func() { d.task(t) }); err != nil || t.ID == "" {
		d.addSkip(err, t.ID)
		tasks.dropLast()
	}
}

func (d *decoder) task(t *cluster.Task) {
	d.elemObject(func(key []byte) {
		switch string(key) {
		case "id":
			t.ID = d.str("id")
		case "name":
			t.Name = d.str("name")
		case "framework_id":
			t.FrameworkID = d.istr("framework_id")
		case "executor_id":
			t.ExecutorID = d.str("executor_id")
		case "slave_id":
			t.AgentID = d.istr("slave_id")
		case "state":
			t.State = cluster.TaskState(d.istr("state"))
		case "role":
			t.Role = d.istr("role")
		case "resources":
			t.Ports = nil
			d.object("resources", func(key []byte) {
				if string(key) == "ports" {
					t.Ports = d.ports("ports")
				} else {
					d.skipValue()
				}
			})
		case "labels":
			d.labels("labels", &t.Labels)
		case "statuses":
			t.Statuses = nil
			d.array("statuses", func(int) {
				t.Statuses = append(t.Statuses, cluster.TaskStatus{})
				d.status(&t.Statuses[len(t.Statuses)-1])
			})
		case "discovery":
			t.Discovery = nil
			di := new(cluster.DiscoveryInfo)
			if d.object("discovery", func(key []byte) { d.discoveryMember(di, key) }) {
				t.Discovery = di
			}
		case "container":
			t.Container = nil
			c := new(cluster.ContainerInfo)
			if d.object("container", func(key []byte) { d.containerMember(c, key) }) {
				t.Container = c
			}
		case "health_check":
			// Only its presence matters: it is what makes "healthy" meaningful.
			t.HasHealthCheck = d.peek() != kindNull
			d.skipValue()
		default:
			d.skipValue()
		}
	})
}

func (d *decoder) status(s *cluster.TaskStatus) {
	d.elemObject(func(key []byte) {
		switch string(key) {
		case "state":
			s.State = cluster.TaskState(d.istr("state"))
		case "timestamp":
			s.Timestamp = d.float("timestamp")
		case "healthy":
			s.Healthy = d.optBool("healthy")
		case "labels":
			d.labels("labels", &s.Labels)
		case "message":
			s.Message = d.str("message")
		case "source":
			s.Source = d.istr("source")
		case "reason":
			s.Reason = d.istr("reason")
		case "container_status":
			s.ContainerID, s.NetworkInfos = "", nil
			d.object("container_status", func(key []byte) {
				switch string(key) {
				case "container_id":
					s.ContainerID = ""
					d.object("container_id", func(key []byte) {
						if string(key) == "value" {
							s.ContainerID = d.str("value")
						} else {
							d.skipValue()
						}
					})
				case "network_infos":
					d.networkInfos("network_infos", &s.NetworkInfos)
				default:
					d.skipValue()
				}
			})
		default:
			d.skipValue()
		}
	})
}

func (d *decoder) networkInfos(field string, out *[]cluster.NetworkInfo) {
	*out = nil
	d.array(field, func(int) {
		*out = append(*out, cluster.NetworkInfo{})
		d.networkInfo(&(*out)[len(*out)-1])
	})
}

// networkInfo reads both NetworkInfo shapes: the status one (bare label
// array) and the protobuf one in container (labels object), and maps the
// Mesos 0.25 single ip_address into IPAddresses when ip_addresses is absent.
func (d *decoder) networkInfo(n *cluster.NetworkInfo) {
	var legacyIP, legacyProto string
	d.elemObject(func(key []byte) {
		switch string(key) {
		case "name":
			n.Name = d.istr("name")
		case "ip_addresses":
			n.IPAddresses = nil
			d.array("ip_addresses", func(int) {
				var a cluster.IPAddress
				d.elemObject(func(key []byte) {
					switch string(key) {
					case "ip_address":
						a.IP = d.str("ip_address")
					case "protocol":
						a.Protocol = d.istr("protocol")
					default:
						d.skipValue()
					}
				})
				n.IPAddresses = append(n.IPAddresses, a)
			})
		case "ip_address":
			legacyIP = d.str("ip_address")
		case "protocol":
			legacyProto = d.istr("protocol")
		case "groups":
			n.Groups = nil
			d.array("groups", func(int) { n.Groups = append(n.Groups, d.str("")) })
		case "labels":
			d.labels("labels", &n.Labels)
		case "port_mappings":
			d.portMappings("port_mappings", &n.PortMappings)
		default:
			d.skipValue()
		}
	})
	if len(n.IPAddresses) == 0 && legacyIP != "" {
		n.IPAddresses = []cluster.IPAddress{{IP: legacyIP, Protocol: legacyProto}}
	}
}

func (d *decoder) portMappings(field string, out *[]cluster.PortMapping) {
	*out = nil
	d.array(field, func(int) {
		var m cluster.PortMapping
		d.elemObject(func(key []byte) {
			switch string(key) {
			case "host_port":
				m.HostPort = d.integer("host_port")
			case "container_port":
				m.ContainerPort = d.integer("container_port")
			case "protocol":
				m.Protocol = d.istr("protocol")
			default:
				d.skipValue()
			}
		})
		*out = append(*out, m)
	})
}

// labels reads either label shape Mesos writes: a bare array (task and status
// labels) or the protobuf {"labels":[…]} object (discovery, container).
func (d *decoder) labels(field string, out *[]cluster.Label) {
	*out = nil
	switch k := d.peek(); k {
	case kindArray:
		d.labelList(field, out)
	case kindObject:
		d.object(field, func(key []byte) {
			if string(key) == "labels" {
				d.labelList("labels", out)
			} else {
				d.skipValue()
			}
		})
	case kindNull:
		d.readNull()
	default:
		d.typeErr(field, "array or object", k)
	}
}

func (d *decoder) labelList(field string, out *[]cluster.Label) {
	*out = nil
	d.array(field, func(int) {
		var l cluster.Label
		d.elemObject(func(key []byte) {
			switch string(key) {
			case "key":
				l.Key = d.str("key")
			case "value":
				l.Value = d.str("value")
			default:
				d.skipValue()
			}
		})
		*out = append(*out, l)
	})
}

func (d *decoder) discoveryMember(di *cluster.DiscoveryInfo, key []byte) {
	switch string(key) {
	case "visibility":
		di.Visibility = d.istr("visibility")
	case "name":
		di.Name = d.str("name")
	case "environment":
		di.Environment = d.str("environment")
	case "location":
		di.Location = d.str("location")
	case "version":
		di.Version = d.str("version")
	case "ports":
		// Protobuf shape {"ports":[…]}; {} when empty. A bare array is
		// accepted as well.
		di.Ports = nil
		switch k := d.peek(); k {
		case kindArray:
			d.discoveryPorts("ports", &di.Ports)
		default:
			d.object("ports", func(key []byte) {
				if string(key) == "ports" {
					d.discoveryPorts("ports", &di.Ports)
				} else {
					d.skipValue()
				}
			})
		}
	case "labels":
		d.labels("labels", &di.Labels)
	default:
		d.skipValue()
	}
}

func (d *decoder) discoveryPorts(field string, out *[]cluster.DiscoveryPort) {
	*out = nil
	d.array(field, func(int) {
		var p cluster.DiscoveryPort
		d.elemObject(func(key []byte) {
			switch string(key) {
			case "number":
				p.Number = d.integer("number")
			case "name":
				p.Name = d.str("name")
			case "protocol":
				p.Protocol = d.istr("protocol")
			case "visibility":
				p.Visibility = d.istr("visibility")
			case "labels":
				d.labels("labels", &p.Labels)
			default:
				d.skipValue()
			}
		})
		*out = append(*out, p)
	})
}

func (d *decoder) containerMember(c *cluster.ContainerInfo, key []byte) {
	switch string(key) {
	case "type":
		c.Type = d.istr("type")
	case "hostname":
		c.Hostname = d.str("hostname")
	case "docker":
		c.Docker = nil
		di := new(cluster.DockerInfo)
		if d.object("docker", func(key []byte) {
			switch string(key) {
			case "image":
				di.Image = d.str("image")
			case "network":
				di.Network = d.istr("network")
			case "port_mappings":
				d.portMappings("port_mappings", &di.PortMappings)
			default:
				d.skipValue()
			}
		}) {
			c.Docker = di
		}
	case "network_infos":
		d.networkInfos("network_infos", &c.NetworkInfos)
	default:
		d.skipValue()
	}
}
