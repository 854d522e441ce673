package simserver

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/wire/marathon"
	"github.com/signpost-dns/signpost/internal/wire/operator"
	"github.com/signpost-dns/signpost/internal/wire/recordio"
	"github.com/signpost-dns/signpost/internal/wire/sse"
)

// describeMarathon reduces an event to what the sequence test compares.
func describeMarathon(e marathon.Event) string {
	switch {
	case e.StatusUpdate != nil:
		return fmt.Sprintf("%s %s %s", e.Type, e.StatusUpdate.TaskStatus, e.StatusUpdate.TaskID)
	case e.InstanceChanged != nil:
		return fmt.Sprintf("%s %s %s", e.Type, e.InstanceChanged.Condition, e.InstanceChanged.InstanceID)
	case e.HealthStatusChanged != nil:
		return fmt.Sprintf("%s alive=%v %s", e.Type, e.HealthStatusChanged.Alive, e.HealthStatusChanged.InstanceID)
	case e.InstanceHealthChanged != nil:
		h := "null"
		if e.InstanceHealthChanged.Healthy != nil {
			h = fmt.Sprint(*e.InstanceHealthChanged.Healthy)
		}
		return fmt.Sprintf("%s healthy=%s %s", e.Type, h, e.InstanceHealthChanged.InstanceID)
	case e.FailedHealthCheck != nil:
		return fmt.Sprintf("%s %s", e.Type, e.FailedHealthCheck.TaskID)
	case e.APIPost != nil:
		return fmt.Sprintf("%s %s instances=%d", e.Type, e.APIPost.App.ID, e.APIPost.App.Instances)
	}
	return e.Type
}

func describeOperator(e operator.Event) string {
	switch {
	case e.TaskAdded != nil:
		return fmt.Sprintf("%s %s %s", e.Type, e.TaskAdded.State, e.TaskAdded.ID)
	case e.TaskUpdated != nil:
		s := fmt.Sprintf("%s %s %s", e.Type, e.TaskUpdated.Status.State, e.TaskUpdated.TaskID)
		if h := e.TaskUpdated.Status.Healthy; h != nil {
			s += fmt.Sprintf(" healthy=%v", *h)
		}
		return s
	}
	return e.Type
}

// TestEventSequences drives a scale-up, a health failure and a task kill
// through Marathon's API and the control API, and checks the exact events
// both streams carry, in order, over real HTTP.
func TestEventSequences(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := startSim(t, ctx, Config{})
	postApp(t, s, `{"id":"/web","instances":1,"portDefinitions":[{"port":0}],
		"healthChecks":[{"protocol":"MESOS_HTTP","path":"/health","portIndex":0}]}`)
	first := taskIDs(t, s, "/web")
	if len(first) != 1 {
		t.Fatalf("want 1 task, got %v", first)
	}

	sseEvents := openSSE(t, ctx, s.MarathonURL)
	mesosEvents := openOperator(t, ctx, s.MasterURLs[0])

	// Scale up by one.
	do(t, "PUT", s.MarathonURL+"/v2/apps/web", `{"instances":2}`, 200)
	var second string
	for _, id := range taskIDs(t, s, "/web") {
		if id != first[0] {
			second = id
		}
	}
	// Fail the new task's health check.
	do(t, "POST", s.ControlURL+"/sim/v1/tasks/"+second+"/health", `{"healthy":false}`, 200)
	// Kill it; Marathon replaces it.
	do(t, "DELETE", s.MarathonURL+"/v2/apps/web/tasks/"+second, "", 200)
	var third string
	for _, id := range taskIDs(t, s, "/web") {
		if id != first[0] {
			third = id
		}
	}
	if third == "" || third == second {
		t.Fatalf("no replacement task: %v", taskIDs(t, s, "/web"))
	}

	inst := func(id string) string {
		return id[:strings.LastIndexByte(id, '.')] + ".marathon-" + id[strings.LastIndexByte(id, '.')+1:]
	}
	wantMarathon := []string{
		"api_post_event /web instances=2",
		"group_change_success",
		"deployment_info",
		"instance_changed_event Staging " + inst(second),
		"status_update_event TASK_STARTING " + second,
		"instance_changed_event Starting " + inst(second),
		"status_update_event TASK_RUNNING " + second,
		"instance_changed_event Running " + inst(second),
		"health_status_changed_event alive=true " + inst(second),
		"instance_health_changed_event healthy=true " + inst(second),
		"deployment_step_success",
		"deployment_success",
		"failed_health_check_event " + inst(second),
		"health_status_changed_event alive=false " + inst(second),
		"instance_health_changed_event healthy=false " + inst(second),
		"status_update_event TASK_KILLING " + second,
		"instance_changed_event Killing " + inst(second),
		"status_update_event TASK_KILLED " + second,
		"instance_changed_event Killed " + inst(second),
		"instance_changed_event Staging " + inst(third),
		"status_update_event TASK_STARTING " + third,
		"instance_changed_event Starting " + inst(third),
		"status_update_event TASK_RUNNING " + third,
		"instance_changed_event Running " + inst(third),
		"health_status_changed_event alive=true " + inst(third),
		"instance_health_changed_event healthy=true " + inst(third),
	}
	wantMesos := []string{
		"TASK_ADDED TASK_STAGING " + second,
		"TASK_UPDATED TASK_STARTING " + second,
		"TASK_UPDATED TASK_RUNNING " + second,
		"TASK_UPDATED TASK_RUNNING " + second + " healthy=true",
		"TASK_UPDATED TASK_RUNNING " + second + " healthy=false",
		"TASK_UPDATED TASK_KILLING " + second + " healthy=false",
		"TASK_UPDATED TASK_KILLED " + second,
		"TASK_ADDED TASK_STAGING " + third,
		"TASK_UPDATED TASK_STARTING " + third,
		"TASK_UPDATED TASK_RUNNING " + third,
		"TASK_UPDATED TASK_RUNNING " + third + " healthy=true",
	}
	checkSequence(t, "Marathon SSE", wantMarathon, sseEvents)
	checkSequence(t, "Mesos operator", wantMesos, mesosEvents)
}

