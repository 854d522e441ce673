package server

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/internal/dns/records"
	"github.com/signpost-dns/signpost/internal/testutil/freeport"
)

// serve runs ListenAndServe on a free loopback port and returns its address
// and a stop function that cancels it and waits for it to return.
func serve(t *testing.T, s *Server) (string, func()) {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freeport.UDPAndTCP(t, "127.0.0.1")))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServe(ctx, addr) }()
	// Wait until it answers.
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	for i := 0; ; i++ {
		if _, _, err := c.Exchange(q("web.marathon.mesos", dns.TypeA), addr); err == nil {
			break
		}
		if i > 100 {
			cancel()
			t.Fatalf("server not answering: %v", <-done)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("ListenAndServe: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Error("ListenAndServe did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return addr, stop
}

func TestListenAndServe(t *testing.T) {
	before := runtime.NumGoroutine()
	up := startUpstream(t, answerA(2))
	s := testServer(t, func(o *Options) {
		o.ExternalOn = true
		o.Resolvers = []string{deadAddr(t), up.addr}
		o.UDPReaders = 3
	})
	addr, stop := serve(t, s)
	for _, network := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: network, Timeout: 2 * time.Second}
		r, _, err := c.Exchange(q("WEB.marathon.mesos", dns.TypeA), addr)
		if err != nil || len(r.Answer) != 3 || r.Answer[0].Header().Name != "WEB.marathon.mesos." {
			t.Fatalf("%s: %v %v", network, r, err)
		}
		r, _, err = c.Exchange(q("big.marathon.mesos", dns.TypeA), addr)
		if err != nil || (network == "udp") != r.Truncated || (network == "tcp" && len(r.Answer) != 40) {
			t.Fatalf("%s: %v %v", network, r, err)
		}
		r, _, err = c.Exchange(q("www.example.com", dns.TypeA), addr)
		if err != nil || len(r.Answer) != 2 {
			t.Fatalf("%s forward: %v %v", network, r, err)
		}
	}
	if up.udp.Load() != 1 || up.tcp.Load() != 1 {
		t.Errorf("upstream saw %d UDP and %d TCP queries", up.udp.Load(), up.tcp.Load())
	}

	// Several queries, forwarded and local, pipelined on one TCP connection.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"web.marathon.mesos", "www.example.com", "nope.mesos", "_web._tcp.marathon.mesos"}
	var frames []byte
	for i, n := range names {
		m := q(n, dns.TypeA)
		m.Id = uint16(100 + i)
		raw, _ := m.Pack()
		frames = append(frames, frame(raw)...)
	}
	if _, err := conn.Write(frames); err != nil {
		t.Fatal(err)
	}
	got := map[uint16]int{}
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	for range names {
		var hdr [2]byte
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, binary.BigEndian.Uint16(hdr[:]))
		if _, err := io.ReadFull(conn, b); err != nil {
			t.Fatal(err)
		}
		var r dns.Msg
		if err := r.Unpack(b); err != nil {
			t.Fatal(err)
		}
		got[r.Id] = r.Rcode
	}
	if len(got) != 4 || got[102] != dns.RcodeNameError || got[101] != 0 {
		t.Fatalf("pipelined replies %v", got)
	}
	conn.Close()

	st := s.Stats()
	if st.Forwarded != 3 || st.Queries["A"] < 7 {
		t.Errorf("%+v", st)
	}

	stop()
	// Every goroutine the server started is gone.
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before+4 && time.Now().Before(deadline) { // +upstream's
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+4 {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines left (%d before):\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
	// The port is free again.
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("UDP port still bound: %v", err)
	}
	pc.Close()
}

// TestServeShutdownWithForwardsInFlight: cancelling while forwards wait on
// a silent upstream returns promptly and leaves no goroutine behind.
func TestServeShutdownWithForwardsInFlight(t *testing.T) {
	before := runtime.NumGoroutine()
	s := testServer(t, func(o *Options) {
		o.ExternalOn = true
		o.Resolvers = []string{blackhole(t)}
		o.Timeout = 10 * time.Second
	})
	addr, stop := serve(t, s)
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := q("www.example.com", dns.TypeA).Pack()
	for i := 0; i < 20; i++ {
		c.Write(raw)
	}
	tc, err := net.Dial("tcp", addr) // an idle connection
	if err != nil {
		t.Fatal(err)
	}
	tc.Write(frame(raw))
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	stop()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	c.Close()
	tc.Close()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines left (%d before):\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

func TestTCPIdleTimeout(t *testing.T) {
	s := testServer(t, func(o *Options) { o.TCPIdleTimeout = 200 * time.Millisecond })
	addr, _ := serve(t, s)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	start := time.Now()
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read: %v", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 2*time.Second {
		t.Fatalf("closed after %v", d)
	}
}

func TestNotReadyOverSockets(t *testing.T) {
	s := newServer(t, defaultOpts(), nil)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freeport.UDPAndTCP(t, "127.0.0.1")))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.ListenAndServe(ctx, addr) }()
	defer func() { cancel(); <-done }()
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	var r *dns.Msg
	var err error
	for i := 0; i < 100; i++ {
		if r, _, err = c.Exchange(q("web.marathon.mesos", dns.TypeA), addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("%v %v", r, err)
	}
}

