// Package operator translates between the JSON of the Mesos v1 operator API
// (POST /api/v1: the SUBSCRIBE event stream and the GET_STATE response) and
// the shared cluster model.
//
// Decoding is tolerant of what it does not need — unknown fields, unknown
// event types, fields added by later Mesos versions — and precise about what
// it does need: a missing or mistyped field that discovery depends on is an
// error naming the field's path. In a state snapshot one bad task, agent or
// framework is skipped and reported instead of failing the snapshot, because
// refusing a whole 100,000-task cluster over one odd task would take every
// DNS record down with it.
//
// Encoding produces the shapes real masters send (see the captures in
// testdata/), so the simulator can stand in for a master; decoding what was
// encoded gives back the same model.
package operator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/wire/recordio"
)

// Event types of the v1 master API (master.proto Event.Type).
const (
	TypeSubscribed       = "SUBSCRIBED"
	TypeTaskAdded        = "TASK_ADDED"
	TypeTaskUpdated      = "TASK_UPDATED"
	TypeAgentAdded       = "AGENT_ADDED"
	TypeAgentRemoved     = "AGENT_REMOVED"
	TypeFrameworkAdded   = "FRAMEWORK_ADDED"
	TypeFrameworkUpdated = "FRAMEWORK_UPDATED"
	TypeFrameworkRemoved = "FRAMEWORK_REMOVED"
	TypeHeartbeat        = "HEARTBEAT"
)

// Event is one event of the SUBSCRIBE stream. Type names it; the payload
// field for that type is set and the others are zero. HEARTBEAT and event
// types this package does not know carry no payload: unknown types are kept
// by name so a caller can log them, since Mesos may add types at any time.
type Event struct {
	Type string

	Subscribed  *Subscribed
	TaskAdded   *cluster.Task
	TaskUpdated *TaskUpdated
	AgentAdded  *cluster.Agent
	// AgentRemoved is the removed agent's id.
	AgentRemoved string
	// FrameworkAdded and FrameworkUpdated carry no tasks: the master sends
	// tasks in their own events.
	FrameworkAdded   *cluster.Framework
	FrameworkUpdated *cluster.Framework
	// FrameworkRemoved is the removed framework's id.
	FrameworkRemoved string
}

// Subscribed is the first event of a stream: the full state to which the
// following events apply.
type Subscribed struct {
	// State has the agents and the frameworks with their tasks. A task whose
	// framework is not among the frameworks is placed under a Framework that
	// has only its ID, so no task is lost. The master-level fields of
	// MesosState (Version, Leader, …) are not part of SUBSCRIBED and stay empty.
	State *cluster.MesosState
	// HeartbeatIntervalSeconds is how often the master promises a HEARTBEAT;
	// a subscriber should treat several missed intervals as a dead stream.
	HeartbeatIntervalSeconds float64
	// Skipped reports the tasks, agents and frameworks that were malformed
	// and left out of State, each as a *FieldError with its path. It is
	// ignored by EncodeEvent.
	Skipped []error
}

// TaskUpdated is a status update of a known task.
type TaskUpdated struct {
	FrameworkID string
	TaskID      string
	AgentID     string
	// ExecutorID is the status's executor_id, empty for command tasks
	// launched without one.
	ExecutorID string
	// State is the task's latest state, which can differ from Status.State
	// when the master holds a queue of updates not yet acknowledged.
	State  cluster.TaskState
	Status cluster.TaskStatus
}

// FieldError is a field that a decoder needed but could not use. Path is the
// field's path in the JSON (array elements as [i]), so that a bad capture can
// be fixed without guessing.
type FieldError struct {
	// Type is the event type or response type being decoded ("TASK_UPDATED",
	// "GET_STATE"), or "event" when the type itself is the problem.
	Type    string
	Path    string
	Problem string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Type + ": " + e.Problem
	}
	return fmt.Sprintf("%s: field %q: %s", e.Type, e.Path, e.Problem)
}

