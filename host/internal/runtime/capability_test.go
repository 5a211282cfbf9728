package runtime

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/durohost/durohost/conformance"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/sandbox"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/sqlite"
)

// capEnv is a runtime over a store the test chooses, with the Go conformance guest
// registered as orchestration "hello", "sequence" and "event" and activities "greet" and
// "step" that echo their input.
type capEnv struct {
	st    store.Store // the SQLite store itself
	hash  string
	r     *Runtime
	stop  context.CancelFunc
	done  chan struct{}
	calls chan string // the inputs of "greet"
}

// newCapEnv opens an SQLite store, lets wrap make the runtime's view of it and creates the
// runtime on that view; run starts it.
func newCapEnv(t testing.TB, cfg Config, wrap func(store.Store) store.Store) *capEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "cap.db"), sqlite.WithSynchronous(sqlite.SyncOff))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sb, err := sandbox.New(ctx, sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close(ctx) })
	var regs []store.Registration
	for _, name := range []string{"hello", "sequence", "event"} {
		regs = append(regs, store.Registration{Kind: store.RegistrationOrchestration, Name: name, Version: "1"})
	}
	put, err := st.PutModule(ctx, store.ModulePut{Wasm: testguest.Build(t, "conformance/guests/go", ""), Registrations: regs})
	if err != nil {
		t.Fatal(err)
	}
	e := &capEnv{st: st, hash: put.Hash, done: make(chan struct{}), calls: make(chan string, 16)}
	e.r = newRuntime(t, wrap(st), sb, cfg)
	e.r.RegisterActivity("greet", func(_ context.Context, in []byte) ([]byte, error) {
		e.calls <- string(in)
		return in, nil
	})
	e.r.RegisterActivity("step", func(_ context.Context, in []byte) ([]byte, error) { return in, nil })
	return e
}

// run starts the runtime; it stops at the end of the test, or at close.
func (e *capEnv) run(t testing.TB) *capEnv {
	runCtx, stop := context.WithCancel(context.Background())
	e.stop = stop
	go func() {
		defer close(e.done)
		e.r.Run(runCtx, context.Background())
	}()
	t.Cleanup(e.close)
	return e
}

// close stops the runtime and waits for Run to return.
func (e *capEnv) close() {
	e.stop()
	<-e.done
}

// start is the start message of instance id of orchestration name.
func (e *capEnv) start(id, name, input string) store.Message {
	return store.Message{InstanceID: id, Event: history.Event{Kind: history.KindExecutionStarted,
		Name: name, Input: []byte(input), ModuleHash: e.hash, Time: time.Now().UnixNano()}}
}

// wait waits until instance id has ended, failing after a deadline, and returns it.
func (e *capEnv) wait(t testing.TB, id string) *store.Instance {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		changed, unwatch := e.r.Watch(id)
		in, err := e.st.Instance(context.Background(), id)
		if err == nil && in.Status.Finished() {
			unwatch()
			return in
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("instance %s has not ended: %+v, %v", id, in, err)
		}
		unwatch()
	}
}

// coreRecorder is a store with the core alone that records how the runtime calls it.
type coreRecorder struct {
	store.Store
	mu                                sync.Mutex
	knownPassed, lockFor, claims      int
	completions, commits, turnFetches int
}

func (c *coreRecorder) FetchTurn(ctx context.Context, lockFor time.Duration, known store.KnownHistory) (*store.Turn, error) {
	t, err := c.Store.FetchTurn(ctx, lockFor, known)
	c.mu.Lock()
	defer c.mu.Unlock()
	if known != nil {
		c.knownPassed++
	}
	if err == nil {
		c.turnFetches++
	}
	return t, err
}

func (c *coreRecorder) StartInstance(ctx context.Context, msg store.Message, opts store.StartOptions) (*store.Turn, error) {
	c.mu.Lock()
	if opts.LockFor != 0 || opts.Known != nil {
		c.lockFor++
	}
	c.mu.Unlock()
	return c.Store.StartInstance(ctx, msg, opts)
}

