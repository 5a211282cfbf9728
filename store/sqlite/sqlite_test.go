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

func TestOpenOptions(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		ok   bool
	}{
		{"defaults", nil, true},
		{"relaxed", []Option{WithSynchronous(SyncNormal), WithBatchSize(1), WithReaders(1), WithBusyTimeout(0)}, true},
		{"unknown sync", []Option{WithSynchronous(9)}, false},
		{"zero batch", []Option{WithBatchSize(0)}, false},
		{"huge batch", []Option{WithBatchSize(MaxBatchSize + 1)}, false},
		{"no readers", []Option{WithReaders(0)}, false},
		{"negative busy timeout", []Option{WithBusyTimeout(-time.Second)}, false},
		{"nil clock", []Option{WithClock(nil)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(filepath.Join(t.TempDir(), "db"), tt.opts...)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
				return
			}
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
}

func TestOpenPaths(t *testing.T) {
	tests := []struct{ name, path string }{
		{"memory", MemoryPath},
		{"URI characters", filepath.Join(t.TempDir(), "a?b#c%d&e=f.db")},
		{"spaces and unicode", filepath.Join(t.TempDir(), "dé jà vu.db")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			startInstance(t, s, "a")
			if _, err := s.Instance(context.Background(), "a"); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, err := Open(""); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("Open(\"\"): got %v, want ErrInvalid", err)
	}
}

// TestMemoryDatabasesArePrivate checks that two in-memory stores do not share data.
func TestMemoryDatabasesArePrivate(t *testing.T) {
	a, err := Open(MemoryPath)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(MemoryPath)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	startInstance(t, a, "x")
	if _, err := b.Instance(context.Background(), "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second memory store sees the first's instance: %v", err)
	}
}

// TestClock checks that lock expiry and visibility follow WithClock.
func TestClock(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s := openTest(t, WithClock(clock))
	ctx := context.Background()
	timer := startMsg("a")
	timer.VisibleAt = clock().Add(time.Hour)
	if err := s.Enqueue(ctx, timer); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FetchTurn(ctx, time.Minute, nil); !errors.Is(err, store.ErrNoWork) {
		t.Fatalf("timer fetched early: %v", err)
	}
	advance(time.Hour)
	turn := fetch(t, s)
	if !turn.LockedUntil.Equal(clock().Add(time.Minute)) {
		t.Fatalf("LockedUntil = %v, want clock + 1m", turn.LockedUntil)
	}
	advance(2 * time.Minute)
	second := fetch(t, s)
	if second.Messages[0].Attempts != 2 {
		t.Fatalf("Attempts = %d after an expired lock, want 2", second.Messages[0].Attempts)
	}
	wantErr(t, s.CommitTurn(ctx, turn.Token, firstCommit(turn)), store.ErrLockLost)
	if err := s.CommitTurn(ctx, second.Token, firstCommit(second)); err != nil {
		t.Fatal(err)
	}
	in, err := s.Instance(ctx, "a")
	if err != nil || !in.CreatedAt.Equal(clock()) {
		t.Fatalf("Instance = %+v, %v; want CreatedAt from the clock", in, err)
	}
}

func TestCloseFailsLaterCalls(t *testing.T) {
	s := openTest(t)
	startInstance(t, s, "a")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	calls := []struct {
		name string
		call func() error
	}{
		{"Enqueue", func() error { return s.Enqueue(ctx, startMsg("b")) }},
		{"FetchTurn", func() error { _, err := s.FetchTurn(ctx, time.Minute, nil); return err }},
		{"CommitTurn", func() error { return s.CommitTurn(ctx, "t", &store.Commit{Execution: 1}) }},
		{"Instance", func() error { _, err := s.Instance(ctx, "a"); return err }},
		{"ListInstances", func() error { _, err := s.ListInstances(ctx, store.Filter{}); return err }},
		{"History", func() error { _, err := s.History(ctx, "a", 0); return err }},
		{"QueueDepths", func() error { _, err := s.QueueDepths(ctx); return err }},
		{"PutModule", func() error { _, err := s.PutModule(ctx, putOf("m", []byte{1})); return err }},
		{"ResolveModule", func() error {
			_, err := s.ResolveModule(ctx, "", store.RegistrationOrchestration, "m", "")
			return err
		}},
		{"ListModules", func() error { _, err := s.ListModules(ctx, store.ModuleFilter{}); return err }},
		{"DeleteModule", func() error { return s.DeleteModule(ctx, "", []store.Registration{putOf("m", nil).Registrations[0]}) }},
		{"NamespaceUsage", func() error { _, err := s.NamespaceUsage(ctx, ""); return err }},
		{"Ping", func() error { return s.Ping(ctx) }},
		{"Close", s.Close},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close: got %v, want ErrClosed", c.name, err)
		}
	}
}

