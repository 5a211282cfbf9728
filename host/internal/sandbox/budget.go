package sandbox

import (
	"context"
	"sync"
)

// memoryBudget counts the linear memory committed by the guests of a runtime, running and
// parked, against Config.GuestMemory. Growing a guest past it is refused (the guest is
// stopped and its turn retried, see watchdog.stop); starting a turn waits for room (Admit).
type memoryBudget struct {
	limit int64

	mu   sync.Mutex
	used int64
	// freed is closed (and replaced) whenever memory is released, waking Admit.
	freed chan struct{}
}

func newMemoryBudget(limit int64) *memoryBudget {
	return &memoryBudget{limit: limit, freed: make(chan struct{})}
}

// tryAcquire takes n bytes if they fit.
func (b *memoryBudget) tryAcquire(n int64) bool {
	if b == nil || n <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit {
		return false
	}
	b.used += n
	return true
}

// force takes n bytes even beyond the limit (a memory that must exist to be stopped).
func (b *memoryBudget) force(n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.mu.Lock()
	b.used += n
	b.mu.Unlock()
}

// release gives back n bytes.
func (b *memoryBudget) release(n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	ch := b.freed
	b.freed = make(chan struct{})
	b.mu.Unlock()
	close(ch)
}

// room reports whether n more bytes fit now, and a channel closed at the next release.
func (b *memoryBudget) room(n int64) (bool, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used+n <= b.limit, b.freed
}

// GuestMemory returns the bytes of linear memory the runtime's guests hold now and the budget.
func (rt *Runtime) GuestMemory() (used, limit int64) {
	rt.mem.mu.Lock()
	defer rt.mem.mu.Unlock()
	return rt.mem.used, rt.mem.limit
}

// Admit waits until n more bytes of guest memory fit in the budget (a turn about to start a
// guest, or resume one that may grow), closing the warm instances (see warm.go) and calling
// evict, when given, to free memory held by parked guests while it does not fit (evict
// reports false when it has nothing to free). It
// returns ctx's error when ctx ends first. Admission reserves nothing: a guest that grows past
// the budget later is stopped (ErrMemoryBudget).
func (rt *Runtime) Admit(ctx context.Context, n int64, evict func() bool) error {
	n = min(n, rt.mem.limit)
	for {
		ok, freed := rt.mem.room(n)
		if ok {
			return nil
		}
		if rt.dropWarm() || (evict != nil && evict()) {
			continue
		}
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
