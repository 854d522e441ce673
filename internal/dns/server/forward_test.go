package server

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// upstream is a miekg/dns server on loopback, UDP and TCP on one port,
// standing in for a real resolver.
type upstream struct {
	addr    string
	udp     atomic.Int64 // queries seen per transport
	tcp     atomic.Int64
	lastID  atomic.Uint32
	servers []*dns.Server
}

func startUpstream(t *testing.T, h func(w dns.ResponseWriter, r *dns.Msg)) *upstream {
	t.Helper()
	u := &upstream{}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for i := 0; ; i++ {
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		if i > 10 {
			t.Fatal(err)
		}
		pc.Close()
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	u.addr = pc.LocalAddr().String()
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
			u.tcp.Add(1)
		} else {
			u.udp.Add(1)
		}
		u.lastID.Store(uint32(r.Id))
		h(w, r)
	})
	var started sync.WaitGroup
	started.Add(2)
	u.servers = []*dns.Server{
		{PacketConn: pc, Handler: handler, NotifyStartedFunc: started.Done},
		{Listener: ln, Handler: handler, NotifyStartedFunc: started.Done},
	}
	for _, s := range u.servers {
		go s.ActivateAndServe()
	}
	started.Wait()
	t.Cleanup(func() {
		for _, s := range u.servers {
			s.Shutdown()
		}
	})
	return u
}

// answerA answers every A query with 192.0.2.<n> records and NXDOMAIN for
// "missing." names, echoing RD, not authoritative.
func answerA(n int) func(w dns.ResponseWriter, r *dns.Msg) {
	return func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.RecursionAvailable = true
		if dns.IsSubDomain("missing.", r.Question[0].Name) {
			m.Rcode = dns.RcodeNameError
		} else {
			for i := 1; i <= n; i++ {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30},
					A:   net.IPv4(192, 0, 2, byte(i)),
				})
			}
		}
		w.WriteMsg(m)
	}
}

// deadAddr is a loopback port nobody listens on (UDP: ICMP unreachable,
// TCP: connection refused).
func deadAddr(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := pc.LocalAddr().String()
	pc.Close()
	return a
}

// blackhole is a UDP socket that reads and never answers.
func blackhole(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	return pc.LocalAddr().String()
}

func forwardServer(t *testing.T, resolvers []string, zones map[string][]string) *Server {
	return testServer(t, func(o *Options) {
		o.ExternalOn = true
		o.Resolvers = resolvers
		o.ZoneResolvers = zones
		o.Timeout = 300 * time.Millisecond
	})
}

func forward(t *testing.T, s *Server, m *dns.Msg, tcp bool) *dns.Msg {
	t.Helper()
	raw, _ := m.Pack()
	if reply, fwd := s.Answer(raw, tcp, nil); reply != nil || !fwd {
		t.Fatalf("%v: not forwarded", m.Question[0])
	}
	reply := s.Forward(context.Background(), raw, tcp)
	r := new(dns.Msg)
	if err := r.Unpack(reply); err != nil {
		t.Fatal(err)
	}
	if r.Id != m.Id {
		t.Fatalf("id %d, want the client's %d", r.Id, m.Id)
	}
	return r
}

func TestForward(t *testing.T) {
	up := startUpstream(t, answerA(2))
	for _, tcp := range []bool{false, true} {
		t.Run(fmt.Sprintf("tcp=%v", tcp), func(t *testing.T) {
			s := forwardServer(t, []string{deadAddr(t), up.addr}, nil)
			udp0, tcp0 := up.udp.Load(), up.tcp.Load()
			m := q("www.example.com", dns.TypeA)
			m.RecursionDesired = true
			m.Id = 4242
			r := forward(t, s, m, tcp)
			if r.Rcode != 0 || len(r.Answer) != 2 || !r.RecursionAvailable || r.Authoritative || !r.RecursionDesired {
				t.Fatalf("%v", r)
			}
			if up.lastID.Load() == 4242 {
				t.Error("the client's id was sent upstream (want a fresh random id)")
			}
			if got := [2]int64{up.udp.Load() - udp0, up.tcp.Load() - tcp0}; (tcp && got != [2]int64{0, 1}) || (!tcp && got != [2]int64{1, 0}) {
				t.Errorf("upstream saw udp/tcp %v", got)
			}
			// Upstream rcodes are relayed as they are.
			if r := forward(t, s, q("x.missing", dns.TypeA), tcp); r.Rcode != dns.RcodeNameError {
				t.Fatalf("%v", r)
			}
			if st := s.Stats(); st.UpstreamFailures != 2 || st.ForwardFailures != 0 {
				t.Errorf("%+v", st)
			}
		})
	}
}

