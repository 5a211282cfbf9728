package sandbox

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/replay"
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

// TestGuestMemoryBudgetIsTransient: when the guests' memory budget cannot hold a new instance,
// instantiating it (or describing a module at load) fails with the transient ErrMemoryBudget,
// never a panic, and never a verdict on the module or the instance.
func TestGuestMemoryBudgetIsTransient(t *testing.T) {
	hello := readFixture(t, "hello.wasm") // one page of memory
	rt := newRuntime(t, Config{GuestMemory: 100 << 10})
	m, err := rt.Load(context.Background(), hello)
	if err != nil {
		t.Fatal(err)
	}
	instance := func(id string) (*Instance, error) {
		eng, err := replay.New(replay.Config{InstanceID: id, Execution: 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := eng.BeginTurn(epoch, []history.Event{startEvent("wat_hello", "null")}); err != nil {
			t.Fatal(err)
		}
		return rt.Instantiate(context.Background(), m, eng, id, 1)
	}
	held, err := instance("held") // takes the one page of the budget's 100 KiB
	if err != nil {
		t.Fatalf("first instance: %v", err)
	}
	defer held.Close()
	if _, err := instance("second"); !errors.Is(err, ErrMemoryBudget) || !Transient(err) {
		t.Fatalf("instantiate beyond the budget: %v, want the transient ErrMemoryBudget", err)
	}
	if used, _ := rt.GuestMemory(); used != 65536 {
		t.Fatalf("%d bytes of guest memory counted after the refused instance, want its page given back", used)
	}
	// A module loaded while the budget is spent: its description fails transiently, not as
	// an invalid module.
	tiny := newRuntime(t, Config{GuestMemory: 1})
	if _, err := tiny.Load(context.Background(), hello); !errors.Is(err, ErrMemoryBudget) || errors.Is(err, ErrInvalidModule) {
		t.Fatalf("load beyond the budget: %v, want ErrMemoryBudget and not ErrInvalidModule", err)
	}
}
