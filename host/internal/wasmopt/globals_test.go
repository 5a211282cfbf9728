package wasmopt_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/durohost/durohost/host/internal/wasmopt"
	"github.com/durohost/durohost/internal/testguest"
)

// globalOf is a global of type typ (mutable when mut) with the constant initialiser init.
func globalOf(typ byte, mut bool, init ...byte) []byte {
	m := byte(0)
	if mut {
		m = 1
	}
	return cat([]byte{typ, m}, init, []byte{0x0b})
}

func globals(gs ...[]byte) []byte { return sec(6, append([][]byte{u32(uint32(len(gs)))}, gs...)...) }

// exportGlobal is an export entry of global idx.
func exportGlobal(name string, idx uint32) []byte {
	return cat(u32(uint32(len(name))), []byte(name), []byte{3}, u32(idx))
}

func exportSection(entries ...[]byte) []byte {
	return sec(7, append([][]byte{u32(uint32(len(entries)))}, entries...)...)
}

func TestExportGlobals(t *testing.T) {
	i32 := func(v int32) []byte { return cat([]byte{0x41}, s32(v)) }
	tests := []struct {
		name string
		wasm []byte
		want []string // nil: returned as is
	}{
		{"mutable and immutable", mod(memory(1), globals(globalOf(0x7f, true, i32(5)...), globalOf(0x7f, false, i32(6)...), globalOf(0x7e, true, 0x42, 7)),
			exportSection(exportGlobal("g1", 1))), []string{"durohost.global.0", "durohost.global.2"}},
		{"floats", mod(memory(1), globals(globalOf(0x7d, true, 0x43, 0, 0, 0x80, 0x3f), globalOf(0x7c, true, 0x44, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f)),
			exportSection()), []string{"durohost.global.0", "durohost.global.1"}},
		{"no mutable global", mod(globals(globalOf(0x7f, false, i32(1)...)), exportSection()), nil},
		{"no export section", mod(globals(globalOf(0x7f, true, i32(1)...))), nil},
		{"no global section", mod(exportSection()), nil},
		{"imported global", mod(sec(2, []byte{1}, name("env"), name("g"), []byte{3, 0x7f, 1}), globals(globalOf(0x7f, true, i32(1)...)), exportSection()), nil},
		{"reference global", mod(globals(globalOf(0x70, true, 0xd0, 0x70)), exportSection()), nil},
		{"name taken", mod(globals(globalOf(0x7f, true, i32(1)...)), exportSection(exportGlobal("durohost.global.0", 0))), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, names, err := wasmopt.ExportGlobals(tt.wasm)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == nil {
				if names != nil || &out[0] != &tt.wasm[0] {
					t.Fatalf("module changed (names %v), want it as is", names)
				}
				return
			}
			if !slices.Equal(names, tt.want) {
				t.Fatalf("names %v, want %v", names, tt.want)
			}
			ctx := context.Background()
			r := wazero.NewRuntimeWithConfig(ctx, interpreter())
			defer r.Close(ctx)
			m, err := r.Instantiate(ctx, out)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range tt.want {
				if _, ok := m.ExportedGlobal(n).(api.MutableGlobal); !ok {
					t.Errorf("%s is not exported as a mutable global", n)
				}
			}
		})
	}
}

func TestExportGlobalsMalformed(t *testing.T) {
	for _, tt := range []struct {
		name string
		wasm []byte
	}{
		{"not wasm", []byte("\x7fELF\x01\x00\x00\x00")},
		{"truncated global", mod(sec(6, u32(1), []byte{0x7f}), exportSection())},
		{"unterminated initialiser", mod(sec(6, u32(1), []byte{0x7f, 1, 0x41, 1}), exportSection())},
		{"export past the end", mod(globals(globalOf(0x7f, true, 0x41, 1)), sec(7, u32(1), []byte{9, 'a'}))},
		{"unknown initialiser", mod(globals(globalOf(0x7f, true, 0x99)), exportSection())},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := wasmopt.ExportGlobals(tt.wasm); !errors.Is(err, wasmopt.ErrMalformed) {
				t.Fatalf("error %v, want ErrMalformed", err)
			}
		})
	}
}

