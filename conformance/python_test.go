package conformance_test

import (
	"os"
	"testing"

	"github.com/durohost/durohost/guest-sdk/python"
)

// The Python test guest (conformance/guests/python/guest.py), bundled with the committed Python
// runtime (guest-sdk/python/runtime) at test time: bundling appends the script and the standard
// library to the runtime's bytes, so it needs no toolchain. Variant b is the same script run
// with variant = "b".
func init() {
	registerGuestLanguage("python", func(t *testing.T) ([]byte, []byte) {
		src, err := os.ReadFile("guests/python/guest.py")
		if err != nil {
			t.Fatalf("read the Python guest: %v", err)
		}
		bundle := func(variant string) []byte {
			mod, err := python.Bundle(append([]byte(`variant = "`+variant+"\"\n"), src...))
			if err != nil {
				t.Fatal(err)
			}
			return mod
		}
		return bundle("a"), bundle("b")
	})
}
