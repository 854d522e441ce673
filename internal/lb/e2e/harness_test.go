package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/testutil/syncbuf"
)

// binPath is the signpost binary TestMain builds once for the package;
// buildErr says why there is none (another package may briefly not compile).
var (
	binPath  string
	buildErr error
)

// netA is the second octet of every loopback address this test process uses
// (127.netA.S.n), chosen at random so that concurrent test processes (other
// packages, other checkouts) do not collide; nextNet hands out S.
var (
	netA    = byte(100 + rand.N(150))
	nextNet atomic.Uint32
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "signpost-lb-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// SIGNPOST_E2E_BIN runs the tests against a binary built elsewhere
	// (another revision, or while a package of this tree does not compile).
	if binPath = os.Getenv("SIGNPOST_E2E_BIN"); binPath == "" {
		binPath = filepath.Join(dir, "signpost")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/signpost-dns/signpost/cmd/signpost").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/signpost: %v\n%s", err, out)
		}
	}
	nextNet.Store(uint32(rand.N(200)))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// waitFor is the deadline for anything to become true: generous, because
// the machine is shared and a test must not fail because it was slow.
const waitFor = 30 * time.Second

// loopNet is a /24 of loopback addresses owned by one test.
type loopNet struct{ a, s byte }

func newLoopNet(t *testing.T) loopNet {
	t.Helper()
	s := nextNet.Add(1)
	return loopNet{a: netA, s: byte(s % 256)}
}

// ip returns 127.a.s.n.
func (l loopNet) ip(n byte) netip.Addr { return netip.AddrFrom4([4]byte{127, l.a, l.s, n}) }

// addr returns 127.a.s.n:port as a string.
func (l loopNet) addr(n byte, port int) string {
	return netip.AddrPortFrom(l.ip(n), uint16(port)).String()
}

// proc is a running signpost subcommand.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stderr *syncbuf.Buffer
	stdout chan string // lines of stdout
	done   chan struct{}
	err    error // set before done is closed
}

