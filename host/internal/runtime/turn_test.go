package runtime

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/modules"
	"github.com/durohost/durohost/host/internal/sandbox"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/sqlite"
)

// TestInterruptedTurnIsAbandoned: a turn whose context ends while the guest is being
// instantiated or its module loaded (the host stops, the lock is lost) is abandoned, not
// recorded as a failure of the instance. Found by the restart mode of the scenario suite,
// where such turns failed instances with DH-TRAP-001 ("initialisation ran longer than 10s")
// or cached the module as invalid (DH-UNREGISTERED-001).
func TestInterruptedTurnIsAbandoned(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sb, err := sandbox.New(ctx, sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close(ctx)
	wasm := testguest.Build(t, "conformance/guests/go", "")
	put, err := st.PutModule(ctx, store.ModulePut{Wasm: wasm, Registrations: []store.Registration{
		{Kind: store.RegistrationOrchestration, Name: "hello", Version: "1"}}})
	if err != nil {
		t.Fatal(err)
	}
	hash := put.Hash
	cancelled, cancel := context.WithCancel(ctx)
	cancel()

	// Loading a module with an ended context is not a verdict on the module.
	if _, err := sb.Load(cancelled, wasm); err == nil || errors.Is(err, sandbox.ErrInvalidModule) {
		t.Fatalf("load with an ended context: %v, want a non-invalid error", err)
	}

	for _, cached := range []bool{false, true} {
		r := newRuntime(t, st, sb, Config{RetryBase: time.Millisecond})
		if cached {
			ref, err := r.mods.Acquire(ctx, wasm, modules.Keep)
			if err != nil {
				t.Fatal(err)
			}
			ref.Release()
		}
		id := map[bool]string{false: "load", true: "instantiate"}[cached]
		if err := st.Enqueue(ctx, store.Message{InstanceID: id, Event: history.Event{
			Kind: history.KindExecutionStarted, Name: "hello", Input: []byte(`"x"`), ModuleHash: hash}}); err != nil {
			t.Fatal(err)
		}
		turn, err := st.FetchTurn(ctx, time.Minute, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.processTurn(cancelled, turn)
		if in, err := st.Instance(ctx, id); !errors.Is(err, store.ErrNotFound) && (err != nil || in.Status != store.StatusPending) {
			t.Fatalf("%s: the interrupted turn was recorded: %+v, %v", id, in, err)
		}
		again, err := st.FetchTurn(ctx, time.Minute, nil)
		for deadline := time.Now().Add(5 * time.Second); errors.Is(err, store.ErrNoWork) && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond) // the abandon's short retry delay
			again, err = st.FetchTurn(ctx, time.Minute, nil)
		}
		if err != nil {
			t.Fatalf("%s: the start message is not available again: %v", id, err)
		}
		if again.InstanceID != id || len(again.Messages) != 1 || again.Messages[0].Attempts != 1 {
			t.Fatalf("%s: refetched %s with %+v", id, again.InstanceID, again.Messages)
		}
		// A turn that is not interrupted runs normally on the same runtime.
		r.processTurn(ctx, again)
		in, err := st.Instance(ctx, id)
		if err != nil || in.Status != store.StatusRunning {
			t.Fatalf("%s: after a normal turn: %+v, %v", id, in, err)
		}
	}
}

// newRuntime returns a runtime over st and sb with a module manager fetching from st.
func newRuntime(t testing.TB, st store.Store, sb *sandbox.Runtime, cfg Config) *Runtime {
	t.Helper()
	mods, err := modules.New(modules.Config{Sandbox: sb, Budget: 512 << 20, Fetch: st.Module})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mods.Close(context.Background()) })
	return New(st, sb, mods, cfg)
}

