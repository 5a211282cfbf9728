package testguest

import (
	"os"
	"path/filepath"
	"testing"
)

// CacheDir returns the directory of wazero's compilation cache for the hosts of a test
// binary: durohost/test-wazero-cache in the user's cache directory, shared by the test
// binaries of every package and run (entries are keyed by module hash and wazero version, and
// written by rename), so that the guests, several MB each, compile once, not at every run.
// Without a user cache directory it is a new temporary directory, which cleanup removes
// (cleanup is then not a no-op).
func CacheDir() (dir string, cleanup func(), err error) {
	if base, err := os.UserCacheDir(); err == nil {
		dir = filepath.Join(base, "durohost", "test-wazero-cache")
		if os.MkdirAll(dir, 0o755) == nil {
			return dir, func() {}, nil
		}
	}
	if dir, err = os.MkdirTemp("", "durohost-test-cache-"); err != nil {
		return "", nil, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// MainWithCache is a TestMain: it sets *dir to CacheDir, runs the tests and exits with their
// code, removing a temporary cache first.
func MainWithCache(m *testing.M, dir *string) {
	d, cleanup, err := CacheDir()
	if err != nil {
		panic(err)
	}
	*dir = d
	code := m.Run()
	cleanup()
	os.Exit(code)
}
