package records

import "unsafe"

// strArena hands out strings carved from large byte chunks. Build makes a
// few hundred thousand names and "target:port" strings for a big cluster;
// allocating each on its own costs an allocation apiece and, worse, makes
// the garbage collector track every one. Chunks hold no pointers, so the
// collector never scans them, and one chunk serves thousands of strings.
//
// Bytes are only ever appended within a chunk's capacity and never changed
// afterwards, which is what makes the unsafe.String views immutable as Go
// strings must be. A chunk lives as long as any string in it, i.e. as long
// as the Table.
type strArena struct {
	buf   []byte
	chunk int
}

// begin makes room for a string of at most n bytes and returns its start;
// the caller appends to a.buf and then calls end.
func (a *strArena) begin(n int) int {
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]byte, 0, max(a.chunk, n))
	}
	return len(a.buf)
}

// end returns the string appended since start.
func (a *strArena) end(start int) string {
	if len(a.buf) == start {
		return ""
	}
	return unsafe.String(&a.buf[start], len(a.buf)-start)
}

// concat returns the concatenation of parts as an arena string.
func (a *strArena) concat(parts ...string) string {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	start := a.begin(n)
	for _, p := range parts {
		a.buf = append(a.buf, p...)
	}
	return a.end(start)
}