// TestSwapUnderLoad: readers query continuously over a real socket and
// through Answer while 100 tables are swapped in: every reply is valid and
// none is SERVFAIL once the first table is in.
func TestSwapUnderLoad(t *testing.T) {
	s := newServer(t, defaultOpts(), nil)
	tableN := func(n int) *records.Table {
		tb := testTable()
		// The answer changes with every table; the name always exists.
		tb.A["gen.mesos."] = []netip.Addr{netip.AddrFrom4([4]byte{10, 9, byte(n >> 8), byte(n)})}
		if n%2 == 0 {
			tb.A["even.mesos."] = []netip.Addr{netip.MustParseAddr("10.9.9.9")}
		}
		tb.Serial = uint32(n)
		return tb
	}
	s.Swap(tableN(0))
	addr, _ := serve(t, s)

	var stop atomic.Bool
	var bad atomic.Int64
	var count atomic.Int64
	var wg sync.WaitGroup
	check := func(r *dns.Msg, name string) {
		count.Add(1)
		switch {
		case r.Rcode == dns.RcodeServerFailure:
			bad.Add(1)
			t.Errorf("SERVFAIL for %s", name)
		case name == "gen.mesos." && (r.Rcode != 0 || len(r.Answer) != 1):
			bad.Add(1)
			t.Errorf("%s: %v", name, r)
		case name == "even.mesos." && !(r.Rcode == 0 && len(r.Answer) == 1 || r.Rcode == dns.RcodeNameError && len(r.Ns) == 1):
			bad.Add(1)
			t.Errorf("%s: %v", name, r)
		}
	}
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("udp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			buf := make([]byte, 4096)
			for i := 0; !stop.Load(); i++ {
				name := []string{"gen.mesos.", "even.mesos.", "_web._tcp.marathon.mesos."}[i%3]
				m := q(name, dns.TypeA)
				if w == 1 {
					raw, _ := m.Pack()
					reply, _ := s.Answer(raw, false, buf)
					var r dns.Msg
					if err := r.Unpack(reply); err != nil {
						t.Error(err)
						return
					}
					check(&r, name)
					continue
				}
				raw, _ := m.Pack()
				c.SetDeadline(time.Now().Add(2 * time.Second))
				if _, err := c.Write(raw); err != nil {
					t.Error(err)
					return
				}
				n, err := c.Read(buf)
				if err != nil {
					t.Error(err)
					return
				}
				var r dns.Msg
				if err := r.Unpack(buf[:n]); err != nil || r.Id != m.Id {
					t.Errorf("bad reply: %v", err)
					return
				}
				check(&r, name)
			}
		}()
	}
	for i := 1; i <= 100; i++ {
		s.Swap(tableN(i))
		time.Sleep(2 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if bad.Load() > 0 || count.Load() < 100 {
		t.Fatalf("%d bad replies of %d", bad.Load(), count.Load())
	}
	r := exchange(t, s, q("gen.mesos", dns.TypeSOA), false)
	if soa := soaOf(t, r.Ns); soa == nil || soa.Serial != 100 {
		t.Fatalf("last table not served: %v", r)
	}
	t.Logf("%d queries during 100 swaps", count.Load())
}

func TestReusePortSpreads(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_REUSEPORT spreading is Linux behaviour")
	}
	conns, err := listenUDP(context.Background(), "127.0.0.1:0", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(conns)
	port := conns[0].LocalAddr().(*net.UDPAddr).Port
	for _, c := range conns {
		if c.LocalAddr().(*net.UDPAddr).Port != port {
			t.Fatal("sockets on different ports")
		}
	}
	if !strings.HasPrefix(conns[0].LocalAddr().String(), "127.0.0.1:") {
		t.Fatal(conns[0].LocalAddr())
	}
}

// TestListenFamilies: the batched UDP path works on IPv4, IPv6 and
// wildcard (dual-stack) sockets.
func TestListenFamilies(t *testing.T) {
	s := testServer(t, nil)
	for _, host := range []string{"127.0.0.1", "0.0.0.0", "::1", "::"} {
		t.Run(host, func(t *testing.T) {
			if ln, err := net.ListenPacket("udp", net.JoinHostPort(host, "0")); err != nil {
				t.Skipf("no %s: %v", host, err)
			} else {
				ln.Close()
			}
			ctx, cancel := context.WithCancel(context.Background())
			// Bind here rather than pick a free port and bind it later:
			// other tests on the machine may take the port in between.
			var udp []*net.UDPConn
			var tcp net.Listener
			var err error
			for range 10 {
				if udp, tcp, err = s.Listen(ctx, net.JoinHostPort(host, "0")); err == nil {
					break
				}
			}
			if err != nil {
				cancel()
				t.Fatal(err)
			}
			_, port, _ := net.SplitHostPort(udp[0].LocalAddr().String())
			done := make(chan error)
			go func() { done <- s.Serve(ctx, udp, tcp) }()
			defer func() { cancel(); <-done }()
			dsts := []string{"127.0.0.1"}
			switch host {
			case "::1":
				dsts = []string{"::1"}
			case "::":
				dsts = []string{"::1", "127.0.0.1"} // dual-stack: v4-mapped peers
			}
			for _, dst := range dsts {
				c := &dns.Client{Timeout: 300 * time.Millisecond}
				var r *dns.Msg
				for i := 0; i < 50; i++ {
					if r, _, err = c.Exchange(q("web.marathon.mesos", dns.TypeA), net.JoinHostPort(dst, port)); err == nil {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				if err != nil || len(r.Answer) != 3 {
					t.Fatalf("to %s: %v %v", dst, r, err)
				}
			}
		})
	}
}
