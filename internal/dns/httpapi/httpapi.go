// Package httpapi serves Mesos-DNS's HTTP API (/v1/…) from the current
// record table, plus what operators of a replacement need and Mesos-DNS never
// had: /health and /metrics.
package httpapi

import (
	"encoding/json"
	"mime"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/signpost-dns/signpost/internal/dns/records"
)

// Health is the state /health reports on.
type Health struct {
	// OK is true once records are loaded and fresh.
	OK bool `json:"ok"`
	// Reason says why not, or what is serving.
	Reason string `json:"reason"`
	// LastSuccess is when the state was last fetched successfully.
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	// LastError is the last fetch error, if the last fetch failed.
	LastError string `json:"lastError,omitempty"`
	// AgeSeconds is how old the served records' state is.
	AgeSeconds float64 `json:"ageSeconds"`
}

// Options wire the API to the rest of the server.
type Options struct {
	// Version is what /v1/version reports.
	Version string
	// Domain is the zone, "mesos".
	Domain string
	// EnumerationOn enables /v1/enumerate and /v1/axfr, as in Mesos-DNS.
	EnumerationOn bool
	// TTL, RefreshSeconds, Mname and Rname are echoed by /v1/axfr.
	TTL            int
	RefreshSeconds int
	Mname, Rname   string
	// Config returns the public (secret-free) configuration for /v1/config.
	Config func() any
	// Table returns the table being served; nil before the first load.
	Table func() *records.Table
	// Health reports readiness and freshness.
	Health func() Health
	// Metrics serves /metrics; nil leaves it out.
	Metrics http.Handler
}

// New returns the API handler.
func New(o Options) http.Handler {
	mux := http.NewServeMux()
	a := &api{o: o}
	mux.HandleFunc("GET /v1/version", a.version)
	mux.HandleFunc("GET /v1/config", a.config)
	mux.HandleFunc("GET /v1/hosts/{host}", a.hosts)
	mux.HandleFunc("GET /v1/hosts/{host}/ports", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "To be implemented...", http.StatusNotImplemented)
	})
	mux.HandleFunc("GET /v1/services/{service}", a.services)
	if o.EnumerationOn {
		mux.HandleFunc("GET /v1/enumerate", a.enumerate)
		mux.HandleFunc("GET /v1/axfr", a.axfr)
	}
	mux.HandleFunc("GET /health", a.health)
	if o.Metrics != nil {
		mux.Handle("GET /metrics", o.Metrics)
	}
	return a.wrap(mux)
}

type api struct{ o Options }

// wrap answers unknown paths and unacceptable Accept headers the way
// Mesos-DNS's go-restful server does.
func (a *api) wrap(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := mux.Handler(r)
		if pattern == "" {
			// ServeMux answers 405 itself when only the method is wrong.
			if _, p := mux.Handler(withMethod(r, http.MethodGet)); p != "" {
				mux.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte("404: Page Not Found"))
			return
		}
		if strings.HasPrefix(r.URL.Path, "/v1/") && !acceptsJSON(r.Header.Values("Accept")) {
			http.Error(w, "406: Not Acceptable", http.StatusNotAcceptable)
			return
		}
		// ServeMux.ServeHTTP, not the handler found above: only it sets the
		// path values ({host}, {service}).
		mux.ServeHTTP(w, r)
	})
}

func withMethod(r *http.Request, m string) *http.Request {
	r2 := r.Clone(r.Context())
	r2.Method = m
	return r2
}

func acceptsJSON(values []string) bool {
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			switch mt {
			case "application/json", "*/*", "application/*":
				return true
			}
		}
	}
	return false
}

// writeJSON pretty-prints like go-restful, which Mesos-DNS clients parse.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

func (a *api) version(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{
		"Service": "Mesos-DNS", "URL": "https://github.com/mesosphere/mesos-dns", "Version": a.o.Version,
	})
}

func (a *api) config(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.o.Config())
}

