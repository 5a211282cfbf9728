package conformance_test

import (
	"os"
	"path/filepath"
	"testing"
)

// cGuest is the C test guest: guest.c built with the C guest SDK into committed fixtures
// (conformance/guests/c/build.sh; CI rebuilds them and checks they match), so that the suite
// runs where only Go is installed.
const cGuest = "guests/c"

func init() {
	registerGuestLanguage("c", func(t *testing.T) ([]byte, []byte) {
		return readCFixture(t, filepath.Join(cGuest, "guest.wasm")), readCFixture(t, filepath.Join(cGuest, "guest-b.wasm"))
	})
}

// readCFixture reads a committed binary fixture of the package.
func readCFixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("test guest fixture: %v (rebuild it with %s/build.sh)", err, filepath.Dir(path))
	}
	return b
}
