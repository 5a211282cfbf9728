package conformance

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/durohost/durohost/store"
)

// batchCases check FetchActivities of a store.ActivityBatcher.
func batchCases() []storeCase {
	batch := func(s store.Store) store.ActivityBatcher { return s.(store.ActivityBatcher) }
	names := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("act%02d", i)
		}
		return out
	}
	return []storeCase{
		{"fetch activities locks up to max items, each with its own token", func(t *testing.T, s store.Store) {
			refs := withActivities(t, s, "a", names(5)...)
			items, err := batch(s).FetchActivities(t.Context(), longLock, 3)
			must(t, "FetchActivities", err)
			if len(items) != 3 {
				t.Fatalf("FetchActivities(3) returned %d items", len(items))
			}
			tokens := map[string]bool{}
			for _, w := range items {
				if w.ID == 0 || w.Token == "" || w.Attempts != 1 || w.InstanceID != "a" || string(w.Input) != w.Name+"-input" {
					t.Fatalf("work item %+v: want an ID, a token, attempts 1, instance a, its input", w)
				}
				if tokens[w.Token] {
					t.Fatalf("token %q returned twice", w.Token)
				}
				tokens[w.Token] = true
			}
			// The ones FetchActivity would return first: the oldest, scheduled first.
			first := map[store.ActivityRef]bool{}
			for _, w := range items {
				first[w.ActivityRef] = true
			}
			for _, r := range refs[:3] {
				if !first[r] {
					t.Fatalf("FetchActivities(3) returned %v, not the 3 scheduled first %v", items, refs[:3])
				}
			}
			// The others are left for later fetches; the locked ones are not fetched again.
			rest, err := batch(s).FetchActivities(t.Context(), longLock, 10)
			must(t, "second FetchActivities", err)
			if len(rest) != 2 {
				t.Fatalf("second FetchActivities returned %d items, want the 2 left", len(rest))
			}
			seen := map[store.ActivityRef]bool{}
			for _, w := range append(items, rest...) {
				seen[w.ActivityRef] = true
			}
			for _, r := range refs {
				if !seen[r] {
					t.Fatalf("activity %+v never fetched", r)
				}
			}
			noActivity(t, s, "every item is locked")
			// Each token completes its own item.
			for _, w := range append(items, rest...) {
				must(t, "CompleteActivity "+w.Name, s.CompleteActivity(t.Context(), w.Token, completion("a", 1, w.EventID, `"ok"`)))
			}
			if d := depths(t, s); d.Activities != 0 {
				t.Fatalf("depths after completing every item: %+v", d)
			}
		}},
		{"fetch activities with nothing visible is ErrNoWork", func(t *testing.T, s store.Store) {
			_, err := batch(s).FetchActivities(t.Context(), longLock, 4)
			wantErr(t, "FetchActivities on an empty store", err, store.ErrNoWork)
			enqueue(t, s, startMsg("a"))
			runTurn(t, s, "a", func(_ *store.Turn, c *store.Commit) {
				addDecisions(c, scheduled("later"))
				w := activity("a", 1, c.History[len(c.History)-1].ID, "later")
				w.VisibleAt = time.Now().Add(time.Hour)
				c.Activities = append(c.Activities, w)
			})
			_, err = batch(s).FetchActivities(t.Context(), longLock, 4)
			wantErr(t, "FetchActivities with only a delayed item", err, store.ErrNoWork)
		}},
		{"fetch activities takes expired locks again, counting attempts", func(t *testing.T, s store.Store) {
			withActivities(t, s, "a", names(2)...)
			first, err := batch(s).FetchActivities(t.Context(), shortLock, 10)
			must(t, "FetchActivities", err)
			if len(first) != 2 {
				t.Fatalf("FetchActivities returned %d items, want 2", len(first))
			}
			deadline := time.Now().Add(waitLimit)
			var again []store.WorkItem
			for time.Now().Before(deadline) {
				if again, err = batch(s).FetchActivities(t.Context(), longLock, 10); err == nil && len(again) == 2 {
					break
				}
				time.Sleep(pollEvery)
			}
			if len(again) != 2 {
				t.Fatalf("after the locks expired: %d items (%v), want 2", len(again), err)
			}
			for _, w := range again {
				if w.Attempts != 2 {
					t.Fatalf("item %s fetched again with attempts %d, want 2", w.Name, w.Attempts)
				}
			}
			err = s.CompleteActivity(t.Context(), first[0].Token, completion("a", 1, first[0].EventID, `"late"`))
			wantErr(t, "CompleteActivity with an expired batch token", err, store.ErrLockLost)
		}},
		{"concurrent fetch activities never hand out one item twice", func(t *testing.T, s store.Store) {
			withActivities(t, s, "a", names(40)...)
			var (
				mu   sync.Mutex
				seen = map[int64]int{}
				wg   sync.WaitGroup
			)
			for range 6 {
				wg.Go(func() {
					for {
						items, err := batch(s).FetchActivities(t.Context(), longLock, 3)
						if errors.Is(err, store.ErrNoWork) {
							return
						}
						if err != nil {
							t.Errorf("FetchActivities: %v", err)
							return
						}
						mu.Lock()
						for _, w := range items {
							seen[w.ID]++
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if len(seen) != 40 {
				t.Fatalf("%d distinct items fetched, want 40", len(seen))
			}
			for id, n := range seen {
				if n != 1 {
					t.Fatalf("item %d fetched %d times", id, n)
				}
			}
		}},
		{"fetch activities rejects bad input", func(t *testing.T, s store.Store) {
			withActivities(t, s, "a", "x")
			_, err := batch(s).FetchActivities(t.Context(), 0, 1)
			wantErr(t, "FetchActivities with lock duration 0", err, store.ErrInvalid)
			_, err = batch(s).FetchActivities(t.Context(), longLock, 0)
			wantErr(t, "FetchActivities of 0 items", err, store.ErrInvalid)
			fetchActivity(t, s, longLock) // nothing was locked
		}},
		{"fetch activities after close is ErrClosed", func(t *testing.T, s store.Store) {
			must(t, "Close", s.Close())
			_, err := batch(s).FetchActivities(t.Context(), longLock, 1)
			wantErr(t, "FetchActivities after Close", err, store.ErrClosed)
		}},
	}
}
