// Package control is the simulator's own API for what Marathon's cannot do:
// failing health checks, losing agents, moving Mesos leadership, and
// injecting faults into the other endpoints. Everything else goes through
// Marathon's API, as it would in a real cluster.
package control

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/sim"
	"github.com/signpost-dns/signpost/internal/sim/faults"
)

// Handler serves the control API under /sim/v1/.
type Handler struct {
	c      *sim.Cluster
	faults *faults.Set
	// setLeader moves leadership; the simulator wires it to ZooKeeper too.
	setLeader func(int) error
	mux       *http.ServeMux
}

// New returns the control API for c. setLeader, when nil, is c.SetLeader.
func New(c *sim.Cluster, f *faults.Set, setLeader func(int) error) *Handler {
	if setLeader == nil {
		setLeader = c.SetLeader
	}
	h := &Handler{c: c, faults: f, setLeader: setLeader, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /sim/v1/tasks", h.tasks)
	h.mux.HandleFunc("POST /sim/v1/tasks/{id}/health", h.health)
	h.mux.HandleFunc("POST /sim/v1/tasks/{id}/kill", h.kill)
	h.mux.HandleFunc("GET /sim/v1/agents", h.agents)
	h.mux.HandleFunc("POST /sim/v1/agents", h.addAgents)
	h.mux.HandleFunc("DELETE /sim/v1/agents/{id}", h.loseAgent)
	h.mux.HandleFunc("GET /sim/v1/leader", h.getLeader)
	h.mux.HandleFunc("PUT /sim/v1/leader", h.putLeader)
	h.mux.HandleFunc("GET /sim/v1/faults", h.getFaults)
	h.mux.HandleFunc("POST /sim/v1/faults", h.addFault)
	h.mux.HandleFunc("DELETE /sim/v1/faults", h.clearFaults)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, err error) {
	reply(w, status, map[string]string{"message": err.Error()})
}

// decode reads a JSON body strictly, so a misspelt field is an error that
// names it rather than a silent no-op.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("request body: empty, expected a JSON object")
		}
		return errors.New("request body: " + err.Error())
	}
	return nil
}

// TaskView is one running task as the control API lists it: enough to find
// and reach it in tests and the demo.
type TaskView struct {
	ID      string `json:"id"`
	AppID   string `json:"appId,omitempty"`
	AgentID string `json:"agentId"`
	Host    string `json:"host"`
	IP      string `json:"ip"`
	Ports   []int  `json:"ports"`
	State   string `json:"state"`
	Healthy *bool  `json:"healthy,omitempty"`
}

func (h *Handler) tasks(w http.ResponseWriter, r *http.Request) {
	st := h.c.MesosState()
	mst := h.c.MarathonState()
	appTasks := map[string]cluster.AppTask{}
	for _, a := range mst.Apps {
		for _, t := range a.Tasks {
			appTasks[t.ID] = t
		}
	}
	hosts := map[string]string{}
	for _, a := range st.Agents {
		hosts[a.ID] = a.Hostname
	}
	views := []TaskView{}
	for _, f := range st.Frameworks {
		for _, t := range f.Tasks {
			v := TaskView{ID: t.ID, AgentID: t.AgentID, Host: hosts[t.AgentID], State: string(t.State)}
			if s := t.LatestStatus(""); s != nil {
				v.Healthy = s.Healthy
				for _, ni := range s.NetworkInfos {
					for _, ip := range ni.IPAddresses {
						if v.IP == "" {
							v.IP = ip.IP
						}
					}
				}
			}
			for _, pr := range t.Ports {
				for p := pr.Begin; p <= pr.End; p++ {
					v.Ports = append(v.Ports, p)
				}
			}
			if at, ok := appTasks[t.ID]; ok {
				v.AppID = at.AppID
				v.Ports = at.Ports
				if len(at.HealthCheckResults) > 0 {
					alive := at.HealthCheckResults[0].Alive
					v.Healthy = &alive
				}
			}
			if app := r.URL.Query().Get("app"); app != "" && v.AppID != app {
				continue
			}
			views = append(views, v)
		}
	}
	slices.SortFunc(views, func(a, b TaskView) int { return strings.Compare(a.ID, b.ID) })
	reply(w, http.StatusOK, map[string]any{"tasks": views})
}

func (h *Handler) health(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Healthy *bool `json:"healthy"`
	}
	if err := decode(r, &req); err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	if req.Healthy == nil {
		fail(w, http.StatusBadRequest, errors.New(`field "healthy": missing, expected true or false`))
		return
	}
	if err := h.c.SetHealth(r.PathValue("id"), *req.Healthy); err != nil {
		fail(w, http.StatusNotFound, err)
		return
	}
	reply(w, http.StatusOK, map[string]any{"id": r.PathValue("id"), "healthy": *req.Healthy})
}

func (h *Handler) kill(w http.ResponseWriter, r *http.Request) {
	if err := h.c.KillTask(r.PathValue("id"), r.URL.Query().Get("scale") == "true"); err != nil {
		fail(w, http.StatusNotFound, err)
		return
	}
	reply(w, http.StatusOK, map[string]string{"killed": r.PathValue("id")})
}

func (h *Handler) agents(w http.ResponseWriter, r *http.Request) {
	st := h.c.MesosState()
	type agentView struct {
		ID       string `json:"id"`
		Hostname string `json:"hostname"`
		PID      string `json:"pid"`
	}
	out := []agentView{}
	for _, a := range st.Agents {
		out = append(out, agentView{a.ID, a.Hostname, a.PID})
	}
	reply(w, http.StatusOK, map[string]any{"agents": out})
}

func (h *Handler) addAgents(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Count int `json:"count"`
	}
	if err := decode(r, &req); err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	if req.Count < 1 || req.Count > 10000 {
		fail(w, http.StatusBadRequest, errors.New(`field "count": must be 1..10000`))
		return
	}
	reply(w, http.StatusCreated, map[string]any{"added": h.c.AddAgents(req.Count)})
}

func (h *Handler) loseAgent(w http.ResponseWriter, r *http.Request) {
	if err := h.c.LoseAgent(r.PathValue("id")); err != nil {
		fail(w, http.StatusNotFound, err)
		return
	}
	reply(w, http.StatusOK, map[string]string{"lost": r.PathValue("id")})
}

func (h *Handler) getLeader(w http.ResponseWriter, r *http.Request) {
	masters, idx := h.c.Masters()
	reply(w, http.StatusOK, map[string]any{"master": idx, "masters": len(masters)})
}

func (h *Handler) putLeader(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Master *int `json:"master"`
	}
	if err := decode(r, &req); err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	if req.Master == nil {
		fail(w, http.StatusBadRequest, errors.New(`field "master": missing, expected a master index or -1`))
		return
	}
	if err := h.setLeader(*req.Master); err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	reply(w, http.StatusOK, map[string]int{"master": *req.Master})
}

func (h *Handler) getFaults(w http.ResponseWriter, r *http.Request) {
	reply(w, http.StatusOK, map[string]any{"faults": h.faults.Rules()})
}

func (h *Handler) addFault(w http.ResponseWriter, r *http.Request) {
	var rule faults.Rule
	if err := decode(r, &rule); err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	if err := h.faults.Add(rule); err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	reply(w, http.StatusCreated, map[string]any{"faults": h.faults.Rules()})
}

func (h *Handler) clearFaults(w http.ResponseWriter, r *http.Request) {
	h.faults.Clear()
	reply(w, http.StatusOK, map[string]any{"faults": []faults.Rule{}})
}
