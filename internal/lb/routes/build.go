package routes

import (
	"cmp"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// excludedStates are the task states Marathon-LB never routes to
// (EXCLUDED_TASK_STATES). TASK_RUNNING, TASK_LOST and TASK_UNREACHABLE —
// and tasks without a state — are routed: a lost or unreachable task may
// well still be serving, and Marathon-LB prefers being optimistic there.
var excludedStates = map[cluster.TaskState]bool{
	cluster.TaskStaging: true, cluster.TaskStarting: true, cluster.TaskKilling: true,
	cluster.TaskFinished: true, cluster.TaskFailed: true, cluster.TaskKilled: true,
	cluster.TaskError: true, cluster.TaskDropped: true, cluster.TaskGone: true,
	cluster.TaskGoneByOperator: true, cluster.TaskUnknown: true,
}

// svcBuild is a service on its way into the table.
type svcBuild struct {
	appID   string
	cfg     svcConfig
	servers []srvBuild
}

type srvBuild struct {
	taskID   string
	host     string
	ip       string // as named in the server name
	addr     netip.AddrPort
	port     int
	ports    []int // all the task's ports, for HEALTHCHECK_PORT_INDEX
	draining bool
}

// Build computes the route table Marathon-LB would configure for a Marathon
// snapshot (GET /v2/apps?embed=apps.tasks) under flags, and the next health
// cache (in Table.Health). It is pure: it neither changes st nor health nor
// calls anything but flags.Resolve, and the same inputs give the same table.
//
// The steps are Marathon-LB's get_apps and config: merge zero-downtime
// deployment groups; resolve each app's networking mode, service ports and
// per-port labels; keep the tasks that are in a routable state, alive (with
// --health-check) and have an address; then, in (app id, service port)
// order, keep the services of our groups that are enabled and have servers,
// and lay out the shared frontends' rules.
//
// Problems lists what could not be honoured; a malformed label disables only
// its own service (see Problem).
func Build(st *cluster.MarathonState, flags Flags, health HealthCache) (*Table, []Problem) {
	var problems []Problem
	if st == nil {
		st = &cluster.MarathonState{}
	}
	apps := groupApps(st, &problems)
	asg := newPortAssigner(flags.MinServPortIPPerTask, flags.MaxServPortIPPerTask)
	hf := &healthFilter{prev: health}
	var svcs []*svcBuild
	for i := range apps {
		svcs = appendApp(svcs, &apps[i], &flags, asg, hf, &problems)
	}

	// Marathon-LB iterates services sorted by (app id, service port); the
	// sort is stable so equal keys keep snapshot order.
	sort.SliceStable(svcs, func(i, j int) bool {
		if svcs[i].appID != svcs[j].appID {
			return svcs[i].appID < svcs[j].appID
		}
		return svcs[i].cfg.port < svcs[j].cfg.port
	})

	t := &Table{
		byListen:  make(map[ListenAddr]*Service),
		byBackend: make(map[string]*Backend),
	}
	reserved := map[ListenAddr]string{flags.AppIDAddr: "the app-id frontend"}
	if flags.BindHTTPHTTPS {
		reserved[flags.HTTPAddr] = "the HTTP vhost frontend"
		reserved[flags.HTTPSAddr] = "the HTTPS vhost frontend"
	}
	fb := newFrontendBuilder(&flags)
	for _, s := range svcs {
		c := &s.cfg
		listen := ListenAddr{Addr: c.bindAddr, Port: uint16(c.port)}
		name := backendName(s.appID, c.port)
		conflict := ""
		switch {
		case reserved[listen] != "":
			conflict = listen.String() + " is taken by " + reserved[listen]
		case reserved[ListenAddr{Port: listen.Port}] != "" && listen.Addr.IsValid():
			conflict = listen.String() + " overlaps " + reserved[ListenAddr{Port: listen.Port}]
		case t.byListen[listen] != nil:
			conflict = listen.String() + " is already bound by " + t.byListen[listen].Backend.Name
		case t.byBackend[name] != nil:
			conflict = "backend name " + name + " is already used by another port of the app"
		}
		if conflict != "" {
			// HAProxy would fail to bind or reject the duplicate name; the
			// first service in Marathon-LB's order keeps the port.
			problems = append(problems, Problem{AppID: s.appID, PortIndex: c.index, ServicePort: c.port,
				Reason: conflict, Disabled: true})
			continue
		}
		b := newBackend(s, name)
		svc := &Service{Listen: listen, Mode: c.mode, SSLCert: c.sslCert, BindOptions: c.bindOptions, Backend: b}
		t.Services = append(t.Services, svc)
		t.byListen[listen] = svc
		t.byBackend[name] = b
		fb.addService(s.appID, c, b)
	}
	fb.finish(t)
	t.Health = hf.cache()
	return t, problems
}

// appendApp resolves one app's services and servers and appends those
// that can be routed (in our groups, enabled, with at least one server).
func appendApp(svcs []*svcBuild, a *lbApp, flags *Flags, asg *portAssigner, hf *healthFilter, problems *[]Problem) []*svcBuild {
	if flags.FrameworkName != "" && strings.TrimPrefix(a.id, "/") == flags.FrameworkName {
		return svcs
	}
	mode := appNetMode(a.def)
	sps := servicePorts(a.def, a.id, a.tasks, mode, asg)
	labels := splitLabels(a.def.Labels)

	out := make([]*svcBuild, len(sps))
	any := false
	for i, sp := range sps {
		pl := labels.ports[i]
		if list, has := groupsOf(labels, pl); !selected(flags.Groups, list, has) {
			continue
		}
		enabled := !flags.StrictMode
		if v, ok := pl["ENABLED"]; ok {
			enabled = truthy(v)
		}
		if !enabled {
			continue
		}
		any = true
		if sp == 0 {
			*problems = append(*problems, Problem{AppID: a.id, PortIndex: i,
				Reason: "no service port (none defined, or the ip-per-task range is exhausted)", Disabled: true})
			continue
		}
		if slices.Contains(sps[:i], sp) {
			*problems = append(*problems, Problem{AppID: a.id, PortIndex: i, ServicePort: sp,
				Reason: "service port " + strconv.Itoa(sp) + " appears twice in the app", Disabled: true})
			continue
		}
		s := &svcBuild{appID: a.id}
		ok := parseService(&s.cfg, a.def, a.id, i, sp, pl, problems)
		warnIgnored(a.id, &s.cfg, pl, flags, problems)
		if ok {
			out[i] = s
		}
	}
	if any {
		for _, k := range labels.unknown {
			*problems = append(*problems, Problem{AppID: a.id, PortIndex: -1, Label: k, Reason: "unknown label, ignored"})
		}
		var extra []Problem
		for n, pl := range labels.ports {
			for suffix := range pl {
				if n >= len(sps) {
					extra = append(extra, Problem{AppID: a.id, PortIndex: n, Label: labelKey(n, suffix),
						Reason: "the app has no service port " + strconv.Itoa(n) + ", ignored"})
				}
			}
		}
		slices.SortFunc(extra, func(x, y Problem) int { return strings.Compare(x.Label, y.Label) })
		*problems = append(*problems, extra...)
	}

	checkHealth := flags.HealthCheck && len(a.def.HealthChecks) > 0
	var results []bool
	for _, lt := range a.tasks {
		t := lt.t
		if t.Host == "" || excludedStates[t.State] {
			continue
		}
		if checkHealth {
			results = results[:0]
			for _, r := range t.HealthCheckResults {
				results = append(results, r.Alive)
			}
			if !hf.keep(t.ID, results, len(t.HealthCheckResults) > 0) {
				continue
			}
		}
		if !any {
			continue
		}
		ip := taskIP(t, mode)
		ports := taskPorts(a.def, t, mode)
		if ip == "" || len(ports) == 0 {
			continue // no address yet (Marathon-LB: "no resolvable IP address")
		}
		addr, ipName, ok := resolveTask(t, ip, mode, flags, a.id, problems)
		if !ok {
			continue
		}
		for i := 0; i < len(ports) && i < len(out); i++ {
			if out[i] == nil || ports[i] <= 0 || ports[i] > 65535 {
				continue
			}
			s := srvBuild{taskID: t.ID, host: t.Host, ip: ipName, port: ports[i], ports: ports, draining: lt.draining}
			if addr.IsValid() {
				s.addr = netip.AddrPortFrom(addr, uint16(ports[i]))
			}
			out[i].servers = append(out[i].servers, s)
		}
	}
	for _, s := range out {
		// Services without servers are left out, as in Marathon-LB.
		if s != nil && len(s.servers) > 0 {
			svcs = append(svcs, s)
		}
	}
	return svcs
}

// resolveTask finds the address of a task: the task IP of an IP-per-task
// app, else the agent host, resolved with flags.Resolve when it is a name.
// ipName is the IP (or, unresolved, the host name) as it appears in the
// server name.
func resolveTask(t *cluster.AppTask, ip string, mode netMode, flags *Flags, appID string, problems *[]Problem) (netip.Addr, string, bool) {
	if a, err := netip.ParseAddr(ip); err == nil {
		return a.Unmap(), ip, true
	}
	if mode == netContainer {
		*problems = append(*problems, Problem{AppID: appID, PortIndex: -1, TaskID: t.ID,
			Reason: "task IP " + strconv.Quote(ip) + " is not an IP address", Disabled: true})
		return netip.Addr{}, "", false
	}
	if flags.Resolve == nil {
		return netip.Addr{}, ip, true
	}
	a, ok := flags.Resolve(ip)
	if !ok || !a.IsValid() {
		*problems = append(*problems, Problem{AppID: appID, PortIndex: -1, TaskID: t.ID,
			Reason: "cannot resolve task host " + strconv.Quote(ip), Disabled: true})
		return netip.Addr{}, "", false
	}
	return a.Unmap(), a.Unmap().String(), true
}

// warnIgnored reports labels that are accepted but have no effect, so that
// an operator who expects, say, basic auth on a service without VHOST learns
// that there is none.
func warnIgnored(appID string, c *svcConfig, pl map[string]string, flags *Flags, problems *[]Problem) {
	warn := func(suffix, reason string) {
		*problems = append(*problems, Problem{AppID: appID, PortIndex: c.index, ServicePort: c.origPort,
			Label: labelKey(c.index, suffix), Reason: reason})
	}
	suffixes := make([]string, 0, len(pl))
	for s := range pl {
		suffixes = append(suffixes, s)
	}
	slices.Sort(suffixes)
	for _, s := range suffixes {
		switch {
		case templateLabels[s]:
			warn(s, "HAProxy template overrides are not supported; the default behaviour applies")
		case !routingLabels[s]:
			warn(s, "unknown label, ignored")
		}
	}
	if len(c.vhosts) == 0 {
		for _, s := range []string{"AUTH", "PATH", "REDIRECT_TO_HTTPS", "HTTP_BACKEND_REDIR"} {
			if _, ok := pl[s]; ok {
				warn(s, "has no effect without HAPROXY_"+strconv.Itoa(c.index)+"_VHOST")
			}
		}
	}
	if c.mode == ModeTCP {
		for _, s := range []string{"USE_HSTS", "HTTP_BACKEND_PROXYPASS_PATH", "HTTP_BACKEND_REVPROXY_PATH", "HTTP_BACKEND_REDIR"} {
			if _, ok := pl[s]; ok {
				warn(s, "has no effect in tcp mode")
			}
		}
	}
}

// newBackend lays out a service's servers and settings.
func newBackend(s *svcBuild, name string) *Backend {
	c := &s.cfg
	b := &Backend{
		Name:            name,
		AppID:           s.appID,
		PortIndex:       c.index,
		ServicePort:     c.port,
		Mode:            c.mode,
		Balance:         c.balance,
		Sticky:          c.sticky,
		AllowedNetworks: c.networks,
	}
	if c.auth != nil {
		c.auth.Userlist.Name = "user_" + name
		b.Auth = c.auth
	}
	if c.mode == ModeHTTP {
		h := &HTTPOptions{HSTS: c.hsts, RedirectToHTTPS: c.redirect && len(c.vhosts) > 0}
		if c.proxyPass != "" {
			h.ProxyPassPath, h.ProxyPassHost = c.proxyPass, c.vhostLabel
		}
		if c.revProxy != "" {
			h.RevProxyPath, h.RevProxyHost = c.revProxy, c.vhostLabel
		}
		if c.redir != "" && c.vhostLabel != "" {
			h.RootRedirect = &RootRedirect{Hosts: patterns(c.vhostLabel), Location: c.redir}
		}
		b.HTTP = h
	}
	for _, v := range c.vhosts {
		b.Vhosts = append(b.Vhosts, patterns(v)...)
	}
	b.HealthCheck = healthCheck(c)

	// Servers in Marathon-LB's order: task host, then port (a stable sort,
	// so tasks on the same host and port keep snapshot order).
	slices.SortStableFunc(s.servers, func(x, y srvBuild) int {
		return cmp.Or(strings.Compare(x.host, y.host), cmp.Compare(x.port, y.port))
	})
	taken := make(map[int]struct{}, len(s.servers))
	b.Servers = make([]Server, len(s.servers))
	for i, sv := range s.servers {
		srvName := serverName(sv.host, sv.ip, sv.port)
		srv := Server{
			Name:     srvName,
			ID:       serverID(srvName, taken),
			TaskID:   sv.taskID,
			Host:     sv.host,
			Addr:     sv.addr,
			HostPort: dialAddr(sv),
			Draining: sv.draining,
		}
		if c.sticky {
			srv.Cookie = stickyCookie(srvName)
		}
		if c.hc != nil {
			srv.CheckPort = checkPort(c, sv)
		}
		b.Servers[i] = srv
	}
	return b
}

// dialAddr is the address to dial as text.
func dialAddr(s srvBuild) string {
	if s.addr.IsValid() {
		return s.addr.String()
	}
	return s.host + ":" + strconv.Itoa(s.port)
}

// checkPort is the port a server's health check connects to: with
// HEALTHCHECK_PORT_INDEX the task's port at that index (its own port when
// the index is out of range); otherwise the Marathon check's explicit port.
// 0 means the server's own port.
func checkPort(c *svcConfig, s srvBuild) int {
	if c.hcIndex >= 0 {
		if c.hcIndex < len(s.ports) {
			return s.ports[c.hcIndex]
		}
		return s.port
	}
	return c.hc.Port
}

// healthCheck translates the Marathon check that applies to the service
// into the HAProxy check Marathon-LB writes: an HTTP GET in http mode,
// unless the Marathon check is TCP or MESOS_TCP (or the service is tcp),
// then a TCP connect. COMMAND and MESOS_* checks become HAProxy checks too.
func healthCheck(c *svcConfig) *HealthCheck {
	if c.hc == nil {
		if c.sticky {
			return &HealthCheck{Type: CheckTCP, Interval: 2 * time.Second, Timeout: 2 * time.Second,
				Fall: 3, Rise: 2, Implicit: true}
		}
		return nil
	}
	hc := c.hc
	h := &HealthCheck{
		Interval:         time.Duration(hc.IntervalSeconds) * time.Second,
		Fall:             hc.MaxConsecutiveFailures + 1,
		Rise:             2,
		MarathonProtocol: hc.Protocol,
	}
	if c.mode == ModeTCP || hc.Protocol == "TCP" || hc.Protocol == "MESOS_TCP" {
		h.Type = CheckTCP
		h.Timeout = h.Interval
		return h
	}
	h.Type = CheckHTTP
	h.Path = hc.Path
	if h.Path == "" {
		h.Path = "/"
	}
	h.Timeout = time.Duration(hc.TimeoutSeconds) * time.Second
	return h
}
