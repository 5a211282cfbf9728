package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunHelloPython(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "..", "wasm-examples", "python", "hello")
	r := runCLI("run", dir, "--input", `"World"`, "--db", filepath.Join(t.TempDir(), "d.db"))
	if r.code != 0 || len(lines(r.stdout)) != 1 || !jsonEqual(t, r.stdout, `"Hello, World! Bonjour, World! Hola, World!"`) {
		t.Fatalf("want the greetings on one line and exit code 0, got %v", r)
	}
}

func TestRunPythonErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, script, want string
	}{
		{"syntax error", "import durohost\ndef (:\n", "failed to load"},
		{"raised exception", "import durohost\n@durohost.orchestration('x')\ndef x(ctx, i):\n    raise ValueError('kaboom')\n", "kaboom"},
		{"durable error", "import durohost\n@durohost.orchestration('x')\ndef x(ctx, i):\n    raise durohost.DurableError('E1', 'no way')\n", "no way"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "main.py"), []byte(tt.script), 0o644); err != nil {
				t.Fatal(err)
			}
			r := runCLI("run", dir, "--orchestration", "x", "--db", filepath.Join(t.TempDir(), "d.db"))
			if r.code == 0 || !strings.Contains(r.stdout+r.stderr, tt.want) {
				t.Fatalf("want a failure mentioning %q, got %v", tt.want, r)
			}
		})
	}
	if !hasMainPy(filepath.Join("..", "..", "wasm-examples", "python", "hello")) || hasMainPy(t.TempDir()) {
		t.Error("a directory is a Python project exactly when it holds a main.py")
	}
}
