package wasmopt_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/durohost/durohost/host/internal/wasmopt"
	"github.com/durohost/durohost/internal/testguest"
)

// BenchmarkInstantiate measures a cold instantiation of the Go test guest, original and with
// its data segments merged, with the sandbox's runtime configuration: without start
// functions (the data segments only) and with _initialize (a Go guest ready to run).
func BenchmarkInstantiate(b *testing.B) {
	orig := testguest.Build(b, "conformance/guests/go", "")
	merged, err := wasmopt.MergeDataSegments(orig)
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range []struct {
		name string
		wasm []byte
	}{{"original", orig}, {"merged", merged}} {
		for _, init := range []bool{false, true} {
			name := m.name + "/data"
			if init {
				name = m.name + "/initialize"
			}
			b.Run(name, func(b *testing.B) {
				ctx := context.Background()
				r := wazero.NewRuntimeWithConfig(ctx, sandboxConfig())
				defer r.Close(ctx)
				cm, err := r.CompileModule(ctx, m.wasm)
				if err != nil {
					b.Fatal(err)
				}
				provide(b, r, cm, true)
				for b.Loop() {
					mod, err := r.InstantiateModule(ctx, cm, moduleConfig(init))
					if err != nil {
						b.Fatal(err)
					}
					mod.Close(ctx)
				}
				n, _ := wasmopt.DataSegments(m.wasm)
				b.ReportMetric(float64(n), "segments")
			})
		}
	}
}

// BenchmarkMergeDataSegments measures the transformation of the Go test guest.
func BenchmarkMergeDataSegments(b *testing.B) {
	wasm := testguest.Build(b, "conformance/guests/go", "")
	b.SetBytes(int64(len(wasm)))
	for b.Loop() {
		if _, err := wasmopt.MergeDataSegments(wasm); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse measures Parse, and Parse then Check, of the Go test guest (about 5 MB, 3 MB
// of code decoded instruction by instruction).
func BenchmarkParse(b *testing.B) {
	wasm := testguest.Build(b, "conformance/guests/go", "")
	b.Run("parse", func(b *testing.B) {
		b.SetBytes(int64(len(wasm)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := wasmopt.Parse(wasm); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse+check", func(b *testing.B) {
		b.SetBytes(int64(len(wasm)))
		b.ReportAllocs()
		for b.Loop() {
			m, err := wasmopt.Parse(wasm)
			if err != nil {
				b.Fatal(err)
			}
			if err := wasmopt.Check(m, wasmopt.DefaultLimits); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCheckNestingBomb measures refusing a function nested 12,500 blocks deep: Parse,
// then Check.
func BenchmarkCheckNestingBomb(b *testing.B) {
	wasm := nest(12500, 0x02, 0)
	for b.Loop() {
		m, err := wasmopt.Parse(wasm)
		if err != nil {
			b.Fatal(err)
		}
		if err := wasmopt.Check(m, wasmopt.DefaultLimits); err == nil {
			b.Fatal("accepted")
		}
	}
}

// BenchmarkCompileAtLimits measures how long wazero's compiler takes on one function at
// DefaultLimits and at twice them: blocks, ifs and loops nested MaxDepth deep, and locals
// read inside nested loops at MaxLoopCost (a cold runtime each time, no cache). The figures
// are in RATIONALE.md ("Why check function bodies before compiling?").
func BenchmarkCompileAtLimits(b *testing.B) {
	d := wasmopt.DefaultLimits.MaxDepth
	cost := wasmopt.DefaultLimits.MaxLoopCost
	type module struct {
		name string
		wasm []byte
	}
	var modules []module
	for _, k := range []struct {
		name string
		op   byte
	}{{"block", 0x02}, {"if", 0x04}, {"loop", 0x03}} {
		modules = append(modules, module{fmt.Sprintf("%s/depth=%d", k.name, d), nest(d, k.op, 0)},
			module{fmt.Sprintf("%s/depth=%d", k.name, 2*d), nest(2*d, k.op, 0)})
	}
	for _, loops := range []int{1, 10, 100} {
		for _, c := range []uint64{cost, 2 * cost} {
			locals := uint32(math.Sqrt(float64(c) / float64(loops)))
			modules = append(modules, module{fmt.Sprintf("locals/loops=%d/locals=%d/cost=%d", loops, locals, c), nest(loops, 0x03, locals)})
		}
	}
	ctx := context.Background()
	for _, m := range modules {
		b.Run(m.name, func(b *testing.B) {
			for b.Loop() {
				r := wazero.NewRuntime(ctx)
				if _, err := r.CompileModule(ctx, m.wasm); err != nil {
					b.Fatal(err)
				}
				r.Close(ctx)
			}
		})
	}
}
