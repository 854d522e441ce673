package marathon

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// Marathon's defaults for absent health-check fields (types/healthCheck.raml).
const (
	defaultGracePeriodSeconds     = 300
	defaultIntervalSeconds        = 60
	defaultTimeoutSeconds         = 20
	defaultMaxConsecutiveFailures = 3
	defaultDelaySeconds           = 15
)

// DecodeApps decodes the body of GET /v2/apps, with or without
// embed=apps.tasks. A malformed document (invalid JSON, no "apps" array) is
// an error. A malformed app is left out of st and reported in skipped as an
// *ElementError naming its index and id; a malformed task is left out of its
// app and reported the same way. st is never nil when err is nil.
func DecodeApps(data []byte) (st *cluster.MarathonState, skipped []error, err error) {
	top, err := parseTop(data)
	if err != nil {
		return nil, nil, fmt.Errorf("marathon apps: %w", err)
	}
	raw, ok := top.m["apps"]
	if !ok {
		return nil, nil, fmt.Errorf("marathon apps: %w", &FieldError{Field: "apps", Expected: "array", Got: "nothing"})
	}
	elems, err := asArray(raw, "apps")
	if err != nil {
		return nil, nil, fmt.Errorf("marathon apps: %w", err)
	}
	st = &cluster.MarathonState{}
	for i, e := range elems {
		path := index("apps", i)
		app, bad, err := decodeApp(e, path+".tasks", false)
		skipped = append(skipped, bad...)
		if err != nil {
			skipped = append(skipped, &ElementError{Path: path, ID: idOf(e), Err: err})
			continue
		}
		st.Apps = append(st.Apps, app)
	}
	return st, skipped, nil
}

// DecodeApp decodes the body of GET /v2/apps/{id} ({"app":{…}}) or a bare
// app definition as it is POSTed to /v2/apps (or carried by an
// api_post_event). Unlike DecodeApps it has no one else to protect, so a
// malformed embedded task is an error too.
func DecodeApp(data []byte) (cluster.App, error) {
	top, err := parseTop(data)
	if err != nil {
		return cluster.App{}, fmt.Errorf("marathon app: %w", err)
	}
	raw := json.RawMessage(data)
	if wrapped, ok := top.m["app"]; ok && !top.has("id") {
		if _, err := asObject(wrapped, "app"); err != nil {
			return cluster.App{}, fmt.Errorf("marathon app: %w", err)
		}
		raw = wrapped
	}
	app, _, err := decodeApp(raw, "tasks", true)
	if err != nil {
		return cluster.App{}, fmt.Errorf("marathon app: %w", err)
	}
	return app, nil
}

// DecodeTasks decodes the body of GET /v2/tasks ({"tasks":[…]}). Malformed
// tasks are skipped and reported like in DecodeApps.
func DecodeTasks(data []byte) ([]cluster.AppTask, []error, error) {
	top, err := parseTop(data)
	if err != nil {
		return nil, nil, fmt.Errorf("marathon tasks: %w", err)
	}
	raw, ok := top.m["tasks"]
	if !ok {
		return nil, nil, fmt.Errorf("marathon tasks: %w", &FieldError{Field: "tasks", Expected: "array", Got: "nothing"})
	}
	elems, err := asArray(raw, "tasks")
	if err != nil {
		return nil, nil, fmt.Errorf("marathon tasks: %w", err)
	}
	var tasks []cluster.AppTask
	var skipped []error
	for i, e := range elems {
		t, err := decodeTask(e, "")
		if err != nil {
			skipped = append(skipped, &ElementError{Path: index("tasks", i), ID: idOf(e), Err: err})
			continue
		}
		tasks = append(tasks, t)
	}
	return tasks, skipped, nil
}

// parseTop validates the whole document once (so that later element-wise
// decoding only meets shape errors) and returns its top-level object.
func parseTop(data []byte) (object, error) {
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		if err == nil {
			err = errors.New("not valid JSON")
		}
		return object{}, fmt.Errorf("invalid JSON: %w", err)
	}
	return asObject(data, "")
}

// idOf extracts an element's "id" for error messages, best effort.
func idOf(raw json.RawMessage) string {
	o, err := asObject(raw, "")
	if err != nil {
		return ""
	}
	id, _ := o.str("id")
	return id
}

