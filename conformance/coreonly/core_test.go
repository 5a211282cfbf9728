// Package coreonly_test runs the store suite and the scenario suite on SQLite seen through
// conformance.CoreOnly, so that the host's fallbacks for a store without capabilities stay
// tested. A package of its own: the scenario suite once more with the Go guest would bring
// the conformance package's tests near go test's ten minutes.
package coreonly_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/durohost/durohost/conformance"
	"github.com/durohost/durohost/conformance/scenarios"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/sqlite"
)

// goGuest is the Go test guest of the scenario suite.
const goGuest = "conformance/guests/go"

// cacheDir holds the compiled guest modules (testguest.CacheDir).
var cacheDir string

func TestMain(m *testing.M) { testguest.MainWithCache(m, &cacheDir) }

// openCoreOnly opens an SQLite store seen through conformance.CoreOnly: a store with the core
// of the contract and no capability.
func openCoreOnly(t *testing.T) store.Store {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "core.db"), sqlite.WithSynchronous(sqlite.SyncOff))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return conformance.CoreOnly(st)
}

// TestCoreOnlyHidesCapabilities: CoreOnly of a store with every capability but Waker has none.
func TestCoreOnlyHidesCapabilities(t *testing.T) {
	full, err := sqlite.Open(sqlite.MemoryPath)
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	for _, s := range []struct {
		name string
		st   store.Store
		want bool
	}{{"SQLite", full, true}, {"CoreOnly(SQLite)", conformance.CoreOnly(full), false}} {
		_, direct := s.st.(store.DirectDispatcher)
		_, skipper := s.st.(store.HistorySkipper)
		_, pinger := s.st.(store.Pinger)
		if direct != s.want || skipper != s.want || pinger != s.want {
			t.Errorf("%s: DirectDispatcher %v, HistorySkipper %v, Pinger %v; want %v", s.name, direct, skipper, pinger, s.want)
		}
	}
}

// TestCoreOnlyStore runs the store suite on SQLite with the core alone: the core groups and
// those of a store without capabilities run (and pass), the capabilities' groups are skipped.
func TestCoreOnlyStore(t *testing.T) {
	conformance.RunStore(t, openCoreOnly)
}

// TestCoreOnlyScenarios runs the scenario suite on SQLite with the core alone: the host runs
// every scenario on its fallbacks (no claims or direct turns, every history read), in every
// mode, and the modes agree.
func TestCoreOnlyScenarios(t *testing.T) {
	guest := testguest.Build(t, goGuest, "")
	variant := testguest.Build(t, goGuest, "-X=main.variant=b")
	scenarios.RunScenarios(t, guest, openCoreOnly,
		scenarios.WithVariant(variant), scenarios.WithHostOptions(host.WithCompilationCache(cacheDir)))
}
