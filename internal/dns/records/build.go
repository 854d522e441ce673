package records

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// IP source names for Config.IPSources, as Mesos-DNS spells them.
const (
	// SourceNetInfo takes the task's container IPs from the network_infos of
	// its latest TASK_RUNNING status.
	SourceNetInfo = "netinfo"
	// SourceMesos takes them from that status's
	// MesosContainerizer.NetworkSettings.IPAddress labels.
	SourceMesos = "mesos"
	// SourceDocker takes them from that status's
	// Docker.NetworkSettings.IPAddress labels.
	SourceDocker = "docker"
	// SourceHost takes the IPs of the agent the task runs on.
	SourceHost = "host"
)

// Status label keys the mesos and docker IP sources read.
const (
	MesosIPLabel  = "MesosContainerizer.NetworkSettings.IPAddress"
	DockerIPLabel = "Docker.NetworkSettings.IPAddress"
)

// DefaultIPSources is Mesos-DNS's code default (its sample config file
// differs, which is why an explicit setting is worth having).
var DefaultIPSources = []string{SourceNetInfo, SourceMesos, SourceHost}

// Config is what Build needs from the configuration and from the process
// around it. Build never looks anything up itself except through Resolve, so
// that it stays a function of its arguments.
type Config struct {
	// Domain is the zone, "mesos" (default when empty). It is lower-cased;
	// a trailing dot is ignored. The caller validates it.
	Domain string
	// IPSources are the task IP sources in order of preference (default
	// DefaultIPSources). The first source that yields at least one IP wins,
	// with all of its IPs.
	IPSources []string
	// EnforceRFC952 selects RFC 952 labels (24 bytes, letter first) instead
	// of RFC 1123 labels (63 bytes).
	EnforceRFC952 bool
	// HealthFilter withholds every record of a task whose latest status says
	// it is unhealthy. Mesos-DNS publishes unhealthy tasks (its #310); the
	// caller should default this to true. False gives Mesos-DNS's behaviour.
	HealthFilter bool
	// PTROn fills Table.PTR for task and agent IPs, which Mesos-DNS never
	// had.
	PTROn bool
	// SOAMname is the name server's name (default "ns1.mesos.", Mesos-DNS's
	// default whatever the domain); it gets NSAddrs as A/AAAA records.
	SOAMname string
	// NSAddrs are the name server's addresses, which the caller derives from
	// its listener (every non-loopback interface address for 0.0.0.0).
	NSAddrs []netip.Addr
	// Masters are the masters, "ip:port" or "host:port", in the order that
	// numbers master0, master1...: the static configuration order, or in
	// ZooKeeper mode the leader followed by the other members.
	Masters []string
	// Resolve looks up the addresses of a host name that appears where an
	// IP is expected: a pid's host, a pid-less framework's hostname, the
	// leader, a master. Nil means no lookups: such objects are dropped with
	// a warning. Build caches answers for one call.
	Resolve func(host string) ([]netip.Addr, error)
	// Now gives Table.Built and Table.Serial (default time.Now).
	Now func() time.Time
	// Yield, when set, is called every few dozen tasks (every ~100 µs of
	// work). A build of 100,000 tasks takes most of a second; the DNS server
	// passes its Yield so that, on a one-core machine, queries arriving
	// meanwhile are answered instead of waiting for the whole build.
	Yield func()
}

// DropError is a warning from Build: one object of the state, named by Kind
// and ID (and Name when it has one), did not get some or all of its records.
// Build carries on with everything else, where Mesos-DNS would have rejected
// the whole state or crashed.
type DropError struct {
	// Kind is "framework", "agent", "leader", "master" or "task".
	Kind string
	// ID is the framework/agent/task id, or the leader/master address as given.
	ID string
	// Name is the framework's name, when Kind is "framework".
	Name string
	// Dropped says which records were left out.
	Dropped string
	Err     error
}

