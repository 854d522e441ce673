package tcpproxy

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/signpost-dns/signpost/internal/lb/routes"
)

// downSet is an Options.Healthy whose answers a test changes; it records
// the backend names it was asked about.
type downSet struct {
	mu       sync.Mutex
	down     map[string]bool
	backends map[string]bool
}

func newDownSet() *downSet {
	return &downSet{down: map[string]bool{}, backends: map[string]bool{}}
}

func (d *downSet) set(name string, down bool) {
	d.mu.Lock()
	d.down[name] = down
	d.mu.Unlock()
}

// asked lists the backends Healthy was asked about.
func (d *downSet) asked() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return fmt.Sprint(slices.Sorted(maps.Keys(d.backends)))
}

func (d *downSet) healthy(backend string, s *routes.Server) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.backends[backend] = true
	return !d.down[s.Name]
}

func TestHealthySkipsDownServers(t *testing.T) {
	checkNoLeak(t)
	a, b, c := startBackend(t, "a", "127.0.0.1"), startBackend(t, "b", "127.0.0.1"), startBackend(t, "c", "127.0.0.1")
	ds := newDownSet()
	p, _ := newProxy(t, Options{Healthy: ds.healthy})
	l := listenAt("127.0.0.1")
	mustApply(t, p, table(l, "roundrobin", a.server(), b.server(), c.server()))
	addr := proxyAddr(t, p, l)

	// A connection to b, open before b goes down.
	dial(t, addr) // a
	held := dial(t, addr)
	if held.greeting != "b" {
		t.Fatalf("second connection went to %s, want b", held.greeting)
	}
	ds.set("b", true)

	var got []string
	for range 6 {
		cl := dial(t, addr)
		got = append(got, cl.greeting)
		cl.Close()
	}
	// The cursor was at c; b's turns pass to the next healthy server by
	// advancing the cursor, so a and c keep equal shares.
	if fmt.Sprint(got) != "[c a c a c a]" {
		t.Errorf("with b down: %v, want [c a c a c a]", got)
	}
	if err := held.echo("still there"); err != nil {
		t.Errorf("connection open to b before it went down: %v", err)
	}
	if asked := ds.asked(); asked != "[svc_0]" {
		t.Errorf("Healthy asked about backends %s, want the service's own", asked)
	}

	// Every server down: new connections are closed at once.
	ds.set("a", true)
	ds.set("c", true)
	if cl, err := dialFrom(addr, ""); err == nil {
		cl.Close()
		t.Fatalf("reached %s with every server down", cl.greeting)
	}
	if err := held.echo("still there"); err != nil {
		t.Errorf("open connection cut when every server went down: %v", err)
	}

	// b back up: it takes the traffic.
	ds.set("b", false)
	for range 3 {
		cl := dial(t, addr)
		if cl.greeting != "b" {
			t.Errorf("went to %s, want b, the only healthy server", cl.greeting)
		}
		cl.Close()
	}
}

// TestHealthyEveryBalance: whatever the algorithm, a down server gets no new
// connection and the healthy ones still do.
func TestHealthyEveryBalance(t *testing.T) {
	for _, balance := range []string{"roundrobin", "leastconn", "source"} {
		t.Run(balance, func(t *testing.T) {
			checkNoLeak(t)
			a, b, c := startBackend(t, "a", "127.0.0.1"), startBackend(t, "b", "127.0.0.1"), startBackend(t, "c", "127.0.0.1")
			ds := newDownSet()
			ds.set("b", true)
			p, _ := newProxy(t, Options{Healthy: ds.healthy})
			l := listenAt("127.0.0.1")
			mustApply(t, p, table(l, balance, a.server(), b.server(), c.server()))
			addr := proxyAddr(t, p, l)
			seen := map[string]int{}
			// Several client addresses so that "source" hashes some of
			// them to b; each held open so that "leastconn" spreads.
			for i := 2; i < 32; i++ {
				cl, err := dialFrom(addr, fmt.Sprintf("127.0.0.%d", i))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { cl.Close() })
				seen[cl.greeting]++
			}
			if seen["b"] != 0 || seen["a"] == 0 || seen["c"] == 0 {
				t.Errorf("connections per server %v: want none to b, some to a and c", seen)
			}
			if b.accepted.Load() != 0 {
				t.Errorf("b accepted %d connections while down", b.accepted.Load())
			}
		})
	}
}
