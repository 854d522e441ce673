package e2e

import (
	"testing"

	"github.com/signpost-dns/signpost/internal/testutil/freeport"
	"github.com/signpost-dns/signpost/internal/testutil/leakcheck"
)

// httpCheck is a Marathon HTTP health check definition on port index i,
// quick enough for a test: checked every second, down after two failures
// (HAProxy's "fall maxConsecutiveFailures+1").
func httpCheck(path string, i int) map[string]any {
	return map[string]any{
		"protocol": "HTTP", "path": path, "portIndex": i, "intervalSeconds": 1,
		"timeoutSeconds": 1, "maxConsecutiveFailures": 1, "gracePeriodSeconds": 1,
	}
}

// TestHealthChecks checks the two health mechanisms of Marathon-LB:
// --health-check, which lists only tasks Marathon reports alive, and the
// load balancer's own active checks of Marathon's HTTP health check
// definitions, which take a failing task out of rotation whatever Marathon
// says (also on the port chosen by BACKEND_HEALTHCHECK_PORT_INDEX).
func TestHealthChecks(t *testing.T) {
	leakcheck.Verify(t)
	ln := newLoopNet(t)
	hcPort, nohcPort, activePort, idx0, idx1 := freeport.TCP(t), freeport.TCP(t), freeport.TCP(t), freeport.TCP(t), freeport.TCP(t)
	active, activeSrv := serverApp(t, ln, "/hc-active", map[string]any{"HAPROXY_GROUP": "hc", "HAPROXY_0_VHOST": "active.example"},
		[]int{activePort}, []any{httpCheck(srvHealthPath, 0)}, 1, 2)
	portIdx, idxSrv := serverApp(t, ln, "/hc-portindex", map[string]any{
		"HAPROXY_GROUP": "hc", "HAPROXY_0_VHOST": "portindex.example", "HAPROXY_0_BACKEND_HEALTHCHECK_PORT_INDEX": "1",
	}, []int{idx0, idx1}, []any{httpCheck(srvHealthPath, 1)}, 1, 2)
	s := startSim(t, ln, active, portIdx)
	// Marathon-side checks on "/", which the tasks always pass, so that only
	// Marathon's verdict (set through the control API) can fail them.
	marathonChecked := func(id, group string, port int) map[string]any {
		app := webApp(id, 2, map[string]any{"HAPROXY_GROUP": group, "HAPROXY_0_VHOST": "hc.example"}, port)
		app["healthChecks"] = []any{httpCheck("/", 0)}
		return app
	}
	hcTasks := s.addApp(t, marathonChecked("/hc-marathon", "hc", hcPort))
	nohcTasks := s.addApp(t, marathonChecked("/hc-ignored", "nohc", nohcPort))

	withH := startLB(t, newLoopNet(t), lbConfig{marathon: []string{s.marathon}, args: []string{"--group", "hc", "--health-check"}})
	without := startLB(t, newLoopNet(t), lbConfig{marathon: []string{s.marathon}, args: []string{"--group", "nohc"}})
	hcReq := req{addr: withH.http, host: "hc.example"}
	nohcReq := req{addr: without.http, host: "hc.example"}
	eventuallyReach(t, "--health-check: both healthy tasks", hcTasks, hcReq)
	eventuallyReach(t, "without --health-check: both tasks", nohcTasks, nohcReq)

	setHealth := func(id string, ok bool) {
		t.Helper()
		s.do(t, "POST", s.control+"/sim/v1/tasks/"+id+"/health", map[string]any{"healthy": ok}, nil)
	}
	without1 := func(ids set, drop string) set {
		out := set{}
		for id := range ids {
			if id != drop {
				out[id] = true
			}
		}
		return out
	}

	t.Run("--health-check", func(t *testing.T) {
		var sick, ignored string
		for id := range hcTasks {
			sick = id
			break
		}
		for id := range nohcTasks {
			ignored = id
			break
		}
		setHealth(sick, false)
		setHealth(ignored, false)
		eventuallyReach(t, "--health-check: the task Marathon reports unhealthy gets no requests", without1(hcTasks, sick), hcReq)
		// Without the flag Marathon's verdict is ignored: both tasks still
		// get requests, several times over.
		for range 5 {
			if got, err := reach(6, nohcReq); err != nil || !got.equal(nohcTasks) {
				t.Fatalf("without --health-check, with %s reported unhealthy: requests reached %s (%v), want %s", ignored, got, err, nohcTasks)
			}
		}
		setHealth(sick, true)
		setHealth(ignored, true)
		eventuallyReach(t, "--health-check: the task healthy again gets requests", hcTasks, hcReq)
	})

	t.Run("active health checks", func(t *testing.T) {
		all := set{activeSrv[0][0].task: true, activeSrv[1][0].task: true}
		r := req{addr: withH.http, host: "active.example"}
		eventuallyReach(t, "both tasks of /hc-active", all, r)
		// Marathon keeps reporting the task alive; only the load
		// balancer's own check of /health sees the failure.
		activeSrv[0][0].setHealthy(false)
		eventuallyReach(t, "a task failing its HTTP health check leaves rotation", set{activeSrv[1][0].task: true}, r)
		for range 3 {
			if got, err := reach(6, r); err != nil || !got.equal(set{activeSrv[1][0].task: true}) {
				t.Fatalf("with %s failing its check: requests reached %s (%v)", activeSrv[0][0].task, got, err)
			}
		}
		activeSrv[0][0].setHealthy(true)
		eventuallyReach(t, "the task passing its check again is back in rotation", all, r)
	})

	t.Run("BACKEND_HEALTHCHECK_PORT_INDEX", func(t *testing.T) {
		t1, t2 := idxSrv[0][0].task, idxSrv[1][0].task
		all := set{t1: true, t2: true}
		r := req{addr: withH.http, host: "portindex.example"}
		svc0 := req{addr: ln.addr(199, idx0)}
		eventuallyReach(t, "both tasks of /hc-portindex", all, r)
		// Port 0 of t2 failing its /health means nothing: port 0 is checked
		// on port index 1.
		idxSrv[1][0].setHealthy(false)
		// Port index 1 of t1 failing takes t1 out of port 0's service.
		idxSrv[0][1].setHealthy(false)
		eventuallyReach(t, "port 0 checked on port index 1: "+t1+" out", set{t2: true}, r)
		eventuallyReach(t, "port 0's own frontend: "+t1+" out", set{t2: true}, svc0)
		for range 3 {
			if got, err := reach(6, r); err != nil || !got.equal(set{t2: true}) {
				t.Fatalf("requests reached %s (%v); want only %s, whose port 0 fails /health but is checked on port 1", got, err, t2)
			}
		}
		idxSrv[0][1].setHealthy(true)
		idxSrv[1][0].setHealthy(true)
		eventuallyReach(t, "port index 1 healthy again: both tasks", all, r)
	})
}