// startProc starts signpost with args. The process gets SIGTERM when the
// test ends and SIGKILL if it has not exited 20 s later; its stderr is
// logged if the test failed.
func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	p := &proc{name: name, cmd: cmd, stderr: &syncbuf.Buffer{}, stdout: make(chan string, 100), done: make(chan struct{})}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	var reading sync.WaitGroup
	reading.Go(func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case p.stdout <- sc.Text():
			default:
			}
		}
	})
	go func() {
		reading.Wait()
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
		if t.Failed() {
			t.Logf("%s %s\n--- stderr of %s (%v) ---\n%s", name, strings.Join(args, " "), name, p.err, tail(p.stderr.String(), 20000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// simProc is a running `signpost sim`.
type simProc struct {
	*proc
	marathon, control string // base URLs
	net               loopNet
}

// startSim runs `signpost sim -run-tasks` on addresses of ln. The cluster's
// agents are ln's 127.a.s.1-3 (declared by an anchor app in the state file,
// which no test routes), so tasks the simulator starts never clash with
// another simulator's. extraApps are added to the state file as captured.
func startSim(t *testing.T, ln loopNet, extraApps ...map[string]any) *simProc {
	t.Helper()
	anchor := map[string]any{
		"id": "/e2e-anchor", "instances": 3, "cmd": "sleep 1000", "labels": map[string]any{},
		"portDefinitions": []any{}, "tasks": []any{},
	}
	var tasks []any
	for i := 1; i <= 3; i++ {
		ip := ln.ip(byte(i)).String()
		tasks = append(tasks, map[string]any{
			"id": fmt.Sprintf("e2e-anchor.%d", i), "appId": "/e2e-anchor", "host": ip,
			"slaveId":     fmt.Sprintf("agent-%d", i),
			"ipAddresses": []any{map[string]any{"ipAddress": ip, "protocol": "IPv4"}},
			"ports":       []any{}, "state": "TASK_RUNNING",
			"stagedAt": "2020-01-01T00:00:00.000Z", "startedAt": "2020-01-01T00:00:00.000Z",
			"version": "2020-01-01T00:00:00.000Z",
		})
	}
	anchor["tasks"] = tasks
	apps := append([]map[string]any{anchor}, extraApps...)
	return startSimState(t, ln, map[string]any{"apps": apps})
}

// startSimState runs `signpost sim -run-tasks -state <doc>`.
func startSimState(t *testing.T, ln loopNet, doc map[string]any) *simProc {
	t.Helper()
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "apps.json")
	if err := os.WriteFile(state, data, 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, "sim", "sim", "-run-tasks", "-state", state,
		"-mesos-addr", ln.addr(250, 0), "-marathon-addr", ln.addr(250, 0), "-control-addr", ln.addr(250, 0),
		"-sse-heartbeat", "300ms", "-seed", strconv.Itoa(1+rand.N(1<<30)))
	s := &simProc{proc: p, net: ln}
	deadline := time.After(waitFor)
	for s.marathon == "" || s.control == "" {
		select {
		case line := <-p.stdout:
			k, v, _ := strings.Cut(line, " ")
			switch k {
			case "marathon":
				s.marathon = v
			case "control":
				s.control = v
			}
		case <-p.done:
			t.Fatalf("sim exited: %v\n%s", p.err, p.stderr.String())
		case <-deadline:
			t.Fatalf("sim did not print its addresses within %s\n%s", waitFor, p.stderr.String())
		}
	}
	eventually(t, "the simulated Marathon answers /ping", func() error {
		_, err := httpGet(s.marathon + "/ping")
		return err
	})
	return s
}

// do sends a JSON request to the simulator and decodes the JSON answer into
// out (when not nil). A status of 300 or more is an error.
func (s *simProc) do(t *testing.T, method, url string, body, out any) {
	t.Helper()
	if err := doJSON(method, url, body, out); err != nil {
		t.Fatal(err)
	}
}

func doJSON(method, url string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := plainClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: %v in %s", method, url, err, data)
		}
	}
	return nil
}

// simTask is one task as the control API lists it.
type simTask struct {
	ID      string `json:"id"`
	AppID   string `json:"appId"`
	Host    string `json:"host"`
	IP      string `json:"ip"`
	Ports   []int  `json:"ports"`
	State   string `json:"state"`
	Healthy *bool  `json:"healthy"`
}

// tasks lists the running tasks of app.
func (s *simProc) tasks(t *testing.T, app string) []simTask {
	t.Helper()
	var out struct {
		Tasks []simTask `json:"tasks"`
	}
	s.do(t, "GET", s.control+"/sim/v1/tasks?app="+app, nil, &out)
	var running []simTask
	for _, tk := range out.Tasks {
		if tk.State == "TASK_RUNNING" {
			running = append(running, tk)
		}
	}
	return running
}

// taskIDs returns the ids of the running tasks of app, as a set.
func (s *simProc) taskIDs(t *testing.T, app string) set {
	t.Helper()
	ids := set{}
	for _, tk := range s.tasks(t, app) {
		ids[tk.ID] = true
	}
	return ids
}

// addApp creates an app through the Marathon API and waits until its
// tasks run.
func (s *simProc) addApp(t *testing.T, app map[string]any) set {
	t.Helper()
	s.do(t, "POST", s.marathon+"/v2/apps", app, nil)
	id := app["id"].(string)
	want := 1
	if n, ok := app["instances"].(int); ok {
		want = n
	}
	var ids set
	eventually(t, "app "+id+" runs its tasks", func() error {
		ids = s.taskIDs(t, id)
		if len(ids) != want {
			return fmt.Errorf("%d tasks running, want %d", len(ids), want)
		}
		return nil
	})
	return ids
}

// scale sets the instance count of app and waits until that many tasks run.
func (s *simProc) scale(t *testing.T, app string, n int) set {
	t.Helper()
	s.do(t, "PUT", s.marathon+"/v2/apps"+app, map[string]any{"instances": n}, nil)
	var ids set
	eventually(t, fmt.Sprintf("app %s scaled to %d", app, n), func() error {
		ids = s.taskIDs(t, app)
		if len(ids) != n {
			return fmt.Errorf("%d tasks running", len(ids))
		}
		return nil
	})
	return ids
}

// set is a set of strings (task ids).
type set map[string]bool

func (s set) String() string {
	var out []string
	for k := range s {
		out = append(out, k)
	}
	sortStrings(out)
	return "{" + strings.Join(out, " ") + "}"
}

func (s set) equal(o set) bool {
	if len(s) != len(o) {
		return false
	}
	for k := range s {
		if !o[k] {
			return false
		}
	}
	return true
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// eventually polls f until it returns nil, failing the test with f's last
// error after waitFor.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	if err := poll(waitFor, f); err != nil {
		t.Fatalf("%s: not within %s: %v", what, waitFor, err)
	}
}

// poll calls f until it returns nil or d has passed, then returns its last
// error.
func poll(d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	wait := 20 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(wait)
		wait = min(2*wait, 250*time.Millisecond)
	}
}

// plainClient talks to the simulator and the admin endpoint.
var plainClient = &http.Client{Timeout: 10 * time.Second}

func httpGet(url string) (string, error) {
	resp, err := plainClient.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s: %.200s", url, resp.Status, b)
	}
	return string(b), nil
}

// errNotYet marks a `signpost lb` that refuses to run because it is not
// built yet.
var errNotYet = errors.New("not available yet")

// needTool skips when a real tool is missing, except in CI where every test
// must run.
func needTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (scripts/install-deps.sh installs it as root); CI=true, so this is a failure", name)
		}
		t.Skipf("%s not installed: run scripts/install-deps.sh as root", name)
	}
	return path
}
