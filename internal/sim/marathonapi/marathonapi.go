// Package marathonapi is the HTTP face of the simulated Marathon: the REST
// endpoints a discovery tool reads and an operator writes through, and the
// /v2/events stream with Jetty's exact framing.
package marathonapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/sim"
	"github.com/signpost-dns/signpost/internal/wire/marathon"
	"github.com/signpost-dns/signpost/internal/wire/sse"
)

// Options tune the simulated Marathon.
type Options struct {
	// Heartbeat is the SSE heartbeat period (Jetty's default: 10 s).
	Heartbeat time.Duration
	// Version is reported by /v2/info.
	Version string
	// ZK is the Mesos master URL /v2/info reports.
	MasterURL string
	Logger    *slog.Logger
}

// Server serves Marathon's API for a simulated cluster.
type Server struct {
	c    *sim.Cluster
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux

	mu       sync.Mutex
	version  uint64
	appsBody map[bool][]byte
}

// New returns Marathon's handler for c.
func New(c *sim.Cluster, opts Options) *Server {
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 10 * time.Second
	}
	if opts.Version == "" {
		opts.Version = "1.10.17"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{c: c, opts: opts, log: opts.Logger, mux: http.NewServeMux(), appsBody: map[bool][]byte{}}
	s.mux.HandleFunc("GET /ping", s.ping)
	s.mux.HandleFunc("GET /v2/info", s.info)
	s.mux.HandleFunc("GET /v2/leader", s.leader)
	s.mux.HandleFunc("GET /v2/apps", s.listApps)
	s.mux.HandleFunc("POST /v2/apps", s.createApp)
	s.mux.HandleFunc("/v2/apps/", s.appPath)
	s.mux.HandleFunc("GET /v2/tasks", s.listTasks)
	s.mux.HandleFunc("POST /v2/tasks/delete", s.deleteTasks)
	s.mux.HandleFunc("GET /v2/events", s.events)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Marathon-Leader", "http://"+s.c.MarathonHost())
	s.mux.ServeHTTP(w, r)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; qs=2")
	w.WriteHeader(status)
	w.Write(body)
}

// writeEncoded answers 200 with body, or 500 if encoding it failed.
func writeEncoded(w http.ResponseWriter, body []byte, err error) {
	if err != nil {
		fail(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// fail answers with Marathon's error shape, {"message": …}.
func fail(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"message": msg})
	writeJSON(w, status, b)
}

func (s *Server) ping(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.Header.Get("Accept"), "application/json") && !strings.Contains(r.Header.Get("Accept"), "text/") {
		writeJSON(w, http.StatusOK, []byte(`"pong"`))
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "pong")
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	host := s.c.MarathonHost()
	port := host[strings.LastIndexByte(host, ':')+1:]
	httpPort, _ := strconv.Atoi(port)
	info := map[string]any{
		"name": "marathon", "version": s.opts.Version, "buildref": "simulated",
		"elected": true, "leader": host, "frameworkId": s.frameworkID(),
		"marathon_config": map[string]any{
			"master": s.opts.MasterURL, "local_port_min": 10000, "local_port_max": 20000,
			"hostname": host[:strings.LastIndexByte(host, ':')], "task_launch_timeout": 300000,
		},
		"zookeeper_config": map[string]any{"zk": "zk://127.0.0.1:2181/marathon", "zk_timeout": 10000},
		"http_config":      map[string]any{"http_port": httpPort, "https_port": 8443},
	}
	b, _ := json.Marshal(info)
	writeJSON(w, http.StatusOK, b)
}

func (s *Server) frameworkID() string {
	st, _ := s.c.MesosSnapshot()
	for _, f := range st.Frameworks {
		if f.Name == "marathon" {
			return f.ID
		}
	}
	return ""
}

func (s *Server) leader(w http.ResponseWriter, r *http.Request) {
	b, _ := json.Marshal(map[string]string{"leader": s.c.MarathonHost()})
	writeJSON(w, http.StatusOK, b)
}

// embedsTasks reads Marathon's embed parameters: apps.tasks, app.tasks,
// tasks, and the deprecated apps.failures all embed tasks.
func embedsTasks(r *http.Request) bool {
	for _, e := range r.URL.Query()["embed"] {
		switch strings.TrimPrefix(strings.TrimPrefix(e, "apps."), "app.") {
		case "tasks", "failures":
			return true
		}
	}
	return false
}

