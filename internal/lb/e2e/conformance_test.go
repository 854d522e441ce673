package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/sim/taskrun"
	"github.com/signpost-dns/signpost/internal/testutil/fixtures"
	"github.com/signpost-dns/signpost/internal/testutil/freeport"
	"github.com/signpost-dns/signpost/internal/testutil/haproxycfg"
)

// TestConformance runs every conformance case of
// fixtures/marathon-lb/conformance through the real `signpost lb`: the
// case's apps (adapted to this machine, see the package doc) are served by
// `signpost sim`, and each rule of the HAProxy configuration the real
// Marathon-LB generated becomes requests whose answer — which task, or a
// redirect, a 401 or a 503 from the load balancer — must be the one that
// configuration gives.
func TestConformance(t *testing.T) {
	for _, cfgPath := range fixtures.Glob(t, "marathon-lb/conformance/*/expected.cfg") {
		dir := filepath.Dir(cfgPath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			runConformanceCase(t, dir, false)
		})
	}
}

// TestConformanceOracle runs the same requests against real HAProxy loaded
// with each case's expected.cfg itself (adapted like the apps). It checks
// the checker: the adaptation, the probes and decide must agree with what
// HAProxy does with the oracle's configuration, so that a failure of
// TestConformance is Signpost's. The one deliberate difference, Host with a
// port, is not probed here.
func TestConformanceOracle(t *testing.T) {
	needTool(t, "haproxy")
	for _, cfgPath := range fixtures.Glob(t, "marathon-lb/conformance/*/expected.cfg") {
		dir := filepath.Dir(cfgPath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			runConformanceCase(t, dir, true)
		})
	}
}

// adapted is a conformance case moved onto this machine.
type adapted struct {
	doc   map[string]any     // the apps document to load into the simulator
	cfg   *haproxycfg.Config // expected.cfg with addresses and ports mapped
	args  []string           // the case's Marathon-LB flags
	ips   map[string]string  // case IP → loopback IP
	ports map[int]int        // case service port → free port
	certs map[string]string  // certificate path in the case → generated file
}

var labelPortRE = regexp.MustCompile(`^HAPROXY_(\d+_PORT|DEPLOYMENT_ALT_PORT)$`)

