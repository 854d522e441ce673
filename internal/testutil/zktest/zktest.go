// Package zktest runs a real, throw-away ZooKeeper server for tests.
//
// Signpost reads Mesos leader information from ZooKeeper, and the simulator
// writes it there the way real masters do. A fake ZooKeeper would only prove
// that the code agrees with the fake, so tests start the real Java server
// (Debian's zookeeper package) as a standalone process bound to 127.0.0.1 on a
// free port, with its data and logs in t.TempDir(). Each call to Start gets its
// own server, so tests can run in parallel and never see each other's znodes.
//
// When ZooKeeper is not installed the test is skipped, except under CI=true,
// where a missing dependency is a failure: CI must run everything (install it
// with scripts/install-deps.sh as root).
package zktest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/testutil/freeport"
)

// Locations of the Debian (bookworm) zookeeper package. The jar's manifest
// Class-Path pulls in its dependency jars from /usr/share/java.
const (
	zookeeperConf = "/etc/zookeeper/conf"
	mainClass     = "org.apache.zookeeper.server.ZooKeeperServerMain"
)

// zookeeperJar is a variable only so that tests can pretend it is missing.
var zookeeperJar = "/usr/share/java/zookeeper.jar"

// The zookeeper.jar manifest names slf4j-api but no SLF4J binding, so with
// the plain classpath ZooKeeper logs nothing at all (SLF4J falls back to its
// no-op logger after a warning on stderr). Adding the log4j 1.2 binding, which
// the Debian package depends on, lets us send the server log to a file in the
// test's directory, where Start's failure message and Server.LogTail find it.
var log4jJars = []string{
	"/usr/share/java/slf4j-log4j12.jar",
	"/usr/share/java/log4j-1.2.jar",
}

// StartTimeout bounds how long Start waits for the server to be ready.
// It starts in well under a second on an idle machine; the margin is for
// loaded CI runners where the JVM competes with parallel test binaries.
const StartTimeout = 30 * time.Second

const skipMessage = "zookeeper not installed: run scripts/install-deps.sh as root"

// Server is a running standalone ZooKeeper. Its methods must be called from
// the test's goroutine, as they may call t.Fatal.
type Server struct {
	// Addr is "127.0.0.1:port", the server's only client address.
	Addr string
	// Dir holds zoo.cfg, data/, zookeeper.log (the server log) and
	// zookeeper.out (the JVM's stdout and stderr).
	Dir string

	t    testing.TB
	port int

	mu   sync.Mutex
	proc *process // nil when stopped
	// logShown is set once a failure message has included the log tail,
	// so the cleanup does not print it a second time.
	logShown bool
}

// process is one run of the JVM.
type process struct {
	cmd    *exec.Cmd
	out    *os.File
	exited chan struct{} // closed once cmd.Wait has returned
}

// Start starts a ZooKeeper server for the test, waits until it serves
// clients (ruok answers imok and srvr reports a mode), and registers a
// cleanup that kills it. It skips the test when ZooKeeper is not installed
// (fails under CI=true) and fails it when the server is not ready within
// StartTimeout, quoting the server log.
func Start(t testing.TB) *Server {
	t.Helper()
	java, err := findZooKeeper()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (%v); CI=true, so this is a failure, not a skip", skipMessage, err)
		}
		t.Skipf("%s (%v)", skipMessage, err)
	}

	s := &Server{Dir: t.TempDir(), t: t}
	if err := os.Mkdir(filepath.Join(s.Dir, "data"), 0o755); err != nil {
		t.Fatalf("zktest: %v", err)
	}
	if err := s.writeLogConfig(); err != nil {
		t.Fatalf("zktest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() && !s.logShown {
			t.Logf("zktest: ZooKeeper log tail (%s):\n%s", s.Dir, s.LogTail(40))
		}
		s.Stop()
	})

	// The port was free when picked, but another process can take it before
	// the JVM binds it. The JVM then exits at once ("Address already in
	// use"), and a new port is tried.
	const attempts = 3
	for i := 1; ; i++ {
		port, err := freeport.Pick("127.0.0.1")
		if err != nil {
			t.Fatalf("zktest: %v", err)
		}
		s.port = port
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err := s.writeConfig(); err != nil {
			t.Fatalf("zktest: %v", err)
		}
		err = s.start(java)
		if err == nil {
			return s
		}
		if !errors.Is(err, errExited) || i == attempts {
			s.logShown = true
			t.Fatalf("zktest: ZooKeeper on %s: %v\nlog tail:\n%s", s.Addr, err, s.LogTail(40))
		}
	}
}

// Stop kills the server and waits for it to exit. Killing (rather than a
// graceful shutdown) is what a crashed machine does; ZooKeeper's transaction
// log makes it safe. Stop is idempotent, and Restart brings the server back.
func (s *Server) Stop() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	_ = p.out.Close()
}

// Restart stops the server if it is running and starts it again on the same
// address with the same data directory, so persistent znodes survive and
// clients reconnect to the same address. Sessions whose timeout has not
// elapsed survive too, with their ephemeral nodes, as with a real restart.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	java, err := findZooKeeper()
	if err != nil {
		s.t.Fatalf("zktest: %v", err)
	}
	if err := s.start(java); err != nil {
		s.logShown = true
		s.t.Fatalf("zktest: restarting ZooKeeper on %s: %v\nlog tail:\n%s", s.Addr, err, s.LogTail(40))
	}
}

