package mesosstate

// blocks collects the elements of a long array (agents, a framework's
// tasks) in fixed-size blocks instead of one growing slice. Growing a slice
// of 10,000 tasks copies all of it into fresh memory at every doubling, in
// one piece inside the runtime where nothing yields; under this project's
// VM, with its costly page faults, that held the serving core for 10–15 ms
// at a time (perf, docs/benchmarks-dns.md). flatten makes the one slice at
// the end, yielding between blocks.
type blocks[T any] struct {
	full [][]T
	cur  []T
	n    int
}

// blockLen is the number of elements per block: 256 tasks are about 50 KB.
const blockLen = 256

// next returns a zeroed element appended at the end.
func (b *blocks[T]) next() *T {
	if len(b.cur) == cap(b.cur) {
		if b.cur != nil {
			b.full = append(b.full, b.cur)
		}
		b.cur = make([]T, 0, blockLen)
	}
	b.cur = b.cur[:len(b.cur)+1]
	b.n++
	return &b.cur[len(b.cur)-1]
}

// dropLast removes the element next returned last (a skipped one).
func (b *blocks[T]) dropLast() {
	var zero T
	b.cur[len(b.cur)-1] = zero
	b.cur = b.cur[:len(b.cur)-1]
	b.n--
}

// flatten returns the elements in order as one slice of exactly their
// number, nil when there are none (as if skipped elements had never been
// there), calling yield, when set, after each block copied.
func (b *blocks[T]) flatten(yield func()) []T {
	if b.n == 0 {
		return nil
	}
	out := make([]T, 0, b.n)
	for _, blk := range append(b.full, b.cur) {
		out = append(out, blk...)
		if yield != nil {
			yield()
		}
	}
	return out
}
