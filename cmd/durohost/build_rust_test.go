package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rustExample returns the directory of a Rust example orchestration, relative to this package.
func rustExample(name string) string { return filepath.Join("..", "..", "wasm-examples", "rust", name) }

// needRust skips a test where no Rust toolchain with the wasm32 target is installed (the Rust
// fixtures are committed, so the rest of the suite needs none).
func needRust(t *testing.T) {
	t.Helper()
	if _, err := findRustToolchain(context.Background()); err != nil {
		skipWithoutToolchain(t, "no Rust toolchain for guests ("+err.Error()+"): "+rustToolchainHint)
	}
}

func TestIsRustProject(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string
		want  bool
	}{
		{"cargo project", []string{"Cargo.toml"}, true},
		{"rust file without manifest", []string{"lib.rs"}, false},
		{"empty", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := isRustProject(dir); got != tc.want {
				t.Errorf("isRustProject = %v, want %v", got, tc.want)
			}
		})
	}
	if err := os.Mkdir(filepath.Join(t.TempDir(), "Cargo.toml"), 0o755); err == nil && isRustProject(t.TempDir()) {
		t.Error("isRustProject of a directory named Cargo.toml")
	}
}

// TestRunHelloRustFixture runs the committed Rust example module: no Rust toolchain needed.
func TestRunHelloRustFixture(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "d.db")
	wasm := filepath.Join(rustExample("hello"), "hello.wasm")
	r := runCLI("run", wasm, "--input", `"World"`, "--db", db)
	if r.code != 0 || !jsonEqual(t, r.stdout, `"Hello, World! Bonjour, World! Hola, World!"`) {
		t.Fatalf("want the greetings and exit code 0, got %v", r)
	}
	if !strings.Contains(r.stderr, "log info: greeted name=World greetings=3") {
		t.Errorf("stderr lacks the orchestration's log line:\n%s", r.stderr)
	}
	r = runCLI("run", wasm, "--input", `42`, "--db", db)
	if r.code == 0 || !strings.Contains(r.stderr, "bad_payload") {
		t.Errorf("a number as the name: want a bad_payload failure, got %v", r)
	}
}

