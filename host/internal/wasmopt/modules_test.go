package wasmopt_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/durohost/durohost/host/internal/wasmopt"
	"github.com/durohost/durohost/internal/testguest"
)

// goGuests are the Go guest packages of the repository (reactors built with testguest).
var goGuests = []string{
	"conformance/guests/go",
	"conformance/guests/nondet",
	"wasm-examples/go/approval",
	"wasm-examples/go/fanout",
	"wasm-examples/go/hello",
	"wasm-examples/go/monitor",
	"wasm-examples/go/orders",
	"wasm-examples/go/saga",
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMergeDataSegmentsRealModules transforms modules of several toolchains and checks that
// each is equivalent to its original (see equivalent): Go guests (also after _initialize),
// a C reactor, an AssemblyScript module and the WAT fixtures of the conformance suite.
func TestMergeDataSegmentsRealModules(t *testing.T) {
	type module struct {
		name       string
		wasm       func(t *testing.T) []byte
		merges     bool // whether the segments must become fewer
		initialize bool // whether to compare memory after _initialize too
		cfg        wazero.RuntimeConfig
	}
	var tests []module
	for i, pkg := range goGuests {
		if testing.Short() && i > 0 {
			break
		}
		// The first with the sandbox's configuration, the others with the interpreter, which
		// compiles 5 times faster (instantiation is the same code).
		cfg := interpreter()
		if i == 0 {
			cfg = sandboxConfig()
		}
		tests = append(tests, module{pkg, func(t *testing.T) []byte { return testguest.Build(t, pkg, "") }, true, true, cfg})
	}
	tests = append(tests,
		module{"testdata/guest.wasm (C)", func(t *testing.T) []byte { return readFile(t, "testdata/guest.wasm") }, true, true, sandboxConfig()},
		module{"testdata/guest-as.wasm (AssemblyScript)", func(t *testing.T) []byte { return readFile(t, "testdata/guest-as.wasm") }, true, false, sandboxConfig()},
	)
	wats, err := filepath.Glob(filepath.Join(testguest.Root(), "conformance", "testdata", "wat", "*.wasm"))
	if err != nil || len(wats) == 0 {
		t.Fatalf("no WAT fixtures: %v", err)
	}
	for _, path := range wats {
		tests = append(tests, module{"wat/" + filepath.Base(path), func(t *testing.T) []byte { return readFile(t, path) }, false, false, sandboxConfig()})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := tt.wasm(t)
			merged, err := wasmopt.MergeDataSegments(orig)
			if err != nil {
				t.Fatal(err)
			}
			before, _ := wasmopt.DataSegments(orig)
			after, err := wasmopt.DataSegments(merged)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d bytes, %d data segments -> %d bytes, %d data segments", len(orig), before, len(merged), after)
			if tt.merges && after >= before {
				t.Errorf("segments not merged")
			}
			if after == before && &merged[0] != &orig[0] {
				t.Errorf("nothing merged, but the input was not returned as is")
			}
			again, err := wasmopt.MergeDataSegments(merged)
			if err != nil || &again[0] != &merged[0] {
				t.Errorf("a second pass changed the module (err %v)", err)
			}
			equivalent(t, tt.cfg, orig, merged, tt.initialize)
		})
	}
}
