package simserver

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/sim"
	"github.com/signpost-dns/signpost/internal/wire/mesosstate"
)

// TestRealTasks checks that with RunTasks every task of each networking kind
// answers on the address both views give for it, that a failed health check
// shows on /health, and that a killed task stops answering.
func TestRealTasks(t *testing.T) {
	s := startSim(t, context.Background(), Config{RunTasks: true})
	postApp(t, s, `{"id":"/host","instances":2,"portDefinitions":[{"port":0},{"port":0}],
		"healthChecks":[{"protocol":"MESOS_HTTP","path":"/health","portIndex":0}]}`)
	postApp(t, s, `{"id":"/bridge","instances":1,"networks":[{"mode":"container/bridge"}],
		"container":{"type":"DOCKER","docker":{"image":"x"},"portMappings":[{"containerPort":80,"hostPort":0}]}}`)
	postApp(t, s, `{"id":"/overlay","instances":1,"networks":[{"mode":"container","name":"dcos"}],
		"container":{"type":"MESOS","portMappings":[{"containerPort":7000}]},"labels":{"SIGNPOST_SIM_KIND":"tcp"}}`)

	httpGet := func(addr, path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	host := tasks(t, s, "/host")
	for _, v := range host {
		if !strings.HasPrefix(v.IP, "127.") || len(v.Ports) != 2 {
			t.Fatalf("host task %+v", v)
		}
		for _, p := range v.Ports {
			code, body := httpGet(net.JoinHostPort(v.Host, strconv.Itoa(p)), "/")
			if code != 200 || !strings.Contains(body, v.ID) || !strings.Contains(body, "/host") {
				t.Errorf("task %s port %d: %d %s", v.ID, p, code, body)
			}
		}
	}
	br := tasks(t, s, "/bridge")[0]
	if code, body := httpGet(net.JoinHostPort(br.Host, strconv.Itoa(br.Ports[0])), "/"); code != 200 || !strings.Contains(body, br.ID) {
		t.Errorf("bridge task via host port: %d %s", code, body)
	}
	if code, body := httpGet(net.JoinHostPort(br.IP, "80"), "/"); code != 200 || !strings.Contains(body, br.ID) {
		t.Errorf("bridge task via container IP %s:80: %d %s", br.IP, code, body)
	}
	ov := tasks(t, s, "/overlay")[0]
	if ov.IP == br.IP || !strings.HasPrefix(ov.IP, "127.") {
		t.Errorf("overlay task IP %q", ov.IP)
	}
	conn, err := net.Dial("tcp", net.JoinHostPort(ov.IP, "7000"))
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if strings.TrimSpace(line) != ov.ID {
		t.Errorf("overlay TCP greeting %q, want %q", line, ov.ID)
	}

	victim := host[0]
	addr := net.JoinHostPort(victim.Host, strconv.Itoa(victim.Ports[0]))
	do(t, "POST", s.ControlURL+"/sim/v1/tasks/"+victim.ID+"/health", `{"healthy":false}`, 200)
	if code, _ := httpGet(addr, "/health"); code != http.StatusServiceUnavailable {
		t.Errorf("failed task /health: %d, want 503", code)
	}
	do(t, "POST", s.ControlURL+"/sim/v1/tasks/"+victim.ID+"/health", `{"healthy":true}`, 200)
	if code, _ := httpGet(addr, "/health"); code != 200 {
		t.Errorf("healed task /health: %d", code)
	}
	do(t, "POST", s.ControlURL+"/sim/v1/tasks/"+victim.ID+"/kill", "", 200)
	http.DefaultClient.CloseIdleConnections()
	if code, body := httpGet(addr, "/"); code == 200 && strings.Contains(body, victim.ID) {
		t.Errorf("killed task still answers: %s", body)
	}
	if n := len(tasks(t, s, "/host")); n != 2 {
		t.Errorf("after a kill Marathon keeps 2 instances, have %d", n)
	}
}

// TestLoseAgent takes an agent away: its tasks move elsewhere and it leaves
// the Mesos state.
func TestLoseAgent(t *testing.T) {
	s := startSim(t, context.Background(), Config{Synthetic: sim.SyntheticSpec{Agents: 3}})
	postApp(t, s, `{"id":"/web","instances":3,"portDefinitions":[{"port":0}]}`)
	victim := tasks(t, s, "/web")[0]
	do(t, "DELETE", s.ControlURL+"/sim/v1/agents/"+victim.AgentID, "", 200)
	after := tasks(t, s, "/web")
	if len(after) != 3 {
		t.Fatalf("%d tasks after losing an agent, want 3", len(after))
	}
	for _, v := range after {
		if v.AgentID == victim.AgentID {
			t.Errorf("task %s still on the lost agent", v.ID)
		}
	}
	st, _, _ := mesosstate.Decode(do(t, "GET", s.MasterURLs[0]+"/master/state", "", 200))
	if len(st.Agents) != 2 {
		t.Errorf("%d agents in state, want 2", len(st.Agents))
	}
	do(t, "DELETE", s.ControlURL+"/sim/v1/agents/"+victim.AgentID, "", 404)
	do(t, "POST", s.ControlURL+"/sim/v1/agents", `{"count":2}`, 201)
	if n := len(s.Cluster.MesosState().Agents); n != 4 {
		t.Errorf("%d agents after adding 2, want 4", n)
	}
}

// TestEventStreamRules checks Jetty's exact-Accept rule, the event_type
// filter and the CRLF heartbeat.
func TestEventStreamRules(t *testing.T) {
	s := startSim(t, context.Background(), Config{SSEHeartbeat: 50 * time.Millisecond})
	for _, accept := range []string{"", "text/event-stream, */*", "*/*"} {
		req, _ := http.NewRequest("GET", s.MarathonURL+"/v2/events", nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("Accept %q: %s, want 405", accept, resp.Status)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.MarathonURL+"/v2/events?event_type=app_terminated_event", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	postApp(t, s, `{"id":"/gone","instances":1}`)
	do(t, "DELETE", s.MarathonURL+"/v2/apps/gone", "", 200)
	br := bufio.NewReader(resp.Body)
	var got strings.Builder
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(got.String(), "app_terminated_event") || !strings.Contains(got.String(), "\r\n\r\n\r\n") {
		if time.Now().After(deadline) {
			t.Fatalf("stream so far: %q", got.String())
		}
		b, err := br.ReadByte()
		if err != nil {
			t.Fatalf("stream: %v after %q", err, got.String())
		}
		got.WriteByte(b)
	}
	text := got.String()
	// The filter applies to every event, event_stream_attached included.
	if !strings.HasPrefix(text, "event: app_terminated_event\r\ndata: {") {
		t.Errorf("stream starts %q", text[:min(60, len(text))])
	}
	for _, unwanted := range []string{"event_stream_attached", "status_update_event", "api_post_event", "instance_changed_event"} {
		if strings.Contains(text, unwanted) {
			t.Errorf("filtered stream carries %s", unwanted)
		}
	}
	if !strings.Contains(text, `event: app_terminated_event`+"\r\n"+`data: {"appId":"/gone"`) && !strings.Contains(text, `"appId":"/gone"`) {
		t.Errorf("no app_terminated_event for /gone in %q", text)
	}
}
