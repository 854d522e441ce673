package records

import (
	"net/netip"
	"strconv"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// The task pass (spec §4.5–4.9), the part of Build that scales with the
// cluster. Everything that depends only on the framework and the task's
// name is computed once per name and cached with the record-set numbers of
// its names, so that the 20th instance of an app costs a hash, a few string
// writes and the inserts that are really new.

// fwCtx is what every task of one framework shares.
type fwCtx struct {
	tail      string // ".<fw>.mesos."
	slaveTail string // ".<fw>.slave.mesos."
	// byTask and byDI map a raw task name / raw DiscoveryInfo name to its
	// names.
	byTask map[string]*nameSet
	byDI   map[string]*diNames
}

// diNames are the two name sets of a task with DiscoveryInfo: Mesos-DNS
// generates everything under the raw DiscoveryInfo name first (a legacy it
// never removed, so clients may use it), then under the sanitised one.
type diNames struct{ raw, san *nameSet }

// nameRef is a record name with its number in the record set, taken on
// first use.
type nameRef struct {
	name string
	idx  int32
}

// nameSet holds the names that depend only on the framework and one label.
type nameSet struct {
	label string
	// count is the number of task contexts using the set, the size hint
	// for the values of its names.
	count                        int
	a, aSlave                    nameRef // <name>.<fw>.D.  <name>.<fw>.slave.D.
	tcp, udp, tcpSlave, udpSlave nameRef // _<name>._tcp.<fw>.D. ...
	// di caches, per DiscoveryInfo port name and protocol as given, the SRV
	// names that port goes under, in Mesos-DNS's order.
	di []diPortNames
}

type diPortNames struct {
	name, proto string
	refs        []nameRef
}

func (b *builder) newNameSet(fc *fwCtx, label string) *nameSet {
	ref := func(parts ...string) nameRef { return nameRef{b.strs.concat(parts...), -1} }
	return &nameSet{
		label:    label,
		a:        ref(label, fc.tail),
		aSlave:   ref(label, fc.slaveTail),
		tcp:      ref("_", label, "._tcp", fc.tail),
		udp:      ref("_", label, "._udp", fc.tail),
		tcpSlave: ref("_", label, "._tcp", fc.slaveTail),
		udpSlave: ref("_", label, "._udp", fc.slaveTail),
	}
}

// diPort returns the SRV names of one DiscoveryInfo port: _<name>._<proto>
// (tcp and udp both when the protocol is empty), then the same prefixed with
// _<port name> when the port has one.
func (b *builder) diPort(ns *nameSet, fc *fwCtx, dp *cluster.DiscoveryPort) []nameRef {
	for i := range ns.di {
		if ns.di[i].name == dp.Name && ns.di[i].proto == dp.Protocol {
			return ns.di[i].refs
		}
	}
	protos := []string{b.label(dp.Protocol)}
	if protos[0] == "" {
		protos = []string{"tcp", "udp"}
	}
	var refs []nameRef
	for _, p := range protos {
		refs = append(refs, nameRef{b.strs.concat("_", ns.label, "._", p, fc.tail), -1})
	}
	if pname := b.label(dp.Name); pname != "" {
		for _, p := range protos {
			refs = append(refs, nameRef{b.strs.concat("_", pname, "._", ns.label, "._", p, fc.tail), -1})
		}
	}
	if len(ns.di) < maxDIPortCache {
		ns.di = append(ns.di, diPortNames{dp.Name, dp.Protocol, refs})
	}
	return refs
}

// maxDIPortCache bounds the linear cache of DiscoveryInfo port names: the
// instances of an app normally share a handful of port specifications.
const maxDIPortCache = 16

// eligible reports whether a task gets records: TASK_RUNNING on a known
// agent (§4.5) and, with the health filter, not reported unhealthy.
func (b *builder) eligible(t *cluster.Task) *agentInfo {
	if t.State != cluster.TaskRunning {
		return nil
	}
	ag := b.agents[t.AgentID]
	if ag == nil {
		return nil
	}
	if b.healthFilter {
		if s := t.LatestStatus(""); s != nil && s.Healthy != nil && !*s.Healthy {
			return nil
		}
	}
	return ag
}

// taskPlan is one eligible task with what the task pass needs for it.
type taskPlan struct {
	t  *cluster.Task
	ag *agentInfo
	ns *nameSet // without DiscoveryInfo
	dn *diNames // with
}

// taskRecords runs the task pass and returns the /v1/enumerate view: every
// framework in state order, each with its eligible tasks in state order.
//
// A first pass picks the eligible tasks and counts how many use each name
// set, so that the values of shared names (one per instance of an app) are
// allocated once at their final size instead of growing.
func (b *builder) taskRecords(st *cluster.MesosState) []Framework {
	n := 0
	for i := range st.Frameworks {
		n += len(st.Frameworks[i].Tasks)
	}
	plans := make([]taskPlan, 0, n)
	ends := make([]int, len(st.Frameworks))
	// Names the task pass will make: canonical ones per task context,
	// shared ones per name set.
	canonical, shared, srvNames := 0, 0, 0
	newSet := func(fc *fwCtx, label string, diPorts int) *nameSet {
		shared += 2
		srvNames += 4 + 2*diPorts
		return b.newNameSet(fc, label)
	}
	for i := range st.Frameworks {
		fc := &b.fws[i]
		for j := range st.Frameworks[i].Tasks {
			t := &st.Frameworks[i].Tasks[j]
			ag := b.eligible(t)
			if ag == nil {
				continue
			}
			p := taskPlan{t: t, ag: ag}
			if t.Discovery != nil && t.Discovery.Name != "" {
				p.dn = fc.byDI[t.Discovery.Name]
				if p.dn == nil {
					np := len(t.Discovery.Ports)
					p.dn = &diNames{
						raw: newSet(fc, t.Discovery.Name, np),
						san: newSet(fc, b.label(t.Discovery.Name), np),
					}
					fc.byDI[t.Discovery.Name] = p.dn
				}
				p.dn.raw.count++
				p.dn.san.count++
				canonical += 4
			} else {
				p.ns = fc.byTask[t.Name]
				if p.ns == nil {
					p.ns = newSet(fc, b.label(t.Name), 0)
					fc.byTask[t.Name] = p.ns
				}
				p.ns.count++
				canonical += 2
			}
			plans = append(plans, p)
		}
		ends[i] = len(plans)
	}
	b.addrs.reserve(canonical + shared)
	b.srvs.reserve(srvNames)
	if b.ptrOn {
		b.ptrs.reserve(len(plans))
	}

	tasks := make([]Task, len(plans)) // one allocation for every framework's tasks
	out := make([]Framework, len(st.Frameworks))
	start := 0
	for i := range st.Frameworks {
		for k := start; k < ends[i]; k++ {
			yieldStep(b.yield, k, yieldEvery)
			p := &plans[k]
			b.task(&b.fws[i], p)
			tasks[k] = Task{Name: p.t.Name, ID: p.t.ID, Records: b.takeRecords()}
		}
		out[i] = Framework{Name: st.Frameworks[i].Name, Tasks: tasks[start:ends[i]:ends[i]]}
		start = ends[i]
	}
	return out
}

// yieldEvery is how many tasks Build inserts between calls of
// Config.Yield: about 100 µs of work at ~9 µs per task under load.
const yieldEvery = 16

// task inserts one eligible task's records.
func (b *builder) task(fc *fwCtx, p *taskPlan) {
	t, ag := p.t, p.ag
	ips, strs, revs := b.taskIPs(t, ag)
	var hash [5]byte
	b.idBuf = append(b.idBuf[:0], t.ID...) // sha1.Sum of a []byte(string) would allocate
	appendHashBytes(hash[:0], b.idBuf)
	var canonical string
	if p.dn != nil {
		b.taskContext(fc, p.dn.raw, t, &hash, ag, ips, strs, true)
		canonical = b.taskContext(fc, p.dn.san, t, &hash, ag, ips, strs, true)
	} else {
		canonical = b.taskContext(fc, p.ns, t, &hash, ag, ips, strs, false)
	}
	if b.ptrOn {
		for k, ip := range ips {
			if revs != nil {
				b.ptrs.add(revs[k], canonical) // the agent's, made once
			} else {
				b.ptrs.add(b.reverseName(ip), canonical)
			}
		}
	}
}

// taskContext inserts the records of one task under one name set and
// returns its canonical name <name>-<hash>-<slave>.<fw>.D. (§4.6).
func (b *builder) taskContext(fc *fwCtx, ns *nameSet, t *cluster.Task, hash *[5]byte, ag *agentInfo,
	ips []netip.Addr, strs []string, di bool) string {
	// Both canonical names in one arena string.
	a := &b.strs
	start := a.begin(2*(len(ns.label)+len(hash)+2+len(ag.tail)) + len(fc.tail) + len(fc.slaveTail))
	a.buf = append(a.buf, ns.label...)
	a.buf = append(a.buf, '-')
	a.buf = append(a.buf, hash[:]...)
	a.buf = append(a.buf, '-')
	a.buf = append(a.buf, ag.tail...)
	stem := len(a.buf) - start
	a.buf = append(a.buf, fc.tail...)
	a.buf = append(a.buf, a.buf[start:start+stem]...)
	a.buf = append(a.buf, fc.slaveTail...)
	both := a.end(start)
	n := stem + len(fc.tail)
	canon, canonSlave := both[:n], both[n:]

	// A canonical name never referenced before (the rule, unless another
	// task has the same name, id hash, agent and framework) cannot be the
	// target of any SRV value yet, since every context references its
	// canonical names before it inserts SRV values: this context's SRV
	// values are then new unless the task repeats one (a port listed twice).
	ci, canonNew := b.addrs.refNew(canon)
	si, slaveNew := b.addrs.refNew(canonSlave)
	for k, ip := range ips {
		b.taskAddrRef(&ns.a, ip, strs[k], ns.count*len(ips))
		b.taskAddrAt(ci, canon, ip, strs[k])
	}
	for k, ip := range ag.ips {
		b.taskAddrRef(&ns.aSlave, ip, ag.strs[k], ns.count*len(ag.ips))
		b.taskAddrAt(si, canonSlave, ip, ag.strs[k])
	}
	nports := 0
	for _, pr := range t.Ports {
		nports += max(min(pr.End, 65535)-max(pr.Begin, 0)+1, 0)
	}
	hint := ns.count * nports

	// Host ports: under .slave only when the task has DiscoveryInfo, under
	// both otherwise; tcp and udp each, always pointing at the agent.
	for _, pr := range t.Ports {
		for p := max(pr.Begin, 0); p <= min(pr.End, 65535); p++ {
			v := SRV{Target: canonSlave, Port: uint16(p)}
			b.taskSRV(&ns.tcpSlave, v, slaveNew, hint)
			b.taskSRV(&ns.udpSlave, v, slaveNew, hint)
			if !di {
				b.taskSRV(&ns.tcp, v, slaveNew, hint)
				b.taskSRV(&ns.udp, v, slaveNew, hint)
			}
		}
	}
	if !di {
		return canon
	}
	// DiscoveryInfo ports point at the task name (container IPs if any).
	hint = ns.count * len(t.Discovery.Ports)
	for i := range t.Discovery.Ports {
		dp := &t.Discovery.Ports[i]
		if dp.Number < 0 || dp.Number > 65535 {
			continue
		}
		v := SRV{Target: canon, Port: uint16(dp.Number)}
		refs := b.diPort(ns, fc, dp)
		for j := range refs {
			b.taskSRV(&refs[j], v, canonNew, hint)
		}
	}
	return canon
}

// taskIPs applies the IP sources in order (§4.7) and returns the IPs with
// their text forms, and their reverse names when they are the agent's. The
// slices are only valid until the next call.
func (b *builder) taskIPs(t *cluster.Task, ag *agentInfo) ([]netip.Addr, []string, []string) {
	var st *cluster.TaskStatus
	looked := false
	for _, src := range b.sources {
		if src == srcHost {
			if len(ag.ips) > 0 {
				return ag.ips, ag.strs, ag.revs
			}
			continue
		}
		if !looked {
			st, looked = latestRunning(t.Statuses), true
		}
		if st == nil {
			continue
		}
		b.ipBuf, b.strBuf = b.ipBuf[:0], b.strBuf[:0]
		switch src {
		case srcNetInfo:
			for i := range st.NetworkInfos {
				for _, a := range st.NetworkInfos[i].IPAddresses {
					b.addTaskIP(a.IP)
				}
			}
		case srcMesos, srcDocker:
			key := MesosIPLabel
			if src == srcDocker {
				key = DockerIPLabel
			}
			for _, l := range st.Labels {
				if l.Key == key {
					b.addTaskIP(l.Value)
				}
			}
		}
		if len(b.ipBuf) > 0 {
			return b.ipBuf, b.strBuf, nil
		}
	}
	return nil, nil, nil
}

func (b *builder) addTaskIP(s string) {
	if ip, ok := parseIP(s); ok {
		b.ipBuf = append(b.ipBuf, ip)
		b.strBuf = append(b.strBuf, b.ipString(ip))
	}
}

// ipString is ip.String() in the arena.
func (b *builder) ipString(ip netip.Addr) string {
	start := b.strs.begin(len("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
	b.strs.buf = ip.AppendTo(b.strs.buf)
	return b.strs.end(start)
}

// reverseName is the package's reverseName in the arena.
func (b *builder) reverseName(ip netip.Addr) string {
	start := b.strs.begin(maxReverse)
	b.strs.buf = appendReverse(b.strs.buf, ip)
	return b.strs.end(start)
}

// latestRunning is Mesos-DNS's choice of status for the container IP
// sources: the TASK_RUNNING status with the highest timestamp, the first
// one on ties. Like Mesos-DNS it starts from -1, so a status stamped -1 or
// earlier is never chosen.
func latestRunning(sts []cluster.TaskStatus) *cluster.TaskStatus {
	ts, j := -1.0, -1
	for i := range sts {
		if sts[i].State == cluster.TaskRunning && sts[i].Timestamp > ts {
			ts, j = sts[i].Timestamp, i
		}
	}
	if j < 0 {
		return nil
	}
	return &sts[j]
}

// taskAddrAt inserts an A/AAAA record of the current task under the name
// numbered i and lists it under the task if it is new.
func (b *builder) taskAddrAt(i int32, name string, ip netip.Addr, host string) {
	if b.addrs.addAt(i, ip) {
		b.addrRecord(name, ip, host)
	}
}

// taskAddrRef is taskAddrAt for a cached name; hint is the number of
// values the name may end up with.
func (b *builder) taskAddrRef(r *nameRef, ip netip.Addr, host string, hint int) {
	if r.idx < 0 {
		r.idx = b.addrs.ref(r.name)
	}
	if b.addrs.addAtHint(r.idx, ip, hint) {
		b.addrRecord(r.name, ip, host)
	}
}

func (b *builder) addrRecord(name string, ip netip.Addr, host string) {
	rtype := "A"
	if !ip.Is4() {
		rtype = "AAAA"
	}
	b.addRecord(Record{Name: name, Host: host, RType: rtype})
}

// taskSRV inserts an SRV record of the current task and lists it under the
// task if it is new. freshTarget says that v.Target is a canonical name
// this task context created, so that only its own values can equal v; hint
// is the number of values the name may end up with.
func (b *builder) taskSRV(r *nameRef, v SRV, freshTarget bool, hint int) {
	if r.idx < 0 {
		r.idx = b.srvs.ref(r.name)
	}
	if freshTarget {
		if !addFreshSRV(&b.srvs, r.idx, v, hint) {
			return
		}
	} else if !b.srvs.addAtHint(r.idx, v, hint) {
		return
	}
	if v.Port != b.hostP || v.Target != b.hostT || b.host == "" {
		a := &b.strs
		start := a.begin(len(v.Target) + 6)
		a.buf = append(a.buf, v.Target...)
		a.buf = append(a.buf, ':')
		a.buf = strconv.AppendUint(a.buf, uint64(v.Port), 10)
		b.hostT, b.hostP, b.host = v.Target, v.Port, a.end(start)
	}
	b.addRecord(Record{Name: r.name, Host: b.host, RType: "SRV"})
}

// addRecord appends to the record chunk, moving the current task's records
// to a new chunk when it is full, so that tasks share a few large arrays.
func (b *builder) addRecord(r Record) {
	if len(b.recs) == cap(b.recs) {
		cur := b.recs[b.recStart:]
		c := make([]Record, 0, max(b.recsChunk, 2*len(cur)))
		b.recs, b.recStart = append(c, cur...), 0
	}
	b.recs = append(b.recs, r)
}

// takeRecords returns the current task's records and starts the next task.
func (b *builder) takeRecords() []Record {
	if b.recStart == len(b.recs) {
		return nil
	}
	r := b.recs[b.recStart:len(b.recs):len(b.recs)]
	b.recStart = len(b.recs)
	return r
}
