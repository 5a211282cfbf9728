package sandbox

import (
	"context"
	"sync"
	"time"
)

// Warm instances. Instantiating a Go guest from its module's snapshot costs about 0.4 ms of
// CPU on a small machine, two thirds of it wazero filling the function table (one reference
// per function: a Go guest has thousands) and the rest restoring the memory image; until now
// all of it sat on the path of every start and of every cold turn. A module whose instances
// start from a snapshot therefore keeps a few instances instantiated ahead of need, bound to
// no execution: Instantiate takes one when it is ready (and asks for another in the
// background), or instantiates as before when none is. A module fills its pool once it is
// loaded, so that its first start finds one ready as well.
//
// A warm instance is a new instance, never one that ran: it has run its ABI version export
// and nothing else, exactly what a new instance has run when Instantiate binds it, and
// binding (clocks, random stream, the Go runtime's seed) happens at the same point for both
// (see bind), so that no guest can tell which one it got and a replay on either makes the
// same history. Instances that ran are never reused: what a guest could leave behind beyond
// its memory and globals (WASI descriptor state, tables) cannot be reset from outside.
//
// Warm instances hold their memory (counted in the guest memory budget; Admit gives them back
// before it waits for room; all modules' together hold at most Config.WarmMemory) and are
// closed after WarmIdle without a start, and with their module.

// warmSize is how many instances a module keeps ready: one covers a stream of sequential
// starts (the next is instantiated while the current one runs); the second covers a start
// that comes before the background instantiation ends.
const warmSize = 2

// warmHeadroom: a module fills its pool only while the guest memory budget has room for this
// many more of its instances.
const warmHeadroom = 8

// prefaultBelow: a warm instance copies its memory image (paying its page faults before its
// start, see reservedMemory.prefault) while its module has fewer instances than this alive. A
// module with few instances is latency-bound: each start is on someone's path, and its first
// turn would otherwise fault in the pages it touches. A module with many is throughput-bound:
// its starts come in bursts that take warm instances as fast as they are made, and copying the
// whole image for each would cost more memory (the pages a guest only reads stay shared when
// mapped) and CPU than the faults it saves (W1: peak RSS 341 -> ~480 MB).
const prefaultBelow = 8

// defaultWarmIdle is how long warm instances outlive the module's last start.
const defaultWarmIdle = 10 * time.Second

// warmPool is a module's warm instances.
type warmPool struct {
	mu      sync.Mutex
	ready   []*Instance
	filling bool           // a goroutine is instantiating for the pool
	fills   sync.WaitGroup // that goroutine, and an expiry closing instances (the module waits for them before it closes)
	closed  bool
	last    time.Time   // the last take
	timer   *time.Timer // closes the ready instances once idle (nil: not armed)
}

// warmable reports whether m keeps warm instances: modules that start from a snapshot, whose
// instantiation is costly (modules of other forms instantiate in tens of microseconds).
func (m *Module) warmable() bool {
	return m.snap != nil && !m.Stream && !m.rt.cfg.NoWarm
}

// takeWarm returns a warm instance of m, or nil when none is ready.
func (m *Module) takeWarm() *Instance {
	if !m.warmable() {
		return nil
	}
	p := &m.warm
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = time.Now()
	n := len(p.ready)
	if n == 0 {
		return nil
	}
	i := p.ready[n-1]
	p.ready[n-1] = nil
	p.ready = p.ready[:n-1]
	m.rt.warmBytes.Add(-m.MemoryEstimate())
	m.rt.warmHits.Add(1)
	return i
}

// refillWarm starts instantiating for m's pool in the background, unless it is full or
// already being filled.
func (m *Module) refillWarm() {
	if !m.warmable() {
		return
	}
	p := &m.warm
	p.mu.Lock()
	if p.closed || p.filling || len(p.ready) >= warmSize {
		p.mu.Unlock()
		return
	}
	p.filling = true
	p.fills.Add(1)
	p.mu.Unlock()
	go m.fillWarm()
}

