package host_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/sqlite"
)

// TestEagerStartTwoCommits: with a store.EagerStarter, a start runs its first turn before
// anything is written and commits it with the start, so a one-activity orchestration costs
// two commits (the start with its first turn, then the activity's result with the last
// turn), no StartInstance and no fetch.
func TestEagerStartTwoCommits(t *testing.T) {
	e := newSequenceEnv(t, sqlite.SyncNormal)
	e.runSequence(t, "one", 1)
	e.st.mu.Lock()
	eager, starts, fetched, withTurn := e.st.eager, e.st.starts, len(e.st.fetches), e.st.withTurn
	e.st.mu.Unlock()
	if eager != 1 || starts != 0 || fetched != 0 || withTurn != 1 {
		t.Fatalf("%d starts with their turn, %d StartInstance, %d turns fetched, %d committed with a result; want 1, 0, 0, 1",
			eager, starts, fetched, withTurn)
	}
	h, err := e.h.Client().History(context.Background(), "one", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) < 3 || h[0].Kind != history.KindTurnStarted || h[1].Kind != history.KindExecutionStarted || h[2].Kind != history.KindActivityScheduled {
		t.Fatalf("history of an eager start: %v", kinds(h))
	}
	// The history replays against the module: the eager turn is an ordinary first turn.
	rp, err := e.h.Replayer(context.Background(), testguest.Build(t, featuresGuest, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	if d, err := rp.Replay(context.Background(), "one", 1, h); err != nil || d != nil {
		t.Fatalf("replay of the eager start's history: divergence %v, err %v", d, err)
	}
}

// TestEagerStartDuplicates: of concurrent starts of one instance ID, each running its first
// turn before anything is written, exactly one is acknowledged, the others are told the
// instance exists, and the history holds one start.
func TestEagerStartDuplicates(t *testing.T) {
	e := newSequenceEnv(t, sqlite.SyncNormal)
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = e.h.Client().Start(context.Background(), "sequence", []byte("2"), host.WithInstanceID("dup"))
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, host.ErrInstanceExists):
			t.Fatalf("Start: %v, want nil or ErrInstanceExists", err)
		}
	}
	e.st.mu.Lock()
	eager := e.st.eager
	e.st.mu.Unlock()
	if ok != 1 || eager != 1 {
		t.Fatalf("%d starts acknowledged, %d of them eagerly; want 1 and 1", ok, eager)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in, err := e.h.Client().Wait(ctx, "dup")
	if err != nil || in.Status != store.StatusCompleted {
		t.Fatalf("Wait: %v %v", in, err)
	}
	h, err := e.h.Client().History(ctx, "dup", 0)
	if err != nil {
		t.Fatal(err)
	}
	starts, steps := 0, 0
	for _, ev := range h {
		switch ev.Kind {
		case history.KindExecutionStarted:
			starts++
		case history.KindActivityScheduled:
			steps++
		}
	}
	if starts != 1 || steps != 2 {
		t.Fatalf("history %v: %d starts and %d activities, want 1 and 2", kinds(h), starts, steps)
	}
}

// TestEagerStartSurvivesRestart: an instance started eagerly and left waiting is taken over
// by a new host on the same store (its live instance gone), which replays the eager turn's
// history and finishes it: the same history as an uninterrupted run, turn markers aside.
func TestEagerStartSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	run := func(stopBefore bool) []history.Event {
		db, err := sqlite.Open(dir+"/restart.db", sqlite.WithSynchronous(sqlite.SyncNormal))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		st := &countingStore{Store: db}
		h, err := host.New(st, host.WithCompilationCache(cacheDir))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.LoadModule(context.Background(), testguest.Build(t, featuresGuest, "")); err != nil {
			t.Fatal(err)
		}
		if err := h.Start(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		defer h.Stop(ctx)
		if stopBefore {
			// The first host: start an instance that waits for an event, eagerly, then stop.
			if _, err := h.Client().Start(ctx, "event", nil, host.WithInstanceID("ev")); err != nil {
				t.Fatal(err)
			}
			st.mu.Lock()
			defer st.mu.Unlock()
			if st.eager != 1 {
				t.Fatalf("%d eager starts, want the start to be eager", st.eager)
			}
			return nil
		}
		if err := h.Client().RaiseEvent(ctx, "ev", "approve", []byte(`"yes"`)); err != nil {
			t.Fatal(err)
		}
		in, err := h.Client().Wait(ctx, "ev")
		if err != nil || in.Status != store.StatusCompleted {
			t.Fatalf("Wait after the restart: %v %v", in, err)
		}
		hist, err := h.Client().History(ctx, "ev", 0)
		if err != nil {
			t.Fatal(err)
		}
		return hist
	}
	run(true)
	h := run(false)
	var starts int
	for _, ev := range h {
		if ev.Kind == history.KindExecutionStarted {
			starts++
		}
	}
	if starts != 1 || h[len(h)-1].Kind != history.KindExecutionCompleted {
		t.Fatalf("history after the restart: %v", kinds(h))
	}
}

// kinds lists the kinds of a history, for messages.
func kinds(h []history.Event) []string {
	out := make([]string, len(h))
	for i, ev := range h {
		out[i] = ev.Kind.String()
	}
	return out
}
