package marathon

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	wire "github.com/signpost-dns/signpost/internal/wire/marathon"
)

// Defaults. Where Marathon-LB has an equivalent it is named; where Signpost
// departs from it, the reason is given.
const (
	// DefaultTimeout bounds one GET /v2/apps, body included, and the wait
	// for the headers of GET /v2/events. Marathon-LB reads for up to 46 s;
	// a whole-cluster document from a busy leader can take that long.
	DefaultTimeout = 45 * time.Second
	// DefaultResync is the full refetch without events. Marathon-LB's worker
	// does the same when its condition wait of 300 s expires: it bounds how
	// long a lost event can leave the state wrong.
	DefaultResync = 5 * time.Minute
	// DefaultCoalesce is how long the first relevant event waits for the
	// rest of its burst before the refetch starts. A deployment of 20 tasks
	// is over a hundred events within milliseconds; one refetch covers them.
	DefaultCoalesce = 250 * time.Millisecond
	// DefaultIdleTimeout is three of Jetty's 10 s heartbeats: a stream
	// silent for that long is dead even if TCP has not noticed (a
	// half-open connection after a leader host vanished). Marathon-LB waits
	// 300 s (libcurl LOW_SPEED_TIME), five minutes of missed changes.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultBackoffMin and DefaultBackoffMax bound the wait between
	// reconnection rounds. Marathon-LB starts at 3 s and grows to 300 s;
	// a shorter cap gets a load balancer back in step sooner after a
	// leader election, and a round that fails fast costs Marathon little.
	DefaultBackoffMin = 1 * time.Second
	DefaultBackoffMax = 30 * time.Second
	// DefaultMaxBodyBytes bounds one /v2/apps document, so that a broken or
	// hostile endpoint cannot exhaust memory. The largest clusters produce
	// some hundred MiB.
	DefaultMaxBodyBytes = 1 << 30
	// MaxRedirects is how many redirects one request follows. A standby
	// Marathon needs one (to the leader); more than this is a loop.
	MaxRedirects = 3
	// UserAgent identifies Signpost in Marathon's access log.
	UserAgent = "Signpost"
	// dialTimeout bounds connecting to one URL (capped by Timeout), so that
	// a host that swallows SYNs delays failover by seconds, not by Timeout.
	// Marathon-LB's REST connect timeout is 3.05 s.
	dialTimeout = 5 * time.Second
)

// DefaultEventTypes are the event types subscribed to (server-side filter,
// Marathon ≥1.3.7) and acted on (client-side filter, for older Marathons and
// for EventTypes mistakes). Each one triggers a coalesced refetch.
//
// The first three are Marathon-LB's: a task changed state
// (status_update_event), a Marathon health check flipped
// (health_status_changed_event), an app definition was created or changed
// through the API, labels included (api_post_event). The others cover what
// those three can miss:
//
//   - app_terminated_event: an app without tasks was deleted. No task event
//     accompanies it, so without it the deleted app would linger in the
//     snapshot until the next resync.
//   - instance_changed_event, instance_health_changed_event: the instance
//     view (Marathon ≥1.4) of the same changes, a second path kept so that
//     a change Marathon reports only in instance terms (pod instances, and
//     health decided by Mesos-side checks in some versions) is not missed.
//     The duplicates cost stream bytes, not refetches, because refetches
//     are coalesced.
//   - deployment_success, deployment_failed: a deployment ended, so the
//     state fetched after it is the settled one (a rolled-back deployment
//     can end without a task event of its own).
//
// Deliberately left out: deployment_info and deployment_step_* (every
// change they announce comes with task events), group_change_*,
// failed_health_check_event (health_status_changed_event follows when the
// result flips), framework and subscription events (nothing in
// /v2/apps changes).
var DefaultEventTypes = []string{
	wire.EventAPIPost,
	wire.EventHealthStatusChanged,
	wire.EventStatusUpdate,
	wire.EventAppTerminated,
	wire.EventInstanceChanged,
	wire.EventInstanceHealthChanged,
	wire.EventDeploymentSuccess,
	wire.EventDeploymentFailed,
}

