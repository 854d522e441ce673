package sim

import (
	"errors"
	"sync"
)

// ErrSlowConsumer ends a subscription whose reader fell too far behind.
// Real Mesos and Marathon (≥1.8) also drop a subscriber that does not keep up
// rather than buffering without bound; a client must resubscribe and refetch.
var ErrSlowConsumer = errors.New("subscriber fell behind and was disconnected")

// ErrClosed ends every subscription when the simulator shuts down.
var ErrClosed = errors.New("simulator closed")

// Subscription delivers events in the order they happened. Events is closed
// when the subscription ends; Err then says why.
type Subscription[E any] struct {
	Events <-chan E

	ch   chan E
	hub  *hub[E]
	once sync.Once
	err  error
}

// Err reports why Events was closed; nil while it is open.
func (s *Subscription[E]) Err() error {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.err
}

// Close ends the subscription.
func (s *Subscription[E]) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.hub.drop(s, nil)
}

// hub fans events out to subscribers without ever blocking the publisher.
type hub[E any] struct {
	mu     sync.Mutex
	buffer int
	subs   map[*Subscription[E]]struct{}
	closed bool
}

func newHub[E any](buffer int) *hub[E] {
	return &hub[E]{buffer: buffer, subs: make(map[*Subscription[E]]struct{})}
}

func (h *hub[E]) subscribe() *Subscription[E] {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := make(chan E, h.buffer)
	s := &Subscription[E]{Events: ch, ch: ch, hub: h}
	if h.closed {
		s.err = ErrClosed
		close(ch)
		return s
	}
	h.subs[s] = struct{}{}
	return s
}

// active reports whether anyone listens, so that callers can skip building
// events nobody will read (the 100,000-task start-up, for one).
func (h *hub[E]) active() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs) > 0
}

func (h *hub[E]) publish(events ...E) {
	if len(events) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		for _, e := range events {
			select {
			case s.ch <- e:
			default:
				h.drop(s, ErrSlowConsumer)
			}
			if _, ok := h.subs[s]; !ok {
				break
			}
		}
	}
}

// drop must be called with h.mu held.
func (h *hub[E]) drop(s *Subscription[E], err error) {
	if _, ok := h.subs[s]; !ok {
		return
	}
	delete(h.subs, s)
	s.err = err
	close(s.ch)
}

func (h *hub[E]) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		h.drop(s, ErrClosed)
	}
}
