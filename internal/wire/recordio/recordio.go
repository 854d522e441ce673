// Package recordio reads and writes the RecordIO framing that the Mesos v1
// operator API uses for its SUBSCRIBE event stream (Mesos docs/recordio.md):
//
//	record = record-size LF record-data
//
// where record-size is the ASCII decimal byte length of record-data and the
// data follows immediately, with no trailing newline. The stream travels in a
// chunked HTTP response, and proxies may re-chunk it, so the Reader never
// assumes that a record, or even a length, arrives in one read.
package recordio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// DefaultMaxRecord is the record size limit used when NewReader is given a
// limit of zero or less. It is deliberately large: the first record of a
// SUBSCRIBE stream is the whole cluster state, well over 100 MiB for 100,000
// tasks, and the 4 MiB default of mesos-go's reader is a known cause of
// failed subscriptions on big clusters. The limit only guards against a
// corrupt or hostile length making us allocate without bound.
const DefaultMaxRecord = 1 << 30

// maxLengthDigits bounds the length header: a uint64 has at most 20 decimal
// digits, so anything longer is garbage, not a big record.
const maxLengthDigits = 20

// Errors that describe a broken stream. They are returned wrapped, with the
// details, so test with errors.Is.
var (
	// ErrBadLength means the record-size header held something other than
	// decimal digits, or no digits at all.
	ErrBadLength = errors.New("recordio: bad record length")
	// ErrTooLarge means a record announced a size above the reader's limit.
	ErrTooLarge = errors.New("recordio: record too large")
)

// Reader splits a RecordIO stream into records.
//
// Errors are sticky: once the framing is broken there is no way to find the
// next record boundary, so every later call to Next returns the same error.
type Reader struct {
	br  *bufio.Reader
	max int
	err error
}

// NewReader returns a Reader of r that refuses records larger than maxRecord
// bytes (DefaultMaxRecord if maxRecord <= 0).
func NewReader(r io.Reader, maxRecord int) *Reader {
	if maxRecord <= 0 {
		maxRecord = DefaultMaxRecord
	}
	return &Reader{br: bufio.NewReaderSize(r, 64<<10), max: maxRecord}
}

// Next returns the next record. The slice is freshly allocated and belongs to
// the caller.
//
// At a clean end of stream — EOF exactly between two records — Next returns
// io.EOF. EOF inside a length or inside the data is an error wrapping
// io.ErrUnexpectedEOF, because a master that goes away mid-record has sent
// something the caller must not act on.
func (r *Reader) Next() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	rec, err := r.next()
	if err != nil {
		r.err = err
		return nil, err
	}
	return rec, nil
}

func (r *Reader) next() ([]byte, error) {
	n, err := r.readLength()
	if err != nil {
		return nil, err
	}
	return r.readData(n)
}

// readLength reads "<digits>\n" and returns the value.
func (r *Reader) readLength() (int, error) {
	var n uint64
	digits := 0
	overflow := false
	for {
		c, err := r.br.ReadByte()
		if err != nil {
			if err == io.EOF {
				if digits == 0 {
					return 0, io.EOF
				}
				return 0, fmt.Errorf("recordio: stream ended inside a record length after %d digits: %w", digits, io.ErrUnexpectedEOF)
			}
			return 0, fmt.Errorf("recordio: reading record length: %w", err)
		}
		if c == '\n' {
			break
		}
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: non-digit byte %s at position %d of the length", ErrBadLength, strconv.QuoteRune(rune(c)), digits)
		}
		digits++
		if digits > maxLengthDigits {
			return 0, fmt.Errorf("%w: more than %d digits", ErrBadLength, maxLengthDigits)
		}
		d := uint64(c - '0')
		if n > (^uint64(0)-d)/10 {
			overflow = true
		}
		n = n*10 + d
	}
	if digits == 0 {
		return 0, fmt.Errorf("%w: empty length before newline", ErrBadLength)
	}
	if overflow || n > uint64(r.max) {
		if overflow {
			return 0, fmt.Errorf("%w: length overflows uint64 (limit %d)", ErrTooLarge, r.max)
		}
		return 0, fmt.Errorf("%w: length %d over the limit of %d", ErrTooLarge, n, r.max)
	}
	return int(n), nil
}

// readData reads exactly n bytes. It grows the buffer as data arrives rather
// than trusting the announced length up front, so a lying header on a short
// stream costs at most a few times the bytes actually received. Growth is
// eightfold so that a 200 MiB snapshot is copied only a handful of times.
func (r *Reader) readData(n int) ([]byte, error) {
	const firstChunk = 64 << 10
	buf := make([]byte, 0, min(n, firstChunk))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, 8*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		m, err := r.br.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			if len(buf) == n {
				break
			}
			if err == io.EOF {
				return nil, fmt.Errorf("recordio: stream ended after %d of %d record bytes: %w", len(buf), n, io.ErrUnexpectedEOF)
			}
			return nil, fmt.Errorf("recordio: reading record data (%d of %d bytes): %w", len(buf), n, err)
		}
	}
	return buf, nil
}

// Writer frames records onto a stream.
type Writer struct {
	w     io.Writer
	flush func() error
	hdr   []byte
}

// NewWriter returns a Writer to w. When w can flush — an http.ResponseWriter
// (Flush()), an http.ResponseController-style FlushError() error, or a
// bufio.Writer (Flush() error) — every record is flushed as soon as it is
// written, because a subscriber must see each event when it happens, not when
// a buffer fills.
func NewWriter(w io.Writer) *Writer {
	wr := &Writer{w: w}
	switch f := w.(type) {
	case interface{ FlushError() error }:
		wr.flush = f.FlushError
	case interface{ Flush() error }:
		wr.flush = f.Flush
	case interface{ Flush() }:
		wr.flush = func() error { f.Flush(); return nil }
	}
	return wr
}

// Write writes one record and flushes it if the underlying writer can flush.
// The data is written as given; it should not contain a trailing newline
// unless that newline is part of the record.
func (w *Writer) Write(record []byte) error {
	w.hdr = strconv.AppendInt(w.hdr[:0], int64(len(record)), 10)
	w.hdr = append(w.hdr, '\n')
	if len(record) <= 4<<10 {
		// Small records go out in one write so that an unbuffered
		// connection sees the whole event in one chunk.
		w.hdr = append(w.hdr, record...)
		if _, err := w.w.Write(w.hdr); err != nil {
			return fmt.Errorf("recordio: writing record: %w", err)
		}
	} else {
		if _, err := w.w.Write(w.hdr); err != nil {
			return fmt.Errorf("recordio: writing record length: %w", err)
		}
		if _, err := w.w.Write(record); err != nil {
			return fmt.Errorf("recordio: writing record data: %w", err)
		}
	}
	if w.flush != nil {
		if err := w.flush(); err != nil {
			return fmt.Errorf("recordio: flushing record: %w", err)
		}
	}
	return nil
}