// normalize makes a lookup key the way Mesos-DNS does: lower case, every
// ".*" removed, a trailing dot.
func normalize(name string) string {
	name = strings.ToLower(strings.ReplaceAll(name, ".*", ""))
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

type hostRecord struct {
	Host string `json:"host"`
	IP   string `json:"ip"`
}

func (a *api) hosts(w http.ResponseWriter, r *http.Request) {
	name := normalize(r.PathValue("host"))
	out := []hostRecord{}
	if t := a.o.Table(); t != nil {
		for _, ip := range t.A[name] {
			out = append(out, hostRecord{name, ip.String()})
		}
		for _, ip := range t.AAAA[name] {
			out = append(out, hostRecord{name, ip.String()})
		}
	}
	if len(out) == 0 {
		out = append(out, hostRecord{})
	}
	writeJSON(w, http.StatusOK, out)
}

type serviceRecord struct {
	Service string `json:"service"`
	Host    string `json:"host"`
	IP      string `json:"ip"`
	Port    string `json:"port"`
}

func (a *api) services(w http.ResponseWriter, r *http.Request) {
	requested := r.PathValue("service")
	name := normalize(requested)
	out := []serviceRecord{}
	if t := a.o.Table(); t != nil {
		for _, srv := range t.SRV[name] {
			port := strconv.Itoa(int(srv.Port))
			if ips := t.A[srv.Target]; len(ips) > 0 {
				out = append(out, serviceRecord{requested, srv.Target, ips[0].String(), port})
			}
			if ips := t.AAAA[srv.Target]; len(ips) > 0 {
				out = append(out, serviceRecord{requested, srv.Target, ips[0].String(), port})
			}
		}
	}
	if len(out) == 0 {
		out = append(out, serviceRecord{})
	}
	writeJSON(w, http.StatusOK, out)
}

type enumRecord struct {
	Name  string `json:"name"`
	Host  string `json:"host"`
	RType string `json:"rtype"`
}

type enumTask struct {
	Name    string       `json:"name"`
	ID      string       `json:"id"`
	Records []enumRecord `json:"records"`
}

type enumFramework struct {
	Tasks []enumTask `json:"tasks"`
	Name  string     `json:"name"`
}

func (a *api) enumerate(w http.ResponseWriter, r *http.Request) {
	out := struct {
		Frameworks []enumFramework `json:"frameworks"`
	}{Frameworks: []enumFramework{}}
	if t := a.o.Table(); t != nil {
		for _, f := range t.Frameworks {
			ef := enumFramework{Name: f.Name, Tasks: []enumTask{}}
			for _, task := range f.Tasks {
				et := enumTask{Name: task.Name, ID: task.ID, Records: []enumRecord{}}
				for _, rec := range task.Records {
					et.Records = append(et.Records, enumRecord{rec.Name, rec.Host, rec.RType})
				}
				ef.Tasks = append(ef.Tasks, et)
			}
			out.Frameworks = append(out.Frameworks, ef)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) axfr(w http.ResponseWriter, r *http.Request) {
	type zone struct {
		As    map[string][]string
		AAAAs map[string][]string
		SRVs  map[string][]string
	}
	out := struct {
		TTL            int
		Serial         uint32
		RefreshSeconds int
		Mname          string
		Rname          string
		Domain         string
		Records        zone
	}{TTL: a.o.TTL, RefreshSeconds: a.o.RefreshSeconds, Mname: a.o.Mname, Rname: a.o.Rname, Domain: a.o.Domain,
		Records: zone{map[string][]string{}, map[string][]string{}, map[string][]string{}}}
	if t := a.o.Table(); t != nil {
		out.Serial = t.Serial
		addrs := func(m map[string][]netip.Addr, dst map[string][]string) {
			for name, ips := range m {
				for _, ip := range ips {
					dst[name] = append(dst[name], ip.String())
				}
			}
		}
		addrs(t.A, out.Records.As)
		addrs(t.AAAA, out.Records.AAAAs)
		for name, srvs := range t.SRV {
			for _, s := range srvs {
				out.Records.SRVs[name] = append(out.Records.SRVs[name], s.Target+":"+strconv.Itoa(int(s.Port)))
			}
			sort.Strings(out.Records.SRVs[name])
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) health(w http.ResponseWriter, r *http.Request) {
	h := a.o.Health()
	status := http.StatusOK
	if !h.OK {
		status = http.StatusServiceUnavailable
	}
	b, _ := json.Marshal(h)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