// Config configures a Follower. Zero values take the defaults noted.
type Config struct {
	// URLs are Marathon base URLs ("http://marathon.mesos:8080", or with a
	// path prefix behind a proxy, "https://master.mesos/service/marathon"),
	// as Marathon-LB's --marathon. Any member of the Marathon cluster will
	// do: standbys proxy REST calls to the leader and redirect /v2/events
	// to it. At least one is required.
	URLs []string

	// Username and Password are sent as HTTP Basic authentication
	// (--auth-credentials user:pass; see ParseCredentials).
	Username, Password string
	// CredentialFile is a file whose first line is "user:pass"
	// (--marathon-auth-credential-file). It is read once, by New, and may
	// not be combined with Username/Password.
	CredentialFile string
	// CACert is a PEM file of CAs to verify Marathon's certificate with
	// (--marathon-ca-cert). Without it the system roots are used.
	CACert string
	// InsecureSkipVerify turns TLS verification off. Marathon-LB does so
	// whenever no CA file is given; Signpost verifies unless told not to.
	InsecureSkipVerify bool
	// Transport, when set, is used for every request instead of Signpost's
	// own (for DC/OS token authentication, say); CACert and
	// InsecureSkipVerify must then be unset.
	Transport http.RoundTripper

	// Timeout bounds one GET /v2/apps, body included, and the wait for the
	// headers of GET /v2/events (0: DefaultTimeout).
	Timeout time.Duration
	// Resync is the period of full refetches when no event asks for one
	// (0: DefaultResync).
	Resync time.Duration
	// Coalesce is how long a relevant event waits for others before the
	// refetch it triggers starts (0: DefaultCoalesce). Events arriving
	// during a refetch cause exactly one more.
	Coalesce time.Duration
	// IdleTimeout is how long the event stream may stay silent (not even a
	// heartbeat) before it is taken for dead and reopened
	// (0: DefaultIdleTimeout).
	IdleTimeout time.Duration
	// EventTypes are the event types to subscribe to (nil: DefaultEventTypes).
	EventTypes []string
	// BackoffMin and BackoffMax bound the jittered exponential wait after a
	// round of failures over all URLs (0: DefaultBackoffMin/Max).
	BackoffMin, BackoffMax time.Duration
	// MaxBodyBytes bounds one /v2/apps document (0: DefaultMaxBodyBytes).
	MaxBodyBytes int64

	// Logger receives connection changes, failures and malformed events
	// (nil: discarded).
	Logger *slog.Logger
	// Now stamps Update.Fetched and Status times (nil: time.Now). Waiting
	// always uses the real clock.
	Now func() time.Time
	// Rand returns a number in [0, 1) for backoff jitter (nil:
	// math/rand/v2.Float64). Calls are serialised, so a *rand.Rand's
	// Float64 will do.
	Rand func() float64
}

// ParseCredentials splits "user:pass" (--auth-credentials) at the first
// colon, so that a password may contain colons (RFC 7617 forbids them in
// the user id, not in the password). Marathon-LB splits at every colon and
// then fails on such a password.
func ParseCredentials(s string) (user, pass string, err error) {
	user, pass, ok := strings.Cut(s, ":")
	if !ok {
		return "", "", errors.New(`credentials must be "user:pass" (no colon found)`)
	}
	if user == "" {
		return "", "", errors.New(`credentials must be "user:pass" (empty user)`)
	}
	return user, pass, nil
}