// TestExportGlobalsGoGuest: a Go guest's mutable globals are all exported and the module is
// otherwise the same (equivalent: same memory, with and without initialisation).
func TestExportGlobalsGoGuest(t *testing.T) {
	orig := testguest.Build(t, goGuests[0], "")
	out, names, err := wasmopt.ExportGlobals(orig)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("no global exported")
	}
	t.Logf("%d mutable globals exported", len(names))
	a, err := wasmopt.Sections(orig)
	if err != nil {
		t.Fatal(err)
	}
	b, err := wasmopt.Sections(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Fatalf("%d sections, then %d", len(a), len(b))
	}
	x, y := instantiate(t, sandboxConfig(), orig, true), instantiate(t, sandboxConfig(), out, true)
	if x.stage != "" || y.stage != "" {
		t.Fatalf("%s %v / %s %v", x.stage, x.err, y.stage, y.err)
	}
	if firstDiff(x.memory, y.memory) != len(x.memory) || len(x.memory) != len(y.memory) {
		t.Fatal("memory after initialisation differs")
	}
	if !slices.Equal(x.exports, y.exports) {
		t.Fatalf("exports of functions and memories changed: %v, then %v", x.exports, y.exports)
	}
}

func TestSnapshottable(t *testing.T) {
	goID := sec(0, name("go:buildid"), []byte("x"))
	for _, tt := range []struct {
		name string
		wasm func(t *testing.T) []byte
		want bool
	}{
		{"Go guest", func(t *testing.T) []byte { return testguest.Build(t, goGuests[0], "") }, true},
		{"C reactor", func(t *testing.T) []byte { return readFile(t, "testdata/guest.wasm") }, false},
		{"AssemblyScript module", func(t *testing.T) []byte { return readFile(t, "testdata/guest-as.wasm") }, false},
		{"Go build ID", func(*testing.T) []byte { return mod(goID, memory(1)) }, true},
		{"Go build ID and a start section", func(*testing.T) []byte {
			f := function()
			return mod(f[0], f[1], sec(8, u32(0)), f[2], goID)
		}, false},
		{"other custom section", func(*testing.T) []byte { return mod(sec(0, name("producers"), []byte("x")), memory(1)) }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := wasmopt.Snapshottable(tt.wasm(t))
			if err != nil || got != tt.want {
				t.Fatalf("Snapshottable = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if _, err := wasmopt.Snapshottable(mod(sec(0, []byte{9, 'a'}))); !errors.Is(err, wasmopt.ErrMalformed) {
		t.Fatalf("custom section name past its end: %v, want ErrMalformed", err)
	}
}

// TestWithGlobalsExported checks that the layout WithGlobalsExported returns is the one Parse
// reads from its bytes, for modules with sections before and after the export section.
func TestWithGlobalsExported(t *testing.T) {
	i32 := []byte{0x41, 5}
	tests := []struct {
		name string
		wasm func(t *testing.T) []byte
	}{
		{"Go guest", func(t *testing.T) []byte { return testguest.Build(t, goGuests[0], "") }},
		{"small", func(*testing.T) []byte {
			return mod(sec(0, name("a")), memory(1), globals(globalOf(0x7f, true, i32...)), exportSection(exportGlobal("g", 0)),
				sec(0, name("b"), []byte("bb")), dataCount(2), data(active(0, "x"), passive("yz")), sec(0, name("c")))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := wasmopt.Parse(tt.wasm(t))
			if err != nil {
				t.Fatal(err)
			}
			n, names := m.WithGlobalsExported()
			if n == m || len(names) == 0 {
				t.Fatalf("nothing exported")
			}
			again, err := wasmopt.Parse(n.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(n, again) {
				t.Errorf("layout differs from the one Parse reads")
			}
			for _, d := range n.Data {
				if len(d.Init) > 0 && &d.Init[0] == &m.Data[0].Init[0] {
					t.Errorf("a data segment still refers to the original module")
				}
			}
			out, names2, err := m.ExportGlobals()
			if err != nil || !bytes.Equal(out, n.Bytes()) || !slices.Equal(names, names2) {
				t.Errorf("ExportGlobals differs from WithGlobalsExported (%v)", err)
			}
		})
	}
	m, err := wasmopt.Parse(mod(memory(1)))
	if err != nil {
		t.Fatal(err)
	}
	if n, names := m.WithGlobalsExported(); n != m || names != nil {
		t.Errorf("a module without globals was changed")
	}
}
