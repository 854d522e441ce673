package service

import (
	"log/slog"
	"maps"
	"slices"

	"github.com/signpost-dns/signpost/internal/lb/routes"
)

// problemKey groups problems for the signpost_lb_problems gauge: by the
// label at fault (empty when none) and by what happened.
type problemKey struct {
	label string
	// kind is "disabled" (a service, app or task left out), "ignored"
	// (input without effect), "skipped" (an app or task Marathon sent that
	// did not decode), "listener" (a listener that could not be opened) or
	// "healthcheck" (an active check that cannot run).
	kind string
}

// problemLog logs each problem once when it appears and once when it is
// gone: a table is rebuilt on every Marathon event, and a malformed label
// would otherwise repeat its warning on every task change in the cluster.
type problemLog struct {
	log  *slog.Logger
	last map[string]problemKey
}

func newProblemLog(log *slog.Logger) *problemLog {
	return &problemLog{log: log, last: map[string]problemKey{}}
}

// report takes the problems of one build and logs what changed.
func (p *problemLog) report(problems []routes.Problem, skipped, applyErrs, checkErrs []error) {
	now := make(map[string]problemKey, len(problems)+len(skipped)+len(applyErrs)+len(checkErrs))
	add := func(msg string, k problemKey, log func()) {
		if _, dup := now[msg]; dup {
			return
		}
		now[msg] = k
		if _, seen := p.last[msg]; !seen {
			log()
		}
	}
	for _, pr := range problems {
		k := problemKey{label: pr.Label, kind: "ignored"}
		if pr.Disabled {
			k.kind = "disabled"
		}
		add(pr.String(), k, func() {
			attrs := []any{"app", pr.AppID, "problem", pr.String()}
			if pr.Label != "" {
				attrs = append(attrs, "label", pr.Label)
			}
			if pr.Disabled {
				p.log.Warn("route left out", attrs...)
			} else {
				p.log.Warn("route input ignored", attrs...)
			}
		})
	}
	for _, err := range skipped {
		add("skipped: "+err.Error(), problemKey{kind: "skipped"}, func() {
			p.log.Warn("malformed app or task in Marathon's answer left out", "err", err)
		})
	}
	for _, err := range applyErrs {
		add("listener: "+err.Error(), problemKey{kind: "listener"}, func() {
			p.log.Error("listener not serving; retrying", "err", err)
		})
	}
	for _, err := range checkErrs {
		add("health check: "+err.Error(), problemKey{kind: "healthcheck"}, func() {
			p.log.Warn("health check cannot run; its servers are taken for up", "err", err)
		})
	}
	for _, msg := range slices.Sorted(maps.Keys(p.last)) {
		if _, still := now[msg]; !still {
			p.log.Info("problem resolved", "problem", msg)
		}
	}
	p.last = now
}

// counts is the number of current problems by key.
func (p *problemLog) counts() map[problemKey]int {
	c := map[problemKey]int{}
	for _, k := range p.last {
		c[k]++
	}
	return c
}
