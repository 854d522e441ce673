package e2e

import (
	"slices"
	"strings"

	"github.com/signpost-dns/signpost/internal/testutil/haproxycfg"
)

// This file decides, from what a Marathon-LB HAProxy configuration (a
// conformance case's expected.cfg, read by testutil/haproxycfg) says alone,
// where a request goes. Like that parser it is independent of
// internal/lb/routes, so that the tests check signpost against the oracle,
// not against signpost's own model.

// outcome is what the oracle configuration does with one request.
type outcome struct {
	// kind is "forward", "redirect", "auth" or "none" (503).
	kind    string
	backend string
	realm   string
}

func (o outcome) String() string {
	switch o.kind {
	case "forward":
		return "forward to " + o.backend
	case "auth":
		return "401 realm " + o.realm
	}
	return o.kind
}

// matches reports whether a request for host and path meets r's condition.
// Credentials are not modelled: the requests carry none.
func matches(r *haproxycfg.Rule, host, path string) bool {
	if len(r.Hosts) > 0 && !slices.ContainsFunc(r.Hosts, func(h string) bool { return strings.EqualFold(h, host) }) {
		return false
	}
	if len(r.Paths) > 0 && !slices.ContainsFunc(r.Paths, func(p haproxycfg.Path) bool {
		if len(path) < len(p.Prefix) {
			return false
		}
		if p.IgnoreCase {
			return strings.EqualFold(path[:len(p.Prefix)], p.Prefix)
		}
		return path[:len(p.Prefix)] == p.Prefix
	}) {
		return false
	}
	return true
}

// decide is HAProxy's evaluation of a shared frontend for a request without
// credentials: auth rules, then redirects, then the first use_backend. host
// has no port (Signpost ignores the port, see the routes package doc).
func decide(s *haproxycfg.Shared, host, path string) outcome {
	for _, r := range s.Auth {
		if matches(&r, host, path) {
			return outcome{kind: "auth", realm: r.Realm}
		}
	}
	for _, r := range s.Redirect {
		if matches(&r, host, path) {
			return outcome{kind: "redirect"}
		}
	}
	for _, r := range s.Route {
		if r.Map != nil {
			if b, ok := r.Map[strings.ToLower(host)]; ok {
				return outcome{kind: "forward", backend: b}
			}
			return outcome{kind: "none"}
		}
		if matches(&r, host, path) {
			return outcome{kind: "forward", backend: r.Backend}
		}
	}
	return outcome{kind: "none"}
}

// decideAppID routes an X-Marathon-App-Id value.
func decideAppID(a *haproxycfg.AppID, id string) outcome {
	for _, r := range a.Rules {
		if len(r.AppIDs) == 0 || slices.ContainsFunc(r.AppIDs, func(x string) bool { return strings.EqualFold(x, id) }) {
			return outcome{kind: "forward", backend: r.Backend}
		}
	}
	if b, ok := a.Map[strings.ToLower(id)]; ok {
		return outcome{kind: "forward", backend: b}
	}
	return outcome{kind: "none"}
}

// balance is b's algorithm, HAProxy's default when it names none.
func balance(b *haproxycfg.Backend) string {
	if b.Balance == "" {
		return "roundrobin"
	}
	return b.Balance
}
