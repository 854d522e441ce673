package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/admin"
	"github.com/signpost-dns/signpost/internal/lb/routes"
	"github.com/signpost-dns/signpost/internal/sim/control"
	"github.com/signpost-dns/signpost/internal/source/marathon"
	"github.com/signpost-dns/signpost/internal/testutil/freeport"
	"github.com/signpost-dns/signpost/internal/testutil/leakcheck"
)

// lbUnderTest is a running Service with what the test needs to reach it.
type lbUnderTest struct {
	svc     *Service
	addrs   Addrs
	logs    *logBuffer
	metrics string
}

// startLB runs a Service following marathonURL until the end of the test,
// and checks then that Run returned nil.
func startLB(t *testing.T, marathonURL string, groups ...string) *lbUnderTest {
	t.Helper()
	logs := &logBuffer{out: t.Output()}
	flags := routes.DefaultFlags()
	flags.Groups = groups
	svc, err := New(Config{
		Marathon: marathon.Config{
			URLs:        []string{marathonURL},
			Timeout:     5 * time.Second,
			Coalesce:    50 * time.Millisecond,
			IdleTimeout: 3 * time.Second,
			BackoffMin:  20 * time.Millisecond,
			BackoffMax:  200 * time.Millisecond,
		},
		Flags:        flags,
		Listeners:    Listeners{HTTP: listen(t), HTTPS: listen(t), AppID: listen(t), Admin: listen(t)},
		DrainTimeout: 2 * time.Second,
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Version:      "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx, ready) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(wait):
			t.Errorf("Run did not return within %v of cancel", wait)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	a := svc.Addrs()
	return &lbUnderTest{svc: svc, addrs: a, logs: logs, metrics: "http://" + a.Admin.String() + admin.PathMetrics}
}

// TestLifecycle runs signpost lb in-process against the simulator with real
// tasks, on real sockets: routing by TCP service port, HTTP service port and
// vhost; group filtering; an active health check taking a task out and
// back; a scale-up; Marathon going away (the last routes
// keep serving) and coming back (the change made meanwhile is applied); a
// malformed event; a malformed label; Refetch and Rebuild, directly and
// through the admin endpoints; and no goroutine left after Run returns.
func TestLifecycle(t *testing.T) {
	leakcheck.Verify(t)
	sim := startSim(t)
	g := newGate(t, sim.MarathonURL)
	ports := freeport.TCPs(t, "127.0.0.1", 4)
	webPort, echoPort, newPort, badPort := ports[0], ports[1], ports[2], ports[3]
	post := func(app string) { marathonDo(t, http.MethodPost, sim.MarathonURL+"/v2/apps", app) }
	post(fmt.Sprintf(`{"id":"/web","instances":2,"portDefinitions":[{"port":%d}],
		"labels":{"HAPROXY_GROUP":"external","HAPROXY_0_VHOST":"web.example.com","HAPROXY_0_BIND_ADDR":"127.0.0.1"}}`, webPort))
	post(fmt.Sprintf(`{"id":"/echo","instances":1,"portDefinitions":[{"port":%d}],
		"labels":{"HAPROXY_GROUP":"external","SIGNPOST_SIM_KIND":"tcp","HAPROXY_0_BIND_ADDR":"127.0.0.1"}}`, echoPort))
	post(`{"id":"/private","instances":1,"portDefinitions":[{"port":0}],
		"labels":{"HAPROXY_GROUP":"internal","HAPROXY_0_VHOST":"private.example.com"}}`)
	post(fmt.Sprintf(`{"id":"/bad","instances":1,"portDefinitions":[{"port":%d}],
		"labels":{"HAPROXY_GROUP":"external","HAPROXY_0_VHOST":"bad.example.com","HAPROXY_0_BACKEND_WEIGHT":"heavy","HAPROXY_0_BIND_ADDR":"127.0.0.1"}}`, badPort))

	post(`{"id":"/checked","instances":2,"portDefinitions":[{"port":0}],
		"labels":{"HAPROXY_GROUP":"external","HAPROXY_0_VHOST":"checked.example.com","HAPROXY_0_BIND_ADDR":"127.0.0.1"},
		"healthChecks":[{"protocol":"HTTP","path":"/health","portIndex":0,"intervalSeconds":1,"timeoutSeconds":1,"maxConsecutiveFailures":0}]}`)

	lb := startLB(t, g.url(), "external")
	httpAddr := lb.addrs.HTTP.String()
	webAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(webPort))
	echoAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(echoPort))

	// webTasks returns the /web tasks reached in n requests by vhost.
	webTasks := func(n int) (map[string]bool, string) {
		seen := map[string]bool{}
		for range n {
			code, r, err := get(httpAddr, "Web.Example.com:80", "/")
			if err != nil || code != http.StatusOK || r.AppID != "/web" {
				return seen, fmt.Sprintf("%d %+v %v", code, r, err)
			}
			seen[r.TaskID] = true
		}
		return seen, ""
	}

	t.Run("routed", func(t *testing.T) {
		eventually(t, "both /web tasks reached by vhost", func() (bool, string) {
			seen, detail := webTasks(4)
			return len(seen) == 2, fmt.Sprint(seen, detail)
		})
		code, r, err := get(webAddr, "", "/")
		if err != nil || code != http.StatusOK || r.AppID != "/web" {
			t.Errorf("HTTP service port %s: %d %+v %v", webAddr, code, r, err)
		}
		id, err := greeting(echoAddr)
		if err != nil || !strings.HasPrefix(id, "echo.") {
			t.Errorf("TCP service port %s: greeting %q, %v", echoAddr, id, err)
		}
		if code, _, _ := get(httpAddr, "private.example.com", "/"); code != http.StatusServiceUnavailable {
			t.Errorf("app of another group: %d, want 503", code)
		}
		if code, _, _ := get(httpAddr, "unknown.example.com", "/"); code != http.StatusServiceUnavailable {
			t.Errorf("unknown host: %d, want 503", code)
		}
	})

	t.Run("active health check", func(t *testing.T) {
		checked := func(n int) (map[string]bool, string) {
			seen := map[string]bool{}
			for range n {
				code, r, err := get(httpAddr, "checked.example.com", "/")
				if err != nil || code != http.StatusOK {
					return seen, fmt.Sprintf("%d %+v %v", code, r, err)
				}
				seen[r.TaskID] = true
			}
			return seen, ""
		}
		eventually(t, "both /checked tasks reached", func() (bool, string) {
			seen, detail := checked(4)
			return len(seen) == 2, fmt.Sprint(seen, detail)
		})
		var list struct {
			Tasks []control.TaskView `json:"tasks"`
		}
		resp, err := client.Get(sim.ControlURL + "/sim/v1/tasks?app=/checked")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if err != nil || len(list.Tasks) != 2 {
			t.Fatalf("tasks of /checked: %v %+v", err, list)
		}
		sick := list.Tasks[0].ID
		marathonDo(t, http.MethodPost, sim.ControlURL+"/sim/v1/tasks/"+sick+"/health", `{"healthy":false}`)
		eventually(t, "the failing task taken out by the active check", func() (bool, string) {
			seen, detail := checked(6)
			return len(seen) == 1 && !seen[sick], fmt.Sprint(seen, detail)
		})
		if v := metric(t, lb.metrics, `signpost_lb_health_checks_total`); v < 1 {
			t.Errorf("health checks metric %v", v)
		}
		marathonDo(t, http.MethodPost, sim.ControlURL+"/sim/v1/tasks/"+sick+"/health", `{"healthy":true}`)
		eventually(t, "the task back after passing checks", func() (bool, string) {
			seen, detail := checked(6)
			return len(seen) == 2, fmt.Sprint(seen, detail)
		})
	})

	t.Run("malformed label disables only its service", func(t *testing.T) {
		if code, _, _ := get(httpAddr, "bad.example.com", "/"); code != http.StatusServiceUnavailable {
			t.Errorf("app with a malformed label: %d, want 503", code)
		}
		if v := metric(t, lb.metrics, `signpost_lb_problems{kind="disabled",label="HAPROXY_0_BACKEND_WEIGHT"}`); v != 1 {
			t.Errorf("problems gauge %v, want 1", v)
		}
	})

	t.Run("scale up", func(t *testing.T) {
		marathonDo(t, http.MethodPut, sim.MarathonURL+"/v2/apps/web", `{"instances":3}`)
		eventually(t, "three /web tasks reached", func() (bool, string) {
			seen, detail := webTasks(6)
			return len(seen) == 3, fmt.Sprint(seen, detail)
		})
	})

	t.Run("Marathon away and back", func(t *testing.T) {
		g.setDown(true)
		eventually(t, "stream seen lost", func() (bool, string) {
			st := lb.svc.follower.Status()
			return !st.Connected && st.Reconnects > 0, fmt.Sprintf("%+v", st)
		})
		post(fmt.Sprintf(`{"id":"/new","instances":1,"portDefinitions":[{"port":%d}],
			"labels":{"HAPROXY_GROUP":"external","HAPROXY_0_VHOST":"new.example.com","HAPROXY_0_BIND_ADDR":"127.0.0.1"}}`, newPort))
		// Long enough for several reconnection rounds to fail.
		time.Sleep(500 * time.Millisecond)
		if seen, detail := webTasks(6); len(seen) != 3 {
			t.Errorf("while Marathon is away: %v %s", seen, detail)
		}
		if id, err := greeting(echoAddr); err != nil {
			t.Errorf("TCP while Marathon is away: %q %v", id, err)
		}
		if v := metric(t, lb.metrics, "signpost_lb_marathon_connected"); v != 0 {
			t.Errorf("connected gauge %v while away", v)
		}
		if code, _, _ := get(httpAddr, "new.example.com", "/"); code != http.StatusServiceUnavailable {
			t.Errorf("new app routed while Marathon is away: %d", code)
		}
		g.setDown(false)
		eventually(t, "the app added meanwhile routed", func() (bool, string) {
			code, r, err := get(httpAddr, "new.example.com", "/")
			return code == http.StatusOK && r.AppID == "/new", fmt.Sprintf("%d %+v %v", code, r, err)
		})
		// The fetch retried after the failed one may come before the
		// stream is back; the reconnection brings a refetch of its own.
		eventually(t, "stream back, with a rebuild", func() (bool, string) {
			c := metric(t, lb.metrics, "signpost_lb_marathon_connected")
			r := metric(t, lb.metrics, `signpost_lb_rebuilds_total{trigger="reconnect"}`)
			return c == 1 && r >= 1, fmt.Sprintf("connected %v, reconnect rebuilds %v", c, r)
		})
	})

	t.Run("malformed event", func(t *testing.T) {
		before := lb.svc.follower.Status().MalformedEvents
		eventually(t, "event injected", func() (bool, string) {
			return g.inject("event: status_update_event\r\ndata: {\"eventType\":\"status_update_event\",\"taskId\":\r\n\r\n") > 0, ""
		})
		eventually(t, "malformed event counted", func() (bool, string) {
			st := lb.svc.follower.Status()
			return st.MalformedEvents > before, fmt.Sprintf("%+v", st)
		})
		if seen, detail := webTasks(6); len(seen) != 3 {
			t.Errorf("after a malformed event: %v %s", seen, detail)
		}
		marathonDo(t, http.MethodPut, sim.MarathonURL+"/v2/apps/web", `{"instances":2}`)
		eventually(t, "the scale-down after it applied", func() (bool, string) {
			b := lb.svc.Table().Backend("web_" + strconv.Itoa(webPort))
			return b != nil && len(b.Servers) == 2, ""
		})
		if v := metric(t, lb.metrics, "signpost_lb_marathon_malformed_events_total"); v < 1 {
			t.Errorf("malformed events metric %v", v)
		}
	})

	t.Run("refetch and rebuild", func(t *testing.T) {
		fetches := func() float64 { return metric(t, lb.metrics, "signpost_lb_marathon_fetches_total") }
		signals := func() float64 { return metric(t, lb.metrics, `signpost_lb_rebuilds_total{trigger="signal"}`) }
		rebuilds := func() float64 { return metric(t, lb.metrics, `signpost_lb_rebuilds_total{trigger="rebuild"}`) }
		f0, s0 := fetches(), max(signals(), 0)
		lb.svc.Refetch()
		eventually(t, "refetch", func() (bool, string) { return fetches() > f0 && signals() > s0, "" })

		f1, s1 := fetches(), signals()
		resp, err := client.Post("http://"+lb.addrs.Admin.String()+admin.PathSignalHUP, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		eventually(t, "refetch by /_mlb_signal/hup", func() (bool, string) { return fetches() > f1 && signals() > s1, "" })

		// Rebuild needs no Marathon: it works from the last snapshot.
		g.setDown(true)
		r0 := max(rebuilds(), 0)
		old := lb.svc.Table()
		lb.svc.Rebuild()
		eventually(t, "rebuild", func() (bool, string) { return rebuilds() > r0, "" })
		if lb.svc.Table() == old {
			t.Error("Rebuild did not swap in a new table")
		}
		resp, err = client.Post("http://"+lb.addrs.Admin.String()+admin.PathSignalUSR1, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		eventually(t, "rebuild by /_mlb_signal/usr1", func() (bool, string) { return rebuilds() > r0+1, "" })
		g.setDown(false)
		if seen, detail := webTasks(4); len(seen) != 2 {
			t.Errorf("after rebuilds: %v %s", seen, detail)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		for _, sample := range []string{
			fmt.Sprintf(`signpost_lb_server_requests_total{backend="echo_%d",mode="tcp",server=`, echoPort),
			fmt.Sprintf(`signpost_lb_server_requests_total{backend="web_%d",mode="http",server=`, webPort),
			fmt.Sprintf(`signpost_lb_server_responses_total{backend="web_%d",code="2xx",server=`, webPort),
			fmt.Sprintf(`signpost_lb_server_latency_seconds_count{backend="web_%d",server=`, webPort),
			`signpost_lb_rebuild_duration_seconds_count `,
			`signpost_lb_http_rejected_total{reason="no_route"} `,
			`signpost_lb_marathon_last_fetch_age_seconds `,
			`signpost_lb_build_info{version="test"} 1`,
		} {
			resp, err := client.Get(lb.metrics)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || !strings.Contains(string(body), "\n"+sample) {
				t.Errorf("/metrics lacks %s", sample)
			}
		}
		getconfig, err := client.Get("http://" + lb.addrs.Admin.String() + admin.PathGetConfig)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(getconfig.Body)
		getconfig.Body.Close()
		if !strings.Contains(string(body), "web.example.com") || !strings.Contains(string(body), "HAPROXY_0_BACKEND_WEIGHT") {
			t.Errorf("/_haproxy_getconfig lacks the vhost or the problem:\n%s", body)
		}
		if n := lb.logs.count(`msg="route left out" app=/bad`); n != 1 {
			t.Errorf("the malformed label was logged %d times over many rebuilds, want once", n)
		}
	})
}

// TestRunFailsCleanlyWhenPortTaken checks that a listener that cannot be
// opened ends Run with an error naming it, with nothing left running.
func TestRunFailsCleanlyWhenPortTaken(t *testing.T) {
	leakcheck.Verify(t)
	busy := listen(t)
	defer busy.Close()
	flags := routes.DefaultFlags()
	flags.Groups = []string{"external"}
	svc, err := New(Config{
		Marathon:  marathon.Config{URLs: []string{"http://127.0.0.1:1"}},
		Flags:     flags,
		HTTPAddr:  busy.Addr().String(),
		HTTPSAddr: "-", AppIDAddr: "-", AdminAddr: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatal(err)
	}
	err = svc.Run(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Fatalf("Run: %v, want an error naming %s", err, busy.Addr())
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	good := func() Config {
		f := routes.DefaultFlags()
		f.Groups = []string{"external"}
		return Config{Marathon: marathon.Config{URLs: []string{"http://m:8080"}}, Flags: f}
	}
	tests := []struct {
		name string
		mod  func(*Config)
		err  string
	}{
		{"defaults", func(*Config) {}, ""},
		{"no group", func(c *Config) { c.Flags.Groups = nil }, "no --group"},
		{"host name", func(c *Config) { c.HTTPAddr = "localhost:80" }, `--http-addr: "localhost:80": the host must be an IP address`},
		{"no port", func(c *Config) { c.AdminAddr = "127.0.0.1" }, "--admin-addr:"},
		{"bad port", func(c *Config) { c.AppIDAddr = ":http-alt-nope" }, "--appid-addr:"},
		{"disabled", func(c *Config) { c.HTTPSAddr = "-" }, ""},
		{"negative drain", func(c *Config) { c.DrainTimeout = -time.Second }, "drain timeout -1s is negative"},
		{"no marathon", func(c *Config) { c.Marathon.URLs = nil }, "URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.mod(&c)
			_, err := New(c)
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err %v, want %q", err, tt.err)
			}
		})
	}
}

func TestRunTwice(t *testing.T) {
	flags := routes.DefaultFlags()
	flags.Groups = []string{"x"}
	svc, err := New(Config{Marathon: marathon.Config{URLs: []string{"http://127.0.0.1:1"}}, Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	svc.running.Store(true)
	if err := svc.Run(context.Background(), nil); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("second Run: %v", err)
	}
}
