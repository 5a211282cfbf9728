package runtime

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/sandbox"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/sqlite"
)

// TestInterruptedTurnIsAbandoned: a turn whose context ends while the guest is being
// instantiated or its module loaded (the host stops, the lock is lost) is abandoned, not
// recorded as a failure of the instance. Found by the restart mode of the scenario suite,
// where such turns failed instances with DH-TRAP-001 ("initialisation ran longer than 10s")
// or cached the module as invalid (DH-UNREGISTERED-001).
func TestInterruptedTurnIsAbandoned(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sb, err := sandbox.New(ctx, sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close(ctx)
	wasm := testguest.Build(t, "conformance/guests/go", "")
	hash, err := st.PutModule(ctx, "hello", "1", wasm)
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()

	// Loading a module with an ended context is not a verdict on the module.
	if _, err := sb.Load(cancelled, wasm); err == nil || errors.Is(err, sandbox.ErrInvalidModule) {
		t.Fatalf("load with an ended context: %v, want a non-invalid error", err)
	}

	for _, cached := range []bool{false, true} {
		r := New(st, sb, Config{RetryBase: time.Millisecond})
		if cached {
			m, err := sb.Load(ctx, wasm)
			if err != nil {
				t.Fatal(err)
			}
			r.AddModule(m)
		}
		id := map[bool]string{false: "load", true: "instantiate"}[cached]
		if err := st.Enqueue(ctx, store.Message{InstanceID: id, Event: history.Event{
			Kind: history.KindExecutionStarted, Name: "hello", Input: []byte(`"x"`), ModuleHash: hash}}); err != nil {
			t.Fatal(err)
		}
		turn, err := st.FetchTurn(ctx, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		r.processTurn(cancelled, turn)
		if in, err := st.Instance(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: the interrupted turn was recorded: %+v, %v", id, in, err)
		}
		again, err := st.FetchTurn(ctx, time.Minute)
		for deadline := time.Now().Add(5 * time.Second); errors.Is(err, store.ErrNoWork) && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond) // the abandon's short retry delay
			again, err = st.FetchTurn(ctx, time.Minute)
		}
		if err != nil {
			t.Fatalf("%s: the start message is not available again: %v", id, err)
		}
		if again.InstanceID != id || len(again.Messages) != 1 || again.Messages[0].Attempts != 1 {
			t.Fatalf("%s: refetched %s with %+v", id, again.InstanceID, again.Messages)
		}
		// A turn that is not interrupted runs normally on the same runtime.
		r.processTurn(ctx, again)
		in, err := st.Instance(ctx, id)
		if err != nil || in.Status != store.StatusRunning {
			t.Fatalf("%s: after a normal turn: %+v, %v", id, in, err)
		}
	}
}
