package marathon

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func webDoc(version, label string, port int) string {
	return `{"apps":[{"id":"/web","version":"` + version + `","instances":1,"labels":{"L":"` + label + `"},"portDefinitions":[{"port":` +
		strconv.Itoa(port) + `}],"tasks":[{"id":"web.1","appId":"/web","host":"127.0.0.1","state":"TASK_RUNNING","ports":[31000],"version":"v1"}]}]}`
}

func post(version, label string, port int) string {
	return "event: api_post_event\r\ndata: " + `{"eventType":"api_post_event","timestamp":"2015-09-30T12:47:11.286Z","clientIp":"1.2.3.4","uri":"/v2/apps/web","appDefinition":{"id":"/web","version":"` +
		version + `","instances":1,"labels":{"L":"` + label + `"},"portDefinitions":[{"port":` + strconv.Itoa(port) + `}]}}` + "\r\n\r\n"
}

func label(u Update) string {
	for _, a := range u.State.Apps {
		if a.ID == "/web" {
			return a.Version + "/" + a.Labels["L"]
		}
	}
	return "-"
}

// TestReplayNeverUndoesAFetch: events queued while the consumer was slow
// are held by the next fetch's answer and must not be replayed on it: the
// replay of v3 would undo v4 (whose own event could not be applied), and no
// fetch would follow to correct it.
func TestReplayNeverUndoesAFetch(t *testing.T) {
	leakCheck(t)
	m := newFake(t, webDoc("v1", "one", 10000))
	m.heartbeat = 50 * time.Millisecond
	cfg := testConfig(t, m.srv.URL)
	cfg.Coalesce = 200 * time.Millisecond
	cfg.Resync = time.Hour
	r := start(t, cfg)
	r.next(t, "initial", func(u Update) bool { return label(u) == "v1/one" })
	r.status(t, "connected", func(st Status) bool { return st.Connected })

	m.send(t, post("v2", "two", 10000)) // applied at once; the send then blocks: we do not read
	time.Sleep(100 * time.Millisecond)
	m.send(t, post("v3", "three", 10000)) // queued during the blocked send
	m.send(t, post("v4", "four", 0))      // a PUT with a port for Marathon to assign: refused
	m.setApps(webDoc("v4", "four", 10001))
	time.Sleep(600 * time.Millisecond) // the pending fetch is due
	var got []string
	deadline := time.After(3 * time.Second)
	for {
		select {
		case u := <-r.updates:
			got = append(got, u.Reason+"="+label(u))
			continue
		case <-deadline:
		}
		break
	}
	t.Logf("updates: %v; fetches %d", got, m.fetches.Load())
	if last := got[len(got)-1]; !strings.HasSuffix(last, "v4/four") {
		t.Errorf("last state %s, /v2/apps says v4/four", last)
	}
}

func tasksDoc(ids ...string) string {
	var ts []string
	for _, id := range ids {
		ts = append(ts, `{"id":"`+id+`","appId":"/web","host":"127.0.0.1","state":"TASK_RUNNING","ports":[31000],"version":"v1"}`)
	}
	return `{"apps":[{"id":"/web","version":"v1","instances":1,"portDefinitions":[{"port":10000}],"tasks":[` + strings.Join(ts, ",") + `]}]}`
}

func statusEv(task, host string) string {
	return "event: status_update_event\r\ndata: " + `{"slaveId":"S0","taskId":"` + task + `","taskStatus":"TASK_RUNNING","message":"","appId":"/web","host":"` + host + `","ports":[31000],"version":"v1","eventType":"status_update_event","timestamp":"2015-09-30T12:47:11.286Z"}` + "\r\n\r\n"
}

// TestReplayAfterReconnect: a task killed while the stream was down (its
// event lost) must not come back from the replay of an older event.
func TestReplayAfterReconnect(t *testing.T) {
	leakCheck(t)
	m := newFake(t, tasksDoc("web.1"))
	m.heartbeat = 50 * time.Millisecond
	m.heartbeats = 10 // then silent: the idle timeout reopens the stream
	cfg := testConfig(t, m.srv.URL)
	cfg.Coalesce = 200 * time.Millisecond
	cfg.Resync = time.Hour
	r := start(t, cfg)
	r.next(t, "initial", func(u Update) bool { return taskSet(u.State, "/web") != "" })
	m.send(t, statusEv("web.1", "127.0.0.2")) // applied; the send then blocks
	time.Sleep(100 * time.Millisecond)
	m.send(t, statusEv("web.2", "127.0.0.1")) // queued
	m.setApps(tasksDoc("web.1"))              // web.2 killed while the stream is down
	time.Sleep(5 * time.Second)               // idle timeout, reconnect requested
	var got []string
	deadline := time.After(2 * time.Second)
	for {
		select {
		case u := <-r.updates:
			got = append(got, u.Reason+"="+taskSet(u.State, "/web"))
			continue
		case <-deadline:
		}
		break
	}
	t.Logf("updates: %q; fetches %d streams %d", got, m.fetches.Load(), m.streams.Load())
	if last := got[len(got)-1]; strings.Contains(last, "web.2") {
		t.Errorf("last state %s still routes web.2, which /v2/apps no longer lists", last)
	}
}
