package e2e

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// This file holds task servers the tests run themselves, for what the
// simulator's tasks (internal/sim/taskrun) cannot show: the request as the
// task received it (headers, Host, URI), a Location header to rewrite, a
// WebSocket upgrade, and a health endpoint per port rather than per task.
// They answer like taskrun's HTTP tasks (X-Task-Id on every reply), so the
// same helpers (send, reach) tell which task a request reached.

// Paths of a taskServer with a meaning of their own; any other path gets the
// seenRequest JSON.
const (
	// srvHealthPath answers 200, or 503 after setHealthy(false).
	srvHealthPath = "/health"
	// srvLocationPath?to=X answers 302 with "Location: X".
	srvLocationPath = "/location"
	// srvWSPath accepts a WebSocket upgrade and echoes every frame.
	srvWSPath = "/ws"
)

// seenRequest is what a taskServer received, as it answers it.
type seenRequest struct {
	Task   string      `json:"task"`
	Method string      `json:"method"`
	URI    string      `json:"uri"`
	Path   string      `json:"path"`
	Host   string      `json:"host"`
	Header http.Header `json:"header"`
	Remote string      `json:"remote"`
}

// taskServer serves one port of a task of a loaded app.
type taskServer struct {
	task, addr string
	healthy    atomic.Bool
	srv        *http.Server
	serving    sync.WaitGroup

	mu       sync.Mutex
	hijacked map[net.Conn]bool
	closed   bool
}

// startTaskServer listens on ip at a free port of 32200-32767 (above the
// simulator's agent ports, below the kernel's ephemeral range) and serves
// until the test ends.
func startTaskServer(t *testing.T, task, ip string) *taskServer {
	t.Helper()
	var ln net.Listener
	var err error
	for range 200 {
		p := 32200 + rand.N(568)
		if ln, err = net.Listen("tcp4", net.JoinHostPort(ip, strconv.Itoa(p))); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("task server %s on %s: %v", task, ip, err)
	}
	s := &taskServer{task: task, addr: ln.Addr().String(), hijacked: map[net.Conn]bool{}}
	s.healthy.Store(true)
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.serving.Go(func() { s.srv.Serve(ln) })
	t.Cleanup(s.close)
	return s
}

func (s *taskServer) port() int {
	_, p, _ := net.SplitHostPort(s.addr)
	n, _ := strconv.Atoi(p)
	return n
}

func (s *taskServer) setHealthy(ok bool) { s.healthy.Store(ok) }

// close stops the server and cuts upgraded connections, whose goroutines
// then end.
func (s *taskServer) close() {
	s.srv.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.hijacked {
		c.Close()
	}
	s.mu.Unlock()
	s.serving.Wait()
}

func (s *taskServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Task-Id", s.task)
	switch r.URL.Path {
	case srvHealthPath:
		if !s.healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		io.WriteString(w, s.task+"\n")
		return
	case srvLocationPath:
		w.Header().Set("Location", r.URL.Query().Get("to"))
		w.WriteHeader(http.StatusFound)
		return
	case srvWSPath:
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			s.websocket(w, r)
			return
		}
	}
	body, _ := json.Marshal(seenRequest{
		Task: s.task, Method: r.Method, URI: r.RequestURI, Path: r.URL.Path, Host: r.Host,
		Header: r.Header, Remote: r.RemoteAddr,
	})
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// wsGUID is RFC 6455's magic string for Sec-WebSocket-Accept.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// websocket answers 101 and echoes frames (unmasked, same opcode) until a
// close frame, which it echoes too.
func (s *taskServer) websocket(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if key == "" {
		http.Error(w, "no Sec-WebSocket-Key", http.StatusBadRequest)
		return
	}
	c, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.Close()
		return
	}
	s.hijacked[c] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.hijacked, c)
		s.mu.Unlock()
		c.Close()
	}()
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nX-Task-Id: %s\r\n\r\n", wsAccept(key), s.task)
	if brw.Flush() != nil {
		return
	}
	for {
		op, payload, err := readWSFrame(brw.Reader)
		if err != nil {
			return
		}
		if writeWSFrame(c, op, payload, false) != nil || op == 8 {
			return
		}
	}
}

// readWSFrame reads one unfragmented frame of up to 64 KiB, unmasking it.
func readWSFrame(r *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	op = h[0] & 0x0f
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err = io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = int(binary.BigEndian.Uint16(b[:]))
	case 127:
		return 0, nil, errors.New("websocket frame too large for this test")
	}
	var mask [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err = io.ReadFull(r, mask[:]); err != nil {
			return 0, nil, err
		}
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	if masked {
		for i := range payload {
			payload[i] ^= mask[i%4]
		}
	}
	return op, payload, nil
}

// writeWSFrame writes one final frame; clients mask, servers do not.
func writeWSFrame(w io.Writer, op byte, payload []byte, mask bool) error {
	if len(payload) > 0xffff {
		return errors.New("websocket payload too large for this test")
	}
	b := []byte{0x80 | op}
	mbit := byte(0)
	if mask {
		mbit = 0x80
	}
	if len(payload) < 126 {
		b = append(b, mbit|byte(len(payload)))
	} else {
		b = append(b, mbit|126, byte(len(payload)>>8), byte(len(payload)))
	}
	p := payload
	if mask {
		key := [4]byte{byte(rand.N(256)), byte(rand.N(256)), byte(rand.N(256)), byte(rand.N(256))}
		b = append(b, key[:]...)
		p = make([]byte, len(payload))
		for i := range payload {
			p[i] = payload[i] ^ key[i%4]
		}
	}
	_, err := w.Write(append(b, p...))
	return err
}

