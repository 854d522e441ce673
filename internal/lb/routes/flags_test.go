package routes

import (
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