func (e *DropError) Error() string {
	var b strings.Builder
	b.WriteString("records: ")
	b.WriteString(e.Kind)
	b.WriteString(" ")
	b.WriteString(strconv.Quote(e.ID))
	if e.Name != "" {
		b.WriteString(" (")
		b.WriteString(strconv.Quote(e.Name))
		b.WriteString(")")
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	if e.Dropped != "" {
		b.WriteString("; dropped ")
		b.WriteString(e.Dropped)
	}
	return b.String()
}

func (e *DropError) Unwrap() error { return e.Err }

// ErrNoResolver is the cause of a drop when a host name needed resolving and
// Config.Resolve was nil.
var ErrNoResolver = errors.New("host name and no resolver")

// Build derives the complete record set Mesos-DNS would serve for st (spec
// §4), plus Signpost's deliberate differences:
//
//   - HealthFilter: a task whose latest status (highest timestamp among all
//     of its statuses) says healthy=false gets no records at all and is left
//     out of Frameworks.
//   - One bad object never costs the table: a pid, pid-less hostname, leader
//     or master whose host is a name is resolved with cfg.Resolve; one that
//     cannot be parsed or resolved loses only its own records and yields a
//     *DropError. An agent without a usable pid is treated as unknown, so
//     its tasks get no records either (their .slave names and host-port
//     SRV targets would have nothing to point at). Mesos-DNS rejects the
//     whole state on a bad pid and exits on a host-name leader or master.
//   - PTR records when cfg.PTROn.
//
// As in Mesos-DNS, inactive frameworks (active=false, still registered) are
// not filtered: their tasks get records like any other's. Only the state's
// "frameworks" are read, not completed ones.
//
// Build does not modify st, does no I/O except through cfg.Resolve and never
// panics on odd input. The []error are warnings about dropped objects.
func Build(st *cluster.MesosState, cfg Config) (*Table, []error) {
	b := newBuilder(cfg)
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	if st == nil {
		st = &cluster.MesosState{}
	}
	b.presize(st)
	b.frameworkRecords(st)
	b.agentRecords(st)
	b.nameServerRecord(cfg)
	b.masterRecords(st.Leader, cfg.Masters)
	frameworks := b.taskRecords(st)
	t := b.table()
	t.Frameworks = frameworks
	t.Built = now()
	t.Serial = uint32(t.Built.Unix())
	return t, b.warns
}

type ipSource uint8

const (
	srcNetInfo ipSource = iota
	srcMesos
	srcDocker
	srcHost
)

// builder holds the state of one Build. Record sets are kept per type as
// name → values with set semantics, so that "was this record new?" (which
// decides what /v1/enumerate lists under a task) is answered at insert time.
type builder struct {
	rfc952       bool
	healthFilter bool
	ptrOn        bool
	apex         string // "mesos."
	slaveApex    string // "slave.mesos."
	soaMname     string
	sources      []ipSource
	resolve      func(string) ([]netip.Addr, error)
	yield        func()
	resolved     map[string]resolution

	addrs rrset[netip.Addr]
	srvs  rrset[SRV]
	ptrs  rrset[string]
	warns []error

	fws    []fwCtx
	agents map[string]*agentInfo
	labels map[string]string
	strs   strArena

	// recs is the chunk the current task's enumerate records are appended
	// to; recStart is where the current task's records begin.
	recs      []Record
	recStart  int
	recsChunk int
	// hostT/hostP/host cache the last "target:port" string made for an SRV
	// record, which the next three SRV inserts usually share.
	hostT string
	hostP uint16
	host  string

	ipBuf  []netip.Addr
	strBuf []string
	idBuf  []byte
}

type resolution struct {
	ips []netip.Addr
	err error
}

type agentInfo struct {
	ips  []netip.Addr
	strs []string // the IPs' text
	revs []string // reverse names, when PTRs are on
	tail string
}

func newBuilder(cfg Config) *builder {
	domain := strings.ToLower(strings.TrimSuffix(cfg.Domain, "."))
	if domain == "" {
		domain = "mesos"
	}
	b := &builder{
		rfc952:       cfg.EnforceRFC952,
		healthFilter: cfg.HealthFilter,
		ptrOn:        cfg.PTROn,
		apex:         domain + ".",
		resolve:      cfg.Resolve,
		yield:        cfg.Yield,
		resolved:     make(map[string]resolution),
		labels:       make(map[string]string),
	}
	b.slaveApex = "slave." + b.apex
	b.soaMname = strings.ToLower(cfg.SOAMname)
	if b.soaMname == "" {
		b.soaMname = "ns1.mesos."
	}
	if !strings.HasSuffix(b.soaMname, ".") {
		b.soaMname += "."
	}
	srcs := cfg.IPSources
	if len(srcs) == 0 {
		srcs = DefaultIPSources
	}
	for _, s := range srcs {
		switch s {
		case SourceNetInfo:
			b.sources = append(b.sources, srcNetInfo)
		case SourceMesos:
			b.sources = append(b.sources, srcMesos)
		case SourceDocker:
			b.sources = append(b.sources, srcDocker)
		case SourceHost:
			b.sources = append(b.sources, srcHost)
		default:
			b.warns = append(b.warns, fmt.Errorf("records: unknown IP source %q ignored", s))
		}
	}
	return b
}

// presize sizes what the framework and agent passes fill; the task pass
// sizes its own sets once it knows how many names it will make.
func (b *builder) presize(st *cluster.MesosState) {
	paced := b.yield != nil
	b.addrs.paced, b.srvs.paced, b.ptrs.paced = paced, paced, paced
	b.addrs.init(len(st.Frameworks) + 16)
	b.srvs.init(len(st.Frameworks) + 16)
	if b.ptrOn {
		b.ptrs.init(len(st.Agents) + 16)
	}
	b.agents = make(map[string]*agentInfo, mapHint(len(st.Agents), paced))
	tasks := 0
	for i := range st.Frameworks {
		tasks += len(st.Frameworks[i].Tasks)
	}
	b.strs.chunk = min(max(64*(tasks+len(st.Agents)), 4<<10), 1<<20)
	b.recsChunk = min(max(24*tasks, 64), 1<<16)
}

func (b *builder) warn(kind, id, name, dropped string, err error) {
	b.warns = append(b.warns, &DropError{Kind: kind, ID: id, Name: name, Dropped: dropped, Err: err})
}

// label is Label with a cache for the names that need rewriting (most task
// names of real clusters are valid labels already and cost nothing).
func (b *builder) label(s string) string {
	max := maxLabel1123
	if b.rfc952 {
		max = maxLabel952
	}
	if validLabel(s, max, b.rfc952) {
		return s
	}
	if l, ok := b.labels[s]; ok {
		return l
	}
	l := Label(s, b.rfc952)
	b.labels[s] = l
	return l
}

// parseIP accepts what Go's net.ParseIP accepts (no zones), IPv4-mapped IPv6
// counting as IPv4 as it does in Mesos-DNS.
func parseIP(s string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// hostAddrs returns the addresses of host: itself if it is an IP, else the
// answer of cfg.Resolve, remembered for the rest of the build.
func (b *builder) hostAddrs(host string) ([]netip.Addr, error) {
	if ip, ok := parseIP(host); ok {
		return []netip.Addr{ip}, nil
	}
	if host == "" {
		return nil, errors.New("empty host")
	}
	if r, ok := b.resolved[host]; ok {
		return r.ips, r.err
	}
	var r resolution
	if b.resolve == nil {
		r.err = fmt.Errorf("%q: %w", host, ErrNoResolver)
	} else {
		ips, err := b.resolve(host)
		for _, ip := range ips {
			if ip = ip.Unmap().WithZone(""); ip.IsValid() && !slices.Contains(r.ips, ip) {
				r.ips = append(r.ips, ip)
			}
		}
		switch {
		case err != nil:
			r.ips, r.err = nil, fmt.Errorf("resolve %q: %w", host, err)
		case len(r.ips) == 0:
			r.err = fmt.Errorf("resolve %q: no addresses", host)
		}
	}
	b.resolved[host] = r
	return r.ips, r.err
}

// parseUPID splits a libprocess UPID "id@host:port" (exactly one '@', as
// Mesos-DNS requires) into host and port.
func parseUPID(pid string) (string, uint16, error) {
	at := strings.IndexByte(pid, '@')
	if at < 0 || strings.IndexByte(pid[at+1:], '@') >= 0 {
		return "", 0, fmt.Errorf("pid %q: want id@host:port", pid)
	}
	host, port, err := splitHostPort(pid[at+1:])
	if err != nil {
		return "", 0, fmt.Errorf("pid %q: %w", pid, err)
	}
	return host, port, nil
}

func splitHostPort(hp string) (string, uint16, error) {
	host, ps, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(ps, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("port %q is not a number 0-65535", ps)
	}
	return host, uint16(port), nil
}

// frameworkRecords: <fw>.D. A/AAAA → the scheduler's IPs, and
// _framework._tcp.<fw>.D. SRV → <fw>.D.:<pid port> (spec §4.1). It also
// prepares every framework's name context for the task pass.
func (b *builder) frameworkRecords(st *cluster.MesosState) {
	b.fws = make([]fwCtx, len(st.Frameworks))
	fnames := make(map[string]*fwCtx, len(st.Frameworks))
	for i := range st.Frameworks {
		f := &st.Frameworks[i]
		fname := DomainFragment(f.Name, b.rfc952)
		if prev, ok := fnames[fname]; ok {
			// Same sanitised name: the same names, so share their cache.
			b.fws[i] = *prev
		} else {
			b.fws[i] = fwCtx{
				tail:      "." + fname + "." + b.apex,
				slaveTail: "." + fname + ".slave." + b.apex,
				byTask:    make(map[string]*nameSet),
				byDI:      make(map[string]*diNames),
			}
			fnames[fname] = &b.fws[i]
		}

		host, port, hasPort := f.Hostname, uint16(0), false
		if f.PID != "" {
			h, p, err := parseUPID(f.PID)
			if err != nil {
				b.warn("framework", f.ID, f.Name, "its A/AAAA and _framework._tcp records", err)
				continue
			}
			host, port, hasPort = h, p, true
		}
		ips, err := b.hostAddrs(host)
		if err != nil {
			if f.PID == "" && host == "" {
				err = errors.New("neither pid nor hostname")
			}
			b.warn("framework", f.ID, f.Name, "its A/AAAA and _framework._tcp records", err)
			continue
		}
		a := fname + "." + b.apex
		for _, ip := range ips {
			b.addrs.add(a, ip)
		}
		if hasPort {
			b.srvs.add("_framework._tcp."+a, SRV{Target: a, Port: port})
		}
	}
}

// agentRecords: slave.D. A/AAAA → every agent IP, _slave._tcp.D. SRV →
// slave.D.:<pid port> (spec §4.2), and the agent table tasks are checked
// against. Agents are not named individually, as in Mesos-DNS.
func (b *builder) agentRecords(st *cluster.MesosState) {
	srvName := "_slave._tcp." + b.apex
	for i := range st.Agents {
		a := &st.Agents[i]
		host, port, err := parseUPID(a.PID)
		var ips []netip.Addr
		if err == nil {
			ips, err = b.hostAddrs(host)
		}
		if err != nil {
			b.warn("agent", a.ID, "", "its slave records, and every record of its tasks", err)
			continue
		}
		ag := &agentInfo{ips: ips, strs: make([]string, len(ips)), tail: agentTail(a.ID)}
		for k, ip := range ips {
			ag.strs[k] = b.ipString(ip)
			b.addrs.add(b.slaveApex, ip)
			if b.ptrOn {
				rev := b.reverseName(ip)
				ag.revs = append(ag.revs, rev)
				b.ptrs.add(rev, b.slaveApex)
			}
		}
		b.srvs.add(srvName, SRV{Target: b.slaveApex, Port: port})
		b.agents[a.ID] = ag // a repeated id: the last one wins, as in Mesos-DNS
	}
}

// nameServerRecord: <SOAMname> A/AAAA → the listener's addresses (§4.3).
func (b *builder) nameServerRecord(cfg Config) {
	for _, ip := range cfg.NSAddrs {
		if ip.IsValid() {
			b.addrs.add(b.soaMname, ip.Unmap())
		}
	}
}

// masterRecords: leader.D., master.D., masterN.D. and _leader._tcp/_udp.D.
// (§4.4). masterN walks masters in order, skipping entries whose IPs are all
// already under master.D. (duplicates); the leader takes its index where it
// appears (compared as the literal "host:port" string, as Mesos-DNS does), or
// the next index after the list when it is not in it. A bad leader costs its
// own records only: the masters are still numbered.
func (b *builder) masterRecords(leader string, masters []string) {
	var (
		leaderAddr string
		leaderIPs  []netip.Addr
		leaderOK   bool
	)
	master := "master." + b.apex
	if parts := strings.Split(leader, "@"); len(parts) < 2 {
		err := errors.New("want master@host:port")
		if leader == "" {
			err = errors.New("the state names no leader")
		}
		b.warn("leader", leader, "", "leader.D, _leader._tcp/_udp and the leader's master records", err)
	} else {
		leaderAddr = parts[1]
		host, port, err := splitHostPort(leaderAddr)
		if err == nil {
			leaderIPs, err = b.hostAddrs(host)
		}
		if err != nil {
			b.warn("leader", leader, "", "leader.D, _leader._tcp/_udp and the leader's master records", err)
		} else {
			leaderOK = true
			for _, ip := range leaderIPs {
				b.addrs.add("leader."+b.apex, ip)
				b.addrs.add(master, ip)
			}
			target := "leader." + b.apex
			b.srvs.add("_leader._tcp."+b.apex, SRV{Target: target, Port: port})
			b.srvs.add("_leader._udp."+b.apex, SRV{Target: target, Port: port})
		}
	}

	idx := 0
	leaderNumbered := false
	for _, m := range masters {
		host, _, err := net.SplitHostPort(m)
		var ips []netip.Addr
		if err == nil {
			ips, err = b.hostAddrs(host)
		}
		if err != nil {
			b.warn("master", m, "", "its master and masterN records", err)
			continue
		}
		isLeader := leaderOK && m == leaderAddr
		if !isLeader {
			added := false
			for _, ip := range ips {
				if b.addrs.add(master, ip) {
					added = true
				}
			}
			if !added {
				continue // a duplicate master
			}
		} else if leaderNumbered {
			continue // the leader listed twice
		}
		name := "master" + strconv.Itoa(idx) + "." + b.apex
		for _, ip := range ips {
			b.addrs.add(name, ip)
		}
		idx++
		if isLeader {
			leaderNumbered = true
		}
	}
	if leaderOK && !leaderNumbered {
		name := "master" + strconv.Itoa(idx) + "." + b.apex
		for _, ip := range leaderIPs {
			b.addrs.add(name, ip)
		}
	}
}

// table turns the record sets into the sorted, immutable Table maps. The
// three types are independent, so they are finished concurrently, except in
// a paced build (see below).
func (b *builder) table() *Table {
	t := &Table{Domain: b.apex}
	if b.yield != nil {
		// One after the other: with one P, a goroutine that yields hands
		// the core to the next runnable goroutine before the scheduler
		// looks at the network, so parallel finishers would keep queries
		// waiting until sysmon polls (10 ms) instead of yielding to them.
		t.SRV = finishSRV(&b.srvs, b.yield)
		t.PTR = finishPTR(&b.ptrs, b.yield)
		t.A, t.AAAA = finishAddrs(&b.addrs, b.yield)
		return t
	}
	var wg sync.WaitGroup
	wg.Go(func() { t.SRV = finishSRV(&b.srvs, nil) })
	wg.Go(func() { t.PTR = finishPTR(&b.ptrs, nil) })
	t.A, t.AAAA = finishAddrs(&b.addrs, nil)
	wg.Wait()
	return t
}

// finishYieldEvery is how many names the finishing functions sort and
// insert between two calls of Config.Yield (about 50 µs of work).
const finishYieldEvery = 256

// yieldStep calls yield (when set) at every every-th step i of a loop.
func yieldStep(yield func(), i, every int) {
	if yield != nil && i%every == every-1 {
		yield()
	}
}

func finishAddrs(r *rrset[netip.Addr], yield func()) (a, aaaa map[string][]netip.Addr) {
	nA, nAAAA := 0, 0
	for i := range r.entries {
		v4, v6 := countFamilies(r.entries[i].vals)
		if v4 > 0 {
			nA++
		}
		if v6 > 0 {
			nAAAA++
		}
	}
	a = make(map[string][]netip.Addr, mapHint(nA, yield != nil))
	aaaa = make(map[string][]netip.Addr, mapHint(nAAAA, yield != nil))
	for i, name := range r.names {
		yieldStep(yield, i, finishYieldEvery)
		vals := r.entries[i].vals
		if len(vals) == 0 {
			continue // referenced, never filled
		}
		v4, v6 := countFamilies(vals)
		if len(vals) > 1 {
			slices.SortFunc(vals, netip.Addr.Compare) // IPv4 sorts first
		}
		switch {
		case v6 == 0:
			a[name] = vals
		case v4 == 0:
			aaaa[name] = vals
		default:
			a[name] = vals[:v4:v4]
			aaaa[name] = vals[v4:]
		}
	}
	return a, aaaa
}

func finishSRV(r *rrset[SRV], yield func()) map[string][]SRV {
	m := make(map[string][]SRV, mapHint(r.len(), yield != nil))
	for i, name := range r.names {
		yieldStep(yield, i, finishYieldEvery)
		vals := r.entries[i].vals
		if len(vals) == 0 {
			continue // referenced, never filled
		}
		if len(vals) > 1 {
			slices.SortFunc(vals, compareSRV)
		}
		m[name] = vals
	}
	return m
}

func finishPTR(r *rrset[string], yield func()) map[string][]string {
	m := make(map[string][]string, mapHint(r.len(), yield != nil))
	for i, name := range r.names {
		yieldStep(yield, i, finishYieldEvery)
		vals := r.entries[i].vals
		if len(vals) == 0 {
			continue
		}
		if len(vals) > 1 {
			slices.Sort(vals)
		}
		m[name] = vals
	}
	return m
}

func countFamilies(vals []netip.Addr) (v4, v6 int) {
	for _, ip := range vals {
		if ip.Is4() {
			v4++
		} else {
			v6++
		}
	}
	return v4, v6
}

// compareSRV orders SRV values by target, then port.
func compareSRV(x, y SRV) int {
	if c := strings.Compare(x.Target, y.Target); c != 0 {
		return c
	}
	return cmp.Compare(x.Port, y.Port)
}
