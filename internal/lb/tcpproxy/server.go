package tcpproxy

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// serverKey identifies a server across tables: the same task port under the
// same Marathon-LB name is the same server, whatever Apply it came from.
type serverKey struct {
	name string
	addr netip.AddrPort
}

type serverState uint8

const (
	stateUp       serverState = iota
	stateDraining             // in the table, Draining (HAProxy MAINT)
	stateRemoved              // gone from the table, connections still open
)

func (s serverState) String() string {
	switch s {
	case stateUp:
		return "up"
	case stateDraining:
		return "draining"
	}
	return "removed"
}

// server is one backend server of one frontend, with its counters and the
// connections open to it (so a drain timeout can cut them).
type server struct {
	key serverKey

	active                           atomic.Int64
	total, errors, bytesIn, bytesOut atomic.Uint64

	mu       sync.Mutex
	state    serverState
	sessions map[*session]struct{}
	// drain cuts the open sessions DrainTimeout after the server stopped
	// taking new ones; nil while the server is up.
	drain *time.Timer
}

// setState records the server's state in the newest table and returns the
// number of open connections. Leaving stateUp starts the drain timer (an
// already running one keeps its deadline: draining then removed is one
// drain); coming back up stops it.
func (sv *server) setState(st serverState, timeout time.Duration) int {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	sv.state = st
	if st == stateUp {
		if sv.drain != nil {
			sv.drain.Stop()
			sv.drain = nil
		}
	} else if sv.drain == nil && len(sv.sessions) > 0 {
		sv.drain = time.AfterFunc(timeout, sv.cut)
	}
	return len(sv.sessions)
}

// cut closes the connections still open when the drain timeout passes.
func (sv *server) cut() {
	sv.mu.Lock()
	if sv.state == stateUp {
		sv.mu.Unlock()
		return
	}
	ss := make([]*session, 0, len(sv.sessions))
	for s := range sv.sessions {
		ss = append(ss, s)
	}
	sv.mu.Unlock()
	for _, s := range ss {
		s.close()
	}
}

func (sv *server) stopTimer() {
	sv.mu.Lock()
	if sv.drain != nil {
		sv.drain.Stop()
		sv.drain = nil
	}
	sv.mu.Unlock()
}

// attach registers a new connection, unless the server stopped taking new
// ones since the caller loaded its pool.
func (sv *server) attach(s *session) bool {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.state != stateUp {
		return false
	}
	sv.sessions[s] = struct{}{}
	sv.active.Add(1)
	return true
}

// detach unregisters a connection and reports whether the server is now
// removed and idle (so its frontend can forget it).
func (sv *server) detach(s *session) bool {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if _, ok := sv.sessions[s]; !ok {
		return false
	}
	delete(sv.sessions, s)
	sv.active.Add(-1)
	if len(sv.sessions) == 0 && sv.drain != nil {
		sv.drain.Stop()
		sv.drain = nil
	}
	return sv.state == stateRemoved && len(sv.sessions) == 0
}