// writeRustProject writes a Cargo project depending on the SDK of this checkout by path.
func writeRustProject(t *testing.T, manifestExtra, lib string) string {
	t.Helper()
	sdk, err := filepath.Abs(filepath.Join("..", "..", "guest-sdk", "rust"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	manifest := "[package]\nname = \"tguest\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n" + manifestExtra +
		"[dependencies]\ndurohost = { path = " + strconvQuote(sdk) + " }\n"
	if err := os.MkdirAll(filepath.Join(dir, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Cargo.toml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "src", "lib.rs"), []byte(lib), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// strconvQuote quotes s as a TOML basic string.
func strconvQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

const rustGreeter = `
use durohost::{Failure, OrchestrationContext, Registry};
async fn greet(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    ctx.schedule_activity("echo", input).await
}
fn register(r: &mut Registry) { r.add("greet", greet); }
durohost::export!(register);
`

// TestBuildRust builds a Cargo project the way durohost run does, from the cache the second
// time and again after a change, and refuses projects that are not guest modules.
func TestBuildRust(t *testing.T) {
	needRust(t)
	ctx := context.Background()
	var log bytes.Buffer
	b := &guestBuilder{cacheDir: t.TempDir(), log: &log}
	dir := writeRustProject(t, "[lib]\ncrate-type = [\"cdylib\"]\n\n", rustGreeter)
	wasm, err := b.buildDir(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(wasm, []byte("\x00asm")) || !strings.Contains(log.String(), "compiling Rust crate") {
		t.Fatalf("want a module and a compiling notice, got %d bytes and log %q", len(wasm), log.String())
	}
	mod := filepath.Join(t.TempDir(), "greet.wasm")
	if err := os.WriteFile(mod, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "d.db")
	if r := runCLI("run", mod, "--input", `"hi"`, "--db", db); r.code != 0 || !jsonEqual(t, r.stdout, `"hi"`) {
		t.Fatalf("run the built module: %v", r)
	}

	log.Reset()
	again, err := b.buildDir(ctx, dir)
	if err != nil || !bytes.Equal(again, wasm) || log.Len() != 0 {
		t.Fatalf("second build: want the cached module without compiling, got err %v, same %v, log %q", err, bytes.Equal(again, wasm), log.String())
	}

	changed := strings.Replace(rustGreeter, `"echo", input`, `"echo", "\"changed\""`, 1)
	if err := os.WriteFile(filepath.Join(dir, "src", "lib.rs"), []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := b.buildDir(ctx, dir); err != nil || !strings.Contains(log.String(), "compiling Rust crate") {
		t.Fatalf("a changed source must be compiled again: err %v, log %q", err, log.String())
	}

	// The example the README runs builds from its directory (its path dependency on the SDK
	// resolves), and greets.
	hello, err := b.buildDir(ctx, rustExample("hello"))
	if err != nil {
		t.Fatal(err)
	}
	mod = filepath.Join(t.TempDir(), "hello.wasm")
	if err := os.WriteFile(mod, hello, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runCLI("run", mod, "--input", `"World"`, "--db", db); r.code != 0 || !jsonEqual(t, r.stdout, `"Hello, World! Bonjour, World! Hola, World!"`) {
		t.Fatalf("run the hello example built from source: %v", r)
	}

	for _, tc := range []struct {
		name, manifestExtra, lib, want string
	}{
		{"no cdylib", "", rustGreeter, "builds no cdylib"},
		{"compile error", "[lib]\ncrate-type = [\"cdylib\"]\n\n", "fn broken( {}", "compile "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.buildDir(ctx, writeRustProject(t, tc.manifestExtra, tc.lib))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
}

// TestBuildRustCacheKey checks that what can change a Rust build without touching src/
// changes its cache key: a library whose root lies outside src/ ([lib] path), a module file
// beside it, and Cargo configuration (.cargo/config.toml of the project or a parent, and the
// environment's CARGO_PROFILE_* variables).
func TestBuildRustCacheKey(t *testing.T) {
	needRust(t)
	ctx := context.Background()
	var log bytes.Buffer
	b := &guestBuilder{cacheDir: t.TempDir(), log: &log}
	dir := writeRustProject(t, "[lib]\ncrate-type = [\"cdylib\"]\npath = \"lib.rs\"\n\n", "")
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("greet.rs", "pub async fn greet(ctx: durohost::OrchestrationContext, input: String) -> Result<String, durohost::Failure> { ctx.schedule_activity(\"echo\", input).await }\n")
	// The library root lib.rs registers greet::greet of greet.rs, both outside src/.
	write("lib.rs", strings.Replace(rustGreeter, `r.add("greet", greet)`, `r.add("greet", greet::greet)`, 1)+"mod greet;\n")
	build := func(what string, wantCompile bool) []byte {
		t.Helper()
		log.Reset()
		wasm, err := b.buildDir(ctx, dir)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if compiled := strings.Contains(log.String(), "compiling Rust crate"); compiled != wantCompile {
			t.Fatalf("%s: compiled %v, want %v (log %q)", what, compiled, wantCompile, log.String())
		}
		return wasm
	}
	build("first build", true)
	build("unchanged", false)
	write("lib.rs", strings.Replace(rustGreeter, `r.add("greet", greet)`, `r.add("greet", greet::greet).add("greet2", greet::greet)`, 1)+"mod greet;\n")
	build("library root outside src/ changed", true)
	write("greet.rs", "pub async fn greet(ctx: durohost::OrchestrationContext, _input: String) -> Result<String, durohost::Failure> { ctx.schedule_activity(\"echo\", \"1\").await }\n")
	build("module beside the library root changed", true)
	write(".cargo/config.toml", "[profile.release]\nopt-level = 1\n")
	build("Cargo configuration added", true)
	build("unchanged again", false)
	t.Setenv("CARGO_PROFILE_RELEASE_OPT_LEVEL", "s")
	build("a Cargo profile set in the environment", true)
}

// TestBuildRustToolchainMissing checks that a Rust project without a usable toolchain fails
// with an error that says what to install and what was wrong with what was found.
func TestBuildRustToolchainMissing(t *testing.T) {
	ctx := context.Background()
	dir := writeRustProject(t, "[lib]\ncrate-type = [\"cdylib\"]\n\n", rustGreeter)
	tools := t.TempDir()
	noTarget := filepath.Join(tools, "rustc-without-wasm")
	if err := os.WriteFile(noTarget, []byte("#!/bin/sh\necho "+tools+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, rustc, cargo, want string
		needsRust                bool
	}{
		{"no rustc", filepath.Join(tools, "absent"), "", "absent (does not run)", false},
		{"no wasm32 target", noTarget, "", "rustc-without-wasm (no wasm32-unknown-unknown standard library)", false},
		{"no cargo", "", filepath.Join(tools, "absent-cargo"), "but no cargo that runs", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needsRust {
				needRust(t)
			}
			t.Setenv("DUROHOST_RUSTC", tc.rustc)
			t.Setenv("DUROHOST_CARGO", tc.cargo)
			b := &guestBuilder{cacheDir: t.TempDir(), log: &bytes.Buffer{}}
			_, err := b.buildDir(ctx, dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "apt-get install rustc cargo libstd-rust-dev-wasm32") {
				t.Errorf("want an error naming the toolchain (%q) and what to install, got %v", tc.want, err)
			}
		})
	}
}
