package conformance_test

import (
	"os"
	"testing"

	"github.com/durohost/durohost/guest-sdk/javascript"
)

// The JavaScript test guest (conformance/guests/javascript/guest.js), bundled with the
// committed JavaScript runtime (guest-sdk/javascript/runtime/quickjs.wasm) at test time:
// bundling appends the script to the runtime's bytes, so it needs no toolchain. Variant b is
// the same script run with variant = "b".
func init() {
	registerGuestLanguage("javascript", func(t *testing.T) ([]byte, []byte) {
		src, err := os.ReadFile("guests/javascript/guest.js")
		if err != nil {
			t.Fatalf("read the JavaScript guest: %v", err)
		}
		bundle := func(variant string) []byte {
			mod, err := javascript.Bundle(append([]byte(`var variant = "`+variant+`";`), src...))
			if err != nil {
				t.Fatal(err)
			}
			return mod
		}
		return bundle("a"), bundle("b")
	})
}
