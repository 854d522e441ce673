// Package sim is a simulated Mesos + Marathon cluster: one source of truth
// that every change goes through, and from which both systems' views are
// derived, so a task killed through Marathon's API also disappears from the
// Mesos state and the operator-API stream in the same step.
//
// The HTTP faces (the masters, Marathon, the control API) live in their own
// packages and only read snapshots and subscribe to events here.
//
// Kills follow Mesos. With [Config.KillGrace] set, a killed task (KillTask,
// scale-down, RestartApp, DeleteApp, an UpdateApp that replaces tasks) is
// reported TASK_KILLING at once and stays listed, in both views, in that
// state while its real process keeps serving; only when the grace period
// ends is it TASK_KILLED, removed, and its process stopped. That is the
// window a real cluster gives a load balancer to take a task out of rotation
// before it dies (Marathon and Marathon-LB drop TASK_KILLING tasks from
// routing). A task on a lost agent dies at once, as it does on a real
// cluster. With no grace (the default), TASK_KILLING and TASK_KILLED follow
// each other in the same step, which keeps tests deterministic.
package sim

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/sim/taskrun"
	"github.com/signpost-dns/signpost/internal/wire/marathon"
	"github.com/signpost-dns/signpost/internal/wire/operator"
)

// Config sets up a simulated cluster.
type Config struct {
	// Masters are the simulated Mesos masters; Masters[Leader] leads.
	Masters []cluster.MasterInfo
	// Leader is the index of the leading master, -1 for none.
	Leader int
	// MesosVersion is reported in the state.
	MesosVersion string
	// MarathonHost is Marathon's host:port, as /v2/leader reports it.
	MarathonHost string
	// Seed makes ids and placement reproducible.
	Seed uint64
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Runner, when set, runs every running task as a real listener.
	Runner *taskrun.Runner
	// TaskKind chooses what a real task serves.
	TaskKind taskrun.Kind
	// EventBuffer bounds how far a subscriber may fall behind (default 65536).
	EventBuffer int
	// KillGrace is how long a killed task stays TASK_KILLING, still serving,
	// before it is TASK_KILLED and stopped: the kill policy's grace period
	// between SIGTERM and SIGKILL (Mesos defaults to 3 s). Zero or negative
	// kills at once.
	KillGrace time.Duration
	Logger    *slog.Logger
}

// Cluster is the simulated cluster. All methods are safe for concurrent use.
type Cluster struct {
	mu  sync.Mutex
	cfg Config
	log *slog.Logger
	rng *rand.Rand

	masterID         string
	clusterName      string
	startTime        float64
	leader           int
	agents           []*agent
	agentByID        map[string]*agent
	frameworks       []*framework
	marathonFW       *framework
	apps             []*app
	appByID          map[string]*app
	tasks            map[string]*task
	servicePortsUsed map[int]bool
	nextServicePort  int
	nextContainerIP  uint32
	nextAgentIdx     int
	placeCursor      int
	seq              int
	lastTimestamp    float64

	mesosSnap    *cluster.MesosState
	marathonSnap *cluster.MarathonState
	version      uint64 // bumped on every change

	// leaderChanged is closed and replaced whenever leadership moves, so
	// that streams served by a master that lost it can end, as they do when a
	// real master fails over.
	leaderChanged chan struct{}

	mesosEvents    *hub[operator.Event]
	marathonEvents *hub[marathon.Event]

	// closed makes kills immediate and grace timers that already fired do
	// nothing, once Close has run.
	closed bool
	// graceTimers counts kill timers that are scheduled or running, so that
	// Close can wait for them and leave no goroutine behind.
	graceTimers sync.WaitGroup
}

type agent struct {
	info     cluster.Agent
	ip       string
	used     map[int]bool
	nextPort int
	lost     bool
}

type framework struct {
	info  cluster.Framework // Tasks always nil here
	tasks []*task
}

type app struct {
	def   cluster.App // Tasks always nil here
	tasks []*task
}

// task is one live task. mesos and marathon are its two views. Snapshots
// copy them by value, so the slices inside them (statuses, ports) are shared
// with every snapshot taken since: they are replaced, never edited in place.
// The []*task lists of apps and frameworks are never shared and may change.
type task struct {
	mesos    cluster.Task
	marathon cluster.AppTask
	app      *app // nil for tasks loaded from a Mesos state
	fw       *framework
	agent    *agent
	// listen is where a real task listens, when tasks run for real.
	listen []taskrun.Spec
	// killTimer ends the grace period of a TASK_KILLING task; nil otherwise.
	killTimer *time.Timer
}

// New makes an empty cluster with a Marathon framework.
func New(cfg Config) *Cluster {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.EventBuffer <= 0 {
		cfg.EventBuffer = 65536
	}
	if cfg.MesosVersion == "" {
		cfg.MesosVersion = "1.11.0"
	}
	c := &Cluster{
		cfg:              cfg,
		log:              cfg.Logger,
		rng:              rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5151)),
		leader:           cfg.Leader,
		agentByID:        make(map[string]*agent),
		appByID:          make(map[string]*app),
		tasks:            make(map[string]*task),
		servicePortsUsed: make(map[int]bool),
		nextServicePort:  10000,
		nextContainerIP:  1,
		leaderChanged:    make(chan struct{}),
		mesosEvents:      newHub[operator.Event](cfg.EventBuffer),
		marathonEvents:   newHub[marathon.Event](cfg.EventBuffer),
	}
	if len(cfg.Masters) == 0 {
		c.leader = -1
	}
	c.startTime = epoch(cfg.Now())
	c.masterID = c.uuid()
	c.marathonFW = &framework{info: cluster.Framework{
		ID:       c.masterID + "-0000",
		Name:     "marathon",
		PID:      "scheduler-" + c.uuid() + "@127.0.0.1:15101",
		Hostname: "127.0.0.1",
		WebUIURL: "http://" + cfg.MarathonHost,
		Role:     "*",
		Active:   true,
	}}
	c.frameworks = append(c.frameworks, c.marathonFW)
	return c
}

