package server

// A reply written for a gathering send (sendmmsg with several iovecs) need
// not be contiguous: the pre-encoded SRV and PTR sets and the additional
// records of an SRV answer already sit in the zone's arena, and the kernel
// copies the datagram out of user memory anyway. Copying a 2.4 KB SRV
// answer into the reply buffer first only to have the kernel copy it again
// was 5% of the server's CPU at 50k SRV queries per second, so the UDP loop
// on Linux passes those arena bytes as iovecs of their own and copies only
// what has to be written per query (header, question, address records,
// SOA, OPT).
//
// The arena slices stay valid after the zone is swapped out: zones are
// immutable and the slices keep the arena alive for the garbage collector
// until the send returns.

// maxGather bounds the pieces of one gathered reply (the iovecs of one
// datagram). A reply that would need more is copied from then on.
const maxGather = 8

// minGather is the shortest arena slice worth an iovec of its own: below
// it, the copy costs less than the kernel's per-iovec work.
const minGather = 256

// gather is one reply as a list of byte slices, in order; n == 0 means the
// reply is the contiguous buffer that answer returned.
type gather struct {
	v [maxGather][]byte
	n int
}

// bytes returns the reply as one slice (a copy when it is gathered); for
// tests and the paths that need contiguous bytes.
func (g *gather) bytes(reply []byte) []byte {
	if g.n == 0 {
		return reply
	}
	var out []byte
	for _, b := range g.v[:g.n] {
		out = append(out, b...)
	}
	return out
}

// len is the total length of the gathered reply.
func (g *gather) len() int {
	n := 0
	for _, b := range g.v[:g.n] {
		n += len(b)
	}
	return n
}

// replyWriter appends a reply to b, or, when g is not nil, references long
// arena slices from g instead of copying them. b must have room for the
// whole reply before the first write, so that the slices of b already
// listed in g stay valid.
type replyWriter struct {
	b    []byte
	g    *gather
	mark int // start of the bytes of b not yet listed in g
}

// put writes p, an arena slice that outlives the reply.
func (w *replyWriter) put(p []byte) {
	g := w.g
	// Room for the pending own bytes, p and the final own bytes.
	if g == nil || len(p) < minGather || g.n+3 > maxGather {
		w.b = append(w.b, p...)
		return
	}
	if len(w.b) > w.mark {
		g.v[g.n] = w.b[w.mark:len(w.b):len(w.b)]
		g.n++
	}
	g.v[g.n] = p
	g.n++
	w.mark = len(w.b)
}

// finish lists the trailing own bytes in g, when the reply is gathered.
func (w *replyWriter) finish() {
	if g := w.g; g != nil && g.n > 0 && len(w.b) > w.mark {
		g.v[g.n] = w.b[w.mark:len(w.b):len(w.b)]
		g.n++
		w.mark = len(w.b)
	}
}
