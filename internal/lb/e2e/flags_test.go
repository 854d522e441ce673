package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/testutil/freeport"
	"github.com/signpost-dns/signpost/internal/testutil/leakcheck"
)

// authFront stands in front of the simulated Marathon and requires HTTP
// Basic credentials, as a Marathon started with --http_credentials does
// (the simulator itself does not check any).
type authFront struct {
	addr                     string
	authorized, unauthorized atomic.Int64
}

func newAuthFront(t *testing.T, addr, target, user, pass string) *authFront {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	f := &authFront{addr: ln.Addr().String()}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1 // the event stream
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if gu, gp, ok := r.BasicAuth(); !ok || gu != user || gp != pass {
			f.unauthorized.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="Mesosphere Marathon"`)
			http.Error(w, "credentials are required to access this resource", http.StatusUnauthorized)
			return
		}
		f.authorized.Add(1)
		rp.ServeHTTP(w, r)
	})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return f
}

func (f *authFront) url() string { return "http://" + f.addr }

// TestFlags runs one simulator and, per Marathon-LB flag, a load balancer
// with that flag (each for the apps of its own --group, so that they never
// compete for a service port; each stops at the end of its subtest), and
// checks which request reaches which task.
func TestFlags(t *testing.T) {
	leakcheck.Verify(t)
	ln := newLoopNet(t)
	s := startSim(t, ln)
	certDir := t.TempDir()

	tasks := map[string]set{}
	ports := map[string]int{}
	add := func(id string, instances int, labels map[string]any) {
		t.Helper()
		ports[id] = freeport.TCP(t)
		tasks[id] = s.addApp(t, webApp(id, instances, labels, ports[id]))
	}
	svc := func(id string) string { return ln.addr(199, ports[id]) }
	group := func(g string, kv ...string) map[string]any {
		m := map[string]any{"HAPROXY_GROUP": g}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	lbWith := func(t *testing.T, args ...string) *lbProc {
		return startLB(t, newLoopNet(t), lbConfig{marathon: []string{s.marathon}, args: args})
	}

	add("/strict-on", 1, group("strict", "HAPROXY_0_VHOST", "on.example", "HAPROXY_0_ENABLED", "true"))
	add("/strict-yes", 1, group("strict", "HAPROXY_0_VHOST", "yes.example", "HAPROXY_0_ENABLED", "Yes"))
	add("/strict-unset", 1, group("strict", "HAPROXY_0_VHOST", "unset.example"))
	add("/strict-off", 1, group("strict", "HAPROXY_0_VHOST", "off.example", "HAPROXY_0_ENABLED", "false"))
	add("/dontbind", 2, group("dontbind", "HAPROXY_0_VHOST", "dontbind.example"))
	certA := writeCert(t, certDir, "a.example")
	certB := writeCert(t, certDir, "b.example")
	add("/byvhost-a", 1, group("byvhost", "HAPROXY_0_VHOST", "a.example", "HAPROXY_0_SSL_CERT", certA))
	add("/byvhost-b", 1, group("byvhost", "HAPROXY_0_VHOST", "b.example", "HAPROXY_0_SSL_CERT", certB))
	add("/byvhost-c", 1, group("byvhost", "HAPROXY_0_VHOST", "c.example"))
	certX := writeCert(t, certDir, "x.example")
	certY := writeCert(t, certDir, "y.example", "*.wild.example")
	add("/sslcerts-x", 1, group("sslcerts", "HAPROXY_0_VHOST", "x.example"))
	add("/sslcerts-y", 1, group("sslcerts", "HAPROXY_0_VHOST", "y.example,api.wild.example"))
	add("/map-one", 1, group("map", "HAPROXY_0_VHOST", "map-one.example"))
	add("/map-two", 2, group("map", "HAPROXY_0_VHOST", "map-two.example,Map-Two-Alias.example"))
	add("/map-path", 1, group("map", "HAPROXY_0_VHOST", "map-one.example", "HAPROXY_0_PATH", "/path"))
	add("/auth", 1, group("auth", "HAPROXY_0_VHOST", "auth.example"))
	add("/nogroup", 1, map[string]any{"HAPROXY_0_VHOST": "nogroup.example"})
	// An IP-per-task app without service ports (Marathon issue #3636):
	// the load balancer picks one from --min/max-serv-port-ip-per-task.
	ipptPort, ipptTaskPort := freeport.TCP(t), freeport.TCP(t)
	tasks["/ippt"] = s.addApp(t, map[string]any{
		"id": "/ippt", "instances": 1, "cmd": "serve", "labels": group("ippt"), "portDefinitions": []any{},
		"ipAddress": map[string]any{"networkName": "e2e", "discovery": map[string]any{
			"ports": []any{map[string]any{"number": ipptTaskPort, "name": "http", "protocol": "tcp"}},
		}},
	})

	t.Run("--strict-mode", func(t *testing.T) {
		lb := lbWith(t, "--group", "strict", "--strict-mode")
		for _, c := range []struct {
			app, host string
			in        bool
		}{
			{"/strict-on", "on.example", true},
			{"/strict-yes", "yes.example", true},
			{"/strict-unset", "unset.example", false},
			{"/strict-off", "off.example", false},
		} {
			if c.in {
				eventuallyReach(t, c.app+" (ENABLED) with --strict-mode", tasks[c.app], req{addr: lb.http, host: c.host})
				if got, err := reach(2, req{addr: svc(c.app)}); err != nil || !got.equal(tasks[c.app]) {
					t.Errorf("%s: its service port reached %s (%v)", c.app, got, err)
				}
			}
		}
		for _, c := range []struct{ app, host string }{{"/strict-unset", "unset.example"}, {"/strict-off", "off.example"}} {
			if rep, err := send(req{addr: lb.http, host: c.host}); err != nil || rep.status != http.StatusServiceUnavailable || rep.task != "" {
				t.Errorf("%s, not enabled, with --strict-mode: %v, %d from %q, want 503", c.app, err, rep.status, rep.task)
			}
			if err := refused(svc(c.app)); err != nil {
				t.Errorf("%s, not enabled, with --strict-mode: service port: %v", c.app, err)
			}
		}
		// Without --haproxy-map the map endpoints are empty.
		for _, p := range []string{"/_haproxy_getvhostmap", "/_haproxy_getappmap"} {
			if body, err := httpGet("http://" + lb.admin + p); err != nil || strings.TrimSpace(body) != "" {
				t.Errorf("%s without --haproxy-map: %q (%v), want empty", p, body, err)
			}
		}
	})

	t.Run("--dont-bind-http-https", func(t *testing.T) {
		lb := lbWith(t, "--group", "dontbind", "--dont-bind-http-https")
		appID := req{addr: lb.appID, header: map[string]string{"X-Marathon-App-Id": "/dontbind"}}
		eventuallyReach(t, "the app-id frontend stays", tasks["/dontbind"], appID)
		eventuallyReach(t, "the service port stays", tasks["/dontbind"], req{addr: svc("/dontbind")})
		for _, addr := range []string{lb.http, lb.https} {
			if err := refused(addr); err != nil {
				rep, serr := send(req{addr: addr, host: "dontbind.example"})
				t.Errorf("with --dont-bind-http-https: %v (a request: %v, %d from %q)", err, serr, rep.status, rep.task)
			}
		}
	})

	t.Run("--group-https-by-vhost", func(t *testing.T) {
		lb := lbWith(t, "--group", "byvhost", "--group-https-by-vhost")
		for _, c := range []struct{ app, sni, cert string }{
			{"/byvhost-a", "a.example", "a.example"},
			{"/byvhost-b", "b.example", "b.example"},
			{"/byvhost-c", "c.example", "default.example"}, // no SSL_CERT: --ssl-certs
		} {
			r := req{addr: lb.https, sni: c.sni}
			eventuallyReach(t, c.sni+" on :443", tasks[c.app], r)
			rep, err := send(r)
			if err != nil || !slices.Contains(rep.peerCert, c.cert) {
				t.Errorf("SNI %s on :443: certificate for %q (%v), want the one for %s", c.sni, rep.peerCert, err, c.cert)
			}
		}
		// SSL_CERT also makes the app's own port TLS, with that certificate.
		rep, err := send(req{addr: svc("/byvhost-a"), tlsOn: true, host: "a.example"})
		if err != nil || !tasks["/byvhost-a"][rep.task] || !slices.Contains(rep.peerCert, "a.example") {
			t.Errorf("TLS on the service port of /byvhost-a: %v, from %q, certificate %q", err, rep.task, rep.peerCert)
		}
		// Grouped by vhost, a handshake for an unknown name is refused.
		if rep, err := send(req{addr: lb.https, sni: "unknown.example"}); err == nil {
			t.Errorf("SNI unknown.example on :443 grouped by vhost: %d from %q, want the handshake refused", rep.status, rep.task)
		}
	})

	t.Run("--ssl-certs", func(t *testing.T) {
		// startLB gives --ssl-certs first; the later one wins, as in argparse.
		lb := lbWith(t, "--group", "sslcerts", "--ssl-certs", certX+","+certY)
		for _, c := range []struct{ app, sni, cert string }{
			{"/sslcerts-x", "x.example", "x.example"},
			{"/sslcerts-y", "y.example", "y.example"},
			{"/sslcerts-y", "api.wild.example", "*.wild.example"},
		} {
			r := req{addr: lb.https, sni: c.sni}
			eventuallyReach(t, c.sni+" on :443", tasks[c.app], r)
			rep, err := send(r)
			if err != nil || !slices.Contains(rep.peerCert, c.cert) {
				t.Errorf("SNI %s: certificate for %q (%v), want the one for %s", c.sni, rep.peerCert, err, c.cert)
			}
		}
		// Without SNI: the first certificate, and no vhost to route by.
		rep, err := send(req{addr: lb.https, tlsOn: true})
		if err != nil || !slices.Contains(rep.peerCert, "x.example") || rep.status != http.StatusServiceUnavailable {
			t.Errorf("TLS without SNI: %v, %d from %q, certificate %q; want the first --ssl-certs and 503", err, rep.status, rep.task, rep.peerCert)
		}
	})

	t.Run("--haproxy-map", func(t *testing.T) {
		lb := lbWith(t, "--group", "map", "--haproxy-map")
		for _, c := range []struct{ host, path, app string }{
			{"map-one.example", "/", "/map-one"},
			{"MAP-ONE.example:8080", "/x", "/map-one"}, // the map lower-cases and strips the port
			{"map-one.example", "/path/x", "/map-path"},
			{"map-two.example", "/", "/map-two"},
			{"map-two-alias.example", "/", "/map-two"},
		} {
			eventuallyReach(t, c.host+c.path, tasks[c.app], req{addr: lb.http, host: c.host, path: c.path})
		}
		if rep, err := send(req{addr: lb.http, host: "nothing.example"}); err != nil || rep.status != http.StatusServiceUnavailable {
			t.Errorf("unknown host with --haproxy-map: %v, %d from %q, want 503", err, rep.status, rep.task)
		}
		vmap, err := httpGet("http://" + lb.admin + "/_haproxy_getvhostmap")
		if err != nil {
			t.Fatal(err)
		}
		amap, err := httpGet("http://" + lb.admin + "/_haproxy_getappmap")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"map-one.example map-one_" + strconv.Itoa(ports["/map-one"]),
			"map-two.example map-two_" + strconv.Itoa(ports["/map-two"]),
			"map-two-alias.example map-two_" + strconv.Itoa(ports["/map-two"]),
		} {
			if !slices.Contains(strings.Split(vmap, "\n"), want) {
				t.Errorf("/_haproxy_getvhostmap has no line %q:\n%s", want, vmap)
			}
		}
		if strings.Contains(vmap, "map-path_") {
			t.Errorf("/_haproxy_getvhostmap lists the PATH service, which keeps its own rule:\n%s", vmap)
		}
		if want := "/map-one map-one_" + strconv.Itoa(ports["/map-one"]); !slices.Contains(strings.Split(amap, "\n"), want) {
			t.Errorf("/_haproxy_getappmap has no line %q:\n%s", want, amap)
		}
	})

	t.Run("--min/max-serv-port-ip-per-task", func(t *testing.T) {
		p := strconv.Itoa(ipptPort)
		lbWith(t, "--group", "ippt", "--min-serv-port-ip-per-task", p, "--max-serv-port-ip-per-task", p)
		eventuallyReach(t, "the IP-per-task app on the port taken from the range", tasks["/ippt"], req{addr: ln.addr(199, ipptPort)})
	})

	t.Run("--auth-credentials", func(t *testing.T) {
		// A password may contain colons.
		front := newAuthFront(t, ln.addr(230, 0), s.marathon, "lb-user", "pa:ss word")
		credFile := filepath.Join(t.TempDir(), "credentials")
		if err := os.WriteFile(credFile, []byte("lb-user:pa:ss word\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name string
			args []string
		}{
			{"flag", []string{"--auth-credentials", "lb-user:pa:ss word"}},
			{"file", []string{"--marathon-auth-credential-file", credFile}},
		} {
			t.Run(c.name, func(t *testing.T) {
				before := front.authorized.Load()
				lb := startLB(t, newLoopNet(t), lbConfig{marathon: []string{front.url()}, args: append([]string{"--group", "auth"}, c.args...)})
				eventuallyReach(t, "routes fetched with credentials", tasks["/auth"], req{addr: lb.http, host: "auth.example"})
				if front.authorized.Load() == before {
					t.Errorf("no authorized request reached Marathon")
				}
			})
		}
		t.Run("wrong password", func(t *testing.T) {
			before := front.unauthorized.Load()
			lb := startLB(t, newLoopNet(t), lbConfig{marathon: []string{front.url()}, args: []string{"--group", "auth", "--auth-credentials", "lb-user:wrong"}})
			eventually(t, "Marathon refuses the load balancer", func() error {
				if front.unauthorized.Load() == before {
					return fmt.Errorf("no request refused yet")
				}
				return nil
			})
			time.Sleep(500 * time.Millisecond) // a fetch refused has no routes to apply
			if rep, err := send(req{addr: lb.http, host: "auth.example"}); err != nil || rep.status != http.StatusServiceUnavailable || rep.task != "" {
				t.Errorf("with credentials Marathon refuses: %v, %d from %q, want 503 (no routes)", err, rep.status, rep.task)
			}
		})
	})

	t.Run("--group *", func(t *testing.T) {
		lb := lbWith(t, "--group", "*")
		for _, c := range []struct{ app, host string }{
			{"/nogroup", "nogroup.example"}, // no HAPROXY_GROUP: only '*' takes it
			{"/map-one", "map-one.example"},
			{"/strict-unset", "unset.example"},
		} {
			eventuallyReach(t, c.app+" with --group '*'", tasks[c.app], req{addr: lb.http, host: c.host})
		}
		if rep, err := send(req{addr: lb.http, host: "off.example"}); err != nil || rep.status != http.StatusServiceUnavailable {
			t.Errorf("ENABLED=false with --group '*': %v, %d from %q, want 503", err, rep.status, rep.task)
		}
	})
}
