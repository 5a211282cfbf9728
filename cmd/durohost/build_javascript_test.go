package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/durohost/durohost/guest-sdk/javascript"
)

// javascriptExample is the directory of a JavaScript example project.
func javascriptExample(name string) string {
	return filepath.Join("..", "..", "wasm-examples", "javascript", name)
}

func TestRunHelloJavaScript(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "d.db")
	r := runCLI("run", javascriptExample("hello"), "--input", `"World"`, "--db", db)
	if r.code != 0 || len(lines(r.stdout)) != 1 || !jsonEqual(t, r.stdout, `"Hello, World! Bonjour, World! Hola, World!"`) {
		t.Fatalf("want the greetings on one line and exit code 0, got %v", r)
	}
	if !strings.Contains(r.stderr, "activity echo") {
		t.Errorf("stderr lacks the activity calls:\n%s", r.stderr)
	}
}

func TestRunJavaScriptErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, script, input, want string
	}{
		{"syntax error", "durohost.register(\"x\", function* (ctx) {", `null`, "failed to load"},
		{"thrown error", `durohost.register("x", function* (ctx) { throw new Error("kaboom"); });`, `null`, "kaboom"},
		{"durable error", `durohost.register("x", function (ctx) { throw new durohost.DurableError("E1", "no way"); });`, `null`, "no way"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "main.js"), []byte(tt.script), 0o644); err != nil {
				t.Fatal(err)
			}
			r := runCLI("run", dir, "--orchestration", "x", "--input", tt.input, "--db", filepath.Join(t.TempDir(), "d.db"))
			if r.code == 0 || !strings.Contains(r.stdout+r.stderr, tt.want) {
				t.Fatalf("want a failure mentioning %q, got %v", tt.want, r)
			}
		})
	}
}

func TestBuildJavaScriptProject(t *testing.T) {
	t.Parallel()
	if !hasMainJS(javascriptExample("hello")) || hasMainJS(t.TempDir()) {
		t.Fatal("a directory is a JavaScript project exactly when it holds a main.js")
	}
	a, err := buildJavaScript(nil, context.Background(), javascriptExample("hello"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := buildJavaScript(nil, context.Background(), javascriptExample("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) || len(a) <= len(javascript.Runtime) {
		t.Errorf("bundling is not reproducible or bundles nothing (%d and %d bytes, runtime %d)", len(a), len(b), len(javascript.Runtime))
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.js"), []byte{0xff, 0xfe}, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := buildJavaScript(nil, context.Background(), dir); err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("a script that is not UTF-8: got %v", err)
	}
}