// TestOmittedHistory: a turn whose history the store omitted (the live cache reported it)
// resumes the live instance; if the live instance is gone by the time the turn runs (evicted),
// the turn is given back at once without counting the attempt, and the next fetch reads the
// history and replays cold. The runtime never replays an omitted history.
func TestOmittedHistory(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "t.db"), sqlite.WithSynchronous(sqlite.SyncOff))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sb, err := sandbox.New(ctx, sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close(ctx)
	put, err := st.PutModule(ctx, store.ModulePut{Wasm: testguest.Build(t, "conformance/guests/go", ""),
		Registrations: []store.Registration{{Kind: store.RegistrationOrchestration, Name: "guest", Version: "1"}}})
	if err != nil {
		t.Fatal(err)
	}
	hash := put.Hash
	r := newRuntime(t, st, sb, Config{LiveCacheBytes: 1 << 30})
	defer r.live.clear()

	send := func(ev history.Event) {
		t.Helper()
		if err := st.Enqueue(ctx, store.Message{InstanceID: "q", Event: ev}); err != nil {
			t.Fatal(err)
		}
	}
	fetch := func() *store.Turn {
		t.Helper()
		turn, err := st.FetchTurn(ctx, time.Minute, r.live.known)
		if err != nil {
			t.Fatal(err)
		}
		return turn
	}
	item := func(data string) history.Event {
		return history.Event{Kind: history.KindQueueMessage, Name: "q", Input: []byte(data)}
	}
	events := func() int {
		t.Helper()
		h, err := st.History(ctx, "q", 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(h)
	}

	// "queue" 3 dequeues three items. The first turn creates the row (its commit reports the
	// row's creation time) and parks the instance; the second omits the history.
	send(history.Event{Kind: history.KindExecutionStarted, Name: "queue", Input: []byte(`3`), ModuleHash: hash})
	r.processTurn(ctx, fetch())
	if r.live.Len() != 1 {
		t.Fatalf("%d live instances after the first turn, want 1", r.live.Len())
	}
	send(item(`1`))
	turn := fetch()
	if !turn.HistoryOmitted || turn.Events != events() {
		t.Fatalf("second turn: HistoryOmitted=%v Events=%d, want true, %d", turn.HistoryOmitted, turn.Events, events())
	}
	r.processTurn(ctx, turn)
	if r.live.Len() != 1 {
		t.Fatalf("%d live instances after the second turn, want 1", r.live.Len())
	}

	// Third turn: omitted and resumed live.
	send(item(`2`))
	turn = fetch()
	if !turn.HistoryOmitted || turn.Events != events() {
		t.Fatalf("third turn: HistoryOmitted=%v Events=%d, want true, %d", turn.HistoryOmitted, turn.Events, events())
	}
	r.processTurn(ctx, turn)
	if r.live.Len() != 1 {
		t.Fatalf("%d live instances after an omitted turn, want 1", r.live.Len())
	}

	// Fourth turn: omitted, but the live instance is evicted before it runs.
	send(item(`3`))
	before := events()
	turn = fetch()
	if !turn.HistoryOmitted {
		t.Fatal("fourth turn did not omit its history")
	}
	r.live.clear()
	r.processTurn(ctx, turn)
	if got := events(); got != before {
		t.Fatalf("the turn without a live instance recorded %d events", got-before)
	}
	turn = fetch() // given back with no delay
	if turn.HistoryOmitted || len(turn.History) != before {
		t.Fatalf("refetched turn: HistoryOmitted=%v with %d events, want the full %d", turn.HistoryOmitted, len(turn.History), before)
	}
	if len(turn.Messages) != 1 || turn.Messages[0].Attempts != 1 {
		t.Fatalf("refetched messages %+v, want one with Attempts 1", turn.Messages)
	}
	r.processTurn(ctx, turn) // cold replay
	in, err := st.Instance(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	if in.Status != store.StatusCompleted || string(in.Output) != `[1,2,3]` {
		t.Fatalf("instance %v %s %+v, want completed [1,2,3]", in.Status, in.Output, in.Failure)
	}
}

// TestWatchWithdrawn: a withdrawn watch is forgotten; a pending one is closed by notify.
func TestWatchWithdrawn(t *testing.T) {
	r := New(nil, nil, nil, Config{})
	c1, stop1 := r.Watch("i")
	c2, _ := r.Watch("i")
	stop1()
	r.watchers.mu.Lock()
	n := len(r.watchers.m["i"])
	r.watchers.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d watches left, want 1", n)
	}
	r.notify("i")
	select {
	case <-c2:
	default:
		t.Fatal("the pending watch was not closed")
	}
	select {
	case <-c1:
		t.Fatal("a withdrawn watch was closed")
	default:
	}
	_, stop3 := r.Watch("j")
	stop3()
	if len(r.watchers.m) != 0 {
		t.Fatalf("watchers left: %v", r.watchers.m)
	}
}

// TestTurnGate: a namespace's turns beyond its limit are refused until one leaves; other
// namespaces and unlimited ones are not affected.
func TestTurnGate(t *testing.T) {
	var g turnGate
	if !g.enter("a", 2) || !g.enter("a", 2) {
		t.Fatal("within the limit: refused")
	}
	if g.enter("a", 2) {
		t.Fatal("beyond the limit: admitted")
	}
	if !g.enter("b", 2) || !g.enter("c", 0) || !g.enter("c", 0) || !g.enter("c", 0) {
		t.Fatal("another namespace was refused")
	}
	if g.wait("a") != namespaceWait {
		t.Fatalf("first wait %s", g.wait("a"))
	}
	for range 20 {
		g.enter("a", 2)
	}
	if g.wait("a") != maxNamespaceWait {
		t.Fatalf("wait after many refusals %s, want the maximum", g.wait("a"))
	}
	g.leave("a", 2)
	if !g.enter("a", 2) {
		t.Fatal("after a turn left: refused")
	}
	if g.wait("a") != namespaceWait {
		t.Fatalf("wait after an admission %s, want it reset", g.wait("a"))
	}
	g.leave("a", 2)
	g.leave("a", 2)
	g.leave("b", 2)
	if len(g.running) != 0 {
		t.Fatalf("counts left behind: %v", g.running)
	}
}
