package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store/sqlite"
)

// asExample returns the directory of an AssemblyScript example orchestration, relative to this
// package.
func asExample(name string) string {
	return filepath.Join("..", "..", "wasm-examples", "assemblyscript", name)
}

// needNpm skips a test where npm is not installed (the AssemblyScript fixtures are committed,
// so the rest of the suite needs no Node.js).
func needNpm(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("npm"); err != nil {
		skipWithoutToolchain(t, "npm is not installed, so AssemblyScript projects cannot be built here: "+asToolchainHint)
	}
}

func TestIsAssemblyScriptProject(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  bool
	}{
		{"package.json and asconfig.json", map[string]string{"package.json": "{}", "asconfig.json": "{}"}, true},
		{"package.json alone (a JavaScript project)", map[string]string{"package.json": "{}"}, false},
		{"asconfig.json alone", map[string]string{"asconfig.json": "{}"}, false},
		{"empty", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := isASProject(writeFiles(t, tc.files)); got != tc.want {
				t.Errorf("isASProject = %v, want %v", got, tc.want)
			}
		})
	}
	if isASProject(filepath.Join(t.TempDir(), "absent")) {
		t.Error("isASProject of a missing directory")
	}
}

// TestBuildAssemblyScriptBadProject checks the errors of projects that cannot be built, which are found
// before npm is needed.
func TestBuildAssemblyScriptBadProject(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"not a project", map[string]string{"main.ts": ""}, "holds no package.json and asconfig.json"},
		{"invalid package.json", map[string]string{"package.json": "{", "asconfig.json": "{}"}, "package.json is not valid JSON"},
		{"no build script", map[string]string{"package.json": `{"scripts": {"test": "x"}}`, "asconfig.json": "{}"}, "package.json has no build script"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &guestBuilder{cacheDir: t.TempDir(), log: io.Discard}
			_, err := b.buildAS(context.Background(), writeFiles(t, tc.files))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("buildAS: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestRunAssemblyScriptFixtures runs the committed modules of the AssemblyScript examples: no Node.js
// needed.
func TestRunAssemblyScriptFixtures(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "d.db")
	r := runCLI("run", filepath.Join(asExample("hello"), "hello.wasm"), "--input", `"World"`, "--db", db)
	if r.code != 0 || !jsonEqual(t, r.stdout, `"Hello, World! Bonjour, World! Hola, World!"`) {
		t.Fatalf("hello: want the greetings and exit code 0, got %v", r)
	}
	if !strings.Contains(r.stderr, "log info: greeted name=World greetings=3") {
		t.Errorf("hello: stderr lacks the orchestration's log line:\n%s", r.stderr)
	}
	r = runCLI("run", filepath.Join(asExample("hello"), "hello.wasm"), "--input", `42`, "--db", db)
	if r.code == 0 || !strings.Contains(r.stderr, "bad_payload") {
		t.Errorf("hello: a number as the name: want a bad_payload failure, got %v", r)
	}
	r = runCLI("run", filepath.Join(asExample("fanout"), "fanout.wasm"), "--input", `{"items": 10}`, "--db", db)
	if r.code != 0 || !jsonEqual(t, r.stdout, `{"count":10,"sum_of_squares":385}`) {
		t.Errorf("fanout: want 10 squares summed, got %v", r)
	}
	r = runCLI("run", filepath.Join(asExample("approval"), "approval.wasm"), "--input", `{"request":"laptop","timeout_ms":1}`, "--db", db)
	if r.code != 0 || !jsonEqual(t, r.stdout, `{"request":"laptop","status":"timed out"}`) {
		t.Errorf("approval: want a timeout, got %v", r)
	}
}

// TestAssemblyScriptBenchGuestFixture loads the committed benchmark guest and checks that it registers the
// orchestrations of the workloads.
func TestAssemblyScriptBenchGuestFixture(t *testing.T) {
	t.Parallel()
	wasm, err := os.ReadFile(filepath.Join("..", "..", "internal", "bench", "guest-assemblyscript", "bench.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	checkBenchRegistrations(t, wasm)
}

func checkBenchRegistrations(t *testing.T, wasm []byte) {
	t.Helper()
	st, err := sqlite.Open(sqlite.MemoryPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := host.New(st)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := h.LoadModule(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range mod.Orchestrations {
		names = append(names, r.Name)
	}
	if got, want := strings.Join(names, " "), "bench_fanout bench_one bench_sequence bench_ticks bench_timer"; got != want {
		t.Errorf("the AssemblyScript bench guest registers %s, want %s", got, want)
	}
}

// TestBuildAssemblyScript builds the hello example from its directory as `durohost run` does (npm ci, then
// npm run build): the module is the committed one byte for byte, and a second build comes from
// the cache. It also builds the benchmark guest as durohost bench --guest assemblyscript does.
// The builds share the examples' node_modules, so the test does not run in parallel.
func TestBuildAssemblyScript(t *testing.T) {
	needNpm(t)
	var log bytes.Buffer
	b := &guestBuilder{cacheDir: t.TempDir(), log: &log}
	wasm, err := b.buildAS(context.Background(), asExample("hello"))
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join(asExample("hello"), "hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(wasm, committed) {
		t.Errorf("the build of %s (%d bytes) differs from the committed hello.wasm (%d bytes): rebuild it with wasm-examples/assemblyscript/build.sh",
			asExample("hello"), len(wasm), len(committed))
	}
	if !strings.Contains(log.String(), "compiling AssemblyScript project") {
		t.Errorf("the first build says nothing:\n%s", log.String())
	}
	log.Reset()
	again, err := b.buildAS(context.Background(), asExample("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, wasm) || log.Len() != 0 {
		t.Errorf("the second build did not come from the cache (log %q)", log.String())
	}

	bench, err := b.buildBenchGuest(context.Background(), "assemblyscript", filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	checkBenchRegistrations(t, bench)
}

// TestRunHelloAssemblyScriptDirectory runs the AssemblyScript example from its directory, as its README
// says.
func TestRunHelloAssemblyScriptDirectory(t *testing.T) {
	needNpm(t)
	r := runCLI("run", asExample("hello"), "--input", `"Ada"`, "--db", filepath.Join(t.TempDir(), "d.db"))
	if r.code != 0 || !jsonEqual(t, r.stdout, `"Hello, Ada! Bonjour, Ada! Hola, Ada!"`) {
		t.Fatalf("want the greetings and exit code 0, got %v", r)
	}
}
