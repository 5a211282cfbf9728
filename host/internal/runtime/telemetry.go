package runtime

import (
	"context"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/telemetry"
	"github.com/durohost/durohost/store"
)

// SetTelemetry sets the hooks that measure and trace turns and activity attempts (nil: none,
// the default). It may be called at any time; turns and attempts that have begun keep the
// hooks they began with.
func (r *Runtime) SetTelemetry(h *telemetry.Hooks) { r.tel.Store(h) }

// Telemetry returns the hooks set by SetTelemetry (nil when none).
func (r *Runtime) Telemetry() *telemetry.Hooks { return r.tel.Load() }

// LiveStats returns the state of the live cache.
func (r *Runtime) LiveStats() telemetry.LiveStats {
	c := r.live
	c.mu.Lock()
	defer c.mu.Unlock()
	return telemetry.LiveStats{Instances: c.lru.Len(), Bytes: c.used, Limit: c.limit, Evicts: c.evictions}
}

// processTurn runs one turn (runTurn), measured and traced when telemetry is on.
func (r *Runtime) processTurn(ctx context.Context, t *store.Turn) {
	tel := r.tel.Load()
	if tel == nil {
		r.runTurn(ctx, t, nil)
		return
	}
	tt := &telemetry.Turn{InstanceID: t.InstanceID, Namespace: turnNamespace(t), Execution: t.Execution}
	if t.Instance == nil {
		tt.Execution = 1
	}
	tt.Fresh = len(t.History) == 0 && !t.HistoryOmitted
	ctx = tel.TurnStart(ctx, tt)
	defer tel.TurnEnd(ctx, tt)
	r.runTurn(ctx, t, tt)
}

// runActivity runs one activity attempt (runAttempt), measured and traced when telemetry is
// on.
func (r *Runtime) runActivity(ctx context.Context, wi *store.WorkItem) {
	tel := r.tel.Load()
	if tel == nil {
		r.runAttempt(ctx, wi, nil)
		return
	}
	a := &telemetry.Activity{InstanceID: wi.InstanceID, Namespace: wi.Namespace, Name: wi.Name, Execution: wi.Execution,
		EventID: wi.EventID, Attempt: wi.Attempts}
	ctx = tel.ActivityStart(ctx, a)
	defer tel.ActivityEnd(ctx, a)
	r.runAttempt(ctx, wi, a)
}

// resultTurn begins the telemetry of a turn on an activity's result (turnOnResult): nil and
// ctx when telemetry is off; end ends it.
func (r *Runtime) resultTurn(ctx context.Context, wi *store.WorkItem, execution uint32, hist []history.Event) (*telemetry.Turn, context.Context, func()) {
	tel := r.tel.Load()
	if tel == nil {
		return nil, ctx, nop
	}
	tt := &telemetry.Turn{InstanceID: wi.InstanceID, Namespace: wi.Namespace, Execution: execution, Live: true, OnResult: true}
	if len(hist) > 1 && hist[1].Kind == history.KindExecutionStarted {
		tt.Orchestration = hist[1].Name
	}
	ctx = tel.TurnStart(ctx, tt)
	return tt, ctx, func() { tel.TurnEnd(ctx, tt) }
}

func nop() {}

// started tells the telemetry that an instance was started with ctx.
func (r *Runtime) started(ctx context.Context, id string) {
	if tel := r.tel.Load(); tel != nil {
		tel.Started(ctx, id)
	}
}
