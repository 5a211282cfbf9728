package sandbox

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/host/internal/replay"
)

// State says where a guest stopped at the end of Run.
type State uint8

const (
	// Suspended: the guest awaits something not yet in history; it is parked and can be
	// resumed by another Run after the engine's BeginTurn.
	Suspended State = iota + 1
	// Completed: the guest called complete and returned; the end is in the engine's history.
	Completed
	// Failed: the guest failed (trap, ABI misuse, nondeterminism, limit); the engine recorded
	// the failure (Engine.Fail) and the instance is closed.
	Failed
	// Ended: replay reached an end the host had decided (a cancellation); the guest is parked.
	Ended
)

// Result is the outcome of Run. Err is the failure when State is Failed; when State is 0, Err
// is a transient condition (the context ended, the instance was closed) and the turn must be
// abandoned, not recorded.
type Result struct {
	State State
	Err   error
}

const exitKilled uint32 = 0xdead0002

// Instance is one guest bound to one execution's engine. It may be kept across turns (the
// guest parked in await) or discarded after a turn. Not safe for concurrent use.
type Instance struct {
	rt     *Runtime
	module *Module
	mod    api.Module
	run    api.Function
	eng    *replay.Engine
	id     string
	exec   uint32

	describe      bool
	registrations []abi.Registration
	// initializing is set while the module's initialisation runs (see instantiate).
	initializing bool

	started  bool
	dead     bool
	events   chan signal
	resume   chan struct{}
	kill     chan struct{}
	killOnce sync.Once
	dog      watchdog
	// replaying is set while a run replays recorded history (see watchdog); the guest's
	// goroutine clears it when the engine reaches the live part.
	replaying bool
	fatal     error // set by a host function before it stops the guest
	// release, when set, is called once when the instance is closed (the module manager's
	// reference to the module).
	release func()
	// counted: the instance is counted in its module's bound instances until closed.
	counted bool

	rnd       *phasedRandom
	mem       *reservedMemory
	stream    *stream // the stream form's channel (nil for the imported form)
	startInfo []byte
	stdout    *lineWriter
	stderr    *lineWriter
}

type signal struct {
	state  State // Suspended or Ended when the guest parked
	exited bool
	err    error
}

type instanceKey struct{}

// Instantiate creates a guest for the execution eng runs. eng must hold the execution's
// history (and the new turn, from BeginTurn); Instantiate positions it at the first turn. The
// guest is a warm instance of the module when one is ready (see warm.go), a new one otherwise.
func (rt *Runtime) Instantiate(ctx context.Context, m *Module, eng *replay.Engine, instanceID string, execution uint32) (*Instance, error) {
	if err := eng.Start(); err != nil {
		return nil, err
	}
	i := m.takeWarm()
	if i == nil {
		var err error
		if i, err = rt.instantiate(ctx, m, false, false); err != nil {
			return nil, err
		}
	}
	i.counted = true
	m.bound.Add(1)
	m.refillWarm()
	i.bind(eng, instanceID, execution)
	return i, nil
}

// bind gives i, an instance that has run nothing but its initialisation (or starts from the
// snapshot of one), to an execution: from now on its clocks read the execution's time and its
// random bytes come from the execution's own stream. A warm instance and a new one are bound
// the same way, at the same point, so that nothing a guest can observe tells them apart.
func (i *Instance) bind(eng *replay.Engine, instanceID string, execution uint32) {
	i.eng, i.id, i.exec = eng, instanceID, execution
	i.rnd.own = randomSource(instanceID, execution)
	if i.module.goRand {
		i.module.reseedGoRand(i.mod, instanceID, execution)
	}
}

