package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/sim/taskrun"
	"github.com/signpost-dns/signpost/internal/testutil/freeport"
)

// loadedApp is an app written into the simulator's state file whose tasks
// the test runs itself. The simulator never runs tasks it loaded, so when
// it kills them (scale-down, deploy) they go on serving, like processes that
// honour SIGTERM with a long grace period: whatever cuts their connections
// then is the load balancer, which is what the drain test must observe.
func loadedApp(ln loopNet, id string, labels map[string]any, servicePort int, kind string, hosts ...byte) (map[string]any, []taskrun.Spec) {
	app := map[string]any{
		"id": id, "instances": len(hosts), "cmd": "serve", "labels": labels,
		"portDefinitions": []any{map[string]any{"port": servicePort, "protocol": "tcp"}},
		"networks":        []any{map[string]any{"mode": "host"}},
	}
	if kind == "tcp" {
		labels["SIGNPOST_SIM_KIND"] = "tcp"
	}
	var tasks []any
	var specs []taskrun.Spec
	for i, h := range hosts {
		ip := ln.ip(h).String()
		tid := fmt.Sprintf("%s.loaded-%d", strings.TrimPrefix(id, "/"), i+1)
		// In the agents' range, above what the simulator hands out to the
		// few tasks it starts here; distinct for the two kinds of app.
		port := 32000 + i
		if kind == "tcp" {
			port += 100
		}
		tasks = append(tasks, map[string]any{
			"id": tid, "appId": id, "host": ip, "slaveId": fmt.Sprintf("agent-%d", h),
			"ipAddresses": []any{map[string]any{"ipAddress": ip, "protocol": "IPv4"}},
			"ports":       []any{port}, "servicePorts": []any{servicePort}, "state": "TASK_RUNNING",
			"stagedAt": "2020-01-01T00:00:00.000Z", "startedAt": "2020-01-01T00:00:00.000Z",
			"version": "2020-01-01T00:00:00.000Z",
		})
		k := taskrun.HTTP
		if kind == "tcp" {
			k = taskrun.TCPEcho
		}
		specs = append(specs, taskrun.Spec{TaskID: tid, AppID: id, IP: ip, Ports: []int{port}, Kind: k})
	}
	app["tasks"] = tasks
	return app, specs
}

// heldRequest is a request kept in flight by a task's /slow path.
type heldRequest struct {
	done chan struct{}
	rep  reply
	err  error
	end  time.Time
}

func hold(r req, d time.Duration) *heldRequest {
	h := &heldRequest{done: make(chan struct{})}
	r.path = taskrun.SlowPath + "?ms=" + strconv.Itoa(int(d/time.Millisecond))
	go func() {
		defer close(h.done)
		h.rep, h.err = sendTimeout(r, d+time.Minute)
		h.end = time.Now()
	}()
	return h
}

// echoConn is a TCP connection through the load balancer to an echo task.
type echoConn struct {
	c    net.Conn
	r    *bufio.Reader
	task string
}

func dialEcho(addr string) (*echoConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	return &echoConn{c: c, r: r, task: strings.TrimSpace(line)}, nil
}

// ping sends a line and reads it back.
func (e *echoConn) ping(msg string) error {
	e.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := e.c.Write([]byte(msg + "\n")); err != nil {
		return err
	}
	line, err := e.r.ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != msg {
		return fmt.Errorf("echo %q, want %q", line, msg)
	}
	return nil
}

