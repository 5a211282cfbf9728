package conformance_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/durohost/durohost/conformance/scenarios"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/sqlite"
)

const goGuest = "conformance/guests/go"

// cacheDir holds the compiled guest modules shared by every host of the package's tests.
var cacheDir string

// TestMain keeps wazero's compilation cache in the user's cache directory, so that the
// guests (several MB each) are compiled once, not at every run of the tests. The cache is
// keyed by module hash and wazero version; a temporary directory is used when there is no
// user cache directory.
func TestMain(m *testing.M) {
	tmp := ""
	if dir, err := os.UserCacheDir(); err == nil {
		cacheDir = filepath.Join(dir, "durohost", "test-wazero-cache")
		if os.MkdirAll(cacheDir, 0o755) != nil {
			cacheDir = ""
		}
	}
	if cacheDir == "" {
		dir, err := os.MkdirTemp("", "durohost-conformance-")
		if err != nil {
			panic(err)
		}
		cacheDir, tmp = dir, dir
	}
	code := m.Run()
	if tmp != "" {
		os.RemoveAll(tmp)
	}
	os.Exit(code)
}

func openSQLite(t *testing.T) store.Store {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "scenario.db"), sqlite.WithSynchronous(sqlite.SyncOff))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestScenarios runs the scenario suite with the Go guest on the SQLite store, in every mode.
func TestScenarios(t *testing.T) {
	guest := testguest.Build(t, goGuest, "")
	variant := testguest.Build(t, goGuest, "-X=main.variant=b")
	scenarios.RunScenarios(t, guest, openSQLite,
		scenarios.WithVariant(variant), scenarios.WithHostOptions(host.WithCompilationCache(cacheDir)))
}

var update = flag.Bool("update", false, "record the scenarios and rewrite the golden histories that changed")

// TestGolden replays the golden histories of testdata/histories against the current Go guest
// and host. With -update it records them again (see README.md).
func TestGolden(t *testing.T) {
	guest := testguest.Build(t, goGuest, "")
	variant := testguest.Build(t, goGuest, "-X=main.variant=b")
	scenarios.RunGolden(t, guest, openSQLite, filepath.Join("testdata", "histories"), *update,
		scenarios.WithVariant(variant), scenarios.WithHostOptions(host.WithCompilationCache(cacheDir)))
}
