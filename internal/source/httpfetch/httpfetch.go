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
	if n > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d allowed (MaxBodyBytes)", what, n, limit)
	}
	if n >= 0 {
		data := make([]byte, n)
		if _, err := io.ReadFull(r, data); err != nil {
			return nil, fmt.Errorf("reading %s: %w", reading, err)
		}
		return data, nil
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", reading, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is more than the %d bytes allowed (MaxBodyBytes)", what, limit)
	}
	return data, nil
}

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
