package postgres_test

import (
	"os"
	"testing"

	"github.com/durohost/durohost/conformance/scenarios"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store"
)

// EnvAllScenarios is the environment variable that makes TestScenarios run the scenarios in
// every mode (set to 1).
const EnvAllScenarios = "DUROHOST_PG_ALL_SCENARIOS"

// TestScenarios runs the scenario suite with the Go guest on the PostgreSQL store, every
// scenario on a fresh database. By default it runs the modes that exercise the store most:
// "restart" (every turn's state read back from the database) and "live" (direct dispatch);
// "cold" (a replay at every turn, the same store calls as "restart" makes) runs too when
// DUROHOST_PG_ALL_SCENARIOS=1.
func TestScenarios(t *testing.T) {
	guest := testguest.Build(t, "conformance/guests/go", "")
	variant := testguest.Build(t, "conformance/guests/go", "-X=main.variant=b")
	opts := []scenarios.Option{scenarios.WithVariant(variant)}
	if os.Getenv(EnvAllScenarios) != "1" {
		var modes []scenarios.Mode
		for _, m := range scenarios.Modes {
			if m.Name != "cold" {
				modes = append(modes, m)
			}
		}
		opts = append(opts, scenarios.WithModes(modes...))
	}
	scenarios.RunScenarios(t, guest, func(t *testing.T) store.Store { return openStore(t) }, opts...)
}
