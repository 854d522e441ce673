package sim

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// fakeClock moves one millisecond per reading, so runs are reproducible.
func fakeClock() func() time.Time {
	t := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	return func() time.Time { t = t.Add(time.Millisecond); return t }
}

func deepCopy[T any](t *testing.T, v T) T {
	t.Helper()
	// reflect.DeepEqual against a value rebuilt field by field would miss
	// shared slices; a copy through a second cluster snapshot is not
	// independent either. So compare against a deep copy made by hand.
	return cloneValue(reflect.ValueOf(v)).Interface().(T)
}

func cloneValue(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		n := reflect.New(v.Elem().Type())
		n.Elem().Set(cloneValue(v.Elem()))
		return n
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		n := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			n.Index(i).Set(cloneValue(v.Index(i)))
		}
		return n
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		n := reflect.MakeMapWithSize(v.Type(), v.Len())
		for _, k := range v.MapKeys() {
			n.SetMapIndex(k, cloneValue(v.MapIndex(k)))
		}
		return n
	case reflect.Struct:
		n := reflect.New(v.Type()).Elem()
		for i := range v.NumField() {
			n.Field(i).Set(cloneValue(v.Field(i)))
		}
		return n
	}
	return v
}

// TestSnapshotsNeverChange takes snapshots, changes the cluster in every way
// it can change, and checks that the snapshots taken before are untouched.
func TestSnapshotsNeverChange(t *testing.T) {
	c := New(Config{Now: fakeClock(), Seed: 7, Masters: []cluster.MasterInfo{{PID: "master@127.0.0.1:5050", IP: "127.0.0.1", Port: 5050}}})
	c.AddAgents(3)
	hc := cluster.HealthCheck{Protocol: "MESOS_HTTP", Path: "/health"}
	if _, err := c.AddApp(cluster.App{ID: "/web", Instances: 2, PortDefinitions: []cluster.PortDefinition{{}},
		Labels: map[string]string{"a": "b"}, HealthChecks: []cluster.HealthCheck{hc}}); err != nil {
		t.Fatal(err)
	}
	mesos1, marathon1 := c.MesosState(), c.MarathonState()
	mesosCopy, marathonCopy := deepCopy(t, mesos1), deepCopy(t, marathon1)

	task := marathon1.Apps[0].Tasks[0].ID
	steps := []func() error{
		func() error { return c.SetHealth(task, false) },
		func() error { return c.ScaleApp("/web", 3) },
		func() error { return c.KillTask(task, false) },
		func() error {
			_, err := c.UpdateApp(cluster.App{ID: "/web", Instances: 2, PortDefinitions: []cluster.PortDefinition{{}}, Labels: map[string]string{"a": "c"}})
			return err
		},
		func() error { return c.LoseAgent(mesos1.Agents[0].ID) },
		func() error { return c.SetLeader(-1) },
		func() error { return c.DeleteApp("/web") },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if !reflect.DeepEqual(mesos1, mesosCopy) {
			t.Fatalf("step %d changed an earlier Mesos snapshot", i)
		}
		if !reflect.DeepEqual(marathon1, marathonCopy) {
			t.Fatalf("step %d changed an earlier Marathon snapshot", i)
		}
	}
	if got := c.MarathonState(); len(got.Apps) != 0 {
		t.Errorf("apps left after delete: %d", len(got.Apps))
	}
}

// TestSameSeedSameCluster checks that the seed and clock make a run
// reproducible: ids, placement and ports.
func TestSameSeedSameCluster(t *testing.T) {
	build := func() *cluster.MesosState {
		c := New(Config{Now: fakeClock(), Seed: 42})
		if err := c.BuildSynthetic(SyntheticSpec{Agents: 5, Apps: 6, Instances: 2}); err != nil {
			t.Fatal(err)
		}
		return c.MesosState()
	}
	a, b := build(), build()
	if !reflect.DeepEqual(a, b) {
		t.Error("two clusters from the same seed differ")
	}
	n := 0
	for _, f := range a.Frameworks {
		n += len(f.Tasks)
	}
	if n != 12 {
		t.Errorf("%d tasks, want 12", n)
	}
}

func TestValidateAppID(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"web", "/web", ""},
		{"/prod/api/", "/prod/api", ""},
		{"", "", "missing"},
		{"/Web", "", "lower-case"},
		{"/a//b", "", "empty"},
		{"/a/../b", "", "relative"},
		{"/-a", "", "must not start"},
	} {
		got, err := ValidateAppID(c.in)
		if c.err == "" && (err != nil || got != c.want) {
			t.Errorf("%q: %q, %v; want %q", c.in, got, err, c.want)
		}
		if c.err != "" && (err == nil || !contains(err.Error(), c.err)) {
			t.Errorf("%q: error %v, want one saying %q", c.in, err, c.err)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestAgentIPsStayOnLoopback(t *testing.T) {
	for _, i := range []int{0, 1, 253, 254, 255, 9999, 65023, 65024, 99999} {
		ip := agentIP(i)
		if ip[:4] != "127." {
			t.Errorf("agent %d: %s", i, ip)
		}
	}
	seen := map[string]bool{}
	for i := range 20000 {
		ip := agentIP(i)
		if seen[ip] {
			t.Fatalf("agent %d reuses %s", i, ip)
		}
		seen[ip] = true
	}
}
