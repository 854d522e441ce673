package marathon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// Event types of Marathon's event bus that Event decodes into typed fields.
const (
	EventStatusUpdate          = "status_update_event"
	EventHealthStatusChanged   = "health_status_changed_event"
	EventInstanceChanged       = "instance_changed_event"
	EventInstanceHealthChanged = "instance_health_changed_event"
	EventAPIPost               = "api_post_event"
	EventAppTerminated         = "app_terminated_event"
	EventDeploymentInfo        = "deployment_info"
	EventDeploymentSuccess     = "deployment_success"
	EventDeploymentFailed      = "deployment_failed"
	EventDeploymentStepSuccess = "deployment_step_success"
	EventDeploymentStepFailure = "deployment_step_failure"
	EventFailedHealthCheck     = "failed_health_check_event"
	// EventUnhealthyInstanceKill is the ≥1.4 name; EventUnhealthyTaskKill the
	// older one. Both decode into Event.UnhealthyInstanceKill.
	EventUnhealthyInstanceKill = "unhealthy_instance_kill_event"
	EventUnhealthyTaskKill     = "unhealthy_task_kill_event"
	EventStreamAttached        = "event_stream_attached"
)

// Event is one payload of GET /v2/events. Exactly one typed field is set for
// the event types a discovery consumer acts on; any other type keeps its
// payload in Raw, so a consumer can log it and a simulator can replay it.
type Event struct {
	// Type is Marathon's eventType ("status_update_event").
	Type string

	StatusUpdate          *StatusUpdate
	HealthStatusChanged   *HealthStatusChanged
	InstanceChanged       *InstanceChanged
	InstanceHealthChanged *InstanceHealthChanged
	APIPost               *APIPost
	AppTerminated         *AppTerminated
	// Deployment is set for deployment_info, deployment_success,
	// deployment_failed, deployment_step_success and deployment_step_failure;
	// Type tells them apart.
	Deployment            *Deployment
	FailedHealthCheck     *FailedHealthCheck
	UnhealthyInstanceKill *UnhealthyInstanceKill
	StreamAttached        *StreamAttached

	// Raw is the compacted JSON payload of an event of any other type.
	Raw json.RawMessage
}

// StatusUpdate is a status_update_event: a Mesos status update of one task.
type StatusUpdate struct {
	SlaveID    string
	TaskID     string
	TaskStatus cluster.TaskState
	Message    string
	AppID      string
	Host       string
	// IPAddresses is absent from Marathon before 1.x (nil here).
	IPAddresses []cluster.IPAddress
	Ports       []int
	Version     string
	Timestamp   string
}

// HealthStatusChanged is a health_status_changed_event. Marathon ≥1.4 names
// the instance (InstanceID); older versions named the task (TaskID).
type HealthStatusChanged struct {
	AppID      string
	InstanceID string
	TaskID     string
	Version    string
	Alive      bool
	Timestamp  string
}

// InstanceChanged is an instance_changed_event (Marathon ≥1.4).
type InstanceChanged struct {
	InstanceID string
	// Condition is Running, Staging, Killed, Unreachable, … (not TASK_*).
	Condition      string
	RunSpecID      string
	AgentID        string
	Host           string
	RunSpecVersion string
	Timestamp      string
}

// InstanceHealthChanged is an instance_health_changed_event (Marathon ≥1.4).
type InstanceHealthChanged struct {
	InstanceID string
	RunSpecID  string
	// Healthy is nil when Marathon does not know (JSON null).
	Healthy        *bool
	RunSpecVersion string
	Timestamp      string
}

// APIPost is an api_post_event: an app was created or changed through the
// API. App is the new definition; it never has tasks.
type APIPost struct {
	ClientIP  string
	URI       string
	App       cluster.App
	Timestamp string
}

// AppTerminated is an app_terminated_event.
type AppTerminated struct {
	AppID     string
	Timestamp string
}

// Deployment is one of the deployment events. deployment_success and
// deployment_failed carry ID, Plan and (failed, ≥1.8) Reason;
// deployment_info and the step events carry Plan and CurrentStep. One value
// may be reused for all of a deployment's events: EncodeEvent writes only the
// fields that the event type has, and DecodeEvent fills only those.
type Deployment struct {
	ID          string
	Plan        DeploymentPlan
	CurrentStep []DeploymentAction
	// Reason is why a deployment failed (deployment_failed, Marathon ≥1.8).
	Reason    string
	Timestamp string
}

