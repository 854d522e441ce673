// Package cluster is the one model of a Mesos/Marathon cluster that every part
// of Signpost shares: sources decode the wire into it, builders read it, and the
// simulator serves it back out.
//
// It holds what service discovery needs and nothing else, so that the DNS and
// LB builders never look at wire formats. Values are snapshots: once a
// producer has handed a snapshot to anyone it never changes it again; a change
// in the cluster produces a new snapshot (copy what you change, share what you
// don't). Consumers may therefore keep a snapshot and read it from any
// goroutine without locks.
package cluster

// MesosState is a snapshot of what a Mesos master knows: itself, its leader,
// the agents and the frameworks with their tasks.
type MesosState struct {
	// Version is the master's Mesos version ("1.0.0").
	Version string
	// ID is the master's id.
	ID string
	// PID is the UPID of the master that produced the state ("master@10.0.0.1:5050").
	PID string
	// Hostname is the hostname of the master that produced the state.
	Hostname string
	// Leader is the leading master's UPID; empty when the master knows no leader.
	Leader string
	// LeaderInfo is the leader's MasterInfo, present from Mesos 1.2 on.
	LeaderInfo *MasterInfo
	// Cluster is the --cluster name, if set.
	Cluster string
	// ElectedTime and StartTime are float epoch seconds; ElectedTime is zero on non-leaders.
	ElectedTime float64
	StartTime   float64

	Agents     []Agent
	Frameworks []Framework
}

// MasterInfo describes one master, as ZooKeeper and leader_info carry it.
type MasterInfo struct {
	ID       string
	PID      string
	Hostname string
	// IP is the textual address (address.ip); Port the libprocess port.
	IP      string
	Port    int
	Version string
}

// Agent is a registered Mesos agent (a "slave" in v0 JSON).
type Agent struct {
	ID       string
	Hostname string
	Port     int
	// PID is "slave(1)@ip:port"; Mesos-DNS derives the agent IP from it.
	PID        string
	Active     bool
	Attributes map[string]string
	// Resources are the agent's total resources; Ports the port ranges among them.
	Resources Resources
}

// Resources is the scalar and port part of a Mesos resource set.
type Resources struct {
	CPUs  float64
	Mem   float64
	Disk  float64
	GPUs  float64
	Ports []PortRange
}

// PortRange is an inclusive range of ports, as Mesos writes "[31000-31005]".
type PortRange struct {
	Begin, End int
}

// Framework is a registered framework with the tasks it runs.
type Framework struct {
	ID   string
	Name string
	// PID is the scheduler's UPID; empty for HTTP-API frameworks.
	PID      string
	Hostname string
	WebUIURL string
	Role     string
	Active   bool
	Tasks    []Task
}

// TaskState is a Mesos task state name, TASK_RUNNING and the like.
type TaskState string

// The task states a Mesos master reports.
const (
	TaskStaging        TaskState = "TASK_STAGING"
	TaskStarting       TaskState = "TASK_STARTING"
	TaskRunning        TaskState = "TASK_RUNNING"
	TaskKilling        TaskState = "TASK_KILLING"
	TaskFinished       TaskState = "TASK_FINISHED"
	TaskFailed         TaskState = "TASK_FAILED"
	TaskKilled         TaskState = "TASK_KILLED"
	TaskError          TaskState = "TASK_ERROR"
	TaskLost           TaskState = "TASK_LOST"
	TaskDropped        TaskState = "TASK_DROPPED"
	TaskUnreachable    TaskState = "TASK_UNREACHABLE"
	TaskGone           TaskState = "TASK_GONE"
	TaskGoneByOperator TaskState = "TASK_GONE_BY_OPERATOR"
	TaskUnknown        TaskState = "TASK_UNKNOWN"
)

// Terminal reports whether a task in state s will never run again.
func (s TaskState) Terminal() bool {
	switch s {
	case TaskFinished, TaskFailed, TaskKilled, TaskError, TaskLost, TaskDropped,
		TaskGone, TaskGoneByOperator:
		return true
	}
	return false
}

// Task is a task as the master reports it.
type Task struct {
	ID          string
	Name        string
	FrameworkID string
	AgentID     string
	ExecutorID  string
	State       TaskState
	Role        string
	// Ports are the port ranges in the task's resources.
	Ports  []PortRange
	Labels []Label
	// Statuses are in the order the master wrote them, which is not guaranteed
	// to be chronological; use LatestStatus.
	Statuses  []TaskStatus
	Discovery *DiscoveryInfo
	Container *ContainerInfo
	// HasHealthCheck is true when the task was launched with a Mesos health check.
	HasHealthCheck bool
}

// LatestStatus returns the status in state with the highest timestamp, or nil.
// An empty state means any state.
func (t *Task) LatestStatus(state TaskState) *TaskStatus {
	var best *TaskStatus
	for i := range t.Statuses {
		s := &t.Statuses[i]
		if state != "" && s.State != state {
			continue
		}
		if best == nil || s.Timestamp > best.Timestamp {
			best = s
		}
	}
	return best
}

// Label is one key/value label; order and duplicates are kept as sent.
type Label struct {
	Key, Value string
}

// TaskStatus is one status update of a task.
type TaskStatus struct {
	State TaskState
	// Timestamp is float epoch seconds.
	Timestamp float64
	// Healthy is nil when the task has no health check.
	Healthy     *bool
	Labels      []Label
	ContainerID string
	// NetworkInfos come from container_status.network_infos.
	NetworkInfos []NetworkInfo
	Message      string
	Source       string
	Reason       string
}

// NetworkInfo is one network a container is attached to.
type NetworkInfo struct {
	Name         string
	IPAddresses  []IPAddress
	Groups       []string
	Labels       []Label
	PortMappings []PortMapping
}

// IPAddress is an address with its protocol ("IPv4" or "IPv6"; empty means IPv4).
type IPAddress struct {
	IP       string
	Protocol string
}

// PortMapping maps a host port to a container port.
type PortMapping struct {
	HostPort      int
	ContainerPort int
	Protocol      string
}

// DiscoveryInfo is what a framework published about a task for discovery.
type DiscoveryInfo struct {
	Visibility  string
	Name        string
	Environment string
	Location    string
	Version     string
	Ports       []DiscoveryPort
	Labels      []Label
}

// DiscoveryPort is one named port in DiscoveryInfo.
type DiscoveryPort struct {
	Number     int
	Name       string
	Protocol   string
	Visibility string
	Labels     []Label
}

// ContainerInfo is the container a task was launched in.
type ContainerInfo struct {
	// Type is "DOCKER" or "MESOS".
	Type     string
	Hostname string
	Docker   *DockerInfo
	// NetworkInfos are the requested networks.
	NetworkInfos []NetworkInfo
}

// DockerInfo is the Docker part of a ContainerInfo.
type DockerInfo struct {
	Image string
	// Network is "HOST", "BRIDGE", "NONE" or "USER".
	Network      string
	PortMappings []PortMapping
}
