package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store/sqlite"
)

// cExample returns the directory of a C example orchestration, relative to this package.
func cExample(name string) string { return filepath.Join("..", "..", "wasm-examples", "c", name) }

// needClang skips a test where clang is not installed (the C fixtures are committed, so the
// rest of the suite needs no C toolchain).
func needClang(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("clang"); err != nil {
		skipWithoutToolchain(t, "clang is not installed: "+cToolchainHint)
	}
}

// writeFiles writes files (name to content) into a new temporary directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestIsCProject(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  bool
	}{
		{"c file", map[string]string{"main.c": ""}, true},
		{"makefile", map[string]string{"Makefile": "all:\n"}, true},
		{"GNUmakefile", map[string]string{"GNUmakefile": "all:\n"}, true},
		{"makefile of a Rust project", map[string]string{"Makefile": "", "Cargo.toml": ""}, false},
		{"makefile of an AssemblyScript project", map[string]string{"Makefile": "", "package.json": "{}"}, false},
		{"makefile of a Go package", map[string]string{"Makefile": "", "main.go": "package main"}, false},
		{"c file of a Rust crate", map[string]string{"Cargo.toml": "", "shim.c": ""}, false},
		{"c file of a Python project", map[string]string{"main.py": "", "ext.c": ""}, false},
		{"c file of a JavaScript project", map[string]string{"main.js": "", "addon.c": ""}, false},
		{"c file of an AssemblyScript project", map[string]string{"package.json": "{}", "x.c": ""}, false},
		{"c file of a Go package", map[string]string{"main.go": "package main", "x.c": ""}, false},
		{"c files and a Makefile", map[string]string{"Makefile": "", "a.c": "", "b.c": ""}, true},
		{"header only", map[string]string{"x.h": ""}, false},
		{"empty", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := isCProject(writeFiles(t, tc.files)); got != tc.want {
				t.Errorf("isCProject = %v, want %v", got, tc.want)
			}
		})
	}
	if isCProject(filepath.Join(t.TempDir(), "absent")) {
		t.Error("isCProject of a missing directory")
	}
}

// TestRunHelloCFixture runs the committed C example module: no C toolchain needed.
func TestRunHelloCFixture(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "d.db")
	r := runCLI("run", filepath.Join(cExample("hello"), "hello.wasm"), "--input", `"World"`, "--db", db)
	if r.code != 0 || !jsonEqual(t, r.stdout, `"Hello, World! Bonjour, World! Hola, World!"`) {
		t.Fatalf("want the greetings and exit code 0, got %v", r)
	}
	if !strings.Contains(r.stderr, "log info: greeted name=World greetings=3") {
		t.Errorf("stderr lacks the orchestration's log line:\n%s", r.stderr)
	}
	long := strings.Repeat("é", 300) // 600 bytes: more than a fixed buffer would hold
	r = runCLI("run", filepath.Join(cExample("hello"), "hello.wasm"), "--input", `"`+long+`"`, "--db", db)
	if want := fmt.Sprintf(`"Hello, %[1]s! Bonjour, %[1]s! Hola, %[1]s!"`, long); r.code != 0 || !jsonEqual(t, r.stdout, want) {
		t.Errorf("a long name: want every greeting whole and exit code 0, got %v", r)
	}
	r = runCLI("run", filepath.Join(cExample("hello"), "hello.wasm"), "--input", `42`, "--db", db)
	if r.code == 0 || !strings.Contains(r.stderr, "bad_payload") {
		t.Errorf("a number as the name: want a bad_payload failure, got %v", r)
	}
}

