package service

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/signpost-dns/signpost/internal/lb/routes"
)

func TestProblemLogOncePerChange(t *testing.T) {
	var buf bytes.Buffer
	p := newProblemLog(slog.New(slog.NewTextHandler(&buf, nil)))
	weight := routes.Problem{AppID: "/a", PortIndex: 0, Label: "HAPROXY_0_BACKEND_WEIGHT", Reason: "not an integer", Disabled: true}
	ignored := routes.Problem{AppID: "/b", PortIndex: 0, Label: "HAPROXY_0_AUTH", Reason: "no vhost"}
	skipped := errors.New("apps[3]: bad")
	listener := errors.New("listen tcp :80: address already in use")
	steps := []struct {
		problems        []routes.Problem
		skipped, listen []error
		logs            []string
		counts          map[problemKey]int
	}{
		{[]routes.Problem{weight, weight}, nil, nil, []string{`msg="route left out" app=/a`},
			map[problemKey]int{{"HAPROXY_0_BACKEND_WEIGHT", "disabled"}: 1}},
		{[]routes.Problem{weight}, nil, nil, nil, map[problemKey]int{{"HAPROXY_0_BACKEND_WEIGHT", "disabled"}: 1}},
		{[]routes.Problem{weight, ignored}, []error{skipped}, []error{listener},
			[]string{`msg="route input ignored" app=/b`, `msg="malformed app or task`, `level=ERROR msg="listener not serving; retrying"`},
			map[problemKey]int{{"HAPROXY_0_BACKEND_WEIGHT", "disabled"}: 1, {"HAPROXY_0_AUTH", "ignored"}: 1, {"", "skipped"}: 1, {"", "listener"}: 1}},
		{[]routes.Problem{ignored}, nil, nil, []string{`msg="problem resolved"`, `msg="problem resolved"`, `msg="problem resolved"`},
			map[problemKey]int{{"HAPROXY_0_AUTH", "ignored"}: 1}},
		{nil, nil, nil, []string{`msg="problem resolved"`}, map[problemKey]int{}},
		{nil, nil, nil, nil, map[problemKey]int{}},
	}
	for i, s := range steps {
		buf.Reset()
		p.report(s.problems, s.skipped, s.listen, nil)
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if buf.Len() == 0 {
			lines = nil
		}
		if len(lines) != len(s.logs) {
			t.Errorf("step %d: %d log lines, want %d:\n%s", i, len(lines), len(s.logs), buf.String())
			continue
		}
		for j, want := range s.logs {
			if !strings.Contains(lines[j], want) {
				t.Errorf("step %d line %d: %q lacks %q", i, j, lines[j], want)
			}
		}
		got := p.counts()
		if len(got) != len(s.counts) {
			t.Errorf("step %d: counts %v, want %v", i, got, s.counts)
		}
		for k, n := range s.counts {
			if got[k] != n {
				t.Errorf("step %d: counts %v, want %v", i, got, s.counts)
			}
		}
	}
}
