package routes

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// mkApp is a host-networked app in group "external" with one port
// definition per service port; labels "" values delete a default label.
func mkApp(id string, servicePorts []int, labels map[string]string, tasks ...cluster.AppTask) cluster.App {
	l := map[string]string{"HAPROXY_GROUP": "external"}
	for k, v := range labels {
		if v == "<unset>" {
			delete(l, k)
			continue
		}
		l[k] = v
	}
	a := cluster.App{ID: id, Instances: len(tasks), Labels: l}
	for _, p := range servicePorts {
		a.PortDefinitions = append(a.PortDefinitions, cluster.PortDefinition{Port: p, Protocol: "tcp"})
	}
	for i := range tasks {
		tasks[i].AppID = id
	}
	a.Tasks = tasks
	return a
}

// mkTask is a running task on host (an IP) with host ports.
func mkTask(id, host string, ports ...int) cluster.AppTask {
	return cluster.AppTask{ID: id, Host: host, State: cluster.TaskRunning, Ports: ports,
		IPAddresses: []cluster.IPAddress{{IP: host, Protocol: "IPv4"}}}
}

func flagsWith(groups ...string) Flags {
	f := DefaultFlags()
	f.Groups = groups
	if len(groups) == 0 {
		f.Groups = []string{"external"}
	}
	return f
}

func build(t *testing.T, f Flags, apps ...cluster.App) (*Table, []Problem) {
	t.Helper()
	return Build(&cluster.MarathonState{Apps: apps}, f, HealthCache{})
}

func backendNames(t *Table) []string {
	var out []string
	for _, s := range t.Services {
		out = append(out, s.Backend.Name)
	}
	return out
}

func serverAddrs(b *Backend) []string {
	var out []string
	for _, s := range b.Servers {
		a := s.HostPort
		if s.Draining {
			a += " draining"
		}
		out = append(out, a)
	}
	return out
}

func mustBackend(t *testing.T, tab *Table, name string) *Backend {
	t.Helper()
	b := tab.Backend(name)
	if b == nil {
		t.Fatalf("no backend %s; have %v", name, backendNames(tab))
	}
	return b
}

// disabled lists the problems that disabled something, as "app/index/label".
func disabled(ps []Problem) []string {
	var out []string
	for _, p := range ps {
		if p.Disabled {
			out = append(out, fmt.Sprintf("%s/%d/%s", p.AppID, p.PortIndex, p.Label))
		}
	}
	slices.Sort(out)
	return out
}

func warnings(ps []Problem) []string {
	var out []string
	for _, p := range ps {
		if !p.Disabled {
			out = append(out, p.String())
		}
	}
	return out
}

func routeNames(rules []RouteRule) []string {
	var out []string
	for _, r := range rules {
		if r.Map != nil {
			out = append(out, "<map>")
			continue
		}
		s := r.Backend.Name + " " + strings.Join(r.Hosts, ",")
		for _, p := range r.Paths {
			s += " " + p.Prefix
		}
		out = append(out, s)
	}
	return out
}

func eqStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}
