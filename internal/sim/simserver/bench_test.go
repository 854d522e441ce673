package simserver

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/sim"
)

// BenchmarkMasterState100k builds a 10,000-agent, 100,000-task cluster and
// serves /master/state over HTTP. It reports the build time, the heap the
// cluster holds, the body size, and per op the time to fetch a state that
// changed since the last fetch (so the encoding is not cached) and one that
// did not.
//
//	go test -run '^$' -bench MasterState100k -benchmem -benchtime 5x ./internal/sim/simserver/
func BenchmarkMasterState100k(b *testing.B) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	s, err := Start(context.Background(), Config{
		MesosAddr: "127.0.0.1:0", MarathonAddr: "127.0.0.1:0", ControlAddr: "127.0.0.1:0",
		Synthetic: sim.SyntheticSpec{Agents: 10000, Apps: 10000, Instances: 10},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	build := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(build.Seconds(), "build-s")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "cluster-heap-MB")

	fetch := func() int {
		resp, err := http.Get(s.MasterURLs[0] + "/master/state")
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return int(n)
	}
	size := fetch()
	b.ReportMetric(float64(size)/(1<<20), "body-MB")
	b.Run("changed", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			s.Cluster.AddAgents(1) // any change invalidates the cached encoding
			b.StartTimer()
			fetch()
		}
	})
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			fetch()
		}
	})
}
