package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/internal/testutil/leakcheck"
)

// TestYieldHelper is the server side of TestSwapYieldsToReaders, run in a
// child process with GOMAXPROCS=1: it serves UDP and swaps the 100k-name
// table in a loop until its stdin closes.
func TestYieldHelper(t *testing.T) {
	if os.Getenv("SIGNPOST_YIELD_HELPER") == "" {
		t.Skip("helper process of TestSwapYieldsToReaders")
	}
	tb := bigTable()
	tb.A["web.marathon.mesos."] = testTable().A["web.marathon.mesos."]
	s := newServer(t, defaultOpts(), tb)
	leakcheck.Verify(t)
	s.noYield = os.Getenv("SIGNPOST_YIELD_HELPER") == "off"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	udp, tcp, err := s.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(ctx, udp, tcp)
	}()
	swapping := make(chan struct{})
	go func() {
		defer close(swapping)
		for ctx.Err() == nil {
			s.Swap(tb)
		}
	}()
	fmt.Printf("addr %s\n", udp[0].LocalAddr())
	os.Stdin.Read(make([]byte, 1))
	cancel()
	<-done
	<-swapping
}

// TestSwapYieldsToReaders: with one P, a query that arrives while Swap
// compiles a large table is answered without waiting for Go's 10 ms time
// slice. The server runs in a child process (GOMAXPROCS=1) that swaps the
// 100k-name table back to back; this process sends queries one at a time
// and compares the median round trip with the same child where Swap does
// not yield. No absolute time is asserted: noise on a shared machine moves
// both figures, while the yield makes the median several times smaller.
func TestSwapYieldsToReaders(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two server processes")
	}
	median := func(mode string) time.Duration {
		cmd := exec.Command(os.Args[0], "-test.run=^TestYieldHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "SIGNPOST_YIELD_HELPER="+mode)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			stdin.Close()
			cmd.Wait()
		}()
		buf := make([]byte, 256)
		n, err := out.Read(buf)
		line := strings.TrimSpace(string(buf[:n]))
		if err != nil || !strings.HasPrefix(line, "addr ") {
			t.Fatalf("helper: %q %v", line, err)
		}
		c, err := net.Dial("udp", strings.TrimPrefix(line, "addr "))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		raw, _ := q("web.marathon.mesos", dns.TypeA).Pack()
		reply := make([]byte, 512)
		var rtts []time.Duration
		for i := 0; len(rtts) < 120 && i < 500; i++ {
			start := time.Now()
			c.Write(raw)
			c.SetReadDeadline(start.Add(2 * time.Second))
			if n, err := c.Read(reply); err != nil || n < headerLen {
				continue
			}
			rtts = append(rtts, time.Since(start))
			// Spread the queries over the compiles.
			time.Sleep(time.Duration(1+i%3) * time.Millisecond)
		}
		if len(rtts) < 120 {
			t.Fatalf("%s: %d replies", mode, len(rtts))
		}
		slices.Sort(rtts)
		t.Logf("yield %s: round trip p50 %v p90 %v max %v", mode, rtts[len(rtts)/2], rtts[len(rtts)*9/10], rtts[len(rtts)-1])
		return rtts[len(rtts)/2]
	}
	off := median("off")
	on := median("on")
	if on*3 > off {
		t.Errorf("median round trip during swaps: %v with yields, %v without: want at least 3 times less", on, off)
	}
}
