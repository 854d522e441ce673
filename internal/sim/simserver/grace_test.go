package simserver

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/sim/control"
)

// keepAlive is one client connection to a task, kept open across requests
// the way a load balancer's pooled upstream connection is.
type keepAlive struct {
	conn net.Conn
	br   *bufio.Reader
}

func dialTask(t *testing.T, v control.TaskView) *keepAlive {
	t.Helper()
	conn, err := net.Dial("tcp", taskAddr(v))
	if err != nil {
		t.Fatalf("task %s: %v", v.ID, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &keepAlive{conn: conn, br: bufio.NewReader(conn)}
}

// get sends GET / and returns the body, or an error when the connection
// no longer serves.
func (k *keepAlive) get() (string, error) {
	k.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(k.conn, "GET / HTTP/1.1\r\nHost: task\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return string(b), nil
}

func taskAddr(v control.TaskView) string {
	return net.JoinHostPort(v.Host, strconv.Itoa(v.Ports[0]))
}

// answers reports whether a fresh connection to the task's address reaches
// that very task.
func answers(v control.TaskView) error {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	resp, err := c.Get("http://" + taskAddr(v) + "/")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), v.ID) {
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	return nil
}

// marathonStates maps the app's tasks, as Marathon's /v2/apps/{app}/tasks
// lists them, to their states.
func marathonStates(t *testing.T, s *Server, app string) map[string]string {
	t.Helper()
	var list struct {
		Tasks []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"tasks"`
	}
	if err := json.Unmarshal(do(t, "GET", s.MarathonURL+"/v2/apps"+app+"/tasks", "", 200), &list); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, tk := range list.Tasks {
		out[tk.ID] = tk.State
	}
	return out
}

// TestKillGraceKeepsServing kills tasks with a grace period no test waits
// for: the killed task is TASK_KILLING in both APIs and its process still
// answers, on a connection opened before the kill and on new ones; a restart
// starts the new tasks first and leaves the old ones serving; closing the
// simulator ends the killing tasks too.
func TestKillGraceKeepsServing(t *testing.T) {
	s := startSim(t, context.Background(), Config{RunTasks: true, KillGrace: time.Hour})
	postApp(t, s, `{"id":"/web","instances":2,"portDefinitions":[{"port":0}]}`)
	before := tasks(t, s, "/web")
	victim := before[0]
	conn := dialTask(t, victim)
	if body, err := conn.get(); err != nil || !strings.Contains(body, victim.ID) {
		t.Fatalf("before the kill: %q, %v", body, err)
	}

	do(t, "DELETE", s.MarathonURL+"/v2/apps/web/tasks/"+victim.ID, "", 200)
	ms := marathonStates(t, s, "/web")
	if ms[victim.ID] != "TASK_KILLING" || len(ms) != 3 {
		t.Errorf("Marathon after the kill: %v, want %s TASK_KILLING and 2 others", ms, victim.ID)
	}
	running := 0
	for id, st := range ms {
		if id != victim.ID && st == "TASK_RUNNING" {
			running++
		}
	}
	if running != 2 {
		t.Errorf("Marathon after the kill: %d running tasks, want 2 (the replacement starts at once)", running)
	}
	for _, v := range tasks(t, s, "/web") {
		if v.ID == victim.ID && v.State != "TASK_KILLING" {
			t.Errorf("Mesos: killed task is %s, want TASK_KILLING", v.State)
		}
	}
	if body, err := conn.get(); err != nil || !strings.Contains(body, victim.ID) {
		t.Errorf("TASK_KILLING task on its open connection: %q, %v", body, err)
	}
	if err := answers(victim); err != nil {
		t.Errorf("TASK_KILLING task on a new connection: %v", err)
	}

	do(t, "POST", s.MarathonURL+"/v2/apps/web/restart", "{}", 200)
	all := tasks(t, s, "/web")
	killing, up := 0, 0
	for _, v := range all {
		switch v.State {
		case "TASK_KILLING":
			killing++
		case "TASK_RUNNING":
			up++
		}
		if err := answers(v); err != nil {
			t.Errorf("after the restart, %s task %s: %v", v.State, v.ID, err)
		}
	}
	if killing != 3 || up != 2 {
		t.Errorf("after the restart: %d killing, %d running; want 3 and 2", killing, up)
	}

	s.Close()
	if err := answers(victim); err == nil {
		t.Error("a TASK_KILLING task still answers after the simulator closed")
	}
}

// TestKillGraceEndsProcess kills a task with a short grace period and waits
// (with a generous deadline) until it is gone from the APIs: by then its
// process is gone too, its open connection cut and its address refused.
func TestKillGraceEndsProcess(t *testing.T) {
	s := startSim(t, context.Background(), Config{RunTasks: true, KillGrace: 50 * time.Millisecond})
	postApp(t, s, `{"id":"/web","instances":2,"portDefinitions":[{"port":0}]}`)
	victim := tasks(t, s, "/web")[0]
	conn := dialTask(t, victim)
	if _, err := conn.get(); err != nil {
		t.Fatal(err)
	}
	do(t, "POST", s.ControlURL+"/sim/v1/tasks/"+victim.ID+"/kill", "", 200)

	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, ok := marathonStates(t, s, "/web")[victim.ID]; !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("killed task still listed 30 s after a 50 ms grace period")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, v := range tasks(t, s, "/web") {
		if v.ID == victim.ID {
			t.Errorf("Mesos still lists the killed task as %s", v.State)
		}
	}
	if body, err := conn.get(); err == nil {
		t.Errorf("TASK_KILLED task still serves its open connection: %q", body)
	}
	if err := answers(victim); err == nil {
		t.Error("TASK_KILLED task still accepts connections")
	}
	if st := marathonStates(t, s, "/web"); len(st) != 2 {
		t.Errorf("after the kill: %v, want 2 tasks", st)
	}
}
