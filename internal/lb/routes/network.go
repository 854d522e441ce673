package routes

import (
	"crypto/sha1"
	"encoding/hex"
	"strconv"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// netMode is an app's networking mode as Marathon-LB classifies it. It
// decides where a task's IP and ports come from (utils.py).
type netMode uint8

const (
	// netHost: the agent's address and the task's host ports.
	netHost netMode = iota
	// netBridge: the agent's address and the host ports mapped to the container.
	netBridge
	// netContainer: IP-per-task; the task's own IP and container ports.
	netContainer
)

// appNetMode mirrors get_app_networking_mode: host by default, container
// with a (pre-1.5) ipAddress, the docker network USER/BRIDGE (pre-1.5), and
// from Marathon 1.5 the mode of the last entry of networks (modes cannot be
// mixed). An unknown mode is treated as container, Marathon's default.
func appNetMode(a *cluster.App) netMode {
	m := netHost
	if a.IPAddress != nil {
		// Marathon ≤1.4 writes null for apps without IP-per-task; any object
		// (the decoder keeps even an empty one) means IP-per-task.
		m = netContainer
	}
	if a.Container != nil && a.Container.Docker != nil {
		switch a.Container.Docker.Network {
		case "USER":
			m = netContainer
		case "BRIDGE":
			m = netBridge
		}
	}
	for _, n := range a.Networks {
		switch n.Mode {
		case "host":
			m = netHost
		case "container/bridge":
			m = netBridge
		default:
			m = netContainer
		}
	}
	return m
}

// portMappings are container.docker.portMappings (Marathon <1.5) when there
// are any, else container.portMappings (≥1.5).
func portMappings(a *cluster.App) []cluster.AppPortMapping {
	if a.Container == nil {
		return nil
	}
	if a.Container.Docker != nil && len(a.Container.Docker.PortMappings) > 0 {
		return a.Container.Docker.PortMappings
	}
	return a.Container.PortMappings
}

func portDefinitionPorts(a *cluster.App) []int {
	if len(a.PortDefinitions) == 0 {
		return nil
	}
	ports := make([]int, len(a.PortDefinitions))
	for i, d := range a.PortDefinitions {
		ports[i] = d.Port
	}
	return ports
}

func containerPorts(a *cluster.App) []int {
	pms := portMappings(a)
	if len(pms) == 0 {
		return nil
	}
	ports := make([]int, len(pms))
	for i, pm := range pms {
		ports[i] = pm.ContainerPort
	}
	return ports
}

// taskPorts mirrors get_app_task_ports: the ports a task's services listen
// on, at the task's IP, one per service-port index.
func taskPorts(a *cluster.App, t *cluster.AppTask, mode netMode) []int {
	switch mode {
	case netHost:
		if len(t.Ports) > 0 {
			return t.Ports
		}
		return portDefinitionPorts(a)
	case netBridge:
		if len(t.Ports) > 0 {
			return t.Ports
		}
		// Only Marathon <1.5 has port definitions for bridged apps.
		if p := portDefinitionPorts(a); len(p) > 0 {
			return p
		}
		return containerPorts(a)
	default:
		if a.IPAddress != nil && len(a.IPAddress.DiscoveryPorts) > 0 {
			ports := make([]int, len(a.IPAddress.DiscoveryPorts))
			for i, d := range a.IPAddress.DiscoveryPorts {
				ports[i] = d.Number
			}
			return ports
		}
		return containerPorts(a)
	}
}

// taskIP is the address Marathon-LB connects to: the task's first IP for
// IP-per-task apps, else the agent host (resolved later). Empty means the
// task has no address yet and is skipped.
func taskIP(t *cluster.AppTask, mode netMode) string {
	if mode == netContainer {
		if len(t.IPAddresses) == 0 {
			return ""
		}
		return t.IPAddresses[0].IP
	}
	return t.Host
}

// servicePorts mirrors ServicePortAssigner.get_service_ports: bridged and
// IP-per-task apps take the service ports of their port mappings, others
// those of their port definitions (or legacy "ports"), and an IP-per-task
// app with neither gets ports assigned from the --*-serv-port-ip-per-task
// range. A 0 entry means "no service port at this index": Marathon fills in
// every port it assigns, so 0 only comes from definitions without one (or
// an exhausted range), and that index's service is skipped — the index is
// kept so that HAPROXY_{n}_ labels and task ports still line up.
func servicePorts(a *cluster.App, id string, tasks []lbTask, mode netMode, asg *portAssigner) []int {
	if mode == netContainer || mode == netBridge {
		if pms := portMappings(a); len(pms) > 0 {
			ports := make([]int, len(pms))
			any := false
			for i, pm := range pms {
				ports[i] = pm.ServicePort
				any = any || pm.ServicePort != 0
			}
			if any {
				return ports
			}
		}
	}
	ports := portDefinitionPorts(a)
	if len(ports) == 0 && mode == netContainer && asg.enabled() && len(tasks) > 0 {
		tp := taskPorts(a, tasks[0].t, mode)
		if len(tp) > 0 {
			ports = make([]int, len(tp))
			for i, p := range tp {
				ports[i] = asg.port(id, p)
			}
		}
	}
	return ports
}

// maxAssignClashes is how many hash probes Marathon-LB tries before scanning
// the range linearly (MAX_CLASHES).
const maxAssignClashes = 50

// portAssigner reproduces Marathon-LB's ServicePortAssigner so that an
// IP-per-task app gets the same auto-assigned service port from Signpost as
// from Marathon-LB (clients may have been given that port). It is created
// afresh for every Build, like Marathon-LB resets it on every regeneration,
// so the result is deterministic for a given snapshot.
type portAssigner struct {
	min, max int
	byKey    map[assignKey]int
	used     map[int]struct{}
}

type assignKey struct {
	app  string
	port int
}

func newPortAssigner(min, max int) *portAssigner {
	return &portAssigner{min: min, max: max}
}

func (p *portAssigner) enabled() bool { return p.min != 0 && p.max != 0 }

// port returns the service port for (app, task port), assigning one on first
// use: min + int(sha1("<app>-<taskPort>-<k>")[:8], 16) % size for k < 50,
// then the first free port; 0 when the range is exhausted.
func (p *portAssigner) port(app string, taskPort int) int {
	key := assignKey{app, taskPort}
	if got := p.byKey[key]; got != 0 {
		return got
	}
	if p.byKey == nil {
		p.byKey = make(map[assignKey]int)
		p.used = make(map[int]struct{})
	}
	size := p.max - p.min + 1
	port := 0
	if len(p.byKey) < size {
		for k := 0; k < maxAssignClashes && port == 0; k++ {
			sum := sha1.Sum([]byte(app + "-" + strconv.Itoa(taskPort) + "-" + strconv.Itoa(k)))
			h, _ := strconv.ParseUint(hex.EncodeToString(sum[:4]), 16, 64)
			trial := p.min + int(h%uint64(size))
			if _, taken := p.used[trial]; !taken {
				port = trial
			}
		}
		for trial := p.min; port == 0 && trial <= p.max; trial++ {
			if _, taken := p.used[trial]; !taken {
				port = trial
			}
		}
	}
	p.byKey[key] = port
	if port != 0 {
		p.used[port] = struct{}{}
	}
	return port
}
