package conformance_test

import (
	"os"
	"path/filepath"
	"testing"
)

// asGuest is the AssemblyScript test guest: assembly/*.ts built with the AssemblyScript guest
// SDK (guest-sdk/assemblyscript) into committed fixtures (conformance/guests/assemblyscript/
// build.sh; CI rebuilds them and checks they match), so that the suite runs where only Go is
// installed.
const asGuest = "guests/assemblyscript"

func init() {
	registerGuestLanguage("assemblyscript", func(t *testing.T) ([]byte, []byte) {
		return readASFixture(t, "guest.wasm"), readASFixture(t, "guest-b.wasm")
	})
}

// readASFixture reads a committed module of the AssemblyScript test guest.
func readASFixture(t *testing.T, name string) []byte {
	t.Helper()
	path := filepath.Join(asGuest, name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("AssemblyScript test guest: %v (rebuild it with %s/build.sh)", err, asGuest)
	}
	return b
}
