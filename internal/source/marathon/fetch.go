package marathon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	wire "github.com/signpost-dns/signpost/internal/wire/marathon"
)

// AppsPath is the one REST call Marathon-LB makes. embed=apps.tasks also
// embeds deployments (Marathon adds counts and deployments to every GET
// /v2/apps), which the decoder ignores.
const AppsPath = "/v2/apps?embed=apps.tasks"

const appsSuffix = "/v2/apps"

// URLError is what went wrong with one URL. A round that fails reports one
// per URL tried, so that one log line says which Marathon failed how.
type URLError struct {
	// URL is the configured base URL that was tried.
	URL string
	Err error
}

func (e *URLError) Error() string { return e.URL + ": " + e.Err.Error() }

func (e *URLError) Unwrap() error { return e.Err }

// roundError is a round over every URL in which none worked.
type roundError struct {
	what string
	errs []error
}

func (e *roundError) Error() string {
	var b strings.Builder
	b.WriteString(e.what)
	b.WriteString(": ")
	for i, err := range e.errs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

func (e *roundError) Unwrap() []error { return e.errs }

// fetch gets the apps from the first URL that gives a good document, the
// last good one first, and records the outcome in Status.
func (f *Follower) fetch(ctx context.Context) (Update, error) {
	var errs []error
	for _, i := range f.order() {
		up, err := f.fetchFrom(ctx, f.cfg.URLs[i])
		if err == nil {
			f.worked(i)
			f.mu.Lock()
			f.status.Fetches++
			f.status.LastFetch = up.Fetched
			f.mu.Unlock()
			return up, nil
		}
		if ctx.Err() != nil {
			return Update{}, ctx.Err()
		}
		errs = append(errs, &URLError{URL: f.cfg.URLs[i], Err: err})
	}
	err := &roundError{what: "no Marathon URL gave the apps", errs: errs}
	f.mu.Lock()
	f.status.FetchErrors++
	f.mu.Unlock()
	f.fail(err)
	return Update{}, err
}

// fetchFrom gets and decodes GET base/v2/apps?embed=apps.tasks.
func (f *Follower) fetchFrom(ctx context.Context, base string) (Update, error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+AppsPath, nil)
	if err != nil {
		return Update{}, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	f.setAuth(req)
	resp, err := f.client.Do(req)
	if err != nil {
		return Update{}, f.requestErr(ctx, req.URL.String(), err)
	}
	defer resp.Body.Close()
	from := baseOf(resp.Request.URL, appsSuffix)
	via := ""
	if from != base {
		via = " (from " + from + ")"
	}
	if resp.StatusCode != http.StatusOK {
		return Update{}, fmt.Errorf("HTTP %s%s%s", resp.Status, via, bodySnippet(resp.Body))
	}
	data, err := readBody(resp.Body, resp.ContentLength, f.cfg.MaxBodyBytes)
	if err != nil {
		return Update{}, fmt.Errorf("%w%s", f.requestErr(ctx, "", err), via)
	}
	st, skipped, err := wire.DecodeApps(data)
	if err != nil {
		return Update{}, fmt.Errorf("%w%s", err, via)
	}
	return Update{State: st, From: from, Fetched: f.cfg.Now(), Skipped: skipped}, nil
}

// requestErr makes a client error readable: a timeout names the limit, and
// the URL is repeated only when it is not the one asked for (a redirect).
func (f *Follower) requestErr(ctx context.Context, u string, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no complete answer within %v (Timeout): %w", f.cfg.Timeout, context.DeadlineExceeded)
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

// readBody reads at most limit bytes; with a known length it allocates once,
// since a cluster's apps can be hundreds of MiB.
func readBody(r io.Reader, n, limit int64) ([]byte, error) {
	if n > limit {
		return nil, fmt.Errorf("apps document is %d bytes, more than the %d allowed (MaxBodyBytes)", n, limit)
	}
	if n >= 0 {
		data := make([]byte, n)
		if _, err := io.ReadFull(r, data); err != nil {
			return nil, fmt.Errorf("reading apps: %w", err)
		}
		return data, nil
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading apps: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("apps document is more than the %d bytes allowed (MaxBodyBytes)", limit)
	}
	return data, nil
}

// bodySnippet quotes the start of an error page on one line (Marathon says
// why: "Could not determine the current leader").
func bodySnippet(r io.Reader) string {
	buf := make([]byte, 512)
	n, _ := io.ReadFull(r, buf)
	// Drain a little more so that the connection can be reused.
	io.CopyN(io.Discard, r, 64<<10)
	return quote(buf[:n])
}

// quote renders the start of b on one line, for logs: ": \"…\"", or "" when
// b is blank.
func quote(b []byte) string {
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
