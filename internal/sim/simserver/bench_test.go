package simserver

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"testing"

	"github.com/signpost-dns/signpost/internal/sim"
)

// bigCluster is the largest cluster users run: 10,000 agents, 100,000 tasks.
var bigCluster = sim.SyntheticSpec{Agents: 10000, Apps: 10000, Instances: 10}

// BenchmarkBuild100k builds the 100,000-task cluster and reports the heap it
// holds once built.
//
//	go test -run '^$' -bench 'Build100k|MasterState100k' -benchmem -benchtime 3x ./internal/sim/simserver/
func BenchmarkBuild100k(b *testing.B) {
	var heap float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c := sim.New(sim.Config{})
		if err := c.BuildSynthetic(bigCluster); err != nil {
			b.Fatal(err)
		}
		c.MesosState() // the first snapshot is part of being ready to serve
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
		runtime.KeepAlive(c)
	}
	b.ReportMetric(heap, "heap-MB")
}

// BenchmarkMasterState100k serves /master/state of the 100,000-task cluster
// over HTTP: "changed" after a change (the encoding is redone), "cached" when
// nothing changed since the last fetch.
func BenchmarkMasterState100k(b *testing.B) {
	s, err := Start(context.Background(), Config{
		MesosAddr: "127.0.0.1:0", MarathonAddr: "127.0.0.1:0", ControlAddr: "127.0.0.1:0",
		Synthetic: bigCluster,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	fetch := func(b *testing.B) {
		resp, err := http.Get(s.MasterURLs[0] + "/master/state")
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		b.ReportMetric(float64(n)/(1<<20), "body-MB")
	}
	b.Run("changed", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			s.Cluster.AddAgents(1) // any change invalidates the cached encoding
			b.StartTimer()
			fetch(b)
		}
	})
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			fetch(b)
		}
	})
}