func (s *Server) listApps(w http.ResponseWriter, r *http.Request) {
	embed := embedsTasks(r)
	q := r.URL.Query()
	if q.Get("id") == "" && q.Get("label") == "" && q.Get("cmd") == "" {
		st, v := s.c.MarathonSnapshot()
		s.mu.Lock()
		body := s.appsBody[embed]
		if body == nil || s.version != v {
			if s.version != v {
				clear(s.appsBody)
				s.version = v
			}
			var err error
			if body, err = marathon.EncodeApps(st, embed); err != nil {
				s.mu.Unlock()
				fail(w, http.StatusInternalServerError, err.Error())
				return
			}
			s.appsBody[embed] = body
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, body)
		return
	}
	sel, err := parseSelector(q.Get("label"))
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	st := s.c.MarathonState()
	out := &cluster.MarathonState{}
	for _, a := range st.Apps {
		if id := q.Get("id"); id != "" && !strings.Contains(a.ID, id) {
			continue
		}
		if cmd := q.Get("cmd"); cmd != "" && !strings.Contains(a.Cmd, cmd) {
			continue
		}
		if !sel(a.Labels) {
			continue
		}
		out.Apps = append(out.Apps, a)
	}
	body, err := marathon.EncodeApps(out, embed)
	writeEncoded(w, body, err)
}

// parseSelector reads Marathon's label selector: comma-separated terms of
// `k`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`.
func parseSelector(expr string) (func(map[string]string) bool, error) {
	if strings.TrimSpace(expr) == "" {
		return func(map[string]string) bool { return true }, nil
	}
	var terms []func(map[string]string) bool
	for _, term := range splitTerms(expr) {
		term = strings.TrimSpace(term)
		switch {
		case strings.Contains(term, "=="):
			k, v, _ := strings.Cut(term, "==")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			terms = append(terms, func(l map[string]string) bool { x, ok := l[k]; return ok && x == v })
		case strings.Contains(term, "!="):
			k, v, _ := strings.Cut(term, "!=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			terms = append(terms, func(l map[string]string) bool { return l[k] != v })
		case strings.Contains(term, " notin ") || strings.Contains(term, " in "):
			neg := strings.Contains(term, " notin ")
			sep := " in "
			if neg {
				sep = " notin "
			}
			k, set, _ := strings.Cut(term, sep)
			set = strings.TrimSpace(set)
			if !strings.HasPrefix(set, "(") || !strings.HasSuffix(set, ")") {
				return nil, fmt.Errorf("label selector %q: set must be in parentheses", term)
			}
			var vals []string
			for _, v := range strings.Split(set[1:len(set)-1], ",") {
				vals = append(vals, strings.TrimSpace(v))
			}
			k = strings.TrimSpace(k)
			terms = append(terms, func(l map[string]string) bool {
				x, ok := l[k]
				return ok && slices.Contains(vals, x) != neg
			})
		default:
			k := term
			terms = append(terms, func(l map[string]string) bool { _, ok := l[k]; return ok })
		}
	}
	return func(l map[string]string) bool {
		for _, t := range terms {
			if !t(l) {
				return false
			}
		}
		return true
	}, nil
}

// splitTerms splits on commas outside parentheses.
func splitTerms(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		fail(w, http.StatusBadRequest, "reading request body: "+err.Error())
		return nil, false
	}
	return body, true
}

