package host_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/sqlite"
)

// countingStore records how long each FetchTurn or CompleteActivityAndFetch that returned a
// turn took, and which turns came without their history. It embeds the SQLite store itself,
// so that it has its capabilities (store.DirectDispatcher, store.HistorySkipper).
type countingStore struct {
	*sqlite.Store
	mu       sync.Mutex
	fetches  []time.Duration
	omitted  []bool
	withKnow int // fetches that passed a KnownHistory
	direct   int // turns returned by CompleteActivityAndFetch
	withTurn int // turns committed by CompleteActivityWithTurn
	eager    int // first turns committed with their start by StartWithTurn
	starts   int // StartInstance calls that succeeded
	single   int // work items fetched by FetchActivity
	batches  int // FetchActivities calls that returned items
	batched  int // work items they returned
}

func (c *countingStore) FetchActivity(ctx context.Context, lockFor time.Duration) (*store.WorkItem, error) {
	w, err := c.Store.FetchActivity(ctx, lockFor)
	if err == nil {
		c.mu.Lock()
		c.single++
		c.mu.Unlock()
	}
	return w, err
}

func (c *countingStore) FetchActivities(ctx context.Context, lockFor time.Duration, max int) ([]store.WorkItem, error) {
	items, err := c.Store.FetchActivities(ctx, lockFor, max)
	if err == nil {
		c.mu.Lock()
		c.batches++
		c.batched += len(items)
		c.mu.Unlock()
	}
	return items, err
}

func (c *countingStore) StartWithTurn(ctx context.Context, msg store.Message, opts store.StartOptions, commit *store.Commit) error {
	err := c.Store.StartWithTurn(ctx, msg, opts, commit)
	if err == nil {
		c.mu.Lock()
		c.eager++
		c.mu.Unlock()
	}
	return err
}

func (c *countingStore) CompleteActivityWithTurn(ctx context.Context, token string, created time.Time, commit *store.Commit) error {
	err := c.Store.CompleteActivityWithTurn(ctx, token, created, commit)
	if err == nil {
		c.mu.Lock()
		c.withTurn++
		c.mu.Unlock()
	}
	return err
}

func (c *countingStore) FetchTurn(ctx context.Context, lockFor time.Duration, known store.KnownHistory) (*store.Turn, error) {
	start := time.Now()
	t, err := c.Store.FetchTurn(ctx, lockFor, known)
	c.count(start, t, err, known, false)
	return t, err
}

func (c *countingStore) CompleteActivityAndFetch(ctx context.Context, token string, result store.Message, lockFor time.Duration, known store.KnownHistory) (*store.Turn, error) {
	start := time.Now()
	t, err := c.Store.CompleteActivityAndFetch(ctx, token, result, lockFor, known)
	if t != nil {
		c.count(start, t, err, known, true)
	}
	return t, err
}

func (c *countingStore) EnqueueAndFetch(ctx context.Context, msg store.Message, lockFor time.Duration, known store.KnownHistory) (*store.Turn, error) {
	start := time.Now()
	t, err := c.Store.EnqueueAndFetch(ctx, msg, lockFor, known)
	if t != nil {
		c.count(start, t, err, known, false)
	}
	return t, err
}

func (c *countingStore) StartInstance(ctx context.Context, msg store.Message, opts store.StartOptions) (*store.Turn, error) {
	start := time.Now()
	t, err := c.Store.StartInstance(ctx, msg, opts)
	if err == nil {
		c.mu.Lock()
		c.starts++
		c.mu.Unlock()
	}
	if t != nil {
		c.count(start, t, err, opts.Known, false)
	}
	return t, err
}

func (c *countingStore) count(start time.Time, t *store.Turn, err error, known store.KnownHistory, direct bool) {
	if err == nil {
		d := time.Since(start)
		c.mu.Lock()
		c.fetches = append(c.fetches, d)
		c.omitted = append(c.omitted, t.HistoryOmitted)
		if known != nil {
			c.withKnow++
		}
		if direct {
			c.direct++
		}
		c.mu.Unlock()
	}
}

// sequenceEnv is a host running the features guest on a counting SQLite store, whose "step"
// activity records when each step ran.
type sequenceEnv struct {
	st    *countingStore
	h     *host.Host
	mu    sync.Mutex
	steps []time.Time
}

