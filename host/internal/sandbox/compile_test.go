package sandbox

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/durohost/durohost/internal/testguest"
)

// TestCompileBudgetCoversTheQueue: with one compile slot taken by a slow compilation, another
// caller hears ErrBusy within the compile budget instead of waiting without end; a slow
// compilation that outlasts the budget is ErrCompileTimeout, neither being ErrInvalidModule.
func TestCompileBudgetCoversTheQueue(t *testing.T) {
	rt := newRuntime(t, Config{CompileConcurrency: 1, CompileTimeout: 300 * time.Millisecond})
	slow := testguest.Nested(t, 2999, 100, 1) // seconds of compilation (within the body checks)
	var wg sync.WaitGroup
	var slowErr error
	started := make(chan struct{})
	wg.Go(func() {
		close(started)
		_, slowErr = rt.Compile(context.Background(), slow, "")
	})
	<-started
	// Wait until the slow compilation holds the slot.
	for deadline := time.Now().Add(10 * time.Second); rt.Compiles() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the slow compilation did not start")
		}
		time.Sleep(time.Millisecond)
	}
	_, err := rt.Compile(context.Background(), readFixture(t, "hello.wasm"), "")
	if !errors.Is(err, ErrBusy) || errors.Is(err, ErrInvalidModule) {
		t.Fatalf("compile while the only slot is taken: %v, want ErrBusy", err)
	}
	wg.Wait()
	if !errors.Is(slowErr, ErrCompileTimeout) || errors.Is(slowErr, ErrInvalidModule) {
		t.Fatalf("slow compilation: %v, want ErrCompileTimeout", slowErr)
	}
	// The slot comes back once the abandoned compilation stops.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		m, err := rt.Compile(ctx, readFixture(t, "hello.wasm"), "")
		if err == nil {
			m.Close(ctx)
			break
		}
		if !errors.Is(err, ErrBusy) || ctx.Err() != nil {
			t.Fatalf("compile after the abandoned one: %v", err)
		}
	}
}
