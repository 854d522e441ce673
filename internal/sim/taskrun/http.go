package taskrun

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Paths with a meaning of their own on HTTP tasks; every other path gets the
// plain [Info] reply.
const (
	// HealthPath answers 200 with [Info], or 503 with [Info] after
	// SetHealthy(id, false), for load balancer health checks.
	HealthPath = "/health"
	// EchoPath answers 200 with the request body (up to [MaxEchoBytes]) and
	// the request's Content-Type, to check that a proxy passes bodies intact.
	EchoPath = "/echo"
	// SlowPath?ms=N waits N milliseconds (at most [MaxSlow]) before answering
	// 200 with [Info]; it keeps a request in flight for tests of connection
	// draining. It returns early, without an answer, if the request's context
	// ends (the client left or the task was killed): the connection is then
	// closed without a response.
	SlowPath = "/slow"
)

const (
	// MaxSlow caps the wait of [SlowPath], so a typo cannot hold a task's
	// shutdown hostage for long.
	MaxSlow = 60 * time.Second
	// MaxEchoBytes caps the body [EchoPath] buffers; larger bodies get 413.
	MaxEchoBytes = 8 << 20
)

// Timeouts of HTTP tasks. They protect the simulator from clients that open
// connections and then stall; none is short enough to cut a legitimate test
// request, and WriteTimeout leaves room for the longest [SlowPath] wait.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute
	writeTimeout      = MaxSlow + 30*time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
)

// Info is the JSON body HTTP tasks answer with, so a client (or a test
// behind a load balancer) learns exactly which task and port it reached.
type Info struct {
	TaskID string `json:"taskId"`
	AppID  string `json:"appId"`
	// Port is the port of the listener that took the request.
	Port int `json:"port"`
	// Host is the IP the task listens on, as Marathon reports a task's host.
	Host string `json:"host"`
	// Path is the request's URL path.
	Path string `json:"path"`
}

// httpServer serves one port of an HTTP task.
type httpServer struct {
	srv *http.Server
	// kill ends the base context of every request, so handlers that wait
	// (SlowPath) return when the task is killed rather than when they are
	// done.
	kill context.CancelFunc
	// serving is the Serve goroutine; conns counts connections from StateNew
	// to StateClosed, whose goroutines also run the handlers. Together they
	// let shutdown return only when nothing of the server is left running.
	serving sync.WaitGroup
	conns   sync.WaitGroup
}

func startHTTP(t *task, ln net.Listener, port int) *httpServer {
	base, kill := context.WithCancel(context.Background())
	s := &httpServer{kill: kill}
	s.srv = &http.Server{
		Handler:           &handler{t: t, port: port, host: ln.Addr().(*net.TCPAddr).IP.String()},
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(t.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return base },
		ConnState:         s.connState,
	}
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.log.Warn("serving stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return s
}

// connState tracks connections. StateNew is reported by the Serve goroutine
// before it can return, so once Serve has returned no Add can follow, which
// is what makes waiting on conns safe.
func (s *httpServer) connState(_ net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		s.conns.Add(1)
	case http.StateClosed, http.StateHijacked:
		s.conns.Done()
	}
}

// shutdown drains with http.Server.Shutdown, which closes the listener and
// idle keep-alive connections at once and closes busy ones after their
// current response. If ctx ends first, the task is killed: request contexts
// are cancelled and every connection is closed.
func (s *httpServer) shutdown(ctx context.Context) {
	if err := s.srv.Shutdown(ctx); err != nil {
		// Connections first, contexts second: a handler woken by its
		// context must find its connection already gone, or it could still
		// get a response out of a task that is supposed to be dead.
		s.srv.Close()
		s.kill()
	}
	s.serving.Wait()
	s.conns.Wait()
	s.kill()
}

// handler answers requests for one port of one task.
type handler struct {
	t    *task
	port int
	// host is the IP this listener is bound to: a task may have two.
	host string
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f := h.t.hooks.started; f != nil {
		f(h.t.spec.TaskID, r.URL.Path)
	}
	if f := h.t.hooks.finished; f != nil {
		defer func() { f(h.t.spec.TaskID, r.URL.Path, r.Context().Err()) }()
	}

	// The ids go in headers as well as the body so that clients which do not
	// read bodies (health checkers, proxies' logs) still see who answered.
	w.Header().Set("X-Task-Id", h.t.spec.TaskID)
	w.Header().Set("X-App-Id", h.t.spec.AppID)

	switch r.URL.Path {
	case HealthPath:
		status := http.StatusOK
		if !h.t.healthy.Load() {
			status = http.StatusServiceUnavailable
		}
		h.info(w, r, status)
	case EchoPath:
		h.echo(w, r)
	case SlowPath:
		h.slow(w, r)
	default:
		h.info(w, r, http.StatusOK)
	}
}

func (h *handler) info(w http.ResponseWriter, r *http.Request, status int) {
	body, err := json.Marshal(Info{
		TaskID: h.t.spec.TaskID,
		AppID:  h.t.spec.AppID,
		Port:   h.port,
		Host:   h.host,
		Path:   r.URL.Path,
	})
	if err != nil { // cannot happen: strings and an int
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	body = append(body, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// echo buffers the whole body before answering because an HTTP/1 server may
// not read a request body once it has started the response.
func (h *handler) echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxEchoBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			http.Error(w, "body larger than "+strconv.Itoa(MaxEchoBytes)+" bytes", http.StatusRequestEntityTooLarge)
		}
		return // otherwise the client is gone
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

func (h *handler) slow(w http.ResponseWriter, r *http.Request) {
	ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
	if err != nil || ms < 0 {
		http.Error(w, "slow: want ms=N with N >= 0 milliseconds", http.StatusBadRequest)
		return
	}
	// Cap before converting: a huge N would overflow a Duration.
	d := time.Duration(min(ms, int(MaxSlow/time.Millisecond))) * time.Millisecond
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		h.info(w, r, http.StatusOK)
	case <-r.Context().Done():
		// The client left or the task was killed. Returning normally would
		// make net/http send an empty 200, which a client could take for an
		// answer; aborting closes the connection without one.
		panic(http.ErrAbortHandler)
	}
}
