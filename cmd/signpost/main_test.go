package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestBadInputExitsTwoWithOneLine(t *testing.T) {
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "bad.json")
	os.WriteFile(notJSON, []byte("{not json"), 0o644)
	badDNS := filepath.Join(dir, "dns-bad.json")
	os.WriteFile(badDNS, []byte(`{"masters":["127.0.0.1:5050"],"port":"53"}`), 0o644)
	badSources := filepath.Join(dir, "dns-sources.json")
	os.WriteFile(badSources, []byte(`{"masters":["127.0.0.1:5050"],"IPSources":["netinfo","dns"]}`), 0o644)
	neither := filepath.Join(dir, "neither.json")
	os.WriteFile(neither, []byte(`{"hello":1}`), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"sim", "-nope"}, "flag provided but not defined: -nope"},
		{[]string{"sim", "-masters", "0"}, "-masters: 0 is outside 1-9"},
		{[]string{"sim", "-masters", "x"}, `invalid value "x" for flag -masters`},
		{[]string{"sim", "-apps", "3"}, "-apps needs -agents"},
		{[]string{"sim", "-kill-grace", "-1s"}, "-kill-grace: -1s is negative"},
		{[]string{"sim", "-agents", "-1"}, "-agents: -1 is outside"},
		{[]string{"sim", "-state", filepath.Join(dir, "missing.json")}, "missing.json: no such file"},
		{[]string{"sim", "-state", notJSON}, "bad.json"},
		{[]string{"sim", "-state", neither}, "neither a Marathon apps document"},
		{[]string{"sim", "-zk", "http://x:1/mesos"}, "-zk:"},
		{[]string{"sim", "-task-kind", "udp"}, `-task-kind: "udp" is not http or tcp-echo`},
		{[]string{"sim", "-log-level", "loud"}, `-log-level: "loud"`},
		{[]string{"sim", "extra"}, `unexpected argument "extra"`},
		{[]string{"dns", "-config", "/nonexistent.json"}, "-config:"},
		{[]string{"dns", "-config", badDNS}, `config key "port"`},
		{[]string{"dns", "-config", badSources}, `config key "IPSources"`},
		{[]string{"lb"}, "argument --group is required"},
		{[]string{"lb", "--group", "x", "--bogus"}, `unrecognized argument "--bogus"`},
		{[]string{"lb", "--group", "x", "-log-level", "debug"}, `unrecognized argument "-log-level" (did you mean --log-level?)`},
		{[]string{"lb", "--group", "x", "--log-level", "loud"}, `argument --log-level: "loud" is not one of`},
		{[]string{"lb", "--group", "x", "--min-serv-port-ip-per-task", "0"}, "either specify both"},
		{[]string{"lb", "--group", "x", "--http-addr", "localhost:80"}, `--http-addr: "localhost:80": the host must be an IP address`},
		{[]string{"lb", "--group", "x", "--admin-addr", "9090"}, "--admin-addr: address 9090: missing port"},
		{[]string{"lb", "--group", "x", "--drain-timeout=-5s"}, `argument --drain-timeout: "-5s": must be positive`},
		{[]string{"lb", "--group", "x", "--drain-timeout", "soon"}, `argument --drain-timeout: "soon" is not a duration`},
		{[]string{"lb", "--group", "x", "--auth-credentials", "nocolon"}, "argument --auth-credentials:"},
		{[]string{"lb", "--group", "x", "--marathon-ca-cert", filepath.Join(dir, "missing-ca.pem")}, "missing-ca.pem"},
		{[]string{"lb", "--group", "x", "--dcos-auth-credentials", "{}"}, "DC/OS service-account authentication is not supported"},
		{[]string{"lb", "--group", "x", "-m", "ftp://m:8080"}, "ftp://m:8080"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, _, stderr := runArgs(t, c.args...)
			if code != exitUsage {
				t.Errorf("exit status %d, want %d (stderr %q)", code, exitUsage, stderr)
			}
			if !strings.Contains(stderr, c.want) {
				t.Errorf("stderr %q does not name the problem %q", stderr, c.want)
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n != 0 {
				t.Errorf("stderr has %d lines, want one: %q", n+1, stderr)
			}
		})
	}
}

func TestHelpListsEveryFlagWithDefault(t *testing.T) {
	code, out, _ := runArgs(t, "help")
	if code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	for _, name := range []string{"dns", "lb", "sim", "demo", "version"} {
		if !strings.Contains(out, "  "+name) {
			t.Errorf("help does not list %q:\n%s", name, out)
		}
	}
	code, out, _ = runArgs(t, "sim", "-h")
	if code != 0 {
		t.Fatalf("sim -h: exit %d", code)
	}
	for _, want := range []string{"-masters int", "(default 1)", "-mesos-addr string", `(default "127.0.0.1:5050")`, "-zk string", "-run-tasks", "-agents int", "-state string"} {
		if !strings.Contains(out, want) {
			t.Errorf("sim -h lacks %q:\n%s", want, out)
		}
	}
	for _, args := range [][]string{{"help", "lb"}, {"lb", "-h"}, {"lb", "--longhelp"}, {"lb", "--group", "x", "--help"}} {
		code, out, _ := runArgs(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		for _, want := range []string{"--marathon, -m URL", "--group GROUP", "--http-addr ADDR", "(default :80)", "--drain-timeout", "(default 30s)", "--dont-bind-http-https", "SIGHUP"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v lacks %q:\n%s", args, want, out)
			}
		}
	}
	code, out2, _ := runArgs(t, "help", "demo")
	if code != 0 || !strings.Contains(out2, "-once") {
		t.Errorf("help demo: exit %d, output %q", code, out2)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runArgs(t, "version")
	if code != 0 || !strings.HasPrefix(out, "signpost ") {
		t.Fatalf("version: exit %d, %q", code, out)
	}
}

// TestDemoOnce runs the demo as a user would and checks that every sample
// task answered over a real socket.
func TestDemoOnce(t *testing.T) {
	code, out, stderr := runArgs(t, "demo", "-once", "-mesos-addr", "127.0.0.1:0", "-marathon-addr", "127.0.0.1:0", "-control-addr", "127.0.0.1:0", "-dns-addr", "127.0.0.1:0", "-dns-http-addr", "127.0.0.1:0",
		"-lb-http-addr", "127.0.0.1:0", "-lb-appid-addr", "127.0.0.1:0", "-lb-admin-addr", "127.0.0.1:0", "-log-level", "warn")
	if code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out, stderr)
	}
	if strings.Contains(out, "unreachable") || strings.Contains(out, "no greeting") {
		t.Errorf("a demo task did not answer:\n%s", out)
	}
	for _, want := range []string{"/web", "/shop/api", "/shop/cache", "200 {", "tcp greets with shop_cache.", "Try:", "_web._tcp.marathon.mesos.", "leader.mesos.", "A    127.0.0.1\n", "SRV  web-"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if got := strings.Count(out, "200 {"); got != 5+3 {
		t.Errorf("%d HTTP answers, want 8 (3 web + 2 api tasks directly, 3 through signpost lb):\n%s", got, out)
	}
	for _, w := range [][2]string{{"Host: web.example.com", `200 {"taskId":"web.`}, {"Host: shop.example.com, /api", `200 {"taskId":"shop_api.`},
		{"Host: shop.example.com, /", "503 "}, {"service port 10000", `200 {"taskId":"web.`}} {
		if want := fmt.Sprintf("  %-30s %s", w[0], w[1]); !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