// decodeApp decodes one app object. Tasks that fail are returned as skipped
// element errors (path taskPath[i]) unless strictTasks, when the first makes
// the whole app fail.
func decodeApp(raw json.RawMessage, taskPath string, strictTasks bool) (cluster.App, []error, error) {
	var a cluster.App
	o, err := asObject(raw, "")
	if err != nil {
		return a, nil, err
	}
	if a.ID, err = o.reqStr("id"); err != nil {
		return a, nil, err
	}
	// Marathon resolves a relative id against the root group on POST.
	if !strings.HasPrefix(a.ID, "/") {
		a.ID = "/" + a.ID
	}
	if a.Instances, err = o.intOr("instances", 1); err != nil {
		return a, nil, err
	}
	if a.Cmd, err = o.str("cmd"); err != nil {
		return a, nil, err
	}
	if a.Labels, err = o.labels("labels"); err != nil {
		return a, nil, err
	}
	if a.Version, err = o.str("version"); err != nil {
		return a, nil, err
	}
	if a.RequirePorts, err = o.boolean("requirePorts"); err != nil {
		return a, nil, err
	}
	if a.PortDefinitions, err = decodePortDefinitions(o); err != nil {
		return a, nil, err
	}
	if a.Container, err = decodeContainer(o); err != nil {
		return a, nil, err
	}
	if a.Networks, err = decodeNetworks(o); err != nil {
		return a, nil, err
	}
	if a.IPAddress, err = decodeIPAddress(o); err != nil {
		return a, nil, err
	}
	if a.HealthChecks, err = decodeHealthChecks(o); err != nil {
		return a, nil, err
	}
	elems, _, err := o.array("tasks")
	if err != nil {
		return a, nil, err
	}
	var skipped []error
	for i, e := range elems {
		t, err := decodeTask(e, a.ID)
		if err != nil {
			ee := &ElementError{Path: index(taskPath, i), ID: idOf(e), Err: err}
			if strictTasks {
				return a, nil, ee
			}
			skipped = append(skipped, ee)
			continue
		}
		a.Tasks = append(a.Tasks, t)
	}
	return a, skipped, nil
}

// decodePortDefinitions reads portDefinitions, or the deprecated "ports" list
// of service ports when portDefinitions is absent, which is how Marathon
// itself reads a definition. A present but empty portDefinitions wins over
// "ports": Marathon ≤1.4 writes "portDefinitions":[] together with the
// service ports of a bridged app's port mappings in "ports", and those are
// not host port definitions.
func decodePortDefinitions(o object) ([]cluster.PortDefinition, error) {
	elems, present, err := o.array("portDefinitions")
	if err != nil {
		return nil, err
	}
	if !present {
		ports, err := o.ints("ports")
		if err != nil {
			return nil, err
		}
		var defs []cluster.PortDefinition
		for _, p := range ports {
			defs = append(defs, cluster.PortDefinition{Port: p, Protocol: "tcp"})
		}
		return defs, nil
	}
	var defs []cluster.PortDefinition
	for i, e := range elems {
		p, err := asObject(e, index("portDefinitions", i))
		if err != nil {
			return nil, err
		}
		var d cluster.PortDefinition
		if d.Port, err = p.intOr("port", 0); err != nil {
			return nil, err
		}
		if d.Protocol, err = strOr(p, "protocol", "tcp"); err != nil {
			return nil, err
		}
		if d.Name, err = p.str("name"); err != nil {
			return nil, err
		}
		if d.Labels, err = p.labels("labels"); err != nil {
			return nil, err
		}
		defs = append(defs, d)
	}
	return defs, nil
}

// strOr reads a string member and substitutes def when it is absent or empty.
func strOr(o object, key, def string) (string, error) {
	s, err := o.str(key)
	if err == nil && s == "" {
		s = def
	}
	return s, err
}

func decodeContainer(o object) (*cluster.AppContainer, error) {
	c, ok, err := o.child("container")
	if err != nil || !ok {
		return nil, err
	}
	var ac cluster.AppContainer
	if ac.Type, err = strOr(c, "type", "DOCKER"); err != nil {
		return nil, err
	}
	if ac.PortMappings, err = decodePortMappings(c); err != nil {
		return nil, err
	}
	d, ok, err := c.child("docker")
	if err != nil {
		return nil, err
	}
	if ok {
		ad := &cluster.AppDocker{}
		if ad.Image, err = d.str("image"); err != nil {
			return nil, err
		}
		if ad.Network, err = d.str("network"); err != nil {
			return nil, err
		}
		if ad.PortMappings, err = decodePortMappings(d); err != nil {
			return nil, err
		}
		ac.Docker = ad
	}
	return &ac, nil
}

