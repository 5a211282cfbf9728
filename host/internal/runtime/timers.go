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
//
// A due time wakes a dispatcher twice: timerSlack after it (a message is visible from its
// time on, and the store's clock is this host's with SQLite), and timerRetry after that, for
// a store whose clock runs a little behind this host's (PostgreSQL compares with its server's
// clock): the first wake then finds nothing, the second finds the message rather than the
// next poll.
type timerWake struct {
	mu    sync.Mutex
	due   dueHeap
	timer *time.Timer
	at    int64 // when timer fires, Unix ns (0: not armed)
}

const (
	maxTimerWakes = 1 << 16
	timerSlack    = 100 * time.Microsecond
	timerRetry    = 2 * time.Millisecond
)

// dueTime is a wake-up: at is when (Unix ns); retry marks the second wake of a due time.
type dueTime struct {
	at    int64
	retry bool
}

type dueHeap []dueTime

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueTime)) }
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
			heap.Push(&w.due, dueTime{at: at + int64(timerSlack)})
		}
	}
	r.armTimersLocked(now)
}

// armTimersLocked sets the timer for the earliest wake-up.
func (r *Runtime) armTimersLocked(now int64) {
	w := &r.timers
	if w.due.Len() == 0 {
		return
	}
	next := w.due[0].at
	if w.at != 0 && w.at <= next {
		return
	}
	d := max(time.Duration(next-now), 0)
	if w.timer == nil {
		w.timer = time.AfterFunc(d, r.timersDue)
	} else {
		w.timer.Reset(d)
	}
	w.at = next
}

// timersDue wakes a dispatcher for the wake-ups that have passed, keeps the second wake-up of
// each first one, and arms the timer for the next.
func (r *Runtime) timersDue() {
	now := time.Now().UnixNano()
	w := &r.timers
	w.mu.Lock()
	fired := 0
	var retries []dueTime
	for w.due.Len() > 0 && w.due[0].at <= now {
		d := heap.Pop(&w.due).(dueTime)
		fired++
		if !d.retry {
			retries = append(retries, dueTime{at: d.at + int64(timerRetry), retry: true})
		}
	}
	for _, d := range retries {
		if w.due.Len() < maxTimerWakes {
			heap.Push(&w.due, d)
		}
	}
	w.at = 0
	r.armTimersLocked(now)
	w.mu.Unlock()
	if fired > 0 {
		signal(r.wakeTurn)
	}
}
