// Package faults injects latency and errors into the simulator's endpoints,
// so that tests can see how clients behave when Mesos or Marathon is slow or
// failing — things a healthy simulator would never show them.
package faults

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Rule slows down or fails requests to one service whose path starts with Path.
type Rule struct {
	// Target is "mesos" or "marathon".
	Target string `json:"target"`
	// Path is a path prefix; empty matches every path.
	Path string `json:"path"`
	// LatencyMS delays each matching request.
	LatencyMS int `json:"latencyMs"`
	// Status, when non-zero, answers matching requests with this HTTP status
	// instead of serving them; 0 serves them (after the latency).
	Status int `json:"status"`
	// Every applies the error to every Nth matching request (default 1: all).
	// Counting, not chance, keeps tests deterministic.
	Every int `json:"every"`
	// Drop, when true, closes the connection without answering.
	Drop bool `json:"drop"`
}

// Validate names what is wrong with a rule.
func (r Rule) Validate() error {
	switch r.Target {
	case "mesos", "marathon":
	default:
		return fmt.Errorf(`fault "target": %q is not "mesos" or "marathon"`, r.Target)
	}
	if r.LatencyMS < 0 || r.LatencyMS > 600_000 {
		return fmt.Errorf(`fault "latencyMs": %d is outside 0..600000`, r.LatencyMS)
	}
	if r.Status != 0 && (r.Status < 100 || r.Status > 599) {
		return fmt.Errorf(`fault "status": %d is not an HTTP status`, r.Status)
	}
	if r.Every < 0 {
		return fmt.Errorf(`fault "every": %d is negative`, r.Every)
	}
	if r.Path != "" && !strings.HasPrefix(r.Path, "/") {
		return fmt.Errorf(`fault "path": %q must start with "/"`, r.Path)
	}
	return nil
}

// Set is the current set of rules; the zero value has none.
type Set struct {
	mu    sync.Mutex
	rules []*rule
}

type rule struct {
	Rule
	seen int
}

// Add installs a rule after validating it.
func (s *Set) Add(r Rule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if r.Every == 0 {
		r.Every = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = append(s.rules, &rule{Rule: r})
	return nil
}

// Clear removes every rule.
func (s *Set) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = nil
}

// Rules lists the installed rules.
func (s *Set) Rules() []Rule {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Rule, len(s.rules))
	for i, r := range s.rules {
		out[i] = r.Rule
	}
	return out
}

// match returns the latency to add and the failure to apply to a request.
func (s *Set) match(target, path string) (latency time.Duration, status int, drop bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.rules {
		if r.Target != target || !strings.HasPrefix(path, r.Path) {
			continue
		}
		latency += time.Duration(r.LatencyMS) * time.Millisecond
		if r.Status == 0 && !r.Drop {
			continue
		}
		r.seen++
		if r.seen%r.Every == 0 {
			if r.Drop {
				drop = true
			} else if status == 0 {
				status = r.Status
			}
		}
	}
	return latency, status, drop
}

// Wrap applies the rules for target to h.
func (s *Set) Wrap(target string, h http.Handler) http.Handler {
	if s == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		latency, status, drop := s.match(target, r.URL.Path)
		if latency > 0 {
			t := time.NewTimer(latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if drop {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler)
		}
		if status != 0 {
			http.Error(w, fmt.Sprintf("injected fault: %d %s", status, http.StatusText(status)), status)
			return
		}
		h.ServeHTTP(w, r)
	})
}
