package bench

import (
	"bytes"
	"os"
	"strconv"
)

// memory figures of the process, read from /proc/self (Linux); elsewhere they are unknown
// and the lines leave them out.

// resetPeakRSS resets the process's peak resident set size (VmHWM), so that the next
// peakRSS reports the peak since now. It reports whether the reset worked.
func resetPeakRSS() bool {
	// "5" resets the peak RSS counter (Linux 4.0+, proc(5)).
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// rssBytes returns the process's current (VmRSS) and peak (VmHWM) resident set sizes in
// bytes (-1 where unknown).
func rssBytes() (cur, peak int64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1, -1
	}
	return statusField(b, "VmRSS:"), statusField(b, "VmHWM:")
}

// statusField parses "<name> <n> kB" of /proc/self/status into bytes (-1 when absent).
func statusField(status []byte, name string) int64 {
	i := bytes.Index(status, []byte(name))
	if i < 0 {
		return -1
	}
	line := status[i+len(name):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	f := bytes.Fields(line)
	if len(f) == 0 {
		return -1
	}
	kb, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil {
		return -1
	}
	return kb << 10
}
