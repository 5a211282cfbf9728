//go:build !linux

package sandbox

import "time"

// cpuTimeSupported: elsewhere a guest's turn budget is wall time (see watchdog).
const cpuTimeSupported = false

func currentThread() int { return 0 }

func threadCPU(int) (time.Duration, bool) { return 0, false }
