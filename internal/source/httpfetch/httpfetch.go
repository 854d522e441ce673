// Package httpfetch holds what every HTTP source (the Mesos state poller,
// the Marathon follower) needs to read a large document and to say plainly
// why a request failed.
package httpfetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// RequestErr makes a client error readable: a timeout names the limit, and
// the URL is repeated only when it is not the one asked for (a redirect).
func RequestErr(ctx context.Context, u string, err error, timeout time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no complete answer within %v (Timeout): %w", timeout, context.DeadlineExceeded)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.URL == u {
			return ue.Err
		}
		return fmt.Errorf("%s %s: %w", ue.Op, ue.URL, ue.Err)
	}
	return err
}

// ReadBody reads at most limit bytes of a document called what ("state",
// "apps document"); reading names the body in read errors. With a known
// length n it allocates once: a cluster's document can be hundreds of MiB,
// and growing a buffer would double that.
func ReadBody(r io.Reader, n, limit int64, what, reading string) ([]byte, error) {
	br := BodyReader{Limit: limit}
	return br.Read(r, n, what, reading)
}

// BodyReader reads the documents of one source one after the other into a
// buffer it keeps. A poller that fetches the same large document every
// refresh then neither allocates nor clears nor page-faults it again:
// measured on the benchmark machine, a fresh 15 MB buffer cost ~150 ms of
// CPU in page faults and clearing, in one piece, while the DNS server that
// shares the core waited. The price is that the buffer stays allocated
// between reads (the size of the largest document read).
type BodyReader struct {
	// Limit bounds a document (MaxBodyBytes).
	Limit int64
	// Yield, when set, is called after every read from the connection, so
	// that a server sharing the process's only P can answer in between
	// (a local master sends faster than the body can be taken in).
	Yield func()

	buf []byte
}

// readChunk bounds one read: the most that is taken in between two Yields.
// 256 KiB reads still held the serving core for 5–8 ms now and then, copying
// into buffer pages that this VM had to map again (perf, run of 2026-11-26
// in docs/benchmarks-dns.md); 64 KiB bounds that at ~2 ms.
const readChunk = 64 << 10

// Read reads one document as ReadBody does. The bytes it returns are valid
// until the next Read.
func (br *BodyReader) Read(r io.Reader, n int64, what, reading string) ([]byte, error) {
	if n > br.Limit {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d allowed (MaxBodyBytes)", what, n, br.Limit)
	}
	buf := br.buf[:0]
	if n >= 0 && int64(cap(buf)) < n {
		buf = make([]byte, 0, n)
	}
	for n < 0 || int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, max(cap(buf), 512<<10))
		}
		end := min(cap(buf), len(buf)+readChunk)
		if n >= 0 {
			end = min(end, int(n))
		}
		m, err := r.Read(buf[len(buf):end])
		buf = buf[:len(buf)+m]
		if int64(len(buf)) > br.Limit {
			return nil, fmt.Errorf("%s is more than the %d bytes allowed (MaxBodyBytes)", what, br.Limit)
		}
		if err == io.EOF {
			if n >= 0 && int64(len(buf)) < n {
				return nil, fmt.Errorf("reading %s: %w", reading, io.ErrUnexpectedEOF)
			}
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", reading, err)
		}
		if br.Yield != nil {
			br.Yield()
		}
	}
	if cap(buf) <= maxKept {
		br.buf = buf
	}
	return buf, nil
}

// maxKept is the largest buffer a BodyReader keeps between documents; a
// larger one (a state of far more than 100,000 tasks) is left to the
// collector rather than held for the next minute.
const maxKept = 256 << 20

// BodySnippet quotes the start of an error page on one line (Mesos and
// Marathon say why there: "No leader elected"), and drains a little more so
// that the connection can be reused.
func BodySnippet(r io.Reader) string {
	buf := make([]byte, 512)
	n, _ := io.ReadFull(r, buf)
	io.CopyN(io.Discard, r, 64<<10)
	return Quote(buf[:n])
}

// Quote renders the start of b on one line, for logs: `: "…"`, or "" when b
// is blank.
func Quote(b []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
	if s == "" {
		return ""
	}
	const maxRunes = 200
	if utf8.RuneCountInString(s) > maxRunes {
		s = string([]rune(s)[:maxRunes]) + "…"
	}
	return fmt.Sprintf(": %q", s)
}
