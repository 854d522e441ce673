package server

import (
	"bytes"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/internal/testutil/leakcheck"
)

// sameReply fails unless a gathered reply (g's slices, or reply when g.n is
// 0) is the same message as the copied reply want. Rotation is random per
// query, so the records are compared as sorted sets; truncated replies may
// keep different records, so only their header and size are compared.
func sameReply(t testing.TB, what string, want, reply []byte, g *gather) {
	t.Helper()
	got := g.bytes(reply)
	if g.n > 0 && g.len() != len(got) {
		t.Fatalf("%s: gather len %d, bytes %d", what, g.len(), len(got))
	}
	if len(got) != len(want) || !bytes.Equal(got[:headerLen], want[:headerLen]) {
		t.Fatalf("%s: gathered reply %x\nwant %x", what, got, want)
	}
	var a, b dns.Msg
	if err := a.Unpack(got); err != nil {
		t.Fatalf("%s: gathered reply does not parse: %v (%x)", what, err, got)
	}
	if err := b.Unpack(want); err != nil {
		t.Fatalf("%s: copied reply does not parse: %v", what, err)
	}
	if a.Truncated {
		return
	}
	for _, sec := range [][2][]dns.RR{{a.Answer, b.Answer}, {a.Ns, b.Ns}, {a.Extra, b.Extra}} {
		if x, y := texts(sec[0]), texts(sec[1]); !slices.Equal(x, y) {
			t.Fatalf("%s: gathered section %v\nwant %v", what, x, y)
		}
	}
}

// TestGatherMatchesCopy: the gathered reply of the UDP loop is the reply
// Answer copies, for every kind of answer, and long pre-encoded sets are
// really gathered (not copied) where they should be.
func TestGatherMatchesCopy(t *testing.T) {
	s := testServer(t, nil)
	for _, tc := range []struct {
		m      *dns.Msg
		gather int // 1: an arena slice is in the reply; 0: none; -1: depends on the rotation
	}{
		{withEDNS(q("_many._tcp.marathon.mesos", dns.TypeSRV), 4096, false), 1},
		{withEDNS(q("_MANY._tcp.*.marathon.mesos", dns.TypeSRV), 4096, true), 1},
		{withEDNS(q("_many._tcp.marathon.mesos", dns.TypeSRV), 1232, false), 1},
		{withEDNS(q("_many._tcp.marathon.mesos", dns.TypeANY), 4096, false), 1},
		{q("_many._tcp.marathon.mesos", dns.TypeSRV), -1}, // truncated to under 512 bytes: two rotated parts
		{withEDNS(q("_many._tcp.marathon.mesos", dns.TypeSRV), 600, false), 1},
		{withEDNS(q("_web._tcp.marathon.mesos", dns.TypeSRV), 4096, false), 0},
		{withEDNS(q("big.marathon.mesos", dns.TypeA), 4096, false), 0},
		{q("web.marathon.mesos", dns.TypeANY), 0},
		{q("mesos", dns.TypeANY), 0},
		{q("mesos", dns.TypeNS), 0},
		{q("nope.marathon.mesos", dns.TypeA), 0},
		{q("1.0.0.10.in-addr.arpa", dns.TypePTR), 0},
	} {
		what := tc.m.Question[0].String()
		raw, err := tc.m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		for range 20 { // rotation is random: try several
			want, _ := s.Answer(raw, false, nil)
			var g gather
			reply, fwd := s.answerGather(raw, false, make([]byte, 0, maxUDPSize), &g, &s.shared)
			if fwd >= 0 || reply == nil {
				t.Fatalf("%s: no reply", what)
			}
			if tc.gather >= 0 && (g.n > 0) != (tc.gather == 1) {
				t.Fatalf("%s: gathered into %d slices, want gathering %v", what, g.n, tc.gather)
			}
			sameReply(t, what, want, reply, &g)
		}
	}
}

// TestGatherLimit: a reply that would need more than maxGather slices is
// still complete (the rest is copied).
func TestGatherLimit(t *testing.T) {
	var g gather
	w := replyWriter{b: make([]byte, 0, 64), g: &g}
	var want []byte
	long := bytes.Repeat([]byte{7}, minGather)
	for i := range 2 * maxGather {
		w.b = append(w.b, byte(i))
		w.put(long)
		want = append(append(want, byte(i)), long...)
	}
	w.b = append(w.b, 0xFF)
	want = append(want, 0xFF)
	w.finish()
	if g.n > maxGather || g.n == 0 {
		t.Fatalf("gathered into %d slices", g.n)
	}
	if got := g.bytes(w.b); !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want %d", len(got), len(want))
	}
}

// TestUDPBatchGathered sends bursts of queries over a real socket so that
// the reader receives and answers them in batches, some gathered (the
// 80-record SRV answer), some not, and checks every reply.
func TestUDPBatchGathered(t *testing.T) {
	leakcheck.Verify(t)
	s := testServer(t, nil)
	addr, stop := serve(t, s)
	defer stop()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.UDPConn).SetReadBuffer(4 << 20)
	msgs := []*dns.Msg{
		withEDNS(q("_many._tcp.marathon.mesos", dns.TypeSRV), 4096, false),
		q("web.marathon.mesos", dns.TypeA),
		withEDNS(q("_many._tcp.marathon.mesos", dns.TypeSRV), 1232, false),
		q("nope.marathon.mesos", dns.TypeA),
		withEDNS(q("big.marathon.mesos", dns.TypeA), 4096, false),
	}
	want := map[uint16][]string{}
	var raws [][]byte
	const burst = 100
	for i := range burst {
		m := msgs[i%len(msgs)].Copy()
		m.Id = uint16(i + 1)
		r := exchange(t, s, m, false)
		want[m.Id] = append(append(texts(r.Answer), texts(r.Ns)...), texts(r.Extra)...)
		raw, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, raw)
	}
	for round := range 3 {
		for _, raw := range raws {
			if _, err := c.Write(raw); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[uint16]bool{}
		buf := make([]byte, 65535)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for len(seen) < burst {
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("round %d: %d of %d replies: %v", round, len(seen), burst, err)
			}
			var r dns.Msg
			if err := r.Unpack(buf[:n]); err != nil {
				t.Fatalf("reply does not parse: %v", err)
			}
			got := append(append(texts(r.Answer), texts(r.Ns)...), texts(r.Extra)...)
			w, ok := want[r.Id]
			if r.Truncated {
				// Which records fit depends on the rotation.
				ok = ok && len(got) == len(w)
				w = got
			}
			if !ok || seen[r.Id] || !slices.Equal(got, w) {
				t.Fatalf("reply %d (seen %v): %v\nwant %v", r.Id, seen[r.Id], got, w)
			}
			seen[r.Id] = true
		}
	}
}