// ReadCredentialFile reads "user:pass" from the first line of a file, as
// Marathon-LB's --marathon-auth-credential-file does; a trailing CR or LF
// and the rest of the file are ignored.
func ReadCredentialFile(path string) (user, pass string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	// A credential line is short; the limit keeps a wrong path (a log
	// file, a device) from being read whole.
	line, err := bufio.NewReader(io.LimitReader(f, 64<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", "", fmt.Errorf("%s: %w", path, err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", "", fmt.Errorf(`%s: first line is empty, want "user:pass"`, path)
	}
	user, pass, err = ParseCredentials(line)
	if err != nil {
		// The line itself is a secret: never quote it.
		return "", "", fmt.Errorf("%s: first line: %w", path, err)
	}
	return user, pass, nil
}

// normalizeURL checks one Marathon base URL and returns it without a
// trailing slash.
func normalizeURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "http", "https":
	default:
		return "", fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return "", errors.New("no host")
	}
	if u.User != nil {
		// Credentials in a URL end up in logs and Status.URL.
		return "", errors.New("has credentials in it; use Username/Password or CredentialFile")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("must not have a query or fragment")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

// check fills in defaults and validates; errors name the field at fault.
func (cfg *Config) check() error {
	if len(cfg.URLs) == 0 {
		return errors.New("URLs: at least one Marathon URL is required")
	}
	urls := make([]string, len(cfg.URLs))
	for i, raw := range cfg.URLs {
		u, err := normalizeURL(raw)
		if err != nil {
			return fmt.Errorf("URLs[%d] %q: %w", i, raw, err)
		}
		if j := slices.Index(urls[:i], u); j >= 0 {
			return fmt.Errorf("URLs[%d] %q: repeats URLs[%d]", i, raw, j)
		}
		urls[i] = u
	}
	cfg.URLs = urls

	if cfg.CredentialFile != "" {
		if cfg.Username != "" || cfg.Password != "" {
			return errors.New("CredentialFile: set either it or Username/Password, not both")
		}
		user, pass, err := ReadCredentialFile(cfg.CredentialFile)
		if err != nil {
			return fmt.Errorf("CredentialFile: %w", err)
		}
		cfg.Username, cfg.Password = user, pass
	} else if cfg.Username == "" && cfg.Password != "" {
		return errors.New("Username: empty, but a Password is set")
	} else if strings.Contains(cfg.Username, ":") {
		return errors.New("Username: must not contain a colon (HTTP Basic authentication)")
	}

	if cfg.Transport != nil && (cfg.CACert != "" || cfg.InsecureSkipVerify) {
		return errors.New("Transport: CACert and InsecureSkipVerify apply to Signpost's own transport only; configure TLS in Transport")
	}

	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"Timeout", &cfg.Timeout, DefaultTimeout},
		{"Resync", &cfg.Resync, DefaultResync},
		{"Coalesce", &cfg.Coalesce, DefaultCoalesce},
		{"IdleTimeout", &cfg.IdleTimeout, DefaultIdleTimeout},
		{"BackoffMin", &cfg.BackoffMin, DefaultBackoffMin},
		{"BackoffMax", &cfg.BackoffMax, DefaultBackoffMax},
	} {
		if *d.v < 0 {
			return fmt.Errorf("%s: %v is negative", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if cfg.BackoffMin > cfg.BackoffMax {
		return fmt.Errorf("BackoffMin: %v is more than BackoffMax %v", cfg.BackoffMin, cfg.BackoffMax)
	}
	if cfg.MaxBodyBytes < 0 {
		return fmt.Errorf("MaxBodyBytes: %d is negative", cfg.MaxBodyBytes)
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}

	if cfg.EventTypes == nil {
		cfg.EventTypes = DefaultEventTypes
	}
	if len(cfg.EventTypes) == 0 {
		return errors.New("EventTypes: empty; nil takes the defaults, and no type at all would never refetch on change")
	}
	types := make([]string, 0, len(cfg.EventTypes))
	for i, t := range cfg.EventTypes {
		if t == "" || strings.ContainsAny(t, "&=#?/ \t\r\n") {
			return fmt.Errorf("EventTypes[%d] %q: not an event type", i, t)
		}
		if !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	cfg.EventTypes = types

	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return nil
}

// tlsConfig is the TLS set-up of Signpost's own transport.
func (cfg *Config) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{InsecureSkipVerify: cfg.InsecureSkipVerify}
	if cfg.CACert == "" {
		return tc, nil
	}
	pem, err := os.ReadFile(cfg.CACert)
	if err != nil {
		return nil, fmt.Errorf("CACert: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CACert: %s: no PEM certificate in it", cfg.CACert)
	}
	tc.RootCAs = pool
	return tc, nil
}
