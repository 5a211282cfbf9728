package host

import (
	"fmt"

	"go.opentelemetry.io/otel/trace"

	"github.com/durohost/durohost/host/internal/telemetry"
)

// EnableTracing makes the host record an OpenTelemetry span per turn ("turn NAME") and per
// activity attempt ("activity NAME") with tp. The spans of an instance share its trace: the
// trace of the context given to Client.Start when the instance was started on this host (the
// HTTP server passes its request's), or its parent's for a sub-orchestration started here,
// otherwise one derived from the instance's ID, the same on every host (see RATIONALE.md,
// "Why do an instance's spans share a trace?"). An activity's
// context carries its span, so an activity can pass it on (an HTTP call's traceparent).
// Attributes: durohost.instance.id, durohost.namespace, durohost.orchestration,
// durohost.execution, durohost.outcome, durohost.turn.mode, durohost.turn.events,
// durohost.activity, durohost.activity.attempt, durohost.event.id.
//
// It may be called before or after Start, once per host: a second call fails. Until it is
// called, nothing is traced.
func (h *Host) EnableTracing(tp trace.TracerProvider) error {
	if tp == nil {
		return fmt.Errorf("host: enable tracing: nil tracer provider")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if cur := h.rt.Telemetry(); cur != nil && cur.Tracing() {
		return fmt.Errorf("host: enable tracing: %w", ErrAlreadyEnabled)
	}
	h.rt.SetTelemetry(h.rt.Telemetry().With(nil, telemetry.NewTracer(tp)))
	return nil
}
