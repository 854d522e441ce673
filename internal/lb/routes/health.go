package routes

// HealthCache remembers the last Marathon health verdict of each task, so
// that a task reported without healthCheckResults — which is what a new
// Marathon leader does until its own checks have run (marathon#3419) — keeps
// the verdict it had instead of being dropped (Marathon-LB PR #148).
//
// It is a value: Build never changes the cache it is given and returns the
// next one in Table.Health. Unlike Marathon-LB's LRU of --lru-cache-capacity
// entries (1000 by default, which a failover in a larger cluster overflows),
// it holds exactly the tasks of the latest snapshot that have a verdict, so
// it is bounded by the cluster and forgets tasks once Marathon does.
type HealthCache struct {
	alive map[string]bool
}

// Lookup returns the cached verdict of a task and whether there is one.
func (c HealthCache) Lookup(taskID string) (alive, known bool) {
	alive, known = c.alive[taskID]
	return alive, known
}

// Len is the number of tasks with a cached verdict.
func (c HealthCache) Len() int { return len(c.alive) }

// With returns a copy of c that also holds a verdict for taskID, to seed a
// cache (e.g. from a previous process) or in tests.
func (c HealthCache) With(taskID string, alive bool) HealthCache {
	m := make(map[string]bool, len(c.alive)+1)
	for k, v := range c.alive {
		m[k] = v
	}
	m[taskID] = alive
	return HealthCache{alive: m}
}

// healthFilter applies --health-check to one task and records the verdict
// for the next cache generation.
type healthFilter struct {
	prev HealthCache
	next map[string]bool
}

// keep reports whether a task of an app with Marathon health checks is
// routed: any result alive; no results at all means the cached verdict,
// and no cached verdict means "not yet healthy".
func (h *healthFilter) keep(taskID string, results []bool, hasResults bool) bool {
	if !hasResults {
		alive, known := h.prev.Lookup(taskID)
		if known {
			h.record(taskID, alive)
		}
		return alive
	}
	alive := false
	for _, a := range results {
		alive = alive || a
	}
	h.record(taskID, alive)
	return alive
}

func (h *healthFilter) record(taskID string, alive bool) {
	if h.next == nil {
		h.next = make(map[string]bool)
	}
	h.next[taskID] = alive
}

func (h *healthFilter) cache() HealthCache { return HealthCache{alive: h.next} }
