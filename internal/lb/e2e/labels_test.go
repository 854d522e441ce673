package e2e

import (
	"fmt"
	"maps"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/testutil/freeport"
	"github.com/signpost-dns/signpost/internal/testutil/leakcheck"
)

// Password hashes for HAPROXY_{n}_AUTH, of the password "s3cret pw":
//
//	openssl passwd -6 -salt e2eSalt 's3cret pw'
//	openssl passwd -1 -salt e2eSalt 's3cret pw'
const (
	authPassword = "s3cret pw"
	authSHA512   = "$6$e2eSalt$9NU9hfAeHiaGCuG.WleZd4Qec33uvupmjCqSgZFwsfreZ3YCz9eV06u7g1zDHaQb9ZZ.NURI7CukBNG8Z4VdV."
	authMD5      = "$1$e2eSalt$4dZY1C5/fgwVlpBippwvL1"
)

// labels returns an app's labels: HAPROXY_GROUP=external and the pairs kv.
func labels(kv ...string) map[string]any {
	m := map[string]any{"HAPROXY_GROUP": "external"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// TestLabels runs one load balancer (--group external) in front of one
// simulator holding an app per per-port label of Marathon-LB, and checks
// for each label which request reaches which task: the task's own id in
// the reply, or the load balancer's answer (redirect, 401, 403, 503, a
// refused connection) where the label says no task is reached.
func TestLabels(t *testing.T) {
	leakcheck.Verify(t)
	ln := newLoopNet(t)
	port := map[string]int{}
	for _, name := range []string{"plain", "hsts", "auth", "auth5", "pp", "rp", "redir", "acl", "acltcp",
		"sticky", "source", "lc", "rhttps", "w-api", "w-all", "w2-api", "w2-all", "bind", "port", "portLabel",
		"mode-http", "mode-tcp", "mode-default", "mode-conflict", "grp-internal", "grp-port", "grp-two0", "grp-two1", "grp-none",
		"grp-list", "disabled", "zdd", "zdd-alt"} {
		port[name] = freeport.TCP(t)
	}
	svc := func(name string) string { return ln.addr(199, port[name]) }

	// REVPROXY needs a task that answers with a Location header: one of the
	// test's own task servers, loaded from the state file.
	revproxy, rpSrv := serverApp(t, ln, "/revproxy",
		labels("HAPROXY_0_VHOST", "rp.example", "HAPROXY_0_HTTP_BACKEND_REVPROXY_PATH", "/rp"),
		[]int{port["rp"]}, nil, 2)
	s := startSim(t, ln, revproxy)

	// An SHA-256 crypt hash made now, when openssl is there, so that the
	// hash the load balancer checks is not only one committed with it.
	var auth5Hash string
	if out, err := exec.Command("openssl", "passwd", "-5", "-salt", "run"+strconv.Itoa(int(time.Now().UnixNano()%1e6)), authPassword).Output(); err == nil {
		auth5Hash = strings.TrimSpace(string(out))
	}

	tasks := map[string]set{}
	add := func(app map[string]any) {
		tasks[app["id"].(string)] = s.addApp(t, app)
	}
	add(webApp("/plain", 1, labels("HAPROXY_0_VHOST", "plain.example"), port["plain"]))
	add(webApp("/hsts", 1, labels("HAPROXY_0_VHOST", "hsts.example", "HAPROXY_0_USE_HSTS", "true"), port["hsts"]))
	add(webApp("/auth", 1, labels("HAPROXY_0_VHOST", "auth.example", "HAPROXY_0_AUTH", "e2e realm:alice:"+authSHA512), port["auth"]))
	add(webApp("/auth-md5", 1, labels("HAPROXY_0_VHOST", "auth-md5.example", "HAPROXY_0_AUTH", "md5:bob:"+authMD5), port["auth5"]))
	if auth5Hash != "" {
		add(webApp("/auth-sha256", 1, labels("HAPROXY_0_VHOST", "auth-sha256.example", "HAPROXY_0_AUTH", "sha256:carol:"+auth5Hash), freeport.TCP(t)))
	}
	add(webApp("/proxypass", 1, labels("HAPROXY_0_VHOST", "pp.example", "HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH", "/pp"), port["pp"]))
	add(webApp("/redir", 1, labels("HAPROXY_0_VHOST", "redir.example", "HAPROXY_0_HTTP_BACKEND_REDIR", "/landing"), port["redir"]))
	aclHTTP := ln.ip(10).String() + "/32 " + ln.ip(12).String()
	add(webApp("/acl", 1, labels("HAPROXY_0_VHOST", "acl.example", "HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL", aclHTTP), port["acl"]))
	add(webApp("/acl-tcp", 1, labels("SIGNPOST_SIM_KIND", "tcp", "HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL", ln.ip(10).String()+"/32"), port["acltcp"]))
	add(webApp("/sticky", 3, labels("HAPROXY_0_VHOST", "sticky.example", "HAPROXY_0_STICKY", "true"), port["sticky"]))
	add(webApp("/source", 3, labels("HAPROXY_0_VHOST", "source.example", "HAPROXY_0_BALANCE", "source"), port["source"]))
	add(webApp("/leastconn", 2, labels("HAPROXY_0_VHOST", "lc.example", "HAPROXY_0_BALANCE", "leastconn"), port["lc"]))
	add(webApp("/rhttps", 1, labels("HAPROXY_0_VHOST", "rhttps.example", "HAPROXY_0_REDIRECT_TO_HTTPS", "true"), port["rhttps"]))
	// Weight decides the order of the rules of one vhost: on w.example the
	// catch-all path "/" outweighs /api, on w2.example it is the other way
	// round. App ids sort the other way, so the order cannot come from them.
	add(webApp("/w-api", 1, labels("HAPROXY_0_VHOST", "w.example", "HAPROXY_0_PATH", "/api", "HAPROXY_0_BACKEND_WEIGHT", "1"), port["w-api"]))
	add(webApp("/w-all", 1, labels("HAPROXY_0_VHOST", "w.example", "HAPROXY_0_PATH", "/", "HAPROXY_0_BACKEND_WEIGHT", "2"), port["w-all"]))
	add(webApp("/w2-api", 1, labels("HAPROXY_0_VHOST", "w2.example", "HAPROXY_0_PATH", "/api", "HAPROXY_0_BACKEND_WEIGHT", "3"), port["w2-api"]))
	add(webApp("/w2-all", 1, labels("HAPROXY_0_VHOST", "w2.example", "HAPROXY_0_PATH", "/", "HAPROXY_0_BACKEND_WEIGHT", "2"), port["w2-all"]))
	add(webApp("/bind", 1, labels("HAPROXY_0_BIND_ADDR", ln.ip(50).String()), port["bind"]))
	add(webApp("/port", 1, labels("HAPROXY_0_PORT", strconv.Itoa(port["portLabel"])), port["port"]))
	add(webApp("/mode-http", 2, labels("HAPROXY_0_MODE", "http"), port["mode-http"]))
	add(webApp("/mode-tcp", 2, labels("HAPROXY_0_MODE", "tcp", "HAPROXY_0_BALANCE", "roundrobin"), port["mode-tcp"]))
	// A vhost on a tcp service cannot be routed (HAProxy refuses an http
	// frontend using a tcp backend, so Marathon-LB's config check drops the
	// app): the service is left out, and only it.
	add(webApp("/mode-conflict", 1, labels("HAPROXY_0_VHOST", "mode-conflict.example", "HAPROXY_0_MODE", "tcp"), port["mode-conflict"]))
	add(webApp("/mode-default", 2, labels(), port["mode-default"]))
	add(webApp("/grp-internal", 1, map[string]any{"HAPROXY_GROUP": "internal", "HAPROXY_0_VHOST": "grp-internal.example"}, port["grp-internal"]))
	add(webApp("/grp-port", 1, map[string]any{"HAPROXY_GROUP": "internal", "HAPROXY_0_GROUP": "external", "HAPROXY_0_VHOST": "grp-port.example"}, port["grp-port"]))
	add(webApp("/grp-two", 1, labels("HAPROXY_1_GROUP", "internal"), port["grp-two0"], port["grp-two1"]))
	add(webApp("/grp-none", 1, map[string]any{"HAPROXY_0_VHOST": "grp-none.example"}, port["grp-none"]))
	add(webApp("/grp-list", 1, map[string]any{"HAPROXY_GROUP": "internal,external", "HAPROXY_0_VHOST": "grp-list.example"}, port["grp-list"]))
	add(webApp("/disabled", 1, labels("HAPROXY_0_VHOST", "disabled.example", "HAPROXY_0_ENABLED", "false"), port["disabled"]))
	// A zero-downtime deployment in progress, as zdd.py leaves it: blue is
	// the old colour, green the new one with 1 of 2 target instances.
	zdd := func(colour, started string, instances, servicePort int) map[string]any {
		return webApp("/zdd-"+colour, instances, labels(
			"HAPROXY_0_VHOST", "zdd.example",
			"HAPROXY_DEPLOYMENT_GROUP", "zdd",
			"HAPROXY_DEPLOYMENT_ALT_PORT", strconv.Itoa(port["zdd-alt"]),
			"HAPROXY_DEPLOYMENT_COLOUR", colour,
			"HAPROXY_DEPLOYMENT_STARTED_AT", started,
			"HAPROXY_DEPLOYMENT_TARGET_INSTANCES", "2",
			"HAPROXY_0_PORT", strconv.Itoa(port["zdd"]),
		), servicePort)
	}
	add(zdd("blue", "2024-01-01T00:00:00.000000", 2, port["zdd"]))
	add(zdd("green", "2024-01-02T00:00:00.000000", 1, port["zdd-alt"]))
	tasks["/revproxy"] = set{rpSrv[0][0].task: true}

	lb := startLB(t, ln, lbConfig{marathon: []string{s.marathon}, args: []string{"--group", "external"}})
	vhost := func(host string) req { return req{addr: lb.http, host: host} }
	eventuallyReach(t, "plain.example reaches /plain", tasks["/plain"], vhost("plain.example"))

	t.Run("USE_HSTS", func(t *testing.T) {
		for _, r := range []req{vhost("hsts.example"), {addr: lb.https, sni: "hsts.example"}, {addr: svc("hsts"), host: "x"}} {
			rep, err := send(r)
			if err != nil || !tasks["/hsts"][rep.task] {
				t.Fatalf("%+v: %v, status %d from %q, want a task of /hsts", r, err, rep.status, rep.task)
			}
			if got := rep.header.Get("Strict-Transport-Security"); got != "max-age=15768000" {
				t.Errorf("%+v: Strict-Transport-Security %q, want max-age=15768000", r, got)
			}
		}
		rep, err := send(vhost("plain.example"))
		if err != nil || !tasks["/plain"][rep.task] {
			t.Fatalf("plain.example: %v, from %q", err, rep.task)
		}
		if got := rep.header.Get("Strict-Transport-Security"); got != "" {
			t.Errorf("an app without USE_HSTS answered with Strict-Transport-Security %q", got)
		}
	})

	t.Run("AUTH", func(t *testing.T) {
		type authCase struct {
			name, host, realm, user, pass string
			want                          int // 200: reaches the app's task
		}
		var cases []authCase
		for _, c := range []struct{ app, host, realm, user string }{
			{"/auth", "auth.example", "e2e realm", "alice"},
			{"/auth-md5", "auth-md5.example", "md5", "bob"},
			{"/auth-sha256", "auth-sha256.example", "sha256", "carol"},
		} {
			cases = append(cases,
				authCase{c.app + " right password", c.host, c.realm, c.user, authPassword, 200},
				authCase{c.app + " wrong password", c.host, c.realm, c.user, authPassword + "x", 401},
				authCase{c.app + " wrong user", c.host, c.realm, "mallory", authPassword, 401},
				authCase{c.app + " no credentials", c.host, c.realm, "", "", 401},
			)
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				app := "/" + strings.TrimSuffix(c.host, ".example")
				if tasks[app] == nil {
					needTool(t, "openssl") // skips, or fails in CI
					t.Fatal("openssl passwd -5 failed: no SHA-256 crypt hash to check")
				}
				for _, r := range []req{vhost(c.host), {addr: lb.https, sni: c.host}} {
					if c.user != "" {
						r.header = map[string]string{"Authorization": basicAuth(c.user, c.pass)}
					}
					rep, err := send(r)
					if err != nil {
						t.Fatal(err)
					}
					switch {
					case c.want == 200 && (rep.status != 200 || !tasks[app][rep.task]):
						t.Errorf("%s (TLS %v): %d from %q, want 200 from a task of %s", c.host, r.sni != "", rep.status, rep.task, app)
					case c.want == 401 && (rep.status != 401 || rep.task != ""):
						t.Errorf("%s (TLS %v): %d from %q, want 401 from the load balancer", c.host, r.sni != "", rep.status, rep.task)
					case c.want == 401 && !strings.Contains(rep.header.Get("WWW-Authenticate"), `realm="`+c.realm+`"`):
						t.Errorf("%s: WWW-Authenticate %q, want Basic realm=%q", c.host, rep.header.Get("WWW-Authenticate"), c.realm)
					}
				}
			})
		}
	})

	t.Run("HTTP_BACKEND_PROXYPASS_PATH", func(t *testing.T) {
		for _, c := range []struct{ path, want string }{
			{"/pp/a/b", "/a/b"},
			{"/pp/", "/"},
			{"/PP/x", "/x"}, // Marathon-LB's reqirep is case-insensitive
			{"/other/pp", "/other/pp"},
		} {
			rep, err := send(req{addr: lb.http, host: "pp.example", path: c.path})
			if err != nil || rep.status != 200 || !tasks["/proxypass"][rep.task] {
				t.Fatalf("%s: %v, %d from %q", c.path, err, rep.status, rep.task)
			}
			var info struct{ Path string }
			if err := jsonUnmarshal(rep.body, &info); err != nil {
				t.Fatal(err)
			}
			if info.Path != c.want {
				t.Errorf("request for %s: the task saw path %q, want %q", c.path, info.Path, c.want)
			}
		}
	})

	t.Run("HTTP_BACKEND_REVPROXY_PATH", func(t *testing.T) {
		for _, c := range []struct{ location, want string }{
			{"/somewhere/else", "/rp"},
			{"http://rp.example/x", "/rp"},
			{"https://rp.example:8443/x", "/rp"},
			{"http://other.example/x", "http://other.example/x"},
		} {
			rep, err := send(req{addr: lb.http, host: "rp.example", path: srvLocationPath + "?to=" + c.location})
			if err != nil || rep.status != http.StatusFound || !tasks["/revproxy"][rep.task] {
				t.Fatalf("Location %s: %v, %d from %q, want 302 from the task", c.location, err, rep.status, rep.task)
			}
			if got := rep.header.Get("Location"); got != c.want {
				t.Errorf("the task's Location %q reached the client as %q, want %q", c.location, got, c.want)
			}
		}
	})

	t.Run("HTTP_BACKEND_REDIR", func(t *testing.T) {
		rep, err := send(vhost("redir.example"))
		if err != nil || rep.status != http.StatusMovedPermanently || rep.task != "" || rep.header.Get("Location") != "/landing" {
			t.Errorf("GET / on redir.example: %v, %d from %q, Location %q; want 301 to /landing from the load balancer", err, rep.status, rep.task, rep.header.Get("Location"))
		}
		for _, p := range []string{"/landing", "/other"} {
			rep, err := send(req{addr: lb.http, host: "redir.example", path: p})
			if err != nil || rep.status != 200 || !tasks["/redir"][rep.task] {
				t.Errorf("GET %s on redir.example: %v, %d from %q; want the task", p, err, rep.status, rep.task)
			}
		}
	})

	t.Run("BACKEND_NETWORK_ALLOWED_ACL", func(t *testing.T) {
		for _, c := range []struct {
			from    byte
			allowed bool
		}{{10, true}, {12, true}, {11, false}, {200, false}} {
			from := ln.ip(c.from).String()
			for _, r := range []req{{addr: lb.http, host: "acl.example", from: from}, {addr: svc("acl"), from: from}} {
				rep, err := send(r)
				if err != nil {
					t.Fatalf("from %s to %s: %v", from, r.addr, err)
				}
				if c.allowed && (rep.status != 200 || !tasks["/acl"][rep.task]) {
					t.Errorf("from allowed %s to %s: %d from %q, want the task", from, r.addr, rep.status, rep.task)
				}
				if !c.allowed && (rep.status != http.StatusForbidden || rep.task != "") {
					t.Errorf("from %s (not allowed) to %s: %d from %q, want 403 from the load balancer", from, r.addr, rep.status, rep.task)
				}
			}
			// tcp mode: allowed sources reach the echo task, others are
			// disconnected before any byte of it.
			e, err := dialEchoFrom(svc("acltcp"), from)
			switch {
			case c.from == 10 && (err != nil || !tasks["/acl-tcp"][e.task]):
				t.Errorf("tcp from allowed %s: %v (greeting %+v), want the echo task", from, err, e)
			case c.from != 10 && err == nil:
				t.Errorf("tcp from %s (not allowed): reached %q", from, e.task)
			}
			if e != nil {
				e.c.Close()
			}
		}
	})

	t.Run("STICKY", func(t *testing.T) {
		spread, err := reach(12, vhost("sticky.example"))
		if err != nil || len(spread) < 2 {
			t.Fatalf("12 requests without the cookie reached %s (%v), want them spread over the 3 tasks", spread, err)
		}
		first, err := send(vhost("sticky.example"))
		if err != nil || !tasks["/sticky"][first.task] {
			t.Fatalf("%v, from %q", err, first.task)
		}
		var cookie string
		for _, sc := range first.header.Values("Set-Cookie") {
			if v, ok := strings.CutPrefix(sc, "mesosphere_server_id="); ok {
				cookie, _, _ = strings.Cut(v, ";")
			}
		}
		if cookie == "" {
			t.Fatalf("no mesosphere_server_id cookie set: %q", first.header.Values("Set-Cookie"))
		}
		for _, r := range []req{vhost("sticky.example"), {addr: lb.https, sni: "sticky.example"}, {addr: svc("sticky"), host: "x"}} {
			r.header = map[string]string{"Cookie": "mesosphere_server_id=" + cookie}
			got, err := reach(20, r)
			if err != nil || !got.equal(set{first.task: true}) {
				t.Errorf("20 requests to %s with the cookie of %s reached %s (%v)", r.addr, first.task, got, err)
			}
		}
	})

	t.Run("BALANCE source", func(t *testing.T) {
		all := set{}
		for n := byte(20); n < 32; n++ {
			r := vhost("source.example")
			r.from = ln.ip(n).String()
			got, err := reach(4, r)
			if err != nil || len(got) != 1 {
				t.Fatalf("4 requests from %s reached %s (%v), want one task", r.from, got, err)
			}
			for k := range got {
				all[k] = true
			}
		}
		if len(all) < 2 {
			t.Errorf("12 sources all reached %s; balance source should spread sources over the 3 tasks", all)
		}
	})

	t.Run("BALANCE leastconn", func(t *testing.T) {
		r := vhost("lc.example")
		held := hold(r, 5*time.Second)
		var other string
		// Round robin would alternate; leastconn sends every new request to
		// the task that is not busy with the held one.
		eventually(t, "new requests avoid the task holding a request", func() error {
			got, err := reach(8, r)
			if err != nil {
				return err
			}
			if len(got) != 1 {
				return fmt.Errorf("8 sequential requests reached %s", got)
			}
			for k := range got {
				other = k
			}
			return nil
		})
		<-held.done
		if held.err != nil || held.rep.status != 200 || !tasks["/leastconn"][held.rep.task] || held.rep.task == other {
			t.Errorf("held request: %v, %d from %q; new requests went to %s, so it should be the other task", held.err, held.rep.status, held.rep.task, other)
		}
	})

	t.Run("REDIRECT_TO_HTTPS", func(t *testing.T) {
		rep, err := send(req{addr: lb.http, host: "rhttps.example", path: "/p?q=1"})
		if err != nil || rep.status != http.StatusMovedPermanently || rep.task != "" {
			t.Fatalf(":80: %v, %d from %q, want 301 from the load balancer", err, rep.status, rep.task)
		}
		if got := rep.header.Get("Location"); got != "https://rhttps.example/p?q=1" {
			t.Errorf("Location %q, want https://rhttps.example/p?q=1", got)
		}
		for _, r := range []req{{addr: lb.https, sni: "rhttps.example"}, {addr: svc("rhttps"), host: "rhttps.example"}} {
			rep, err := send(r)
			if err != nil || rep.status != 200 || !tasks["/rhttps"][rep.task] {
				t.Errorf("%s: %v, %d from %q, want the task (the redirect is for the shared :80 only)", r.addr, err, rep.status, rep.task)
			}
		}
	})

	t.Run("BACKEND_WEIGHT", func(t *testing.T) {
		for _, c := range []struct{ host, path, app string }{
			{"w.example", "/api/x", "/w-all"}, // "/" has weight 2 > 1
			{"w.example", "/other", "/w-all"},
			{"w2.example", "/api/x", "/w2-api"}, // /api has weight 3 > 2
			{"w2.example", "/other", "/w2-all"},
		} {
			for _, r := range []req{{addr: lb.http, host: c.host, path: c.path}, {addr: lb.https, sni: c.host, path: c.path}} {
				got, err := reach(3, r)
				if err != nil || !got.equal(tasks[c.app]) {
					t.Errorf("%s%s (TLS %v) reached %s (%v), want %s (%s)", c.host, c.path, r.sni != "", got, err, c.app, tasks[c.app])
				}
			}
		}
	})

	t.Run("BIND_ADDR", func(t *testing.T) {
		got, err := reach(2, req{addr: ln.addr(50, port["bind"])})
		if err != nil || !got.equal(tasks["/bind"]) {
			t.Errorf("%s reached %s (%v), want %s", ln.addr(50, port["bind"]), got, err, tasks["/bind"])
		}
		if err := refused(ln.addr(51, port["bind"])); err != nil {
			t.Errorf("BIND_ADDR %s: another address of the port: %v", ln.ip(50), err)
		}
	})

	t.Run("PORT", func(t *testing.T) {
		got, err := reach(2, req{addr: svc("portLabel")})
		if err != nil || !got.equal(tasks["/port"]) {
			t.Errorf("the HAPROXY_0_PORT port reached %s (%v), want %s", got, err, tasks["/port"])
		}
		if err := refused(svc("port")); err != nil {
			t.Errorf("the Marathon service port, overridden by HAPROXY_0_PORT: %v", err)
		}
	})

	t.Run("MODE", func(t *testing.T) {
		for _, c := range []struct {
			app  string
			http bool
		}{{"/mode-http", true}, {"/mode-tcp", false}, {"/mode-default", false}} {
			name := strings.TrimPrefix(c.app, "/")
			// http mode balances every request; tcp mode every connection.
			order, err := keepAliveTasks(svc(name), "x", 6)
			if err != nil {
				t.Fatalf("%s: %v", c.app, err)
			}
			distinct := set{}
			for _, id := range order {
				if !tasks[c.app][id] {
					t.Fatalf("%s: a request on one connection reached %q, want a task of %s", c.app, id, tasks[c.app])
				}
				distinct[id] = true
			}
			if c.http && len(distinct) != 2 {
				t.Errorf("%s (http): 6 requests on one connection reached %s, want both tasks", c.app, distinct)
			}
			if !c.http && len(distinct) != 1 {
				t.Errorf("%s (tcp): 6 requests on one connection reached %s, want one task", c.app, distinct)
			}
			if got, err := reach(6, req{addr: svc(name)}); err != nil || !got.equal(tasks[c.app]) {
				t.Errorf("%s: 6 connections reached %s (%v), want both tasks", c.app, got, err)
			}
		}
		// The app-id frontend routes http-mode services only.
		appID := func(id string) req {
			return req{addr: lb.appID, header: map[string]string{"X-Marathon-App-Id": id}}
		}
		if got, err := reach(4, appID("/mode-http")); err != nil || !got.equal(tasks["/mode-http"]) {
			t.Errorf("X-Marathon-App-Id /mode-http reached %s (%v), want %s", got, err, tasks["/mode-http"])
		}
		if rep, err := send(vhost("mode-conflict.example")); err != nil || rep.status != http.StatusServiceUnavailable || rep.task != "" {
			t.Errorf("VHOST with MODE tcp: %v, %d from %q, want 503 (service left out)", err, rep.status, rep.task)
		}
		if err := refused(svc("mode-conflict")); err != nil {
			rep, serr := send(req{addr: svc("mode-conflict")})
			t.Errorf("VHOST with MODE tcp: the service port: %v, want it left out (a request there: %v, %d from %q: %.300s)", err, serr, rep.status, rep.task, rep.body)
		}
		for _, id := range []string{"/mode-tcp", "/mode-default"} {
			if rep, err := send(appID(id)); err != nil || rep.status != http.StatusServiceUnavailable || rep.task != "" {
				t.Errorf("X-Marathon-App-Id %s (tcp mode): %v, %d from %q, want 503", id, err, rep.status, rep.task)
			}
		}
	})

	t.Run("GROUP", func(t *testing.T) {
		for _, c := range []struct {
			app, host, port string
			in              bool
		}{
			{"/grp-internal", "grp-internal.example", "grp-internal", false},
			{"/grp-port", "grp-port.example", "grp-port", true}, // HAPROXY_0_GROUP overrides HAPROXY_GROUP
			{"/grp-list", "grp-list.example", "grp-list", true}, // comma list
			{"/grp-none", "grp-none.example", "grp-none", false},
			{"/grp-two", "", "grp-two0", true},
			{"/grp-two", "", "grp-two1", false}, // HAPROXY_1_GROUP internal
			{"/disabled", "disabled.example", "disabled", false},
		} {
			if c.in {
				if c.host != "" {
					if got, err := reach(2, vhost(c.host)); err != nil || !got.equal(tasks[c.app]) {
						t.Errorf("%s: %s reached %s (%v), want %s", c.app, c.host, got, err, tasks[c.app])
					}
				}
				if got, err := reach(2, req{addr: svc(c.port)}); err != nil || !got.equal(tasks[c.app]) {
					t.Errorf("%s: port %d reached %s (%v), want %s", c.app, port[c.port], got, err, tasks[c.app])
				}
				continue
			}
			if c.host != "" {
				if rep, err := send(vhost(c.host)); err != nil || rep.status != http.StatusServiceUnavailable || rep.task != "" {
					t.Errorf("%s (not in the group): %s: %v, %d from %q, want 503", c.app, c.host, err, rep.status, rep.task)
				}
			}
			if err := refused(svc(c.port)); err != nil {
				t.Errorf("%s (not in the group): service port: %v", c.app, err)
			}
		}
	})

	t.Run("HAPROXY_DEPLOYMENT", func(t *testing.T) {
		blue := slices.Sorted(maps.Keys(tasks["/zdd-blue"]))
		green := tasks["/zdd-green"]
		// healthy new 1 + old 2 - target 2 = 1 old task draining: the first
		// by id.
		want := set{blue[1]: true}
		for id := range green {
			want[id] = true
		}
		for _, r := range []req{vhost("zdd.example"), {addr: svc("zdd")}} {
			eventuallyReach(t, "the merged zdd service, with "+blue[0]+" draining", want, r)
		}
		if err := refused(svc("zdd-alt")); err != nil {
			t.Errorf("the new colour's own service port: %v", err)
		}
		// The new colour reaches its target: every old task drains.
		green = s.scale(t, "/zdd-green", 2)
		for _, r := range []req{vhost("zdd.example"), {addr: svc("zdd")}} {
			eventuallyReach(t, "the merged zdd service, the old colour draining", green, r)
			got, err := reach(10, r)
			if err != nil || !got.equal(green) {
				t.Errorf("%s: draining blue tasks must get no new requests: reached %s (%v), want %s", r.addr, got, err, green)
			}
		}
	})
}
