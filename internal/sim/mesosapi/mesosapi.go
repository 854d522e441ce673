// Package mesosapi is the HTTP face of one simulated Mesos master: the v0
// state endpoints, /master/redirect and the v1 operator API, with Mesos 1.x
// leader semantics (a non-leader redirects to the leader with 307, and
// answers 503 when there is no leader).
package mesosapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/sim"
	"github.com/signpost-dns/signpost/internal/wire/mesosstate"
	"github.com/signpost-dns/signpost/internal/wire/operator"
	"github.com/signpost-dns/signpost/internal/wire/recordio"
)

// Options tune a master.
type Options struct {
	// Heartbeat is the operator API's heartbeat interval (Mesos: 15 s).
	Heartbeat time.Duration
	Logger    *slog.Logger
}

// Master serves one simulated master.
type Master struct {
	c     *sim.Cluster
	index int
	opts  Options
	log   *slog.Logger
	cache *StateCache
}

// StateCache keeps the encoded state of one cluster version, shared by all
// masters of a cluster: at 100,000 tasks encoding is the expensive part, and
// the state only changes when the cluster does.
type StateCache struct {
	mu      sync.Mutex
	version uint64
	body    []byte
	err     error
}

// Get returns the encoded state for the cluster's current version.
func (sc *StateCache) Get(c *sim.Cluster) ([]byte, error) {
	st, v := c.MesosSnapshot()
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.body != nil && sc.version == v {
		return sc.body, sc.err
	}
	sc.body, sc.err = mesosstate.Encode(st)
	sc.version = v
	return sc.body, sc.err
}

// New returns the handler of master index of c. Masters of one cluster
// should share cache.
func New(c *sim.Cluster, index int, cache *StateCache, opts Options) *Master {
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 15 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if cache == nil {
		cache = &StateCache{}
	}
	return &Master{c: c, index: index, opts: opts, log: opts.Logger, cache: cache}
}

// leaderOnly lists the endpoints a Mesos ≥1.0 non-leader redirects.
var leaderOnly = map[string]bool{
	"state": true, "state.json": true, "state-summary": true, "frameworks": true,
	"slaves": true, "tasks": true, "tasks.json": true, "roles": true, "roles.json": true,
}

