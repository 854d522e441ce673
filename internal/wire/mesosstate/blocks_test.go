package mesosstate

import (
	"slices"
	"testing"
)

func TestBlocksKeepOrderAndDrops(t *testing.T) {
	for _, n := range []int{0, 1, blockLen - 1, blockLen, blockLen + 1, 3*blockLen + 7} {
		var b blocks[int]
		var want []int
		yields := 0
		for i := range n {
			*b.next() = i
			if i%5 == 0 { // every fifth is skipped, as a bad task would be
				b.dropLast()
				continue
			}
			want = append(want, i)
		}
		got := b.flatten(func() { yields++ })
		if !slices.Equal(got, want) {
			t.Fatalf("n=%d: got %d elements, want %d (first difference matters)", n, len(got), len(want))
		}
		if len(want) == 0 && got != nil {
			t.Errorf("n=%d: no elements should flatten to nil, got %v", n, got)
		}
		if cap(got) != len(got) {
			t.Errorf("n=%d: cap %d, len %d: flatten should size exactly", n, cap(got), len(got))
		}
		if blocksUsed := (len(want) + blockLen - 1) / blockLen; yields != blocksUsed {
			t.Errorf("n=%d: %d yields, want one per block (%d)", n, yields, blocksUsed)
		}
	}
}

func TestBlocksDroppedSlotIsZeroed(t *testing.T) {
	var b blocks[[]int]
	*b.next() = []int{1, 2}
	b.dropLast()
	if v := *b.next(); v != nil {
		t.Fatalf("a slot reused after dropLast holds %v, want the zero value", v)
	}
}
