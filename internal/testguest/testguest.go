// Package testguest builds Go guest modules for tests: a package of the repository compiled
// with GOOS=wasip1 GOARCH=wasm in reactor mode, once per test binary.
package testguest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var cache sync.Map

// Root returns the repository root (the directory holding go.mod).
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Build compiles the Go guest package pkg (a path relative to the repository root, such as
// "conformance/guests/go") with optional -ldflags and returns the module's bytes.
func Build(t testing.TB, pkg, ldflags string) []byte {
	t.Helper()
	key := pkg + "|" + ldflags
	if b, ok := cache.Load(key); ok {
		return b.([]byte)
	}
	dir, err := os.MkdirTemp("", "durohost-guest-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "guest.wasm")
	args := []string{"build", "-buildmode=c-shared", "-o", out}
	if ldflags != "" {
		args = append(args, "-ldflags", ldflags)
	}
	cmd := exec.Command("go", append(args, "./"+pkg)...)
	cmd.Dir = Root()
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build guest %s: %v\n%s", pkg, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	cache.Store(key, b)
	return b
}
