// Package runtime runs orchestrations and activities from a store: the orchestration
// dispatchers (fetch a locked instance, run a turn through the replay engine and the sandbox,
// commit), the activity workers, lock renewal, poison detection, backoff for unregistered
// handlers, and the cache of live instances (the fast path).
//
// The runtime needs only the core of the store contract (store.Store). It type-asserts the
// store's capabilities once, in New, and uses those it finds: store.DirectDispatcher (claims
// and direct turns, direct.go), store.HistorySkipper (the live cache's histories are not read
// again) and store.Waker (idle dispatchers wait for the store's wake-ups). Without one, it
// falls back on the core: see RATIONALE.md, "Why a core store contract and capabilities?".
package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/modules"
	"github.com/durohost/durohost/host/internal/sandbox"
	"github.com/durohost/durohost/host/internal/telemetry"
	"github.com/durohost/durohost/store"
)

// ActivityFunc is a native activity.
type ActivityFunc func(ctx context.Context, input []byte) ([]byte, error)

// Config tunes a Runtime. Zero fields take defaults (see New).
type Config struct {
	OrchestrationWorkers int
	ActivityWorkers      int
	LockTimeout          time.Duration
	// MaxAttempts is how many times a message may be delivered (or an unregistered handler
	// retried) before the instance fails with a poison (or unregistered) failure.
	MaxAttempts int
	// RetryBase is the first backoff delay for unregistered handlers (doubling, capped at 30 s).
	RetryBase time.Duration
	// FailUnregistered fails an activity that no function of this host handles (naming the
	// activities the host has), and an orchestration no module of the store registers, at the
	// first attempt instead of waiting for another host to register it (a host alone on its
	// store: durohost run).
	FailUnregistered bool
	// NoEagerStart keeps starts from running their first turn before they are written, even
	// with a store.EagerStarter (eager.go): every start then costs a transaction of its own.
	NoEagerStart bool
	// NoActivityBatch makes the activity dispatchers fetch one work item per store call even
	// with a store.ActivityBatcher (batch.go).
	NoActivityBatch bool
	// PollMin and PollMax bound the idle polling of the store.
	PollMin, PollMax time.Duration
	// WakePollMax replaces PollMax while the store delivers wake-ups (store.Waker): idle
	// dispatchers then mostly wait for those, and poll for the work nobody announces (timers
	// coming due, expired locks). 0: one second, and never less than PollMax.
	WakePollMax time.Duration
	// ActivityRenew is how often a running activity renews its lock (and so how soon it
	// learns that it was cancelled).
	ActivityRenew time.Duration
	// LiveCacheBytes bounds the memory of parked live instances (0: no cache, every turn is
	// a cold replay).
	LiveCacheBytes int64
	// MaxPayload and MaxEvents are the limits of the replay engine (0: its defaults), the
	// same for every turn, live or cold, as for Host.Replay.
	MaxPayload, MaxEvents int
	Logger                *slog.Logger
	// Policy, when set, returns the policy of a namespace (activity allow-list, quotas).
	Policy func(namespace string) Policy
	// Observe, when set, receives progress events (for the CLI).
	Observe func(Event)
	// SharedRegistry lets an instance of a namespace resolve an orchestration its namespace
	// does not register in the default namespace "" (host.WithSharedRegistry).
	SharedRegistry bool
}

// Event is a progress notification.
type Event struct {
	InstanceID string
	// Turn: the new history events committed by a turn.
	Events []history.Event
	// Activity: an activity started (Done false) or finished (Done true, Err on failure).
	Activity string
	Done     bool
	Err      error
}