func (c *coreRecorder) CommitTurn(ctx context.Context, token string, cm *store.Commit) error {
	c.mu.Lock()
	c.commits++
	for _, a := range cm.Activities {
		if a.Claim {
			c.claims++
		}
	}
	c.mu.Unlock()
	return c.Store.CommitTurn(ctx, token, cm)
}

func (c *coreRecorder) CompleteActivity(ctx context.Context, token string, result store.Message) error {
	c.mu.Lock()
	c.completions++
	c.mu.Unlock()
	return c.Store.CompleteActivity(ctx, token, result)
}

// TestCapabilitiesAsserted: the runtime finds the capabilities of a store that has them
// (SQLite: all but Waker) and none in a store with the core alone.
func TestCapabilitiesAsserted(t *testing.T) {
	sb, err := sandbox.New(context.Background(), sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close(context.Background())
	st, err := sqlite.Open(sqlite.MemoryPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	full := newRuntime(t, st, sb, Config{})
	if full.dispatch == nil || full.known == nil || full.waker != nil {
		t.Errorf("SQLite: dispatch %v, known %v, waker %v; want the first two", full.dispatch != nil, full.known != nil, full.waker != nil)
	}
	core := newRuntime(t, conformance.CoreOnly(st), sb, Config{})
	if core.dispatch != nil || core.known != nil || core.waker != nil {
		t.Errorf("core only: dispatch %v, known %v, waker %v; want none", core.dispatch != nil, core.known != nil, core.waker != nil)
	}
}

// TestCoreStoreFallbacks: on a store with the core alone, the runtime runs orchestrations with
// activities, events and several turns, and falls back on the core: no known history passed
// to FetchTurn, no LockFor in StartInstance, no claims in commits, results completed with
// CompleteActivity and their turns fetched.
func TestCoreStoreFallbacks(t *testing.T) {
	var rec *coreRecorder
	e := newCapEnv(t, Config{LiveCacheBytes: 1 << 30}, func(st store.Store) store.Store {
		rec = &coreRecorder{Store: conformance.CoreOnly(st)}
		return rec
	}).run(t)
	ctx := context.Background()
	if err := e.r.Start(ctx, e.start("seq", "sequence", `3`)); err != nil {
		t.Fatal(err)
	}
	if err := e.r.Start(ctx, e.start("ev", "event", `null`)); err != nil {
		t.Fatal(err)
	}
	if err := e.r.Start(ctx, e.start("seq", "sequence", `3`)); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second start: %v, want ErrExists", err)
	}
	if err := e.r.Submit(ctx, store.Message{InstanceID: "ev", Event: history.Event{Kind: history.KindEventRaised,
		Name: "approve", Input: []byte(`"yes"`), Time: time.Now().UnixNano()}}); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"seq": `[0,1,2]`, "ev": `"yes"`} {
		if in := e.wait(t, id); in.Status != store.StatusCompleted || string(in.Output) != want {
			t.Fatalf("%s: %s %s %+v, want completed with %s", id, in.Status, in.Output, in.Failure, want)
		}
	}
	e.close()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.knownPassed != 0 || rec.lockFor != 0 || rec.claims != 0 {
		t.Errorf("known passed %d times, LockFor %d times, %d claims; want none", rec.knownPassed, rec.lockFor, rec.claims)
	}
	// sequence: 4 turns and 3 results; event: at least 1 turn (the event may arrive with the start).
	if rec.completions != 3 || rec.turnFetches < 5 || rec.commits < 5 {
		t.Errorf("%d completions, %d turns fetched, %d commits; want 3 and at least 5 of each", rec.completions, rec.turnFetches, rec.commits)
	}
}

// wakingStore is a store with the core alone and a store.Waker whose wake-ups the test sends.
// It counts the fetches that found nothing.
type wakingStore struct {
	store.Store
	err        error
	wakes      chan store.Wake
	closeOnce  sync.Once
	subscribed chan context.Context
	emptyTurns atomic.Int64
	emptyActs  atomic.Int64
}

func newWakingStore(st store.Store, err error) *wakingStore {
	return &wakingStore{Store: conformance.CoreOnly(st), err: err, wakes: make(chan store.Wake, 1), subscribed: make(chan context.Context, 4)}
}

