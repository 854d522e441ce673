// Package taskrun makes simulated Mesos tasks real: every running task of the
// simulator gets loopback listeners that answer like a tiny service would.
//
// Service discovery is only worth testing end to end when the addresses it
// hands out lead somewhere. With taskrun, a DNS answer or a load-balanced
// request for a simulated task reaches a socket owned by exactly that task, so
// tests can tell which task they reached (the replies carry the task id), can
// make a task fail its health checks, and can watch what happens to open
// connections when a task is killed.
//
// Everything binds inside 127.0.0.0/8 and nowhere else: on Linux the whole
// block is local without any setup, so each simulated agent can have its own
// IP (127.0.1.2, 127.0.1.3, ...) and tasks on different agents can share a
// port number as they do on a real cluster, while the machine running the
// simulator never exposes anything to the network.
package taskrun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Kind says what a task's listeners speak.
type Kind int

const (
	// HTTP serves HTTP/1.1 with keep-alive on every port; see [Info] for the
	// reply and [HealthPath], [EchoPath] and [SlowPath] for special paths. It is
	// the zero value because most Marathon apps the simulator models are web
	// services.
	HTTP Kind = iota
	// TCPEcho greets each connection with one line "<taskId>\n" and then echoes
	// every byte back until the client closes; it stands in for non-HTTP
	// services (databases, brokers) behind TCP load balancing.
	TCPEcho
)

