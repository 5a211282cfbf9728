package runtime

import (
	"container/heap"
	"sync"
	"time"

	"github.com/durohost/durohost/store"
)

// timerWake wakes an idle dispatcher when a delayed message (a timer) this host committed
// comes due, instead of waiting for the next poll. One time.Timer serves every due time: they
// wait in a min-heap, bounded by maxTimerWakes (beyond it, later ones are found by polling,
// PollMax late at most).
type timerWake struct {
	mu    sync.Mutex
	due   dueHeap
	timer *time.Timer
	at    int64 // when timer fires, Unix ns (0: not armed)
}

const maxTimerWakes = 1 << 16

type dueHeap []int64

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *dueHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// wakeForTimers arranges a wake-up for each delayed message of a commit.
func (r *Runtime) wakeForTimers(msgs []store.Message) {
	now := time.Now().UnixNano()
	w := &r.timers
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range msgs {
		if at := m.VisibleAt.UnixNano(); !m.VisibleAt.IsZero() && at > now && w.due.Len() < maxTimerWakes {
			heap.Push(&w.due, at)
		}
	}
	r.armTimersLocked(now)
}

// armTimersLocked sets the timer for the earliest due time (plus a millisecond: a message is
// visible from its time on).
func (r *Runtime) armTimersLocked(now int64) {
	w := &r.timers
	if w.due.Len() == 0 {
		return
	}
	next := w.due[0]
	if w.at != 0 && w.at <= next {
		return
	}
	d := time.Duration(next-now) + time.Millisecond
	if w.timer == nil {
		w.timer = time.AfterFunc(d, r.timersDue)
	} else {
		w.timer.Reset(d)
	}
	w.at = next
}

// timersDue wakes a dispatcher for the due times that have passed and arms the timer for the
// next one.
func (r *Runtime) timersDue() {
	now := time.Now().UnixNano()
	w := &r.timers
	w.mu.Lock()
	fired := 0
	for w.due.Len() > 0 && w.due[0] <= now {
		heap.Pop(&w.due)
		fired++
	}
	w.at = 0
	r.armTimersLocked(now)
	w.mu.Unlock()
	if fired > 0 {
		signal(r.wakeTurn)
	}
}
