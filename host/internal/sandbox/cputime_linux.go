package sandbox

import (
	"time"

	"golang.org/x/sys/unix"
)

// cpuTimeSupported: a guest's turn budget is the CPU time of its thread (see watchdog).
const cpuTimeSupported = true

// currentThread returns the ID of the OS thread the calling goroutine runs on (it must be
// locked to it for the ID to stay meaningful).
func currentThread() int { return unix.Gettid() }

// threadCPU returns the CPU time thread tid of this process has used. The clock of another
// thread of the process is the clock ID the kernel derives from its ID (the encoding
// pthread_getcpuclockid uses: per-thread, scheduler clock).
func threadCPU(tid int) (time.Duration, bool) {
	if tid <= 0 {
		return 0, false
	}
	clock := int32(^tid<<3) | 6
	var ts unix.Timespec
	if err := unix.ClockGettime(clock, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
