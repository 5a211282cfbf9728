package conformance

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// hammerLimit bounds a hammer case: past it the workers stop and the case fails.
const hammerLimit = 60 * time.Second

// hammer runs concurrent workers and collects their failures. Workers report failures
// through fail (never t.Fatal from a goroutine) and stop when stop returns true.
type hammer struct {
	t        *testing.T
	deadline time.Time
	mu       sync.Mutex
	errs     []string
	failed   atomic.Bool
}

func newHammer(t *testing.T) *hammer {
	return &hammer{t: t, deadline: time.Now().Add(hammerLimit)}
}

func (h *hammer) fail(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failed.Store(true)
	if len(h.errs) < 20 {
		h.errs = append(h.errs, fmt.Sprintf(format, args...))
	}
}

// over reports whether workers must stop because of a failure or the deadline.
func (h *hammer) over() bool {
	if h.failed.Load() {
		return true
	}
	if time.Now().After(h.deadline) {
		h.fail("hammer did not finish within %v", hammerLimit)
		return true
	}
	return false
}

// check fails the case with the collected failures.
func (h *hammer) check() {
	h.t.Helper()
	if len(h.errs) > 0 {
		h.t.Fatalf("%d failures, first ones:\n%s", len(h.errs), strings.Join(h.errs, "\n"))
	}
}

// hammerSize scales a hammer's iterations down in -short mode.
func hammerSize(n int) int {
	if testing.Short() {
		return max(n/4, 4)
	}
	return n
}

// stallFor simulates a worker that is slower than its lock (a GC pause, a slow activity).
func stallFor(rng *rand.Rand, lockFor time.Duration) {
	if rng.IntN(4) == 0 {
		time.Sleep(time.Duration(rng.Int64N(int64(2 * lockFor))))
	}
}

type turnHammerConfig struct {
	instances, producers, perProducer, workers int
	lockFor                                    time.Duration
	// stall makes workers sometimes outlive their lock, so that locks expire and are
	// stolen; then the exclusivity check is off and only the history is checked.
	stall bool
}

// turnHammer races producers (Enqueue) against workers (FetchTurn, RenewTurn, AbandonTurn,
// CommitTurn) and then checks that every message was recorded exactly once, in enqueue order
// per producer and instance, with gapless event IDs.
func turnHammer(t *testing.T, s store.Store, cfg turnHammerConfig) {
	ctx := t.Context()
	h := newHammer(t)
	total := int64(cfg.producers * cfg.perProducer)
	var committed, turns, lostLocks atomic.Int64
	var heldMu sync.Mutex
	held := map[string]bool{}
	var wg sync.WaitGroup
	for p := range cfg.producers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(p), 42))
			for i := range cfg.perProducer {
				if h.over() {
					return
				}
				id := fmt.Sprint("h", rng.IntN(cfg.instances))
				msg := eventMsg(id, fmt.Sprintf("p%d-%04d", p, i))
				if err := s.Enqueue(ctx, msg); err != nil {
					h.fail("Enqueue: %v", err)
					return
				}
			}
		})
	}
	for w := range cfg.workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for committed.Load() < total && !h.over() {
				turn, err := s.FetchTurn(ctx, cfg.lockFor, nil)
				if errors.Is(err, store.ErrNoWork) {
					time.Sleep(pollEvery)
					continue
				}
				if err != nil {
					h.fail("FetchTurn: %v", err)
					return
				}
				id := turn.InstanceID
				if !cfg.stall {
					heldMu.Lock()
					if held[id] {
						h.fail("instance %s fetched while another worker holds its lock", id)
					}
					held[id] = true
					heldMu.Unlock()
				}
				release := func() {
					if !cfg.stall {
						heldMu.Lock()
						delete(held, id)
						heldMu.Unlock()
					}
				}
				lost := func(op string, err error) bool {
					if err == nil {
						return false
					}
					if cfg.stall && errors.Is(err, store.ErrLockLost) {
						lostLocks.Add(1)
						return false
					}
					h.fail("%s on %s: %v", op, id, err)
					return true
				}
				switch rng.IntN(10) {
				case 0:
					release()
					lost("AbandonTurn", s.AbandonTurn(ctx, turn.Token, store.AbandonOptions{IgnoreAttempt: rng.IntN(2) == 0}))
					continue
				case 1:
					if lost("RenewTurn", s.RenewTurn(ctx, turn.Token, cfg.lockFor)) {
						return
					}
				}
				if cfg.stall {
					stallFor(rng, cfg.lockFor)
				}
				// Consume only the oldest few messages: the rest stay queued for later turns,
				// which makes for more turns and more contention.
				took := turn
				if k := 1 + rng.IntN(3); k < len(turn.Messages) {
					part := *turn
					part.Messages = turn.Messages[:k]
					took = &part
				}
				c := turnCommit(took)
				release()
				err = s.CommitTurn(ctx, turn.Token, c)
				if err == nil {
					turns.Add(1)
					committed.Add(int64(len(took.Messages)))
				} else if lost("CommitTurn", err) {
					return
				}
			}
		})
	}
	wg.Wait()
	h.check()
	t.Logf("%d messages in %d committed turns; %d calls lost their lock", total, turns.Load(), lostLocks.Load())

	seen := map[string]int{}
	for i := range cfg.instances {
		id := fmt.Sprint("h", i)
		evs, err := s.History(ctx, id, 0)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		must(t, "History("+id+")", err)
		last := map[string]string{} // producer -> last payload seen in this instance
		for j, e := range evs {
			if e.ID != int64(j+1) {
				t.Fatalf("%s: event %d has ID %d", id, j, e.ID)
			}
			if e.Kind != history.KindEventRaised {
				continue
			}
			p := string(e.Input)
			seen[p]++
			producer := p[:strings.IndexByte(p, '-')]
			if prev, ok := last[producer]; ok && prev > p {
				t.Fatalf("%s: %s recorded after %s, out of enqueue order", id, p, prev)
			}
			last[producer] = p
		}
	}
	var dup, missing []string
	for p := range cfg.producers {
		for i := range cfg.perProducer {
			key := fmt.Sprintf("p%d-%04d", p, i)
			switch n := seen[key]; {
			case n == 0:
				missing = append(missing, key)
			case n > 1:
				dup = append(dup, fmt.Sprintf("%s×%d", key, n))
			}
		}
	}
	sort.Strings(missing)
	if len(dup) > 0 || len(missing) > 0 {
		t.Fatalf("of %d messages: %d recorded more than once %v, %d never recorded %v", total, len(dup), head(dup), len(missing), head(missing))
	}
	noTurn(t, s, "every message was consumed")
}

