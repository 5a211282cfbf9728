package host_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/durohost/durohost/conformance"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/sqlite"
)

// stepCounter is an activity "step" that counts its runs per input and the most runs at once.
type stepCounter struct {
	mu            sync.Mutex
	runs          map[string]int
	running, peak int
	started       chan struct{}
	d             time.Duration
}

func newStepCounter(d time.Duration) *stepCounter {
	return &stepCounter{runs: map[string]int{}, started: make(chan struct{}, 1000), d: d}
}

// step ignores its context: a long activity that does not look at it.
func (c *stepCounter) step(_ context.Context, in []byte) ([]byte, error) {
	c.mu.Lock()
	c.runs[string(in)]++
	c.running++
	c.peak = max(c.peak, c.running)
	c.mu.Unlock()
	c.started <- struct{}{}
	time.Sleep(c.d)
	c.mu.Lock()
	c.running--
	c.mu.Unlock()
	return in, nil
}

// startFanoutHost starts a host on st with the given options and c as its step activity.
func startFanoutHost(t *testing.T, st store.Store, c *stepCounter, opts ...host.Option) *host.Host {
	t.Helper()
	h, err := host.New(st, append([]host.Option{host.WithCompilationCache(cacheDir)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.LoadModule(context.Background(), testguest.Build(t, featuresGuest, "")); err != nil {
		t.Fatal(err)
	}
	if err := h.RegisterActivity("step", c.step); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestBatchedItemsOutliveTheirLock: activities that run longer than the lock timeout (their
// locks renewed while they run), more of them than workers. The items a batch fetched beyond
// the free workers must not run after their lock expired (another fetch has taken them by
// then): each activity runs once.
func TestBatchedItemsOutliveTheirLock(t *testing.T) {
	for _, batched := range []bool{true, false} {
		t.Run(fmt.Sprintf("batched=%v", batched), func(t *testing.T) {
			testItemsOutliveTheirLock(t, batched)
		})
	}
}

// testItemsOutliveTheirLock runs TestBatchedItemsOutliveTheirLock with a store that fetches
// in batches, or one item a call (its dispatchers may fetch more items than free workers
// too: each checks for a free worker before its fetch, and takes one after it).
func testItemsOutliveTheirLock(t *testing.T, batched bool) {
	const n, workers = 6, 2
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "batch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var st store.Store = db
	if !batched {
		st = conformance.CoreOnly(db)
	}
	c := newStepCounter(time.Second)
	h := startFanoutHost(t, st, c, host.WithActivityWorkers(workers), host.WithLockTimeout(400*time.Millisecond))
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.Stop(ctx)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := h.Client().Start(ctx, "fanout", fmt.Appendf(nil, "%d", n), host.WithInstanceID("fan")); err != nil {
		t.Fatal(err)
	}
	in, err := h.Client().Wait(ctx, "fan")
	if err != nil || in.Status != store.StatusCompleted {
		t.Fatalf("Wait: status %v, err %v", in.Status, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.runs) != n {
		t.Errorf("%d distinct activities ran, want %d", len(c.runs), n)
	}
	for in, runs := range c.runs {
		if runs != 1 {
			t.Errorf("step(%s) ran %d times", in, runs)
		}
	}
	if c.peak > workers {
		t.Errorf("%d activities ran at once with %d workers", c.peak, workers)
	}
}

// TestStopLeavesWaitingItems: when a host stops, the items a batch fetched beyond its free
// workers have not started, and do not start then (beyond the workers): they are given back,
// and another host runs each of them once.
func TestStopLeavesWaitingItems(t *testing.T) {
	const n, workers = 12, 4
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "batch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := newStepCounter(300 * time.Millisecond)
	h := startFanoutHost(t, db, c, host.WithActivityWorkers(workers))
	if _, err := h.Client().Start(context.Background(), "fanout", fmt.Appendf(nil, "%d", n), host.WithInstanceID("fan")); err != nil {
		t.Fatal(err)
	}
	// Past the first round, dispatchers fetch batches beyond the free workers.
	for range workers + 1 {
		<-c.started
	}
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.Stop(ctx)
	c.mu.Lock()
	peak, ran := c.peak, len(c.runs)
	c.mu.Unlock()
	if peak > workers {
		t.Errorf("%d activities ran at once with %d workers (while the host stopped)", peak, workers)
	}
	if ran == n {
		t.Fatalf("all %d activities ran before the host stopped: the test saw no waiting item", n)
	}

	h2 := startFanoutHost(t, db, c, host.WithActivityWorkers(workers))
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h2.Stop(ctx)
	}()
	in, err := h2.Client().Wait(ctx, "fan")
	if err != nil || in.Status != store.StatusCompleted {
		t.Fatalf("Wait on the second host: status %v, err %v", in.Status, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for in, runs := range c.runs {
		if runs != 1 {
			t.Errorf("step(%s) ran %d times", in, runs)
		}
	}
	if len(c.runs) != n {
		t.Errorf("%d distinct activities ran, want %d", len(c.runs), n)
	}
}
