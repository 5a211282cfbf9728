package conformance_test

import (
	"flag"
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

// TestMain keeps wazero's compilation cache where the tests of every run share it
// (testguest.CacheDir).
func TestMain(m *testing.M) { testguest.MainWithCache(m, &cacheDir) }

func openSQLite(t *testing.T) store.Store {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "scenario.db"), sqlite.WithSynchronous(sqlite.SyncOff))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// A guestLanguage is the test guest of one language (conformance/guests/<name>): its default
// build and its variant-b build (README.md of the scenario suite). The Go guest is built here;
// every other language registers itself from an init function in <name>_test.go, usually
// reading committed fixtures that .ci/run rebuilds from their sources.
type guestLanguage struct {
	name  string
	build func(t *testing.T) (guest, variant []byte)
}

// guestLanguages are the registered test guests, in registration order (Go first).
var guestLanguages = []guestLanguage{{name: "go", build: func(t *testing.T) ([]byte, []byte) {
	return testguest.Build(t, goGuest, ""), testguest.Build(t, goGuest, "-X=main.variant=b")
}}}

// registerGuestLanguage adds the test guest of a language.
func registerGuestLanguage(name string, build func(t *testing.T) (guest, variant []byte)) {
	guestLanguages = append(guestLanguages, guestLanguage{name: name, build: build})
}

// TestScenarios runs the scenario suite with the test guest of every language
// (TestScenarios/<language>) on the SQLite store, in every mode. The languages run at once:
// a scenario spends much of its time waiting (timers, restarts), and one language at a time
// would leave the CPUs idle meanwhile.
func TestScenarios(t *testing.T) {
	t.Parallel()
	for _, l := range guestLanguages {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			guest, variant := l.build(t)
			scenarios.RunScenarios(t, guest, openSQLite,
				scenarios.WithVariant(variant), scenarios.WithHostOptions(host.WithCompilationCache(cacheDir)))
		})
	}
}

var update = flag.Bool("update", false, "record the scenarios with the Go guest and rewrite the golden histories that changed")

// TestGolden replays the golden histories of testdata/histories, recorded with the Go guest,
// against the current host and the test guest of every language (TestGolden/<language>): one
// history, any language. With -update it records them again with the Go guest (see
// README.md).
func TestGolden(t *testing.T) {
	if !*update {
		t.Parallel()
	}
	for _, l := range guestLanguages {
		t.Run(l.name, func(t *testing.T) {
			if !*update {
				t.Parallel()
			}
			if *update && l.name != "go" {
				t.Skip("-update records the golden histories with the Go guest only")
			}
			guest, variant := l.build(t)
			scenarios.RunGolden(t, guest, openSQLite, filepath.Join("testdata", "histories"), *update && l.name == "go",
				scenarios.WithVariant(variant), scenarios.WithHostOptions(host.WithCompilationCache(cacheDir)))
		})
	}
}