func (s *Server) createApp(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	def, err := marathon.DecodeApp(body)
	if err != nil {
		fail(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	app, err := s.c.AddApp(def)
	if err != nil {
		status := http.StatusUnprocessableEntity
		if errors.Is(err, sim.ErrConflict) {
			status = http.StatusConflict
		}
		fail(w, status, err.Error())
		return
	}
	app, _ = s.c.App(app.ID)
	out, err := marathon.EncodeApp(app)
	if err != nil {
		fail(w, http.StatusInternalServerError, err.Error())
		return
	}
	// POST answers with the bare app, not wrapped in {"app": …}.
	var wrapped struct {
		App json.RawMessage `json:"app"`
	}
	if json.Unmarshal(out, &wrapped) == nil && wrapped.App != nil {
		out = wrapped.App
	}
	w.Header().Set("Location", "/v2/apps"+app.ID)
	writeJSON(w, http.StatusCreated, out)
}

// appPath routes /v2/apps/{id…}[/restart|/tasks[/{task}]]; app ids contain
// slashes, so the suffixes are recognised from the end.
func (s *Server) appPath(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/v2/apps")
	switch {
	case strings.HasSuffix(rest, "/restart") && r.Method == http.MethodPost:
		s.restart(w, strings.TrimSuffix(rest, "/restart"))
	case strings.HasSuffix(rest, "/tasks") && r.Method == http.MethodGet:
		s.appTasks(w, strings.TrimSuffix(rest, "/tasks"))
	case strings.Contains(rest, "/tasks/") && r.Method == http.MethodDelete:
		i := strings.LastIndex(rest, "/tasks/")
		s.killTask(w, r, rest[:i], rest[i+len("/tasks/"):])
	default:
		id := strings.TrimSuffix(rest, "/")
		switch r.Method {
		case http.MethodGet:
			s.getApp(w, id)
		case http.MethodPut, http.MethodPatch:
			s.updateApp(w, r, id)
		case http.MethodDelete:
			s.deleteApp(w, id)
		default:
			w.Header().Set("Allow", "GET, PUT, PATCH, DELETE")
			fail(w, http.StatusMethodNotAllowed, "method not allowed")
		}
	}
}

func notFound(w http.ResponseWriter, id string) {
	fail(w, http.StatusNotFound, fmt.Sprintf("App '%s' does not exist", id))
}

func (s *Server) getApp(w http.ResponseWriter, id string) {
	app, ok := s.c.App(id)
	if !ok {
		notFound(w, id)
		return
	}
	out, err := marathon.EncodeApp(app)
	writeEncoded(w, out, err)
}

// deployment answers a change the way Marathon does: the new version and a
// deployment id.
func deployment(w http.ResponseWriter, version string) {
	b, _ := json.Marshal(map[string]string{"version": version, "deploymentId": fmt.Sprintf("%x", time.Now().UnixNano())})
	writeJSON(w, http.StatusOK, b)
}

// updateApp applies a PUT as Marathon's AppUpdate does: the fields sent
// replace the app's, the others stay. A body with only "instances" scales.
func (s *Server) updateApp(w http.ResponseWriter, r *http.Request, id string) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var patch map[string]json.RawMessage
	if err := json.Unmarshal(body, &patch); err != nil {
		fail(w, http.StatusBadRequest, "app update: "+err.Error())
		return
	}
	delete(patch, "id")
	current, exists := s.c.App(id)
	if exists && len(patch) == 1 && patch["instances"] != nil {
		var n int
		if err := json.Unmarshal(patch["instances"], &n); err != nil {
			fail(w, http.StatusUnprocessableEntity, `field "instances": `+err.Error())
			return
		}
		if err := s.c.ScaleApp(id, n); err != nil {
			fail(w, http.StatusUnprocessableEntity, err.Error())
			return
		}
		app, _ := s.c.App(id)
		deployment(w, app.Version)
		return
	}
	merged := map[string]json.RawMessage{}
	if exists {
		current.Tasks = nil
		cur, err := marathon.EncodeApp(current)
		if err != nil {
			fail(w, http.StatusInternalServerError, err.Error())
			return
		}
		var wrapped struct {
			App map[string]json.RawMessage `json:"app"`
		}
		if err := json.Unmarshal(cur, &wrapped); err != nil {
			fail(w, http.StatusInternalServerError, err.Error())
			return
		}
		merged = wrapped.App
	}
	for k, v := range patch {
		merged[k] = v
	}
	merged["id"], _ = json.Marshal(id)
	for _, k := range []string{"tasks", "tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy", "deployments", "version", "versionInfo"} {
		delete(merged, k)
	}
	full, _ := json.Marshal(merged)
	def, err := marathon.DecodeApp(full)
	if err != nil {
		fail(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	app, err := s.c.UpdateApp(def)
	if err != nil {
		fail(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	deployment(w, app.Version)
}

func (s *Server) deleteApp(w http.ResponseWriter, id string) {
	if err := s.c.DeleteApp(id); err != nil {
		notFound(w, id)
		return
	}
	deployment(w, time.Now().UTC().Format("2006-01-02T15:04:05.000Z"))
}

func (s *Server) restart(w http.ResponseWriter, id string) {
	if err := s.c.RestartApp(id); err != nil {
		notFound(w, id)
		return
	}
	app, _ := s.c.App(id)
	deployment(w, app.Version)
}

func (s *Server) appTasks(w http.ResponseWriter, id string) {
	app, ok := s.c.App(id)
	if !ok {
		notFound(w, id)
		return
	}
	out, err := marathon.EncodeTasks(app.Tasks)
	writeEncoded(w, out, err)
}

func (s *Server) killTask(w http.ResponseWriter, r *http.Request, appID, taskID string) {
	app, ok := s.c.App(appID)
	if !ok {
		notFound(w, appID)
		return
	}
	var victim *cluster.AppTask
	for i := range app.Tasks {
		if app.Tasks[i].ID == taskID {
			victim = &app.Tasks[i]
		}
	}
	if victim == nil {
		fail(w, http.StatusNotFound, fmt.Sprintf("Task '%s' does not exist", taskID))
		return
	}
	scale := r.URL.Query().Get("scale") == "true"
	if err := s.c.KillTask(taskID, scale); err != nil {
		fail(w, http.StatusConflict, err.Error())
		return
	}
	out, err := marathon.EncodeTasks([]cluster.AppTask{*victim})
	if err != nil {
		fail(w, http.StatusInternalServerError, err.Error())
		return
	}
	// A single kill answers {"task": …}.
	var list struct {
		Tasks []json.RawMessage `json:"tasks"`
	}
	if json.Unmarshal(out, &list) == nil && len(list.Tasks) == 1 {
		out = append(append([]byte(`{"task":`), list.Tasks[0]...), '}')
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) {
	st := s.c.MarathonState()
	want := r.URL.Query()["status"]
	want = append(want, r.URL.Query()["status[]"]...)
	var tasks []cluster.AppTask
	for _, a := range st.Apps {
		for _, t := range a.Tasks {
			if len(want) > 0 && !slices.ContainsFunc(want, func(s string) bool {
				return strings.EqualFold("TASK_"+s, string(t.State))
			}) {
				continue
			}
			if t.ServicePorts == nil {
				t.ServicePorts = servicePortsOf(a)
			}
			tasks = append(tasks, t)
		}
	}
	if strings.HasPrefix(r.Header.Get("Accept"), "text/plain") {
		w.Header().Set("Content-Type", "text/plain")
		writePlainTasks(w, st)
		return
	}
	out, err := marathon.EncodeTasks(tasks)
	writeEncoded(w, out, err)
}

func servicePortsOf(a cluster.App) []int {
	var out []int
	for _, pd := range a.PortDefinitions {
		out = append(out, pd.Port)
	}
	if len(out) == 0 && a.Container != nil {
		pms := a.Container.PortMappings
		if len(pms) == 0 && a.Container.Docker != nil {
			pms = a.Container.Docker.PortMappings
		}
		for _, pm := range pms {
			out = append(out, pm.ServicePort)
		}
	}
	return out
}

// writePlainTasks writes the old haproxy-bridge text format:
// appId<TAB>servicePort<TAB>host:port… per app and port.
func writePlainTasks(w io.Writer, st *cluster.MarathonState) {
	for _, a := range st.Apps {
		for i, sp := range servicePortsOf(a) {
			line := strings.TrimPrefix(a.ID, "/") + "\t" + strconv.Itoa(sp) + "\t"
			for _, t := range a.Tasks {
				if i < len(t.Ports) {
					line += t.Host + ":" + strconv.Itoa(t.Ports[i]) + "\t"
				}
			}
			io.WriteString(w, line+"\n")
		}
	}
}

func (s *Server) deleteTasks(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req struct {
		IDs []string `json:"ids"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		fail(w, http.StatusBadRequest, `field "ids": `+err.Error())
		return
	}
	scale := r.URL.Query().Get("scale") == "true"
	for _, id := range req.IDs {
		if err := s.c.KillTask(id, scale); err != nil {
			fail(w, http.StatusNotFound, err.Error())
			return
		}
	}
	deployment(w, time.Now().UTC().Format("2006-01-02T15:04:05.000Z"))
}

// events serves /v2/events as Marathon's Jetty EventSourceServlet does: the
// Accept header must be exactly text/event-stream (else 405), the body is
// CRLF-framed events until the connection closes, a CRLF heartbeat every
// period, event_stream_attached first, and event_type filters.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	if !slices.Contains(r.Header.Values("Accept"), "text/event-stream") {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		fail(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	filter := r.URL.Query()["event_type"]
	sub := s.c.SubscribeMarathon()
	defer sub.Close()

	w.Header().Set("Content-Type", "text/event-stream;charset=UTF-8")
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusOK)
	sw := sse.NewWriter(w)
	send := func(e marathon.Event) error {
		if len(filter) > 0 && !slices.Contains(filter, e.Type) {
			return nil
		}
		b, err := marathon.EncodeEvent(e)
		if err != nil {
			s.log.Error("encoding event", "type", e.Type, "err", err)
			return nil
		}
		return sw.WriteEvent(e.Type, b)
	}
	attached := marathon.Event{Type: "event_stream_attached", StreamAttached: &marathon.StreamAttached{
		RemoteAddress: r.RemoteAddr[:max(0, strings.LastIndexByte(r.RemoteAddr, ':'))],
		Timestamp:     time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
	}}
	if send(attached) != nil {
		return
	}
	flusher.Flush()
	ticker := time.NewTicker(s.opts.Heartbeat)
	defer ticker.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-ticker.C:
			if sw.WriteHeartbeat() != nil {
				return
			}
		case e, ok := <-sub.Events:
			if !ok {
				return
			}
			if send(e) != nil {
				return
			}
		}
	}
}
