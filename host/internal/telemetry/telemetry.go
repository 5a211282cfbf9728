// Package telemetry measures the runtime for Prometheus and traces it for OpenTelemetry.
//
// The runtime calls a *Hooks at a few points of a turn and of an activity attempt (see
// host/internal/runtime/telemetry.go); a nil *Hooks, the default, costs one atomic load and a
// nil check per turn and per attempt. Hooks is immutable: enabling metrics or tracing makes a
// new one (With), which the runtime swaps in atomically. The host package exposes it as
// Host.EnableMetrics and Host.EnableTracing; see RATIONALE.md, "Why are metrics and traces
// switched on after New?".
package telemetry

import (
	"context"
	"time"

	"github.com/durohost/durohost/history"
)

// Outcome is how a turn or an activity attempt ended: the value of the outcome label.
type Outcome string

// Turn outcomes.
const (
	// TurnCommitted: the turn's events and work were committed.
	TurnCommitted Outcome = "committed"
	// TurnDropped: the turn only consumed messages no execution could take (the instance has
	// ended or has not started).
	TurnDropped Outcome = "dropped"
	// TurnAbandoned: the turn was given back to run again later (the host was busy, short of
	// memory or stopping, a namespace at its concurrency limit, an unregistered
	// orchestration waiting for its module).
	TurnAbandoned Outcome = "abandoned"
	// TurnLockLost: the commit found the instance's lock taken by another host.
	TurnLockLost Outcome = "lock_lost"
	// TurnError: the store refused the commit; the turn runs again later.
	TurnError Outcome = "error"
)

// Activity outcomes.
const (
	// ActivityCompleted: the activity returned a result.
	ActivityCompleted Outcome = "completed"
	// ActivityFailed: the activity returned an error (or panicked, or its result was too
	// large); the orchestration sees the failure and may retry.
	ActivityFailed Outcome = "failed"
	// ActivityCancelled: the orchestration no longer needed the result (its lock was lost).
	ActivityCancelled Outcome = "cancelled"
	// ActivityAbandoned: the host stopped, the attempt runs again elsewhere.
	ActivityAbandoned Outcome = "abandoned"
	// ActivityUnregistered: no activity of that name is registered on this host.
	ActivityUnregistered Outcome = "unregistered"
)

// Turn describes one turn as it runs. The runtime fills it in; TurnEnd reads it.
type Turn struct {
	InstanceID string
	Namespace  string
	// Orchestration is the name of the orchestration (empty when the turn ended before the
	// start event was found).
	Orchestration string
	Execution     uint32
	// Start is when the turn began.
	Start time.Time
	// Live: the turn resumed a live instance (no replay). OnResult: the turn ran on an
	// activity's result without a queue (host/internal/runtime/direct.go).
	Live, OnResult bool
	// Fresh: the turn had no history to replay (the first turn of an execution).
	Fresh bool
	// Inputs are the messages the turn consumed.
	Inputs []history.Event
	// Events are the history events the turn committed (set when it committed).
	Events  []history.Event
	Outcome Outcome
	// Instantiate is the time spent instantiating the guest (0 for a live instance), Commit
	// the time of the store's commit.
	Instantiate, Commit time.Duration
}

// Activity describes one activity attempt as it runs.
type Activity struct {
	InstanceID string
	Namespace  string
	Name       string
	Execution  uint32
	// EventID is the ID of the activity_scheduled event of the attempt's activity.
	EventID int64
	// Attempt counts the deliveries of the work item (1 for the first).
	Attempt int
	Start   time.Time
	Outcome Outcome
	Err     error
}

// Hooks receives the runtime's measurements. Its zero value measures nothing; With adds
// metrics or a tracer. Methods may be called concurrently.
type Hooks struct {
	metrics *Metrics
	tracer  *Tracer
}

// With returns a copy of h (which may be nil) with the metrics and the tracer that are not
// nil replaced.
func (h *Hooks) With(m *Metrics, t *Tracer) *Hooks {
	n := &Hooks{}
	if h != nil {
		*n = *h
	}
	if m != nil {
		n.metrics = m
	}
	if t != nil {
		n.tracer = t
	}
	return n
}

