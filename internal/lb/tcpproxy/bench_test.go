package tcpproxy

import (
	"io"
	"net"
	"syscall"
	"testing"
)

// sink is a loopback server that reads and discards one stream per
// connection and reports how many bytes it got when the stream ends.
func sink(b *testing.B) (addr string, got chan int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	got = make(chan int64, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				// A large buffer, so that the sink costs little next to
				// what is measured.
				buf := make([]byte, 256<<10)
				var n int64
				for {
					k, err := c.Read(buf)
					n += int64(k)
					if err != nil {
						break
					}
				}
				c.Close()
				got <- n
			}()
		}
	}()
	b.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), got
}

// BenchmarkThroughput streams 64 KiB chunks from a client to a server over
// loopback, once directly and once through the proxy, so the two MB/s
// figures of one run can be compared (the proxy copies with splice(2), so
// its cost is mostly the extra socket pair, not user-space copies).
func BenchmarkThroughput(b *testing.B) {
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	run := func(b *testing.B, target string, got chan int64) {
		c, err := net.Dial("tcp", target)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(chunk)
		b.ResetTimer()
		for range b.N {
			if _, err := c.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		c.(*net.TCPConn).CloseWrite()
		n := <-got // the whole stream arrived at the server
		b.StopTimer()
		c.Close()
		if n != int64(b.N)*chunk {
			b.Fatalf("server got %d bytes, want %d", n, int64(b.N)*chunk)
		}
	}
	b.Run("direct", func(b *testing.B) {
		addr, got := sink(b)
		run(b, addr, got)
	})
	b.Run("proxy", func(b *testing.B) {
		addr, got := sink(b)
		ap := net.TCPAddrFromAddrPort(mustAddrPort(b, addr))
		p := New(Options{})
		defer p.Close()
		l := listenAt("127.0.0.1")
		srv := routesServer("sink", ap.AddrPort())
		if err := p.Apply(table(l, "roundrobin", srv)); err != nil {
			b.Fatal(err)
		}
		run(b, p.Addr(l).String(), got)
	})
}

// BenchmarkPingPong sends 100-byte messages through the proxy to an echo
// server and waits for each echo: the small-message traffic of
// request/response protocols, where splicing costs more than it saves (see
// copyAuto). The figure to compare is ns/op, one round trip.
func BenchmarkPingPong(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if err != nil {
						c.Close()
						return
					}
					c.Write(buf[:n])
				}
			}()
		}
	}()
	p := New(Options{})
	defer p.Close()
	l := listenAt("127.0.0.1")
	if err := p.Apply(table(l, "roundrobin", routesServer("echo", mustAddrPort(b, ln.Addr().String())))); err != nil {
		b.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr(l).String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg, got := make([]byte, 100), make([]byte, 100)
	b.ResetTimer()
	cpu0 := cpuTime()
	defer func() { b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op") }()
	for range b.N {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			b.Fatal(err)
		}
	}
}

// cpuTime is the process's user+system CPU time in ns: client, echo server
// and proxy together, so only differences between runs mean anything.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
