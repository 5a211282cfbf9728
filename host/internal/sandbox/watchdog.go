package sandbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/durohost/durohost/abi"
)

// The watchdog bounds how long a guest runs. What it bounds depends on the phase of the run:
//
//   - describe: a module's description, at load time, within InstantiateTimeout of CPU time
//     (an overrun makes the module invalid) and TurnWallTimeout of wall time (an overrun is
//     the host's problem, ErrHostBusy), as a live turn.
//   - replay: a cold turn replaying recorded history, within ReplayTimeout (wall time). The
//     guest is doing again what it did before: an overrun says the host is slow or busy, so
//     the turn is retried (ErrReplayTimeout), never recorded as the instance's failure.
//   - live: the rest of the turn, within TurnTimeout of CPU time of the guest's thread where
//     the platform measures it (Linux), and TurnWallTimeout of wall time. Using up the CPU
//     budget is the guest's doing (an infinite loop): the instance fails (DH-LIMIT-001).
//     Reaching the wall budget first means the guest was waiting for a busy host: the turn
//     is retried (ErrHostBusy). So a recorded outcome does not depend on the host's load.
//     Where CPU time is not measured, TurnTimeout is wall time and is recorded.
//
// The guest's goroutine is locked to its OS thread while it runs (so that the thread's CPU
// clock is the guest's), and unlocked while it is parked. See RATIONALE.md, "Why does a turn
// budget count CPU time?".
type watchdog struct {
	cfg *Config
	// stopped is set once verdict is: host functions check it, so that a stopped guest
	// records nothing more.
	stopped atomic.Bool

	mu      sync.Mutex
	inst    *Instance
	phase   phase
	since   time.Time // start of the phase (wall)
	tid     int       // the guest's thread while it runs (0: not known)
	cpuBase time.Duration
	cpuOK   bool // cpuBase holds the thread's CPU time at the start of the live phase
	timer   *time.Timer
	verdict error // why the guest was stopped (nil: it was not)
}

type phase uint8

const (
	phaseIdle phase = iota
	phaseDescribe
	phaseReplay
	phaseLive
)

// exitStopped is the exit code a guest stopped by the watchdog is closed with.
const exitStopped uint32 = 0xdead0001

// begin starts watching a run in phase p.
func (w *watchdog) begin(p phase) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.phase, w.since, w.cpuOK = p, time.Now(), false
	w.armLocked(w.budgetLocked())
}

// budgetLocked returns the first delay after which the current phase must be checked.
func (w *watchdog) budgetLocked() time.Duration {
	switch w.phase {
	case phaseDescribe:
		return min(w.cfg.InstantiateTimeout, w.cfg.TurnWallTimeout)
	case phaseReplay:
		return w.cfg.ReplayTimeout
	case phaseLive:
		return min(w.cfg.TurnTimeout, w.cfg.TurnWallTimeout)
	}
	return 0
}

func (w *watchdog) armLocked(d time.Duration) {
	if d <= 0 {
		return
	}
	if w.timer == nil {
		w.timer = time.AfterFunc(d, w.fire)
		return
	}
	w.timer.Reset(d)
}

// attach records the guest's thread; it runs on the guest's goroutine, locked to its thread.
func (w *watchdog) attach() {
	tid := currentThread()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tid = tid
	if (w.phase == phaseLive || w.phase == phaseDescribe) && !w.cpuOK {
		w.cpuBase, w.cpuOK = threadCPU(tid)
	}
}

// live marks the end of the replay of a cold turn (on the guest's goroutine): the live budget
// starts now.
func (w *watchdog) live() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.phase != phaseReplay || w.verdict != nil {
		return
	}
	w.phase, w.since = phaseLive, time.Now()
	w.cpuBase, w.cpuOK = threadCPU(w.tid)
	w.armLocked(w.budgetLocked())
}