func (m *Master) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	name := strings.TrimPrefix(strings.TrimPrefix(path, "/master"), "/")
	if path == "/api/v1" {
		m.serveAPI(w, r)
		return
	}
	switch {
	case name == "redirect":
		leader, ok := m.leader()
		if !ok {
			http.Error(w, "No leader elected", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Location", "//"+hostPort(leader))
		w.WriteHeader(http.StatusTemporaryRedirect)
	case name == "health":
		w.WriteHeader(http.StatusOK)
	case leaderOnly[name]:
		if !m.redirectToLeader(w, r) {
			return
		}
		m.serveV0(w, r, name)
	default:
		http.NotFound(w, r)
	}
}

func (m *Master) leader() (cluster.MasterInfo, bool) {
	masters, idx := m.c.Masters()
	if idx < 0 || idx >= len(masters) {
		return cluster.MasterInfo{}, false
	}
	return masters[idx], true
}

func hostPort(mi cluster.MasterInfo) string {
	host := mi.Hostname
	if host == "" {
		host = mi.IP
	}
	return fmt.Sprintf("%s:%d", host, mi.Port)
}

// redirectToLeader answers for a non-leader and reports whether this master
// leads and should serve the request itself.
func (m *Master) redirectToLeader(w http.ResponseWriter, r *http.Request) bool {
	masters, idx := m.c.Masters()
	if idx == m.index {
		return true
	}
	if idx < 0 || idx >= len(masters) {
		http.Error(w, "No leader elected", http.StatusServiceUnavailable)
		return false
	}
	w.Header().Set("Location", "//"+hostPort(masters[idx])+r.URL.RequestURI())
	w.WriteHeader(http.StatusTemporaryRedirect)
	return false
}

func (m *Master) serveV0(w http.ResponseWriter, r *http.Request, name string) {
	var body []byte
	var err error
	switch strings.TrimSuffix(name, ".json") {
	case "state":
		body, err = m.cache.Get(m.c)
	case "frameworks":
		body, err = m.subset(`{"frameworks":`, "frameworks", `,"completed_frameworks":[],"unregistered_frameworks":[]}`)
	case "slaves":
		body, err = m.subset(`{"slaves":`, "slaves", `,"recovered_slaves":[]}`)
	case "tasks":
		body, err = m.tasks()
	default:
		http.Error(w, "not simulated: /master/"+name, http.StatusNotImplemented)
		return
	}
	if err != nil {
		m.log.Error("encoding master state", "err", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if cb := r.URL.Query().Get("jsonp"); cb != "" {
		w.Header().Set("Content-Type", "text/javascript")
		io.WriteString(w, cb+"(")
		w.Write(body)
		io.WriteString(w, ");")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// subset cuts one top-level array out of the encoded state, so that the
// frameworks and slaves endpoints carry byte-for-byte the same objects.
func (m *Master) subset(prefix, field, suffix string) ([]byte, error) {
	body, err := m.cache.Get(m.c)
	if err != nil {
		return nil, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, err
	}
	part := top[field]
	if part == nil {
		part = json.RawMessage("[]")
	}
	return append(append([]byte(prefix), part...), suffix...), nil
}

func (m *Master) tasks() ([]byte, error) {
	body, err := m.cache.Get(m.c)
	if err != nil {
		return nil, err
	}
	var top struct {
		Frameworks []struct {
			Tasks []json.RawMessage `json:"tasks"`
		} `json:"frameworks"`
	}
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, err
	}
	all := []json.RawMessage{}
	for _, f := range top.Frameworks {
		all = append(all, f.Tasks...)
	}
	return json.Marshal(map[string]any{"tasks": all})
}

// serveAPI follows the operator API's request rules: POST only, a JSON body,
// a JSON response (protobuf is not simulated), leader only.
func (m *Master) serveAPI(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "Expecting 'POST', received '"+r.Method+"'", http.StatusMethodNotAllowed)
		return
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		http.Error(w, "Expecting 'Content-Type' to be present", http.StatusBadRequest)
		return
	}
	if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
		http.Error(w, "Expecting 'Content-Type' of application/json (protobuf is not simulated)", http.StatusUnsupportedMediaType)
		return
	}
	if !acceptsJSON(r.Header.Values("Accept")) {
		http.Error(w, "Expecting 'Accept' to allow application/json", http.StatusNotAcceptable)
		return
	}
	if !m.redirectToLeader(w, r) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "reading request: "+err.Error(), http.StatusBadRequest)
		return
	}
	var call struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(body, &call); err != nil {
		http.Error(w, "Failed to parse body into Call: "+err.Error(), http.StatusBadRequest)
		return
	}
	switch call.Type {
	case "GET_STATE":
		st, _ := m.c.MesosSnapshot()
		out, err := operator.EncodeGetState(st)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(out)
	case "GET_HEALTH":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"type":"GET_HEALTH","get_health":{"healthy":true}}`)
	case "GET_VERSION":
		st, _ := m.c.MesosSnapshot()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"type":"GET_VERSION","get_version":{"version_info":{"version":%q}}}`, st.Version)
	case "SUBSCRIBE":
		m.subscribe(w, r)
	case "":
		http.Error(w, `Failed to validate master::Call: Expecting 'type' to be present`, http.StatusBadRequest)
	default:
		http.Error(w, "call "+call.Type+" is not simulated", http.StatusNotImplemented)
	}
}

func acceptsJSON(values []string) bool {
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part))
			switch mt {
			case "application/json", "*/*", "application/*":
				return true
			}
		}
	}
	return false
}

// subscribe streams SUBSCRIBED, an immediate HEARTBEAT, then every event and a
// heartbeat per interval, in RecordIO over a chunked response with no
// Content-Length — what clients use to tell a stream from a single answer.
func (m *Master) subscribe(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	_, leaderChanged := m.c.Leadership()
	st, sub := m.c.SubscribeMesos()
	defer sub.Close()

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	rw := recordio.NewWriter(w)
	send := func(e operator.Event) error {
		b, err := operator.EncodeEvent(e)
		if err != nil {
			return err
		}
		if err := rw.Write(b); err != nil {
			return err
		}
		flusher.Flush()
		return nil
	}
	hb := operator.Event{Type: operator.TypeHeartbeat}
	if err := send(operator.Event{Type: operator.TypeSubscribed, Subscribed: &operator.Subscribed{
		State: st, HeartbeatIntervalSeconds: m.opts.Heartbeat.Seconds(),
	}}); err != nil {
		m.log.Debug("subscriber gone", "err", err)
		return
	}
	if err := send(hb); err != nil {
		return
	}
	m.stream(r.Context(), sub, leaderChanged, send, hb)
}

func (m *Master) stream(ctx context.Context, sub *sim.Subscription[operator.Event], leaderChanged <-chan struct{}, send func(operator.Event) error, hb operator.Event) {
	ticker := time.NewTicker(m.opts.Heartbeat)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-leaderChanged:
			// This master no longer leads: the stream ends, as when a real
			// master fails over; clients resubscribe to the new leader.
			return
		case <-ticker.C:
			if send(hb) != nil {
				return
			}
		case e, ok := <-sub.Events:
			if !ok {
				m.log.Info("operator stream ended", "err", sub.Err())
				return
			}
			if send(e) != nil {
				return
			}
		}
	}
}
