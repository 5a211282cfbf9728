package host

import (
	"fmt"
	"time"
)

// Limits bound what guests, modules and uploads may use. One value, normalised by New (a zero
// field takes its default, see DefaultLimits), serves the live host, Host.Replay and
// `durohost replay` alike, so that a recorded outcome never depends on which of them ran the
// guest. See RATIONALE.md, "Why one Limits value?".
type Limits struct {
	// TurnTime bounds the time a guest runs in the live part of a turn (after the recorded
	// history is replayed): the CPU time of the guest's thread where the platform measures
	// it (Linux), wall time elsewhere. A guest that exceeds it fails (DH-LIMIT-001).
	TurnTime time.Duration
	// TurnWallTime bounds the wall time of the live part of a turn where TurnTime is CPU time.
	// A guest that reaches it before TurnTime was waiting for a busy host: the turn is
	// abandoned and retried, never recorded as a failure of the instance.
	TurnWallTime time.Duration
	// ReplayTime bounds the wall time of a cold turn's replay of the recorded history. An
	// overrun is the host's problem (a busy or slow machine): the turn is retried later and
	// reported in the host's log, never recorded as a failure of the instance.
	ReplayTime time.Duration
	// InstantiateTime bounds every instantiation (a module's initialisation, when an instance
	// does not start from a snapshot) and a module's description at load time. Spending it
	// in CPU time is the module's doing (it fails); reaching it, or TurnWallTime while
	// describing, without using the CPU is the host's problem (retried).
	InstantiateTime time.Duration
	// CompileTime bounds the compilation of one module, the wait for a compile slot included
	// (ErrBusy when none was free, ErrCompileTimeout when the compilation itself outlasts it);
	// CompileConcurrency is how many modules compile at once.
	CompileTime        time.Duration
	CompileConcurrency int
	// MemoryPages bounds each guest's linear memory, in 64 KiB pages (at most 65536).
	MemoryPages uint32
	// GuestMemory bounds the linear memory of all guests of the host together, running,
	// parked and warm (up to 64 MiB of instances made ahead of their starts, given back first
	// when turns need the room), in bytes: turns wait for memory rather than exceed it, and a
	// guest that would grow past it is stopped and its turn retried (never recorded as a
	// failure).
	GuestMemory int64
	// MaxPayload bounds one payload crossing the ABI (an input, a result, an event), and the
	// body of an API request that carries one.
	MaxPayload int
	// MaxEvents bounds the events of one execution's history.
	MaxEvents int
	// MaxModuleSize bounds the bytes of one module.
	MaxModuleSize int
	// MaxRegistrations bounds the orchestrations one module may register.
	MaxRegistrations int
	// ModuleCache bounds the memory of compiled modules, memory images and snapshots kept
	// for modules that nothing uses at the moment, in bytes (least recently used first out).
	ModuleCache int64
	// DiskCache bounds the compiled modules kept on disk (WithCompilationCache), in bytes.
	DiskCache int64
}

// DefaultLimits are the limits of a Host made without WithLimits, and the values New gives
// the zero fields of a Limits.
var DefaultLimits = Limits{
	TurnTime:           10 * time.Second,
	TurnWallTime:       30 * time.Second,
	ReplayTime:         60 * time.Second,
	InstantiateTime:    10 * time.Second,
	CompileTime:        60 * time.Second,
	CompileConcurrency: 1,
	MemoryPages:        4096,
	GuestMemory:        4 << 30,
	MaxPayload:         4 << 20,
	MaxEvents:          100000,
	MaxModuleSize:      64 << 20,
	MaxRegistrations:   1000,
	ModuleCache:        512 << 20,
	DiskCache:          2 << 30,
}

// normalized returns l with its zero fields set to their defaults, or an error naming the
// first field out of range.
func (l Limits) normalized() (Limits, error) {
	d := DefaultLimits
	dur := func(v *time.Duration, def time.Duration, name string) error {
		switch {
		case *v < 0:
			return fmt.Errorf("limits: %s %s is negative", name, *v)
		case *v == 0:
			*v = def
		}
		return nil
	}
	num := func(v *int64, def int64, name string) error {
		switch {
		case *v < 0:
			return fmt.Errorf("limits: %s %d is negative", name, *v)
		case *v == 0:
			*v = def
		}
		return nil
	}
	errs := []error{
		dur(&l.TurnTime, d.TurnTime, "turn time"),
		dur(&l.ReplayTime, d.ReplayTime, "replay time"),
		dur(&l.InstantiateTime, d.InstantiateTime, "instantiate time"),
		dur(&l.CompileTime, d.CompileTime, "compile time"),
		num(&l.GuestMemory, d.GuestMemory, "guest memory"),
		num(&l.ModuleCache, d.ModuleCache, "module cache"),
		num(&l.DiskCache, d.DiskCache, "disk cache"),
	}
	if l.TurnWallTime == 0 {
		l.TurnWallTime = max(d.TurnWallTime, 3*l.TurnTime)
	}
	errs = append(errs, dur(&l.TurnWallTime, 0, "turn wall time"))
	ints := []struct {
		v    *int
		def  int
		name string
	}{
		{&l.CompileConcurrency, d.CompileConcurrency, "compile concurrency"},
		{&l.MaxPayload, d.MaxPayload, "max payload"},
		{&l.MaxEvents, d.MaxEvents, "max events"},
		{&l.MaxModuleSize, d.MaxModuleSize, "max module size"},
		{&l.MaxRegistrations, d.MaxRegistrations, "max registrations"},
	}
	for _, f := range ints {
		v := int64(*f.v)
		errs = append(errs, num(&v, int64(f.def), f.name))
		*f.v = int(v)
	}
	for _, err := range errs {
		if err != nil {
			return l, err
		}
	}
	if l.MemoryPages == 0 {
		l.MemoryPages = d.MemoryPages
	}
	switch {
	case l.MemoryPages > 65536:
		return l, fmt.Errorf("limits: memory of %d pages is more than 65536 (4 GiB)", l.MemoryPages)
	case l.TurnWallTime < l.TurnTime:
		return l, fmt.Errorf("limits: turn wall time %s is shorter than the turn time %s", l.TurnWallTime, l.TurnTime)
	case l.GuestMemory < int64(l.MemoryPages)*65536:
		return l, fmt.Errorf("limits: guest memory of %d bytes cannot hold one guest of %d pages", l.GuestMemory, l.MemoryPages)
	case l.MaxModuleSize > MaxModuleSize:
		return l, fmt.Errorf("limits: module size %d is more than %d", l.MaxModuleSize, MaxModuleSize)
	}
	return l, nil
}
