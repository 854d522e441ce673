package operator

import "testing"

func BenchmarkZZReuse(b *testing.B) {
	st := syntheticState(10_000, 100_000)
	w := &jsonWriter{}
	w.getState(st)
	buf := w.b
	for b.Loop() {
		w := &jsonWriter{b: buf[:0]}
		w.obj()
		w.getState(st)
		w.end()
		buf = w.b
	}
	b.SetBytes(int64(len(buf)))
}