// Runtime runs the dispatchers. Create with New, then Run.
type Runtime struct {
	cfg Config
	st  store.Store
	// The store's capabilities, asserted once by New: dispatch, known and waker are nil when
	// the store lacks them (known is the live cache's KnownHistory for a
	// store.HistorySkipper).
	dispatch store.DirectDispatcher
	// eager is the store's EagerStarter (nil: none, or disabled by Config.NoEagerStart).
	eager store.EagerStarter
	// batcher is the store's ActivityBatcher (nil: none, or disabled by
	// Config.NoActivityBatch).
	batcher store.ActivityBatcher
	known   store.KnownHistory
	waker   store.Waker
	// wakeups is set while the store's wake-ups arrive (the idle poll is WakePollMax).
	wakeups atomic.Bool

	sb   *sandbox.Runtime
	mods *modules.Manager
	log  *slog.Logger
	live *liveCache

	actMu sync.RWMutex
	acts  map[string]ActivityFunc

	wakeTurn chan struct{}
	wakeAct  chan struct{}
	timers   timerWake
	nsTurns  turnGate
	watchers watchers

	// turnSlots and actSlots bound the turns and activities that run at once, whether
	// fetched by a dispatcher or dispatched directly (see direct.go).
	turnSlots, actSlots chan struct{}
	// direct counts the goroutines of directly dispatched activities; stopping is set when
	// Run's context ends (nothing new is claimed then).
	direct   sync.WaitGroup
	stopping atomic.Bool
	// drain is Run's drain context while Run runs (nil otherwise).
	drain atomic.Pointer[context.Context]
	// acceptMu guards accepting: whether callers from outside (Submit, Start) may still add
	// turns to direct; Run clears it before it waits for them.
	acceptMu  sync.Mutex
	accepting bool
	// tel measures and traces turns and attempts (nil: off; see telemetry.go).
	tel atomic.Pointer[telemetry.Hooks]
}