func (w *wakingStore) Wakeups(ctx context.Context) (<-chan store.Wake, error) {
	select {
	case w.subscribed <- ctx:
	default: // the test has seen enough calls
	}
	if w.err != nil {
		return nil, w.err
	}
	context.AfterFunc(ctx, w.closeWakes)
	return w.wakes, nil
}

func (w *wakingStore) closeWakes() { w.closeOnce.Do(func() { close(w.wakes) }) }

func (w *wakingStore) FetchTurn(ctx context.Context, lockFor time.Duration, known store.KnownHistory) (*store.Turn, error) {
	t, err := w.Store.FetchTurn(ctx, lockFor, known)
	if errors.Is(err, store.ErrNoWork) {
		w.emptyTurns.Add(1)
	}
	return t, err
}

func (w *wakingStore) FetchActivity(ctx context.Context, lockFor time.Duration) (*store.WorkItem, error) {
	wi, err := w.Store.FetchActivity(ctx, lockFor)
	if errors.Is(err, store.ErrNoWork) {
		w.emptyActs.Add(1)
	}
	return wi, err
}

// waitFor waits for cond, failing after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// wakeEnv is a runtime on a wakingStore whose dispatchers poll once an hour: only wake-ups
// make them fetch again.
func wakeEnv(t *testing.T) (*capEnv, *wakingStore) {
	var ws *wakingStore
	e := newCapEnv(t, Config{OrchestrationWorkers: idleWorkers, ActivityWorkers: idleWorkers,
		PollMin: time.Hour, PollMax: time.Hour, WakePollMax: 2 * time.Hour},
		func(st store.Store) store.Store {
			ws = newWakingStore(st, nil)
			return ws
		})
	return e, ws
}

const idleWorkers = 2

// idle waits until every dispatcher and worker has fetched nothing once more than the
// counts it was given: they then wait for an hour or a wake-up.
func (w *wakingStore) idle(t *testing.T, turns, acts int64) {
	t.Helper()
	waitFor(t, "the dispatchers to be idle", func() bool {
		return w.emptyTurns.Load() >= turns+idleWorkers && w.emptyActs.Load() >= acts+idleWorkers
	})
}

