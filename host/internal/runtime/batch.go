package runtime

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/durohost/durohost/store"
)

// maxActivityBatch bounds the work items one fetch of a store.ActivityBatcher locks.
const maxActivityBatch = 64

// batchActivityLoop is activityLoop with a store.ActivityBatcher: a dispatcher that finds
// work locks as many items as the host has free activity workers, plus a quarter of its
// workers (up to maxActivityBatch), in one store call, runs the first itself and each other
// one in a goroutine of its own, holding a worker slot each, so that a fan-out costs a store
// call per batch rather than per activity. Items beyond the free slots wait for a slot
// (they are locked meanwhile; a worker that ends frees one): without them, a host whose
// workers are all busy would free one slot at a time and fetch one item per call again.
// Like the first (see poll), an item that has no slot after half the lock timeout, or when
// the host stops, is given back unstarted: a waiting item's lock is not renewed, and once
// it expired another fetch may have taken the item.
func (r *Runtime) batchActivityLoop(ctx, drain context.Context) {
	var extra sync.WaitGroup
	defer extra.Wait()
	var deadline time.Time
	poll(ctx, r, r.actSlots, r.wakeAct, "fetch activities",
		func() ([]store.WorkItem, error) {
			free := max(1, cap(r.actSlots)-len(r.actSlots))
			n := min(maxActivityBatch, free+max(1, cap(r.actSlots)/4))
			deadline = time.Now().Add(r.cfg.LockTimeout / 2) // before the store takes the locks
			return r.batcher.FetchActivities(ctx, r.cfg.LockTimeout, n)
		},
		func(items []store.WorkItem) {
			deadline := deadline
			for i := 1; i < len(items); i++ {
				wi := &items[i]
				extra.Go(func() {
					if !holdSlot(ctx, r.actSlots, deadline) {
						r.abandonUnstarted(ctx, wi)
						return
					}
					defer func() { <-r.actSlots }()
					r.runActivity(drain, wi)
				})
			}
			r.runActivity(drain, &items[0])
		},
		func(items []store.WorkItem) {
			for i := range items {
				r.abandonUnstarted(ctx, &items[i])
			}
		})
}

// abandonUnstarted gives back the lock of a work item that this host fetched but did not
// start: it is visible again at once (its next delivery counts one more attempt).
func (r *Runtime) abandonUnstarted(ctx context.Context, wi *store.WorkItem) {
	if err := r.st.AbandonActivity(context.WithoutCancel(ctx), wi.Token, 0); err != nil && !errors.Is(err, store.ErrLockLost) {
		r.log.Warn("abandon activity", "name", wi.Name, "err", err)
	}
}