// adaptCase maps a case's task IPs onto ln, its service ports onto free
// ports and its certificate paths onto generated certificates, in the apps
// document and in the expected configuration alike, so that every routing
// decision stays the same.
func adaptCase(t *testing.T, dir string, ln loopNet) *adapted {
	t.Helper()
	a := &adapted{ips: map[string]string{}, ports: map[int]int{}, certs: map[string]string{}}
	data, err := os.ReadFile(filepath.Join(dir, "apps.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &a.doc); err != nil {
		t.Fatal(err)
	}
	args, err := os.ReadFile(filepath.Join(dir, "args"))
	if err != nil {
		t.Fatal(err)
	}
	a.args = strings.Fields(string(args))
	if env, _ := os.ReadFile(filepath.Join(dir, "env")); strings.TrimSpace(string(env)) != "" {
		t.Fatalf("env %q: not supported by this test", env)
	}
	if a.cfg, err = haproxycfg.Load(filepath.Join(dir, "expected.cfg")); err != nil {
		t.Fatal(err)
	}

	// Collect IPs and service ports, then map them.
	var ipList []netip.Addr
	addIP := func(s string) {
		if ip, err := netip.ParseAddr(s); err == nil && !slices.Contains(ipList, ip) {
			ipList = append(ipList, ip)
		}
	}
	svcPorts := map[int]bool{}
	for _, f := range a.cfg.Frontends {
		if ap, err := netip.ParseAddrPort(strings.Replace(f.Bind, "*", "0.0.0.0", 1)); err == nil {
			svcPorts[int(ap.Port())] = true
		}
	}
	apps := a.doc["apps"].([]any)
	for _, ap := range apps {
		app := ap.(map[string]any)
		for _, pd := range list(app["portDefinitions"]) {
			svcPorts[num(pd.(map[string]any)["port"])] = true
		}
		for _, p := range list(app["ports"]) {
			svcPorts[num(p)] = true
		}
		for _, pm := range portMappings(app) {
			svcPorts[num(pm["servicePort"])] = true
		}
		for k, v := range obj(app["labels"]) {
			if labelPortRE.MatchString(k) {
				n, _ := strconv.Atoi(v.(string))
				svcPorts[n] = true
			}
		}
		for _, tk := range list(app["tasks"]) {
			task := tk.(map[string]any)
			addIP(str(task["host"]))
			for _, ia := range list(task["ipAddresses"]) {
				addIP(str(ia.(map[string]any)["ipAddress"]))
			}
			for _, p := range list(task["servicePorts"]) {
				svcPorts[num(p)] = true
			}
		}
	}
	slices.SortFunc(ipList, netip.Addr.Compare)
	if len(ipList) > 190 {
		t.Fatalf("%d task IPs: more than a /24 can map", len(ipList))
	}
	for i, ip := range ipList {
		a.ips[ip.String()] = ln.ip(byte(i + 1)).String()
	}
	delete(svcPorts, 0)
	for p := range svcPorts {
		a.ports[p] = freeport.TCP(t)
	}
	mapPort := func(v any) any {
		if n := num(v); a.ports[n] != 0 {
			return float64(a.ports[n])
		}
		return v
	}

	// Rewrite the apps document.
	certDir := t.TempDir()
	for _, ap := range apps {
		app := ap.(map[string]any)
		for _, pd := range list(app["portDefinitions"]) {
			m := pd.(map[string]any)
			m["port"] = mapPort(m["port"])
		}
		if ps := list(app["ports"]); ps != nil {
			for i := range ps {
				ps[i] = mapPort(ps[i])
			}
		}
		for _, pm := range portMappings(app) {
			if _, ok := pm["servicePort"]; ok {
				pm["servicePort"] = mapPort(pm["servicePort"])
			}
		}
		labels := obj(app["labels"])
		for k, v := range labels {
			switch {
			case labelPortRE.MatchString(k):
				n, _ := strconv.Atoi(v.(string))
				labels[k] = strconv.Itoa(a.ports[n])
			case strings.HasSuffix(k, "_SSL_CERT"):
				labels[k] = a.cert(t, certDir, v.(string))
			}
		}
		for _, tk := range list(app["tasks"]) {
			task := tk.(map[string]any)
			if h := str(task["host"]); a.ips[h] != "" {
				task["host"] = a.ips[h]
			}
			for _, ia := range list(task["ipAddresses"]) {
				m := ia.(map[string]any)
				if ip := str(m["ipAddress"]); a.ips[ip] != "" {
					m["ipAddress"] = a.ips[ip]
				}
			}
			if sp := list(task["servicePorts"]); sp != nil {
				for i := range sp {
					sp[i] = mapPort(sp[i])
				}
			}
		}
	}

	// Rewrite the expected configuration.
	for i := range a.cfg.Frontends {
		f := &a.cfg.Frontends[i]
		host, port, _ := strings.Cut(f.Bind, ":")
		n, _ := strconv.Atoi(port)
		if a.ports[n] == 0 {
			t.Fatalf("frontend %s: bind %s: port not found in apps.json", f.Name, f.Bind)
		}
		f.Bind = host + ":" + strconv.Itoa(a.ports[n])
		if f.SSLCert != "" {
			f.SSLCert = a.cert(t, certDir, f.SSLCert)
		}
	}
	for bi := range a.cfg.Backends {
		b := &a.cfg.Backends[bi]
		for i := range b.Servers {
			s := &b.Servers[i]
			host, port, _ := strings.Cut(s.Addr, ":")
			if a.ips[host] == "" {
				t.Fatalf("backend %s: server %s: IP not found in apps.json", b.Name, s.Addr)
			}
			s.Addr = a.ips[host] + ":" + port
		}
	}
	return a
}

// cert returns the generated certificate standing in for the case's path.
func (a *adapted) cert(t *testing.T, dir, path string) string {
	if a.certs[path] == "" {
		a.certs[path] = writeCert(t, dir, "cert"+strconv.Itoa(len(a.certs))+".example")
	}
	return a.certs[path]
}

func list(v any) []any         { l, _ := v.([]any); return l }
func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }
func str(v any) string         { s, _ := v.(string); return s }
func num(v any) int            { f, _ := v.(float64); return int(f) }
func portMappings(app map[string]any) []map[string]any {
	c := obj(app["container"])
	var out []map[string]any
	for _, pm := range append(list(c["portMappings"]), list(obj(c["docker"])["portMappings"])...) {
		out = append(out, pm.(map[string]any))
	}
	return out
}