func decodePortMappings(o object) ([]cluster.AppPortMapping, error) {
	elems, _, err := o.array("portMappings")
	if err != nil {
		return nil, err
	}
	var pms []cluster.AppPortMapping
	for i, e := range elems {
		p, err := asObject(e, index(join(o.path, "portMappings"), i))
		if err != nil {
			return nil, err
		}
		var pm cluster.AppPortMapping
		if pm.ContainerPort, err = p.intOr("containerPort", 0); err != nil {
			return nil, err
		}
		// Absent means "no host port" in container mode; 0 means dynamic.
		if pm.HostPort, err = p.intPtr("hostPort"); err != nil {
			return nil, err
		}
		if pm.ServicePort, err = p.intOr("servicePort", 0); err != nil {
			return nil, err
		}
		if pm.Protocol, err = strOr(p, "protocol", "tcp"); err != nil {
			return nil, err
		}
		if pm.Name, err = p.str("name"); err != nil {
			return nil, err
		}
		if pm.Labels, err = p.labels("labels"); err != nil {
			return nil, err
		}
		if pm.NetworkNames, err = p.strs("networkNames"); err != nil {
			return nil, err
		}
		pms = append(pms, pm)
	}
	return pms, nil
}

func decodeNetworks(o object) ([]cluster.Network, error) {
	elems, _, err := o.array("networks")
	if err != nil {
		return nil, err
	}
	var nets []cluster.Network
	for i, e := range elems {
		n, err := asObject(e, index("networks", i))
		if err != nil {
			return nil, err
		}
		var nw cluster.Network
		if nw.Mode, err = strOr(n, "mode", "container"); err != nil {
			return nil, err
		}
		if nw.Name, err = n.str("name"); err != nil {
			return nil, err
		}
		if nw.Labels, err = n.labels("labels"); err != nil {
			return nil, err
		}
		nets = append(nets, nw)
	}
	return nets, nil
}

func decodeIPAddress(o object) (*cluster.AppIPAddress, error) {
	ip, ok, err := o.child("ipAddress")
	if err != nil || !ok {
		return nil, err
	}
	var a cluster.AppIPAddress
	if a.NetworkName, err = ip.str("networkName"); err != nil {
		return nil, err
	}
	if a.Groups, err = ip.strs("groups"); err != nil {
		return nil, err
	}
	if a.Labels, err = ip.labels("labels"); err != nil {
		return nil, err
	}
	disc, ok, err := ip.child("discovery")
	if err != nil || !ok {
		return &a, err
	}
	elems, _, err := disc.array("ports")
	if err != nil {
		return nil, err
	}
	for i, e := range elems {
		p, err := asObject(e, index(join(disc.path, "ports"), i))
		if err != nil {
			return nil, err
		}
		var dp cluster.AppDiscoveryPort
		if dp.Number, err = p.intOr("number", 0); err != nil {
			return nil, err
		}
		if dp.Name, err = p.str("name"); err != nil {
			return nil, err
		}
		if dp.Protocol, err = strOr(p, "protocol", "tcp"); err != nil {
			return nil, err
		}
		if dp.Labels, err = p.labels("labels"); err != nil {
			return nil, err
		}
		a.DiscoveryPorts = append(a.DiscoveryPorts, dp)
	}
	return &a, nil
}

func decodeHealthChecks(o object) ([]cluster.HealthCheck, error) {
	elems, _, err := o.array("healthChecks")
	if err != nil {
		return nil, err
	}
	var hcs []cluster.HealthCheck
	for i, e := range elems {
		hc, err := decodeHealthCheck(e, index("healthChecks", i))
		if err != nil {
			return nil, err
		}
		hcs = append(hcs, hc)
	}
	return hcs, nil
}

