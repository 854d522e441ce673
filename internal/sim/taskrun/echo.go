package taskrun

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// echoServer serves one port of a TCP echo task.
type echoServer struct {
	ln       net.Listener
	greeting []byte
	log      *slog.Logger
	// done is closed when shutdown begins; it ends the accept loop's backoff
	// sleep, which a closed listener alone would not interrupt.
	done chan struct{}

	accepting sync.WaitGroup // the accept loop
	handlers  sync.WaitGroup // one per open connection

	mu    sync.Mutex
	conns map[net.Conn]struct{} // open connections, to cut them on a kill
}

func startEcho(t *task, ln net.Listener) *echoServer {
	s := &echoServer{
		ln:       ln,
		greeting: []byte(t.spec.TaskID + "\n"),
		log:      t.log,
		done:     make(chan struct{}),
		conns:    make(map[net.Conn]struct{}),
	}
	s.accepting.Add(1)
	go s.acceptLoop()
	return s
}

func (s *echoServer) acceptLoop() {
	defer s.accepting.Done()
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off as net/http
			// does instead of spinning, and keep serving when it passes.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed; retrying", "addr", s.ln.Addr().String(), "err", err, "in", backoff)
			timer := time.NewTimer(backoff)
			select {
			case <-s.done:
				timer.Stop()
				return
			case <-timer.C:
			}
			continue
		}
		backoff = 0
		// Add happens here, in the accept loop, so once shutdown has seen
		// the loop end no new handler can appear while it waits.
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.handlers.Add(1)
		go s.handle(c)
	}
}

// handle greets, then echoes until the client closes (or the task is
// killed, which closes c under it).
func (s *echoServer) handle(c net.Conn) {
	defer s.handlers.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	if _, err := c.Write(s.greeting); err != nil {
		return
	}
	// The wrappers hide ReaderFrom/WriterTo so the copy is a plain
	// read-write loop rather than a splice of a socket into itself.
	io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{c}, make([]byte, 32<<10))
}

// shutdown closes the listener at once, waits for clients to close their
// connections until ctx ends, and then closes what is left, as the kernel
// does when a process dies.
func (s *echoServer) shutdown(ctx context.Context) {
	close(s.done)
	s.ln.Close()
	s.accepting.Wait()

	drained := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(drained)
	}()
	select {
	case <-drained:
		return
	case <-ctx.Done():
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	<-drained
}