// TestDrainThroughScaleDownAndDeploy holds HTTP requests and TCP
// connections open through a scale-down and a deploy. None may be cut
// before --drain-timeout has passed since the change, the ones still open
// after it are cut, and no new request or connection reaches a removed task.
func TestDrainThroughScaleDownAndDeploy(t *testing.T) {
	const drain = 5 * time.Second
	// margin absorbs clock granularity: the load balancer learns of a change
	// after the test makes it, so a correct cut is never earlier than that.
	const margin = 300 * time.Millisecond
	ln := newLoopNet(t)
	webPort, echoPort := freeport.TCP(t), freeport.TCP(t)
	web, webSpecs := loadedApp(ln, "/web", map[string]any{"HAPROXY_GROUP": "external", "HAPROXY_0_VHOST": "web.example"}, webPort, "http", 1, 2)
	echo, echoSpecs := loadedApp(ln, "/echo", map[string]any{"HAPROXY_GROUP": "external"}, echoPort, "tcp", 1, 2)
	runner := taskrun.New(nil)
	t.Cleanup(runner.Close)
	for _, s := range append(webSpecs, echoSpecs...) {
		if err := runner.Start(s); err != nil {
			t.Fatal(err)
		}
	}
	s := startSim(t, ln, web, echo)
	lb := startLB(t, ln, lbConfig{marathon: []string{s.marathon}, args: []string{"--group", "external"}, drain: drain})
	webReq := req{addr: lb.http, host: "web.example"}
	echoAddr := ln.addr(199, echoPort)
	old := set{webSpecs[0].TaskID: true, webSpecs[1].TaskID: true}
	eventuallyReach(t, "vhost web.example reaches both loaded tasks", old, webReq)

	// Echo connections to both echo tasks.
	conns := map[string]*echoConn{}
	eventually(t, "echo connections to both echo tasks", func() error {
		e, err := dialEcho(echoAddr)
		if err != nil {
			return err
		}
		if conns[e.task] != nil {
			e.c.Close()
		} else {
			conns[e.task] = e
		}
		if len(conns) < 2 {
			return fmt.Errorf("reached only %d echo task(s)", len(conns))
		}
		return nil
	})
	for _, e := range conns {
		t.Cleanup(func() { e.c.Close() })
	}

	// In flight: short requests that end well within the drain timeout and
	// long ones that outlast it.
	var short, long []*heldRequest
	for range 4 {
		short = append(short, hold(webReq, 2*time.Second))
		long = append(long, hold(webReq, 50*time.Second))
	}
	time.Sleep(300 * time.Millisecond) // let them reach the tasks (no assertion depends on it)

	// Scale-down: kill one task of each app with scale=true.
	removed := webSpecs[0].TaskID
	changed := time.Now()
	s.do(t, "POST", s.control+"/sim/v1/tasks/"+removed+"/kill?scale=true", nil, nil)
	s.do(t, "POST", s.control+"/sim/v1/tasks/"+echoSpecs[0].TaskID+"/kill?scale=true", nil, nil)
	eventuallyReach(t, "after the scale-down, new requests reach only "+webSpecs[1].TaskID, set{webSpecs[1].TaskID: true}, webReq)
	eventually(t, "new echo connections reach only "+echoSpecs[1].TaskID, func() error {
		for range 4 {
			e, err := dialEcho(echoAddr)
			if err != nil {
				return err
			}
			e.c.Close()
			if e.task != echoSpecs[1].TaskID {
				return fmt.Errorf("new connection reached %s", e.task)
			}
		}
		return nil
	})

	// The removed echo task's connection keeps working until the drain
	// timeout (checked until shortly before it), as does the other one.
	for time.Since(changed) < drain-time.Second {
		for task, e := range conns {
			if err := e.ping("ping"); err != nil {
				t.Fatalf("echo connection to %s cut %s after the scale-down, before --drain-timeout %s: %v", task, time.Since(changed).Round(time.Millisecond), drain, err)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i, h := range short {
		<-h.done
		if h.err != nil || h.rep.status != http.StatusOK {
			t.Errorf("short request %d in flight through the scale-down: %v (status %d)", i, h.err, h.rep.status)
		}
	}

	// Deploy: a new version of /web replaces the remaining loaded task with
	// one the simulator runs.
	deployed := time.Now()
	s.do(t, "PUT", s.marathon+"/v2/apps/web", map[string]any{
		"id": "/web", "instances": 1, "cmd": "serve --version 2",
		"labels":          map[string]any{"HAPROXY_GROUP": "external", "HAPROXY_0_VHOST": "web.example"},
		"portDefinitions": []any{map[string]any{"port": webPort, "protocol": "tcp"}},
	}, nil)
	var fresh set
	eventually(t, "the deploy runs a new task", func() error {
		fresh = s.taskIDs(t, "/web")
		if len(fresh) != 1 || fresh[webSpecs[1].TaskID] {
			return fmt.Errorf("running %s", fresh)
		}
		return nil
	})
	eventuallyReach(t, "after the deploy, new requests reach only the new task", fresh, webReq)
	// No new request reaches a removed task, ever, from now on.
	for range 20 {
		rep, err := send(webReq)
		if err != nil || !fresh[rep.task] {
			t.Fatalf("after the deploy: %v, status %d from %q, want %s", err, rep.status, rep.task, fresh)
		}
	}

	// The connection to the scaled-down echo task is cut once the drain
	// timeout has passed, and not before.
	e := conns[echoSpecs[0].TaskID]
	err := poll(drain+waitFor, func() error {
		if err := e.ping("still"); err == nil {
			return fmt.Errorf("still open %s after the scale-down", time.Since(changed).Round(time.Millisecond))
		}
		return nil
	})
	t.Logf("echo connection to the removed task cut %s after the scale-down", time.Since(changed).Round(time.Millisecond))
	if err != nil {
		t.Errorf("connection to the removed echo task not cut after --drain-timeout %s: %v", drain, err)
	} else if d := time.Since(changed); d < drain-margin {
		t.Errorf("connection to the removed echo task cut %s after the scale-down, before --drain-timeout %s", d, drain)
	}
	// The surviving echo task's connection was never cut.
	if err := conns[echoSpecs[1].TaskID].ping("alive"); err != nil {
		t.Errorf("connection to the surviving echo task %s was cut: %v", echoSpecs[1].TaskID, err)
	}

	// Long requests: the removed tasks' are cut after the drain timeout
	// (every long request went to a task removed by now), none before.
	var wg sync.WaitGroup
	for i, h := range long {
		wg.Go(func() {
			select {
			case <-h.done:
			case <-time.After(drain + waitFor):
				t.Errorf("long request %d: not cut %s after its task was removed (--drain-timeout %s)", i, drain+waitFor, drain)
				return
			}
			t.Logf("long request %d ended %s after the scale-down, %s after the deploy: status %d from %q, %v", i,
				h.end.Sub(changed).Round(time.Millisecond), h.end.Sub(deployed).Round(time.Millisecond), h.rep.status, h.rep.task, h.err)
			if h.err == nil && h.rep.status == http.StatusOK {
				t.Errorf("long request %d: answered %d by %s after %s; its task was removed, so it must be cut at --drain-timeout", i, h.rep.status, h.rep.task, h.end.Sub(changed))
				return
			}
			// Its task was removed at the scale-down or at the deploy at
			// the latest: the cut is due by then + drain (+ slack for load).
			if d := h.end.Sub(deployed); d > drain+10*time.Second {
				t.Errorf("long request %d to a removed task went on %s after the deploy, past --drain-timeout %s (ended: status %d, %v)", i, d.Round(time.Millisecond), drain, h.rep.status, h.err)
			}
			if d := h.end.Sub(changed); d < drain-margin {
				t.Errorf("long request %d cut %s after the scale-down, before --drain-timeout %s: %v (status %d)", i, d, drain, h.err, h.rep.status)
			}
			if h.rep.task != "" && h.rep.task == webSpecs[1].TaskID {
				if d := h.end.Sub(deployed); d < drain-margin {
					t.Errorf("long request %d to %s cut %s after the deploy, before --drain-timeout", i, h.rep.task, d)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("body done %s after the scale-down", time.Since(changed).Round(time.Millisecond))
}
