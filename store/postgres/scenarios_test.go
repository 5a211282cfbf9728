package postgres_test

import (
	"os"
	"testing"

	"github.com/durohost/durohost/conformance/scenarios"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store"
)

// EnvAllScenarios is the environment variable that makes TestScenarios run every scenario
// (set to 1); by default it runs a subset.
const EnvAllScenarios = "DUROHOST_PG_ALL_SCENARIOS"

// TestScenarios runs the scenario suite with the Go guest on the PostgreSQL store, in every
// mode.
func TestScenarios(t *testing.T) {
	guest := testguest.Build(t, "conformance/guests/go", "")
	variant := testguest.Build(t, "conformance/guests/go", "-X=main.variant=b")
	var opts []scenarios.Option
	if os.Getenv(EnvAllScenarios) == "" {
	}
	opts = append(opts, scenarios.WithVariant(variant))
	scenarios.RunScenarios(t, guest, func(t *testing.T) store.Store { return openStore(t) }, opts...)
}