// Metrics returns the metrics of h, nil when metrics are off.
func (h *Hooks) Metrics() *Metrics { return h.metrics }

// Started tells the hooks that an instance was started with ctx (the trace of a start
// request is carried into the instance's turns).
func (h *Hooks) Started(ctx context.Context, instanceID string) {
	if h.tracer != nil {
		h.tracer.started(ctx, instanceID)
	}
}

// TurnStart is called when a turn begins; the context it returns carries the turn's span.
func (h *Hooks) TurnStart(ctx context.Context, t *Turn) context.Context {
	t.Start = time.Now()
	if h.tracer != nil {
		ctx = h.tracer.turnStart(ctx, t)
	}
	return ctx
}

// TurnEnd is called once when the turn ends, with ctx from TurnStart.
func (h *Hooks) TurnEnd(ctx context.Context, t *Turn) {
	if t.Outcome == "" {
		t.Outcome = TurnAbandoned
	}
	d := time.Since(t.Start)
	if h.metrics != nil {
		h.metrics.turn(t, d)
	}
	if h.tracer != nil {
		h.tracer.turnEnd(ctx, t)
	}
}

// ActivityStart is called when an activity attempt begins; the context it returns carries
// the attempt's span.
func (h *Hooks) ActivityStart(ctx context.Context, a *Activity) context.Context {
	a.Start = time.Now()
	if h.tracer != nil {
		ctx = h.tracer.activityStart(ctx, a)
	}
	return ctx
}

// ActivityEnd is called once when the attempt ends, with ctx from ActivityStart.
func (h *Hooks) ActivityEnd(ctx context.Context, a *Activity) {
	d := time.Since(a.Start)
	if h.metrics != nil {
		h.metrics.activity(a, d)
	}
	if h.tracer != nil {
		h.tracer.activityEnd(ctx, a)
	}
}

// The setters below are called by the runtime on a *Turn or *Activity that is nil when
// telemetry is off: they do nothing then.

// SetLive records whether the turn resumed a live instance.
func (t *Turn) SetLive(live bool) {
	if t != nil {
		t.Live = live
	}
}

// SetOrchestration records the name of the turn's orchestration.
func (t *Turn) SetOrchestration(name string) {
	if t != nil {
		t.Orchestration = name
	}
}

// SetOutcome records how the turn ended (when it did not commit).
func (t *Turn) SetOutcome(o Outcome) {
	if t != nil {
		t.Outcome = o
	}
}

// Measure starts timing a phase of the turn (Instantiate or Commit, as set returns it);
// calling the function it returns ends it.
func (t *Turn) Measure(phase Phase) func() {
	if t == nil {
		return nop
	}
	began := time.Now()
	return func() {
		switch phase {
		case PhaseInstantiate:
			t.Instantiate = time.Since(began)
		case PhaseCommit:
			t.Commit = time.Since(began)
		}
	}
}

func nop() {}

// Phase is a part of a turn that Measure times.
type Phase uint8

// Phases of a turn.
const (
	PhaseInstantiate Phase = iota + 1
	PhaseCommit
)

// Committed records a committed turn: the messages it consumed and the events it wrote.
func (t *Turn) Committed(inputs, events []history.Event) {
	if t != nil {
		t.Outcome, t.Inputs, t.Events = TurnCommitted, inputs, events
	}
}

// CommitFailed records a commit the store refused: lockLost when another host holds the
// instance.
func (t *Turn) CommitFailed(lockLost bool) {
	if t == nil {
		return
	}
	t.Outcome = TurnError
	if lockLost {
		t.Outcome = TurnLockLost
	}
}

// SetOutcome records how the attempt ended.
func (a *Activity) SetOutcome(o Outcome, err error) {
	if a != nil {
		a.Outcome, a.Err = o, err
	}
}

// Tracing reports whether h traces.
func (h *Hooks) Tracing() bool { return h.tracer != nil }
