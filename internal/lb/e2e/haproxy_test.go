package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/testutil/syncbuf"
)

// startHAProxy runs real HAProxy with a conformance case's expected.cfg,
// adapted like its apps (addresses, ports, certificates, map files) and
// without what needs Marathon-LB's container (Lua services, the state file,
// syslog). It stands where `signpost lb` stands in TestConformance.
func startHAProxy(t *testing.T, ln loopNet, a *adapted, dir string) *lbProc {
	t.Helper()
	bin := needTool(t, "haproxy")
	text, err := os.ReadFile(filepath.Join(dir, "expected.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	ip := ln.ip(200).String()
	l := &lbProc{http: ip + ":80", https: ip + ":443", appID: ip + ":9091", admin: ip + ":9090",
		cert: writeCert(t, tmp, "default.example")}
	for _, m := range []string{"domain2backend.map", "app2backend.map"} {
		data, _ := os.ReadFile(filepath.Join(dir, m))
		if err := os.WriteFile(filepath.Join(tmp, m), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	drop := regexp.MustCompile(`^\s*(log |lua-load|stats socket|server-state|load-server-state|http-request use-service)`)
	server := regexp.MustCompile(`^(\s*server \S+ )(\d+\.\d+\.\d+\.\d+)(:\d+.*)$`)
	bind := regexp.MustCompile(`^(\s*bind )(\S+):(\d+)(.*)$`)
	var out []string
	for line := range strings.SplitSeq(string(text), "\n") {
		if drop.MatchString(line) {
			continue
		}
		if m := server.FindStringSubmatch(line); m != nil {
			line = m[1] + a.ips[m[2]] + m[3]
		}
		if m := bind.FindStringSubmatch(line); m != nil {
			host, port, rest := m[2], m[3], m[4]
			switch {
			case port == "9090":
				host = ip
			case host == "*" && (port == "80" || port == "443" || port == "9091"):
				host = ip
			default:
				n, _ := strconv.Atoi(port)
				port = strconv.Itoa(a.ports[n])
			}
			if f := strings.Fields(rest); len(f) >= 3 && f[0] == "ssl" && f[1] == "crt" {
				crt := l.cert
				if port != "443" {
					crt = a.certs[f[2]]
				}
				rest = " ssl crt " + crt + " " + strings.Join(f[3:], " ")
			}
			line = m[1] + host + ":" + port + rest
		}
		line = strings.ReplaceAll(line, "/etc/haproxy/", tmp+"/")
		if strings.TrimSpace(line) == "maxconn 50000" {
			line = "  maxconn 2000" // within this machine's file descriptor limit
		}
		out = append(out, line)
	}
	cfg := filepath.Join(tmp, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(strings.Join(out, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(bin, "-c", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s\n%s", err, b, strings.Join(out, "\n"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-db", "-f", cfg)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	stderr := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	l.proc = &proc{name: "haproxy", cmd: cmd, stderr: stderr, done: make(chan struct{})}
	go func() { l.err = cmd.Wait(); close(l.done) }()
	t.Cleanup(func() {
		cancel()
		<-l.done
		if t.Failed() {
			t.Logf("--- haproxy (%v) ---\n%s", l.err, tail(stderr.String(), 10000))
		}
	})
	eventually(t, "haproxy listens", func() error {
		if l.exited() {
			t.Fatalf("haproxy exited: %v", l.err)
		}
		_, err := httpGet("http://" + l.admin + "/_haproxy_health_check")
		return err
	})
	return l
}
