package cluster

// MarathonState is a snapshot of Marathon's apps with their tasks, as
// /v2/apps?embed=apps.tasks returns them.
type MarathonState struct {
	Apps []App
}

// App is a Marathon app definition with its running tasks.
type App struct {
	// ID is the absolute app id, "/group/app".
	ID        string
	Instances int
	Cmd       string
	// Labels is an object map in Marathon (unlike Mesos' label lists).
	Labels  map[string]string
	Version string
	// RequirePorts makes host ports equal to the declared ports.
	RequirePorts bool
	// PortDefinitions are the host/bridge ports (Marathon ≤1.4 "ports" too).
	PortDefinitions []PortDefinition
	Container       *AppContainer
	// Networks are Marathon ≥1.5 networks; empty means host networking.
	Networks []Network
	// IPAddress is the deprecated 1.0–1.4 IP-per-task definition.
	IPAddress    *AppIPAddress
	HealthChecks []HealthCheck
	Tasks        []AppTask
}

// PortDefinition is one port of a host- or bridge-networked app.
type PortDefinition struct {
	Port     int
	Protocol string
	Name     string
	Labels   map[string]string
}

// AppContainer is an app's container definition.
type AppContainer struct {
	// Type is "DOCKER" or "MESOS".
	Type   string
	Docker *AppDocker
	// PortMappings are Marathon ≥1.5 container.portMappings.
	PortMappings []AppPortMapping
}

// AppDocker is the docker part of a container definition.
type AppDocker struct {
	Image string
	// Network is pre-1.5 "HOST", "BRIDGE", "USER" or "NONE"; empty from 1.5 on.
	Network string
	// PortMappings are pre-1.5 container.docker.portMappings.
	PortMappings []AppPortMapping
}

// AppPortMapping maps a container port to a host port and a service port.
type AppPortMapping struct {
	ContainerPort int
	// HostPort nil means no host port (container mode); 0 means dynamic.
	HostPort     *int
	ServicePort  int
	Protocol     string
	Name         string
	Labels       map[string]string
	NetworkNames []string
}

// Network is one of an app's ≥1.5 networks.
type Network struct {
	// Mode is "host", "container/bridge" or "container".
	Mode   string
	Name   string
	Labels map[string]string
}

// AppIPAddress is the deprecated IP-per-task definition.
type AppIPAddress struct {
	NetworkName string
	Groups      []string
	Labels      map[string]string
	// DiscoveryPorts are ipAddress.discovery.ports.
	DiscoveryPorts []AppDiscoveryPort
}

// AppDiscoveryPort is one port of ipAddress.discovery.
type AppDiscoveryPort struct {
	Number   int
	Name     string
	Protocol string
	Labels   map[string]string
}

// HealthCheck is one of an app's health checks.
type HealthCheck struct {
	// Protocol is HTTP, HTTPS, TCP, COMMAND, MESOS_TCP, MESOS_HTTP or MESOS_HTTPS.
	Protocol string
	Path     string
	// PortIndex nil means unset (Port or index 0 applies).
	PortIndex              *int
	Port                   int
	Command                string
	GracePeriodSeconds     int
	IntervalSeconds        int
	TimeoutSeconds         int
	MaxConsecutiveFailures int
	DelaySeconds           int
	IgnoreHTTP1xx          bool
}

// AppTask is a task of an app as Marathon reports it.
type AppTask struct {
	ID      string
	AppID   string
	Host    string
	SlaveID string
	State   TaskState
	// Ports are host ports, one per port definition or mapping.
	Ports []int
	// ServicePorts appear in /v2/tasks.
	ServicePorts []int
	IPAddresses  []IPAddress
	StagedAt     string
	StartedAt    string
	Version      string
	// HealthCheckResults is absent until Marathon-side checks have run.
	HealthCheckResults []HealthCheckResult
}

// HealthCheckResult is the last result of one health check of a task.
type HealthCheckResult struct {
	Alive               bool
	ConsecutiveFailures int
	FirstSuccess        string
	LastSuccess         string
	LastFailure         string
	LastFailureCause    string
	InstanceID          string
	TaskID              string
}
