package marathon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/signpost-dns/signpost/internal/source/httpfetch"
	wire "github.com/signpost-dns/signpost/internal/wire/marathon"
	"github.com/signpost-dns/signpost/internal/wire/sse"
)

const eventsSuffix = "/v2/events"

// ErrIdle ends a stream that was silent for longer than Config.IdleTimeout.
var ErrIdle = errors.New("event stream silent for longer than IdleTimeout")

// errStreamEnded is a stream the server closed. Marathon does so when it
// loses leadership, shuts down, or finds the consumer too slow (≥1.8).
var errStreamEnded = errors.New("event stream ended by the server")

// stream is one open /v2/events response.
type stream struct {
	body   io.ReadCloser
	base   string // base URL after redirects
	cancel context.CancelFunc
	idle   *time.Timer
	idled  atomic.Bool
}

func (s *stream) close() {
	s.idle.Stop()
	s.cancel()
	s.body.Close()
}

// activity resets the idle watchdog whenever bytes arrive, heartbeats
// included.
type activity struct {
	s       *stream
	timeout time.Duration
}

func (a activity) Read(p []byte) (int, error) {
	n, err := a.s.body.Read(p)
	if n > 0 {
		a.s.idle.Reset(a.timeout)
	}
	return n, err
}

// follow keeps the event stream open until ctx ends, and asks for a
// refetch on every relevant event and every reconnection. It closes first
// after its first connection round, successful or not, so that the initial
// fetch starts after the subscription.
func (f *Follower) follow(ctx context.Context, first chan<- struct{}) {
	firstDone := false
	done := func() {
		if !firstDone {
			firstDone = true
			close(first)
		}
	}
	defer done()
	b := f.newBackoff()
	for {
		s, i, err := f.connect(ctx)
		if ctx.Err() != nil {
			if s != nil {
				s.close()
			}
			return
		}
		if err != nil {
			f.streamDown(err)
			done()
			wait := b.next()
			f.cfg.Logger.Warn("cannot open the Marathon event stream; retrying",
				"retry_in", wait.Round(time.Millisecond), "err", err)
			if !sleep(ctx, wait) {
				return
			}
			continue
		}
		f.worked(i)
		f.mu.Lock()
		f.status.Connected = true
		f.status.URL = s.base
		f.mu.Unlock()
		f.cfg.Logger.Info("following Marathon events", "url", s.base)
		if firstDone {
			// Whatever happened while the stream was down is only in
			// /v2/apps: Marathon has no event replay.
			f.request(ReasonReconnect, 0)
		}
		done()
		opened := time.Now()
		err = f.read(s)
		s.close()
		if ctx.Err() != nil {
			return
		}
		f.streamDown(err)
		if time.Since(opened) > f.cfg.BackoffMax {
			// The stream was healthy for longer than the longest wait: this
			// is a new failure, not more of an old one.
			b.reset()
		}
		wait := b.next()
		f.cfg.Logger.Warn("Marathon event stream lost; reconnecting",
			"url", s.base, "retry_in", wait.Round(time.Millisecond), "err", err)
		if !sleep(ctx, wait) {
			return
		}
	}
}

// streamDown records a lost or unopenable stream.
func (f *Follower) streamDown(err error) {
	f.fail(err)
	f.mu.Lock()
	f.status.Connected = false
	f.status.Reconnects++
	f.mu.Unlock()
}

// connect opens the stream on the first URL that accepts, the last good one
// first, and returns it with the index of that URL.
func (f *Follower) connect(ctx context.Context) (*stream, int, error) {
	var errs []error
	for _, i := range f.order() {
		s, err := f.open(ctx, f.cfg.URLs[i])
		if err == nil {
			return s, i, nil
		}
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		errs = append(errs, &URLError{URL: f.cfg.URLs[i], Err: err})
	}
	return nil, 0, &roundError{what: "no Marathon URL opened the event stream", errs: errs}
}

// open requests the event stream from one URL. Timeout bounds the wait for
// the response headers; afterwards only IdleTimeout applies.
func (f *Follower) open(ctx context.Context, base string) (*stream, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+f.eventsPath, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	// Jetty's EventSourceServlet compares each Accept value with exactly
	// this string, else answers 405: no parameters, no other types.
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	req.Header.Set("User-Agent", UserAgent)
	f.setAuth(req)
	var timedOut atomic.Bool
	headers := time.AfterFunc(f.cfg.Timeout, func() {
		timedOut.Store(true)
		cancel()
	})
	resp, err := f.client.Do(req)
	headers.Stop()
	if err != nil {
		cancel()
		if timedOut.Load() {
			return nil, fmt.Errorf("no response headers within %v (Timeout)", f.cfg.Timeout)
		}
		return nil, httpfetch.RequestErr(ctx, req.URL.String(), err, f.cfg.Timeout)
	}
	from := baseOf(resp.Request.URL, eventsSuffix)
	via := ""
	if from != base {
		via = " (from " + from + ")"
	}
	fail := func(err error) (*stream, error) {
		resp.Body.Close()
		cancel()
		return nil, err
	}
	if timedOut.Load() {
		return fail(fmt.Errorf("no response headers within %v (Timeout)", f.cfg.Timeout))
	}
	if resp.StatusCode != http.StatusOK {
		// 405: the Accept header was rewritten on the way; 502/503: a
		// standby that knows no leader.
		return fail(fmt.Errorf("HTTP %s%s%s", resp.Status, via, httpfetch.BodySnippet(resp.Body)))
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/event-stream" {
		// A login page or a proxy's error page with status 200.
		return fail(fmt.Errorf("Content-Type %q is not text/event-stream%s%s",
			resp.Header.Get("Content-Type"), via, httpfetch.BodySnippet(resp.Body)))
	}
	s := &stream{body: resp.Body, base: from, cancel: cancel}
	s.idle = time.AfterFunc(f.cfg.IdleTimeout, func() {
		s.idled.Store(true)
		cancel()
	})
	return s, nil
}

