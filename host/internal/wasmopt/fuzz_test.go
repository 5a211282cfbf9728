package wasmopt_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/durohost/durohost/host/internal/wasmopt"
	"github.com/durohost/durohost/internal/testguest"
)

// FuzzParse checks that Parse never panics, that what it refuses wraps ErrMalformed, and that
// on what it accepts Check and the transformations do not panic and give modules it reads
// again (WithGlobalsExported: the very layout). (It does not compare with wazero: wazero
// allocates by the counts a module declares, so that some of the inputs Parse refuses would
// exhaust the test's memory. TestParseAgreesWithWazero compares them on wazero's own tests.)
func FuzzParse(f *testing.F) {
	for _, c := range mergeCases {
		f.Add(c.wasm)
	}
	for _, c := range imageCases {
		f.Add(c.wasm)
	}
	f.Add(kitchenSink)
	f.Add(nest(20, 0x03, 3))
	seeds, _ := filepath.Glob(filepath.Join(testguest.Root(), "conformance", "testdata", "wat", "*.wasm"))
	seeds = append(seeds, "testdata/guest.wasm", "testdata/guest-as.wasm")
	for _, path := range seeds {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, wasm []byte) {
		m, err := wasmopt.Parse(wasm)
		if err != nil {
			if !errors.Is(err, wasmopt.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		wasmopt.Check(m, wasmopt.Limits{})
		for _, c := range m.Code {
			if c.Offset < 0 || c.Expr < c.Offset || c.End != c.Offset+c.Size || c.End > len(wasm) || wasm[c.End-1] != 0x0b {
				t.Fatalf("body at %d, %d, %d (%d bytes) in a module of %d bytes", c.Offset, c.Expr, c.End, c.Size, len(wasm))
			}
		}
		reparse := func(what string, b []byte) {
			if _, err := wasmopt.Parse(b); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
		merged, err := m.MergeDataSegments()
		if err != nil {
			t.Fatal(err)
		}
		reparse("merged", merged)
		stripped, img, err := m.DataImage()
		if err != nil {
			t.Fatal(err)
		}
		reparse("stripped", stripped)
		if img != nil {
			img.WriteAt(&recorder{})
		}
		n, _ := m.WithGlobalsExported()
		again, err := wasmopt.Parse(n.Bytes())
		if err != nil || !reflect.DeepEqual(n, again) {
			t.Fatalf("with globals exported: %v, or a layout other than the one Parse reads", err)
		}
	})
}

// TestParseAgreesWithWazero reads every module of wazero's own test suites (WebAssembly 1.0
// and 2.0 specification tests, fuzz cases) that its module holds: every one that wazero
// compiles with its default features Parse must accept.
func TestParseAgreesWithWazero(t *testing.T) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/tetratelabs/wazero")
	cmd.Dir = testguest.Root()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("locate wazero's module: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "internal", "integration_test")
	var files []string
	for _, pattern := range []string{"spectest/v1/testdata/*.wasm", "spectest/v2/testdata/*.wasm", "fuzzcases/testdata/*.wasm", "engine/testdata/*.wasm"} {
		m, _ := filepath.Glob(filepath.Join(dir, pattern))
		files = append(files, m...)
	}
	if len(files) < 1000 {
		t.Fatalf("%d modules of wazero's test suites in %s, want thousands", len(files), dir)
	}
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	compiled, parsed := 0, 0
	for _, path := range files {
		wasm := readFile(t, path)
		cm, werr := r.CompileModule(ctx, wasm)
		if werr == nil {
			cm.Close(ctx)
			compiled++
		}
		_, err := wasmopt.Parse(wasm)
		if err == nil {
			parsed++
		}
		if werr == nil && err != nil {
			t.Errorf("%s: wazero compiles it, Parse refuses it: %v", filepath.Base(path), err)
		}
	}
	t.Logf("%d modules: wazero compiles %d, Parse accepts %d", len(files), compiled, parsed)
}
