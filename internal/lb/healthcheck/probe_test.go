package healthcheck

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/routes"
)

func TestCheckResults(t *testing.T) {
	type want struct {
		ok     bool
		is     error // errors.Is target when not ok
		status int   // StatusError code when not ok
	}
	server := func(b behaviour, status int) func(t *testing.T) (netip.AddrPort, *testServer) {
		return func(t *testing.T) (netip.AddrPort, *testServer) {
			s := startServer(t, b, status, nil)
			return s.addr(), s
		}
	}
	servers := []struct {
		name  string
		start func(t *testing.T) (netip.AddrPort, *testServer)
		tcp   want
		http  want
		reads bool // the server reads the HTTP request
	}{
		{"200", server(answer, 200), want{ok: true}, want{ok: true}, true},
		{"204", server(answer, 204), want{ok: true}, want{ok: true}, true},
		{"302", server(answer, 302), want{ok: true}, want{ok: true}, true},
		{"399", server(answer, 399), want{ok: true}, want{ok: true}, true},
		{"199", server(answer, 199), want{ok: true}, want{status: 199}, true},
		{"404", server(answer, 404), want{ok: true}, want{status: 404}, true},
		{"500", server(answer, 500), want{ok: true}, want{status: 500}, true},
		{"503", server(answer, 503), want{ok: true}, want{status: 503}, true},
		{"closes at once", server(closeAt, 0), want{ok: true}, want{is: ErrNoStatus}, false},
		{"not HTTP", server(garbage, 0), want{ok: true}, want{is: ErrBadResponse}, true},
		{"never answers", server(hang, 0), want{ok: true}, want{is: ErrTimeout}, false},
		{"refuses", func(t *testing.T) (netip.AddrPort, *testServer) { return refusingAddr(t), nil },
			want{is: syscall.ECONNREFUSED}, want{is: syscall.ECONNREFUSED}, false},
	}
	for _, sv := range servers {
		for _, typ := range []routes.CheckType{routes.CheckTCP, routes.CheckHTTP} {
			t.Run(string(typ)+"/"+sv.name, func(t *testing.T) {
				target, ts := sv.start(t)
				w := sv.tcp
				if typ == routes.CheckHTTP {
					w = sv.http
				}
				hc := &routes.HealthCheck{Type: typ, Path: "/health?x=1", Interval: time.Second, Timeout: 300 * time.Millisecond}
				sp, _, err := specOf(hc)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), sp.timeout)
				defer cancel()
				var d net.Dialer
				err = runCheck(ctx, &d, &sp, target)
				switch {
				case w.ok && err != nil:
					t.Fatalf("check failed: %v, want a pass", err)
				case !w.ok && err == nil:
					t.Fatalf("check passed, want a failure")
				case w.is != nil && !errors.Is(err, w.is):
					t.Fatalf("error %q, want one that is %q", err, w.is)
				case w.status != 0:
					var se *StatusError
					if !errors.As(err, &se) || se.Code != w.status {
						t.Fatalf("error %v, want HTTP status %d", err, w.status)
					}
				}
				if typ == routes.CheckHTTP && sv.reads {
					eventually(t, "the request", func() bool { return len(ts.requests()) == 1 })
					if got, want := string(ts.requests()[0]), "GET /health?x=1 HTTP/1.0\r\n\r\n"; got != want {
						t.Errorf("request %q, want %q", got, want)
					}
				}
			})
		}
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		line   string
		ok     bool
		status int
	}{
		{"HTTP/1.1 200 OK\r", true, 0},
		{"HTTP/1.0 301", true, 0},
		{"HTTP/1.1 302 Found", true, 0},
		{"HTTP/2.0 204 No Content", true, 0},
		{"HTTP/1.1 400 Bad Request", false, 400},
		{"HTTP/1.1 100 Continue", false, 100},
		{"HTTP/1.1 2000 OK", false, 0},
		{"HTTP/1.1 2x0 OK", false, 0},
		{"HTTP/1.1  200 OK", false, 0},
		{"http/1.1 200 OK", false, 0},
		{"ICY 200 OK", false, 0},
		{"", false, 0},
	}
	for _, tt := range tests {
		err := parseStatus([]byte(tt.line))
		if tt.ok != (err == nil) {
			t.Errorf("%q: err %v, want ok=%v", tt.line, err, tt.ok)
			continue
		}
		var se *StatusError
		switch {
		case tt.ok:
		case tt.status != 0 && (!errors.As(err, &se) || se.Code != tt.status):
			t.Errorf("%q: err %v, want status %d", tt.line, err, tt.status)
		case tt.status == 0 && !errors.Is(err, ErrBadResponse):
			t.Errorf("%q: err %v, want ErrBadResponse", tt.line, err)
		}
	}
}

// TestCheckCancelled: cancelling a check (its server left the table) ends
// it at once rather than at its timeout.
func TestCheckCancelled(t *testing.T) {
	s := startServer(t, hang, 0, nil)
	sp, _, err := specOf(&routes.HealthCheck{Type: routes.CheckHTTP, Path: "/", Interval: time.Hour, Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var d net.Dialer
	go func() { done <- runCheck(ctx, &d, &sp, s.addr()) }()
	eventually(t, "the connection", func() bool { return s.accepted.Load() == 1 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("check not ended by cancellation")
	}
}

func TestSpecOf(t *testing.T) {
	tests := []struct {
		name    string
		hc      routes.HealthCheck
		wantErr string
		check   func(t *testing.T, sp spec, tm timing)
	}{
		{"haproxy defaults", routes.HealthCheck{Type: routes.CheckTCP}, "", func(t *testing.T, sp spec, tm timing) {
			if tm.interval != DefaultInterval || tm.fall != DefaultFall || tm.rise != DefaultRise || sp.timeout != DefaultInterval {
				t.Errorf("got interval %v fall %d rise %d timeout %v", tm.interval, tm.fall, tm.rise, sp.timeout)
			}
		}},
		{"timeout defaults to interval", routes.HealthCheck{Type: routes.CheckTCP, Interval: 7 * time.Second}, "", func(t *testing.T, sp spec, tm timing) {
			if sp.timeout != 7*time.Second {
				t.Errorf("timeout %v, want 7s", sp.timeout)
			}
		}},
		{"empty path is /", routes.HealthCheck{Type: routes.CheckHTTP}, "", func(t *testing.T, sp spec, tm timing) {
			if string(sp.req) != "GET / HTTP/1.0\r\n\r\n" {
				t.Errorf("request %q", sp.req)
			}
		}},
		{"unknown type", routes.HealthCheck{Type: "COMMAND"}, `unknown health check type "COMMAND"`, nil},
		{"path with space", routes.HealthCheck{Type: routes.CheckHTTP, Path: "/a b"}, `HTTP check path "/a b" contains a space`, nil},
		{"path with CRLF", routes.HealthCheck{Type: routes.CheckHTTP, Path: "/a\r\nHost: x"}, "contains a space or control character", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp, tm, err := specOf(&tt.hc)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, sp, tm)
		})
	}
}
