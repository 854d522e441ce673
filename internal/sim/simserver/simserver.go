// Package simserver runs a whole simulated cluster on loopback: the masters,
// Marathon, the control API, the ZooKeeper registration and the real tasks.
// `signpost sim`, `signpost demo` and the integration tests all start it the
// same way.
package simserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/sim"
	"github.com/signpost-dns/signpost/internal/sim/control"
	"github.com/signpost-dns/signpost/internal/sim/faults"
	"github.com/signpost-dns/signpost/internal/sim/marathonapi"
	"github.com/signpost-dns/signpost/internal/sim/mesosapi"
	"github.com/signpost-dns/signpost/internal/sim/taskrun"
	"github.com/signpost-dns/signpost/internal/sim/zkmasters"
	"github.com/signpost-dns/signpost/internal/wire/marathon"
	"github.com/signpost-dns/signpost/internal/wire/mesosstate"
)

// Config describes the cluster to simulate and where to serve it.
type Config struct {
	// MesosAddr is the first master's listen address; master i listens on
	// its port + i. Port 0 gives every master a free port.
	MesosAddr string
	// Masters is how many masters to run (at least 1).
	Masters int
	// MarathonAddr and ControlAddr are listen addresses (port 0: any free).
	MarathonAddr string
	ControlAddr  string
	// ZK, when set, registers the masters in ZooKeeper (zk://host:port/path).
	ZK string
	// StateFile is a captured Mesos state or Marathon apps document to load.
	StateFile string
	// Synthetic sizes a generated cluster (ignored when zero).
	Synthetic sim.SyntheticSpec
	// RunTasks makes every running task a real listener.
	RunTasks bool
	// TaskKind is what real tasks serve.
	TaskKind taskrun.Kind
	// KillGrace is how long a killed task stays TASK_KILLING, still
	// serving, before it is TASK_KILLED and stopped (see sim.Config). Zero
	// kills at once.
	KillGrace time.Duration
	// MesosHeartbeat and SSEHeartbeat are the streams' heartbeat periods.
	MesosHeartbeat time.Duration
	SSEHeartbeat   time.Duration
	Seed           uint64
	Logger         *slog.Logger
}

// DefaultAgents is how many agents a cluster has when nothing else says.
const DefaultAgents = 3

// Server is a running simulated cluster.
type Server struct {
	Cluster *sim.Cluster
	Faults  *faults.Set
	// MasterURLs are http://host:port of each master, in order.
	MasterURLs []string
	// MarathonURL and ControlURL are http://host:port.
	MarathonURL string
	ControlURL  string

	log      *slog.Logger
	servers  []*http.Server
	runner   *taskrun.Runner
	zk       *zkmasters.Group
	wg       sync.WaitGroup
	errs     chan error
	done     chan struct{}
	closeOne sync.Once
}

// LoadStateFile reads a captured document: a Mesos master state (it has
// "frameworks" or "slaves") or a Marathon /v2/apps document (it has "apps").
func LoadStateFile(path string) (*cluster.MesosState, *cluster.MarathonState, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	if ms, skipped, err := marathon.DecodeApps(data); err == nil && looksLike(data, `"apps"`) {
		if len(skipped) > 0 {
			return nil, nil, fmt.Errorf("%s: %w", path, errors.Join(skipped...))
		}
		return nil, ms, nil
	}
	st, skipped, err := mesosstate.Decode(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: neither a Marathon apps document nor a Mesos state: %w", path, err)
	}
	if !looksLike(data, `"frameworks"`) && !looksLike(data, `"slaves"`) {
		return nil, nil, fmt.Errorf(`%s: neither a Marathon apps document ("apps") nor a Mesos state ("frameworks", "slaves")`, path)
	}
	if len(skipped) > 0 {
		return nil, nil, fmt.Errorf("%s: %w", path, errors.Join(skipped...))
	}
	return st, nil, nil
}

func looksLike(data []byte, key string) bool {
	return bytes.Contains(data, []byte(key))
}

