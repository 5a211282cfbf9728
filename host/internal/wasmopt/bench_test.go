package wasmopt_test

import (
	"context"
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