// ErrSyntax is wrapped by the errors for input that is not JSON at all,
// truncated records included.
var ErrSyntax = errors.New("operator: invalid JSON")

// DecodeEvent decodes one record of the SUBSCRIBE stream.
func DecodeEvent(data []byte) (Event, error) {
	raw, err := decodeEnvelope(data)
	if err != nil {
		return Event{}, err
	}
	if raw.typ == nil {
		return Event{}, &FieldError{Type: "event", Path: "type", Problem: "missing"}
	}
	t := *raw.typ
	if t == "" {
		return Event{}, &FieldError{Type: "event", Path: "type", Problem: "empty"}
	}
	d := decoder{typ: t}
	ev := Event{Type: t}
	switch t {
	case TypeSubscribed:
		ev.Subscribed, err = d.subscribed(&raw)
	case TypeTaskAdded:
		ev.TaskAdded, err = d.taskAdded(raw.TaskAdded)
	case TypeTaskUpdated:
		ev.TaskUpdated, err = d.taskUpdated(raw.TaskUpdated)
	case TypeAgentAdded:
		ev.AgentAdded, err = d.agentAdded(raw.AgentAdded)
	case TypeAgentRemoved:
		ev.AgentRemoved, err = d.agentRemoved(raw.AgentRemoved)
	case TypeFrameworkAdded:
		ev.FrameworkAdded, err = d.frameworkEvent("framework_added", raw.FrameworkAdded)
	case TypeFrameworkUpdated:
		ev.FrameworkUpdated, err = d.frameworkEvent("framework_updated", raw.FrameworkUpdated)
	case TypeFrameworkRemoved:
		ev.FrameworkRemoved, err = d.frameworkRemoved(raw.FrameworkRemoved)
	}
	if err != nil {
		return Event{}, err
	}
	return ev, nil
}

// DecodeGetState decodes the response to a GET_STATE call,
// {"type":"GET_STATE","get_state":{…}}. Malformed tasks, agents and
// frameworks are left out of st and reported in skipped; err is for a
// response that is unusable as a whole.
//
// Only get_tasks.tasks are read (launched_tasks, their name before Mesos
// 1.2, when tasks is absent); unreachable and completed tasks, completed
// frameworks and recovered agents are not running anywhere discovery could
// point to and are ignored.
func DecodeGetState(data []byte) (st *cluster.MesosState, skipped []error, err error) {
	typ, state, err := decodeResponse(data)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case typ == nil:
		return nil, nil, &FieldError{Type: "GET_STATE", Path: "type", Problem: "missing"}
	case *typ != "GET_STATE":
		return nil, nil, &FieldError{Type: "GET_STATE", Path: "type", Problem: fmt.Sprintf("is %q, want GET_STATE", *typ)}
	}
	d := decoder{typ: "GET_STATE"}
	return d.state("get_state", state)
}

// ReadEvents reads a SUBSCRIBE response body, calling fn with each event in
// order. It returns fn's error, the framing or decoding error that broke the
// stream, or io.EOF when the master ended it cleanly. A malformed event ends
// the stream too: applying later events to a state that missed one would
// serve wrong records, and resubscribing yields a fresh snapshot.
//
// ctx is checked between records only; to interrupt a read blocked on a
// silent master, close r (the response body) — for example when heartbeats
// stop arriving.
func ReadEvents(ctx context.Context, r io.Reader, maxRecord int, fn func(Event) error) error {
	rr := recordio.NewReader(r, maxRecord)
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := rr.Next()
		if err != nil {
			return err
		}
		ev, err := DecodeEvent(rec)
		if err != nil {
			return fmt.Errorf("operator: event %d of the stream: %w", n, err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
}

// jsonKind names the JSON kind a Go type is decoded from, for error messages.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	}
	return t.String()
}

func joinPath(prefix, field string) string {
	switch {
	case prefix == "":
		return field
	case field == "":
		return prefix
	case strings.HasPrefix(field, "["):
		return prefix + field
	}
	return prefix + "." + field
}