// TestRunApprovalCFixture runs the committed C approval module until its timer wins.
func TestRunApprovalCFixture(t *testing.T) {
	t.Parallel()
	r := runCLI("run", filepath.Join(cExample("approval"), "approval.wasm"), "--input", `{"request":"coffee","timeout_ms":20}`,
		"--db", filepath.Join(t.TempDir(), "d.db"))
	if r.code != 0 || !jsonEqual(t, r.stdout, `{"request":"coffee","status":"timed out"}`) {
		t.Fatalf("want the timed-out output and exit code 0, got %v", r)
	}
	for _, want := range []string{`custom status: "waiting for approval"`, "custom status cleared", "no decision request=coffee timeout_ms=20"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

// TestBuildC builds C projects the two ways durohost run does (a Makefile; the .c files of a
// directory with the SDK) and checks that both give the committed example module byte for
// byte, that builds are cached, and how failures are reported.
func TestBuildC(t *testing.T) {
	needClang(t)
	t.Parallel()
	ctx := context.Background()
	want, err := os.ReadFile(filepath.Join(cExample("hello"), "hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(cExample("hello"), "hello.c"))
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	b := &guestBuilder{cacheDir: t.TempDir(), log: &log}

	build := func(dir string) []byte {
		t.Helper()
		log.Reset()
		wasm, err := b.buildDir(ctx, dir)
		if err != nil {
			t.Fatalf("build %s: %v", dir, err)
		}
		return wasm
	}

	t.Run("makefile", func(t *testing.T) {
		if got := build(cExample("hello")); !bytes.Equal(got, want) {
			t.Errorf("the Makefile build of the example differs from the committed hello.wasm (%d bytes, want %d): rebuild it with make -C wasm-examples/c/hello", len(got), len(want))
		}
		if !strings.Contains(log.String(), "compiling C project") {
			t.Errorf("first build did not report compiling:\n%s", log.String())
		}
		build(cExample("hello"))
		if log.Len() != 0 {
			t.Errorf("second build did not come from the cache:\n%s", log.String())
		}
	})

	t.Run("c files", func(t *testing.T) {
		dir := writeFiles(t, map[string]string{"hello.c": string(src)})
		if got := build(dir); !bytes.Equal(got, want) {
			t.Errorf("the build of a directory holding hello.c differs from the committed hello.wasm")
		}
		changed := strings.Replace(string(src), "Hola, %s!", "Ciao, %s!", 1)
		if err := os.WriteFile(filepath.Join(dir, "hello.c"), []byte(changed), 0o644); err != nil {
			t.Fatal(err)
		}
		got := build(dir)
		if bytes.Equal(got, want) || !bytes.Contains(got, []byte("Ciao, %s!")) {
			t.Error("a changed source did not give a new module")
		}
	})

	t.Run("paths with spaces", func(t *testing.T) {
		// The project and durohost's cache directory may hold spaces: make gets them in
		// DUROHOST_SDK and OUT, and the Makefile's recipe in $(CURDIR).
		mk, err := os.ReadFile(filepath.Join(cExample("hello"), "Makefile"))
		if err != nil {
			t.Fatal(err)
		}
		root := t.TempDir()
		spaced := &guestBuilder{cacheDir: filepath.Join(root, "cache dir"), log: io.Discard}
		for _, files := range []map[string]string{
			{"Makefile": string(mk), "hello.c": string(src)},
			{"hello.c": string(src)},
		} {
			dir := filepath.Join(root, "my project", fmt.Sprint(len(files)))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, content := range files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := spaced.buildDir(ctx, dir)
			if err != nil {
				t.Fatalf("build %s: %v", dir, err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("the build of %s differs from the committed hello.wasm", dir)
			}
		}
		if ents, _ := os.ReadDir(root); len(ents) != 2 {
			t.Errorf("the build wrote outside the project and the cache: %v", ents)
		}
	})

	t.Run("file named like an option", func(t *testing.T) {
		// clang would read "-o.c" as -o .c: the module would go to ".c" in the project.
		dir := writeFiles(t, map[string]string{"hello.c": string(src), "-o.c": "int unused_global;\n"})
		wasm, err := b.buildDir(ctx, dir)
		if err != nil || !bytes.Contains(wasm, []byte("Hola, %s!")) {
			t.Errorf("build: %v (%d bytes)", err, len(wasm))
		}
		if _, err := os.Stat(filepath.Join(dir, ".c")); err == nil {
			t.Error("the build wrote .c into the project")
		}
	})

	t.Run("symlinked source", func(t *testing.T) {
		// hello.c is a link to a file elsewhere: it is compiled, and its content is part of
		// the cache key.
		shared := writeFiles(t, map[string]string{"hello.c": string(src)})
		dir := t.TempDir()
		if err := os.Symlink(filepath.Join(shared, "hello.c"), filepath.Join(dir, "hello.c")); err != nil {
			t.Fatal(err)
		}
		if got := build(dir); !bytes.Equal(got, want) {
			t.Errorf("the build of a directory linking hello.c differs from the committed hello.wasm")
		}
		changed := strings.Replace(string(src), "Hola, %s!", "Hej, %s!", 1)
		if err := os.WriteFile(filepath.Join(shared, "hello.c"), []byte(changed), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := build(dir); !bytes.Contains(got, []byte("Hej, %s!")) {
			t.Error("a change to the linked source did not give a new module (the cache key misses it)")
		}
	})

	t.Run("approval", func(t *testing.T) {
		want, err := os.ReadFile(filepath.Join(cExample("approval"), "approval.wasm"))
		if err != nil {
			t.Fatal(err)
		}
		if got := build(cExample("approval")); !bytes.Equal(got, want) {
			t.Errorf("durohost's build of wasm-examples/c/approval differs from the committed approval.wasm: rebuild it with its build.sh, and keep build.sh's flags those of build_c.go")
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			files map[string]string
			want  []string
		}{
			{"compile error", map[string]string{"bad.c": "int f(void) { return undeclared; }\n"}, []string{"compile", "undeclared"}},
			{"makefile without output", map[string]string{"Makefile": "all:\n\t@true\n", "x.c": ""}, []string{"wrote no module", "OUT"}},
			{"no C files", map[string]string{"Makefile": "", "Cargo.toml": ""}, []string{"holds neither C files nor a Makefile"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := b.buildC(ctx, writeFiles(t, tc.files))
				if err == nil {
					t.Fatal("build succeeded")
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
			})
		}
	})
}

// TestBuildCToolchainMissing: without clang, or with a clang that lacks wasi-libc, the error
// names the packages a C build needs. Scripts stand in for clang on PATH (so not parallel).
func TestBuildCToolchainMissing(t *testing.T) {
	ctx := context.Background()
	project := writeFiles(t, map[string]string{"main.c": "int x;\n"})
	b := &guestBuilder{cacheDir: t.TempDir(), log: io.Discard}
	bin := t.TempDir()
	t.Setenv("PATH", bin)
	_, err := b.buildC(ctx, project)
	if err == nil || !strings.Contains(err.Error(), "needs "+cToolchainHint) {
		t.Errorf("without clang: error %v; want one naming %q", err, cToolchainHint)
	}
	// clang of Debian's clang package alone: the SDK's includes are not found.
	script := "#!/bin/sh\ncase \"$1\" in --version) echo 'clang version 14.0.6';; -print*) echo libc.a;;\n" +
		"*) echo \"durohost.c:9:10: fatal error: 'math.h' file not found\" >&2; exit 1;; esac\n"
	if err := os.WriteFile(filepath.Join(bin, "clang"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = b.buildC(ctx, project)
	if err == nil || !strings.Contains(err.Error(), "needs "+cToolchainHint) || !strings.Contains(err.Error(), "'math.h' file not found") {
		t.Errorf("without wasi-libc: error %v; want one naming %q and clang's message", err, cToolchainHint)
	}
	for _, tc := range []struct {
		out  string
		want bool
	}{
		{`clang: error: unable to execute command: Executable "wasm-ld" doesn't exist!`, true},
		{"wasm-ld: error: cannot open /usr/lib/llvm-14/lib/clang/14.0.6/lib/wasi/libclang_rt.builtins-wasm32.a: No such file or directory", true},
		{"wasm-ld: error: cannot open crt1-reactor.o: No such file or directory", true},
		{"main.c:1:10: fatal error: 'mylib.h' file not found", false},
		{"main.c:1:14: error: use of undeclared identifier 'undeclared'", false},
	} {
		if got := cToolchainIncomplete(tc.out); got != tc.want {
			t.Errorf("cToolchainIncomplete(%q) = %v, want %v", tc.out, got, tc.want)
		}
	}
}

// TestCToolchainKey: the cache key of C builds changes with the sysroot's libc (a wasi-libc
// upgrade), not only with clang's version. A script stands in for clang.
func TestCToolchainKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	libc := filepath.Join(dir, "libc.a")
	clang := filepath.Join(dir, "clang")
	script := "#!/bin/sh\ncase \"$1\" in --version) echo 'clang version 14.0.6';; *) echo '" + libc + "';; esac\n"
	if err := os.WriteFile(clang, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	key := func() string {
		t.Helper()
		k, err := cToolchainKey(ctx, clang)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	if err := os.WriteFile(libc, []byte("wasi-libc 1"), 0o644); err != nil {
		t.Fatal(err)
	}
	k1 := key()
	if k := key(); k != k1 {
		t.Errorf("the key changed with nothing changed: %q, then %q", k1, k)
	}
	if !strings.Contains(k1, "clang version 14.0.6") {
		t.Errorf("the key %q lacks clang's version", k1)
	}
	if err := os.WriteFile(libc, []byte("wasi-libc 2, upgraded"), 0o644); err != nil {
		t.Fatal(err)
	}
	if k := key(); k == k1 {
		t.Errorf("the key did not change with the sysroot's libc: %q", k)
	}
	if _, err := cToolchainKey(ctx, filepath.Join(dir, "absent")); err == nil || !strings.Contains(err.Error(), "--version") {
		t.Errorf("a clang that does not run: error %v", err)
	}
}

// TestCBenchGuest builds the C benchmark guest as durohost bench --guest c does and checks that
// it registers the orchestrations of the workloads.
func TestCBenchGuest(t *testing.T) {
	needClang(t)
	t.Parallel()
	wasm, err := (&guestBuilder{cacheDir: t.TempDir(), log: io.Discard}).buildBenchGuest(context.Background(), "c", filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
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
		t.Errorf("the C bench guest registers %s, want %s", got, want)
	}
}

// TestRunHelloCDirectory runs the C example from its directory, as its README says.
func TestRunHelloCDirectory(t *testing.T) {
	needClang(t)
	t.Parallel()
	r := runCLI("run", cExample("hello"), "--input", `"Ada"`, "--db", filepath.Join(t.TempDir(), "d.db"))
	if r.code != 0 || !jsonEqual(t, r.stdout, `"Hello, Ada! Bonjour, Ada! Hola, Ada!"`) {
		t.Fatalf("want the greetings and exit code 0, got %v", r)
	}
}

// TestApprovalCDecision raises the approval event of the C approval example and checks the
// decision it reads: an event without "approved" is a rejection, whatever came before it.
func TestApprovalCDecision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	wasm, err := os.ReadFile(filepath.Join(cExample("approval"), "approval.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(sqlite.MemoryPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := host.New(st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.LoadModule(ctx, wasm); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	defer h.Stop(ctx)
	for _, tc := range []struct{ input, event, want string }{
		{`{"request":"laptop","timeout_ms":600000}`, `{"approved":true,"by":"ada"}`, `{"request":"laptop","status":"approved","by":"ada"}`},
		{`{"request":"laptop","timeout_ms":600000}`, `{"by":"bob"}`, `{"request":"laptop","status":"rejected","by":"bob"}`},
		// "request" is not a string (so ""), and no timeout: "approved" must not be read
		// from what the orchestration looked at before.
		{`{"request":true}`, `{"by":"bob"}`, `{"request":"","status":"rejected","by":"bob"}`},
		{`{"request":true}`, `{"approved":false}`, `{"request":"","status":"rejected"}`},
	} {
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		id, err := h.Client().Start(wctx, "approval", []byte(tc.input))
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Client().RaiseEvent(wctx, id, "approval", []byte(tc.event)); err != nil {
			t.Fatal(err)
		}
		inst, err := h.Client().Wait(wctx, id)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if string(inst.Output) != tc.want {
			t.Errorf("input %s, event %s: status %v, failure %v, output %s; want %s", tc.input, tc.event, inst.Status, inst.Failure, inst.Output, tc.want)
		}
	}
}
