// Command dnslat measures the latency a DNS server adds at a fixed query
// rate, for scripts/bench-dns.sh.
//
// Why not dnsperf -v alone: dnsperf takes a reply's time when its receiving
// thread gets around to reading it, on the same core as its sending thread
// and as the printing of one line per query. On this two-core machine that
// puts a floor of 1.1–1.6 ms under the p99 of any server, including a bare
// loop that only copies one prepared reply (docs/benchmarks-dns.md): the
// client's own scheduling, not the server, is the tail. dnslat takes the
// time of each reply from the kernel instead (SO_TIMESTAMPNS: when the
// datagram reached the client's socket, which on loopback is inside the
// server's send), so the figure is send → reply delivered: the server's
// queueing and work, and the loopback path, and nothing of the client's
// reading. It prints the user-space figure too, to show the difference.
//
// Sending is paced per query, not in bursts: query i leaves at start +
// i/rate (one loop iteration late at most), over -c connected sockets in
// turn, with dnsperf's query-file format ("name type" per line) and its
// flags (RD set; -e adds EDNS0 with a 4096-byte UDP size).
//
//	taskset -c 1 dnslat -s 127.0.0.1:15353 -d queries.txt -Q 50000 -l 60
//
// Output, one line on stdout (milliseconds): answered-qps p50 p99 p99.9 max
// median-p99-of-1s-windows worst-p99-of-1s-windows answered lost
// user-space-p99; a readable summary goes to stderr.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

func main() {
	server := flag.String("s", "127.0.0.1:53", "server `address:port`")
	file := flag.String("d", "", "query `file`, dnsperf format (name type per line)")
	rate := flag.Float64("Q", 10000, "queries per second")
	secs := flag.Float64("l", 10, "length of the run in `seconds`")
	clients := flag.Int("c", 4, "sockets (source ports) the queries take in turn")
	edns := flag.Bool("e", false, "add EDNS0 (UDP size 4096) to every query, as dnsperf -e")
	timeout := flag.Duration("t", time.Second, "a query not answered in this time is lost")
	dump := flag.String("dump", "", "write every answered query to `file`: its send time and kernel-timed latency, in µs, one per line (to see how slow answers cluster)")
	flag.Parse()
	if err := run(*server, *file, *rate, *secs, *clients, *edns, *timeout, *dump); err != nil {
		fmt.Fprintln(os.Stderr, "dnslat:", err)
		os.Exit(1)
	}
}

func run(server, file string, rate, secs float64, clients int, edns bool, timeout time.Duration, dump string) error {
	addr, err := netip.ParseAddrPort(server)
	if err != nil {
		return fmt.Errorf("-s %q: %w", server, err)
	}
	if rate <= 0 || secs <= 0 || clients < 1 {
		return errors.New("-Q, -l and -c must be positive")
	}
	queries, err := readQueries(file, edns)
	if err != nil {
		return err
	}
	socks := make([]*socket, clients)
	for i := range socks {
		if socks[i], err = dial(addr); err != nil {
			return err
		}
		defer socks[i].close()
	}
	res := measure(socks, queries, rate, time.Duration(secs*float64(time.Second)), timeout)
	fmt.Fprint(os.Stderr, res.summary())
	fmt.Println(res.line())
	if dump != "" {
		return res.dump(dump)
	}
	return nil
}

// readQueries packs every query of a dnsperf data file once; the id is set
// at send time.
func readQueries(path string, edns bool) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s:%d: want \"name type\", got %q", path, line, sc.Text())
		}
		qtype, ok := dns.StringToType[strings.ToUpper(fields[1])]
		if !ok {
			return nil, fmt.Errorf("%s:%d: unknown type %q", path, line, fields[1])
		}
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(fields[0]), qtype)
		if edns {
			m.SetEdns0(4096, false)
		}
		b, err := m.Pack()
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, b)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no queries", path)
	}
	return out, nil
}

// result holds one latency per answered query, in send order.
type result struct {
	rate   float64
	length time.Duration
	sentAt []int64 // ns since start, per answered query
	kernel []int64 // ns, send → reply in the client's socket
	user   []int64 // ns, send → reply read by dnslat
	sent   int
	lost   int
	// lag is, per second, the most a query left after its time: dnslat
	// itself held up (descheduled, faulting), after which it sends the
	// queries it owes in a burst that queues at the server. A second with
	// a high p99 and a high lag says more about the client than the server.
	lag       []int64
	malformed int
}

