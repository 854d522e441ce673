package marathon

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewRejects(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // in the error
	}{
		{"no URLs", Config{}, "URLs: at least one"},
		{"bad scheme", Config{URLs: []string{"ftp://m:8080"}}, `URLs[0] "ftp://m:8080": scheme "ftp"`},
		{"no scheme", Config{URLs: []string{"http://a:8080", "marathon.mesos:8080"}}, `URLs[1]`},
		{"no host", Config{URLs: []string{"http:///v2"}}, `URLs[0] "http:///v2": no host`},
		{"credentials in URL", Config{URLs: []string{"http://u:p@m:8080"}}, "URLs[0]"},
		{"query", Config{URLs: []string{"http://m:8080/?x=1"}}, "URLs[0]"},
		{"duplicate", Config{URLs: []string{"http://m:8080", "http://m:8080/"}}, "URLs[1] \"http://m:8080/\": repeats URLs[0]"},
		{"unreadable CA", Config{URLs: []string{"https://m"}, CACert: missing}, "CACert: open " + missing},
		{"CA without PEM", Config{URLs: []string{"https://m"}, CACert: writeFile(t, "ca", "not a cert")}, "CACert: "},
		{"credential file missing", Config{URLs: []string{"http://m"}, CredentialFile: missing}, "CredentialFile: open " + missing},
		{"credential file format", Config{URLs: []string{"http://m"}, CredentialFile: writeFile(t, "c1", "justuser\n")}, `first line: credentials must be "user:pass"`},
		{"credential file empty", Config{URLs: []string{"http://m"}, CredentialFile: writeFile(t, "c2", "\nuser:pass\n")}, "first line is empty"},
		{"credential file and user", Config{URLs: []string{"http://m"}, CredentialFile: writeFile(t, "c3", "u:p"), Username: "u"}, "CredentialFile: set either"},
		{"password without user", Config{URLs: []string{"http://m"}, Password: "p"}, "Username: empty"},
		{"user with colon", Config{URLs: []string{"http://m"}, Username: "a:b"}, "Username: must not contain a colon"},
		{"transport and CA", Config{URLs: []string{"http://m"}, Transport: http.DefaultTransport, InsecureSkipVerify: true}, "Transport:"},
		{"negative timeout", Config{URLs: []string{"http://m"}, Timeout: -1}, "Timeout: -1ns is negative"},
		{"negative coalesce", Config{URLs: []string{"http://m"}, Coalesce: -time.Second}, "Coalesce:"},
		{"backoff min > max", Config{URLs: []string{"http://m"}, BackoffMin: time.Minute}, "BackoffMin: 1m0s is more than BackoffMax 30s"},
		{"no event types", Config{URLs: []string{"http://m"}, EventTypes: []string{}}, "EventTypes: empty"},
		{"bad event type", Config{URLs: []string{"http://m"}, EventTypes: []string{"a&b"}}, `EventTypes[0] "a&b"`},
		{"negative body", Config{URLs: []string{"http://m"}, MaxBodyBytes: -1}, "MaxBodyBytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.HasPrefix(err.Error(), "marathon source: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// A credential file's content is a secret: errors must not quote it.
func TestCredentialFileNotQuoted(t *testing.T) {
	_, err := New(Config{URLs: []string{"http://m"}, CredentialFile: writeFile(t, "c", "s3cr3t-no-colon\n")})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error %v", err)
	}
}

func TestNewDefaults(t *testing.T) {
	f, err := New(Config{
		URLs:           []string{"http://m1:8080/", "https://proxy/service/marathon/"},
		CredentialFile: writeFile(t, "c", "user:pa:ss\r\nrest"),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := f.cfg
	if c.URLs[0] != "http://m1:8080" || c.URLs[1] != "https://proxy/service/marathon" {
		t.Errorf("URLs %q", c.URLs)
	}
	if c.Username != "user" || c.Password != "pa:ss" {
		t.Errorf("credentials %q %q", c.Username, c.Password)
	}
	if c.Timeout != DefaultTimeout || c.Resync != DefaultResync || c.Coalesce != DefaultCoalesce ||
		c.IdleTimeout != DefaultIdleTimeout || c.BackoffMin != DefaultBackoffMin || c.BackoffMax != DefaultBackoffMax ||
		c.MaxBodyBytes != DefaultMaxBodyBytes || len(c.EventTypes) != len(DefaultEventTypes) ||
		c.Logger == nil || c.Now == nil || c.Rand == nil {
		t.Errorf("defaults not filled in: %+v", c)
	}
	// Marathon-LB's exact subscription, extended.
	want := "/v2/events?plan-format=light&event_type=api_post_event&event_type=health_status_changed_event&event_type=status_update_event&"
	if !strings.HasPrefix(f.eventsPath, want) {
		t.Errorf("events path %q", f.eventsPath)
	}
}

func TestParseCredentials(t *testing.T) {
	for in, want := range map[string][2]string{
		"u:p":      {"u", "p"},
		"u:":       {"u", ""},
		"u:p:q":    {"u", "p:q"},
		"u::":      {"u", ":"},
		"":         {"", "err"},
		"nocolon":  {"", "err"},
		":nouser":  {"", "err"},
		"u:p\nx:y": {"u", "p\nx:y"},
	} {
		user, pass, err := ParseCredentials(in)
		if want[1] == "err" {
			if err == nil {
				t.Errorf("%q: accepted", in)
			}
			continue
		}
		if err != nil || user != want[0] || pass != want[1] {
			t.Errorf("%q: %q %q %v", in, user, pass, err)
		}
	}
}

func TestBackoff(t *testing.T) {
	var r float64
	b := &backoff{min: 100 * time.Millisecond, max: time.Second, rand: func() float64 { return r }}
	// Lowest jitter: half the nominal delay, which doubles up to max.
	for i, want := range []time.Duration{50, 100, 200, 400, 500, 500} {
		if got := b.next(); got != want*time.Millisecond {
			t.Errorf("wait %d: %v, want %v", i, got, want*time.Millisecond)
		}
	}
	b.reset()
	r = 0.999999
	for i, want := range []time.Duration{100, 200, 400, 800, 1000} {
		if got := b.next(); got < want*time.Millisecond-time.Millisecond || got > want*time.Millisecond {
			t.Errorf("wait %d: %v, want just under %v", i, got, want*time.Millisecond)
		}
	}
	r = 7 // a broken Rand is clamped, not trusted
	if got := b.next(); got != 500*time.Millisecond {
		t.Errorf("with Rand 7: %v", got)
	}
}

// The injected Rand is what the follower's backoff uses.
func TestRandInjected(t *testing.T) {
	calls := 0
	f, err := New(Config{URLs: []string{"http://m"}, Rand: func() float64 { calls++; return 0.5 }})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.newBackoff().next(); got != 750*time.Millisecond || calls != 1 {
		t.Errorf("first wait %v after %d calls, want 750ms after 1", got, calls)
	}
}

func TestBaseOf(t *testing.T) {
	for in, want := range map[string]string{
		"http://m:8080/v2/apps?embed=apps.tasks":                     "http://m:8080",
		"https://p/service/marathon/v2/events?plan-format=light&x=y": "https://p/service/marathon",
		"http://m:8080/elsewhere":                                    "http://m:8080",
	} {
		u, _ := url.Parse(in)
		suffix := appsSuffix
		if strings.Contains(in, "events") {
			suffix = eventsSuffix
		}
		if got := baseOf(u, suffix); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}

func TestDecodeEvents(t *testing.T) {
	one := `{"eventType":"app_terminated_event","timestamp":"2014-03-01T23:29:30.158Z","appId":"/my-app"}`
	two := `{"eventType":"deployment_success","timestamp":"2014-03-01T23:29:30.158Z","id":"867ed450"}`
	es, err := decodeEvents("", []byte(one+"\r\n"+two))
	if err != nil || len(es) != 2 || es[0].Type != "app_terminated_event" || es[1].Type != "deployment_success" {
		t.Errorf("two documents: %+v, %v", es, err)
	}
	if _, err := decodeEvents("", []byte(one+"\n{bad")); err == nil {
		t.Error("a bad second document was accepted")
	}
	if _, err := decodeEvents("status_update_event", []byte("")); err == nil {
		t.Error("empty data was accepted")
	}
}

// TestTLS: a CA file makes Marathon's certificate trusted; without it the
// system roots do not know the test CA; InsecureSkipVerify skips the check.
func TestTLS(t *testing.T) {
	leakCheck(t)
	m := &fakeMarathon{apps: appsDoc("/a"), events: make(chan string), heartbeat: 50 * time.Millisecond}
	quit := make(chan struct{})
	m.quit = quit
	m.srv = httptest.NewUnstartedServer(http.HandlerFunc(m.serve))
	// The refused handshakes below are expected; do not log them.
	m.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	m.srv.StartTLS()
	t.Cleanup(func() {
		close(quit)
		m.srv.CloseClientConnections()
		m.srv.Close()
	})
	ca := writeFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: m.srv.Certificate().Raw})))

	fetchOnce := func(cfg Config) error {
		f, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer f.transport.CloseIdleConnections()
		_, err = f.fetch(context.Background())
		return err
	}
	cfg := testConfig(t, m.srv.URL)
	if err := fetchOnce(cfg); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without CA: %v, want a certificate error", err)
	}
	cfg.CACert = ca
	if err := fetchOnce(cfg); err != nil {
		t.Errorf("with CA: %v", err)
	}
	cfg.CACert, cfg.InsecureSkipVerify = "", true
	if err := fetchOnce(cfg); err != nil {
		t.Errorf("insecure: %v", err)
	}

	// And the whole follower over TLS, with an injected clock.
	cfg = testConfig(t, m.srv.URL)
	cfg.CACert = ca
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	cfg.Now = func() time.Time { return now }
	r := start(t, cfg)
	u := r.next(t, "the initial state", func(Update) bool { return true })
	if u.Fetched != now || u.From != m.srv.URL {
		t.Errorf("Fetched %v From %q", u.Fetched, u.From)
	}
}

// TestRedirectDowngrade: an https Marathon redirecting to http is not
// followed: the credentials would travel in clear.
func TestRedirectDowngrade(t *testing.T) {
	leakCheck(t)
	plain := newFake(t, appsDoc("/a"))
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.srv.URL+r.URL.RequestURI(), http.StatusFound)
	}))
	t.Cleanup(tlsSrv.Close)
	cfg := testConfig(t, tlsSrv.URL)
	cfg.InsecureSkipVerify = true
	cfg.Username, cfg.Password = "u", "p"
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.transport.CloseIdleConnections()
	if _, err := f.fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "refusing redirect") {
		t.Errorf("fetch: %v, want a refused redirect", err)
	}
	if n := plain.fetches.Load(); n != 0 {
		t.Errorf("the http server was asked %d times", n)
	}
}