// TestCloseWhileBusy closes the store while callers hammer it: calls either complete or fail
// with ErrClosed, and Close waits for those in progress.
func TestCloseWhileBusy(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	started := make(chan struct{}, 16)
	for i := range 16 {
		wg.Go(func() {
			for n := 0; ; n++ {
				err := s.Enqueue(ctx, startMsg("x"))
				if n == 0 {
					started <- struct{}{}
				}
				if errors.Is(err, store.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("caller %d: %v", i, err)
					return
				}
				if _, err := s.QueueDepths(ctx); err != nil && !errors.Is(err, store.ErrClosed) {
					t.Errorf("caller %d: %v", i, err)
					return
				}
			}
		})
	}
	for range 16 {
		<-started
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}

// TestEndedContextIsNotCorruption checks that a read whose context has ended returns the
// context's error, never store.ErrCorrupt.
func TestEndedContextIsNotCorruption(t *testing.T) {
	s := openTest(t)
	startInstance(t, s, "a")
	put, err := s.PutModule(context.Background(), putOf("m", []byte("\x00asm")))
	if err != nil {
		t.Fatal(err)
	}
	hash := put.Hash
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	reads := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Instance", func(ctx context.Context) error { _, err := s.Instance(ctx, "a"); return err }},
		{"ListInstances", func(ctx context.Context) error { _, err := s.ListInstances(ctx, store.Filter{}); return err }},
		{"Executions", func(ctx context.Context) error { _, err := s.Executions(ctx, "a"); return err }},
		{"History", func(ctx context.Context) error { _, err := s.History(ctx, "a", 0); return err }},
		{"Children", func(ctx context.Context) error { _, err := s.Children(ctx, "a"); return err }},
		{"QueueDepths", func(ctx context.Context) error { _, err := s.QueueDepths(ctx); return err }},
		{"Module", func(ctx context.Context) error { _, err := s.Module(ctx, hash); return err }},
		{"ResolveModule", func(ctx context.Context) error {
			_, err := s.ResolveModule(ctx, "", store.RegistrationOrchestration, "m", "")
			return err
		}},
		{"ListModules", func(ctx context.Context) error { _, err := s.ListModules(ctx, store.ModuleFilter{}); return err }},
		{"NamespaceUsage", func(ctx context.Context) error { _, err := s.NamespaceUsage(ctx, ""); return err }},
		{"Ping", func(ctx context.Context) error { return s.Ping(ctx) }},
		{"FetchTurn", func(ctx context.Context) error { _, err := s.FetchTurn(ctx, time.Minute, nil); return err }},
		{"Enqueue", func(ctx context.Context) error { return s.Enqueue(ctx, startMsg("b")) }},
	}
	for _, r := range reads {
		for _, c := range []struct {
			ctx  context.Context
			want error
		}{{cancelled, context.Canceled}, {expired, context.DeadlineExceeded}} {
			err := r.call(c.ctx)
			if !errors.Is(err, c.want) || errors.Is(err, store.ErrCorrupt) {
				t.Errorf("%s with an ended context: got %v, want %v", r.name, err, c.want)
			}
		}
	}
}