// Start listens on every address, builds the cluster and serves it until ctx
// ends or Close is called.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Masters < 1 {
		cfg.Masters = 1
	}
	var mesosState *cluster.MesosState
	var marathonState *cluster.MarathonState
	if cfg.StateFile != "" {
		var err error
		if mesosState, marathonState, err = LoadStateFile(cfg.StateFile); err != nil {
			return nil, err
		}
	}
	s := &Server{log: cfg.Logger, Faults: &faults.Set{}, errs: make(chan error, 8), done: make(chan struct{})}
	fail := func(err error) (*Server, error) {
		s.Close()
		return nil, err
	}

	masterLns, err := listenMasters(cfg.MesosAddr, cfg.Masters)
	if err != nil {
		return fail(err)
	}
	marathonLn, err := net.Listen("tcp", cfg.MarathonAddr)
	if err != nil {
		closeAll(masterLns)
		return fail(fmt.Errorf("marathon address: %w", err))
	}
	controlLn, err := net.Listen("tcp", cfg.ControlAddr)
	if err != nil {
		closeAll(masterLns)
		marathonLn.Close()
		return fail(fmt.Errorf("control address: %w", err))
	}

	masters := make([]cluster.MasterInfo, len(masterLns))
	for i, ln := range masterLns {
		addr := ln.Addr().(*net.TCPAddr)
		masters[i] = cluster.MasterInfo{
			ID:       fmt.Sprintf("sim-master-%d", i),
			PID:      "master@" + addr.String(),
			Hostname: addr.IP.String(),
			IP:       addr.IP.String(),
			Port:     addr.Port,
			Version:  "1.11.0",
		}
		s.MasterURLs = append(s.MasterURLs, "http://"+addr.String())
	}
	s.MarathonURL = "http://" + marathonLn.Addr().String()
	s.ControlURL = "http://" + controlLn.Addr().String()

	if cfg.RunTasks {
		s.runner = taskrun.New(cfg.Logger)
	}
	s.Cluster = sim.New(sim.Config{
		Masters:      masters,
		Leader:       0,
		MarathonHost: marathonLn.Addr().String(),
		Seed:         cfg.Seed,
		Runner:       s.runner,
		TaskKind:     cfg.TaskKind,
		KillGrace:    cfg.KillGrace,
		Logger:       cfg.Logger,
	})
	if mesosState != nil {
		s.Cluster.LoadMesosState(mesosState)
	}
	if marathonState != nil {
		if err := s.Cluster.LoadMarathonState(marathonState); err != nil {
			closeAll(append(masterLns, marathonLn, controlLn))
			return fail(err)
		}
	}
	if cfg.StateFile == "" && cfg.Synthetic.Agents == 0 {
		// A cluster needs somewhere to run tasks.
		cfg.Synthetic.Agents = DefaultAgents
	}
	if cfg.Synthetic.Agents > 0 {
		if err := s.Cluster.BuildSynthetic(cfg.Synthetic); err != nil {
			closeAll(append(masterLns, marathonLn, controlLn))
			return fail(err)
		}
	}

	setLeader := s.Cluster.SetLeader
	masterURL := s.MasterURLs[0]
	if cfg.ZK != "" {
		servers, path, err := zkmasters.ParseURL(cfg.ZK)
		if err != nil {
			closeAll(append(masterLns, marathonLn, controlLn))
			return fail(err)
		}
		if s.zk, err = zkmasters.New(ctx, servers, path, cfg.Logger); err != nil {
			closeAll(append(masterLns, marathonLn, controlLn))
			return fail(err)
		}
		for _, m := range masters {
			if _, err := s.zk.Join(m); err != nil {
				closeAll(append(masterLns, marathonLn, controlLn))
				return fail(fmt.Errorf("registering master %s in ZooKeeper: %w", m.PID, err))
			}
		}
		setLeader = s.setLeaderZK
		masterURL = cfg.ZK
	}

	cache := &mesosapi.StateCache{}
	for i, ln := range masterLns {
		h := mesosapi.New(s.Cluster, i, cache, mesosapi.Options{Heartbeat: cfg.MesosHeartbeat, Logger: cfg.Logger})
		s.serve(ln, s.Faults.Wrap("mesos", h))
	}
	s.serve(marathonLn, s.Faults.Wrap("marathon", marathonapi.New(s.Cluster, marathonapi.Options{
		Heartbeat: cfg.SSEHeartbeat, MasterURL: masterURL, Logger: cfg.Logger,
	})))
	s.serve(controlLn, control.New(s.Cluster, s.Faults, setLeader))

	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.done:
		}
	}()
	return s, nil
}

// setLeaderZK moves leadership in ZooKeeper the way it really moves — the
// masters ahead of the new leader re-register behind it — and then in the
// simulated state.
func (s *Server) setLeaderZK(idx int) error {
	masters, _ := s.Cluster.Masters()
	if idx < -1 || idx >= len(masters) {
		return fmt.Errorf("no master %d (have %d)", idx, len(masters))
	}
	members := s.zk.Members()
	if idx == -1 {
		for _, m := range members {
			if err := m.Leave(); err != nil {
				return err
			}
		}
		return s.Cluster.SetLeader(idx)
	}
	// Masters that left (no leader before) come back, the new leader first.
	if members[idx].Node() == "" {
		if err := members[idx].Rejoin(); err != nil {
			return err
		}
	}
	if err := s.zk.MakeLeader(idx); err != nil {
		return err
	}
	for _, m := range members {
		if m.Node() == "" {
			if err := m.Rejoin(); err != nil {
				return err
			}
		}
	}
	return s.Cluster.SetLeader(idx)
}

func listenMasters(addr string, n int) ([]net.Listener, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("mesos address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("mesos address %q: bad port", addr)
	}
	var lns []net.Listener
	for i := range n {
		p := 0
		if port != 0 {
			p = port + i
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			closeAll(lns)
			return nil, fmt.Errorf("master %d: %w", i, err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}

func (s *Server) serve(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serving", "addr", ln.Addr().String(), "err", err)
			select {
			case s.errs <- err:
			default:
			}
		}
	}()
}

// Err is closed-over errors from the listeners; a value means one died.
func (s *Server) Err() <-chan error { return s.errs }

// Close stops everything: the servers (ending streams), the ZooKeeper
// sessions (so the masters' nodes vanish) and the real tasks.
func (s *Server) Close() {
	s.closeOne.Do(func() {
		close(s.done)
		if s.Cluster != nil {
			s.Cluster.Close()
		}
		for _, srv := range s.servers {
			srv.Close()
		}
		s.wg.Wait()
		if s.zk != nil {
			s.zk.Close()
		}
		if s.runner != nil {
			s.runner.Close()
		}
	})
}