// String returns "http" or "tcp-echo", the names used in logs.
func (k Kind) String() string {
	switch k {
	case HTTP:
		return "http"
	case TCPEcho:
		return "tcp-echo"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Spec describes one running task as the simulator placed it.
type Spec struct {
	// TaskID identifies the task; replies and greetings carry it so a client
	// knows which task it reached.
	TaskID string
	// AppID is the Marathon app the task belongs to; HTTP replies carry it.
	AppID string
	// IP is the simulated agent's address; it must lie inside 127.0.0.0/8.
	IP string
	// Ports are the host ports the simulator assigned; each gets a listener.
	// A task without ports is valid (Marathon runs workers that listen on
	// nothing) and simply serves nothing.
	Ports []int
	// Kind is what the listeners speak.
	Kind Kind
	// AlsoIP and AlsoPorts are a second set of addresses for the same task:
	// a bridged container answers both on the agent's host ports and on its
	// own container IP and ports. Empty AlsoIP means none.
	AlsoIP    string
	AlsoPorts []int
}

var (
	// ErrNotLoopback is wrapped by Start's error for an IP outside
	// 127.0.0.0/8: the simulator must never bind anything reachable from the
	// network.
	ErrNotLoopback = errors.New("not inside 127.0.0.0/8")
	// ErrAddrInUse is wrapped by Start's error when an address is taken, by
	// another task of this Runner or by anything else on the machine, so the
	// simulator can tell a port collision from a broken spec.
	ErrAddrInUse = errors.New("address already in use")
	// ErrTaskExists is wrapped by Start's error for a task id that is already
	// running: one id, one process, as on Mesos.
	ErrTaskExists = errors.New("task already running")
	// ErrUnknownTask is wrapped by Stop's error for a task that is not running
	// (never started, already stopped, or stopped by Close).
	ErrUnknownTask = errors.New("task not running")
	// ErrClosed is wrapped by Start's error after Close: a closed Runner must
	// not leave listeners behind that nobody will stop.
	ErrClosed = errors.New("runner closed")
)

// loopback is the only block taskrun binds in.
var loopback = netip.MustParsePrefix("127.0.0.0/8")

// Runner runs the listeners of simulated tasks. Its methods are safe for
// concurrent use: the simulator starts and kills tasks from whatever goroutine
// applies a cluster change.
type Runner struct {
	log   *slog.Logger
	hooks testHooks

	mu     sync.Mutex
	closed bool
	tasks  map[string]*task
	// addrs maps each address to the task holding it. An address stays held
	// until its task has fully stopped (connections drained or cut), so that
	// a client never mistakes a replacement for the dying task.
	addrs map[netip.AddrPort]string
	// stopping counts Stop calls still draining, so Close can wait for them
	// and leave no goroutine behind.
	stopping sync.WaitGroup
}

// testHooks let this package's tests observe handlers without sleeping.
// They are set right after New, before any Start, and never change.
type testHooks struct {
	// started is called when an HTTP handler begins serving a request.
	started func(taskID, path string)
	// finished is called when an HTTP handler returns; ctxErr is the request
	// context's error at that moment (non-nil when the request was cut).
	finished func(taskID, path string, ctxErr error)
}

// New returns an empty Runner. A nil logger discards logs.
func New(logger *slog.Logger) *Runner {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Runner{
		log:   logger,
		tasks: make(map[string]*task),
		addrs: make(map[netip.AddrPort]string),
	}
}

// task is one running task: its listeners and its health flag.
type task struct {
	spec    Spec
	ip      netip.Addr
	addrs   []netip.AddrPort
	log     *slog.Logger
	hooks   testHooks
	healthy atomic.Bool
	servers []server
}

// server is one listener with whatever serves it.
type server interface {
	// shutdown stops accepting at once, lets open connections finish until
	// ctx is done, then closes them, and returns only when every goroutine of
	// the server has ended.
	shutdown(ctx context.Context)
}

// validate checks spec and returns its IP. Every check is made before any
// socket is opened, so a bad spec leaves nothing behind.
func (s Spec) validate() (netip.Addr, error) {
	if s.TaskID == "" {
		return netip.Addr{}, errors.New("taskrun: spec has no task id")
	}
	if s.Kind != HTTP && s.Kind != TCPEcho {
		return netip.Addr{}, fmt.Errorf("taskrun: task %q: unknown kind %v", s.TaskID, s.Kind)
	}
	ip, err := netip.ParseAddr(s.IP)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("taskrun: task %q: IP %q is not an IP address: %w", s.TaskID, s.IP, err)
	}
	ip = ip.Unmap()
	if !loopback.Contains(ip) {
		return netip.Addr{}, fmt.Errorf("taskrun: task %q: IP %s is %w; the simulator binds nothing but loopback", s.TaskID, s.IP, ErrNotLoopback)
	}
	seen := make(map[int]bool, len(s.Ports))
	for _, p := range s.Ports {
		switch {
		case p == 0:
			return netip.Addr{}, fmt.Errorf("taskrun: task %q: port 0: the simulator assigns host ports, so a task must name each one", s.TaskID)
		case p < 0 || p > 65535:
			return netip.Addr{}, fmt.Errorf("taskrun: task %q: port %d out of range", s.TaskID, p)
		case seen[p]:
			return netip.Addr{}, fmt.Errorf("taskrun: task %q: port %d listed twice", s.TaskID, p)
		}
		seen[p] = true
	}
	if s.AlsoIP != "" {
		also := s
		also.IP, also.Ports, also.AlsoIP, also.AlsoPorts = s.AlsoIP, s.AlsoPorts, "", nil
		if _, err := also.validate(); err != nil {
			return netip.Addr{}, err
		}
	}
	return ip, nil
}

// Start opens one listener per port of spec on spec.IP and serves them until
// Stop or Close. Either every listener opens or none stays open: a task that
// cannot bind one port is not half running.
func (r *Runner) Start(spec Spec) error {
	ip, err := spec.validate()
	if err != nil {
		return err
	}
	spec.Ports = append([]int(nil), spec.Ports...) // the caller may reuse its slice
	spec.AlsoPorts = append([]int(nil), spec.AlsoPorts...)
	spec.IP = ip.String()

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("taskrun: start task %q: %w", spec.TaskID, ErrClosed)
	}
	if _, ok := r.tasks[spec.TaskID]; ok {
		return fmt.Errorf("taskrun: start task %q: %w", spec.TaskID, ErrTaskExists)
	}
	addrs := make([]netip.AddrPort, 0, len(spec.Ports)+len(spec.AlsoPorts))
	for _, p := range spec.Ports {
		addrs = append(addrs, netip.AddrPortFrom(ip, uint16(p)))
	}
	if spec.AlsoIP != "" {
		also := netip.MustParseAddr(spec.AlsoIP).Unmap()
		for _, p := range spec.AlsoPorts {
			addrs = append(addrs, netip.AddrPortFrom(also, uint16(p)))
		}
	}
	seenAddr := make(map[netip.AddrPort]bool, len(addrs))
	for _, a := range addrs {
		if owner, ok := r.addrs[a]; ok {
			return fmt.Errorf("taskrun: task %q: cannot listen on %s: %w by task %q", spec.TaskID, a, ErrAddrInUse, owner)
		}
		if seenAddr[a] {
			return fmt.Errorf("taskrun: task %q: address %s listed twice", spec.TaskID, a)
		}
		seenAddr[a] = true
	}

	// Listening under r.mu is cheap (no I/O waits) and makes the check above
	// and the bind one step, so two Starts cannot both win an address.
	lns := make([]net.Listener, 0, len(addrs))
	for _, a := range addrs {
		ln, err := net.Listen("tcp4", a.String())
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			if errors.Is(err, syscall.EADDRINUSE) {
				return fmt.Errorf("taskrun: task %q: cannot listen on %s: %w by another program: %w", spec.TaskID, a, ErrAddrInUse, err)
			}
			return fmt.Errorf("taskrun: task %q: cannot listen on %s: %w", spec.TaskID, a, err)
		}
		lns = append(lns, ln)
	}

	t := &task{
		spec:  spec,
		ip:    ip,
		addrs: addrs,
		log:   r.log.With("task", spec.TaskID, "app", spec.AppID, "kind", spec.Kind.String()),
		hooks: r.hooks,
	}
	t.healthy.Store(true)
	for i, ln := range lns {
		switch spec.Kind {
		case HTTP:
			t.servers = append(t.servers, startHTTP(t, ln, int(addrs[i].Port())))
		case TCPEcho:
			t.servers = append(t.servers, startEcho(t, ln))
		}
	}
	r.tasks[spec.TaskID] = t
	for _, a := range addrs {
		r.addrs[a] = spec.TaskID
	}
	t.log.Debug("task listening", "ip", spec.IP, "ports", spec.Ports)
	return nil
}

