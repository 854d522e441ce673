// Package haproxytest runs a real HAProxy for tests that compare Signpost
// with it (the oracle tests of the lb packages).
package haproxytest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Binary returns the path of HAProxy. Without one the test is skipped, except
// under CI=true, where a missing dependency is a failure
// (scripts/install-deps.sh installs it).
func Binary(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"haproxy", "/usr/sbin/haproxy"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("haproxy not installed; CI=true, so this is a failure, not a skip (scripts/install-deps.sh installs it)")
	}
	t.Skip("haproxy not installed (scripts/install-deps.sh installs it)")
	return ""
}

// Start checks cfg with "haproxy -c" and runs HAProxy in the foreground with
// it until the test ends; it returns the address of the frontend that binds
// "fd@3". That socket is the test's own listener, passed down, so there is no
// port to race for and no start-up to wait for: connections queue in the
// backlog until HAProxy accepts them. HAProxy's output goes to a file (no
// copying goroutines) and is logged when the test fails.
func Start(t testing.TB, cfg string) string {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	check := exec.Command(bin, "-c", "-f", path)
	check.ExtraFiles = []*os.File{f}
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	logf, err := os.Create(filepath.Join(dir, "haproxy.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{f}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			out, _ := os.ReadFile(logf.Name())
			t.Logf("haproxy output:\n%s", out)
		}
	})
	return ln.Addr().String()
}