func checkSequence(t *testing.T, name string, want []string, got <-chan string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for i, w := range want {
		select {
		case g, ok := <-got:
			if !ok {
				t.Fatalf("%s: stream ended after %d events, want %q next", name, i, w)
			}
			if g != w {
				t.Fatalf("%s event %d:\n got %q\nwant %q", name, i, g, w)
			}
		case <-timeout:
			t.Fatalf("%s: timed out waiting for event %d %q", name, i, w)
		}
	}
}

// openSSE follows /v2/events and sends each event's description; the first
// event must be event_stream_attached and is consumed here.
func openSSE(t *testing.T, ctx context.Context, base string) <-chan string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v2/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("/v2/events: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream;charset=UTF-8" {
		t.Errorf("/v2/events Content-Type %q", ct)
	}
	r := sse.NewReader(resp.Body)
	ev, err := r.Next()
	if err != nil || ev.Type != "event_stream_attached" {
		t.Fatalf("first SSE event: %+v, %v", ev, err)
	}
	out := make(chan string, 1000)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		for {
			ev, err := r.Next()
			if err != nil {
				return
			}
			e, err := marathon.DecodeEvent(ev.Type, ev.Data)
			if err != nil {
				out <- "undecodable " + ev.Type + ": " + err.Error()
				continue
			}
			out <- describeMarathon(e)
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return out
}

// openOperator subscribes to the operator API; SUBSCRIBED and the immediate
// HEARTBEAT are consumed here, later heartbeats are skipped.
func openOperator(t *testing.T, ctx context.Context, base string) <-chan string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/v1", strings.NewReader(`{"type":"SUBSCRIBE"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("SUBSCRIBE: %s", resp.Status)
	}
	if resp.ContentLength != -1 {
		t.Errorf("SUBSCRIBE has a Content-Length (%d); a stream must not", resp.ContentLength)
	}
	rr := recordio.NewReader(bufio.NewReader(resp.Body), 64<<20)
	for i, want := range []string{"SUBSCRIBED", "HEARTBEAT"} {
		rec, err := rr.Next()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		e, err := operator.DecodeEvent(rec)
		if err != nil || e.Type != want {
			t.Fatalf("record %d: got %q (%v), want %s", i, e.Type, err, want)
		}
	}
	out := make(chan string, 1000)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		for {
			rec, err := rr.Next()
			if err != nil {
				return
			}
			e, err := operator.DecodeEvent(rec)
			if err != nil {
				out <- "undecodable: " + err.Error()
				continue
			}
			if e.Type == "HEARTBEAT" {
				continue
			}
			out <- describeOperator(e)
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return out
}
