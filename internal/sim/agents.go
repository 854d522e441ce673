package sim

import (
	"errors"
	"fmt"
	"slices"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/wire/operator"
)

// Agents get ports from this range, as a default Mesos agent offers.
const (
	agentPortBegin = 31000
	agentPortEnd   = 32000
)

// agentIP numbers agents inside 127.1.0.0/16 and up, skipping .0 and .255
// last octets, so every simulated host is a real loopback address.
func agentIP(i int) string {
	return fmt.Sprintf("127.%d.%d.%d", 1+i/(254*256), (i/254)%256, 1+i%254)
}

// AddAgents registers n new agents and returns their ids.
func (c *Cluster) AddAgents(n int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]string, 0, n)
	var events []operator.Event
	notify := c.mesosEvents.active()
	for range n {
		a := c.newAgentLocked()
		ids = append(ids, a.info.ID)
		if notify {
			info := a.info
			events = append(events, operator.Event{Type: operator.TypeAgentAdded, AgentAdded: &info})
		}
	}
	c.changed()
	c.mesosEvents.publish(events...)
	return ids
}

func (c *Cluster) newAgentLocked() *agent {
	i := c.nextAgentIdx
	c.nextAgentIdx++
	ip := agentIP(i)
	a := &agent{
		ip:       ip,
		used:     make(map[int]bool),
		nextPort: agentPortBegin,
		info: cluster.Agent{
			ID:       fmt.Sprintf("%s-S%d", c.masterID, i),
			Hostname: ip,
			Port:     5051,
			PID:      "slave(1)@" + ip + ":5051",
			Active:   true,
			Resources: cluster.Resources{
				CPUs: 8, Mem: 30720, Disk: 100000,
				Ports: []cluster.PortRange{{Begin: agentPortBegin, End: agentPortEnd}},
			},
		},
	}
	c.agents = append(c.agents, a)
	c.agentByID[a.info.ID] = a
	return a
}

// addLoadedAgentLocked keeps an agent from a captured state as it was.
func (c *Cluster) addLoadedAgentLocked(info cluster.Agent) *agent {
	a := &agent{info: info, ip: agentHostIP(info), used: make(map[int]bool), nextPort: agentPortBegin}
	c.agents = append(c.agents, a)
	c.agentByID[info.ID] = a
	return a
}

// agentHostIP is the address in the agent's pid, "slave(1)@ip:port".
func agentHostIP(a cluster.Agent) string {
	pid := a.PID
	for i := 0; i < len(pid); i++ {
		if pid[i] == '@' {
			pid = pid[i+1:]
			for j := len(pid) - 1; j >= 0; j-- {
				if pid[j] == ':' {
					return pid[:j]
				}
			}
			return pid
		}
	}
	return a.Hostname
}

// allocPort takes a free port from the agent's range.
func (a *agent) allocPort() (int, error) {
	for range agentPortEnd - agentPortBegin + 1 {
		p := a.nextPort
		a.nextPort++
		if a.nextPort > agentPortEnd {
			a.nextPort = agentPortBegin
		}
		if !a.used[p] {
			a.used[p] = true
			return p, nil
		}
	}
	return 0, fmt.Errorf("agent %s: no free port", a.info.ID)
}

// ErrNoAgent means no agent can take a task.
var ErrNoAgent = errors.New("no agent with free resources")

// placeLocked picks the next live agent round-robin that has the given host
// ports free. When no agent has them, it returns one anyway (the first live
// one in turn), and the launch fails naming the port in use, which says more
// than ErrNoAgent.
func (c *Cluster) placeLocked(fixedPorts []int) (*agent, error) {
	var fallback *agent
	for range len(c.agents) {
		a := c.agents[c.placeCursor%len(c.agents)]
		c.placeCursor++
		if a.lost || len(a.used) >= agentPortEnd-agentPortBegin {
			continue
		}
		if !slices.ContainsFunc(fixedPorts, func(p int) bool { return a.used[p] }) {
			return a, nil
		}
		if fallback == nil {
			fallback = a
		}
	}
	if fallback != nil {
		return fallback, nil
	}
	return nil, ErrNoAgent
}

// LoseAgent takes an agent away, as when its host dies: its tasks are
// reported TASK_LOST at once (TASK_KILLING ones too: no grace period on a
// dead host), the agent is removed, and Marathon replaces the tasks that
// were not being killed on other agents.
func (c *Cluster) LoseAgent(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.agentByID[id]
	if !ok || a.lost {
		return fmt.Errorf("no agent %q", id)
	}
	var lost []*task
	for _, t := range c.tasks {
		if t.agent == a {
			lost = append(lost, t)
		}
	}
	sortTasks(lost)
	var replace []*app
	for _, t := range lost {
		// A task in its kill grace period dies with the agent but is not
		// replaced: it was on its way out, and its app already has one.
		replaced := !t.killing() && t.app != nil && c.appByID[t.app.def.ID] == t.app
		c.transitionLocked(t, cluster.TaskLost, "Agent removed")
		c.removeTaskLocked(t)
		if replaced {
			replace = append(replace, t.app)
		}
	}
	a.lost = true
	delete(c.agentByID, id)
	c.changed()
	c.mesosEvents.publish(operator.Event{Type: operator.TypeAgentRemoved, AgentRemoved: id})
	for _, ap := range replace {
		if _, err := c.launchLocked(ap); err != nil {
			c.log.Warn("cannot replace lost task", "app", ap.def.ID, "err", err)
		}
	}
	return nil
}
