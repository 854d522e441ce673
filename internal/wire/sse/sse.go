// Package sse reads and writes Server-Sent Events the way Marathon's
// /v2/events stream frames them.
//
// Marathon serves its event bus through Jetty's EventSourceServlet: every
// event is "event: <type>\r\ndata: <one-line JSON>\r\n\r\n" and every 10 s a
// heartbeat of "\r\n" keeps the connection alive. The reader follows the
// WHATWG event-stream parsing rules (any of CRLF, LF or CR ends a line) so it
// also accepts hand-written captures with LF line ends, proxies that rewrite
// line ends, and other SSE servers. The writer produces Jetty's exact bytes
// so that a simulator is indistinguishable from a real Marathon on the wire.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// MaxLineLength bounds one line, and the data of one event, in bytes. A real
// Marathon event is one JSON document on one line; an api_post_event carries
// a whole app definition and deployment events can carry whole groups, so the
// bound is generous. It exists so that a broken or hostile server cannot make
// the reader buffer without end.
const MaxLineLength = 16 << 20 // 16 MiB

// bom is the UTF-8 byte order mark, which the SSE format allows (and the
// reader skips) at the very start of a stream.
var bom = []byte("\xEF\xBB\xBF")

// ErrLineTooLong is returned (wrapped) by Reader.Next when a line or the data
// of one event exceeds MaxLineLength. The stream cannot be resynchronised
// reliably after it, so callers should drop the connection.
var ErrLineTooLong = errors.New("sse: line too long")

// Event is one dispatched server-sent event.
type Event struct {
	// Type is the value of the last "event:" field, empty when the event had
	// none. (The WHATWG default "message" is not substituted, so that callers
	// can tell a missing type from a real one and fall back to the payload's
	// own eventType, as Marathon consumers do.)
	Type string
	// Data is the concatenation of the event's "data:" fields joined by "\n".
	// It is owned by the caller.
	Data []byte
}

// Reader parses an event stream. It is not safe for concurrent use.
type Reader struct {
	r       *bufio.Reader
	maxLine int
	afterCR bool // the previous line ended in CR: a following LF belongs to it
	started bool // the optional leading BOM has been dealt with
	line    []byte
	data    bytes.Buffer
	hasData bool
	typ     string
	err     error // sticky: once the stream failed or ended, it stays so
}

// NewReader returns a Reader that parses the event stream read from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), maxLine: MaxLineLength}
}

// Next returns the next event. Comment lines and blank lines that end no
// event (heartbeats) are skipped; "id:" and "retry:" fields are ignored
// because Marathon supports neither. At the end of the stream Next returns
// io.EOF; an event that was not terminated by a blank line before the end is
// discarded, as the SSE specification requires — a consumer reconnects and
// refetches state anyway. Any other error comes from the underlying reader or
// wraps ErrLineTooLong. Errors are sticky: after one, every call returns it
// again, because the reader can no longer tell where the next event starts.
func (r *Reader) Next() (Event, error) {
	if r.err != nil {
		return Event{}, r.err
	}
	for {
		line, err := r.readLine()
		if err != nil {
			r.err = err
			r.reset()
			return Event{}, err
		}
		if len(line) == 0 {
			if !r.hasData {
				// A heartbeat, or an event without data: nothing to dispatch.
				r.reset()
				continue
			}
			ev := Event{Type: r.typ, Data: bytes.Clone(r.data.Bytes())}
			if ev.Data == nil {
				ev.Data = []byte{}
			}
			r.reset()
			return ev, nil
		}
		if line[0] == ':' {
			continue // comment
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "event":
			r.typ = string(value)
		case "data":
			if r.hasData {
				r.data.WriteByte('\n')
			}
			if r.data.Len()+len(value) > r.maxLine {
				r.reset()
				r.err = fmt.Errorf("%w: data of one event exceeds %d bytes (16 MiB)", ErrLineTooLong, r.maxLine)
				return Event{}, r.err
			}
			r.data.Write(value)
			r.hasData = true
		}
	}
}

func (r *Reader) reset() {
	r.data.Reset()
	r.hasData = false
	r.typ = ""
}

