package routes

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	with := func(mod func(*Flags)) Flags {
		f := DefaultFlags()
		f.Groups = []string{"external"}
		mod(&f)
		return f
	}
	tests := []struct {
		name string
		args []string
		want Flags
		err  string // substring; "" = no error
	}{
		{name: "group only", args: []string{"--group", "external"}, want: with(func(*Flags) {})},
		{name: "defaults", args: []string{"--group", "external"}, want: with(func(f *Flags) {
			if !f.BindHTTPHTTPS || f.MinServPortIPPerTask != 10050 || f.MaxServPortIPPerTask != 10100 ||
				!reflect.DeepEqual(f.SSLCerts, []string{"/etc/ssl/cert.pem"}) || f.HTTPAddr.Port != 80 ||
				f.HTTPSAddr.Port != 443 || f.AppIDAddr.Port != 9091 {
				panic("DefaultFlags changed")
			}
		})},
		{name: "repeated group and star", args: []string{"--group", "external", "--group", "*"},
			want: with(func(f *Flags) { f.Groups = []string{"external", "*"} })},
		{name: "equals syntax", args: []string{"--group=external", "--ssl-certs=/a.pem,/b.pem"},
			want: with(func(f *Flags) { f.SSLCerts = []string{"/a.pem", "/b.pem"} })},
		{name: "empty ssl-certs is the default", args: []string{"--group", "external", "--ssl-certs", ""},
			want: with(func(*Flags) {})},
		{name: "routing booleans", args: []string{"--group", "external", "--strict-mode", "--health-check",
			"--haproxy-map", "--dont-bind-http-https", "--group-https-by-vhost"},
			want: with(func(f *Flags) {
				f.StrictMode, f.HealthCheck, f.HAProxyMap, f.BindHTTPHTTPS, f.GroupHTTPSByVhost = true, true, true, false, true
			})},
		{name: "short health check", args: []string{"-H", "--group", "external"}, want: with(func(f *Flags) { f.HealthCheck = true })},
		{name: "abbreviation", args: []string{"--group", "external", "--strict", "--dont-bind"},
			want: with(func(f *Flags) { f.StrictMode, f.BindHTTPHTTPS = true, false })},
		{name: "port range", args: []string{"--group", "external", "--min-serv-port-ip-per-task", "20000", "--max-serv-port-ip-per-task=20010"},
			want: with(func(f *Flags) { f.MinServPortIPPerTask, f.MaxServPortIPPerTask = 20000, 20010 })},
		{name: "range disabled", args: []string{"--group", "external", "--min-serv-port-ip-per-task", "0", "--max-serv-port-ip-per-task", "0"},
			want: with(func(f *Flags) { f.MinServPortIPPerTask, f.MaxServPortIPPerTask = 0, 0 })},
		{name: "non-routing flags accepted", args: []string{"-m", "http://m1:8080", "http://m2:8080", "--group", "external",
			"--sse", "-d", "--haproxy-config", "/tmp/h.cfg", "--max-reload-retries", "-1", "--command", "sv reload haproxy",
			"--lru-cache-capacity", "5000", "--syslog-socket", "/dev/null", "--log-level", "INFO", "--marathon-ca-cert", "/ca.pem",
			"--auth-credentials", "u:p", "--skip-validation", "--skip-config-cleanup", "--archive-versions", "3",
			"--reload-interval", "5", "--max-backoff", "60", "--log-format", "%(message)s", "--longhelp",
			"--marathon-auth-credential-file", "/f", "--dcos-auth-credentials", "{}", "-s", "-c", "true"},
			want: with(func(*Flags) {})},
		{name: "group required", args: []string{"--strict-mode"}, err: "--group is required"},
		{name: "unknown flag", args: []string{"--group", "external", "--bogus"}, err: `unrecognized argument "--bogus"`},
		{name: "positional", args: []string{"--group", "external", "extra"}, err: `unrecognized argument "extra"`},
		{name: "ambiguous", args: []string{"--group", "external", "--max-"}, err: "ambiguous option: --max-"},
		{name: "missing value", args: []string{"--group"}, err: "argument --group: expected one argument"},
		{name: "value is an option", args: []string{"--ssl-certs", "--group", "x"}, err: "argument --ssl-certs: expected one argument"},
		{name: "bad int", args: []string{"--group", "external", "--min-serv-port-ip-per-task", "ten"},
			err: `argument --min-serv-port-ip-per-task: invalid int value: "ten"`},
		{name: "bad port", args: []string{"--group", "external", "--max-serv-port-ip-per-task", "70000"},
			err: "argument --max-serv-port-ip-per-task: port 70000 out of range"},
		{name: "bool with value", args: []string{"--group", "external", "--strict-mode=yes"},
			err: `argument --strict-mode: ignored explicit argument "yes"`},
		{name: "half range", args: []string{"--group", "external", "--min-serv-port-ip-per-task", "0"},
			err: "either specify both"},
		{name: "min above max", args: []string{"--group", "external", "--min-serv-port-ip-per-task", "10200"},
			err: "cannot set --min-serv-port-ip-per-task to a higher value"},
		{name: "marathon without url", args: []string{"--group", "external", "-m"}, err: "argument --marathon: expected at least one argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseArgs(tt.args)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.Resolve, tt.want.Resolve = nil, nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseCommandLine(t *testing.T) {
	var addr string
	var insecure bool
	extra := []Option{
		{Name: "--http-addr", Set: func(v string) error { addr = v; return nil }},
		{Name: "--insecure-skip-verify", Bool: true, Set: func(string) error { insecure = true; return nil }},
		{Name: "--drain-timeout", Set: func(v string) error {
			if v != "30s" {
				return errors.New("bad duration")
			}
			return nil
		}},
	}
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, c CommandLine)
		err   string
	}{
		{name: "issue's command line", args: []string{"--marathon", "http://marathon:8080", "--group", "external", "--sse"},
			check: func(t *testing.T, c CommandLine) {
				if !reflect.DeepEqual(c.Marathon, []string{"http://marathon:8080"}) || !c.SSE || c.Dry || c.Help ||
					!reflect.DeepEqual(c.Flags.Groups, []string{"external"}) || len(c.Process) != 0 {
					t.Errorf("%+v", c)
				}
			}},
		{name: "default marathon", args: []string{"--group", "x"}, check: func(t *testing.T, c CommandLine) {
			if !reflect.DeepEqual(c.Marathon, []string{DefaultMarathon}) || c.SSE {
				t.Errorf("%+v", c)
			}
		}},
		{name: "several marathons, repeated", args: []string{"-m", "http://a", "http://b", "--group", "x", "--marathon=http://c", "-mhttp://d"},
			check: func(t *testing.T, c CommandLine) {
				if !reflect.DeepEqual(c.Marathon, []string{"http://a", "http://b", "http://c", "http://d"}) {
					t.Errorf("marathon %q", c.Marathon)
				}
			}},
		{name: "connection and logging", args: []string{"--group", "x", "-s", "-d", "--auth-credentials", "u:p:q",
			"--marathon-auth-credential-file", "/f", "--marathon-ca-cert", "/ca.pem", "--log-level", "WARNING",
			"--max-backoff", "60", "--dcos-auth-credentials", "{}"},
			check: func(t *testing.T, c CommandLine) {
				if !c.SSE || !c.Dry || c.AuthCredentials != "u:p:q" || c.CredentialFile != "/f" || c.CACert != "/ca.pem" ||
					c.LogLevel != "WARNING" || c.MaxBackoff != 60 || c.DCOSAuthCredentials != "{}" {
					t.Errorf("%+v", c)
				}
			}},
		{name: "process options listed once each", args: []string{"--group", "x", "--haproxy-config", "/h.cfg",
			"--reload-interval", "5", "--command", "a", "-c", "b", "--skip-validation", "--lru-cache-capacity", "9",
			"--syslog-socket", "/dev/null", "--log-format", "%(message)s", "--archive-versions", "1",
			"--max-reload-retries", "2", "--skip-config-cleanup"},
			check: func(t *testing.T, c CommandLine) {
				want := []string{"--haproxy-config", "--reload-interval", "--command", "--skip-validation", "--lru-cache-capacity",
					"--syslog-socket", "--log-format", "--archive-versions", "--max-reload-retries", "--skip-config-cleanup"}
				if !reflect.DeepEqual(c.Process, want) {
					t.Errorf("process %q\nwant    %q", c.Process, want)
				}
			}},
		{name: "help stops parsing", args: []string{"--bogus-before-is-an-error-so-not-here", "-h"}, err: `unrecognized argument "--bogus-before-is-an-error-so-not-here"`},
		{name: "help without group", args: []string{"-h", "--bogus"}, check: func(t *testing.T, c CommandLine) {
			if !c.Help {
				t.Error("no help")
			}
		}},
		{name: "longhelp", args: []string{"--longhelp"}, check: func(t *testing.T, c CommandLine) {
			if !c.Help {
				t.Error("no help")
			}
		}},
		{name: "extra options", args: []string{"--group", "x", "--http-addr", "127.0.0.1:8080", "--insecure-skip-verify", "--drain-timeout=30s"},
			check: func(t *testing.T, c CommandLine) {
				if addr != "127.0.0.1:8080" || !insecure {
					t.Errorf("addr %q insecure %v", addr, insecure)
				}
			}},
		{name: "extra options are never abbreviated", args: []string{"--group", "x", "--http-a", "y"}, err: `unrecognized argument "--http-a"`},
		{name: "extras leave Marathon-LB's abbreviations alone", args: []string{"--group", "x", "--dr"},
			check: func(t *testing.T, c CommandLine) {
				if !c.Dry {
					t.Error("--dr is not --dry")
				}
			}},
		{name: "extra option error names it", args: []string{"--group", "x", "--drain-timeout", "1h"}, err: "argument --drain-timeout: bad duration"},
		{name: "extra bool with value", args: []string{"--group", "x", "--insecure-skip-verify=yes"}, err: `argument --insecure-skip-verify: ignored explicit argument "yes"`},
		{name: "go-style long flag", args: []string{"--group", "x", "-log-level", "debug"}, err: `unrecognized argument "-log-level" (did you mean --log-level?)`},
		{name: "go-style extra flag", args: []string{"--group", "x", "-http-addr=:80"}, err: `(did you mean --http-addr?)`},
		{name: "bad max-backoff", args: []string{"--group", "x", "--max-backoff", "0"}, err: "argument --max-backoff: 0 is not a positive number of seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, insecure = "", false
			c, err := ParseCommandLine(tt.args, extra...)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}
