package postgres_test

import (
	"testing"

	"github.com/durohost/durohost/conformance"
	"github.com/durohost/durohost/store"
)

// TestPluginConformance runs the plugin registry's conformance suite (store.PluginStore) on
// a fresh database per case.
func TestPluginConformance(t *testing.T) {
	conformance.RunPluginStore(t, func(t *testing.T) store.Store { return openStore(t) })
}
