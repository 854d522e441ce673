package healthcheck

// health is HAProxy's check state machine for one server, in counts rather
// than HAProxy's single "health" counter (0 … rise+fall-1, UP from rise on)
// so that a change of Fall or Rise by a new table applies from the next
// result without remapping the counter. The two are equivalent:
//
//   - HAProxy health == rise (a new server) is up && fresh;
//   - health == rise+fall-1 (fully up) is up with no failures;
//   - rise ≤ health < rise+fall-1 is up with failures counted;
//   - health < rise is down (HAProxy clamps it to 0 on the way down, so
//     only consecutive successes count).
type health struct {
	up bool
	// fresh: up but never checked; the first failure takes it down.
	fresh bool
	// fails counts consecutive failures (while up: towards fall);
	// passes counts consecutive successes (while down: towards rise).
	fails, passes int
}

// newHealth is a server seen for the first time: up, going down at the
// first failure (HAProxy's initial health = rise).
func newHealth() health { return health{up: true, fresh: true} }

// record applies one check result and reports whether the server changed
// between UP and DOWN.
func (h *health) record(ok bool, fall, rise int) (changed bool) {
	if ok {
		h.fails = 0
		h.passes++
		h.fresh = false
		if !h.up && h.passes >= rise {
			h.up = true
			return true
		}
		return false
	}
	h.passes = 0
	h.fails++
	if h.up && (h.fresh || h.fails >= fall) {
		h.up = false
		h.fresh = false
		return true
	}
	return false
}
