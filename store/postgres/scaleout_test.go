package postgres_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/postgres/pgtest"
)

// TestHostsShareWork runs two hosts on one database, each with its own store, as two
// processes would. Host a starts every instance and has a single activity worker, which its
// first activity holds until host b has run one: the other activities can only go through the
// queue to b, which must take them (woken by a's wake-ups, or by polling: the test shows
// that the hosts share work, not how fast; TestListenerReconnects and the Waker conformance
// group test the wake-ups) for the instances to complete.
func TestHostsShareWork(t *testing.T) {
	const instances, steps = 4, 3
	url := pgtest.NewDatabase(t)
	guest := testguest.Build(t, "internal/bench/guest", "")
	cache := t.TempDir()
	ctx := context.Background()
	var (
		bRan       = make(chan struct{})
		once       sync.Once
		ranA, ranB atomic.Int64
	)
	onA := func(ctx context.Context, in []byte) ([]byte, error) {
		ranA.Add(1)
		select {
		case <-bRan:
			return in, nil
		case <-time.After(30 * time.Second):
			return nil, errors.New("host b ran no activity within 30 s while host a's only worker waited")
		}
	}
	onB := func(_ context.Context, in []byte) ([]byte, error) {
		ranB.Add(1)
		once.Do(func() { close(bRan) })
		return in, nil
	}
	newHost := func(activity host.ActivityFunc, opts ...host.Option) *host.Host {
		h, err := host.New(open(t, url), append([]host.Option{host.WithCompilationCache(cache)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.RegisterActivity("noop", activity); err != nil {
			t.Fatal(err)
		}
		if _, err := h.LoadModule(ctx, guest); err != nil {
			t.Fatal(err)
		}
		if err := h.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Stop(context.Background()) })
		return h
	}
	a := newHost(onA, host.WithActivityWorkers(1))
	newHost(onB)
	c := a.Client()
	for i := range instances {
		if _, err := c.Start(ctx, "bench_sequence", []byte(strconv.Itoa(steps)), host.WithInstanceID("share-"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for i := range instances {
		in, err := c.Wait(wctx, "share-"+strconv.Itoa(i))
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		if in.Status != store.StatusCompleted {
			t.Fatalf("instance %s: %s (%+v)", in.ID, in.Status, in.Failure)
		}
	}
	if got := ranA.Load() + ranB.Load(); got < instances*steps || ranB.Load() == 0 {
		t.Fatalf("activities run: %d by host a, %d by host b; want %d or more, some by b", ranA.Load(), ranB.Load(), instances*steps)
	}
	t.Logf("activities run: %d by host a, %d by host b", ranA.Load(), ranB.Load())
}
