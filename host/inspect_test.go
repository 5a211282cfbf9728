package host_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/sqlite"
)

// TestInspectModule: InspectModule describes a module without registering it, rejects bad
// modules with ErrInvalidModule, and an instance started with WithModuleHash runs that module.
func TestInspectModule(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "i.db"))
	must(t, err)
	defer st.Close()
	h, err := host.New(st, host.WithCompilationCache(cacheDir))
	must(t, err)
	defer h.Stop(context.Background())
	must(t, h.RegisterActivity("greet", func(_ context.Context, in []byte) ([]byte, error) {
		return []byte(`"hi ` + strings.Trim(string(in), `"`) + `"`), nil
	}))
	wat := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "conformance", "testdata", "wat", name))
		must(t, err)
		return b
	}

	m, err := h.InspectModule(ctx, wat("hello.wasm"))
	must(t, err)
	if len(m.Orchestrations) != 1 || m.Orchestrations[0].Name != "wat_hello" || !slices.Contains(m.Imports, "durohost_v1.schedule") || len(m.Hash) != 64 {
		t.Fatalf("module = %+v", m)
	}
	if regs, err := st.ListModules(ctx, store.ModuleFilter{}); err != nil || len(regs) != 0 {
		t.Fatalf("registrations = %v, %v; want none", regs, err)
	}
	if _, err := h.InspectModule(ctx, wat("forbidden.wasm")); !errors.Is(err, host.ErrInvalidModule) {
		t.Fatalf("forbidden module: err = %v, want ErrInvalidModule", err)
	}
	if _, err := h.InspectModule(ctx, []byte("not wasm")); !errors.Is(err, host.ErrInvalidModule) {
		t.Fatalf("garbage: err = %v, want ErrInvalidModule", err)
	}

	// No registration names wat_hello; the bytes are in the store under another name, and a
	// start pinned to the hash runs them.
	_, err = st.PutModule(ctx, store.ModulePut{Wasm: wat("hello.wasm"), Registrations: []store.Registration{
		{Kind: store.RegistrationOrchestration, Name: "other-name", Version: "1"}}})
	must(t, err)
	must(t, h.Start())
	id, err := h.Client().Start(ctx, "wat_hello", nil, host.WithModuleHash(m.Hash), host.WithInstanceID("pinned"))
	must(t, err)
	in, err := h.Client().Wait(ctx, id)
	must(t, err)
	if in.Status != store.StatusCompleted || in.ModuleHash != m.Hash || string(in.Output) != `"hi wat"` {
		t.Fatalf("instance = %+v, output %s", in, in.Output)
	}
	if lm, err := h.LoadModule(ctx, wat("hello.wasm")); err != nil || !slices.Equal(lm.Imports, m.Imports) {
		t.Fatalf("LoadModule imports = %v, %v; want %v", lm, err, m.Imports)
	}
}