// LogTail returns the last n lines of the server log and of the JVM's own
// output, for failure messages.
func (s *Server) LogTail(n int) string {
	var b strings.Builder
	for _, name := range []string{"zookeeper.log", "zookeeper.out"} {
		data, err := os.ReadFile(filepath.Join(s.Dir, name))
		if err != nil {
			fmt.Fprintf(&b, "[%s: %v]\n", name, err)
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		fmt.Fprintf(&b, "[%s]\n%s\n", name, strings.Join(lines, "\n"))
	}
	return b.String()
}

// errExited reports that the JVM exited before it was ready.
var errExited = errors.New("ZooKeeper exited before it was ready")

// start launches the JVM and waits until it is ready.
func (s *Server) start(java string) error {
	out, err := os.OpenFile(filepath.Join(s.Dir, "zookeeper.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	classpath := []string{zookeeperJar}
	if fi, err := os.Stat(zookeeperConf); err == nil && fi.IsDir() {
		// Debian's default classpath; it only adds a log4j.properties,
		// which the -Dlog4j.configuration below overrides.
		classpath = append([]string{zookeeperConf}, classpath...)
	}
	if allExist(log4jJars) {
		classpath = append(classpath, log4jJars...)
	}
	args := []string{
		// A test server holds a handful of znodes; a small heap and the
		// serial collector keep the JVM light when many tests run at once.
		"-Xmx256m", "-XX:+UseSerialGC",
		"-Djava.awt.headless=true",
		"-Dlog4j.configuration=file:" + filepath.Join(s.Dir, "log4j.properties"),
		// For installs with logback instead of log4j (upstream tarballs).
		"-Dlogback.configurationFile=" + filepath.Join(s.Dir, "logback.xml"),
		"-cp", strings.Join(classpath, string(os.PathListSeparator)),
		mainClass, filepath.Join(s.Dir, "zoo.cfg"),
	}
	cmd := exec.Command(java, args...)
	cmd.Dir = s.Dir
	cmd.Stdout = out
	cmd.Stderr = out
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		out.Close()
		return err
	}
	p := &process{cmd: cmd, out: out, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()

	deadline := time.Now().Add(StartTimeout)
	for {
		if ready(s.Addr) {
			return nil
		}
		select {
		case <-p.exited:
			s.Stop()
			return fmt.Errorf("%w (%s)", errExited, cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("not serving after %v (ruok/srvr)", StartTimeout)
		}
	}
}

// ready reports whether the server at addr serves clients. "ruok" alone is
// not enough: ZooKeeper answers "imok" as soon as its client port is bound,
// while it is still loading its database, and until then every other request
// gets "This ZooKeeper instance is not currently serving requests". So this
// asks ruok, then srvr, and wants srvr to report the server's Mode.
func ready(addr string) bool {
	return fourLetterWord(addr, "ruok") == "imok" &&
		strings.Contains(fourLetterWord(addr, "srvr"), "Mode: ")
}

// fourLetterWord sends a ZooKeeper four-letter command and returns the reply,
// or "" when there is none.
func fourLetterWord(addr, word string) string {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return ""
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte(word)); err != nil {
		return ""
	}
	reply, _ := io.ReadAll(conn)
	return string(reply)
}

// writeConfig writes zoo.cfg for the current port.
func (s *Server) writeConfig() error {
	cfg := fmt.Sprintf(`# Written by zktest for one test.
tickTime=2000
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
# Otherwise the Jetty AdminServer binds 0.0.0.0:8080 and clashes with other servers.
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,stat,mntr
# No fsync per transaction: a test server needs speed, not durability across
# power loss (a killed process still leaves its writes in the page cache).
forceSync=no
`, filepath.Join(s.Dir, "data"), s.port)
	return os.WriteFile(filepath.Join(s.Dir, "zoo.cfg"), []byte(cfg), 0o644)
}

// writeLogConfig writes log4j and logback configurations that send the server
// log to Dir/zookeeper.log and nothing to the console.
func (s *Server) writeLogConfig() error {
	logFile := filepath.Join(s.Dir, "zookeeper.log")
	log4j := fmt.Sprintf(`log4j.rootLogger=INFO, FILE
log4j.appender.FILE=org.apache.log4j.FileAppender
log4j.appender.FILE.File=%s
log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
log4j.appender.FILE.layout.ConversionPattern=%%d{ISO8601} %%-5p [%%t:%%C{1}@%%L] - %%m%%n
`, logFile)
	logback := fmt.Sprintf(`<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>%s</file>
    <encoder><pattern>%%d{ISO8601} %%-5p [%%t:%%C{1}@%%L] - %%m%%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
`, logFile)
	if err := os.WriteFile(filepath.Join(s.Dir, "log4j.properties"), []byte(log4j), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.Dir, "logback.xml"), []byte(logback), 0o644)
}

// findZooKeeper reports the java binary to run ZooKeeper with, or why
// ZooKeeper cannot run here.
func findZooKeeper() (java string, err error) {
	if _, err := os.Stat(zookeeperJar); err != nil {
		return "", fmt.Errorf("no %s", zookeeperJar)
	}
	java, err = exec.LookPath("java")
	if err != nil {
		return "", errors.New("no java in PATH")
	}
	return java, nil
}

func allExist(paths []string) bool {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return true
}
