package records

import (
	"net/netip"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// syntheticState is a large cluster shaped like a real Marathon one: apps of
// 20 instances named the way Marathon names tasks ("app.group"), each task
// with two host ports and a container IP in its latest RUNNING status, and
// DiscoveryInfo with two named ports on every other app.
func syntheticState(agents, tasks int) *cluster.MesosState {
	st := &cluster.MesosState{Leader: "master@10.0.0.1:5050"}
	const idBase = "7c8a1b2e-3d4f-4a5b-8c6d-9e0f1a2b3c4d-S"
	st.Agents = make([]cluster.Agent, agents)
	for i := range st.Agents {
		ip := netip.AddrFrom4([4]byte{10, 128 + byte(i>>16), byte(i >> 8), byte(i)})
		st.Agents[i] = cluster.Agent{ID: idBase + strconv.Itoa(i), PID: "slave(1)@" + ip.String() + ":5051", Active: true}
	}
	fw := cluster.Framework{ID: "fw-marathon-0000", Name: "marathon", PID: "scheduler(1)@10.0.0.2:8080", Active: true}
	fw.Tasks = make([]cluster.Task, tasks)
	var di *cluster.DiscoveryInfo
	var name string
	for i := range fw.Tasks {
		app := i / 20
		if i%20 == 0 {
			name = "app" + strconv.Itoa(app) + ".group" + strconv.Itoa(app%50)
			di = nil
			if app%2 == 0 {
				di = &cluster.DiscoveryInfo{Name: name, Visibility: "FRAMEWORK", Ports: []cluster.DiscoveryPort{
					{Number: 8080, Protocol: "tcp", Name: "http"},
					{Number: 8443, Protocol: "tcp", Name: "https"},
				}}
			}
		}
		ip := netip.AddrFrom4([4]byte{172, 16 + byte(i>>16), byte(i >> 8), byte(i)})
		port := 31000 + 2*(i%1000)
		fw.Tasks[i] = cluster.Task{
			ID:          "app" + strconv.Itoa(app) + "_group" + strconv.Itoa(app%50) + "." + strconv.FormatInt(int64(0x1b2c3d4e+i), 16) + "-11e4-a088-c20493233aa5",
			Name:        name,
			FrameworkID: fw.ID,
			AgentID:     st.Agents[i%agents].ID,
			State:       cluster.TaskRunning,
			Ports:       []cluster.PortRange{{Begin: port, End: port + 1}},
			Statuses: []cluster.TaskStatus{
				{State: cluster.TaskStarting, Timestamp: 1.7e9},
				{State: cluster.TaskRunning, Timestamp: 1.7e9 + 1, Healthy: boolp(true),
					NetworkInfos: []cluster.NetworkInfo{{Name: "dcos", IPAddresses: []cluster.IPAddress{{IP: ip.String(), Protocol: "IPv4"}}}}},
			},
			Discovery: di,
		}
	}
	st.Frameworks = []cluster.Framework{fw}
	return st
}

func heapObjectBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// peakSampler polls the heap every half millisecond until stopped and
// returns the highest value seen: what Build needs at its peak, garbage
// included, which is what the 500 MB budget is about.
func peakSampler() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(500 * time.Microsecond)
		defer t.Stop()
		for {
			if v := heapObjectBytes(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		if v := heapObjectBytes(); v > peak.Load() {
			peak.Store(v)
		}
		return peak.Load()
	}
}

// BenchmarkBuild100k builds the table of a 10,000-agent, 100,000-task
// cluster. Targets: under 1 s per Build and under 500 MB of heap growth at
// the peak, on a 2-core machine.
//
//	go test ./internal/dns/records -run '^$' -bench Build100k -benchtime 5x
//
// Metrics besides ns/op, B/op and allocs/op:
//   - peak-heap-MB: heap growth at its highest during Build, garbage
//     included (sampled every 0.5 ms with runtime/metrics, which unlike
//     ReadMemStats does not stop the world);
//   - heap-growth-MB: runtime.ReadMemStats HeapAlloc right after Build minus
//     before it (after a GC), i.e. the table plus the garbage not yet
//     collected;
//   - table-MB: what the finished Table keeps alive (HeapAlloc after a GC,
//     minus before);
//   - cpu-ms/op: CPU time of the whole process per Build, garbage collection
//     on both cores included;
//   - min-wall-ms: the fastest Build. On a machine shared with other work
//     ns/op is the mean of what the neighbours left over.
func BenchmarkBuild100k(b *testing.B) { benchBuild100k(b, nil) }

// BenchmarkBuild100kPaced is the same build as the DNS server runs it, with
// a Yield (here one that returns at once): bounded map hints (see mapHint)
// and the finishing done in one goroutine. The difference to
// BenchmarkBuild100k is what never pausing queries costs.
func BenchmarkBuild100kPaced(b *testing.B) { benchBuild100k(b, func() {}) }

func benchBuild100k(b *testing.B, yield func()) {
	st := syntheticState(10_000, 100_000)
	cfg := Config{
		Domain: "mesos", HealthFilter: true, PTROn: true,
		NSAddrs: []netip.Addr{netip.MustParseAddr("10.0.0.3")},
		Masters: []string{"10.0.0.1:5050", "10.0.0.4:5050", "10.0.0.5:5050"},
		Yield:   yield,
	}
	var peak, growth, table, names, values float64
	var cpu, minWall time.Duration
	var ms runtime.MemStats
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		base, sampledBase := ms.HeapAlloc, heapObjectBytes()
		stop := peakSampler()
		c0, t0 := processCPU(), time.Now()
		b.StartTimer()

		tb, warns := Build(st, cfg)

		b.StopTimer()
		c1, w := processCPU(), time.Since(t0)
		p := stop()
		runtime.ReadMemStats(&ms)
		growth = max(growth, float64(ms.HeapAlloc-base)/1e6)
		runtime.GC()
		runtime.ReadMemStats(&ms)
		if len(warns) > 0 {
			b.Fatal(warns)
		}
		cpu += c1 - c0
		if minWall == 0 || w < minWall {
			minWall = w
		}
		peak = max(peak, float64(p-sampledBase)/1e6)
		table = float64(ms.HeapAlloc-base) / 1e6
		names, values = 0, 0
		for _, c := range tb.Counts() {
			names += float64(c[0])
			values += float64(c[1])
		}
		runtime.KeepAlive(tb)
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(minWall.Milliseconds()), "min-wall-ms")
	b.ReportMetric(peak, "peak-heap-MB")
	b.ReportMetric(growth, "heap-growth-MB")
	b.ReportMetric(table, "table-MB")
	b.ReportMetric(names, "names")
	b.ReportMetric(values, "values")
}

// BenchmarkBuildFixture is the small case: fake.json, as a baseline for the
// fixed cost of a Build.
func BenchmarkBuildFixture(b *testing.B) {
	st := fakeState(b)
	cfg := fixtureConfig(false, "netinfo", "mesos", "host")
	cfg.PTROn = true
	b.ReportAllocs()
	for b.Loop() {
		Build(st, cfg)
	}
}
