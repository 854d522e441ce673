package server

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/internal/dns/records"
)

// benchTable is testTable plus a 20-address name.
func benchTable() *records.Table {
	tb := testTable()
	var a20 []netip.Addr
	for i := 1; i <= 20; i++ {
		a20 = append(a20, netip.AddrFrom4([4]byte{10, 20, 0, byte(i)}))
	}
	tb.A["a20.marathon.mesos."] = a20
	tb.A["a1.marathon.mesos."] = []netip.Addr{netip.MustParseAddr("10.0.0.1")}
	return tb
}

// benchQueries are the three cases the performance goal is stated for.
var benchQueries = []struct {
	name  string
	qname string
	qtype uint16
}{
	{"A1", "a1.marathon.mesos.", dns.TypeA},
	{"A20", "a20.marathon.mesos.", dns.TypeA},
	{"SRV", "_web._tcp.marathon.mesos.", dns.TypeSRV},
}

// bareResponder answers every query with one pre-built reply, only setting
// the id: the floor any real server is measured against.
type bareResponder struct{ reply []byte }

func (b *bareResponder) answer(msg, dst []byte) []byte {
	dst = append(dst[:0], b.reply...)
	dst[0], dst[1] = msg[0], msg[1]
	return dst
}

// miekgHandler is the conventional implementation: a miekg/dns Handler
// that looks the name up in the records.Table and builds a dns.Msg,
// rotating the answers the same way.
type miekgHandler struct {
	t      *records.Table
	ttl    uint32
	weight uint16
}

func (h *miekgHandler) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.RecursionAvailable = true
	m.Compress = true
	qn := r.Question[0].Name
	name := strings.ToLower(qn)
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: qn, Rrtype: t, Class: dns.ClassINET, Ttl: h.ttl}
	}
	switch r.Question[0].Qtype {
	case dns.TypeA:
		as := h.t.A[name]
		start := 0
		if len(as) > 1 {
			start = int(time.Now().UnixNano()) % len(as)
		}
		for i := range as {
			a := as[(start+i)%len(as)].As4()
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: net.IP(a[:])})
		}
	case dns.TypeSRV:
		seen := map[string]bool{}
		for _, s := range h.t.SRV[name] {
			m.Answer = append(m.Answer, &dns.SRV{Hdr: hdr(dns.TypeSRV), Weight: h.weight, Port: s.Port, Target: s.Target})
			if !seen[s.Target] {
				seen[s.Target] = true
				if as := h.t.A[s.Target]; len(as) > 0 {
					a := as[0].As4()
					m.Extra = append(m.Extra, &dns.A{Hdr: dns.RR_Header{Name: s.Target, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: h.ttl}, A: net.IP(a[:])})
				}
				if as := h.t.AAAA[s.Target]; len(as) > 0 {
					a := as[0].As16()
					m.Extra = append(m.Extra, &dns.AAAA{Hdr: dns.RR_Header{Name: s.Target, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: h.ttl}, AAAA: net.IP(a[:])})
				}
			}
		}
	}
	w.WriteMsg(m)
}

// recorder is a ResponseWriter that packs into a reused buffer, as the
// miekg server does before writing to the socket.
type recorder struct {
	dns.ResponseWriter
	buf []byte
}

func (r *recorder) WriteMsg(m *dns.Msg) error {
	b, err := m.PackBuffer(r.buf)
	r.buf = b
	return err
}

// BenchmarkHotPath compares, per query, in one invocation:
// signpost = Server.Answer; signpost-gather = the same as the Linux UDP
// loop calls it; bare = copy one pre-built reply and set the id;
// miekg = unpack into dns.Msg, the Handler above, pack.
func BenchmarkHotPath(b *testing.B) {
	tb := benchTable()
	s := newServer(b, defaultOpts(), tb)
	h := &miekgHandler{t: tb, ttl: 60, weight: 1}
	for _, bq := range benchQueries {
		m := q(bq.qname, bq.qtype)
		raw, _ := m.Pack()
		dst := make([]byte, 0, 65535)
		reply, _ := s.Answer(raw, false, dst)
		bare := &bareResponder{reply: append([]byte(nil), reply...)}
		b.Run("impl=signpost/q="+bq.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(reply)))
			for b.Loop() {
				raw[1]++
				s.Answer(raw, false, dst)
			}
		})
		b.Run("impl=signpost-gather/q="+bq.name, func(b *testing.B) {
			// The Linux UDP loop's form: long arena slices are not copied.
			b.ReportAllocs()
			b.SetBytes(int64(len(reply)))
			var g gather
			for b.Loop() {
				raw[1]++
				s.answerGather(raw, false, dst, &g, &s.shared)
			}
		})
		b.Run("impl=bare/q="+bq.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(reply)))
			for b.Loop() {
				raw[1]++
				bare.answer(raw, dst)
			}
		})
		b.Run("impl=miekg/q="+bq.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(reply)))
			w := &recorder{buf: make([]byte, 65535)}
			for b.Loop() {
				raw[1]++
				r := new(dns.Msg)
				if err := r.Unpack(raw); err != nil {
					b.Fatal(err)
				}
				h.ServeDNS(w, r)
			}
		})
	}
}

