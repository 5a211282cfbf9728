package host_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store/sqlite"
)

// Example runs the hand-written WAT orchestration "wat_hello", which calls the activity
// "greet", on an embedded SQLite store.
func Example() {
	dir, _ := os.MkdirTemp("", "durohost-example-")
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(filepath.Join(dir, "example.db"))
	if err != nil {
		panic(err)
	}
	defer st.Close()
	h, err := host.New(st)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	defer h.Stop(ctx)

	host.RegisterActivityFunc(h, "greet", func(ctx context.Context, name string) (string, error) {
		return "Hello, " + strings.ToUpper(name) + "!", nil
	})
	if _, err := h.LoadModuleFile(ctx, filepath.Join("..", "conformance", "testdata", "wat", "hello.wasm")); err != nil {
		panic(err)
	}
	if err := h.Start(); err != nil {
		panic(err)
	}
	id, err := h.Client().Start(ctx, "wat_hello", nil, host.WithInstanceID("example"))
	if err != nil {
		panic(err)
	}
	inst, err := h.Client().Wait(ctx, id)
	if err != nil {
		panic(err)
	}
	if inst.Status != host.StatusCompleted { // host.Failure in inst.Failure says why
		panic(fmt.Sprintf("%s: %v", inst.Status, inst.Failure))
	}
	fmt.Println(inst.Status, string(inst.Output))
	// The decisions the code made, without the turn markers and inputs.
	decisions, err := h.Client().History(ctx, id, 0, host.DecisionsOnly())
	if err != nil {
		panic(err)
	}
	for _, e := range decisions {
		fmt.Println(e.Kind)
	}
	// Output:
	// completed "Hello, WAT!"
	// activity_scheduled
	// execution_completed
}