// instantiate creates a guest bound to no execution (see bind); warm says it is for the warm
// pool (its memory is faulted in now, see reservedMemory.prefault). The describing instance
// (describing set, the first of a module) finds the Go runtime's generator in the initialised
// memory (gorand.go) and, unless the runtime has NoSnapshot, makes its state the module's
// snapshot, before it runs anything else.
func (rt *Runtime) instantiate(ctx context.Context, m *Module, describing, warm bool) (*Instance, error) {
	i := &Instance{
		rt: rt, module: m,
		events: make(chan signal, 1), resume: make(chan struct{}), kill: make(chan struct{}),
		mem: newMemory(m.image, rt.mem),
	}
	i.mem.prefault = warm
	i.dog.cfg = &rt.cfg
	i.mem.setRefused(func() { i.dog.stop(fmt.Errorf("%w (%d bytes)", ErrMemoryBudget, rt.cfg.GuestMemory)) })
	i.stdout = &lineWriter{inst: i, level: abi.LogInfo}
	i.stderr = &lineWriter{inst: i, level: abi.LogWarn}
	// During initialisation the guest sees no instance (ABI.md, "Initialisation"): clocks
	// read the epoch and random bytes come from the stream of no instance, so that every
	// instance of a module initialises to the same state (which a snapshot then stands for,
	// see snapshot.go). Until it is bound, an instance reads the same (the host calls its
	// ABI version export then).
	i.initializing = true
	now := func() int64 {
		if i.eng == nil || i.initializing {
			return 0
		}
		return i.eng.Now()
	}
	i.rnd = &phasedRandom{inst: i, init: randomSource("", 0), own: randomSource("", 0)}
	start := []string{abi.ExportInitialize}
	if m.snap != nil {
		start = nil // restored from the snapshot below
	}
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(start...).
		WithWalltime(func() (int64, int32) { n := now(); return n / 1e9, int32(n % 1e9) }, 1).
		WithNanotime(func() int64 {
			if i.eng == nil || i.initializing {
				return 1e9
			}
			return i.eng.Now() - i.eng.StartTime() + 1e9
		}, 1).
		WithNanosleep(func(ns int64) {
			if i.eng != nil && !i.initializing {
				i.eng.Sleep(ns)
			}
		}).
		WithOsyield(func() {}).
		WithRandSource(i.rnd).
		WithStdout(i.stdout).
		WithStderr(i.stderr)
	if m.Stream {
		cfg = cfg.WithFSConfig(i.streamFS())
	}
	ictx, cancel := context.WithTimeout(context.WithValue(ctx, instanceKey{}, i), rt.cfg.InstantiateTimeout)
	if a := i.mem.allocator(); a != nil {
		ictx = experimental.WithMemoryAllocator(ictx, a)
	}
	defer cancel()
	mod, cpu, err := instantiateModule(ictx, m, cfg)
	if err == nil {
		if v := i.dog.result(); v != nil {
			// The guest memory budget refused the instance's memory: stop it before it runs.
			mod.Close(ctx)
			err = v
		}
	}
	if err != nil {
		switch v := i.dog.result(); {
		case v != nil:
			return nil, fmt.Errorf("instantiate: %w", v)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("instantiate: interrupted: %w", ctx.Err())
		case ictx.Err() != nil && (!cpuTimeSupported || cpu >= rt.cfg.InstantiateTimeout/2):
			// The initialisation used the CPU: the module's doing (an infinite loop).
			return nil, fmt.Errorf("instantiate: initialisation ran longer than %s: %w", rt.cfg.InstantiateTimeout, err)
		case ictx.Err() != nil:
			// It waited for the CPU: the host's problem.
			return nil, fmt.Errorf("instantiate: %w (initialisation: %s of CPU time within %s)", ErrHostBusy, cpu.Round(time.Millisecond), rt.cfg.InstantiateTimeout)
		}
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	i.mod = mod
	i.dog.mu.Lock()
	i.dog.inst = i
	i.dog.mu.Unlock()
	i.initializing = false
	switch {
	case describing:
		m.findGoRand(mod, i.rnd.first)
		if !rt.cfg.NoSnapshot {
			if err := m.takeSnapshot(i); err != nil {
				mod.Close(ctx)
				return nil, err
			}
		}
	case m.snap != nil:
		if err := m.snap.restore(mod); err != nil {
			mod.Close(ctx)
			return nil, fmt.Errorf("instantiate: %w", err)
		}
	}
	if !m.Stream {
		// The stream form's version is the name of the file it opens.
		ver, err := mod.ExportedFunction(abi.ExportABIVersion).Call(ictx)
		if err != nil {
			mod.Close(ctx)
			return nil, fmt.Errorf("call %s: %w", abi.ExportABIVersion, err)
		}
		if int32(ver[0]) != abi.Version {
			mod.Close(ctx)
			return nil, fmt.Errorf("module reports ABI version %d, this host implements version %d", int32(ver[0]), abi.Version)
		}
	}
	i.run = mod.ExportedFunction(m.entry)
	return i, nil
}

// instantiateModule instantiates m's compiled module on the calling goroutine's thread, and
// returns the CPU time the thread spent (the module's initialisation, unless it starts from a
// snapshot). A panic of the runtime is returned as an error.
func instantiateModule(ctx context.Context, m *Module, cfg wazero.ModuleConfig) (mod api.Module, cpu time.Duration, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := currentThread()
	before, _ := threadCPU(tid)
	defer func() {
		after, _ := threadCPU(tid)
		cpu = after - before
		if p := recover(); p != nil {
			mod, err = nil, fmt.Errorf("instantiate: %v", p)
		}
	}()
	mod, err = m.r.InstantiateModule(ctx, m.compiled, cfg)
	return mod, cpu, err
}

// Run runs the guest (the first time) or resumes it (after the engine's BeginTurn) until it
// suspends, completes or fails, within the budgets of the watchdog.
func (i *Instance) Run(ctx context.Context) Result {
	if i.dead {
		return Result{Err: ErrClosed}
	}
	p := phaseLive
	switch {
	case i.describe:
		p = phaseDescribe
	case i.eng != nil && i.eng.IsReplaying():
		p = phaseReplay
	}
	i.replaying = p == phaseReplay
	i.dog.begin(p)
	defer i.dog.end()
	if !i.started {
		i.started = true
		i.mem.enter()
		go i.loop()
	} else {
		select {
		case i.resume <- struct{}{}:
		case <-ctx.Done():
			return Result{Err: ctx.Err()}
		}
	}
	select {
	case s := <-i.events:
		return i.settle(s)
	case <-ctx.Done():
		i.Close()
		return Result{Err: ctx.Err()}
	}
}

func (i *Instance) loop() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	i.dog.attach()
	ctx := context.WithValue(context.Background(), instanceKey{}, i)
	_, err := i.run.Call(ctx)
	i.mem.release()
	i.stream.release()
	i.events <- signal{exited: true, err: err}
}

