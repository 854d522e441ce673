package marathon

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/signpost-dns/signpost/internal/source/httpfetch"
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
		return Update{}, httpfetch.RequestErr(ctx, req.URL.String(), err, f.cfg.Timeout)
	}
	defer resp.Body.Close()
	from := baseOf(resp.Request.URL, appsSuffix)
	via := ""
	if from != base {
		via = " (from " + from + ")"
	}
	if resp.StatusCode != http.StatusOK {
		return Update{}, fmt.Errorf("HTTP %s%s%s", resp.Status, via, httpfetch.BodySnippet(resp.Body))
	}
	data, err := httpfetch.ReadBody(resp.Body, resp.ContentLength, f.cfg.MaxBodyBytes, "apps document", "apps")
	if err != nil {
		return Update{}, fmt.Errorf("%w%s", httpfetch.RequestErr(ctx, "", err, f.cfg.Timeout), via)
	}
	st, skipped, err := wire.DecodeApps(data)
	if err != nil {
		return Update{}, fmt.Errorf("%w%s", err, via)
	}
	return Update{State: st, From: from, Fetched: f.cfg.Now(), Skipped: skipped}, nil
}
