package marathon

import (
	"context"
	"time"
)

// backoff is a jittered exponential wait: the nominal delay starts at min
// and doubles after every failure up to max; the actual wait is uniform in
// [delay/2, delay). Half the delay is kept fixed so that a Marathon that
// fails fast is never hammered in a tight loop (Marathon-LB's full jitter,
// random()×wait, sometimes waits next to nothing); the other half spreads
// a fleet of load balancers that lost the same leader at the same instant.
// A backoff is used by one goroutine only.
type backoff struct {
	min, max time.Duration
	rand     func() float64
	delay    time.Duration // nominal delay of the next wait; 0: min
}

// next returns the wait before the next attempt and grows the delay.
func (b *backoff) next() time.Duration {
	if b.delay < b.min {
		b.delay = b.min
	}
	d := b.delay
	if b.delay < b.max {
		b.delay = min(b.delay*2, b.max)
	}
	r := b.rand()
	if r < 0 || r >= 1 {
		r = 0
	}
	return d/2 + time.Duration(r*float64(d-d/2))
}

// reset starts the next series of failures at min again.
func (b *backoff) reset() { b.delay = 0 }

// sleep waits for d or until ctx ends, and reports whether the wait ran its
// course.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