// Stop kills a task the way Mesos kills a process: its listeners close at
// once, so no new connection reaches it; connections already open may finish
// for up to grace; whatever is still open then is closed, so a killed task's
// connections really end. A negative grace counts as zero. Stop returns once
// every listener, connection and goroutine of the task is gone, and only then
// frees its addresses for another task.
func (r *Runner) Stop(taskID string, grace time.Duration) error {
	r.mu.Lock()
	t, ok := r.tasks[taskID]
	if !ok {
		r.mu.Unlock()
		return fmt.Errorf("taskrun: stop task %q: %w", taskID, ErrUnknownTask)
	}
	delete(r.tasks, taskID)
	r.stopping.Add(1)
	r.mu.Unlock()
	defer r.stopping.Done()

	r.finish(t, grace)
	return nil
}

// finish stops t and releases its addresses.
func (r *Runner) finish(t *task, grace time.Duration) {
	start := time.Now()
	t.stop(max(grace, 0))
	r.mu.Lock()
	for _, a := range t.addrs {
		delete(r.addrs, a)
	}
	r.mu.Unlock()
	t.log.Debug("task stopped", "grace", grace, "took", time.Since(start))
}

// Close kills every task at once (grace zero), waits for Stops still
// draining, and makes later Starts fail: when the simulator goes away, its
// tasks die with it. Close may be called more than once.
func (r *Runner) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.stopping.Wait()
		return
	}
	r.closed = true
	tasks := r.tasks
	r.tasks = make(map[string]*task)
	r.stopping.Add(len(tasks))
	r.mu.Unlock()

	for _, t := range tasks {
		go func() {
			defer r.stopping.Done()
			r.finish(t, 0)
		}()
	}
	r.stopping.Wait()
}

// SetHealthy decides what the task's HTTP [HealthPath] answers: 200 when ok,
// 503 otherwise, so that active health checks of a load balancer see a real
// failure. Tasks start healthy. It is a no-op for a task that is not running
// (the simulator may race a health change with a kill) and has no effect on
// TCP echo tasks, which have no health endpoint.
func (r *Runner) SetHealthy(taskID string, ok bool) {
	r.mu.Lock()
	t := r.tasks[taskID]
	r.mu.Unlock()
	if t == nil {
		r.log.Debug("health change for a task not running", "task", taskID, "healthy", ok)
		return
	}
	if t.healthy.Swap(ok) != ok {
		t.log.Info("task health changed", "healthy", ok)
	}
}

// Running returns how many tasks are running; a task being stopped no longer
// counts.
func (r *Runner) Running() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.tasks)
}

// stop shuts all listeners of t down in parallel under one deadline, so a
// task with many ports drains for grace, not grace times its ports.
func (t *task) stop(grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range t.servers {
		wg.Go(func() { s.shutdown(ctx) })
	}
	wg.Wait()
}