// checkLive ends the replay phase of the run once the engine has reached the live part of the
// turn (called by the host functions on the guest's goroutine).
func (i *Instance) checkLive() {
	if i.replaying && !i.eng.IsReplaying() {
		i.replaying = false
		i.dog.live()
	}
}

// settle interprets how the guest stopped.
func (i *Instance) settle(s signal) Result {
	if !s.exited {
		return Result{State: s.state}
	}
	i.dead = true
	defer i.mod.Close(context.Background())
	fail := i.fatal
	verdict := i.dog.result()
	switch {
	case verdict != nil && transient(verdict):
		return Result{Err: verdict}
	case verdict != nil:
		fail = replay.AsFailure(verdict)
	case fail != nil:
	case s.err != nil && i.module.Stream && exitedZero(s.err):
		// A WASI command ends with proc_exit(0) as often as it returns from _start: for a
		// stream-form module both are the end of its run.
		if i.describe {
			return Result{State: Completed}
		}
		if i.eng.Outcome() == nil {
			fail = &abi.Failure{Kind: abi.FailureInfrastructure, Code: abi.CodeNoOutcome, Message: "the program exited without calling complete"}
			break
		}
		return Result{State: Completed}
	case s.err != nil:
		f := i.classify(s.err)
		if f == nil {
			return Result{Err: ErrClosed}
		}
		fail = f
		if !i.describe && i.eng != nil && i.eng.Outcome() != nil && f.Code == abi.CodeTrap {
			// The guest gave its outcome, then trapped or exited instead of returning (a Rust
			// panic reports itself with complete, then aborts): the outcome stands (ABI.md,
			// complete). A replay makes the same calls and ends the same way.
			return Result{State: Completed}
		}
	case i.describe:
		return Result{State: Completed}
	case i.eng.Outcome() == nil:
		fail = &abi.Failure{Kind: abi.FailureInfrastructure, Code: abi.CodeNoOutcome, Message: "durohost_run returned without calling complete"}
	default:
		return Result{State: Completed}
	}
	if i.eng != nil {
		i.eng.Fail(fail)
	}
	return Result{State: Failed, Err: fail}
}

