// Command dnsbare is the yardstick of scripts/bench-dns.sh: a UDP responder
// that answers every query with one pre-built reply, only its 2-byte id
// replaced. It does no parsing and no lookup, so what it reaches under
// dnsperf is the practical ceiling of this machine for that reply size: the
// cost of the kernel's UDP path and of Go's netpoller, which every Go DNS
// server pays, and nothing else. A server is judged by its share of that
// ceiling, measured side by side in the same run, not by an absolute qps
// that moves with the machine.
//
// Why the reply is asked for and not built: the ceiling must move exactly
// the bytes the server under test moves (copy and syscall costs grow with
// the size), so at start dnsbare sends one query (-name, -type, -edns) to
// -reply-from and keeps the reply as it came. dnsperf matches replies by id
// only, so the same bytes serve every query of a file whose names all have
// the same length.
//
//	dnsbare -addr 127.0.0.1:15354 -reply-from 127.0.0.1:15353 -name app-100-group-0.marathon.mesos -type A
//
// -mode miekg serves the same records through github.com/miekg/dns instead
// (unpack the query, a Handler that sets the fixed records, owner names
// rewritten to the question, pack with compression): the conventional Go
// implementation, for comparison with published figures.
//
// I/O: -batch datagrams per system call each way (recvmmsg/sendmmsg,
// default 32, as Signpost's own UDP loop), or with -batch 1 one
// ReadFromUDPAddrPort and one WriteToUDPAddrPort per query, the plain
// standard-library loop. A ceiling must use the cheapest I/O the server
// under test may use: system calls and the per-packet work of the kernel,
// not answering, are what a UDP DNS server spends its time on. -raw makes
// the batched calls with RawSyscall, skipping the Go scheduler's
// system-call bookkeeping (the socket is non-blocking, so they never
// block): an experiment showing what that bookkeeping costs on one core.
//
// Reading: -readers goroutines, each on its own SO_REUSEPORT socket (the
// kernel spreads datagrams over them, so readers share no socket lock or
// queue); the default is GOMAXPROCS, which is one socket under the
// benchmark's GOMAXPROCS=1, where a second reader on the same core has
// nothing to gain.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:15354", "UDP address to answer on")
	from := flag.String("reply-from", "", "DNS server (host:port) asked once for the reply to serve (required)")
	name := flag.String("name", "", "query name whose reply is served (required)")
	qtype := flag.String("type", "A", "query type: A, AAAA, SRV, PTR, NS, SOA, TXT, ANY or a number")
	edns := flag.Int("edns", 0, "EDNS0 UDP size of the one query sent to -reply-from (0: no OPT); match what the load generator sends (dnsperf -e: 4096)")
	readers := flag.Int("readers", 0, "reading goroutines, one SO_REUSEPORT socket each (0: GOMAXPROCS)")
	batch := flag.Int("batch", 32, "bare mode: datagrams per recvmmsg/sendmmsg (Linux); 1: one read and one write system call per query")
	raw := flag.Bool("raw", false, "bare mode with -batch: make the recvmmsg/sendmmsg calls without telling the Go scheduler (RawSyscall), an experiment")
	mode := flag.String("mode", "bare", "bare (copy the reply, set the id) or miekg (a github.com/miekg/dns server with the same records)")
	flag.Parse()
	if *from == "" || *name == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "dnsbare: -reply-from and -name are required (see -h)")
		os.Exit(2)
	}
	t, err := parseType(*qtype)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dnsbare: -type:", err)
		os.Exit(2)
	}
	if *mode != "bare" && *mode != "miekg" {
		fmt.Fprintln(os.Stderr, "dnsbare: -mode must be bare or miekg")
		os.Exit(2)
	}
	n := *readers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	reply, err := fetch(*from, *name, t, *edns)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dnsbare:", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	conns, err := listen(ctx, *addr, n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dnsbare:", err)
		os.Exit(1)
	}
	// The script waits for this line and reads the reply size from it.
	fmt.Printf("dnsbare: serving %d-byte reply (%d answers, %d additional) for %s %s on %s, mode=%s batch=%d readers=%d GOMAXPROCS=%d\n",
		len(reply), binary.BigEndian.Uint16(reply[6:]), binary.BigEndian.Uint16(reply[10:]),
		*name, *qtype, *addr, *mode, *batch, n, runtime.GOMAXPROCS(0))

	var served atomic.Uint64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		switch *mode {
		case "bare":
			go func() {
				defer wg.Done()
				if *batch <= 1 {
					served.Add(serveBare(c, reply))
					return
				}
				k, err := serveBatch(c, reply, *batch, *raw)
				served.Add(k)
				if err != nil {
					fmt.Fprintln(os.Stderr, "dnsbare:", err)
					os.Exit(1)
				}
			}()
		case "miekg":
			h, err := newMiekg(reply)
			if err != nil {
				fmt.Fprintln(os.Stderr, "dnsbare:", err)
				os.Exit(1)
			}
			srv := &dns.Server{PacketConn: c, Handler: h}
			go func() { defer wg.Done(); srv.ActivateAndServe(); served.Add(h.n.Load()) }()
			context.AfterFunc(ctx, func() { srv.Shutdown() })
		}
	}
	<-ctx.Done()
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	fmt.Printf("dnsbare: %d replies sent\n", served.Load())
}