// measure runs the paced send and the receive on one locked thread: between
// two sends it drains the sockets, so a reply waits for dnslat at most one
// loop iteration, and its kernel timestamp does not wait at all.
func measure(socks []*socket, queries [][]byte, rate float64, length, timeout time.Duration) *result {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	period := float64(time.Second) / rate
	res := &result{rate: rate, length: length}
	n := int(rate * length.Seconds())
	res.sentAt = prefault(make([]int64, n))[:0]
	res.kernel = prefault(make([]int64, n))[:0]
	res.user = prefault(make([]int64, n))[:0]
	// In flight, per socket: the send time (wall clock, as the kernel's
	// timestamps) of the query with each id, 0 when free.
	inflight := make([][65536]int64, len(socks))
	for k := range inflight {
		prefault(inflight[k][:])
	}
	nextID := make([]uint16, len(socks))
	start := time.Now().UnixNano() + int64(10*time.Millisecond)
	end := start + int64(length)
	buf := make([]byte, 65536)
	var q []byte
	for i := 0; ; {
		now := time.Now().UnixNano()
		if now >= end+int64(timeout) {
			break
		}
		for now < end && float64(now-start) >= float64(i)*period {
			k := i % len(socks)
			id := nextID[k]
			nextID[k]++
			if inflight[k][id] != 0 {
				res.lost++ // its id comes round again unanswered
			}
			q = append(q[:0], queries[i%len(queries)]...)
			q[0], q[1] = byte(id>>8), byte(id)
			t := time.Now().UnixNano()
			if lag := t - start - int64(float64(i)*period); lag > 0 {
				sec := int((t - start) / int64(time.Second))
				for len(res.lag) <= sec {
					res.lag = append(res.lag, 0)
				}
				res.lag[sec] = max(res.lag[sec], lag)
			}
			if socks[k].send(q) == nil {
				inflight[k][id] = t
				res.sent++
			}
			i++
		}
		for k, s := range socks {
			for {
				m, ts, err := s.recv(buf)
				if err != nil {
					break
				}
				got := time.Now().UnixNano()
				if ts == 0 {
					ts = got
				}
				if m < 12 {
					res.malformed++
					continue
				}
				id := uint16(buf[0])<<8 | uint16(buf[1])
				t := inflight[k][id]
				if t == 0 {
					res.malformed++ // late or duplicate
					continue
				}
				inflight[k][id] = 0
				res.sentAt = append(res.sentAt, t-start)
				res.kernel = append(res.kernel, ts-t)
				res.user = append(res.user, got-t)
			}
		}
	}
	for k := range inflight {
		for _, t := range inflight[k] {
			if t != 0 {
				res.lost++
			}
		}
	}
	return res
}

// prefault touches every page of s before the run: a page fault in the
// middle of it would stall the sender, and the queries it then sends late
// in a burst would queue at the server and show as server latency.
func prefault(s []int64) []int64 {
	for i := 0; i < len(s); i += 512 {
		s[i] = 1
		s[i] = 0
	}
	return s
}

func msOf(ns []int64) []float64 {
	out := make([]float64, len(ns))
	for i, v := range ns {
		out[i] = float64(v) / 1e6
	}
	return out
}

func pct(sorted []int64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]) / 1e6
}

// windows is the p99 of each second of sending, sorted.
func (r *result) windows() []float64 {
	out := r.perSecond()
	slices.Sort(out)
	return out
}

// perSecond is the p99 of each second of sending, in time order (replies
// come back in any order, so they are bucketed by their send time).
func (r *result) perSecond() []float64 {
	var buckets [][]int64
	for i, t := range r.sentAt {
		sec := int(t / int64(time.Second))
		for len(buckets) <= sec {
			buckets = append(buckets, nil)
		}
		buckets[sec] = append(buckets[sec], r.kernel[i])
	}
	var out []float64
	for _, b := range buckets {
		if len(b) > 0 {
			slices.Sort(b)
			out = append(out, pct(b, .99))
		}
	}
	return out
}

func (r *result) line() string {
	k := slices.Clone(r.kernel)
	slices.Sort(k)
	u := slices.Clone(r.user)
	slices.Sort(u)
	w := r.windows()
	wmed, wmax := 0.0, 0.0
	if len(w) > 0 {
		wmed, wmax = w[len(w)/2], w[len(w)-1]
	}
	qps := float64(len(k)) / r.length.Seconds()
	var maxv float64
	if len(k) > 0 {
		maxv = float64(k[len(k)-1]) / 1e6
	}
	return fmt.Sprintf("%.0f %.3f %.3f %.3f %.3f %.3f %.3f %d %d %.3f",
		qps, pct(k, .5), pct(k, .99), pct(k, .999), maxv, wmed, wmax, len(k), r.lost, pct(u, .99))
}

// dump writes the answered queries in send order.
func (r *result) dump(path string) error {
	order := make([]int, len(r.sentAt))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(r.sentAt[a], r.sentAt[b]) })
	var b bytes.Buffer
	for _, i := range order {
		fmt.Fprintf(&b, "%d %d\n", r.sentAt[i]/1e3, r.kernel[i]/1e3)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func (r *result) summary() string {
	f := strings.Fields(r.line())
	return fmt.Sprintf("dnslat: %d sent at %.0f qps for %s, %s answered (%s qps), %s lost, %d malformed or late\n"+
		"  kernel-timestamped latency: p50 %s ms, p99 %s ms, p99.9 %s ms, max %s ms; p99 of 1-s windows: median %s ms, worst %s ms\n"+
		"  read by dnslat (user space): p99 %s ms\n",
		r.sent, r.rate, r.length, f[7], f[0], f[8], r.malformed, f[1], f[2], f[3], f[4], f[5], f[6], f[9]) +
		"  p99 per second (ms): " + fmt.Sprintf("%.2f", r.perSecond()) + "\n" +
		"  dnslat's own worst send lag per second (ms): " + fmt.Sprintf("%.2f", msOf(r.lag)) + "\n"
}
