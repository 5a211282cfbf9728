package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/durohost/durohost/conformance"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/postgres"
	"github.com/durohost/durohost/store/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// openStore opens a store on a fresh database and closes it at the end of the test.
func openStore(t testing.TB, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// TestConformance runs the store conformance suite, every group, on a fresh database per
// case.
func TestConformance(t *testing.T) {
	conformance.RunStore(t, func(t *testing.T) store.Store { return openStore(t) })
}