func newSequenceEnv(tb testing.TB, sync sqlite.Synchronous, opts ...host.Option) *sequenceEnv {
	tb.Helper()
	db, err := sqlite.Open(filepath.Join(tb.TempDir(), "seq.db"), sqlite.WithSynchronous(sync))
	if err != nil {
		tb.Fatal(err)
	}
	e := &sequenceEnv{st: &countingStore{Store: db}}
	opts = append([]host.Option{host.WithCompilationCache(cacheDir), host.WithLiveCache(4 << 30)}, opts...)
	h, err := host.New(e.st, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	e.h = h
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.Stop(ctx)
		db.Close()
	})
	if _, err := h.LoadModule(context.Background(), testguest.Build(tb, featuresGuest, "")); err != nil {
		tb.Fatal(err)
	}
	if err := h.RegisterActivity("step", func(_ context.Context, in []byte) ([]byte, error) {
		e.mu.Lock()
		e.steps = append(e.steps, time.Now())
		e.mu.Unlock()
		return in, nil
	}); err != nil {
		tb.Fatal(err)
	}
	if err := h.Start(); err != nil {
		tb.Fatal(err)
	}
	return e
}

// reset forgets what was recorded so far.
func (e *sequenceEnv) reset() {
	e.mu.Lock()
	e.steps = e.steps[:0]
	e.mu.Unlock()
	e.st.mu.Lock()
	e.st.fetches, e.st.omitted, e.st.withKnow, e.st.direct, e.st.withTurn = e.st.fetches[:0], e.st.omitted[:0], 0, 0, 0
	e.st.eager, e.st.starts = 0, 0
	e.st.mu.Unlock()
}

// runSequence runs the "sequence" orchestration with n steps to completion.
func (e *sequenceEnv) runSequence(tb testing.TB, id string, n int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := e.h.Client().Start(ctx, "sequence", fmt.Appendf(nil, "%d", n), host.WithInstanceID(id)); err != nil {
		tb.Fatal(err)
	}
	in, err := e.h.Client().Wait(ctx, id)
	if err != nil {
		tb.Fatal(err)
	}
	if in.Status != store.StatusCompleted {
		tb.Fatalf("%s: %v %+v", id, in.Status, in.Failure)
	}
}

// TestLiveSequenceOmitsHistory: on the fast path, a long sequential orchestration does not
// read its history at each turn, and each step costs one transaction: the host claims each
// step's activity when it commits the turn that schedules it, and commits the next turn, run
// on the live instance, with the activity's completion.
func TestLiveSequenceOmitsHistory(t *testing.T) {
	const n = 200
	e := newSequenceEnv(t, sqlite.SyncNormal)
	e.runSequence(t, "long", n)
	// Wait returns once the last commit is visible, which may be before the counting store
	// has counted it (its call has not returned yet).
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		e.st.mu.Lock()
		all := len(e.st.omitted) + e.st.withTurn + e.st.eager
		e.st.mu.Unlock()
		if all >= n+1 {
			break
		}
	}
	e.st.mu.Lock()
	fetched, withKnown, direct, withTurn, eager := len(e.st.omitted), e.st.withKnow, e.st.direct, e.st.withTurn, e.st.eager
	var read []int // fetched turns that read the history
	for k, o := range e.st.omitted {
		if !o {
			read = append(read, k)
		}
	}
	e.st.mu.Unlock()
	// n+1 turns: the first, run before the start was written and committed with it, then
	// one per step, each committed with its activity's completion on the live instance.
	if eager != 1 || fetched+withTurn+eager != n+1 || withKnown != fetched {
		t.Fatalf("%d first turns committed with their start, %d turns fetched (%d with a KnownHistory) and %d committed with a completion, want 1 and %d in all, every fetch with a KnownHistory",
			eager, fetched, withKnown, withTurn, n+1)
	}
	// A result finds no free turn slot only while every dispatcher happens to be polling at
	// once (rare, but a slow run, under the race detector, meets it); the result then goes
	// through the queue, and a dispatcher takes that step's turn (still on the live instance).
	if withTurn < n*9/10 || direct != 0 {
		t.Fatalf("%d turns fetched, %d of them by a completion, %d committed with a completion; want nearly all %d committed with their completion", fetched, direct, withTurn, n)
	}
	if len(read) != 0 {
		t.Fatalf("fetched turns %v of %d read their history, want none (the first turn ran before the start was written)", read, fetched)
	}
	e.mu.Lock()
	steps := len(e.steps)
	e.mu.Unlock()
	if steps != n {
		t.Fatalf("%d steps ran, want %d", steps, n)
	}
}

// stepCost returns the mean time between consecutive steps in [from, to) (0-based).
func stepCost(steps []time.Time, from, to int) time.Duration {
	to = min(to, len(steps)-1)
	if to <= from {
		return 0
	}
	return steps[to].Sub(steps[from]) / time.Duration(to-from)
}

// meanOf returns the mean of ds[from:to].
func meanOf(ds []time.Duration, from, to int) time.Duration {
	to = min(to, len(ds))
	if to <= from {
		return 0
	}
	var sum time.Duration
	for _, d := range ds[from:to] {
		sum += d
	}
	return sum / time.Duration(to-from)
}