// containerPorts are the ports a task answers on at its own IP (bridge and
// IP-per-task networking).
func containerPorts(app map[string]any) []int {
	var out []int
	for _, pm := range portMappings(app) {
		if p := num(pm["containerPort"]); p != 0 {
			out = append(out, p)
		}
	}
	for _, dp := range list(obj(obj(app["ipAddress"])["discovery"])["ports"]) {
		out = append(out, num(dp.(map[string]any)["number"]))
	}
	return out
}

// runCaseTasks runs every task of the adapted document — whatever its state,
// so that a request wrongly routed to a dropped task is seen — on its host
// ports and, for containers, on its own IP. It returns which task listens
// at each address.
func runCaseTasks(t *testing.T, doc map[string]any) map[string]string {
	t.Helper()
	r := taskrun.New(nil)
	t.Cleanup(r.Close)
	at := map[string]string{}
	for _, ap := range list(doc["apps"]) {
		app := ap.(map[string]any)
		for _, tk := range list(app["tasks"]) {
			task := tk.(map[string]any)
			spec := taskrun.Spec{TaskID: str(task["id"]), AppID: str(app["id"]), IP: str(task["host"])}
			for _, p := range list(task["ports"]) {
				spec.Ports = append(spec.Ports, num(p))
			}
			if ias := list(task["ipAddresses"]); len(ias) > 0 {
				if ip := str(ias[0].(map[string]any)["ipAddress"]); ip != spec.IP {
					spec.AlsoIP, spec.AlsoPorts = ip, containerPorts(app)
				}
			}
			if len(spec.Ports) == 0 {
				spec.IP, spec.Ports, spec.AlsoIP, spec.AlsoPorts = spec.AlsoIP, spec.AlsoPorts, "", nil
			}
			if len(spec.Ports) == 0 {
				continue
			}
			err := r.Start(spec)
			if errors.Is(err, taskrun.ErrAddrInUse) && spec.AlsoIP != "" {
				// Two bridged containers with the same container IP on
				// different agents: only the host ports are reachable.
				spec.AlsoIP, spec.AlsoPorts = "", nil
				err = r.Start(spec)
			}
			if err != nil {
				t.Fatalf("running task %s: %v", spec.TaskID, err)
			}
			for _, p := range spec.Ports {
				at[spec.IP+":"+strconv.Itoa(p)] = spec.TaskID
			}
			for _, p := range spec.AlsoPorts {
				at[spec.AlsoIP+":"+strconv.Itoa(p)] = spec.TaskID
			}
		}
	}
	return at
}