// serveBare is the whole ceiling with one system call per datagram each
// way: read, set the id, write. The reply is this goroutine's own copy, so
// nothing else is touched per query.
func serveBare(c *net.UDPConn, reply []byte) uint64 {
	out := append([]byte(nil), reply...)
	buf := make([]byte, 65535)
	var n uint64
	for {
		m, peer, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return n
			}
			continue
		}
		if m < 12 {
			continue
		}
		out[0], out[1] = buf[0], buf[1]
		c.WriteToUDPAddrPort(out, peer)
		n++
	}
}

// miekgHandler answers with the records of the fetched reply, built and
// packed per query as a miekg/dns server normally does.
type miekgHandler struct {
	fixed *dns.Msg
	owner string // lower-case owner of the fixed answers
	n     atomic.Uint64
}

func newMiekg(reply []byte) (*miekgHandler, error) {
	m := new(dns.Msg)
	if err := m.Unpack(reply); err != nil {
		return nil, fmt.Errorf("unpack the fetched reply: %w", err)
	}
	owner := ""
	if len(m.Question) > 0 {
		owner = strings.ToLower(m.Question[0].Name)
	}
	return &miekgHandler{fixed: m, owner: owner}, nil
}

func (h *miekgHandler) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = h.fixed.Authoritative
	m.RecursionAvailable = h.fixed.RecursionAvailable
	m.Rcode = h.fixed.Rcode
	m.Compress = true
	qn := ""
	if len(r.Question) > 0 {
		qn = r.Question[0].Name
	}
	// Answers are owned by the question as sent, as Signpost's are, so
	// compression gives the same sizes.
	m.Answer = make([]dns.RR, len(h.fixed.Answer))
	for i, rr := range h.fixed.Answer {
		if strings.ToLower(rr.Header().Name) == h.owner {
			rr = dns.Copy(rr)
			rr.Header().Name = qn
		}
		m.Answer[i] = rr
	}
	m.Ns = h.fixed.Ns
	m.Extra = h.fixed.Extra
	w.WriteMsg(m)
	h.n.Add(1)
}

// listen opens n UDP sockets on addr with SO_REUSEPORT.
func listen(ctx context.Context, addr string, n int) ([]*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	var conns []*net.UDPConn
	for range n {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, err
		}
		c := pc.(*net.UDPConn)
		c.SetReadBuffer(4 << 20) // as Signpost's sockets
		conns = append(conns, c)
	}
	return conns, nil
}

// fetch sends one query for name/qtype to server and returns the reply as
// received (3 tries, 2 s each).
func fetch(server, name string, qtype uint16, edns int) ([]byte, error) {
	q, err := buildQuery(name, qtype, edns)
	if err != nil {
		return nil, err
	}
	c, err := net.Dial("udp", server)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	buf := make([]byte, 65535)
	for try := 0; try < 3; try++ {
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err = c.Write(q); err != nil {
			continue
		}
		var n int
		if n, err = c.Read(buf); err != nil {
			continue
		}
		if n < 12 || buf[0] != q[0] || buf[1] != q[1] || buf[2]&0x80 == 0 {
			err = errors.New("not a reply to the query sent")
			continue
		}
		if rc := buf[3] & 0x0F; rc != 0 {
			return nil, fmt.Errorf("%s %s at %s: rcode %d", name, dns.TypeToString[qtype], server, rc)
		}
		if buf[2]&0x02 != 0 {
			fmt.Fprintln(os.Stderr, "dnsbare: warning: the reply is truncated (TC); serving it as is")
		}
		return append([]byte(nil), buf[:n]...), nil
	}
	return nil, fmt.Errorf("no reply from %s: %v", server, err)
}

// buildQuery is a query with RD set and, when edns > 0, an OPT record.
func buildQuery(name string, qtype uint16, edns int) ([]byte, error) {
	q := make([]byte, 12, 512)
	binary.BigEndian.PutUint16(q[0:], uint16(rand.Uint32()))
	binary.BigEndian.PutUint16(q[2:], 0x0100) // RD
	binary.BigEndian.PutUint16(q[4:], 1)
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if len(l) == 0 || len(l) > 63 {
			return nil, fmt.Errorf("bad name %q", name)
		}
		q = append(q, byte(len(l)))
		q = append(q, l...)
	}
	q = append(q, 0)
	q = binary.BigEndian.AppendUint16(q, qtype)
	q = binary.BigEndian.AppendUint16(q, 1) // IN
	if edns > 0 {
		binary.BigEndian.PutUint16(q[10:], 1)
		q = append(q, 0) // root owner
		q = binary.BigEndian.AppendUint16(q, 41)
		q = binary.BigEndian.AppendUint16(q, uint16(edns))
		q = append(q, 0, 0, 0, 0, 0, 0) // ext rcode, version, flags, rdlen
	}
	return q, nil
}

func parseType(s string) (uint16, error) {
	if t, ok := dns.StringToType[strings.ToUpper(s)]; ok {
		return t, nil
	}
	v, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("unknown type %q", s)
	}
	return uint16(v), nil
}