func decodeHealthCheck(raw json.RawMessage, path string) (cluster.HealthCheck, error) {
	var hc cluster.HealthCheck
	h, err := asObject(raw, path)
	if err != nil {
		return hc, err
	}
	if hc.Protocol, err = strOr(h, "protocol", "HTTP"); err != nil {
		return hc, err
	}
	if hc.Path, err = h.str("path"); err != nil {
		return hc, err
	}
	if hc.PortIndex, err = h.intPtr("portIndex"); err != nil {
		return hc, err
	}
	if hc.Port, err = h.intOr("port", 0); err != nil {
		return hc, err
	}
	// The API writes {"value": "..."}; accept a bare string as well.
	if c, ok := h.get("command"); ok {
		if kind(c) == "string" {
			hc.Command, err = asString(c, join(path, "command"))
		} else {
			var co object
			if co, err = asObject(c, join(path, "command")); err == nil {
				hc.Command, err = co.str("value")
			}
		}
		if err != nil {
			return hc, err
		}
	}
	for _, f := range []struct {
		key string
		dst *int
		def int
	}{
		{"gracePeriodSeconds", &hc.GracePeriodSeconds, defaultGracePeriodSeconds},
		{"intervalSeconds", &hc.IntervalSeconds, defaultIntervalSeconds},
		{"timeoutSeconds", &hc.TimeoutSeconds, defaultTimeoutSeconds},
		{"maxConsecutiveFailures", &hc.MaxConsecutiveFailures, defaultMaxConsecutiveFailures},
		{"delaySeconds", &hc.DelaySeconds, defaultDelaySeconds},
	} {
		if *f.dst, err = h.intOr(f.key, f.def); err != nil {
			return hc, err
		}
	}
	if hc.IgnoreHTTP1xx, err = h.boolean("ignoreHttp1xx"); err != nil {
		return hc, err
	}
	return hc, nil
}

// decodeTask decodes one task; appID fills in a missing appId of a task
// embedded in an app.
func decodeTask(raw json.RawMessage, appID string) (cluster.AppTask, error) {
	var t cluster.AppTask
	o, err := asObject(raw, "")
	if err != nil {
		return t, err
	}
	if t.ID, err = o.reqStr("id"); err != nil {
		return t, err
	}
	if t.AppID, err = strOr(o, "appId", appID); err != nil {
		return t, err
	}
	if t.Host, err = o.str("host"); err != nil {
		return t, err
	}
	if t.SlaveID, err = o.str("slaveId"); err != nil {
		return t, err
	}
	state, err := o.str("state")
	if err != nil {
		return t, err
	}
	t.State = cluster.TaskState(state)
	if t.Ports, err = o.ints("ports"); err != nil {
		return t, err
	}
	if t.ServicePorts, err = o.ints("servicePorts"); err != nil {
		return t, err
	}
	if t.IPAddresses, err = decodeIPAddresses(o); err != nil {
		return t, err
	}
	if t.StagedAt, err = o.str("stagedAt"); err != nil {
		return t, err
	}
	if t.StartedAt, err = o.str("startedAt"); err != nil {
		return t, err
	}
	if t.Version, err = o.str("version"); err != nil {
		return t, err
	}
	elems, _, err := o.array("healthCheckResults")
	if err != nil {
		return t, err
	}
	for i, e := range elems {
		h, err := asObject(e, index("healthCheckResults", i))
		if err != nil {
			return t, err
		}
		var r cluster.HealthCheckResult
		if r.Alive, err = h.boolean("alive"); err != nil {
			return t, err
		}
		if r.ConsecutiveFailures, err = h.intOr("consecutiveFailures", 0); err != nil {
			return t, err
		}
		for _, f := range []struct {
			key string
			dst *string
		}{
			{"firstSuccess", &r.FirstSuccess},
			{"lastSuccess", &r.LastSuccess},
			{"lastFailure", &r.LastFailure},
			{"lastFailureCause", &r.LastFailureCause},
			{"instanceId", &r.InstanceID},
			{"taskId", &r.TaskID},
		} {
			if *f.dst, err = h.str(f.key); err != nil {
				return t, err
			}
		}
		t.HealthCheckResults = append(t.HealthCheckResults, r)
	}
	return t, nil
}

// decodeIPAddresses reads [{ipAddress, protocol}], as tasks and
// status_update_event carry them.
func decodeIPAddresses(o object) ([]cluster.IPAddress, error) {
	elems, _, err := o.array("ipAddresses")
	if err != nil {
		return nil, err
	}
	var ips []cluster.IPAddress
	for i, e := range elems {
		a, err := asObject(e, index(join(o.path, "ipAddresses"), i))
		if err != nil {
			return nil, err
		}
		var ip cluster.IPAddress
		if ip.IP, err = a.str("ipAddress"); err != nil {
			return nil, err
		}
		if ip.Protocol, err = strOr(a, "protocol", "IPv4"); err != nil {
			return nil, err
		}
		ips = append(ips, ip)
	}
	return ips, nil
}
