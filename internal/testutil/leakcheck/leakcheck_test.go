package leakcheck

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// fakeT records what the helpers do to a test instead of doing it.
type fakeT struct {
	testing.TB
	cleanups []func()
	fatal    string
}

type fatalPanic struct{}

func (f *fakeT) Helper()           {}
func (f *fakeT) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeT) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	panic(fatalPanic{}) // like FailNow, stop the helper here
}

// run calls fn and reports whether it failed the fake test.
func (f *fakeT) run(fn func()) (failed bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(fatalPanic); !ok {
				panic(r)
			}
			failed = true
		}
	}()
	fn()
	return false
}

// leakedGoroutineForTest blocks until stop is closed; its name shows in the
// stacks of a failure.
func leakedGoroutineForTest(stop <-chan struct{}) { <-stop }

func TestWaitSeesGoroutinesEnd(t *testing.T) {
	before := Settled()
	stop := make(chan struct{})
	for range 3 {
		go leakedGoroutineForTest(stop)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		close(stop)
	}()
	f := &fakeT{}
	if f.run(func() { Wait(f, before) }) {
		t.Fatalf("Wait failed although the goroutines ended: %s", f.fatal)
	}
}

func TestWaitReportsLeakWithStacks(t *testing.T) {
	before := Settled()
	stop := make(chan struct{})
	defer close(stop)
	go leakedGoroutineForTest(stop)

	f := &fakeT{}
	start := time.Now()
	if !f.run(func() { wait(f, before, 100*time.Millisecond) }) {
		t.Fatal("wait passed with a goroutine still running")
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 5*time.Second {
		t.Errorf("wait gave up after %v, want about 100ms", d)
	}
	if !strings.Contains(f.fatal, fmt.Sprintf("want at most %d", before)) ||
		!strings.Contains(f.fatal, "leakedGoroutineForTest") {
		t.Errorf("failure message lacks the counts or the leaked goroutine's stack:\n%s", f.fatal)
	}
}

func TestVerifyWaitsInCleanup(t *testing.T) {
	f := &fakeT{}
	Verify(f)
	if len(f.cleanups) != 1 {
		t.Fatalf("Verify registered %d cleanups, want 1", len(f.cleanups))
	}
	stop := make(chan struct{})
	go leakedGoroutineForTest(stop)
	close(stop)
	if f.run(f.cleanups[0]) {
		t.Fatalf("cleanup failed although the goroutine ended: %s", f.fatal)
	}
}

func TestCheck(t *testing.T) {
	f := &fakeT{}
	check := Check(f)
	stop := make(chan struct{})
	go leakedGoroutineForTest(stop)
	close(stop)
	if f.run(check) {
		t.Fatalf("check failed although the goroutine ended: %s", f.fatal)
	}
	if len(f.cleanups) != 0 {
		t.Error("Check registered a cleanup")
	}
}

func TestStacksIsComplete(t *testing.T) {
	if s := stacks(); !strings.Contains(string(s), "TestStacksIsComplete") {
		t.Errorf("stacks lack the calling goroutine:\n%s", s)
	}
}