// BenchmarkSequence1000 runs one orchestration of 1,000 sequential activities per iteration
// on the live path (SQLite with synchronous=FULL and NORMAL, a large live cache) and reports
// the time per step and per FetchTurn at the start (steps 1-100) and the end (steps
// 900-1000): on the fast path neither grows with the history.
//
//	go test ./host -run '^$' -bench Sequence1000 -benchtime 3x
func BenchmarkSequence1000(b *testing.B) {
	for _, sync := range []sqlite.Synchronous{sqlite.SyncFull, sqlite.SyncNormal} {
		b.Run("sync="+sync.String(), func(b *testing.B) { benchmarkSequence(b, sync) })
	}
}

func benchmarkSequence(b *testing.B, sync sqlite.Synchronous) {
	const n = 1000
	e := newSequenceEnv(b, sync)
	e.runSequence(b, "warm-up", 10)
	var early, late, fetchEarly, fetchLate time.Duration
	k := 0
	for b.Loop() {
		b.StopTimer()
		e.reset()
		b.StartTimer()
		e.runSequence(b, fmt.Sprintf("seq-%d", k), n)
		b.StopTimer()
		e.mu.Lock()
		steps := slices.Clone(e.steps)
		e.mu.Unlock()
		e.st.mu.Lock()
		fetches := slices.Clone(e.st.fetches)
		e.st.mu.Unlock()
		early += stepCost(steps, 0, 100)
		late += stepCost(steps, 899, 999)
		fetchEarly += meanOf(fetches, 1, 101)
		fetchLate += meanOf(fetches, len(fetches)-101, len(fetches)-1)
		k++
		b.StartTimer()
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(k) }
	b.ReportMetric(per(early), "µs/step-first100")
	b.ReportMetric(per(late), "µs/step-last100")
	b.ReportMetric(per(fetchEarly), "µs/fetch-first100")
	b.ReportMetric(per(fetchLate), "µs/fetch-last100")
}

// TestFanInBatchesResults: the results of a fan-out are not each committed with a turn of
// their own: while the live instance awaits several activities, results wait in the queue and
// a turn takes many of them.
func TestFanInBatchesResults(t *testing.T) {
	const n = 200
	e := newSequenceEnv(t, sqlite.SyncNormal)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := e.h.Client().Start(ctx, "fanout", fmt.Appendf(nil, "%d", n), host.WithInstanceID("fan")); err != nil {
		t.Fatal(err)
	}
	in, err := e.h.Client().Wait(ctx, "fan")
	if err != nil {
		t.Fatal(err)
	}
	if in.Status != store.StatusCompleted {
		t.Fatalf("%v %+v", in.Status, in.Failure)
	}
	e.st.mu.Lock()
	turns, byResult := len(e.st.omitted)+e.st.withTurn, e.st.withTurn+e.st.direct
	e.st.mu.Unlock()
	// One turn per result would be n+1; batching takes many results to a turn. Only the
	// last result, when the instance awaits no other activity, may take a turn of its own.
	if turns > n/4 || byResult > 1 {
		t.Fatalf("%d turns for %d results, %d of them taken by a result; want at most %d, and 1", turns, n, byResult, n/4)
	}
	t.Logf("%d turns for %d results, %d taken by a result", turns, n, byResult)
}

// TestFanOutFetchesActivitiesInBatches: with a store.ActivityBatcher, the work items of a
// fan-out wider than the host's activity workers are fetched many to a store call (as many
// as there are free workers), not one per call; every item runs once.
func TestFanOutFetchesActivitiesInBatches(t *testing.T) {
	const n, workers = 200, 8
	e := newSequenceEnv(t, sqlite.SyncNormal, host.WithActivityWorkers(workers))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := e.h.Client().Start(ctx, "fanout", fmt.Appendf(nil, "%d", n), host.WithInstanceID("fan")); err != nil {
		t.Fatal(err)
	}
	in, err := e.h.Client().Wait(ctx, "fan")
	if err != nil || in.Status != store.StatusCompleted {
		t.Fatalf("Wait: %v %v", in, err)
	}
	e.st.mu.Lock()
	single, batches, batched := e.st.single, e.st.batches, e.st.batched
	e.st.mu.Unlock()
	e.mu.Lock()
	steps := len(e.steps)
	e.mu.Unlock()
	// The first turn claims up to `workers` items; the rest are fetched.
	if single != 0 || batched < n-workers || batches > batched/2 {
		t.Fatalf("%d items fetched one by one, %d in %d batches; want none one by one and at least %d in batches of 2 or more on average",
			single, batched, batches, n-workers)
	}
	if steps != n {
		t.Fatalf("%d activity runs, want %d", steps, n)
	}
	t.Logf("%d items in %d batches", batched, batches)
}
