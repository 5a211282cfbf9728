package wasmopt_test

import (
	"bytes"
	"context"
	"fmt"
	randv2 "math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/durohost/durohost/host/internal/wasmopt"
)

// cache is shared by the runtimes of the package's tests and benchmarks, so that a module
// compiles once per test binary.
var cache = wazero.NewCompilationCache()

// sandboxConfig is the runtime configuration of host/internal/sandbox: the compiler, no
// debug information, modules closed when their context is done.
func sandboxConfig() wazero.RuntimeConfig {
	return wazero.NewRuntimeConfig().
		WithCompilationCache(cache).
		WithDebugInfoEnabled(false).
		WithCloseOnContextDone(true)
}

// outcome is what a module looks like once compiled and instantiated.
type outcome struct {
	// stage is "compile" or "instantiate" when that failed (err), "" otherwise.
	stage string
	err   error
	// imports and exports describe the compiled module, names with types.
	imports, exports []string
	// memory is memory 0 after instantiation (nil if none, or if it is imported).
	memory []byte
}

// instantiate compiles wasm with cfg and instantiates it with every imported function
// stubbed (a stub panics if called), without running its start functions (_start,
// _initialize) unless initialize is true, in which case WASI is the real one with fixed
// clocks and a seeded random source, so that initialisation is deterministic. A start
// section runs either way: it is part of instantiation.
func instantiate(tb testing.TB, cfg wazero.RuntimeConfig, wasm []byte, initialize bool) outcome {
	tb.Helper()
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, cfg)
	defer r.Close(ctx)
	cm, err := r.CompileModule(ctx, wasm)
	if err != nil {
		return outcome{stage: "compile", err: err}
	}
	var o outcome
	o.imports, o.exports = describe(cm)
	if len(cm.ImportedMemories()) > 0 {
		return o // cannot be provided by a host module; the memory is the importer's anyway
	}
	provide(tb, r, cm, initialize)
	ictx, cancel := context.WithTimeout(ctx, 2*time.Second) // a fuzzed start section may loop
	defer cancel()
	mod, err := r.InstantiateModule(ictx, cm, moduleConfig(initialize))
	if err != nil {
		o.stage, o.err = "instantiate", err
		return o
	}
	if mem := mod.Memory(); mem != nil {
		b, ok := mem.Read(0, mem.Size())
		if !ok {
			tb.Fatal("memory read out of range")
		}
		o.memory = bytes.Clone(b)
	}
	return o
}

// describe lists the imports and exports of a compiled module, with their types.
func describe(cm wazero.CompiledModule) (imports, exports []string) {
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		imports = append(imports, fmt.Sprintf("func %s.%s%v%v", mod, name, f.ParamTypes(), f.ResultTypes()))
	}
	for _, m := range cm.ImportedMemories() {
		mod, name, _ := m.Import()
		max, _ := m.Max()
		imports = append(imports, fmt.Sprintf("memory %s.%s %d %d", mod, name, m.Min(), max))
	}
	for name, f := range cm.ExportedFunctions() {
		exports = append(exports, fmt.Sprintf("func %s%v%v", name, f.ParamTypes(), f.ResultTypes()))
	}
	for name, m := range cm.ExportedMemories() {
		max, _ := m.Max()
		exports = append(exports, fmt.Sprintf("memory %s %d %d", name, m.Min(), max))
	}
	slices.Sort(exports)
	return imports, exports
}

// provide instantiates in r host modules for the functions cm imports: stubs that panic if
// called, and the real WASI if wasi is true.
func provide(tb testing.TB, r wazero.Runtime, cm wazero.CompiledModule, wasi bool) {
	tb.Helper()
	ctx := context.Background()
	stubs := map[string]wazero.HostModuleBuilder{}
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		if wasi && mod == wasi_snapshot_preview1.ModuleName {
			continue
		}
		b, ok := stubs[mod]
		if !ok {
			b = r.NewHostModuleBuilder(mod)
			stubs[mod] = b
		}
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(context.Context, api.Module, []uint64) {
				panic(fmt.Sprintf("stub %s.%s called", mod, name))
			}), f.ParamTypes(), f.ResultTypes()).
			Export(name)
	}
	if wasi {
		if _, err := wasi_snapshot_preview1.Instantiate(ctx, r); err != nil {
			tb.Fatal(err)
		}
	}
	for mod, b := range stubs {
		if _, err := b.Instantiate(ctx); err != nil {
			tb.Fatalf("stub module %s: %v", mod, err)
		}
	}
}

// moduleConfig runs no start function, or (initialize) _initialize with fixed clocks and a
// seeded random source, as the sandbox's deterministic WASI does.
func moduleConfig(initialize bool) wazero.ModuleConfig {
	mc := wazero.NewModuleConfig().WithName("").WithStartFunctions()
	if initialize {
		mc = mc.WithStartFunctions("_initialize").
			WithWalltime(func() (int64, int32) { return 1_700_000_000, 0 }, 1).
			WithNanotime(func() int64 { return 1e9 }, 1).
			WithNanosleep(func(int64) {}).
			WithOsyield(func() {}).
			WithRandSource(randv2.NewChaCha8([32]byte{1}))
	}
	return mc
}

// equivalent checks that merged is orig with its data segments merged: the other sections
// byte for byte, the same imports and exports, and the same outcome of instantiation (the
// same memory, or both failing at the same stage), without and (if initialize) with
// _initialize run.
func equivalent(t *testing.T, cfg wazero.RuntimeConfig, orig, merged []byte, initialize bool) {
	t.Helper()
	a, err := wasmopt.Sections(orig)
	if err != nil {
		t.Fatal(err)
	}
	b, err := wasmopt.Sections(merged)
	if err != nil {
		t.Fatalf("transformed module: %v", err)
	}
	if !slices.EqualFunc(a, b, bytes.Equal) {
		t.Errorf("sections other than data and data count differ")
	}
	runs := []bool{false}
	if initialize {
		runs = append(runs, true)
	}
	for _, init := range runs {
		x, y := instantiate(t, cfg, orig, init), instantiate(t, cfg, merged, init)
		if x.stage != y.stage {
			t.Fatalf("initialize=%v: original: %s %v; transformed: %s %v", init, x.stage, x.err, y.stage, y.err)
		}
		if !slices.Equal(x.imports, y.imports) {
			t.Errorf("imports differ:\n%s\n%s", strings.Join(x.imports, "\n"), strings.Join(y.imports, "\n"))
		}
		if !slices.Equal(x.exports, y.exports) {
			t.Errorf("exports differ:\n%s\n%s", strings.Join(x.exports, "\n"), strings.Join(y.exports, "\n"))
		}
		if !bytes.Equal(x.memory, y.memory) {
			t.Errorf("initialize=%v: memory differs (%d and %d bytes) from byte %d", init, len(x.memory), len(y.memory), firstDiff(x.memory, y.memory))
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