// Close ends every subscription, cancels pending kills and stops real tasks.
// Tasks still TASK_KILLING stay so in the last state: the simulator is gone,
// not the tasks' kill finished. Close may be called more than once.
func (c *Cluster) Close() {
	c.mesosEvents.close()
	c.marathonEvents.close()
	c.mu.Lock()
	c.closed = true
	for _, t := range c.tasks {
		c.stopKillTimerLocked(t)
	}
	if c.cfg.Runner != nil {
		for id := range c.tasks {
			_ = c.cfg.Runner.Stop(id, 0)
		}
	}
	c.mu.Unlock()
	// A timer that fired before it could be stopped waits for c.mu; it sees
	// closed and returns.
	c.graceTimers.Wait()
}

// Masters returns the simulated masters and the index of the leader (-1: none).
func (c *Cluster) Masters() ([]cluster.MasterInfo, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg.Masters, c.leader
}

// Leadership returns the leading master's index (-1: none) and a channel
// closed when that changes.
func (c *Cluster) Leadership() (int, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leader, c.leaderChanged
}

// MesosSnapshot returns the Mesos snapshot with the version it belongs to, so
// that servers can cache its encoding.
func (c *Cluster) MesosSnapshot() (*cluster.MesosState, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mesosStateLocked(), c.version
}

// MarathonSnapshot returns the Marathon snapshot with its version.
func (c *Cluster) MarathonSnapshot() (*cluster.MarathonState, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.marathonStateLocked(), c.version
}

// MarathonHost is Marathon's host:port.
func (c *Cluster) MarathonHost() string { return c.cfg.MarathonHost }

// Version counts changes; it moves whenever either view changes.
func (c *Cluster) Version() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.version
}

// MesosState returns the current Mesos snapshot, as the leading master
// reports it. The result is shared: callers must not modify it.
func (c *Cluster) MesosState() *cluster.MesosState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mesosStateLocked()
}

// MarathonState returns the current Marathon snapshot (shared, read-only).
func (c *Cluster) MarathonState() *cluster.MarathonState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.marathonStateLocked()
}

// SubscribeMesos returns the state and a subscription to every operator event
// after it, taken atomically so that no event is lost or seen twice.
func (c *Cluster) SubscribeMesos() (*cluster.MesosState, *Subscription[operator.Event]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mesosStateLocked(), c.mesosEvents.subscribe()
}

// SubscribeMarathon subscribes to Marathon's event bus.
func (c *Cluster) SubscribeMarathon() *Subscription[marathon.Event] {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.marathonEvents.subscribe()
}

func (c *Cluster) changed() {
	c.version++
	c.mesosSnap = nil
	c.marathonSnap = nil
}

func (c *Cluster) mesosStateLocked() *cluster.MesosState {
	if c.mesosSnap != nil {
		return c.mesosSnap
	}
	st := &cluster.MesosState{
		Version:   c.cfg.MesosVersion,
		ID:        c.masterID,
		Cluster:   c.clusterName,
		StartTime: c.startTime,
	}
	if c.leader >= 0 && c.leader < len(c.cfg.Masters) {
		m := c.cfg.Masters[c.leader]
		st.PID = m.PID
		st.Hostname = m.Hostname
		st.Leader = m.PID
		li := m
		st.LeaderInfo = &li
		st.ElectedTime = c.startTime
	}
	st.Agents = make([]cluster.Agent, 0, len(c.agents))
	for _, a := range c.agents {
		if !a.lost {
			st.Agents = append(st.Agents, a.info)
		}
	}
	st.Frameworks = make([]cluster.Framework, 0, len(c.frameworks))
	for _, f := range c.frameworks {
		fw := f.info
		fw.Tasks = make([]cluster.Task, len(f.tasks))
		for i, t := range f.tasks {
			fw.Tasks[i] = t.mesos
		}
		st.Frameworks = append(st.Frameworks, fw)
	}
	c.mesosSnap = st
	return st
}

func (c *Cluster) marathonStateLocked() *cluster.MarathonState {
	if c.marathonSnap != nil {
		return c.marathonSnap
	}
	st := &cluster.MarathonState{Apps: make([]cluster.App, len(c.apps))}
	for i, a := range c.apps {
		app := a.def
		app.Tasks = make([]cluster.AppTask, len(a.tasks))
		for j, t := range a.tasks {
			app.Tasks[j] = t.marathon
		}
		st.Apps[i] = app
	}
	c.marathonSnap = st
	return st
}

// uuid makes a version-1-looking UUID from the seeded generator, so task ids
// look like Marathon's and runs with the same seed are identical.
func (c *Cluster) uuid() string {
	a, b := c.rng.Uint64(), c.rng.Uint64()
	return fmt.Sprintf("%08x-%04x-11e7-%04x-%012x", uint32(a), uint16(a>>32), uint16(b), b>>16&0xffffffffffff)
}

func epoch(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}

func isoTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
