package operator

// The w* types are what the decoder reads of the protobuf-JSON of mesos/v1
// messages: the fields discovery needs, under their wire names, and nothing
// else, so that unknown and unneeded fields cost nothing and cannot fail a
// decode. The encoder (encode.go) writes the same shapes by hand, for speed.

// wID is every wrapped id: TaskID, AgentID, FrameworkID, ExecutorID, ContainerID.
type wID struct {
	Value string `json:"value"`
}

func (id *wID) value() string {
	if id == nil {
		return ""
	}
	return id.Value
}

type wLabel struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// wLabels is v1's Labels message: always an object around the list, unlike v0
// state.json where task and status labels are bare arrays.
type wLabels struct {
	Labels []wLabel `json:"labels"`
}

type wScalar struct {
	Value float64 `json:"value"`
}

type wRange struct {
	Begin int `json:"begin"`
	End   int `json:"end"`
}

type wRanges struct {
	Range []wRange `json:"range"`
}

type wAllocationInfo struct {
	Role string `json:"role"`
}

type wResource struct {
	Name   string   `json:"name"`
	Scalar *wScalar `json:"scalar"`
	Ranges *wRanges `json:"ranges"`
	// Role is the pre-reservation-refinement role ("*" or a reserved role).
	Role           string           `json:"role"`
	AllocationInfo *wAllocationInfo `json:"allocation_info"`
}

type wIPAddress struct {
	Protocol  string `json:"protocol"`
	IPAddress string `json:"ip_address"`
}

type wPortMapping struct {
	HostPort      int    `json:"host_port"`
	ContainerPort int    `json:"container_port"`
	Protocol      string `json:"protocol"`
}

type wNetworkInfo struct {
	IPAddresses  []wIPAddress   `json:"ip_addresses"`
	Name         string         `json:"name"`
	Groups       []string       `json:"groups"`
	Labels       *wLabels       `json:"labels"`
	PortMappings []wPortMapping `json:"port_mappings"`
}

type wContainerStatus struct {
	// ContainerID.parent (nested containers of pods and SDK tasks) is not
	// read: discovery identifies a status by its task, not its container.
	ContainerID  *wID           `json:"container_id"`
	NetworkInfos []wNetworkInfo `json:"network_infos"`
}

type wStatus struct {
	TaskID          *wID              `json:"task_id"`
	State           string            `json:"state"`
	Message         string            `json:"message"`
	Source          string            `json:"source"`
	Reason          string            `json:"reason"`
	AgentID         *wID              `json:"agent_id"`
	ExecutorID      *wID              `json:"executor_id"`
	Timestamp       float64           `json:"timestamp"`
	Healthy         *bool             `json:"healthy"`
	Labels          *wLabels          `json:"labels"`
	ContainerStatus *wContainerStatus `json:"container_status"`
}

type wDiscoveryPort struct {
	Number     int      `json:"number"`
	Name       string   `json:"name"`
	Protocol   string   `json:"protocol"`
	Visibility string   `json:"visibility"`
	Labels     *wLabels `json:"labels"`
}

type wDiscoveryPorts struct {
	Ports []wDiscoveryPort `json:"ports"`
}

type wDiscovery struct {
	Visibility  string           `json:"visibility"`
	Name        string           `json:"name"`
	Environment string           `json:"environment"`
	Location    string           `json:"location"`
	Version     string           `json:"version"`
	Ports       *wDiscoveryPorts `json:"ports"`
	Labels      *wLabels         `json:"labels"`
}

type wDocker struct {
	Image        string         `json:"image"`
	Network      string         `json:"network"`
	PortMappings []wPortMapping `json:"port_mappings"`
}

type wContainer struct {
	Type         string         `json:"type"`
	Hostname     string         `json:"hostname"`
	Docker       *wDocker       `json:"docker"`
	NetworkInfos []wNetworkInfo `json:"network_infos"`
}

type wTask struct {
	Name        string      `json:"name"`
	TaskID      *wID        `json:"task_id"`
	FrameworkID *wID        `json:"framework_id"`
	ExecutorID  *wID        `json:"executor_id"`
	AgentID     *wID        `json:"agent_id"`
	State       string      `json:"state"`
	Resources   []wResource `json:"resources"`
	Statuses    []wStatus   `json:"statuses"`
	Labels      *wLabels    `json:"labels"`
	Discovery   *wDiscovery `json:"discovery"`
	Container   *wContainer `json:"container"`
	// HealthCheck is kept raw: discovery only needs to know it is there.
	HealthCheck rawJSON `json:"health_check"`
}

type wText struct {
	Value string `json:"value"`
}

type wSet struct {
	Item []string `json:"item"`
}

type wAttribute struct {
	Name   string   `json:"name"`
	Scalar *wScalar `json:"scalar"`
	Ranges *wRanges `json:"ranges"`
	Set    *wSet    `json:"set"`
	Text   *wText   `json:"text"`
}

type wAgentInfo struct {
	Hostname   string       `json:"hostname"`
	Port       int          `json:"port"`
	Resources  []wResource  `json:"resources"`
	Attributes []wAttribute `json:"attributes"`
	ID         *wID         `json:"id"`
}

type wAgent struct {
	AgentInfo      *wAgentInfo `json:"agent_info"`
	Active         bool        `json:"active"`
	PID            string      `json:"pid"`
	TotalResources []wResource `json:"total_resources"`
}

type wFrameworkInfo struct {
	Name     string `json:"name"`
	ID       *wID   `json:"id"`
	Role     string `json:"role"`
	Hostname string `json:"hostname"`
	WebUIURL string `json:"webui_url"`
	// Roles replaces Role for MULTI_ROLE frameworks (Mesos ≥1.2).
	Roles []string `json:"roles"`
}

type wFramework struct {
	FrameworkInfo *wFrameworkInfo `json:"framework_info"`
	Active        bool            `json:"active"`
}

type wTaskUpdated struct {
	FrameworkID *wID     `json:"framework_id"`
	Status      *wStatus `json:"status"`
	State       string   `json:"state"`
}

type wAgentRemoved struct {
	AgentID *wID `json:"agent_id"`
}

type wFrameworkRemoved struct {
	FrameworkInfo *wFrameworkInfo `json:"framework_info"`
}