type activityHammerConfig struct {
	items, workers int
	lockFor        time.Duration
	stall          bool
}

// activityHammer races workers over FetchActivity, RenewActivity, AbandonActivity and
// CompleteActivity, then checks that every work item produced exactly one result.
func activityHammer(t *testing.T, s store.Store, cfg activityHammerConfig) {
	ctx := t.Context()
	names := make([]string, cfg.items)
	for i := range names {
		names[i] = fmt.Sprint("act", i)
	}
	refs := withActivities(t, s, "h", names...)
	h := newHammer(t)
	var completed, lostLocks atomic.Int64
	var heldMu sync.Mutex
	held := map[int64]bool{}
	var wg sync.WaitGroup
	for w := range cfg.workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for completed.Load() < int64(cfg.items) && !h.over() {
				item, err := s.FetchActivity(ctx, cfg.lockFor)
				if errors.Is(err, store.ErrNoWork) {
					time.Sleep(pollEvery)
					continue
				}
				if err != nil {
					h.fail("FetchActivity: %v", err)
					return
				}
				if !cfg.stall {
					heldMu.Lock()
					if held[item.ID] {
						h.fail("work item %d fetched while another worker holds it", item.ID)
					}
					held[item.ID] = true
					heldMu.Unlock()
				}
				release := func() {
					if !cfg.stall {
						heldMu.Lock()
						delete(held, item.ID)
						heldMu.Unlock()
					}
				}
				lost := func(op string, err error) bool {
					if err == nil {
						return false
					}
					if cfg.stall && errors.Is(err, store.ErrLockLost) {
						lostLocks.Add(1)
						return false
					}
					h.fail("%s on item %d: %v", op, item.ID, err)
					return true
				}
				switch rng.IntN(8) {
				case 0:
					release()
					lost("AbandonActivity", s.AbandonActivity(ctx, item.Token, 0))
					continue
				case 1:
					if lost("RenewActivity", s.RenewActivity(ctx, item.Token, cfg.lockFor)) {
						return
					}
				}
				if cfg.stall {
					stallFor(rng, cfg.lockFor)
				}
				release()
				err = s.CompleteActivity(ctx, item.Token, completion("h", 1, item.EventID, fmt.Sprint(item.EventID)))
				if err == nil {
					completed.Add(1)
				} else if lost("CompleteActivity", err) {
					return
				}
			}
		})
	}
	wg.Wait()
	h.check()
	t.Logf("%d work items completed; %d calls lost their lock", cfg.items, lostLocks.Load())
	noActivity(t, s, "every work item was completed")

	results := map[int64]int{}
	for {
		turn, err := s.FetchTurn(ctx, longLock, nil)
		if errors.Is(err, store.ErrNoWork) {
			break
		}
		must(t, "FetchTurn", err)
		for _, m := range turn.Messages {
			results[m.Event.Ref]++
		}
		commitTurn(t, s, turn.Token, turnCommit(turn))
	}
	var bad []string
	for _, r := range refs {
		if n := results[r.EventID]; n != 1 {
			bad = append(bad, fmt.Sprintf("event %d: %d results", r.EventID, n))
		}
	}
	if len(bad) > 0 || len(results) != len(refs) {
		t.Fatalf("%d work items: %d distinct results; wrong counts %v", len(refs), len(results), head(bad))
	}
}

