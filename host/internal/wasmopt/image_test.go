package wasmopt_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/durohost/durohost/host/internal/wasmopt"
	"github.com/durohost/durohost/internal/testguest"
)

// imageEquivalent checks that stripped and image are orig split by DataImage: the sections
// other than data and data count are the same, stripped has no data segment, and the
// memory of orig after instantiation is the memory of stripped with image written at 0.
func imageEquivalent(t *testing.T, cfg wazero.RuntimeConfig, orig, stripped, image []byte) {
	t.Helper()
	a, err := wasmopt.Sections(orig)
	if err != nil {
		t.Fatal(err)
	}
	b, err := wasmopt.Sections(stripped)
	if err != nil {
		t.Fatalf("stripped module: %v", err)
	}
	if !slices.EqualFunc(a, b, bytes.Equal) {
		t.Errorf("sections other than data and data count differ")
	}
	if n, err := wasmopt.DataSegments(stripped); err != nil || n != 0 {
		t.Errorf("stripped module has %d data segments (%v), want 0", n, err)
	}
	x, y := instantiate(t, cfg, orig, false), instantiate(t, cfg, stripped, false)
	if x.stage != "" || y.stage != "" {
		t.Fatalf("original: %s %v; stripped: %s %v; want both to instantiate", x.stage, x.err, y.stage, y.err)
	}
	if len(image) > len(y.memory) {
		t.Fatalf("image of %d bytes, initial memory of %d", len(image), len(y.memory))
	}
	if bytes.ContainsFunc(y.memory, func(r rune) bool { return r != 0 }) {
		t.Fatalf("the stripped module's memory is not zero")
	}
	copy(y.memory, image)
	if !bytes.Equal(x.memory, y.memory) {
		t.Errorf("memory differs (%d and %d bytes) from byte %d", len(x.memory), len(y.memory), firstDiff(x.memory, y.memory))
	}
}

// imageCases are modules with whether DataImage splits them (false: returned as is).
var imageCases = []struct {
	name  string
	wasm  []byte
	split bool
}{
	{"no data", mod(memory(1)), false},
	{"no memory", mod(data(active(0, "a"))), false},
	{"one segment", mod(memory(1), data(active(8, "abc"))), true},
	{"later overwrites", mod(memory(1), data(active(10, "aaaa"), active(11, "bb"), active(9, "ccc"))), true},
	{"unsorted with a gap", mod(memory(2), data(active(70000, "cd"), active(0, "ab"))), true},
	{"empty segment", mod(memory(1), data(active(5, ""), active(6, "x"))), true},
	{"data count", mod(memory(1), dataCount(2), data(active(0, "a"), active(1, "b"))), true},
	{"up to the end of memory", mod(memory(1), data(active(65533, "abc"))), true},
	{"beyond the initial memory", mod(memory(1), data(active(65534, "abc"))), false},
	{"data count and memory.init", mod(append(append([][]byte{}, function(memoryInit...)[:2]...),
		memory(1), dataCount(2), function(memoryInit...)[2], data(active(0, "a"), active(1, "b")))...), false},
	{"passive", mod(memory(1), data(active(0, "a"), passive("p"))), false},
	{"global offset", mod(memory(1), global(4), data(active(0, "a"), activeGlobal(0, "g"))), false},
	{"memory 1", mod(memory(1), data(activeMem(1, 1, "b"))), false},
	{"negative offset", mod(memory(1), data(active(-1, "b"))), false},
	{"imported memory", mod(sec(2, []byte{1}, name("env"), name("memory"), []byte{2, 0, 1}), data(active(0, "a"))), false},
	{"shared memory", mod(sec(5, []byte{1, 3}, u32(1), u32(1)), data(active(0, "a"))), false},
	{"two memories", mod(sec(5, []byte{2, 0}, u32(1), []byte{0}, u32(1)), data(active(0, "a"))), false},
}

func TestDataImage(t *testing.T) {
	for _, tt := range imageCases {
		t.Run(tt.name, func(t *testing.T) {
			stripped, image, err := wasmopt.DataImage(tt.wasm)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.split {
				if image != nil || &stripped[0] != &tt.wasm[0] || len(stripped) != len(tt.wasm) {
					t.Fatalf("module split (image of %d bytes), want it returned as is", len(image))
				}
				return
			}
			if image == nil {
				t.Fatal("no image, want the module split")
			}
			imageEquivalent(t, interpreter(), tt.wasm, stripped, image)
		})
	}
}

func TestDataImageMalformed(t *testing.T) {
	for _, tt := range []struct {
		name string
		wasm []byte
	}{
		{"not wasm", []byte("\x7fELF\x01\x00\x00\x00")},
		{"truncated memory section", mod(sec(5, []byte{0x80}), data(active(0, "a")))},
		{"truncated memory minimum", mod(sec(5, []byte{1, 0, 0x80}), data(active(0, "a")))},
		{"truncated data", mod(memory(1), sec(11, u32(1), []byte{0, 0x41, 0}))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := wasmopt.DataImage(tt.wasm); !errors.Is(err, wasmopt.ErrMalformed) {
				t.Fatalf("error %v, want ErrMalformed", err)
			}
		})
	}
}

// TestDataImageRealModules splits modules of several toolchains: Go guests, a C reactor, an
// AssemblyScript module and the WAT fixtures, and checks each (see imageEquivalent).
func TestDataImageRealModules(t *testing.T) {
	type module struct {
		name string
		wasm func(t *testing.T) []byte
	}
	var tests []module
	for i, pkg := range goGuests {
		if testing.Short() && i > 0 {
			break
		}
		tests = append(tests, module{pkg, func(t *testing.T) []byte { return testguest.Build(t, pkg, "") }})
	}
	tests = append(tests,
		module{"testdata/guest.wasm (C)", func(t *testing.T) []byte { return readFile(t, "testdata/guest.wasm") }},
		module{"testdata/guest-as.wasm (AssemblyScript)", func(t *testing.T) []byte { return readFile(t, "testdata/guest-as.wasm") }},
	)
	wats, err := filepath.Glob(filepath.Join(testguest.Root(), "conformance", "testdata", "wat", "*.wasm"))
	if err != nil || len(wats) == 0 {
		t.Fatalf("no WAT fixtures: %v", err)
	}
	for _, path := range wats {
		tests = append(tests, module{"wat/" + filepath.Base(path), func(t *testing.T) []byte { return readFile(t, path) }})
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := tt.wasm(t)
			stripped, image, err := wasmopt.DataImage(orig)
			if err != nil {
				t.Fatal(err)
			}
			if image == nil {
				t.Logf("not split")
				if i == 0 || tt.name[:8] == "testdata" {
					t.Errorf("a Go guest, the C reactor and the AssemblyScript module must be split")
				}
				return
			}
			t.Logf("%d bytes -> %d bytes and an image of %d bytes", len(orig), len(stripped), len(image))
			cfg := interpreter()
			if i == 0 {
				cfg = sandboxConfig()
			}
			imageEquivalent(t, cfg.WithMemoryLimitPages(65536), orig, stripped, image)
		})
	}
}