// New creates a runtime over a store, a sandbox runtime and the module manager that compiles
// the modules instances pin.
func New(st store.Store, sb *sandbox.Runtime, mods *modules.Manager, cfg Config) *Runtime {
	if cfg.OrchestrationWorkers <= 0 {
		cfg.OrchestrationWorkers = 2
	}
	if cfg.ActivityWorkers <= 0 {
		cfg.ActivityWorkers = 8
	}
	if cfg.LockTimeout <= 0 {
		cfg.LockTimeout = 30 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 100 * time.Millisecond
	}
	if cfg.PollMin <= 0 {
		cfg.PollMin = time.Millisecond
	}
	if cfg.PollMax <= 0 {
		cfg.PollMax = 100 * time.Millisecond
	}
	if cfg.WakePollMax <= 0 {
		cfg.WakePollMax = time.Second
	}
	cfg.WakePollMax = max(cfg.WakePollMax, cfg.PollMax)
	if cfg.ActivityRenew <= 0 {
		cfg.ActivityRenew = min(cfg.LockTimeout/3, time.Second)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Runtime{
		cfg: cfg, st: st, sb: sb, mods: mods, log: cfg.Logger,
		live:      newLiveCache(cfg.LiveCacheBytes),
		acts:      map[string]ActivityFunc{},
		wakeTurn:  make(chan struct{}, 1),
		wakeAct:   make(chan struct{}, 1),
		watchers:  watchers{m: map[string][]chan struct{}{}},
		turnSlots: make(chan struct{}, cfg.OrchestrationWorkers),
		actSlots:  make(chan struct{}, cfg.ActivityWorkers),
	}
	r.dispatch, _ = st.(store.DirectDispatcher)
	if h, ok := st.(store.HistorySkipper); ok && h.SkipsKnownHistory() {
		r.known = r.live.known
	}
	r.waker, _ = st.(store.Waker)
	if !cfg.NoEagerStart {
		r.eager, _ = st.(store.EagerStarter)
	}
	if !cfg.NoActivityBatch {
		r.batcher, _ = st.(store.ActivityBatcher)
	}
	return r
}

// RegisterActivity adds or replaces a native activity.
func (r *Runtime) RegisterActivity(name string, fn ActivityFunc) {
	r.actMu.Lock()
	r.acts[name] = fn
	r.actMu.Unlock()
}

// HasActivity reports whether an activity of that name is registered.
func (r *Runtime) HasActivity(name string) bool { return r.activity(name) != nil }

func (r *Runtime) activity(name string) ActivityFunc {
	r.actMu.RLock()
	defer r.actMu.RUnlock()
	return r.acts[name]
}

// Run starts the dispatchers and blocks until ctx ends. In-flight turns and activities then
// finish, or abandon their locks when drain ends first.
func (r *Runtime) Run(ctx context.Context, drain context.Context) {
	var wg sync.WaitGroup
	r.Accept(drain)
	stop := context.AfterFunc(ctx, func() { r.stopping.Store(true) })
	defer stop()
	defer r.drain.Store(nil)
	for range r.cfg.OrchestrationWorkers {
		wg.Go(func() { r.orchestrationLoop(ctx, drain) })
	}
	for range r.cfg.ActivityWorkers {
		wg.Go(func() { r.activityLoop(ctx, drain) })
	}
	if r.waker != nil {
		wg.Go(func() { r.listen(ctx) })
	}
	wg.Wait()
	r.acceptMu.Lock()
	r.accepting = false
	r.acceptMu.Unlock()
	r.direct.Wait()
	r.live.clear()
}

// Accept makes the runtime take work from Submit and Start directly (run here at once, not
// only queued), with drain as the context of that work, as Run does when it begins. A host
// calls it before it starts Run in a goroutine, so that an instance started right after the
// host is started takes the direct path (an eager start) rather than racing Run's start;
// Run must follow.
func (r *Runtime) Accept(drain context.Context) {
	r.stopping.Store(false)
	r.drain.Store(&drain)
	r.acceptMu.Lock()
	r.accepting = true
	r.acceptMu.Unlock()
}

// Wake tells idle dispatchers that work may be ready.
func (r *Runtime) Wake() {
	signal(r.wakeTurn)
	signal(r.wakeAct)
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// poll fetches work until ctx ends: it handles each item it gets, and waits between empty
// fetches for a wake-up or a delay that doubles from PollMin to PollMax.
//
// A dispatcher fetches only while one of slots is free and holds one while it handles an
// item, so that directly dispatched work (direct.go) and fetched work together stay within the
// configured workers. The slot may be taken during the fetch (by direct dispatch, or by
// another dispatcher): the item then waits for one. With giveBack nil it waits as long as it
// takes, and is handled all the same when the host stops (a turn: its lock is checked when it
// commits). With giveBack, the item must start while the lock it was fetched with holds
// (an activity's side effects cannot be taken back): one that has no slot after half the lock
// timeout, or when the host stops, is given back unstarted.
func poll[T any](ctx context.Context, r *Runtime, slots, wake chan struct{}, what string, fetch func() (T, error), handle func(T), giveBack func(T)) {
	wait := r.cfg.PollMin
	for ctx.Err() == nil {
		// Fetch only when a slot is free (a busy host leaves the work to other hosts), but do
		// not hold it during the fetch: with a store across the network a fetch is a round
		// trip, during which direct dispatch (claims) would find every slot taken.
		select {
		case slots <- struct{}{}:
			<-slots
		case <-ctx.Done():
			return
		}
		fetched := time.Now() // before the store takes the lock
		item, err := fetch()
		if err != nil {
			if !errors.Is(err, store.ErrNoWork) && ctx.Err() == nil {
				r.log.Warn(what, "err", err)
			}
			idle(ctx, wake, wait)
			wait = min(2*wait, r.pollMax())
			continue
		}
		wait = r.cfg.PollMin
		if giveBack == nil {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				// Stopping: the item is handled all the same (it is locked; its turn drains or
				// is abandoned with the others).
				handle(item)
				return
			}
		} else if !holdSlot(ctx, slots, fetched.Add(r.cfg.LockTimeout/2)) {
			giveBack(item)
			continue
		}
		handle(item)
		<-slots
	}
}

// holdSlot takes one of slots for an item that must start before deadline, and reports
// whether it did: false when the deadline passed or ctx ended first.
func holdSlot(ctx context.Context, slots chan struct{}, deadline time.Time) bool {
	select { // a free slot first, even past the deadline or when stopping
	case slots <- struct{}{}:
		if ctx.Err() == nil && time.Now().Before(deadline) {
			return true
		}
		<-slots
		return false
	default:
	}
	giveUp := time.NewTimer(time.Until(deadline))
	defer giveUp.Stop()
	select {
	case slots <- struct{}{}:
		if ctx.Err() == nil {
			return true
		}
		<-slots
	case <-giveUp.C:
	case <-ctx.Done():
	}
	return false
}

// keepLock renews a lock every interval until stop is called or ctx ends; losing the lock
// calls lost.
func keepLock(ctx context.Context, lost context.CancelFunc, interval time.Duration, renew func(context.Context) error) (stop func()) {
	// A timer rather than a goroutine: a lock is usually held for less than interval, and
	// the timer then never fires (a parked goroutine per activity and per turn cost W5 ~15 %
	// of its CPU once activities kept their renewal through the turn on their result).
	var (
		mu      sync.Mutex
		stopped bool
		t       *time.Timer
	)
	var tick func()
	tick = func() {
		if ctx.Err() != nil {
			return
		}
		err := renew(ctx)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case stopped:
		case errors.Is(err, store.ErrLockLost):
			lost()
		default:
			t.Reset(interval)
		}
	}
	mu.Lock()
	t = time.AfterFunc(interval, tick)
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}