// read handles events until the stream fails, ends or goes silent.
func (f *Follower) read(s *stream) error {
	r := sse.NewReader(activity{s: s, timeout: f.cfg.IdleTimeout})
	for {
		ev, err := r.Next()
		if err != nil {
			switch {
			case s.idled.Load():
				return fmt.Errorf("%w (%v)", ErrIdle, f.cfg.IdleTimeout)
			case errors.Is(err, io.EOF):
				return errStreamEnded
			}
			return fmt.Errorf("reading event stream: %w", err)
		}
		f.handle(ev)
	}
}

// handle acts on one event: a relevant one asks for a coalesced refetch.
func (f *Follower) handle(ev sse.Event) {
	now := f.cfg.Now()
	f.mu.Lock()
	f.status.LastEvent = now
	f.mu.Unlock()
	log := f.cfg.Logger

	if ev.Type != "" && !f.relevant[ev.Type] {
		// event_stream_attached, and anything a Marathon older than 1.3.7
		// sends because it ignores the event_type filter.
		log.Debug("ignoring Marathon event", "type", ev.Type)
		return
	}
	events, err := decodeEvents(ev.Type, ev.Data)
	if err != nil {
		// Something relevant happened, even if it cannot be read: refetch
		// rather than miss a change.
		typ := ev.Type
		if typ == "" {
			typ = "malformed"
		}
		f.mu.Lock()
		f.status.Events++
		f.status.MalformedEvents++
		f.mu.Unlock()
		log.Warn("malformed Marathon event; refetching anyway", "type", ev.Type, "err", err,
			"data", httpfetch.Quote(ev.Data))
		f.request(ReasonEventPrefix+typ, f.cfg.Coalesce)
		return
	}
	for _, e := range events {
		if !f.relevant[e.Type] {
			log.Debug("ignoring Marathon event", "type", e.Type)
			continue
		}
		f.mu.Lock()
		f.status.Events++
		f.mu.Unlock()
		if log.Enabled(context.Background(), slog.LevelDebug) {
			log.Debug("Marathon event", "type", e.Type, "subject", subject(e))
		}
		switch {
		case patchable(e):
			// Applied at once by the fetch loop, which asks for the
			// usual refetch only if the event cannot be applied; else
			// a confirming refetch follows once the events pause.
			f.addPatch(e)
			f.confirm(ReasonEventPrefix + e.Type)
		case echoes(e.Type):
			f.confirm(ReasonEventPrefix + e.Type)
		default:
			f.request(ReasonEventPrefix+e.Type, f.cfg.Coalesce)
		}
	}
}

// echoes reports whether events of a type only repeat what the applicable
// events around them say: the instance view of a status update or health
// change, and the end of a deployment whose steps were task events. They
// need no quick refetch of their own; the confirming one covers them.
// (deployment_failed is not one: a rollback can end without task events.)
func echoes(typ string) bool {
	switch typ {
	case wire.EventInstanceChanged, wire.EventInstanceHealthChanged, wire.EventDeploymentSuccess:
		return true
	}
	return false
}

// decodeEvents decodes the data of one SSE event. Marathon sends one JSON
// document per event, but Marathon-LB accepts several separated by line
// breaks, so this does too.
func decodeEvents(typ string, data []byte) ([]wire.Event, error) {
	e, err := wire.DecodeEvent(typ, data)
	if err == nil {
		return []wire.Event{e}, nil
	}
	if !bytes.ContainsAny(data, "\r\n") {
		return nil, err
	}
	var out []wire.Event
	for _, line := range bytes.FieldsFunc(data, func(r rune) bool { return r == '\r' || r == '\n' }) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		e, lerr := wire.DecodeEvent(typ, line)
		if lerr != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, err
	}
	return out, nil
}

// subject names what an event is about, for the debug log.
func subject(e wire.Event) string {
	switch {
	case e.StatusUpdate != nil:
		return e.StatusUpdate.TaskID + " " + string(e.StatusUpdate.TaskStatus)
	case e.HealthStatusChanged != nil:
		return fmt.Sprintf("%s alive=%v", e.HealthStatusChanged.AppID, e.HealthStatusChanged.Alive)
	case e.InstanceChanged != nil:
		return e.InstanceChanged.InstanceID + " " + e.InstanceChanged.Condition
	case e.InstanceHealthChanged != nil:
		return e.InstanceHealthChanged.InstanceID
	case e.APIPost != nil:
		return e.APIPost.App.ID
	case e.AppTerminated != nil:
		return e.AppTerminated.AppID
	case e.Deployment != nil:
		return e.Deployment.ID
	}
	return ""
}
