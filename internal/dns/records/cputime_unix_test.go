//go:build unix

package records

import (
	"syscall"
	"time"
)

// processCPU is the user+system CPU time of the process so far, to report
// Build's CPU cost separately from wall time, which other work on a shared
// machine distorts.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