// classify turns an error returned by the guest call into a failure (nil: the instance was
// discarded on purpose).
func (i *Instance) classify(err error) *abi.Failure {
	var exit *sys.ExitError
	isExit := errors.As(err, &exit)
	switch {
	case errors.Is(err, errKilled), isExit && exit.ExitCode() == exitKilled:
		return nil
	case i.nearMemoryLimit():
		return &abi.Failure{Kind: abi.FailureInfrastructure, Code: abi.CodeMemoryLimit,
			Message: fmt.Sprintf("guest ran out of memory near its memory limit of %d pages (%d MiB): %s", i.rt.cfg.MemoryLimitPages, i.rt.cfg.MemoryLimitPages/16, firstLine(err))}
	case isExit:
		return &abi.Failure{Kind: abi.FailureInfrastructure, Code: abi.CodeTrap,
			Message: fmt.Sprintf("guest exited with code %d (proc_exit) instead of completing", exit.ExitCode())}
	}
	return &abi.Failure{Kind: abi.FailureInfrastructure, Code: abi.CodeTrap, Message: "guest trapped: " + firstLine(err)}
}

// nearMemoryLimit tells whether a guest that stopped abnormally had grown its memory close to
// the limit: within a tenth of it or 16 MiB, whichever is more. wazero does not report a
// refused memory.grow, and guests react to one by trapping or exiting (the Go runtime exits
// with "out of memory"), so closeness to the limit is the best evidence available.
func (i *Instance) nearMemoryLimit() (near bool) {
	defer func() {
		if recover() != nil {
			near = false
		}
	}()
	mem := i.mod.Memory()
	if mem == nil {
		return false
	}
	pages := uint64(mem.Size() / 65536)
	limit := uint64(i.rt.cfg.MemoryLimitPages)
	margin := max(limit/10, 256)
	return pages+margin >= limit
}

// exitedZero tells whether err is the guest's proc_exit(0).
func exitedZero(err error) bool {
	var exit *sys.ExitError
	return errors.As(err, &exit) && exit.ExitCode() == 0
}

func firstLine(err error) string {
	s := err.Error()
	if j := strings.IndexByte(s, '\n'); j >= 0 {
		s = s[:j]
	}
	return s
}

// Close discards the guest. A parked guest is unwound; a running one is stopped.
func (i *Instance) Close() {
	i.killOnce.Do(func() {
		if i.counted {
			i.module.bound.Add(-1)
		}
		release := i.release
		close(i.kill)
		if !i.started || i.dead {
			if i.mod != nil {
				i.mod.Close(context.Background())
			}
			if !i.started {
				i.stream.release() // what initialisation wrote
			}
		} else {
			i.mod.CloseWithExitCode(context.Background(), exitKilled)
			select {
			case <-i.events:
			case <-time.After(5 * time.Second):
				// The guest has not stopped (blocked in a host function): its module must
				// not be closed under it, so the reference is kept (leaked) rather than
				// released.
				release = nil
			}
			i.dead = true
		}
		if release != nil {
			release()
		}
	})
}

// park blocks a guest inside await until the next turn or its discarding. Its goroutine is
// not locked to its thread while it waits.
func (i *Instance) park(state State) {
	if !i.dog.park() {
		panic(errKilled) // stopped by the watchdog: settle reports its verdict
	}
	runtime.UnlockOSThread()
	i.events <- signal{state: state}
	select {
	case <-i.resume:
		runtime.LockOSThread()
		i.dog.attach()
	case <-i.kill:
		runtime.LockOSThread() // balanced by loop's deferred unlock
		panic(errKilled)
	}
}

// Module returns the module the instance runs.
func (i *Instance) Module() *Module { return i.module }

// SetRelease makes Close call release once (the module manager's reference).
func (i *Instance) SetRelease(release func()) { i.release = release }

func (i *Instance) log(level int32, msg string) {
	if i.eng == nil || i.eng.IsReplaying() || i.rt.cfg.Log == nil {
		return
	}
	i.rt.cfg.Log(Log{InstanceID: i.id, Execution: i.exec, Level: level, Message: msg})
}

// MemorySize returns the bytes of the guest's linear memory (what a parked instance holds).
func (i *Instance) MemorySize() uint64 {
	if i.mod == nil {
		return 0
	}
	if mem := i.mod.Memory(); mem != nil {
		return uint64(mem.Size())
	}
	return 0
}

// Alive reports whether the guest can still be resumed.
func (i *Instance) Alive() bool { return !i.dead }
