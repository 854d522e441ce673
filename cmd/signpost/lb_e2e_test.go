package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// lbClient keeps no connections, so every request is a fresh one through
// the proxy.
var lbClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// lbGet requests http://addr/ with a Host (and optional X-Marathon-App-Id)
// and returns the status and the task id of the task that answered.
func lbGet(addr, host, appID string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	if appID != "" {
		req.Header.Set("X-Marathon-App-Id", appID)
	}
	resp, err := lbClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		TaskID string `json:"taskId"`
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &r); err != nil {
			return resp.StatusCode, "", fmt.Errorf("not a task's answer: %q", body)
		}
	}
	return resp.StatusCode, r.TaskID, nil
}

// lbGreeting connects through addr to a TCP echo task and returns its
// greeting.
func lbGreeting(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func lbFreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestLBEndToEnd runs `signpost sim -run-tasks` and `signpost lb` with a
// Marathon-LB command line as separate processes: a TCP service port, an
// HTTP vhost and the app-id frontend reach the tasks, SIGHUP refetches,
// SIGUSR1 rebuilds, and --dry prints the route table and exits.
func TestLBEndToEnd(t *testing.T) {
	sim := start(t, "sim", "-run-tasks", "-mesos-addr", "127.0.0.1:0", "-marathon-addr", "127.0.0.1:0", "-control-addr", "127.0.0.1:0")
	urls := map[string]string{}
	for range 3 {
		line, err := sim.stdout.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		urls[k] = v
	}
	webPort, echoPort := lbFreePort(t), lbFreePort(t)
	for _, app := range []string{
		fmt.Sprintf(`{"id":"/web","instances":2,"portDefinitions":[{"port":%d}],
			"labels":{"HAPROXY_GROUP":"external","HAPROXY_0_VHOST":"web.example.com","HAPROXY_0_BIND_ADDR":"127.0.0.1"}}`, webPort),
		fmt.Sprintf(`{"id":"/echo","instances":1,"portDefinitions":[{"port":%d}],
			"labels":{"HAPROXY_GROUP":"external","SIGNPOST_SIM_KIND":"tcp","HAPROXY_0_BIND_ADDR":"127.0.0.1"}}`, echoPort),
	} {
		resp, err := http.Post(urls["marathon"]+"/v2/apps", "application/json", strings.NewReader(app))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("posting an app: %s", resp.Status)
		}
	}

	lb := start(t, "lb", "--marathon", urls["marathon"], "--group", "external", "--sse",
		"--http-addr", "127.0.0.1:0", "--https-addr", "-", "--appid-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
		"--haproxy-config", "/etc/haproxy/haproxy.cfg", "--drain-timeout", "5s", "--log-level", "INFO")
	lb.waitLog(t, `level=WARN msg="flag ignored: .*flag=--haproxy-config`)
	m := lb.waitLog(t, `msg=serving http=(\S+) https=- appid=(\S+) admin=(\S+)`)
	httpAddr, appIDAddr, adminAddr := m[1], m[2], m[3]
	lb.waitLog(t, `msg="routes applied" reason=initial`)

	// Tasks come up after the first fetch; wait until both web tasks serve.
	seen := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for len(seen) < 2 && time.Now().Before(deadline) {
		if code, task, err := lbGet(httpAddr, "web.example.com", ""); err == nil && code == http.StatusOK {
			seen[task] = true
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if len(seen) != 2 {
		t.Fatalf("vhost web.example.com reached %v, want both /web tasks", seen)
	}
	if code, task, err := lbGet(appIDAddr, "anything", "/web"); err != nil || code != http.StatusOK || !seen[task] {
		t.Errorf("app-id frontend: %d %q %v", code, task, err)
	}
	if code, task, err := lbGet(net.JoinHostPort("127.0.0.1", strconv.Itoa(webPort)), "", ""); err != nil || code != http.StatusOK || !seen[task] {
		t.Errorf("HTTP service port: %d %q %v", code, task, err)
	}
	if g, err := lbGreeting(net.JoinHostPort("127.0.0.1", strconv.Itoa(echoPort))); err != nil || !strings.HasPrefix(g, "echo.") {
		t.Errorf("TCP service port: greeting %q, %v", g, err)
	}
	if code, _, err := lbGet(httpAddr, "nothing.example.com", ""); err != nil || code != http.StatusServiceUnavailable {
		t.Errorf("unknown host: %d %v", code, err)
	}

	lb.cmd.Process.Signal(syscall.SIGHUP)
	lb.waitLog(t, `msg="routes applied" reason=signal`)
	lb.cmd.Process.Signal(syscall.SIGUSR1)
	lb.waitLog(t, `msg="routes applied" reason=rebuild`)
	resp, err := lbClient.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`signpost_lb_rebuilds_total{trigger="signal"} 1`, `signpost_lb_rebuilds_total{trigger="rebuild"} 1`, "signpost_lb_marathon_connected 1"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	t.Run("dry", func(t *testing.T) {
		bin, err := binary()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "lb", "-m", urls["marathon"], "--group", "external", "-d")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("lb --dry: %v", err)
		}
		for _, want := range []string{"web.example.com", "web_" + strconv.Itoa(webPort), "echo_" + strconv.Itoa(echoPort)} {
			if !strings.Contains(string(out), want) {
				t.Errorf("--dry output lacks %q:\n%s", want, out)
			}
		}
	})
}
