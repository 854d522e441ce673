package healthcheck

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/routes"
)

// BenchmarkUp is the data planes' hot path: one lookup among 10,000
// checked servers, from every P at once.
func BenchmarkUp(b *testing.B) {
	c := New(Options{})
	var backends []*routes.Backend
	for i := range 100 {
		var ss []routes.Server
		for j := range 100 {
			ap := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i), byte(j)}), 31000)
			ss = append(ss, srv(fmt.Sprintf("10_1_%d_%d_31000", i, j), ap))
		}
		backends = append(backends, backend(fmt.Sprintf("app%d_10%03d", i, i), tcpCheck(time.Second, 3, 2), ss...))
	}
	if err := c.Apply(tableOf(backends...)); err != nil {
		b.Fatal(err)
	}
	// spread: every call asks about another of the 10,000 servers, so the
	// lookups miss the CPU caches (a busy LB with many backends);
	// same: one server over and over (the cost floor).
	b.Run("spread", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				be := backends[i%100]
				if !c.Up(be.Name, &be.Servers[(i/100)%100]) {
					b.Fatal("down")
				}
				i++
			}
		})
	})
	b.Run("same", func(b *testing.B) {
		b.ReportAllocs()
		be := backends[42]
		s := &be.Servers[7]
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if !c.Up(be.Name, s) {
					b.Fatal("down")
				}
			}
		})
	})
}

// BenchmarkChecker10k checks 10,000 servers, each a real listener in a
// child process (so that only the Checker's own CPU is measured), every
// second. One iteration is one second of checking; run with -benchtime=5x.
// It reports the Checker's CPU per second and per check, the goroutines
// and heap it needs, and the checks it completed.
func BenchmarkChecker10k(b *testing.B) {
	for _, typ := range []routes.CheckType{routes.CheckTCP, routes.CheckHTTP} {
		b.Run(string(typ), func(b *testing.B) { benchChecker(b, typ, 10000, time.Second) })
	}
}

func benchChecker(b *testing.B, typ routes.CheckType, n int, interval time.Duration) {
	addrs := startListenerProcess(b, n)
	var backends []*routes.Backend
	hc := &routes.HealthCheck{Type: typ, Path: "/health", Interval: interval, Timeout: 2 * time.Second, Fall: 3, Rise: 2}
	for i := 0; i < n; i += 100 {
		var ss []routes.Server
		for j, ap := range addrs[i:min(i+100, n)] {
			ss = append(ss, srv(fmt.Sprintf("s%d", i+j), ap))
		}
		backends = append(backends, backend(fmt.Sprintf("app%d_10000", i/100), hc, ss...))
	}
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	g0 := runtime.NumGoroutine()

	c := New(Options{})
	if err := c.Apply(tableOf(backends...)); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	time.Sleep(2 * interval) // past the first, spread round

	checks0 := c.Stats().Checks
	cpu0 := cpuTime()
	start := time.Now()
	peakG := 0
	b.ResetTimer()
	for range b.N {
		end := time.Now().Add(time.Second)
		for time.Now().Before(end) {
			peakG = max(peakG, runtime.NumGoroutine()-g0)
			time.Sleep(20 * time.Millisecond)
		}
	}
	b.StopTimer()
	wall := time.Since(start)
	cpu := cpuTime() - cpu0
	st := c.Stats()
	checks := st.Checks - checks0

	runtime.GC()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	down := 0
	for _, s := range st.Servers {
		if !s.Up {
			down++
		}
	}
	if down > 0 {
		b.Errorf("%d of %d servers DOWN; the machine is too loaded for this benchmark (e.g. %s)", down, n, firstError(st))
	}
	b.ReportMetric(float64(cpu)/float64(time.Millisecond)/wall.Seconds(), "cpu-ms/s")
	b.ReportMetric(float64(checks)/wall.Seconds(), "checks/s")
	if checks > 0 {
		b.ReportMetric(float64(cpu)/float64(time.Microsecond)/float64(checks), "cpu-µs/check")
	}
	b.ReportMetric(float64(peakG), "goroutines")
	b.ReportMetric(float64(st.PeakInFlight), "peak-in-flight")
	b.ReportMetric(float64(int64(m1.HeapInuse)-int64(m0.HeapInuse))/float64(n), "heap-B/server")
	b.ReportMetric(0, "ns/op")
}

func firstError(st Stats) string {
	for _, s := range st.Servers {
		if s.LastError != "" {
			return s.Server + ": " + s.LastError
		}
	}
	return "no error recorded"
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startListenerProcess runs n listeners in a child process (this test
// binary, see TestListenerProcess) and returns their addresses.
func startListenerProcess(b *testing.B, n int) []netip.AddrPort {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestListenerProcess$")
	cmd.Env = append(os.Environ(), "HEALTHCHECK_LISTENERS="+strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	var addrs []netip.AddrPort
	sc := bufio.NewScanner(stdout)
	for len(addrs) < n && sc.Scan() {
		ap, err := netip.ParseAddrPort(strings.TrimSpace(sc.Text()))
		if err != nil {
			continue // test framework output
		}
		addrs = append(addrs, ap)
	}
	if len(addrs) < n {
		stdin.Close()
		cmd.Wait()
		b.Fatalf("listener process gave %d of %d addresses: %s", len(addrs), n, stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	return addrs
}

// TestListenerProcess is the child of BenchmarkChecker10k, not a test: with
// HEALTHCHECK_LISTENERS=n it opens n loopback listeners, prints their
// addresses, answers HTTP checks with 200 and accepts TCP checks, and exits
// when its stdin closes.
func TestListenerProcess(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("HEALTHCHECK_LISTENERS"))
	if n <= 0 {
		t.Skip("only the child process of BenchmarkChecker10k")
	}
	w := bufio.NewWriter(os.Stdout)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(w, ln.Addr())
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					c.SetReadDeadline(time.Now().Add(10 * time.Second))
					var buf [256]byte
					got := 0
					for got < len(buf) {
						k, err := c.Read(buf[got:])
						got += k
						if bytes.Contains(buf[:got], []byte("\r\n\r\n")) {
							io.WriteString(c, "HTTP/1.0 200 OK\r\n\r\n")
							return
						}
						if err != nil {
							return
						}
					}
				}()
			}
		}()
	}
	w.Flush()
	io.Copy(io.Discard, os.Stdin)
}
