package main

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestReadQueries(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, text, err string
		n               int
	}{
		{name: "ok", text: "web.marathon.mesos A\n# comment\n\n_web._tcp.marathon.mesos srv\n", n: 2},
		{name: "unknown type", text: "web.mesos BOGUS\n", err: `unknown type "BOGUS"`},
		{name: "one field", text: "web.mesos\n", err: `want "name type"`},
		{name: "empty", text: "# nothing\n", err: "no queries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			qs, err := readQueries(p, true)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || len(qs) != tc.n {
				t.Fatalf("got %d queries, %v; want %d", len(qs), err, tc.n)
			}
			m := new(dns.Msg)
			if err := m.Unpack(qs[1]); err != nil {
				t.Fatal(err)
			}
			if q := m.Question[0]; q.Name != "_web._tcp.marathon.mesos." || q.Qtype != dns.TypeSRV || !m.RecursionDesired || m.IsEdns0() == nil || m.IsEdns0().UDPSize() != 4096 {
				t.Errorf("query %v", m)
			}
		})
	}
}

func TestPercentilesAndWindows(t *testing.T) {
	r := &result{length: 2 * time.Second}
	// Second 0: 100 replies of 1 ms; second 1: 99 of 1 ms and one of 50 ms.
	for i := 0; i < 200; i++ {
		lat := int64(time.Millisecond)
		if i == 150 {
			lat = 50 * int64(time.Millisecond)
		}
		r.sentAt = append(r.sentAt, int64(i)*int64(10*time.Millisecond))
		r.kernel = append(r.kernel, lat)
		r.user = append(r.user, lat)
	}
	got := r.perSecond()
	if len(got) != 2 || got[0] != 1 || got[1] != 50 {
		t.Fatalf("per-second p99 %v, want [1 50]", got)
	}
	f := strings.Fields(r.line())
	if f[0] != "100" || f[1] != "1.000" || f[4] != "50.000" || f[7] != "200" {
		t.Errorf("line %q", r.line())
	}
}

// TestMeasureAgainstRealServer runs the whole measurement against a UDP
// responder on loopback that delays every answer by 2 ms: the kernel-timed
// latency must show the delay, and nothing may be lost.
func TestMeasureAgainstRealServer(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_TIMESTAMPNS: Linux only")
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			m := new(dns.Msg)
			if m.Unpack(buf[:n]) != nil {
				continue
			}
			r := new(dns.Msg)
			r.SetReply(m)
			b, _ := r.Pack()
			time.Sleep(2 * time.Millisecond)
			pc.WriteTo(b, from)
		}
	}()
	p := filepath.Join(t.TempDir(), "q")
	os.WriteFile(p, []byte("a.mesos A\n"), 0o644)
	qs, err := readQueries(p, false)
	if err != nil {
		t.Fatal(err)
	}
	s, err := dial(netip.MustParseAddrPort(pc.LocalAddr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	r := measure([]*socket{s}, qs, 100, 500*time.Millisecond, time.Second)
	if r.sent != 50 || len(r.kernel) != 50 || r.lost != 0 {
		t.Fatalf("sent %d, answered %d, lost %d; want 50, 50, 0", r.sent, len(r.kernel), r.lost)
	}
	for i, k := range r.kernel {
		if k < int64(2*time.Millisecond) || k > r.user[i] {
			t.Fatalf("reply %d: kernel-timed %v, read at %v: want at least the server's 2 ms and no later than the read", i, time.Duration(k), time.Duration(r.user[i]))
		}
	}
}