func runConformanceCase(t *testing.T, dir string, oracle bool) {
	ln := newLoopNet(t)
	a := adaptCase(t, dir, ln)
	taskAt := runCaseTasks(t, a.doc)
	var lb *lbProc
	if oracle {
		lb = startHAProxy(t, ln, a, dir)
	} else {
		s := startSimState(t, ln, a.doc)
		lb = startLB(t, ln, lbConfig{marathon: []string{s.marathon}, args: a.args})
	}

	client := ln.ip(198).String()
	// tasksOf is the set of tasks a backend sends new requests to, or nil
	// when the backend refuses the client (network ACL).
	tasksOf := func(backend string) set {
		b := a.cfg.Backend(backend)
		if b == nil {
			t.Fatalf("expected.cfg routes to backend %s, which it does not define", backend)
		}
		if !allowed(b.Networks, client) {
			return nil
		}
		out := set{}
		for _, addr := range b.Active() {
			id := taskAt[addr]
			if id == "" {
				t.Fatalf("adaptation: no task listens at %s (server of %s)", addr, backend)
			}
			out[id] = true
		}
		return out
	}

	// Per-app frontends first: once each reaches its tasks, the table is
	// loaded and the shared frontends can be probed once per request.
	for _, f := range a.cfg.Frontends {
		t.Run("frontend_"+f.Name, func(t *testing.T) {
			b := a.cfg.Backend(f.Backend)
			want := tasksOf(f.Backend)
			host, port, _ := strings.Cut(f.Bind, ":")
			if host == "*" {
				host = ln.ip(199).String()
			}
			addr := host + ":" + port
			tlsOn := f.SSLCert != ""
			if !allowed(b.Networks, client) {
				checkDenied(t, f, addr, client, tlsOn)
				return
			}
			if len(want) == 0 {
				t.Skip("no server takes requests")
			}
			// Roundrobin reaches every server; the other algorithms may
			// legitimately keep choosing one (source: one client address;
			// leastconn: sequential requests tie at zero connections).
			every := balance(b) == "roundrobin" && b.Cookie == ""
			eventually(t, fmt.Sprintf("%s frontend %s reaches %s", f.Mode, addr, want), func() error {
				got := set{}
				for range 4 * len(want) {
					var id string
					var err error
					if f.Mode == "tcp" {
						id, err = rawHTTP(addr, client, tlsOn)
					} else {
						var rep reply
						rep, err = send(req{addr: addr, from: client, tlsOn: tlsOn})
						if err == nil && rep.status != http.StatusOK {
							err = fmt.Errorf("status %d: %.200s", rep.status, rep.body)
						}
						id = rep.task
					}
					if err != nil {
						return err
					}
					if !want[id] {
						return fmt.Errorf("reached %q, want one of %s", id, want)
					}
					got[id] = true
				}
				if every && !got.equal(want) {
					return fmt.Errorf("roundrobin reached %s, want %s", got, want)
				}
				return nil
			})
		})
	}
	if t.Failed() {
		return
	}

	t.Run("http", func(t *testing.T) {
		if a.cfg.HTTP == nil {
			t.Skip("no shared HTTP frontend")
		}
		for _, p := range probes(a.cfg.HTTP) {
			if oracle && strings.Contains(p.host, ":") {
				continue // HAProxy compares "host:port" literally
			}
			want := decide(a.cfg.HTTP, hostOnly(p.host), p.path)
			checkOutcome(t, "http", want, tasksOf, req{addr: lb.http, host: p.host, path: p.path, from: client})
		}
	})
	t.Run("https", func(t *testing.T) {
		if a.cfg.HTTPS == nil {
			t.Skip("no shared HTTPS frontend")
		}
		for _, p := range probes(a.cfg.HTTPS) {
			host := hostOnly(p.host)
			want := decide(a.cfg.HTTPS, host, p.path)
			if oracle && host != strings.ToLower(host) {
				continue // HAProxy's ssl_fc_sni is case-sensitive; Signpost follows RFC 6066
			}
			checkOutcome(t, "https", want, tasksOf, req{addr: lb.https, host: host, sni: host, path: p.path, from: client})
		}
	})
	t.Run("appid", func(t *testing.T) {
		ids := []string{"/no-such-app"}
		for _, r := range a.cfg.AppID.Rules {
			ids = append(ids, r.AppIDs...)
			ids = append(ids, strings.ToUpper(r.AppIDs[0]))
		}
		for k := range a.cfg.AppID.Map {
			ids = append(ids, k)
		}
		for _, id := range ids {
			want := decideAppID(&a.cfg.AppID, id)
			checkOutcome(t, "appid", want, tasksOf, req{addr: lb.appID, header: map[string]string{"X-Marathon-App-Id": id}, from: client})
		}
	})
}

// probe is a request to a shared frontend.
type probe struct{ host, path string }