// DeploymentPlan is the "light" deployment plan: its steps, each a list of
// actions. The heavy format's original/target groups are ignored.
type DeploymentPlan struct {
	ID      string
	Version string
	Steps   [][]DeploymentAction
}

// DeploymentAction is one action of a deployment step.
type DeploymentAction struct {
	// Action is StartApplication, ScaleApplication, RestartApplication,
	// StopApplication, ResolveArtifacts, …
	Action string
	// App or Pod is the id of the run spec acted on.
	App string
	Pod string
}

// AffectedApps returns the ids of the apps the deployment touches, in order
// of first appearance in the plan's steps and then the current step. A
// consumer that caches per app can invalidate just these.
func (d *Deployment) AffectedApps() []string {
	var ids []string
	seen := map[string]bool{}
	add := func(actions []DeploymentAction) {
		for _, a := range actions {
			if a.App != "" && !seen[a.App] {
				seen[a.App] = true
				ids = append(ids, a.App)
			}
		}
	}
	for _, s := range d.Plan.Steps {
		add(s)
	}
	add(d.CurrentStep)
	return ids
}

// FailedHealthCheck is a failed_health_check_event. TaskID holds the
// instance id in Marathon ≥1.4 (the JSON field kept its old name).
type FailedHealthCheck struct {
	AppID       string
	TaskID      string
	HealthCheck *cluster.HealthCheck
	Timestamp   string
}

// UnhealthyInstanceKill is an unhealthy_instance_kill_event, or the older
// unhealthy_task_kill_event (which has no InstanceID).
type UnhealthyInstanceKill struct {
	AppID      string
	TaskID     string
	InstanceID string
	Version    string
	Reason     string
	Host       string
	SlaveID    string
	Timestamp  string
}

// StreamAttached is event_stream_attached, the first event on every new
// /v2/events connection.
type StreamAttached struct {
	RemoteAddress string
	Timestamp     string
}

// DecodeEvent decodes the data of one SSE event. eventType is the SSE
// "event:" line; when it is empty the payload's own "eventType" field is
// used, which is all an HTTP-callback subscriber or a log line has. Fields a
// consumer cannot act without (a status update's taskId and taskStatus, an
// app id, an instance id, an api_post_event's appDefinition) must be present.
func DecodeEvent(eventType string, data []byte) (Event, error) {
	o, err := parseTop(data)
	if err != nil {
		return Event{}, eventErr(eventType, err)
	}
	jsonType, err := o.str("eventType")
	if err != nil {
		return Event{}, eventErr(eventType, err)
	}
	typ := eventType
	if typ == "" {
		typ = jsonType
	}
	if typ == "" {
		return Event{}, errors.New("marathon event: no event type in the SSE event nor in the payload")
	}
	e := Event{Type: typ}
	switch typ {
	case EventStatusUpdate:
		e.StatusUpdate, err = decodeStatusUpdate(o)
	case EventHealthStatusChanged:
		e.HealthStatusChanged, err = decodeHealthStatusChanged(o)
	case EventInstanceChanged:
		e.InstanceChanged, err = decodeInstanceChanged(o)
	case EventInstanceHealthChanged:
		e.InstanceHealthChanged, err = decodeInstanceHealthChanged(o)
	case EventAPIPost:
		e.APIPost, err = decodeAPIPost(o)
	case EventAppTerminated:
		e.AppTerminated = &AppTerminated{}
		err = readStrings(o, req("appId", &e.AppTerminated.AppID), opt("timestamp", &e.AppTerminated.Timestamp))
	case EventDeploymentInfo, EventDeploymentSuccess, EventDeploymentFailed,
		EventDeploymentStepSuccess, EventDeploymentStepFailure:
		e.Deployment, err = decodeDeployment(o, typ == EventDeploymentSuccess || typ == EventDeploymentFailed,
			typ == EventDeploymentFailed)
	case EventFailedHealthCheck:
		e.FailedHealthCheck, err = decodeFailedHealthCheck(o)
	case EventUnhealthyInstanceKill, EventUnhealthyTaskKill:
		k := &UnhealthyInstanceKill{}
		err = readStrings(o, req("appId", &k.AppID), opt("taskId", &k.TaskID), opt("instanceId", &k.InstanceID),
			opt("version", &k.Version), opt("reason", &k.Reason), opt("host", &k.Host),
			opt("slaveId", &k.SlaveID), opt("timestamp", &k.Timestamp))
		e.UnhealthyInstanceKill = k
	case EventStreamAttached:
		s := &StreamAttached{}
		err = readStrings(o, opt("remoteAddress", &s.RemoteAddress), opt("timestamp", &s.Timestamp))
		e.StreamAttached = s
	default:
		var buf bytes.Buffer
		if err := json.Compact(&buf, data); err != nil {
			return Event{}, eventErr(typ, err)
		}
		e.Raw = buf.Bytes()
	}
	if err != nil {
		return Event{}, eventErr(typ, err)
	}
	return e, nil
}