// bigTable is the synthetic 100k-task table of the compile benchmark:
// 100,000 task names with 2 IPv4 addresses each (200,000 A values) and
// 20,000 SRV names with 5 targets each (100,000 SRV values), shaped like
// Mesos-DNS names.
func bigTable() *records.Table {
	tb := &records.Table{
		Domain: "mesos.",
		A:      make(map[string][]netip.Addr, 100_000),
		AAAA:   map[string][]netip.Addr{},
		SRV:    make(map[string][]records.SRV, 20_000),
		PTR:    map[string][]string{},
		Serial: 1,
	}
	names := make([]string, 100_000)
	for i := range names {
		names[i] = fmt.Sprintf("app-%05d-%05x-%d.group-%03d.marathon.slave.mesos.", i, uint32(i)*2654435761&0xFFFFF, i%7, i%500)
		tb.A[names[i]] = []netip.Addr{
			netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}),
			netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)}),
		}
	}
	for i := 0; i < 20_000; i++ {
		srvs := make([]records.SRV, 5)
		for j := range srvs {
			srvs[j] = records.SRV{Target: names[(i*5+j)%len(names)], Port: uint16(31000 + j)}
		}
		tb.SRV["_app-"+strconv.Itoa(i)+"._tcp.marathon.slave.mesos."] = srvs
	}
	return tb
}

// BenchmarkCompile100k measures Swap's compile step on the 100k table:
// time and allocation per compile, and the memory the compiled zone keeps
// (retained-MB, measured after GC, excluding the table itself).
func BenchmarkCompile100k(b *testing.B) {
	tb := bigTable()
	o := &compileOpts{domain: "mesos.", ttl: 60, weight: 1, mname: "ns1.mesos.", rname: "root.ns1.mesos.", refresh: 60, retry: 600, expire: 86400}
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	z := compile(tb, o, nil)
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	retained := float64(ms1.HeapAlloc-ms0.HeapAlloc) / (1 << 20)
	runtime.KeepAlive(z)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		z = compile(tb, o, nil)
	}
	b.ReportMetric(retained, "retained-MB")
	b.ReportMetric(float64(len(z.vars)+len(z.ents)), "srv+ent-names")
	b.ReportMetric(float64(len(z.arena))/(1<<20), "arena-MB")
}

// BenchmarkTable100k is the records.Table's own footprint, for scale.
func BenchmarkTable100k(b *testing.B) {
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	tb := bigTable()
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	runtime.KeepAlive(tb)
	for b.Loop() {
	}
	b.ReportMetric(float64(ms1.HeapAlloc-ms0.HeapAlloc)/(1<<20), "table-MB")
}

// TestServeForLoad runs a UDP responder for an external load generator
// (dnsperf), only when SIGNPOST_LOAD_SERVE is set:
//
//	SIGNPOST_LOAD_SERVE=signpost|bare|miekg SIGNPOST_LOAD_ADDR=127.0.0.1:5353 \
//	SIGNPOST_LOAD_SECONDS=30 GOMAXPROCS=1 go test -run TestServeForLoad ./internal/dns/server/
//
// "bare" answers every datagram with the pre-built reply to the query
// SIGNPOST_LOAD_Q (A1, A20 or SRV; its id set) using
// the same read/write loop as the server; "miekg" is a miekg/dns server
// with the Handler of BenchmarkHotPath.
func TestServeForLoad(t *testing.T) {
	mode := os.Getenv("SIGNPOST_LOAD_SERVE")
	if mode == "" {
		t.Skip("set SIGNPOST_LOAD_SERVE to run a server for dnsperf")
	}
	addr := os.Getenv("SIGNPOST_LOAD_ADDR")
	secs, _ := strconv.Atoi(os.Getenv("SIGNPOST_LOAD_SECONDS"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(max(secs, 1))*time.Second)
	defer cancel()
	tb := benchTable()
	o := defaultOpts()
	if n, err := strconv.Atoi(os.Getenv("SIGNPOST_LOAD_READERS")); err == nil {
		o.UDPReaders = n
	}
	if n, err := strconv.Atoi(os.Getenv("SIGNPOST_LOAD_BATCH")); err == nil {
		udpBatch = n
	}
	s := newServer(t, o, tb)
	var served atomic.Int64
	var ru0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	switch mode {
	case "signpost":
		if err := s.ListenAndServe(ctx, addr); err != nil {
			t.Fatal(err)
		}
	case "bare":
		bq := benchQueries[0]
		for _, c := range benchQueries {
			if c.name == os.Getenv("SIGNPOST_LOAD_Q") {
				bq = c
			}
		}
		raw, _ := q(bq.qname, bq.qtype).Pack()
		reply, _ := s.Answer(raw, false, nil)
		bare := &bareResponder{reply: reply}
		n := runtime.GOMAXPROCS(0)
		if o.UDPReaders > 0 {
			n = o.UDPReaders
		}
		conns, err := listenUDP(ctx, addr, n)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range conns {
			go func() {
				buf := make([]byte, 65535)
				out := make([]byte, 0, 65535)
				for {
					n, from, err := c.ReadFromUDPAddrPort(buf)
					if err != nil {
						return
					}
					if n < headerLen {
						continue
					}
					c.WriteToUDPAddrPort(bare.answer(buf[:n], out), from)
					served.Add(1)
				}
			}()
		}
		<-ctx.Done()
		closeAll(conns)
	case "miekg":
		h := &miekgHandler{t: tb, ttl: 60, weight: 1}
		srv := &dns.Server{Addr: addr, Net: "udp", ReusePort: true, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
			h.ServeDNS(w, r)
			served.Add(1)
		})}
		go func() { <-ctx.Done(); srv.Shutdown() }()
		srv.ListenAndServe()
	}
	var ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	n := served.Load()
	if mode == "signpost" {
		n = int64(s.Stats().Rcodes["NOERROR"])
	}
	t.Logf("%s: %d replies, cpu %v, %.2f us cpu per reply", mode, n, cpu, float64(cpu.Microseconds())/float64(max(n, 1)))
}
