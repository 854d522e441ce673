package httpproxy

import (
	"strconv"
	"sync"
	"testing"
)

// TestVerifier: the cache only ever remembers successes, stays bounded, and
// never turns a wrong password into a right one.
func TestVerifier(t *testing.T) {
	const hash = "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/" // openssl passwd -1 -salt saltsalt password
	v := newVerifier()
	for i := range 3 {
		if !v.check(hash, "password") {
			t.Fatalf("round %d: right password refused", i)
		}
		if v.check(hash, "passwore") || v.check(hash, "") || v.check(hash+"x", "password") {
			t.Fatalf("round %d: wrong password or hash accepted", i)
		}
	}
	if len(v.ok) != 1 {
		t.Errorf("cache holds %d entries, want the one success", len(v.ok))
	}
	// Another verifier has another key: digests are not portable.
	w := newVerifier()
	w.check(hash, "password")
	for d := range v.ok {
		if _, same := w.ok[d]; same {
			t.Error("two verifiers produced the same digest: the key is not random")
		}
	}
	// Bounded: fill it up through the map directly; one more new success
	// starts it over.
	for i := range maxVerified {
		v.ok[[32]byte{byte(i), byte(i >> 8), 1}] = struct{}{}
	}
	const other = "$1$ab$bbCjtt8PZJDpVrzXMe5aF1" // openssl passwd -1 -salt ab 'a password longer than sixteen bytes'
	if !v.check(other, "a password longer than sixteen bytes") || len(v.ok) != 1 {
		t.Errorf("after overflow: %d entries, want 1", len(v.ok))
	}
}

// TestVerifierConcurrent runs checks from many goroutines (for -race) and
// never lets more than the slot count verify at once.
func TestVerifierConcurrent(t *testing.T) {
	const hash = "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/"
	v := newVerifier()
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			pass := "password"
			if i%2 == 1 {
				pass = "wrong" + strconv.Itoa(i)
			}
			if got := v.check(hash, pass); got != (i%2 == 0) {
				t.Errorf("check(%q) = %v", pass, got)
			}
		})
	}
	wg.Wait()
	if len(v.slot) != 0 {
		t.Errorf("%d slots still held", len(v.slot))
	}
}
