package host_test

import (
	"context"
	"sync"
	"testing"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/sqlite"
)

// TestConcurrentLoadReplayUpload: 16 goroutines loading, replaying, compiling and inspecting
// one module at once, on a host with an empty compilation cache, share one compilation
// (under -race this is the module manager's concurrency test at the host's level: the
// compile race that crashed `go test ./...` came from concurrent loads of the same bytes).
func TestConcurrentLoadReplayUpload(t *testing.T) {
	st, err := sqlite.Open(t.TempDir() + "/d.db")
	must(t, err)
	defer st.Close()
	h, err := host.New(st, host.WithCompilationCache(t.TempDir()))
	must(t, err)
	defer h.Stop(context.Background())
	wasm := testguest.Build(t, featuresGuest, "")
	// A recorded history to replay: hello, run once on another host.
	e := newEnv(t)
	key, err := e.c.Start(context.Background(), "hello", []byte(`"x"`))
	must(t, err)
	waitDone(t, e, key)
	events, err := e.c.History(context.Background(), key, 1)
	must(t, err)

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			ctx := context.Background()
			var err error
			switch i % 4 {
			case 0:
				_, err = h.LoadModule(ctx, wasm)
			case 1:
				var d *host.Divergence
				if d, err = h.Replay(ctx, wasm, key, 1, events); err == nil && d != nil {
					err = d
				}
			case 2:
				_, err = h.CompileModule(ctx, wasm)
			default:
				_, err = h.InspectModule(ctx, wasm)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if s := h.ModuleStats(); s.Compiles != 1 || s.Loaded != 1 || s.Held != 0 {
		t.Fatalf("module stats %+v, want one compilation, kept, held by nobody", s)
	}
}

// TestHistoryLimitLiveAndReplay: the history limit the host is given holds for its live
// instances and for Host.Replay alike (the live host used to run with the default).
func TestHistoryLimitLiveAndReplay(t *testing.T) {
	e := newEnv(t, host.WithMaxHistory(8))
	ctx := context.Background()
	key, err := e.c.Start(ctx, "sequence", []byte(`5`))
	must(t, err)
	in := waitDone(t, e, key)
	if in.Status != store.StatusFailed || in.Failure == nil || in.Failure.Code != abi.CodeHistoryTooLong {
		t.Fatalf("live, 8 events at most: %v %+v, want %s", in.Status, in.Failure, abi.CodeHistoryTooLong)
	}
	// The same orchestration completes under the default limit; its history replays on a
	// host of the default limit, and not on one of 8 events.
	full := newEnv(t)
	key, err = full.c.Start(ctx, "sequence", []byte(`5`))
	must(t, err)
	if in := waitDone(t, full, key); in.Status != store.StatusCompleted {
		t.Fatalf("default limits: %v %+v", in.Status, in.Failure)
	}
	events, err := full.c.History(ctx, key, 1)
	must(t, err)
	wasm := testguest.Build(t, featuresGuest, "")
	if d, err := full.h.Replay(ctx, wasm, key, 1, events); err != nil || d != nil {
		t.Fatalf("replay under the default limit: %v %v", d, err)
	}
	if d, err := e.h.Replay(ctx, wasm, key, 1, events); err != nil || d == nil || d.Code != abi.CodeHistoryTooLong {
		t.Fatalf("replay under a limit of 8 events: %v %v, want %s", d, err, abi.CodeHistoryTooLong)
	}
}
