package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/durohost/durohost/store"
)

// TestTurnGate: FetchTurn remembers that no turn was ready until a commit (of this store or
// of another process), the visibility of a queued message or the expiry of a lock that holds
// messages back could change the answer.
func TestTurnGate(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	path := filepath.Join(t.TempDir(), "durohost.db")
	s, err := Open(path, WithSynchronous(SyncOff), WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	scans := func() int64 { s.gate.mu.Lock(); defer s.gate.mu.Unlock(); return s.gate.scans }
	// step fetches a turn and checks whether it found one of instance want ("": none) and
	// whether the gate scanned the queue for it.
	step := func(what, want string, scanned bool) *store.Turn {
		t.Helper()
		before := scans()
		turn, err := s.FetchTurn(ctx, time.Minute, nil)
		switch {
		case want == "" && !errors.Is(err, store.ErrNoWork):
			t.Fatalf("%s: FetchTurn = %v, %v; want ErrNoWork", what, turn, err)
		case want != "" && (err != nil || turn.InstanceID != want):
			t.Fatalf("%s: FetchTurn = %v, %v; want a turn of %s", what, turn, err, want)
		}
		if got := scans() > before; got != scanned {
			t.Fatalf("%s: scanned the queue %v, want %v", what, got, scanned)
		}
		return turn
	}
	step("empty", "", true)
	step("empty again", "", false)

	timer := startMsg("a")
	timer.VisibleAt = clock().Add(time.Hour)
	if err := s.Enqueue(ctx, timer); err != nil {
		t.Fatal(err)
	}
	step("after a commit", "", true)
	step("before the timer", "", false)
	advance(59 * time.Minute)
	step("a minute before the timer", "", false)
	advance(time.Minute)
	step("when the timer is due", "a", true)

	// A message for the locked instance: held back until the lock expires.
	if err := s.Enqueue(ctx, startMsg("a")); err != nil {
		t.Fatal(err)
	}
	step("a message for a locked instance", "", true)
	advance(59 * time.Second)
	step("before the lock expires", "", false)
	advance(time.Second)
	step("when the lock expires", "a", true)

	// The clock going back is not trusted.
	step("nothing else", "", true)
	advance(-time.Second)
	step("the clock went back", "", true)

	// A commit by another process.
	other, err := Open(path, WithSynchronous(SyncOff), WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	step("before the other process writes", "", false)
	if err := other.Enqueue(ctx, startMsg("b")); err != nil {
		t.Fatal(err)
	}
	step("after the other process wrote", "b", true)
}

// TestTurnGateMemory: an in-memory database has no gate; FetchTurn still finds its turns.
func TestTurnGateMemory(t *testing.T) {
	s, err := Open(MemoryPath)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.gate != nil {
		t.Fatal("an in-memory store has a turn gate")
	}
	ctx := context.Background()
	if _, err := s.FetchTurn(ctx, time.Minute, nil); !errors.Is(err, store.ErrNoWork) {
		t.Fatalf("FetchTurn = %v, want ErrNoWork", err)
	}
	if err := s.Enqueue(ctx, startMsg("a")); err != nil {
		t.Fatal(err)
	}
	fetch(t, s)
}
