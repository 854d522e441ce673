package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/signpost-dns/signpost/internal/sim"
	"github.com/signpost-dns/signpost/internal/sim/simserver"
	"github.com/signpost-dns/signpost/internal/sim/taskrun"
	"github.com/signpost-dns/signpost/internal/sim/zkmasters"
)

// simFlags are the flags sim and demo share.
type simFlags struct {
	mesosAddr, marathonAddr, controlAddr string
	masters                              int
	zk, state                            string
	agents, apps, instances              int
	runTasks                             bool
	taskKind                             string
	mesosHeartbeat, sseHeartbeat         time.Duration
	killGrace                            time.Duration
	seed                                 uint64
}

func (f *simFlags) register(fs *flag.FlagSet, runTasksDefault bool) {
	fs.StringVar(&f.mesosAddr, "mesos-addr", "127.0.0.1:5050", "listen address of the first Mesos master; master i listens on port+i")
	fs.IntVar(&f.masters, "masters", 1, "number of Mesos masters (1-9); master 0 leads")
	fs.StringVar(&f.marathonAddr, "marathon-addr", "127.0.0.1:8080", "listen address of Marathon")
	fs.StringVar(&f.controlAddr, "control-addr", "127.0.0.1:5099", "listen address of the simulator's control API (/sim/v1/)")
	fs.StringVar(&f.zk, "zk", "", "register the masters in ZooKeeper, e.g. zk://127.0.0.1:2181/mesos")
	fs.StringVar(&f.state, "state", "", "load a captured Mesos /master/state or Marathon /v2/apps document")
	fs.IntVar(&f.agents, "agents", 0, "build a synthetic cluster with this many agents")
	fs.IntVar(&f.apps, "apps", 0, "number of synthetic apps (needs -agents)")
	fs.IntVar(&f.instances, "instances", 1, "instances of each synthetic app")
	fs.BoolVar(&f.runTasks, "run-tasks", runTasksDefault, "run every task as a real listener on its loopback address")
	fs.StringVar(&f.taskKind, "task-kind", "http", "what real tasks serve: http or tcp-echo (label SIGNPOST_SIM_KIND overrides per app)")
	fs.DurationVar(&f.mesosHeartbeat, "mesos-heartbeat", 15*time.Second, "operator API heartbeat interval")
	fs.DurationVar(&f.sseHeartbeat, "sse-heartbeat", 10*time.Second, "Marathon event stream heartbeat interval")
	fs.Uint64Var(&f.seed, "seed", 1, "seed for ids and placement (same seed, same cluster)")
	// 3 s is Mesos' default kill grace period: a killed task stays
	// TASK_KILLING and keeps serving that long, as on a real cluster, so a
	// load balancer in front of the simulator sees what it would see there.
	fs.DurationVar(&f.killGrace, "kill-grace", 3*time.Second, "how long a killed task stays TASK_KILLING and keeps serving before TASK_KILLED, as in Mesos' kill grace period (0 kills at once)")
}

// config validates the flags and names the first one that is wrong.
func (f *simFlags) config(e *env) (simserver.Config, error) {
	cfg := simserver.Config{
		MesosAddr: f.mesosAddr, Masters: f.masters, MarathonAddr: f.marathonAddr, ControlAddr: f.controlAddr,
		ZK: f.zk, StateFile: f.state, RunTasks: f.runTasks,
		MesosHeartbeat: f.mesosHeartbeat, SSEHeartbeat: f.sseHeartbeat, Seed: f.seed, Logger: e.logger,
		KillGrace: f.killGrace,
		Synthetic: sim.SyntheticSpec{Agents: f.agents, Apps: f.apps, Instances: f.instances},
	}
	switch {
	case f.masters < 1 || f.masters > 9:
		return cfg, usagef("-masters: %d is outside 1-9", f.masters)
	case f.agents < 0 || f.agents > 100000:
		return cfg, usagef("-agents: %d is outside 0-100000", f.agents)
	case f.apps < 0:
		return cfg, usagef("-apps: %d is negative", f.apps)
	case f.instances < 0:
		return cfg, usagef("-instances: %d is negative", f.instances)
	case f.apps > 0 && f.agents == 0:
		return cfg, usagef("-apps needs -agents: tasks need agents to run on")
	case f.mesosHeartbeat <= 0:
		return cfg, usagef("-mesos-heartbeat: must be positive")
	case f.sseHeartbeat <= 0:
		return cfg, usagef("-sse-heartbeat: must be positive")
	case f.killGrace < 0:
		return cfg, usagef("-kill-grace: %v is negative", f.killGrace)
	}
	switch f.taskKind {
	case "http":
		cfg.TaskKind = taskrun.HTTP
	case "tcp-echo":
		cfg.TaskKind = taskrun.TCPEcho
	default:
		return cfg, usagef("-task-kind: %q is not http or tcp-echo", f.taskKind)
	}
	if f.zk != "" {
		if _, _, err := zkmasters.ParseURL(f.zk); err != nil {
			return cfg, usagef("-zk: %v", err)
		}
	}
	if f.state != "" {
		if _, err := os.Stat(f.state); err != nil {
			return cfg, usagef("-state: %v", err)
		}
		if _, _, err := simserver.LoadStateFile(f.state); err != nil {
			return cfg, usagef("-state: %v", err)
		}
	}
	return cfg, nil
}

func setupSim(fs *flag.FlagSet) func(context.Context, *env) error {
	var f simFlags
	f.register(fs, false)
	return func(ctx context.Context, e *env) error {
		cfg, err := f.config(e)
		if err != nil {
			return err
		}
		start := time.Now()
		s, err := simserver.Start(ctx, cfg)
		if err != nil {
			return err
		}
		defer s.Close()
		st := s.Cluster.MesosState()
		tasks := 0
		for _, fw := range st.Frameworks {
			tasks += len(fw.Tasks)
		}
		e.logger.Info("simulated cluster ready", "masters", s.MasterURLs, "marathon", s.MarathonURL,
			"control", s.ControlURL, "agents", len(st.Agents), "tasks", tasks, "took", time.Since(start).Round(time.Millisecond))
		fmt.Fprintf(e.stdout, "mesos %s\nmarathon %s\ncontrol %s\n", s.MasterURLs[0], s.MarathonURL, s.ControlURL)
		select {
		case <-ctx.Done():
		case err := <-s.Err():
			return fmt.Errorf("a listener failed: %w", err)
		}
		e.logger.Info("shutting down")
		return nil
	}
}
