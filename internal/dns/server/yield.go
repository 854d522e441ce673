package server

import (
	"time"
)

// Why Swap yields: with one P (GOMAXPROCS=1, the usual setting for a
// server pinned to one core), Go's scheduler looks for network input only
// when it has no runnable goroutine, or from sysmon every 10 ms. A
// goroutine that computes for 100 ms (compiling a table of 100k names,
// decoding a cluster state) therefore keeps a UDP reader whose socket
// already holds queries waiting up to 10 ms at a time: that was the p99 of
// 24–30 ms in the second of each refresh (docs/benchmarks-dns.md).
// runtime.Gosched does not help: the yielding goroutine goes to the run
// queue, which the scheduler reads before it polls the network. Parking
// does: a goroutine asleep on a short timer leaves the run queue empty, the
// scheduler polls the network, and the readers run first.

// yieldEvery is how much computing a pacer allows between two looks at the
// sockets: long enough that the look (one poll system call, ~1 µs) costs
// well under 1%, short enough against a 1 ms latency goal.
const yieldEvery = 200 * time.Microsecond

// yieldSleep is how long Yield parks the caller: any timer that has not
// expired by the time the scheduler looks for work makes it poll the
// network first. The readers then run until their sockets are empty.
const yieldSleep = 20 * time.Microsecond

// mapHint is the size hint of a map that may hold n names: bounded when
// the work is paced, for the reason records.Build bounds its own (a hinted
// map is allocated in one piece where nothing yields).
func mapHint(n int, paced bool) int {
	if paced {
		return min(n, 896)
	}
	return n
}

// Yield lets the UDP readers of this Server run when one of their sockets
// has queries waiting: it parks the caller for a moment if so, and returns
// at once otherwise. Long CPU work in the same process (building a table,
// decoding a cluster state) should call it about every 100 µs–1 ms of
// computing, so that queries are not held up behind it when it shares the
// only P with the readers. It costs one poll system call on Linux; on
// other systems it does nothing.
func (s *Server) Yield() {
	if s.udpReadable() {
		time.Sleep(yieldSleep)
	}
}

// pacer calls Yield about every yieldEvery of work; step is called once
// per unit of work (a name) and costs a counter increment most of the time,
// and a clock read every 8th time: an SRV name of a 20-instance app takes
// ~40 µs to compile, so reading the clock every 64 names (as before) let a
// compile hold the core for 3 ms at a time.
// A nil pacer does nothing.
type pacer struct {
	s    *Server
	n    int
	last time.Time
}

func (s *Server) newPacer() *pacer {
	if s.noYield {
		return nil
	}
	return &pacer{s: s, last: time.Now()}
}

func (p *pacer) step() {
	if p == nil {
		return
	}
	if p.n++; p.n&7 != 0 {
		return
	}
	if now := time.Now(); now.Sub(p.last) >= yieldEvery {
		p.s.Yield()
		p.last = time.Now()
	}
}