// TestWakeups: with a store.Waker, the idle dispatchers wait for its wake-ups (and poll at
// WakePollMax while they arrive): work that another host made ready, which this runtime
// knows nothing of, runs when the store announces it. The dispatchers here would otherwise
// sleep for an hour.
func TestWakeups(t *testing.T) {
	ctx := context.Background()
	t.Run("turns", func(t *testing.T) {
		e, ws := wakeEnv(t)
		e.run(t)
		sub := <-ws.subscribed
		waitFor(t, "the wake-ups to be relayed", e.r.wakeups.Load)
		if got := e.r.pollMax(); got != 2*time.Hour {
			t.Fatalf("idle poll bound %v while wake-ups arrive, want WakePollMax", got)
		}
		ws.idle(t, 0, 0)
		// Another host starts an instance: only the store's wake-up tells this runtime.
		if err := e.st.Enqueue(ctx, e.start("a", "hello", `"from a"`)); err != nil {
			t.Fatal(err)
		}
		ws.wakes <- store.WakeTurns
		if in := e.wait(t, "a"); in.Status != store.StatusCompleted || string(in.Output) != `"from a"` {
			t.Fatalf("a: %s %s %+v", in.Status, in.Output, in.Failure)
		}
		// The subscription ends with Run, and the dispatchers poll at PollMax again.
		e.close()
		if sub.Err() == nil {
			t.Fatal("the wake-up subscription outlived Run")
		}
		if e.r.wakeups.Load() || e.r.pollMax() != time.Hour {
			t.Fatalf("after Run: wake-ups %v, poll bound %v; want none, PollMax", e.r.wakeups.Load(), e.r.pollMax())
		}
	})
	t.Run("activities", func(t *testing.T) {
		e, ws := wakeEnv(t)
		// Another host holds the first turn of b, and commits it once this runtime is idle,
		// scheduling an activity: WakeActivities runs it here.
		if err := e.st.Enqueue(ctx, e.start("b", "elsewhere", `null`)); err != nil {
			t.Fatal(err)
		}
		turn, err := e.st.FetchTurn(ctx, time.Minute, nil)
		if err != nil || turn.InstanceID != "b" {
			t.Fatalf("FetchTurn: %v, %v", turn, err)
		}
		e.run(t)
		<-ws.subscribed
		waitFor(t, "the wake-ups to be relayed", e.r.wakeups.Load)
		ws.idle(t, 0, 0)
		start := turn.Messages[0].Event
		sched := history.Event{Kind: history.KindActivityScheduled, Name: "greet", Input: []byte(`"from b"`), Time: start.Time}
		c := &store.Commit{State: store.InstanceState{Name: "elsewhere", Status: store.StatusRunning}, Execution: 1,
			History:    []history.Event{{ID: 1, Kind: history.KindTurnStarted, Time: start.Time}, withID(start, 2), withID(sched, 3)},
			Activities: []store.WorkItem{{ActivityRef: store.ActivityRef{InstanceID: "b", Execution: 1, EventID: 3}, Name: "greet", Input: sched.Input}},
			Consumed:   []int64{turn.Messages[0].ID}}
		if err := e.st.CommitTurn(ctx, turn.Token, c); err != nil {
			t.Fatal(err)
		}
		ws.wakes <- store.WakeActivities
		select {
		case got := <-e.calls:
			if got != `"from b"` {
				t.Fatalf("greet ran with %s, want b's input", got)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the work item announced by the wake-up did not run")
		}
	})
}

func withID(ev history.Event, id int64) history.Event {
	ev.ID = id
	return ev
}

// TestWakeupsUnavailable: a store.Waker that cannot deliver wake-ups (errors.ErrUnsupported,
// or another error, after which it is asked again later) leaves the runtime polling at
// PollMax; it still runs instances.
func TestWakeupsUnavailable(t *testing.T) {
	for _, err := range []error{fmt.Errorf("wrapper: %w", errors.ErrUnsupported), errors.New("listen: connection refused")} {
		t.Run(err.Error(), func(t *testing.T) {
			var ws *wakingStore
			e := newCapEnv(t, Config{PollMax: 50 * time.Millisecond}, func(st store.Store) store.Store {
				ws = newWakingStore(st, err)
				return ws
			}).run(t)
			<-ws.subscribed
			if err := e.r.Start(context.Background(), e.start("a", "hello", `"x"`)); err != nil {
				t.Fatal(err)
			}
			if in := e.wait(t, "a"); in.Status != store.StatusCompleted {
				t.Fatalf("a: %s %+v", in.Status, in.Failure)
			}
			if e.r.wakeups.Load() || e.r.pollMax() != 50*time.Millisecond {
				t.Fatalf("wake-ups %v, poll bound %v; want none, PollMax", e.r.wakeups.Load(), e.r.pollMax())
			}
		})
	}
}

// BenchmarkSequence runs an orchestration of 100 sequential activities per iteration, on
// SQLite (every capability but Waker) and on SQLite with the core alone: the cost of the
// fallbacks (four transactions per step instead of one, every history read). The store does
// not wait for the disk (synchronous=OFF): the figures are the host's and the store's work.
func BenchmarkSequence(b *testing.B) {
	for _, tc := range []struct {
		name string
		wrap func(store.Store) store.Store
	}{
		{"SQLite", func(st store.Store) store.Store { return st }},
		{"CoreOnly", conformance.CoreOnly},
	} {
		b.Run(tc.name, func(b *testing.B) {
			e := newCapEnv(b, Config{LiveCacheBytes: 1 << 30}, tc.wrap).run(b)
			ctx := context.Background()
			run := func(id string, steps int) {
				if err := e.r.Start(ctx, e.start(id, "sequence", fmt.Sprint(steps))); err != nil {
					b.Fatal(err)
				}
				if in := e.wait(b, id); in.Status != store.StatusCompleted {
					b.Fatalf("%s: %s %+v", id, in.Status, in.Failure)
				}
			}
			run("warm-up", 1) // compiles the module
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := range b.N {
				run(fmt.Sprint("seq-", i), 100)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(100*b.N), "µs/step")
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(100*b.N), "cpu-µs/step")
		})
	}
}

// cpuTime returns the CPU time (user and system) the process has used: less sensitive than
// wall time to other load on the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