// fillWarm instantiates until the pool is full. A failed instantiation (the guest memory
// budget is spent, the module is closing) ends the filling: the next start tries again. So
// does a budget with little room left: warm instances would hold memory the turns need, and
// Admit would close them again, only for the next start to instantiate them anew.
func (m *Module) fillWarm() {
	p := &m.warm
	defer p.fills.Done()
	for {
		var (
			i   *Instance
			err error
		)
		size := m.MemoryEstimate()
		if ok, _ := m.rt.mem.room(warmHeadroom * size); !ok {
			err = ErrMemoryBudget
		} else if m.rt.warmBytes.Add(size) > m.rt.cfg.WarmMemory {
			m.rt.warmBytes.Add(-size)
			err = ErrMemoryBudget
		} else if i, err = m.rt.instantiate(context.Background(), m, false, m.bound.Load() < prefaultBelow); err != nil {
			m.rt.warmBytes.Add(-size)
		}
		p.mu.Lock()
		if err != nil || p.closed {
			p.filling = false
			p.mu.Unlock()
			if i != nil {
				m.rt.warmBytes.Add(-size)
				i.Close()
			}
			return
		}
		p.ready = append(p.ready, i)
		if p.timer == nil { // armed with the first ready instance: a fill may stop short
			p.timer = time.AfterFunc(m.rt.cfg.WarmIdle, m.expireWarm)
		}
		full := len(p.ready) >= warmSize
		if full {
			p.filling = false
		}
		p.mu.Unlock()
		if full {
			return
		}
	}
}

// expireWarm closes the ready instances when the module has not started one for WarmIdle,
// and checks again later otherwise. Closing the module waits for it (fills).
func (m *Module) expireWarm() {
	p := &m.warm
	p.mu.Lock()
	if p.closed { // dropWarm closes the ready instances
		p.mu.Unlock()
		return
	}
	if idle := time.Since(p.last); idle < m.rt.cfg.WarmIdle {
		p.timer = time.AfterFunc(m.rt.cfg.WarmIdle-idle, m.expireWarm)
		p.mu.Unlock()
		return
	}
	p.timer = nil
	ready := p.ready
	p.ready = nil
	p.fills.Add(1)
	p.mu.Unlock()
	defer p.fills.Done()
	m.closeWarm(ready)
}

// closeWarm closes warm instances taken out of the pool.
func (m *Module) closeWarm(ready []*Instance) {
	m.rt.warmBytes.Add(-int64(len(ready)) * m.MemoryEstimate())
	for _, i := range ready {
		i.Close()
	}
}

// dropWarm closes m's ready instances; with closing set, it also keeps the module from
// making more and waits for an instantiation in progress (its memory image must outlive it).
// It reports whether there were any.
func (m *Module) dropWarm(closing bool) bool {
	p := &m.warm
	p.mu.Lock()
	if closing {
		p.closed = true
		if p.timer != nil {
			p.timer.Stop()
			p.timer = nil
		}
		p.mu.Unlock()
		p.fills.Wait()
		p.mu.Lock()
	}
	ready := p.ready
	p.ready = nil
	p.mu.Unlock()
	m.closeWarm(ready)
	return len(ready) > 0
}

// dropWarm closes the warm instances of every module of the runtime (to give their memory
// back to the guest memory budget); it reports whether there were any.
func (rt *Runtime) dropWarm() bool {
	rt.mu.Lock()
	mods := make([]*Module, 0, len(rt.modules))
	for m := range rt.modules {
		mods = append(mods, m)
	}
	rt.mu.Unlock()
	dropped := false
	for _, m := range mods {
		if m.dropWarm(false) {
			dropped = true
		}
	}
	return dropped
}

// WarmStarts returns how many instances the runtime's modules handed out warm (see warm.go).
func (rt *Runtime) WarmStarts() int64 { return rt.warmHits.Load() }
