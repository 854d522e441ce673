package server

import (
	"encoding/binary"
	"testing"

	"github.com/miekg/dns"
)

// FuzzAnswer: any bytes in, no panic out; a reply, when there is one, is a
// well-formed DNS response to the same id that fits the transport's limit,
// and its gathered form (the Linux UDP loop's) is the same message.
func FuzzAnswer(f *testing.F) {
	s := testServer(f, func(o *Options) {
		o.ExternalOn = true
		o.Resolvers = []string{"127.0.0.1:1"}
	})
	for _, m := range []*dns.Msg{
		q("web.marathon.mesos", dns.TypeA),
		q("WeB.*.marathon.mesos", dns.TypeAAAA),
		q("_web._tcp.marathon.mesos", dns.TypeSRV),
		withEDNS(q("big.marathon.mesos", dns.TypeA), 1232, true),
		withEDNS(q("_many._tcp.marathon.mesos", dns.TypeSRV), 600, false),
		q("mesos", dns.TypeSOA),
		q("mesos", dns.TypeNS),
		q("mesos", dns.TypeANY),
		q("nope.mesos", dns.TypeTXT),
		q("1.0.0.10.in-addr.arpa", dns.TypePTR),
		q("www.example.com", dns.TypeA),
		q(".", dns.TypeNS),
	} {
		raw, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw, false)
		f.Add(raw, true)
	}
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0xC0, 12, 0, 1, 0, 1}, false)
	f.Add([]byte{0, 1, 0x28, 0, 0, 1, 0, 0, 0, 0, 0, 0}, false)
	f.Fuzz(func(t *testing.T, msg []byte, tcp bool) {
		reply, fwd := s.Answer(msg, tcp, nil)
		if reply == nil {
			return
		}
		if fwd {
			t.Fatal("reply and forward")
		}
		var r dns.Msg
		if err := r.Unpack(reply); err != nil {
			t.Fatalf("reply %x to %x does not parse: %v", reply, msg, err)
		}
		if !r.Response || r.Id != binary.BigEndian.Uint16(msg) {
			t.Fatalf("reply %v to %x", &r, msg)
		}
		if limit := 65535; !tcp && len(reply) > 4096 || len(reply) > limit {
			t.Fatalf("reply of %d bytes", len(reply))
		}
		// The UDP loop's gathered form is the same reply.
		var g gather
		gr, grp := s.answerGather(msg, tcp, nil, &g, &s.shared)
		if gr == nil || grp >= 0 {
			t.Fatalf("gathered: no reply to %x", msg)
		}
		sameReply(t, "gathered", reply, gr, &g)
	})
}