// probes derives requests from a shared frontend's rules: for each rule one
// that matches it (its first host, in another case and with a port, and a
// path under its first prefix) and, for rules with paths, one on its host
// that matches none of them; plus the map keys and a host nothing routes.
// Which of them a rule earlier in the order takes is for decide to say.
func probes(s *haproxycfg.Shared) []probe {
	out := []probe{{"no-such-host.invalid", "/"}}
	for _, rules := range [][]haproxycfg.Rule{s.Auth, s.Redirect, s.Route} {
		for _, r := range rules {
			if r.Map != nil {
				for k := range r.Map {
					out = append(out, probe{k, "/e2e"})
				}
				continue
			}
			host := "any-host.example"
			if len(r.Hosts) > 0 {
				host = r.Hosts[0]
			}
			path := "/e2e"
			if len(r.Paths) > 0 {
				path = strings.TrimSuffix(r.Paths[0].Prefix, "/") + "/e2e"
				out = append(out, probe{host, "/zz-e2e"})
			}
			out = append(out, probe{host, path}, probe{strings.ToUpper(host) + ":8080", path})
		}
	}
	return out
}

func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		return h[:i]
	}
	return h
}

// checkOutcome sends r and compares the answer with the oracle's decision.
// It polls, because active health checks may take a moment to pass.
func checkOutcome(t *testing.T, frontend string, want outcome, tasksOf func(string) set, r req) {
	t.Helper()
	what := fmt.Sprintf("%s Host %q SNI %q app-id %q path %q: %s", frontend, r.host, r.sni, r.header["X-Marathon-App-Id"], r.path, want)
	var tasks set
	if want.kind == "forward" {
		tasks = tasksOf(want.backend)
	}
	// The table is loaded (the per-app frontends answered), but active
	// health checks may still be passing: poll, though not for long.
	err := poll(5*time.Second, func() error {
		rep, err := send(r)
		if err != nil {
			return err
		}
		switch want.kind {
		case "forward":
			if tasks == nil { // the backend's network ACL refuses this client
				if rep.status != http.StatusForbidden {
					return fmt.Errorf("got %d from task %q, want 403 (network ACL)", rep.status, rep.task)
				}
				return nil
			}
			if rep.status != http.StatusOK || !tasks[rep.task] {
				return fmt.Errorf("got %d from task %q, want a task of %s", rep.status, rep.task, tasks)
			}
		case "redirect":
			loc := rep.header.Get("Location")
			if rep.status != http.StatusMovedPermanently || !strings.HasPrefix(strings.ToLower(loc), "https://"+strings.ToLower(hostOnly(r.host))) {
				return fmt.Errorf("got %d Location %q, want 301 to https://%s...", rep.status, loc, hostOnly(r.host))
			}
		case "auth":
			if rep.status != http.StatusUnauthorized || !strings.Contains(rep.header.Get("WWW-Authenticate"), want.realm) {
				return fmt.Errorf("got %d WWW-Authenticate %q", rep.status, rep.header.Get("WWW-Authenticate"))
			}
		case "none":
			if rep.status != http.StatusServiceUnavailable {
				return fmt.Errorf("got %d from task %q, want 503", rep.status, rep.task)
			}
		}
		return nil
	})
	if err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

// allowed reports whether ip is in one of the network ACL's entries (all
// allowed when there are none).
func allowed(networks []string, ip string) bool {
	if len(networks) == 0 {
		return true
	}
	a := netip.MustParseAddr(ip)
	for _, n := range networks {
		if !strings.Contains(n, "/") {
			n += "/32"
		}
		if p, err := netip.ParsePrefix(n); err == nil && p.Contains(a) {
			return true
		}
	}
	return false
}

// checkDenied expects a client outside the network ACL to be refused: 403
// in http mode, a closed connection in tcp mode.
func checkDenied(t *testing.T, f haproxycfg.Frontend, addr, client string, tlsOn bool) {
	t.Helper()
	eventually(t, "client "+client+" refused by "+f.Name, func() error {
		if f.Mode == "tcp" {
			id, err := rawHTTP(addr, client, tlsOn)
			if errors.Is(err, errNoAnswer) {
				return nil
			}
			return fmt.Errorf("got task %q, err %v; want the connection closed", id, err)
		}
		rep, err := send(req{addr: addr, from: client, tlsOn: tlsOn})
		if err != nil {
			return err
		}
		if rep.status != http.StatusForbidden {
			return fmt.Errorf("got %d from task %q, want 403", rep.status, rep.task)
		}
		return nil
	})
}
