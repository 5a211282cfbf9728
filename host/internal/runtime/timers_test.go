package runtime

import (
	"testing"
	"time"

	"github.com/durohost/durohost/store"
)

// waitWake waits for a signal on c.
func waitWake(t *testing.T, c chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatalf("no wake-up for %s in 10 s", what)
	}
}

func (w *timerWake) snapshot() []dueTime {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]dueTime(nil), w.due...)
}

// TestTimerWakes: a delayed message wakes a dispatcher once it is due, never before, and once
// more timerRetry later (for a store whose clock is behind); messages already visible, or
// without a delay, arrange no wake-up.
func TestTimerWakes(t *testing.T) {
	// Room for both wake-ups: a test that runs late must not see them collapse into one, as
	// they may for a dispatcher (which then looks at the store once).
	r := &Runtime{wakeTurn: make(chan struct{}, 2)}
	due := time.Now().Add(200 * time.Millisecond)
	r.wakeForTimers([]store.Message{{VisibleAt: due}, {}, {VisibleAt: time.Now().Add(-time.Second)}})
	if got := r.timers.snapshot(); len(got) != 1 || got[0].retry || got[0].at != due.UnixNano()+int64(timerSlack) {
		t.Fatalf("wake-ups %+v, want one at the due time plus %v", got, timerSlack)
	}
	waitWake(t, r.wakeTurn, "the due time")
	if early := due.Sub(time.Now()); early > 0 {
		t.Fatalf("woken %v before the due time", early)
	}
	waitWake(t, r.wakeTurn, "the retry")
	if early := due.Add(timerRetry).Sub(time.Now()); early > 0 {
		t.Fatalf("woken again %v before the retry's time (%v after the due time)", early, timerRetry)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(r.timers.snapshot()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("wake-ups left after the retry: %+v", r.timers.snapshot())
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case <-r.wakeTurn:
		t.Fatal("a third wake-up")
	case <-time.After(3 * timerRetry):
	}
}