func TestForwardAllFail(t *testing.T) {
	s := forwardServer(t, []string{deadAddr(t), blackhole(t)}, nil)
	for _, tcp := range []bool{false, true} {
		m := withEDNS(q("www.example.com", dns.TypeA), 1232, false)
		m.RecursionDesired = true
		start := time.Now()
		r := forward(t, s, m, tcp)
		if r.Rcode != dns.RcodeServerFailure || r.RecursionAvailable || !r.RecursionDesired || r.IsEdns0() == nil {
			t.Fatalf("tcp %v: %v", tcp, r)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v with a 300ms timeout per upstream", d)
		}
	}
	if st := s.Stats(); st.ForwardFailures != 2 || st.UpstreamFailures != 4 {
		t.Errorf("%+v", st)
	}
}

func TestForwardZones(t *testing.T) {
	def := startUpstream(t, answerA(1))
	consul := startUpstream(t, answerA(2))
	svc := startUpstream(t, answerA(3))
	s := forwardServer(t, []string{def.addr}, map[string][]string{
		"consul":          {consul.addr},
		"Service.Consul.": {svc.addr},
	})
	for name, n := range map[string]int{
		"example.com": 1, "consul": 2, "node.CONSUL": 2, "web.service.consul": 3, "xservice.consul": 2,
	} {
		if r := forward(t, s, q(name, dns.TypeA), false); len(r.Answer) != n {
			t.Errorf("%s: answered by the upstream with %d records, want %d", name, len(r.Answer), n)
		}
	}
}

// TestForwardTrim: an upstream reply larger than the client's limit is
// trimmed (with TC) before it is relayed.
func TestForwardTrim(t *testing.T) {
	up := startUpstream(t, answerA(60))
	s := forwardServer(t, []string{up.addr}, nil)
	r := forward(t, s, q("www.example.com", dns.TypeA), false)
	r.Compress = true
	if !r.Truncated || len(r.Answer) == 0 || len(r.Answer) >= 60 || r.Len() > 512 {
		t.Fatalf("tc %v, %d answers, %d bytes", r.Truncated, len(r.Answer), r.Len())
	}
	r = forward(t, s, withEDNS(q("www.example.com", dns.TypeA), 4096, false), false)
	if r.Truncated || len(r.Answer) != 60 {
		t.Fatalf("EDNS: tc %v, %d answers", r.Truncated, len(r.Answer))
	}
}

func TestForwardOverflow(t *testing.T) {
	s := testServer(t, func(o *Options) {
		o.ExternalOn = true
		o.Resolvers = []string{blackhole(t)}
		o.Timeout = 200 * time.Millisecond
		o.MaxForwarding = 2
	})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var rcodes []int
	raw, _ := q("www.example.com", dns.TypeA).Pack()
	for i := 0; i < 5; i++ {
		s.startForward(context.Background(), &wg, raw, false, 0, func(b []byte) {
			var r dns.Msg
			if err := r.Unpack(b); err != nil {
				t.Error(err)
			}
			mu.Lock()
			rcodes = append(rcodes, r.Rcode)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(rcodes) != 5 {
		t.Fatalf("%d replies", len(rcodes))
	}
	if st := s.Stats(); st.ForwardOverflow != 3 || st.ForwardFailures != 2 {
		t.Fatalf("%+v", st)
	}
}
