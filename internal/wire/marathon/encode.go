package marathon

import (
	"bytes"
	"encoding/json"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// The wire structs below fix the field order and presence of what Marathon
// 1.5+ writes. They are only used for encoding: decoding goes member by member
// (see object) so that it can be lenient and precise at once.

type appJSON struct {
	ID              string            `json:"id"`
	Cmd             string            `json:"cmd,omitempty"`
	Instances       int               `json:"instances"`
	Labels          map[string]string `json:"labels"`
	Version         string            `json:"version,omitempty"`
	RequirePorts    bool              `json:"requirePorts"`
	PortDefinitions *[]portDefJSON    `json:"portDefinitions,omitempty"`
	Container       *containerJSON    `json:"container,omitempty"`
	Networks        []networkJSON     `json:"networks,omitempty"`
	IPAddress       *ipAddressJSON    `json:"ipAddress,omitempty"`
	HealthChecks    []healthCheckJSON `json:"healthChecks"`
	*appInfoJSON
	Tasks *[]taskJSON `json:"tasks,omitempty"`
}

// appInfoJSON is what GET /v2/apps always embeds besides the definition;
// an app definition in an api_post_event has none of it.
type appInfoJSON struct {
	TasksStaged    int               `json:"tasksStaged"`
	TasksRunning   int               `json:"tasksRunning"`
	TasksHealthy   int               `json:"tasksHealthy"`
	TasksUnhealthy int               `json:"tasksUnhealthy"`
	Deployments    []json.RawMessage `json:"deployments"`
}

type portDefJSON struct {
	Port     int               `json:"port"`
	Protocol string            `json:"protocol"`
	Name     string            `json:"name,omitempty"`
	Labels   map[string]string `json:"labels"`
}

type containerJSON struct {
	Type         string            `json:"type"`
	Docker       *dockerJSON       `json:"docker,omitempty"`
	PortMappings []portMappingJSON `json:"portMappings,omitempty"`
}

type dockerJSON struct {
	Image        string            `json:"image"`
	Network      string            `json:"network,omitempty"`
	PortMappings []portMappingJSON `json:"portMappings,omitempty"`
}

type portMappingJSON struct {
	ContainerPort int               `json:"containerPort"`
	HostPort      *int              `json:"hostPort,omitempty"`
	ServicePort   int               `json:"servicePort"`
	Protocol      string            `json:"protocol"`
	Name          string            `json:"name,omitempty"`
	Labels        map[string]string `json:"labels"`
	NetworkNames  []string          `json:"networkNames,omitempty"`
}

type networkJSON struct {
	Mode   string            `json:"mode"`
	Name   string            `json:"name,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

type ipAddressJSON struct {
	Groups      []string          `json:"groups"`
	Labels      map[string]string `json:"labels"`
	Discovery   discoveryJSON     `json:"discovery"`
	NetworkName string            `json:"networkName,omitempty"`
}

type discoveryJSON struct {
	Ports []discoveryPortJSON `json:"ports"`
}

type discoveryPortJSON struct {
	Number   int               `json:"number"`
	Name     string            `json:"name"`
	Protocol string            `json:"protocol"`
	Labels   map[string]string `json:"labels"`
}

type commandJSON struct {
	Value string `json:"value"`
}

type healthCheckJSON struct {
	GracePeriodSeconds     int          `json:"gracePeriodSeconds"`
	IgnoreHTTP1xx          bool         `json:"ignoreHttp1xx"`
	IntervalSeconds        int          `json:"intervalSeconds"`
	MaxConsecutiveFailures int          `json:"maxConsecutiveFailures"`
	Path                   string       `json:"path,omitempty"`
	Port                   int          `json:"port,omitempty"`
	PortIndex              *int         `json:"portIndex,omitempty"`
	Protocol               string       `json:"protocol"`
	Command                *commandJSON `json:"command,omitempty"`
	TimeoutSeconds         int          `json:"timeoutSeconds"`
	DelaySeconds           int          `json:"delaySeconds"`
}

type ipJSON struct {
	IPAddress string `json:"ipAddress"`
	Protocol  string `json:"protocol"`
}

type taskJSON struct {
	IPAddresses        []ipJSON           `json:"ipAddresses,omitempty"`
	StagedAt           string             `json:"stagedAt,omitempty"`
	State              string             `json:"state,omitempty"`
	Ports              []int              `json:"ports"`
	StartedAt          string             `json:"startedAt,omitempty"`
	Version            string             `json:"version,omitempty"`
	ID                 string             `json:"id"`
	AppID              string             `json:"appId"`
	SlaveID            string             `json:"slaveId"`
	Host               string             `json:"host"`
	ServicePorts       []int              `json:"servicePorts,omitempty"`
	HealthCheckResults []healthResultJSON `json:"healthCheckResults,omitempty"`
}

type healthResultJSON struct {
	Alive               bool    `json:"alive"`
	ConsecutiveFailures int     `json:"consecutiveFailures"`
	FirstSuccess        *string `json:"firstSuccess"`
	LastFailure         *string `json:"lastFailure"`
	LastSuccess         *string `json:"lastSuccess"`
	LastFailureCause    *string `json:"lastFailureCause"`
	InstanceID          string  `json:"instanceId,omitempty"`
	TaskID              string  `json:"taskId,omitempty"`
}

// EncodeApps writes st in the shape Marathon 1.5+ serves for GET /v2/apps:
// task counts and an empty deployments list are always present, as Marathon
// always embeds them for this endpoint; tasks only when embedTasks, as for
// embed=apps.tasks.
func EncodeApps(st *cluster.MarathonState, embedTasks bool) ([]byte, error) {
	out := struct {
		Apps []appJSON `json:"apps"`
	}{Apps: []appJSON{}}
	if st != nil {
		for _, a := range st.Apps {
			out.Apps = append(out.Apps, appInfoToJSON(a, embedTasks))
		}
	}
	return marshal(out)
}

// EncodeApp writes a in the shape of GET /v2/apps/{id}, which always embeds
// the app's tasks.
func EncodeApp(a cluster.App) ([]byte, error) {
	return marshal(struct {
		App appJSON `json:"app"`
	}{appInfoToJSON(a, true)})
}

// EncodeTasks writes the body of GET /v2/tasks.
func EncodeTasks(tasks []cluster.AppTask) ([]byte, error) {
	out := struct {
		Tasks []taskJSON `json:"tasks"`
	}{Tasks: []taskJSON{}}
	for _, t := range tasks {
		out.Tasks = append(out.Tasks, taskToJSON(t))
	}
	return marshal(out)
}

// marshal encodes like Marathon's JSON library: no HTML escaping of <, > and
// &, which would turn "cmd": "a && b" into "a \u0026\u0026 b".
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// labelsOrEmpty writes a nil label map as {}, as Marathon does.
func labelsOrEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// hostNetworked reports whether a uses host networking in every generation
// of the format, which is when Marathon writes portDefinitions even if empty.
func hostNetworked(a cluster.App) bool {
	if a.IPAddress != nil {
		return false
	}
	if a.Container != nil && a.Container.Docker != nil {
		switch a.Container.Docker.Network {
		case "BRIDGE", "USER", "NONE":
			return false
		}
	}
	for _, n := range a.Networks {
		if n.Mode != "host" {
			return false
		}
	}
	return true
}

// appDefinitionToJSON writes the app definition alone, as POSTed or as in
// an api_post_event.
func appDefinitionToJSON(a cluster.App) appJSON {
	j := appJSON{
		ID:           a.ID,
		Cmd:          a.Cmd,
		Instances:    a.Instances,
		Labels:       labelsOrEmpty(a.Labels),
		Version:      a.Version,
		RequirePorts: a.RequirePorts,
		HealthChecks: []healthCheckJSON{},
	}
	if len(a.PortDefinitions) > 0 || hostNetworked(a) {
		defs := []portDefJSON{}
		for _, d := range a.PortDefinitions {
			defs = append(defs, portDefJSON{Port: d.Port, Protocol: or(d.Protocol, "tcp"), Name: d.Name, Labels: labelsOrEmpty(d.Labels)})
		}
		j.PortDefinitions = &defs
	}
	if c := a.Container; c != nil {
		cj := &containerJSON{Type: or(c.Type, "DOCKER"), PortMappings: portMappingsToJSON(c.PortMappings)}
		if d := c.Docker; d != nil {
			cj.Docker = &dockerJSON{Image: d.Image, Network: d.Network, PortMappings: portMappingsToJSON(d.PortMappings)}
		}
		j.Container = cj
	}
	for _, n := range a.Networks {
		j.Networks = append(j.Networks, networkJSON{Mode: or(n.Mode, "container"), Name: n.Name, Labels: n.Labels})
	}
	if ip := a.IPAddress; ip != nil {
		ij := &ipAddressJSON{
			Groups:      ip.Groups,
			Labels:      labelsOrEmpty(ip.Labels),
			Discovery:   discoveryJSON{Ports: []discoveryPortJSON{}},
			NetworkName: ip.NetworkName,
		}
		if ij.Groups == nil {
			ij.Groups = []string{}
		}
		for _, p := range ip.DiscoveryPorts {
			ij.Discovery.Ports = append(ij.Discovery.Ports, discoveryPortJSON{
				Number: p.Number, Name: p.Name, Protocol: or(p.Protocol, "tcp"), Labels: labelsOrEmpty(p.Labels),
			})
		}
		j.IPAddress = ij
	}
	for _, hc := range a.HealthChecks {
		j.HealthChecks = append(j.HealthChecks, healthCheckToJSON(hc))
	}
	return j
}

// appInfoToJSON is appDefinitionToJSON plus the counts and deployments that
// GET /v2/apps always embeds and, when embedTasks, the tasks.
func appInfoToJSON(a cluster.App, embedTasks bool) appJSON {
	j := appDefinitionToJSON(a)
	info := &appInfoJSON{Deployments: []json.RawMessage{}}
	info.TasksStaged, info.TasksRunning, info.TasksHealthy, info.TasksUnhealthy = taskCounts(a)
	j.appInfoJSON = info
	if embedTasks {
		tasks := []taskJSON{}
		for _, t := range a.Tasks {
			tasks = append(tasks, taskToJSON(t))
		}
		j.Tasks = &tasks
	}
	return j
}

func healthCheckToJSON(hc cluster.HealthCheck) healthCheckJSON {
	j := healthCheckJSON{
		GracePeriodSeconds:     hc.GracePeriodSeconds,
		IgnoreHTTP1xx:          hc.IgnoreHTTP1xx,
		IntervalSeconds:        hc.IntervalSeconds,
		MaxConsecutiveFailures: hc.MaxConsecutiveFailures,
		Path:                   hc.Path,
		Port:                   hc.Port,
		PortIndex:              hc.PortIndex,
		Protocol:               or(hc.Protocol, "HTTP"),
		TimeoutSeconds:         hc.TimeoutSeconds,
		DelaySeconds:           hc.DelaySeconds,
	}
	if hc.Command != "" {
		j.Command = &commandJSON{Value: hc.Command}
	}
	return j
}

// taskCounts derives Marathon's tasksStaged/Running/Healthy/Unhealthy: a task
// is healthy when it has health results and all are alive, unhealthy when
// any is not.
func taskCounts(a cluster.App) (staged, running, healthy, unhealthy int) {
	for _, t := range a.Tasks {
		switch t.State {
		case cluster.TaskStaging, cluster.TaskStarting:
			staged++
		case cluster.TaskRunning:
			running++
		}
		if len(t.HealthCheckResults) == 0 {
			continue
		}
		alive := true
		for _, r := range t.HealthCheckResults {
			alive = alive && r.Alive
		}
		if alive {
			healthy++
		} else {
			unhealthy++
		}
	}
	return staged, running, healthy, unhealthy
}

func portMappingsToJSON(pms []cluster.AppPortMapping) []portMappingJSON {
	var out []portMappingJSON
	for _, pm := range pms {
		out = append(out, portMappingJSON{
			ContainerPort: pm.ContainerPort,
			HostPort:      pm.HostPort,
			ServicePort:   pm.ServicePort,
			Protocol:      or(pm.Protocol, "tcp"),
			Name:          pm.Name,
			Labels:        labelsOrEmpty(pm.Labels),
			NetworkNames:  pm.NetworkNames,
		})
	}
	return out
}

// or writes Marathon's default for a field the model leaves empty, the same
// default the decoder fills in, so both directions agree.
func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func taskToJSON(t cluster.AppTask) taskJSON {
	j := taskJSON{
		StagedAt:     t.StagedAt,
		State:        string(t.State),
		Ports:        t.Ports,
		StartedAt:    t.StartedAt,
		Version:      t.Version,
		ID:           t.ID,
		AppID:        t.AppID,
		SlaveID:      t.SlaveID,
		Host:         t.Host,
		ServicePorts: t.ServicePorts,
	}
	if j.Ports == nil {
		j.Ports = []int{}
	}
	for _, ip := range t.IPAddresses {
		j.IPAddresses = append(j.IPAddresses, ipJSON{IPAddress: ip.IP, Protocol: or(ip.Protocol, "IPv4")})
	}
	for _, r := range t.HealthCheckResults {
		j.HealthCheckResults = append(j.HealthCheckResults, healthResultJSON{
			Alive:               r.Alive,
			ConsecutiveFailures: r.ConsecutiveFailures,
			FirstSuccess:        nullable(r.FirstSuccess),
			LastFailure:         nullable(r.LastFailure),
			LastSuccess:         nullable(r.LastSuccess),
			LastFailureCause:    nullable(r.LastFailureCause),
			InstanceID:          r.InstanceID,
			TaskID:              r.TaskID,
		})
	}
	return j
}
