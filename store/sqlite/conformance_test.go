package sqlite_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/durohost/durohost/conformance"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/sqlite"
)

// TestConformance runs the store conformance suite on a file database with the default
// options (WAL, synchronous=FULL) and on a private in-memory database.
func TestConformance(t *testing.T) {
	tests := []struct {
		name string
		path func(t *testing.T) string
	}{
		{"File", func(t *testing.T) string { return filepath.Join(t.TempDir(), "durohost.db") }},
		{"Memory", func(*testing.T) string { return sqlite.MemoryPath }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conformance.RunStore(t, func(t *testing.T) store.Store {
				s, err := sqlite.Open(tt.path(t))
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
		})
	}
}
