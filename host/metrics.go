package host

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/durohost/durohost/host/internal/telemetry"
)

// ErrAlreadyEnabled is returned by EnableMetrics and EnableTracing when the host already
// measures (or traces).
var ErrAlreadyEnabled = errors.New("already enabled")

// EnableMetrics registers the host's Prometheus metrics with reg: turns, activity attempts,
// orchestration starts and ends, message waits and timer lateness, the live cache, the module
// cache, guest instantiation, store commits and, read from the store at each scrape, its
// queue depths. The names and labels are listed in the README ("Observability"); every series of
// one namespace's work carries its namespace label. It may be called before or after Start
// (work that has begun is not counted), once per host: a second call fails.
//
// Until it is called, the host measures nothing (see RATIONALE.md, "Why are metrics and
// traces switched on after New?").
func (h *Host) EnableMetrics(reg prometheus.Registerer) error {
	if reg == nil {
		return fmt.Errorf("host: enable metrics: nil registerer")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if cur := h.rt.Telemetry(); cur != nil && cur.Metrics() != nil {
		return fmt.Errorf("host: enable metrics: %w", ErrAlreadyEnabled)
	}
	m := telemetry.NewMetrics(telemetry.Sources{
		Live: h.rt.LiveStats,
		Modules: func() telemetry.ModuleStats {
			s := h.mods.Stats()
			return telemetry.ModuleStats{Loaded: s.Loaded, Held: s.Held, Bytes: s.Bytes, Compiles: s.Compiles}
		},
		Depths: h.st.QueueDepths,
	})
	if err := reg.Register(m); err != nil {
		return fmt.Errorf("host: enable metrics: %w", err)
	}
	h.rt.SetTelemetry(h.rt.Telemetry().With(m, nil))
	return nil
}
