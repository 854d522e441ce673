// Package leakcheck finds goroutines that a test leaves running. It compares
// runtime.NumGoroutine with a count taken earlier and, since goroutines that
// have been told to stop take a moment to be gone, waits for the count to
// fall back before it fails the test with every goroutine's stack.
// (go.uber.org/goleak is not available here.)
//
// Counting is process-wide, so tests that use it must not run in parallel
// with tests that start or stop goroutines.
package leakcheck

import (
	"runtime"
	"testing"
	"time"
)

// Timeout bounds the wait for the goroutine count to fall back.
const Timeout = 10 * time.Second

const poll = 10 * time.Millisecond

// Verify records the goroutine count now and registers a cleanup that
// waits for it to fall back (see Wait). Cleanups run last-registered first,
// so a test should call Verify before it starts what must be stopped and
// registers the cleanups that stop it.
func Verify(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		t.Helper()
		Wait(t, before)
	})
}

// Check records the goroutine count now and returns a function that waits
// for it to fall back (see Wait), for tests that check at a chosen point
// rather than at the end.
func Check(t testing.TB) func() {
	t.Helper()
	before := runtime.NumGoroutine()
	return func() {
		t.Helper()
		Wait(t, before)
	}
}

// Settled counts goroutines once the count has stopped falling (for at most
// half a second), so that leftovers of earlier tests that are still ending
// are not counted as running: a baseline taken while they are would hide a
// leak of as many goroutines.
func Settled() int {
	n := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(poll)
		m := runtime.NumGoroutine()
		if m >= n {
			return m
		}
		n = m
	}
	return n
}

// Wait waits until no more than before goroutines run. If the count has not
// fallen back within Timeout, it fails the test with t.Fatalf, printing the
// stacks of all goroutines to show what leaked.
func Wait(t testing.TB, before int) {
	t.Helper()
	wait(t, before, Timeout)
}

func wait(t testing.TB, before int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d running after %v, want at most %d as before; leak?\n%s", n, timeout, before, stacks())
		}
		time.Sleep(poll)
	}
}

// stacks returns the stacks of all goroutines, however long.
func stacks() []byte {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}
