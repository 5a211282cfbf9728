package runtime

import (
	"context"
	"sync"

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
func (r *Runtime) batchActivityLoop(ctx, drain context.Context) {
	var extra sync.WaitGroup
	defer extra.Wait()
	poll(ctx, r, r.actSlots, r.wakeAct, "fetch activities",
		func() ([]store.WorkItem, error) {
			free := max(1, cap(r.actSlots)-len(r.actSlots))
			n := min(maxActivityBatch, free+max(1, cap(r.actSlots)/4))
			return r.batcher.FetchActivities(ctx, r.cfg.LockTimeout, n)
		},
		func(items []store.WorkItem) {
			for i := 1; i < len(items); i++ {
				wi := &items[i]
				held := true
				extra.Go(func() {
					select {
					case r.actSlots <- struct{}{}:
					case <-ctx.Done():
						// Stopping: the item runs all the same (it is locked; it drains or is
						// abandoned with the others), as poll handles a fetched item.
						held = false
					}
					if held {
						defer func() { <-r.actSlots }()
					}
					r.runActivity(drain, wi)
				})
			}
			r.runActivity(drain, &items[0])
		})
}