// pollMax is the longest wait of an idle dispatcher between fetches: WakePollMax while the
// store's wake-ups arrive, PollMax otherwise.
func (r *Runtime) pollMax() time.Duration {
	if r.wakeups.Load() {
		return r.cfg.WakePollMax
	}
	return r.cfg.PollMax
}

// listen passes the store's wake-ups (store.Waker) to the idle dispatchers until ctx ends. A
// store that cannot deliver them after all (errors.ErrUnsupported) or is closed is left
// alone; after another error it is asked again, with a delay that doubles up to a minute.
// Meanwhile, and whenever no wake-ups arrive, the dispatchers poll up to PollMax apart.
func (r *Runtime) listen(ctx context.Context) {
	retry := time.Second
	for ctx.Err() == nil {
		ch, err := r.waker.Wakeups(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, store.ErrClosed) {
				return
			}
			if errors.Is(err, errors.ErrUnsupported) {
				r.log.Debug("store wake-ups unsupported: polling", "err", err)
				return
			}
			r.log.Warn("store wake-ups: polling meanwhile", "err", err, "retry", retry)
			t := time.NewTimer(retry)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			retry = min(2*retry, time.Minute)
			continue
		}
		retry = time.Second
		r.wakeups.Store(true)
		r.relay(ctx, ch)
		r.wakeups.Store(false)
		// The channel closed: ctx ended, or the store was closed (its calls now fail).
		return
	}
}

// relay wakes an idle dispatcher of each kind a wake-up announces, until ch closes or ctx
// ends.
func (r *Runtime) relay(ctx context.Context, ch <-chan store.Wake) {
	for {
		select {
		case <-ctx.Done():
			return
		case w, ok := <-ch:
			if !ok {
				return
			}
			if w&store.WakeTurns != 0 {
				signal(r.wakeTurn)
			}
			if w&store.WakeActivities != 0 {
				signal(r.wakeAct)
			}
		}
	}
}

// idle waits for a wake-up, the backoff delay or the end of ctx.
func idle(ctx context.Context, wake chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-wake:
	case <-t.C:
	}
}

func (r *Runtime) backoff(attempt int) time.Duration {
	d := r.cfg.RetryBase
	for range max(attempt-1, 0) {
		d *= 2
		if d >= 30*time.Second {
			return 30 * time.Second
		}
	}
	return d
}

func (r *Runtime) observe(ev Event) {
	if r.cfg.Observe != nil {
		r.cfg.Observe(ev)
	}
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}

func infra(code, format string, args ...any) *abi.Failure {
	return &abi.Failure{Kind: abi.FailureInfrastructure, Code: code, Message: fmt.Sprintf(format, args...)}
}

// watchers lets clients in this process wait for an instance to change without polling.
type watchers struct {
	mu sync.Mutex
	m  map[string][]chan struct{}
}

// Watch returns a channel closed at the next committed change of the instance, and a function
// that withdraws the watch when the caller stops waiting (so abandoned watches do not pile up).
func (r *Runtime) Watch(id string) (<-chan struct{}, func()) {
	c := make(chan struct{})
	r.watchers.mu.Lock()
	r.watchers.m[id] = append(r.watchers.m[id], c)
	r.watchers.mu.Unlock()
	return c, func() {
		r.watchers.mu.Lock()
		defer r.watchers.mu.Unlock()
		cs := r.watchers.m[id]
		for k, x := range cs {
			if x == c {
				cs = append(cs[:k], cs[k+1:]...)
				break
			}
		}
		if len(cs) == 0 {
			delete(r.watchers.m, id)
		} else {
			r.watchers.m[id] = cs
		}
	}
}

func (r *Runtime) notify(id string) {
	r.watchers.mu.Lock()
	cs := r.watchers.m[id]
	delete(r.watchers.m, id)
	r.watchers.mu.Unlock()
	for _, c := range cs {
		close(c)
	}
}