// readLine returns the next line without its terminator. The returned slice
// is valid until the next call. It scans whatever is buffered rather than
// byte by byte, and it never blocks waiting to see whether a CR is followed
// by an LF: a lone CR ends the line at once and a directly following LF is
// skipped on the next call, so a CR-terminated event is dispatched as soon
// as its bytes arrive.
func (r *Reader) readLine() ([]byte, error) {
	r.line = r.line[:0]
	for {
		if _, err := r.r.Peek(1); err != nil {
			// An unterminated last line cannot end an event: drop it.
			r.line = r.line[:0]
			return nil, err
		}
		chunk, _ := r.r.Peek(r.r.Buffered())
		if r.afterCR {
			r.afterCR = false
			if chunk[0] == '\n' {
				r.r.Discard(1)
				continue
			}
		}
		if !r.started {
			if len(chunk) < len(bom) && bytes.HasPrefix(bom, chunk) {
				// Possibly a BOM: wait for its rest. A line that starts
				// with these bytes is incomplete anyway, so this cannot
				// delay an event.
				if more, err := r.r.Peek(len(bom)); err == nil {
					chunk = more
				} else {
					chunk, _ = r.r.Peek(r.r.Buffered())
				}
			}
			r.started = true
			if bytes.HasPrefix(chunk, bom) {
				r.r.Discard(len(bom))
				continue
			}
		}
		i := bytes.IndexAny(chunk, "\r\n")
		n := i
		if i < 0 {
			n = len(chunk)
		}
		if len(r.line)+n > r.maxLine {
			return nil, fmt.Errorf("%w: a line exceeds %d bytes (16 MiB)", ErrLineTooLong, r.maxLine)
		}
		r.line = append(r.line, chunk[:n]...)
		if i < 0 {
			r.r.Discard(n)
			continue
		}
		r.afterCR = chunk[i] == '\r'
		r.r.Discard(i + 1)
		return r.line, nil
	}
}

// Writer writes events with Jetty's framing. It is safe for concurrent use,
// so a heartbeat ticker and an event publisher may share one Writer; each
// event goes out in a single Write so events never interleave.
type Writer struct {
	mu  sync.Mutex
	w   io.Writer
	buf bytes.Buffer
}

// NewWriter returns a Writer that writes to w and flushes after every event
// and heartbeat when w implements http.Flusher (an http.ResponseWriter does),
// because an event that sits in a buffer is an event the consumer misses.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w}
}

// WriteEvent writes "event: <eventType>\r\ndata: <data>\r\n\r\n". If data
// contains line breaks (CRLF, LF or CR) it is split into several data lines,
// as Jetty does, so the reader reassembles it joined by "\n". Unlike Jetty,
// which uses BufferedReader.readLine, a trailing line break yields a last,
// empty data line, so that what Reader returns can be written back without
// loss; Marathon's one-line JSON never meets the difference. The event type
// must not contain CR or LF, which would break the framing.
func (w *Writer) WriteEvent(eventType string, data []byte) error {
	if i := bytes.IndexAny([]byte(eventType), "\r\n"); i >= 0 {
		return fmt.Errorf("sse: event type %q contains a line break", eventType)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Reset()
	w.buf.WriteString("event: ")
	w.buf.WriteString(eventType)
	w.buf.WriteString("\r\n")
	for {
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			w.buf.WriteString("data: ")
			w.buf.Write(data)
			w.buf.WriteString("\r\n")
			break
		}
		w.buf.WriteString("data: ")
		w.buf.Write(data[:i])
		w.buf.WriteString("\r\n")
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	w.buf.WriteString("\r\n")
	return w.flush(w.buf.Bytes())
}

// WriteHeartbeat writes Jetty's keep-alive, a bare "\r\n". Readers treat it
// as a blank line that ends no event; its only purpose is to let both sides
// notice a dead connection.
func (w *Writer) WriteHeartbeat() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flush([]byte("\r\n"))
}

func (w *Writer) flush(b []byte) error {
	if _, err := w.w.Write(b); err != nil {
		return err
	}
	if f, ok := w.w.(http.Flusher); ok {
		f.Flush()
	}
	return nil
}
