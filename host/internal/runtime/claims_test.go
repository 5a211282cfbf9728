package runtime

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// claimCounter counts the work items claimed by committed turns on every commit path, and
// can slow down the completions that commit a turn.
type claimCounter struct {
	store.Store
	mu              sync.Mutex
	commits, claims int
	withTurnDelay   time.Duration
}

func (c *claimCounter) count(cm *store.Commit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.commits++
	for _, a := range cm.Activities {
		if a.Claim {
			c.claims++
		}
	}
}

func (c *claimCounter) claimed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.claims
}

func (c *claimCounter) committed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.commits
}

func (c *claimCounter) CommitTurn(ctx context.Context, token string, cm *store.Commit) error {
	err := c.Store.CommitTurn(ctx, token, cm)
	if err == nil {
		c.count(cm)
	}
	return err
}

func (c *claimCounter) StartWithTurn(ctx context.Context, msg store.Message, opts store.StartOptions, cm *store.Commit) error {
	err := c.Store.(store.EagerStarter).StartWithTurn(ctx, msg, opts, cm)
	if err == nil {
		c.count(cm)
	}
	return err
}

func (c *claimCounter) CompleteActivityWithTurn(ctx context.Context, token string, created time.Time, cm *store.Commit) error {
	time.Sleep(c.withTurnDelay)
	err := c.Store.(store.DirectDispatcher).CompleteActivityWithTurn(ctx, token, created, cm)
	if err == nil {
		c.count(cm)
	}
	return err
}

func (c *claimCounter) EnqueueAndFetch(ctx context.Context, msg store.Message, lockFor time.Duration, known store.KnownHistory) (*store.Turn, error) {
	return c.Store.(store.DirectDispatcher).EnqueueAndFetch(ctx, msg, lockFor, known)
}

func (c *claimCounter) CompleteActivityAndFetch(ctx context.Context, token string, result store.Message, lockFor time.Duration, known store.KnownHistory) (*store.Turn, error) {
	return c.Store.(store.DirectDispatcher).CompleteActivityAndFetch(ctx, token, result, lockFor, known)
}

func (c *claimCounter) SkipsKnownHistory() bool { return true }

// TestSlowTurnOnResult: the turn on an activity's result, committed with the completion,
// takes longer than the work item's lock: the lock is renewed until the result is committed,
// so the result is not dropped and the activity runs once.
func TestSlowTurnOnResult(t *testing.T) {
	var runs atomic.Int32
	e := newCapEnv(t, Config{LockTimeout: time.Second, LiveCacheBytes: 1 << 30, NoActivityBatch: true},
		func(s store.Store) store.Store {
			return &claimCounter{Store: s, withTurnDelay: 1200 * time.Millisecond}
		})
	e.r.RegisterActivity("step", func(_ context.Context, in []byte) ([]byte, error) { runs.Add(1); return in, nil })
	e.run(t)
	if err := e.r.Start(context.Background(), e.start("seq", "sequence", "1")); err != nil {
		t.Fatal(err)
	}
	if in := e.wait(t, "seq"); in.Status != store.StatusCompleted {
		t.Fatalf("%v %+v", in.Status, in.Failure)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("activity ran %d times, want 1", n)
	}
}

// TestClaimFollowsNamespacePolicy: a commit claims only the activities the instance's
// namespace may call (the commit's work items carry no namespace before the store's commit).
func TestClaimFollowsNamespacePolicy(t *testing.T) {
	var cc *claimCounter
	cfg := Config{LiveCacheBytes: 1 << 30, NoActivityBatch: true, RetryBase: time.Hour,
		Policy: func(ns string) Policy {
			if ns == "a" {
				return Policy{Activities: []string{"greet"}}
			}
			return Policy{}
		}}
	e := newCapEnv(t, cfg, func(s store.Store) store.Store { cc = &claimCounter{Store: s}; return cc }).run(t)
	msg := e.start("a/seq", "sequence", "1")
	msg.Namespace = "a"
	if err := e.r.Start(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first turn of a/seq", func() bool { return cc.committed() > 0 })
	if got := cc.claimed(); got != 0 {
		t.Errorf("%d claims of activity step, which namespace a may not call", got)
	}
}

// TestEndedInstanceNotParked: a turn that ends its execution without running the guest (a
// cancellation) closes the live instance instead of parking it in the live cache.
func TestEndedInstanceNotParked(t *testing.T) {
	e := newCapEnv(t, Config{LiveCacheBytes: 1 << 30}, func(s store.Store) store.Store { return s }).run(t)
	if err := e.r.Start(context.Background(), e.start("ev", "event", "null")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the instance parked", func() bool { return e.r.live.Len() == 1 })
	if err := e.r.Submit(context.Background(), store.Message{InstanceID: "ev", Event: history.Event{Kind: history.KindCancelRequested, Time: time.Now().UnixNano()}}); err != nil {
		t.Fatal(err)
	}
	if in := e.wait(t, "ev"); in.Status != store.StatusCancelled {
		t.Fatalf("status %v after the cancellation", in.Status)
	}
	waitFor(t, "the live cache empty", func() bool { return e.r.live.Len() == 0 })
}
