package simserver

import (
	"context"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/testutil/fixtures"
	"github.com/signpost-dns/signpost/internal/wire/marathon"
	"github.com/signpost-dns/signpost/internal/wire/mesosstate"
)

func globFixtures(t *testing.T, patterns ...string) []string {
	t.Helper()
	var files []string
	for _, p := range patterns {
		files = append(files, fixtures.Glob(t, p)...)
	}
	return files
}

// withoutMasterIdentity clears what the simulator deliberately replaces: the
// identity of the master serving the state.
func withoutMasterIdentity(st *cluster.MesosState) cluster.MesosState {
	c := *st
	c.PID, c.Hostname, c.Leader, c.LeaderInfo, c.ElectedTime = "", "", "", nil, 0
	return c
}

// TestServesMesosFixturesFaithfully loads each captured Mesos state and
// checks that /master/state (and its aliases) decode to the same model as the
// capture itself.
func TestServesMesosFixturesFaithfully(t *testing.T) {
	files := globFixtures(t, "mesos-state/*.json", "mesos-dns/fake*.json")
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			want, _, err := LoadStateFile(file)
			if err != nil {
				t.Fatal(err)
			}
			s := startSim(t, context.Background(), Config{StateFile: file})
			for _, path := range []string{"/master/state", "/state", "/master/state.json", "/state.json"} {
				body := do(t, "GET", s.MasterURLs[0]+path, "", http.StatusOK)
				got, skipped, err := mesosstate.Decode(body)
				if err != nil || len(skipped) > 0 {
					t.Fatalf("%s: decode: %v %v", path, err, skipped)
				}
				if got.Leader != s.Cluster.MesosState().Leader || !strings.HasPrefix(got.Leader, "master@127.0.0.1:") {
					t.Errorf("%s: leader %q is not the simulated master", path, got.Leader)
				}
				g, w := withoutMasterIdentity(got), withoutMasterIdentity(want)
				if !reflect.DeepEqual(g, w) {
					t.Errorf("%s: served state differs from the fixture's model", path)
					diffStates(t, &g, &w)
				}
			}
		})
	}
}

func diffStates(t *testing.T, got, want *cluster.MesosState) {
	t.Helper()
	if len(got.Agents) != len(want.Agents) {
		t.Errorf("agents: %d vs %d", len(got.Agents), len(want.Agents))
	}
	for i := range min(len(got.Agents), len(want.Agents)) {
		if !reflect.DeepEqual(got.Agents[i], want.Agents[i]) {
			t.Errorf("agent %d:\n got %+v\nwant %+v", i, got.Agents[i], want.Agents[i])
		}
	}
	if len(got.Frameworks) != len(want.Frameworks) {
		t.Errorf("frameworks: %d vs %d", len(got.Frameworks), len(want.Frameworks))
		return
	}
	for i := range got.Frameworks {
		gf, wf := got.Frameworks[i], want.Frameworks[i]
		if len(gf.Tasks) != len(wf.Tasks) {
			t.Errorf("framework %s: %d tasks vs %d", wf.ID, len(gf.Tasks), len(wf.Tasks))
			continue
		}
		for j := range gf.Tasks {
			if !reflect.DeepEqual(gf.Tasks[j], wf.Tasks[j]) {
				t.Errorf("task %s:\n got %+v\nwant %+v", wf.Tasks[j].ID, gf.Tasks[j], wf.Tasks[j])
			}
		}
		gf.Tasks, wf.Tasks = nil, nil
		if !reflect.DeepEqual(gf, wf) {
			t.Errorf("framework %d:\n got %+v\nwant %+v", i, gf, wf)
		}
	}
	g, w := *got, *want
	g.Agents, g.Frameworks, w.Agents, w.Frameworks = nil, nil, nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Errorf("top level:\n got %+v\nwant %+v", g, w)
	}
}

// TestServesMarathonFixturesFaithfully does the same for Marathon apps
// documents and /v2/apps?embed=apps.tasks.
func TestServesMarathonFixturesFaithfully(t *testing.T) {
	files := globFixtures(t, "marathon/v2-apps-embed-tasks-*.json", "marathon-lb/conformance/*/apps.json")
	for _, file := range files {
		name := strings.TrimPrefix(file, fixtures.Dir(t)+"/")
		t.Run(name, func(t *testing.T) {
			_, want, err := LoadStateFile(file)
			if err != nil {
				t.Fatal(err)
			}
			s := startSim(t, context.Background(), Config{StateFile: file})
			body := do(t, "GET", s.MarathonURL+"/v2/apps?embed=apps.tasks", "", http.StatusOK)
			got, skipped, err := marathon.DecodeApps(body)
			if err != nil || len(skipped) > 0 {
				t.Fatalf("decode: %v %v", err, skipped)
			}
			if !reflect.DeepEqual(got, want) {
				for i := range min(len(got.Apps), len(want.Apps)) {
					if !reflect.DeepEqual(got.Apps[i], want.Apps[i]) {
						t.Errorf("app %s:\n got %+v\nwant %+v", want.Apps[i].ID, got.Apps[i], want.Apps[i])
					}
				}
				if len(got.Apps) != len(want.Apps) {
					t.Errorf("%d apps, want %d", len(got.Apps), len(want.Apps))
				}
			}
			// The Mesos view holds one task per Marathon task.
			n := 0
			for _, a := range want.Apps {
				n += len(a.Tasks)
			}
			st, _, err := mesosstate.Decode(do(t, "GET", s.MasterURLs[0]+"/master/state", "", http.StatusOK))
			if err != nil {
				t.Fatal(err)
			}
			m := 0
			for _, f := range st.Frameworks {
				m += len(f.Tasks)
			}
			if m != n {
				t.Errorf("Mesos state has %d tasks, Marathon %d", m, n)
			}
		})
	}
}
