package conformance_test

import (
	"os"
	"path/filepath"
	"testing"
)

// rustGuest holds the Rust test guest (conformance/guests/rust): its sources and the modules
// built from them, committed so that the tests need no Rust toolchain; build.sh there rebuilds
// them, and CI checks that they match their sources (.ci/fixtures.d/rust.sh).
const rustGuest = "guests/rust"

func init() {
	registerGuestLanguage("rust", func(t *testing.T) ([]byte, []byte) {
		return readRustGuest(t, "guest.wasm"), readRustGuest(t, "guest-b.wasm")
	})
}

func readRustGuest(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(rustGuest, name))
	if err != nil {
		t.Fatalf("the Rust test guest %s is not built: %v (run %s/build.sh)", name, err, rustGuest)
	}
	return b
}