func eventErr(typ string, err error) error {
	if typ == "" {
		return fmt.Errorf("marathon event: %w", err)
	}
	return fmt.Errorf("marathon event %s: %w", typ, err)
}

// stringField is one string member to read: required ones must be non-empty.
type stringField struct {
	key      string
	dst      *string
	required bool
}

func req(key string, dst *string) stringField { return stringField{key, dst, true} }
func opt(key string, dst *string) stringField { return stringField{key, dst, false} }

func readStrings(o object, fields ...stringField) error {
	for _, f := range fields {
		var err error
		if f.required {
			*f.dst, err = o.reqStr(f.key)
		} else {
			*f.dst, err = o.str(f.key)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func decodeStatusUpdate(o object) (*StatusUpdate, error) {
	s := &StatusUpdate{}
	var status string
	err := readStrings(o, opt("slaveId", &s.SlaveID), req("taskId", &s.TaskID), req("taskStatus", &status),
		opt("message", &s.Message), opt("appId", &s.AppID), opt("host", &s.Host),
		opt("version", &s.Version), opt("timestamp", &s.Timestamp))
	if err != nil {
		return nil, err
	}
	s.TaskStatus = cluster.TaskState(status)
	if s.IPAddresses, err = decodeIPAddresses(o); err != nil {
		return nil, err
	}
	if s.Ports, err = o.ints("ports"); err != nil {
		return nil, err
	}
	return s, nil
}

func decodeHealthStatusChanged(o object) (*HealthStatusChanged, error) {
	h := &HealthStatusChanged{}
	err := readStrings(o, req("appId", &h.AppID), opt("instanceId", &h.InstanceID), opt("taskId", &h.TaskID),
		opt("version", &h.Version), opt("timestamp", &h.Timestamp))
	if err != nil {
		return nil, err
	}
	if h.InstanceID == "" && h.TaskID == "" {
		return nil, &FieldError{Field: "instanceId", Expected: "non-empty string (or taskId)", Got: "nothing"}
	}
	if h.Alive, err = o.boolean("alive"); err != nil {
		return nil, err
	}
	return h, nil
}

func decodeInstanceChanged(o object) (*InstanceChanged, error) {
	c := &InstanceChanged{}
	err := readStrings(o, req("instanceId", &c.InstanceID), opt("condition", &c.Condition),
		opt("runSpecId", &c.RunSpecID), opt("agentId", &c.AgentID), opt("host", &c.Host),
		opt("runSpecVersion", &c.RunSpecVersion), opt("timestamp", &c.Timestamp))
	if err != nil {
		return nil, err
	}
	return c, nil
}

func decodeInstanceHealthChanged(o object) (*InstanceHealthChanged, error) {
	c := &InstanceHealthChanged{}
	err := readStrings(o, req("instanceId", &c.InstanceID), opt("runSpecId", &c.RunSpecID),
		opt("runSpecVersion", &c.RunSpecVersion), opt("timestamp", &c.Timestamp))
	if err != nil {
		return nil, err
	}
	if c.Healthy, err = o.boolPtr("healthy"); err != nil {
		return nil, err
	}
	return c, nil
}

func decodeAPIPost(o object) (*APIPost, error) {
	p := &APIPost{}
	err := readStrings(o, opt("clientIp", &p.ClientIP), opt("uri", &p.URI), opt("timestamp", &p.Timestamp))
	if err != nil {
		return nil, err
	}
	raw, ok := o.get("appDefinition")
	if !ok {
		return nil, &FieldError{Field: "appDefinition", Expected: "object", Got: "nothing"}
	}
	app, _, err := decodeApp(raw, "appDefinition.tasks", true)
	if err != nil {
		return nil, fmt.Errorf("appDefinition: %w", err)
	}
	// A definition has no tasks; drop any so that the event means one thing.
	app.Tasks = nil
	p.App = app
	return p, nil
}

func decodeFailedHealthCheck(o object) (*FailedHealthCheck, error) {
	f := &FailedHealthCheck{}
	err := readStrings(o, req("appId", &f.AppID), opt("taskId", &f.TaskID), opt("timestamp", &f.Timestamp))
	if err != nil {
		return nil, err
	}
	if raw, ok := o.get("healthCheck"); ok {
		hc, err := decodeHealthCheck(raw, "healthCheck")
		if err != nil {
			return nil, err
		}
		f.HealthCheck = &hc
	}
	return f, nil
}

// decodeDeployment reads a deployment event. Only the result events
// (success, failed) have an id, only deployment_failed a reason, and only the
// others a currentStep.
func decodeDeployment(o object, result, failed bool) (*Deployment, error) {
	d := &Deployment{}
	err := readStrings(o, opt("timestamp", &d.Timestamp))
	if err == nil && result {
		err = readStrings(o, opt("id", &d.ID))
	}
	if err == nil && failed {
		err = readStrings(o, opt("reason", &d.Reason))
	}
	if err != nil {
		return nil, err
	}
	plan, ok, err := o.child("plan")
	if err != nil {
		return nil, err
	}
	if ok {
		if err := readStrings(plan, opt("id", &d.Plan.ID), opt("version", &d.Plan.Version)); err != nil {
			return nil, err
		}
		steps, _, err := plan.array("steps")
		if err != nil {
			return nil, err
		}
		for i, s := range steps {
			actions, err := decodeStep(s, index("plan.steps", i))
			if err != nil {
				return nil, err
			}
			d.Plan.Steps = append(d.Plan.Steps, actions)
		}
	}
	if raw, ok := o.get("currentStep"); ok && !result {
		if d.CurrentStep, err = decodeStep(raw, "currentStep"); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// decodeStep reads a deployment step in any of the shapes that have been
// published: {"actions":[…]} as Marathon writes it, a bare action object as
// in the event-bus documentation's examples, or a bare array of actions as
// in pre-1.0 /v2/deployments. An empty step gives nil.
func decodeStep(raw json.RawMessage, path string) ([]DeploymentAction, error) {
	var elems []json.RawMessage
	switch kind(raw) {
	case "array":
		var err error
		if elems, err = asArray(raw, path); err != nil {
			return nil, err
		}
	case "object":
		s, err := asObject(raw, path)
		if err != nil {
			return nil, err
		}
		if !s.has("actions") {
			a, err := decodeAction(s)
			if err != nil {
				return nil, err
			}
			return []DeploymentAction{a}, nil
		}
		if elems, _, err = s.array("actions"); err != nil {
			return nil, err
		}
		path = join(path, "actions")
	default:
		return nil, &FieldError{Field: path, Expected: "object", Got: kind(raw)}
	}
	var actions []DeploymentAction
	for i, e := range elems {
		a, err := asObject(e, index(path, i))
		if err != nil {
			return nil, err
		}
		act, err := decodeAction(a)
		if err != nil {
			return nil, err
		}
		actions = append(actions, act)
	}
	return actions, nil
}

// decodeAction reads {action, app, pod}; the documentation's examples name
// the action "type", so that is accepted too.
func decodeAction(a object) (DeploymentAction, error) {
	var act DeploymentAction
	err := readStrings(a, opt("action", &act.Action), opt("app", &act.App), opt("pod", &act.Pod))
	if err == nil && act.Action == "" {
		act.Action, err = a.str("type")
	}
	return act, err
}

// Wire structs for EncodeEvent, in the field order Marathon writes.

type statusUpdateJSON struct {
	SlaveID     string   `json:"slaveId"`
	TaskID      string   `json:"taskId"`
	TaskStatus  string   `json:"taskStatus"`
	Message     string   `json:"message"`
	AppID       string   `json:"appId"`
	Host        string   `json:"host"`
	IPAddresses []ipJSON `json:"ipAddresses"`
	Ports       []int    `json:"ports"`
	Version     string   `json:"version"`
	EventType   string   `json:"eventType"`
	Timestamp   string   `json:"timestamp"`
}

type healthStatusChangedJSON struct {
	AppID      string  `json:"appId"`
	InstanceID *string `json:"instanceId,omitempty"`
	TaskID     string  `json:"taskId,omitempty"`
	Version    string  `json:"version"`
	Alive      bool    `json:"alive"`
	EventType  string  `json:"eventType"`
	Timestamp  string  `json:"timestamp"`
}

type instanceChangedJSON struct {
	InstanceID     string `json:"instanceId"`
	Condition      string `json:"condition"`
	RunSpecID      string `json:"runSpecId"`
	AgentID        string `json:"agentId"`
	Host           string `json:"host"`
	RunSpecVersion string `json:"runSpecVersion"`
	Timestamp      string `json:"timestamp"`
	EventType      string `json:"eventType"`
}

type instanceHealthChangedJSON struct {
	InstanceID     string `json:"instanceId"`
	RunSpecID      string `json:"runSpecId"`
	Healthy        *bool  `json:"healthy"`
	RunSpecVersion string `json:"runSpecVersion"`
	Timestamp      string `json:"timestamp"`
	EventType      string `json:"eventType"`
}

type apiPostJSON struct {
	ClientIP      string  `json:"clientIp"`
	URI           string  `json:"uri"`
	AppDefinition appJSON `json:"appDefinition"`
	EventType     string  `json:"eventType"`
	Timestamp     string  `json:"timestamp"`
}

type appTerminatedJSON struct {
	AppID     string `json:"appId"`
	EventType string `json:"eventType"`
	Timestamp string `json:"timestamp"`
}

type actionJSON struct {
	Action string `json:"action"`
	App    string `json:"app,omitempty"`
	Pod    string `json:"pod,omitempty"`
}

type stepJSON struct {
	Actions []actionJSON `json:"actions"`
}

type planJSON struct {
	ID      string     `json:"id"`
	Steps   []stepJSON `json:"steps"`
	Version string     `json:"version"`
}

type deploymentResultJSON struct {
	ID        string    `json:"id"`
	Plan      *planJSON `json:"plan,omitempty"`
	EventType string    `json:"eventType"`
	Timestamp string    `json:"timestamp"`
	Reason    string    `json:"reason,omitempty"`
}

type deploymentStepJSON struct {
	Plan        planJSON `json:"plan"`
	CurrentStep stepJSON `json:"currentStep"`
	EventType   string   `json:"eventType"`
	Timestamp   string   `json:"timestamp"`
}

type failedHealthCheckJSON struct {
	AppID       string           `json:"appId"`
	EventType   string           `json:"eventType"`
	HealthCheck *healthCheckJSON `json:"healthCheck,omitempty"`
	TaskID      string           `json:"taskId"`
	Timestamp   string           `json:"timestamp"`
}

type unhealthyKillJSON struct {
	AppID      string `json:"appId"`
	TaskID     string `json:"taskId"`
	InstanceID string `json:"instanceId,omitempty"`
	Version    string `json:"version"`
	Reason     string `json:"reason"`
	Host       string `json:"host"`
	SlaveID    string `json:"slaveId,omitempty"`
	EventType  string `json:"eventType"`
	Timestamp  string `json:"timestamp"`
}

type streamAttachedJSON struct {
	RemoteAddress string `json:"remoteAddress"`
	EventType     string `json:"eventType"`
	Timestamp     string `json:"timestamp"`
}

func stepToJSON(actions []DeploymentAction) stepJSON {
	s := stepJSON{Actions: []actionJSON{}}
	for _, a := range actions {
		s.Actions = append(s.Actions, actionJSON(a))
	}
	return s
}

func planToJSON(p DeploymentPlan) planJSON {
	j := planJSON{ID: p.ID, Steps: []stepJSON{}, Version: p.Version}
	for _, s := range p.Steps {
		j.Steps = append(j.Steps, stepToJSON(s))
	}
	return j
}

// EncodeEvent writes e's payload as Marathon does: its field names and
// order, with "eventType" and "timestamp", on one line, ready for
// sse.Writer.WriteEvent(e.Type, …). An event without a typed field is written
// from Raw.
func EncodeEvent(e Event) ([]byte, error) {
	if e.Type == "" {
		return nil, errors.New("marathon event: no event type")
	}
	var v any
	switch {
	case e.Type == EventStatusUpdate && e.StatusUpdate != nil:
		s := e.StatusUpdate
		j := statusUpdateJSON{
			SlaveID: s.SlaveID, TaskID: s.TaskID, TaskStatus: string(s.TaskStatus), Message: s.Message,
			AppID: s.AppID, Host: s.Host, IPAddresses: []ipJSON{}, Ports: s.Ports, Version: s.Version,
			EventType: e.Type, Timestamp: s.Timestamp,
		}
		for _, ip := range s.IPAddresses {
			j.IPAddresses = append(j.IPAddresses, ipJSON{IPAddress: ip.IP, Protocol: or(ip.Protocol, "IPv4")})
		}
		if j.Ports == nil {
			j.Ports = []int{}
		}
		v = j
	case e.Type == EventHealthStatusChanged && e.HealthStatusChanged != nil:
		h := e.HealthStatusChanged
		j := healthStatusChangedJSON{AppID: h.AppID, TaskID: h.TaskID, Version: h.Version, Alive: h.Alive,
			EventType: e.Type, Timestamp: h.Timestamp}
		if h.InstanceID != "" || h.TaskID == "" {
			j.InstanceID = &h.InstanceID
		}
		v = j
	case e.Type == EventInstanceChanged && e.InstanceChanged != nil:
		c := e.InstanceChanged
		v = instanceChangedJSON{InstanceID: c.InstanceID, Condition: c.Condition, RunSpecID: c.RunSpecID,
			AgentID: c.AgentID, Host: c.Host, RunSpecVersion: c.RunSpecVersion, Timestamp: c.Timestamp, EventType: e.Type}
	case e.Type == EventInstanceHealthChanged && e.InstanceHealthChanged != nil:
		c := e.InstanceHealthChanged
		v = instanceHealthChangedJSON{InstanceID: c.InstanceID, RunSpecID: c.RunSpecID, Healthy: c.Healthy,
			RunSpecVersion: c.RunSpecVersion, Timestamp: c.Timestamp, EventType: e.Type}
	case e.Type == EventAPIPost && e.APIPost != nil:
		p := e.APIPost
		v = apiPostJSON{ClientIP: p.ClientIP, URI: p.URI, AppDefinition: appDefinitionToJSON(p.App),
			EventType: e.Type, Timestamp: p.Timestamp}
	case e.Type == EventAppTerminated && e.AppTerminated != nil:
		v = appTerminatedJSON{AppID: e.AppTerminated.AppID, EventType: e.Type, Timestamp: e.AppTerminated.Timestamp}
	case (e.Type == EventDeploymentSuccess || e.Type == EventDeploymentFailed) && e.Deployment != nil:
		d := e.Deployment
		j := deploymentResultJSON{ID: d.ID, EventType: e.Type, Timestamp: d.Timestamp}
		if e.Type == EventDeploymentFailed {
			j.Reason = d.Reason
		}
		if d.Plan.ID != "" || d.Plan.Version != "" || len(d.Plan.Steps) > 0 {
			p := planToJSON(d.Plan)
			j.Plan = &p
		}
		v = j
	case (e.Type == EventDeploymentInfo || e.Type == EventDeploymentStepSuccess ||
		e.Type == EventDeploymentStepFailure) && e.Deployment != nil:
		d := e.Deployment
		v = deploymentStepJSON{Plan: planToJSON(d.Plan), CurrentStep: stepToJSON(d.CurrentStep),
			EventType: e.Type, Timestamp: d.Timestamp}
	case e.Type == EventFailedHealthCheck && e.FailedHealthCheck != nil:
		f := e.FailedHealthCheck
		j := failedHealthCheckJSON{AppID: f.AppID, EventType: e.Type, TaskID: f.TaskID, Timestamp: f.Timestamp}
		if f.HealthCheck != nil {
			hc := healthCheckToJSON(*f.HealthCheck)
			j.HealthCheck = &hc
		}
		v = j
	case (e.Type == EventUnhealthyInstanceKill || e.Type == EventUnhealthyTaskKill) && e.UnhealthyInstanceKill != nil:
		k := e.UnhealthyInstanceKill
		v = unhealthyKillJSON{AppID: k.AppID, TaskID: k.TaskID, InstanceID: k.InstanceID, Version: k.Version,
			Reason: k.Reason, Host: k.Host, SlaveID: k.SlaveID, EventType: e.Type, Timestamp: k.Timestamp}
	case e.Type == EventStreamAttached && e.StreamAttached != nil:
		v = streamAttachedJSON{RemoteAddress: e.StreamAttached.RemoteAddress, EventType: e.Type,
			Timestamp: e.StreamAttached.Timestamp}
	case e.Raw != nil:
		var buf bytes.Buffer
		if err := json.Compact(&buf, e.Raw); err != nil {
			return nil, fmt.Errorf("marathon event %s: raw payload: %w", e.Type, err)
		}
		return buf.Bytes(), nil
	default:
		return nil, fmt.Errorf("marathon event %s: no payload for this type", e.Type)
	}
	return marshal(v)
}
