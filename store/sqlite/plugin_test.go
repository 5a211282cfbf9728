package sqlite_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/durohost/durohost/conformance"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/sqlite"
)

// TestPluginConformance runs the plugin registry's conformance suite (store.PluginStore).
func TestPluginConformance(t *testing.T) {
	conformance.RunPluginStore(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(filepath.Join(t.TempDir(), "durohost.db"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	})
}
