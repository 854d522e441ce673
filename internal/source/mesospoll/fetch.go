package mesospoll

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/source/httpfetch"
	"github.com/signpost-dns/signpost/internal/wire/mesosstate"
)

// MasterError is what went wrong with one master during an attempt. An
// attempt that fails reports one per master tried, so that the log says which
// master failed how.
type MasterError struct {
	// Master is the "host:port" that was contacted.
	Master string
	Err    error
}

func (e *MasterError) Error() string { return e.Master + ": " + e.Err.Error() }

func (e *MasterError) Unwrap() error { return e.Err }

// attemptError is a failed attempt: every master's failure, on one line so
// that one log line tells the whole story. errors.Is and errors.As see each.
type attemptError []error

func (e attemptError) Error() string {
	var b strings.Builder
	b.WriteString("no master gave a usable state: ")
	for i, err := range e {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

func (e attemptError) Unwrap() []error { return e }

// result is a good state and where it came from.
type result struct {
	state   *cluster.MesosState
	skipped []error
	// from is the "host:port" the state came from, after redirects.
	from string
	// leaderAddr is the "host:port" of the state's leader UPID.
	leaderAddr string
}

// fetch tries the presumed leader, then every other master in order, until
// one yields the leader's state.
func (p *Poller) fetch(ctx context.Context) (result, error) {
	order := make([]string, 0, len(p.cfg.Masters)+1)
	order = append(order, p.presumed)
	for _, m := range p.cfg.Masters {
		if m != p.presumed {
			order = append(order, m)
		}
	}
	// tried keeps one attempt from asking the same address twice: several
	// old masters naming one dead leader must not cost a Timeout each.
	tried := make(map[string]bool, len(order)+1)
	var errs attemptError
	for _, m := range order {
		if tried[m] {
			continue
		}
		tried[m] = true
		res, err := p.fetchFrom(ctx, m)
		if err != nil {
			if ctx.Err() != nil {
				return result{}, ctx.Err()
			}
			errs = append(errs, &MasterError{Master: m, Err: err})
			continue
		}
		if res.fromLeader() {
			return res, nil
		}
		// A Mesos <1.0 non-leader answers with its own state, naming the
		// leader. Mesos-DNS re-fetches from the leader's IP but with m's
		// port; the leader's own port is the right one.
		leader := res.leaderAddr
		if tried[leader] {
			errs = append(errs, &MasterError{Master: m, Err: fmt.Errorf(
				"does not lead, and its leader %s was already tried", leader)})
			continue
		}
		tried[leader] = true
		lres, err := p.fetchFrom(ctx, leader)
		if err == nil && !lres.fromLeader() {
			err = fmt.Errorf("does not lead either: its state names leader %q", lres.state.Leader)
		}
		if err != nil {
			if ctx.Err() != nil {
				return result{}, ctx.Err()
			}
			// Rather than fall back on m's state (a non-leader's, nearly
			// empty: serving it would drop every task record), go on to
			// the next master.
			errs = append(errs, &MasterError{Master: leader, Err: fmt.Errorf("leader named by %s: %w", m, err)})
			continue
		}
		return lres, nil
	}
	return result{}, errs
}

// fromLeader reports whether the state was produced by the master it names
// as leader. The state's own "pid" says so reliably whatever address was
// used to reach it (a hostname, a redirect); without a pid, compare
// addresses.
func (r result) fromLeader() bool {
	if r.state.PID != "" {
		return r.state.PID == r.state.Leader
	}
	return r.from == r.leaderAddr
}

// fetchFrom fetches and decodes the state from addr. A state without a
// leader is an error: it is not the cluster's state.
func (p *Poller) fetchFrom(ctx context.Context, addr string) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	u := p.scheme + "://" + addr + StatePath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return result{}, err
	}
	p.setHeaders(req)
	resp, err := p.client.Do(req)
	if err != nil {
		return result{}, httpfetch.RequestErr(ctx, u, err, p.cfg.Timeout)
	}
	defer resp.Body.Close()
	final := resp.Request.URL
	from := hostPort(final)
	via := ""
	if from != addr {
		via = " (redirected to " + from + ")"
	}
	if resp.StatusCode != http.StatusOK {
		return result{}, fmt.Errorf("HTTP %s%s%s", resp.Status, via, httpfetch.BodySnippet(resp.Body))
	}
	data, err := p.body.Read(resp.Body, resp.ContentLength, "state", "state")
	if err != nil {
		return result{}, fmt.Errorf("%w%s", httpfetch.RequestErr(ctx, u, err, p.cfg.Timeout), via)
	}
	st, skipped, err := mesosstate.DecodeOptions{Yield: p.cfg.Yield}.Decode(data)
	if err != nil {
		return result{}, fmt.Errorf("%w%s", err, via)
	}
	if st.Leader == "" {
		return result{}, fmt.Errorf("%w%s", ErrNoLeader, via)
	}
	leader, err := upidAddr(st.Leader)
	if err != nil {
		return result{}, fmt.Errorf("state's leader: %w%s", err, via)
	}
	return result{state: st, skipped: skipped, from: from, leaderAddr: leader}, nil
}

// setHeaders is applied to the first request and to every redirected one.
func (p *Poller) setHeaders(req *http.Request) {
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("Accept", "application/json")
	if a := p.cfg.BasicAuth; a != nil {
		req.SetBasicAuth(a.User, a.Password)
	}
}

// checkRedirect follows Mesos's leader redirects (307, Location
// //host:port/master/state, which resolves against the request's scheme).
func (p *Poller) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > MaxRedirects {
		return fmt.Errorf("stopped after %d redirects", MaxRedirects)
	}
	if req.URL.Scheme != via[0].URL.Scheme {
		// Never let a redirect downgrade https (and leak credentials).
		return fmt.Errorf("refusing redirect from %s to %s", via[0].URL.Scheme, req.URL.Redacted())
	}
	p.setHeaders(req)
	return nil
}

// hostPort is u's host:port, with the scheme's default port if u has none.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "80"
	if u.Scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// upidAddr is the "host:port" of a libprocess UPID ("master@10.0.0.1:5050").
// The host may be a name (resolved when dialled) or an IPv6 address, with or
// without brackets.
func upidAddr(upid string) (string, error) {
	_, addr, ok := strings.Cut(upid, "@")
	if !ok || strings.Contains(addr, "@") {
		return "", fmt.Errorf("%q is not id@host:port", upid)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		// Unbracketed IPv6: the port follows the last colon.
		i := strings.LastIndexByte(addr, ':')
		if i < 0 {
			return "", fmt.Errorf("%q is not id@host:port", upid)
		}
		ip, perr := netip.ParseAddr(addr[:i])
		if perr != nil || !ip.Is6() {
			return "", fmt.Errorf("%q is not id@host:port", upid)
		}
		addr = net.JoinHostPort(addr[:i], addr[i+1:])
	}
	if err := checkHostPort(addr); err != nil {
		return "", fmt.Errorf("%q: %w", upid, err)
	}
	return addr, nil
}