// park ends the watch of a run whose guest parks (on the guest's goroutine). It reports false
// when the guest was stopped meanwhile: it must then unwind instead of parking, so that a
// stopped instance is never kept as if it could be resumed.
func (w *watchdog) park() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.verdict != nil {
		return false
	}
	w.phase, w.tid, w.cpuOK = phaseIdle, 0, false
	if w.timer != nil {
		w.timer.Stop()
	}
	return true
}

// end ends the watch of a run.
func (w *watchdog) end() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.phase = phaseIdle
	if w.timer != nil {
		w.timer.Stop()
	}
}

// fire checks the budget of the current phase, stops the guest when it is spent, and arms the
// timer again otherwise (time passes for a guest that is not running).
func (w *watchdog) fire() {
	w.mu.Lock()
	if w.verdict != nil || w.phase == phaseIdle {
		w.mu.Unlock()
		return
	}
	elapsed := time.Since(w.since)
	var verdict error
	switch w.phase {
	case phaseReplay:
		if elapsed >= w.cfg.ReplayTimeout {
			verdict = fmt.Errorf("%w (%s)", ErrReplayTimeout, w.cfg.ReplayTimeout)
		} else {
			w.armLocked(w.cfg.ReplayTimeout - elapsed)
		}
	case phaseLive, phaseDescribe:
		budget, what := w.cfg.TurnTimeout, "turn"
		if w.phase == phaseDescribe {
			budget, what = w.cfg.InstantiateTimeout, "describing the module"
		}
		cpu := elapsed
		if cpuTimeSupported {
			cpu = 0
			if c, ok := threadCPU(w.tid); ok && w.cpuOK {
				cpu = c - w.cpuBase
			}
		}
		switch {
		case cpu >= budget:
			unit := "CPU time"
			if !cpuTimeSupported {
				unit = "time"
			}
			verdict = &abi.Failure{Kind: abi.FailureInfrastructure, Code: abi.CodeTurnTimeout,
				Message: fmt.Sprintf("%s used more %s than its budget of %s (an infinite loop?)", what, unit, budget)}
		case elapsed >= w.cfg.TurnWallTimeout:
			verdict = fmt.Errorf("%w (%s of wall time, %s of CPU time)", ErrHostBusy, w.cfg.TurnWallTimeout, cpu.Round(time.Millisecond))
		default:
			w.armLocked(max(min(budget-cpu, w.cfg.TurnWallTimeout-elapsed), time.Millisecond))
		}
	}
	var inst *Instance
	if verdict != nil {
		// Decided and published under the lock a parking guest takes: it cannot park
		// between the decision and the stop.
		inst = w.setVerdictLocked(verdict)
	}
	w.mu.Unlock()
	closeStopped(inst)
}

// setVerdictLocked records verdict (the first one stands) and returns the instance to close,
// if any; w.mu is held.
func (w *watchdog) setVerdictLocked(verdict error) *Instance {
	if w.verdict != nil {
		return nil
	}
	w.verdict = verdict
	w.stopped.Store(true)
	return w.inst
}

// closeStopped closes the module of a stopped guest (without the watchdog's lock: closing
// takes the memory's).
func closeStopped(inst *Instance) {
	if inst != nil && inst.mod != nil {
		inst.mod.CloseWithExitCode(context.Background(), exitStopped)
	}
}

// stop stops the guest for verdict (the first verdict stands). Any goroutine may call it, but
// not while holding a lock the module's closing takes (its memory's).
func (w *watchdog) stop(verdict error) {
	w.mu.Lock()
	inst := w.setVerdictLocked(verdict)
	w.mu.Unlock()
	closeStopped(inst)
}

// result returns the verdict, if the watchdog stopped the guest.
func (w *watchdog) result() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.verdict
}

// Transient reports whether err, a Result.Err or an error of Instantiate, is a condition of
// the host rather than the guest's failure (a budget overrun while replaying, a busy host,
// the guest memory budget): the turn is to be retried, never recorded as a failure.
func Transient(err error) bool { return transient(err) }

func transient(err error) bool {
	return errors.Is(err, ErrReplayTimeout) || errors.Is(err, ErrHostBusy) || errors.Is(err, ErrMemoryBudget)
}
