package conformance_test

import (
	"os"
	"path/filepath"
	"testing"
)

// The stream-form C test guest (conformance/guests/stream-c): an ordinary WASI command that
// imports nothing from the ABI and speaks it through C stdio on the file /durohost/v1 (ABI.md,
// "Stream form"). Its modules are committed; .ci/fixtures.d/stream.sh checks that they are
// what its sources build.
func init() {
	registerGuestLanguage("stream-c", func(t *testing.T) ([]byte, []byte) {
		return readStreamFixture(t, "guests/stream-c/guest.wasm"), readStreamFixture(t, "guests/stream-c/guest-b.wasm")
	})
}

// readStreamFixture reads a committed module of the conformance directory.
func readStreamFixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(path))
	if err != nil {
		t.Fatalf("read the committed guest module: %v", err)
	}
	return b
}