// mixedHammer runs orchestrations that schedule an activity per "kick" message while other
// goroutines complete the activities and enqueue more kicks, then checks that every kick
// scheduled exactly one activity and every activity completed exactly once in history.
func mixedHammer(t *testing.T, s store.Store, instances, kicks, workers int) {
	ctx := t.Context()
	h := newHammer(t)
	var done atomic.Int64 // completions recorded in history
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range kicks {
			if h.over() {
				return
			}
			if err := s.Enqueue(ctx, eventMsg(fmt.Sprint("m", i%instances), fmt.Sprintf("kick-%04d", i))); err != nil {
				h.fail("Enqueue: %v", err)
				return
			}
		}
	})
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 99))
			for done.Load() < int64(kicks) && !h.over() {
				idle := true
				if turn, err := s.FetchTurn(ctx, longLock, nil); err == nil {
					idle = false
					c := turnCommit(turn)
					completions := 0
					for _, m := range turn.Messages {
						switch m.Event.Kind {
						case history.KindEventRaised:
							addDecisions(c, scheduled("work"))
							c.Activities = append(c.Activities, activity(turn.InstanceID, c.Execution, c.History[len(c.History)-1].ID, "work"))
						case history.KindActivityCompleted:
							completions++
						}
					}
					if err := s.CommitTurn(ctx, turn.Token, c); err != nil {
						h.fail("CommitTurn on %s: %v", turn.InstanceID, err)
						return
					}
					done.Add(int64(completions))
				} else if !errors.Is(err, store.ErrNoWork) {
					h.fail("FetchTurn: %v", err)
					return
				}
				if item, err := s.FetchActivity(ctx, longLock); err == nil {
					idle = false
					if rng.IntN(6) == 0 {
						if err := s.AbandonActivity(ctx, item.Token, 0); err != nil {
							h.fail("AbandonActivity: %v", err)
							return
						}
						continue
					}
					if err := s.CompleteActivity(ctx, item.Token, completion(item.InstanceID, item.Execution, item.EventID, "ok")); err != nil {
						h.fail("CompleteActivity: %v", err)
						return
					}
				} else if !errors.Is(err, store.ErrNoWork) {
					h.fail("FetchActivity: %v", err)
					return
				}
				if idle {
					time.Sleep(pollEvery)
				}
			}
		})
	}
	wg.Wait()
	h.check()

	kicked := map[string]int{}
	for i := range instances {
		id := fmt.Sprint("m", i)
		evs, err := s.History(ctx, id, 0)
		must(t, "History("+id+")", err)
		scheduledIDs := map[int64]int{}
		for _, e := range evs {
			switch e.Kind {
			case history.KindEventRaised:
				kicked[string(e.Input)]++
			case history.KindActivityScheduled:
				scheduledIDs[e.ID] += 0
			case history.KindActivityCompleted:
				if _, ok := scheduledIDs[e.Ref]; !ok {
					t.Fatalf("%s: completion of event %d, which is not a scheduled activity", id, e.Ref)
				}
				scheduledIDs[e.Ref]++
			}
		}
		for ref, n := range scheduledIDs {
			if n != 1 {
				t.Fatalf("%s: activity %d completed %d times in history, want 1", id, ref, n)
			}
		}
	}
	if len(kicked) != kicks {
		t.Fatalf("%d distinct kicks recorded, want %d", len(kicked), kicks)
	}
	for k, n := range kicked {
		if n != 1 {
			t.Fatalf("%s recorded %d times, want 1", k, n)
		}
	}
}

// head returns at most the first 10 elements of s.
func head(s []string) []string {
	return s[:min(len(s), 10)]
}

func hammerCases() []storeCase {
	return []storeCase{
		{"turns: no message lost or recorded twice", func(t *testing.T, s store.Store) {
			turnHammer(t, s, turnHammerConfig{instances: 4, producers: 4, perProducer: hammerSize(150), workers: 4, lockFor: longLock})
		}},
		{"turns with expiring locks: no message lost or recorded twice", func(t *testing.T, s store.Store) {
			turnHammer(t, s, turnHammerConfig{instances: 3, producers: 2, perProducer: hammerSize(100), workers: 4, lockFor: 15 * time.Millisecond, stall: true})
		}},
		{"activities: each work item completed once", func(t *testing.T, s store.Store) {
			activityHammer(t, s, activityHammerConfig{items: hammerSize(200), workers: 4, lockFor: longLock})
		}},
		{"activities with expiring locks: each work item completed once", func(t *testing.T, s store.Store) {
			activityHammer(t, s, activityHammerConfig{items: hammerSize(100), workers: 4, lockFor: 15 * time.Millisecond, stall: true})
		}},
		{"turns, activities and enqueues together", func(t *testing.T, s store.Store) {
			mixedHammer(t, s, 3, hammerSize(150), 4)
		}},
	}
}