// serverApp is an app of the simulator's state file whose tasks are
// taskServers the test runs: task i on agent hosts[i] (1-3), one server
// per entry of servicePorts. The returned servers are indexed [task][port].
// Tasks report their health check results as alive when the app has
// healthChecks, so that only the load balancer's own checks can see a
// failure.
func serverApp(t *testing.T, ln loopNet, id string, labels map[string]any, servicePorts []int, healthChecks []any, hosts ...byte) (map[string]any, [][]*taskServer) {
	t.Helper()
	var pds []any
	for _, p := range servicePorts {
		pds = append(pds, map[string]any{"port": p, "protocol": "tcp"})
	}
	app := map[string]any{
		"id": id, "instances": len(hosts), "cmd": "serve", "labels": labels,
		"portDefinitions": pds, "networks": []any{map[string]any{"mode": "host"}},
	}
	if healthChecks != nil {
		app["healthChecks"] = healthChecks
	}
	var tasks []any
	var servers [][]*taskServer
	for i, h := range hosts {
		ip := ln.ip(h).String()
		tid := fmt.Sprintf("%s.srv-%d", strings.ReplaceAll(strings.TrimPrefix(id, "/"), "/", "_"), i+1)
		var ports []any
		var srvs []*taskServer
		for range servicePorts {
			s := startTaskServer(t, tid, ip)
			srvs = append(srvs, s)
			ports = append(ports, s.port())
		}
		task := map[string]any{
			"id": tid, "appId": id, "host": ip, "slaveId": fmt.Sprintf("agent-%d", h),
			"ipAddresses": []any{map[string]any{"ipAddress": ip, "protocol": "IPv4"}},
			"ports":       ports, "servicePorts": toAny(servicePorts), "state": "TASK_RUNNING",
			"stagedAt": "2020-01-01T00:00:00.000Z", "startedAt": "2020-01-01T00:00:00.000Z",
			"version": "2020-01-01T00:00:00.000Z",
		}
		if len(healthChecks) > 0 {
			var results []any
			for range healthChecks {
				results = append(results, map[string]any{
					"alive": true, "consecutiveFailures": 0, "firstSuccess": "2020-01-01T00:00:01.000Z",
					"lastSuccess": "2020-01-01T00:00:01.000Z", "taskId": tid,
				})
			}
			task["healthCheckResults"] = results
		}
		tasks = append(tasks, task)
		servers = append(servers, srvs)
	}
	app["tasks"] = tasks
	return app, servers
}

func toAny(ports []int) []any {
	out := make([]any, len(ports))
	for i, p := range ports {
		out[i] = p
	}
	return out
}

// seen sends r and decodes the task's account of the request.
func seen(r req) (seenRequest, reply, error) {
	var s seenRequest
	rep, err := send(r)
	if err != nil {
		return s, rep, err
	}
	if rep.status != http.StatusOK || rep.task == "" {
		return s, rep, fmt.Errorf("%s %s (Host %q): %d from %q: %.200s", r.addr, r.path, r.host, rep.status, rep.task, rep.body)
	}
	if err := json.Unmarshal([]byte(rep.body), &s); err != nil {
		return s, rep, fmt.Errorf("%s %s: not a task server's answer: %v: %.200s", r.addr, r.path, err, rep.body)
	}
	return s, rep, nil
}

// webApp is a Marathon app definition the simulator runs with HTTP tasks
// (taskrun), one port definition per entry of ports.
func webApp(id string, instances int, labels map[string]any, ports ...int) map[string]any {
	var pds []any
	for _, p := range ports {
		pds = append(pds, map[string]any{"port": p, "protocol": "tcp"})
	}
	return map[string]any{"id": id, "instances": instances, "cmd": "serve", "labels": labels, "portDefinitions": pds}
}

// keepAliveTasks sends n requests one after the other on one client
// connection and returns the task that answered each.
func keepAliveTasks(addr, host string, n int) ([]string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	var out []string
	for i := range n {
		if _, err := fmt.Fprintf(c, "GET /ka/%d HTTP/1.1\r\nHost: %s\r\n\r\n", i, host); err != nil {
			return out, err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return out, fmt.Errorf("request %d on one connection: %w", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return out, fmt.Errorf("request %d on one connection: %s", i, resp.Status)
		}
		out = append(out, resp.Header.Get("X-Task-Id"))
	}
	return out, nil
}

// dialEchoFrom is dialEcho from a chosen source address.
func dialEchoFrom(addr, from string) (*echoConn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
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

// refused reports whether nothing listens at addr (the connection is
// refused, or closed before any answer to an HTTP request).
func refused(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil
	}
	c.Close()
	return fmt.Errorf("%s accepts connections", addr)
}

// metric sums the samples of the Prometheus text body whose name is name
// and whose labels contain every one of labels (`key="value"`).
func metric(body, name string, labels ...string) (float64, bool) {
	var sum float64
	found := false
	for line := range strings.SplitSeq(body, "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		f := strings.Fields(rest[strings.LastIndex(rest, "}")+1:])
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}

// basicAuth is the value of an Authorization header.
func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
