package csdk

import (
	"os"
	"testing"
)

// TestSourcesMatch: the copies of sources.go are the SDK's files (run `go generate` in this
// directory after changing them).
func TestSourcesMatch(t *testing.T) {
	for _, f := range []struct{ file, copy string }{{"../durohost.h", Header}, {"../durohost.c", Source}} {
		data, err := os.ReadFile(f.file)
		if err != nil {
			t.Fatal(err)
		}
		if string(data) != f.copy {
			t.Errorf("sources.go holds a stale copy of %s: run go generate ./guest-sdk/c/csdk", f.file)
		}
	}
}
