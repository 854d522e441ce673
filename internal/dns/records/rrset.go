package records

import (
	"slices"
	"unsafe"
)

// rrset is one record type under construction: names with their values, a
// set per name as in Mesos-DNS, so that Build can tell whether an insert
// added anything (which decides what /v1/enumerate lists under a task).
//
// Names are numbered: callers that insert under the same name again and
// again (every instance of an app inserts into <app>.<fw>.D.) keep the
// number and skip the map lookup.
type rrset[V comparable] struct {
	index   map[string]int32
	names   []string
	entries []entry[V]
	// slab hands out the first value of each name from a shared array, so
	// that the many one-value names (canonical task names) cost no
	// allocation of their own; a second value moves the name to its own
	// slice.
	slab     []V
	slabSize int
	// paced bounds the index's size hints (see mapHint): set when the
	// build yields to a server.
	paced bool
}

type entry[V comparable] struct {
	vals []V
	// set indexes vals once a name has many values (slave.D with every
	// agent, an app with hundreds of instances), keeping inserts O(1).
	set map[V]struct{}
}

// setThreshold is the number of values above which a name gets an index;
// below it a linear scan is cheaper than hashing, and it is above the value
// count of a typical app's shared names (20 instances × 2 ports).
const setThreshold = 64

// init sizes the set for about names names.
func (r *rrset[V]) init(names int) {
	r.index = make(map[string]int32, mapHint(names, r.paced))
	r.names = make([]string, 0, names)
	r.entries = make([]entry[V], 0, names)
	r.slabSize = min(max(names, 16), 1<<14)
}

// reserve makes room for n more names without growing the index.
func (r *rrset[V]) reserve(n int) {
	if r.index == nil {
		r.init(n)
		return
	}
	if !r.paced {
		m := make(map[string]int32, len(r.index)+n)
		for k, v := range r.index {
			m[k] = v
		}
		r.index = m
	}
	r.names = slices.Grow(r.names, n)
	r.entries = slices.Grow(r.entries, n)
	r.slabSize = min(max(n, 16), 1<<14)
}

// ref returns the number of name, adding it (with no values yet) if new.
func (r *rrset[V]) ref(name string) int32 {
	i, _ := r.refNew(name)
	return i
}

// refNew is ref that also reports whether name was added by this call.
func (r *rrset[V]) refNew(name string) (int32, bool) {
	if r.index == nil {
		r.init(0)
	}
	if i, ok := r.index[name]; ok {
		return i, false
	}
	i := int32(len(r.entries))
	r.index[name] = i
	r.names = append(r.names, name)
	r.entries = append(r.entries, entry[V]{})
	return i, true
}

// add inserts v under name and reports whether it was new.
func (r *rrset[V]) add(name string, v V) bool { return r.addAt(r.ref(name), v) }

// addAt inserts v under the name numbered i and reports whether it was new.
func (r *rrset[V]) addAt(i int32, v V) bool { return r.addAtHint(i, v, 1) }

// mapHint is the size hint for a map that may hold n names. A hinted map
// is allocated and cleared in one piece inside the runtime, where nothing
// yields: with a 10,000-task state that held the serving core for 5–15 ms
// (with 100,000 tasks far longer), page faults on the fresh memory being
// most of it under this project's VM (perf, docs/benchmarks-dns.md). So
// when the build is paced the hint is bounded, and the map grows by
// inserts, rehashing one table of at most 1,024 slots at a time with
// yields in between. That costs build time (BenchmarkBuild100kPaced),
// which a server that answers meanwhile can afford; an unpaced build keeps
// the full hints.
func mapHint(n int, paced bool) int {
	if paced {
		return min(n, 896) // one full table: 7/8 of 1,024 slots
	}
	return n
}

// maxHint bounds the capacity a size hint can reserve.
const maxHint = 1 << 12

// addAtHint is addAt for a name that may end up with about hint values: its
// first value then gets a slice of that capacity.
func (r *rrset[V]) addAtHint(i int32, v V, hint int) bool {
	e := &r.entries[i]
	if len(e.vals) == 0 {
		if hint > 1 {
			e.vals = make([]V, 1, min(hint, maxHint))
			e.vals[0] = v
			return true
		}
		if len(r.slab) == cap(r.slab) {
			r.slab = make([]V, 0, r.slabSize)
		}
		n := len(r.slab)
		r.slab = append(r.slab, v)
		e.vals = r.slab[n : n+1 : n+1]
		return true
	}
	if e.set != nil {
		if _, ok := e.set[v]; ok {
			return false
		}
		e.set[v] = struct{}{}
		e.vals = append(e.vals, v)
		return true
	}
	for _, x := range e.vals {
		if x == v {
			return false
		}
	}
	e.vals = append(e.vals, v)
	if len(e.vals) > setThreshold {
		e.set = make(map[V]struct{}, 2*len(e.vals))
		for _, x := range e.vals {
			e.set[x] = struct{}{}
		}
	}
	return true
}

// len is the number of names with at least one value.
func (r *rrset[V]) len() int {
	n := 0
	for i := range r.entries {
		if len(r.entries[i].vals) > 0 {
			n++
		}
	}
	return n
}

// addFreshSRV is addAtHint for a value whose target string was made by
// the current task context and never used before it: only the values this
// context appended, which are at the end of the list and share the target's
// bytes, can equal v. It spares comparing v with one value per task of the
// app. A name with an index (many values) uses the index instead.
func addFreshSRV(r *rrset[SRV], i int32, v SRV, hint int) bool {
	e := &r.entries[i]
	if len(e.vals) == 0 || e.set != nil {
		return r.addAtHint(i, v, hint)
	}
	p := unsafe.StringData(v.Target)
	for j := len(e.vals) - 1; j >= 0; j-- {
		x := e.vals[j]
		if unsafe.StringData(x.Target) != p || len(x.Target) != len(v.Target) {
			break
		}
		if x.Port == v.Port {
			return false
		}
	}
	e.vals = append(e.vals, v)
	if len(e.vals) > setThreshold {
		e.set = make(map[SRV]struct{}, 2*len(e.vals))
		for _, x := range e.vals {
			e.set[x] = struct{}{}
		}
	}
	return true
}
