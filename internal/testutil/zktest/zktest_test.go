package zktest

import (
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

func TestStartRuokStop(t *testing.T) {
	begin := time.Now()
	s := Start(t)
	t.Logf("ZooKeeper ready on %s after %v", s.Addr, time.Since(begin))

	if !strings.HasPrefix(s.Addr, "127.0.0.1:") {
		t.Errorf("Addr = %q, want 127.0.0.1:port", s.Addr)
	}
	if got := fourLetterWord(s.Addr, "ruok"); got != "imok" {
		t.Errorf("ruok = %q, want imok", got)
	}
	srvr := fourLetterWord(s.Addr, "srvr")
	if !strings.Contains(srvr, "Mode: standalone") {
		t.Errorf("srvr does not say standalone:\n%s", srvr)
	}

	// The server logs to its directory, not to the console.
	logData, err := os.ReadFile(filepath.Join(s.Dir, "zookeeper.log"))
	if err != nil || !strings.Contains(string(logData), "ZooKeeperServer") {
		t.Errorf("zookeeper.log missing or without server lines (err %v):\n%s", err, logData)
	}
	if out, _ := os.ReadFile(filepath.Join(s.Dir, "zookeeper.out")); strings.Contains(string(out), "INFO") || strings.Contains(string(out), "SLF4J") {
		t.Errorf("the JVM wrote log lines to its stdout/stderr:\n%s", out)
	}

	s.Stop()
	if _, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		t.Errorf("%s still accepts connections after Stop", s.Addr)
	}
	s.Stop() // idempotent
}

func TestRestartKeepsData(t *testing.T) {
	s := Start(t)
	conn, _, err := zk.Connect([]string{s.Addr}, 10*time.Second, zk.WithLogInfo(false), zk.WithLogger(discard{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Create("/kept", []byte("x"), zk.FlagPersistent, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create: %v", err)
	}

	conn.Close()

	s.Restart()
	if got := fourLetterWord(s.Addr, "ruok"); got != "imok" {
		t.Fatalf("ruok after Restart = %q", got)
	}
	// A new session on the restarted server sees the node. (Whether an old
	// client reconnects in time is the client library's business and
	// depends on load, so the test does not rely on it.)
	conn2, _, err := zk.Connect([]string{s.Addr}, 30*time.Second, zk.WithLogInfo(false), zk.WithLogger(discard{}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		data, _, err := conn2.Get("/kept")
		if err == nil {
			if string(data) != "x" {
				t.Errorf("/kept = %q after Restart, want x", data)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("get /kept after Restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	s.Stop()
	s.Restart() // from stopped, too
	if got := fourLetterWord(s.Addr, "ruok"); got != "imok" {
		t.Errorf("ruok after Stop+Restart = %q", got)
	}
}

type discard struct{}

func (discard) Printf(string, ...any) {}

// fakeTB records Skip and Fatal instead of ending the real test, so that the
// "not installed" paths can be exercised on a machine that has ZooKeeper.
type fakeTB struct {
	testing.TB
	dir     string
	skipped string
	fatal   string
}

func (f *fakeTB) Helper()                          {}
func (f *fakeTB) TempDir() string                  { return f.dir }
func (f *fakeTB) Cleanup(func())                   {}
func (f *fakeTB) Skipf(format string, args ...any) { f.skipped = format; runtime.Goexit() }
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = format
	runtime.Goexit()
}

func TestNotInstalled(t *testing.T) {
	saved := zookeeperJar
	zookeeperJar = filepath.Join(t.TempDir(), "no-such.jar")
	defer func() { zookeeperJar = saved }()

	run := func(ci string) *fakeTB {
		t.Setenv("CI", ci)
		f := &fakeTB{TB: t, dir: t.TempDir()}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Start(f)
		}()
		<-done
		return f
	}

	if f := run(""); f.skipped == "" || f.fatal != "" {
		t.Errorf("without CI: skipped=%q fatal=%q, want a skip", f.skipped, f.fatal)
	}
	if f := run("true"); f.fatal == "" || f.skipped != "" {
		t.Errorf("with CI=true: skipped=%q fatal=%q, want a failure", f.skipped, f.fatal)
	}
}
