package telemetry

import (
	"container/list"
	"context"
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/durohost/durohost/history"
)

// TracerName is the instrumentation scope of durohost's spans.
const TracerName = "github.com/durohost/durohost/host"

// maxRemembered bounds the start contexts a Tracer keeps (the oldest are forgotten first).
const maxRemembered = 10000

// Tracer makes a span per turn and per activity attempt. The spans of an instance share a
// parent: the span of the request that started it, when the instance was started on this
// host (through Client.Start with a context that carries a span), or the span of its parent's
// turn that started it (a sub-orchestration or a detached orchestration), while it runs and
// is not forgotten; otherwise a parent derived from the instance's ID, the same on every host
// and across restarts, so that all the spans of an instance are one trace whichever host runs
// them (see RATIONALE.md, "Why do an instance's spans share a trace?").
type Tracer struct {
	tr trace.Tracer

	mu     sync.Mutex
	starts map[string]*list.Element // instance ID → element of order holding a remembered
	order  *list.List               // of remembered, oldest first
}

type remembered struct {
	id string
	sc trace.SpanContext
}

// NewTracer returns a tracer whose spans come from tp.
func NewTracer(tp trace.TracerProvider) *Tracer {
	return &Tracer{tr: tp.Tracer(TracerName), starts: map[string]*list.Element{}, order: list.New()}
}

// started remembers the span of ctx as the parent of the instance's spans.
func (t *Tracer) started(ctx context.Context, id string) {
	t.remember(id, trace.SpanContextFromContext(ctx))
}

// remember makes sc the parent of the spans of instance id (nothing for an invalid sc). Its
// trace state is dropped: it comes from the client's tracestate header (up to 32 entries of
// 512 bytes), and held for maxRemembered instances it would let clients pin megabytes of
// the host's memory.
func (t *Tracer) remember(id string, sc trace.SpanContext) {
	if !sc.IsValid() {
		return
	}
	sc = sc.WithTraceState(trace.TraceState{})
	t.mu.Lock()
	defer t.mu.Unlock()
	if el, ok := t.starts[id]; ok {
		t.order.Remove(el)
	}
	t.starts[id] = t.order.PushBack(remembered{id: id, sc: sc})
	for t.order.Len() > maxRemembered {
		el := t.order.Front()
		t.order.Remove(el)
		delete(t.starts, el.Value.(remembered).id)
	}
}

// forget drops the start context of an instance whose execution ended.
func (t *Tracer) forget(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if el, ok := t.starts[id]; ok {
		t.order.Remove(el)
		delete(t.starts, id)
	}
}

// parent returns ctx with the parent of the instance's spans.
func (t *Tracer) parent(ctx context.Context, id string) context.Context {
	t.mu.Lock()
	el, ok := t.starts[id]
	t.mu.Unlock()
	if ok {
		return trace.ContextWithRemoteSpanContext(ctx, el.Value.(remembered).sc)
	}
	return trace.ContextWithRemoteSpanContext(ctx, InstanceSpanContext(id))
}

// InstanceSpanContext is the span context derived from an instance's ID that parents its
// spans when the request that started it is not known: the trace ID is the first 16 bytes of
// the sha256 of "durohost instance " and the ID, the span ID the next 8; it is sampled.
func InstanceSpanContext(id string) trace.SpanContext {
	sum := sha256.Sum256([]byte("durohost instance " + id))
	var tid trace.TraceID
	var sid trace.SpanID
	copy(tid[:], sum[:16])
	copy(sid[:], sum[16:24])
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
}

// Span attribute keys.
const (
	attrInstance      = attribute.Key("durohost.instance.id")
	attrNamespace     = attribute.Key("durohost.namespace")
	attrOrchestration = attribute.Key("durohost.orchestration")
	attrExecution     = attribute.Key("durohost.execution")
	attrMode          = attribute.Key("durohost.turn.mode")
	attrOutcome       = attribute.Key("durohost.outcome")
	attrEvents        = attribute.Key("durohost.turn.events")
	attrActivity      = attribute.Key("durohost.activity")
	attrAttempt       = attribute.Key("durohost.activity.attempt")
	attrEventID       = attribute.Key("durohost.event.id")
)

func (t *Tracer) turnStart(ctx context.Context, tn *Turn) context.Context {
	ctx, _ = t.tr.Start(t.parent(ctx, tn.InstanceID), "turn", trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithTimestamp(tn.Start), trace.WithAttributes(attrInstance.String(tn.InstanceID)))
	return ctx
}

func (t *Tracer) turnEnd(ctx context.Context, tn *Turn) {
	span := trace.SpanFromContext(ctx)
	if tn.Orchestration != "" {
		span.SetName("turn " + tn.Orchestration)
	}
	span.SetAttributes(attrNamespace.String(tn.Namespace), attrOrchestration.String(tn.Orchestration),
		attrExecution.Int64(int64(tn.Execution)), attrMode.String(mode(tn)), attrOutcome.String(string(tn.Outcome)),
		attrEvents.Int(len(tn.Events)))
	ended := false
	for k := range tn.Events {
		ev := &tn.Events[k]
		switch {
		case ev.Kind == history.KindSubOrchestrationScheduled, ev.Kind == history.KindOrchestrationStarted:
			// The instances this turn starts are traced under it.
			t.remember(ev.InstanceID, span.SpanContext())
		case ev.Kind.IsTerminal():
			// An execution that continues as new keeps its parent.
			ended = ev.Kind != history.KindExecutionContinuedAsNew
			span.AddEvent(ev.Kind.String())
			if ev.Failure != nil {
				span.SetStatus(codes.Error, clip(ev.Failure.Message))
			}
		}
	}
	if tn.Outcome == TurnError {
		span.SetStatus(codes.Error, "commit failed")
	}
	span.End()
	if ended {
		t.forget(tn.InstanceID)
	}
}

func (t *Tracer) activityStart(ctx context.Context, a *Activity) context.Context {
	ctx, _ = t.tr.Start(t.parent(ctx, a.InstanceID), "activity "+a.Name, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithTimestamp(a.Start), trace.WithAttributes(attrInstance.String(a.InstanceID), attrNamespace.String(a.Namespace),
			attrActivity.String(a.Name), attrExecution.Int64(int64(a.Execution)), attrEventID.Int64(a.EventID),
			attrAttempt.Int(a.Attempt)))
	return ctx
}

func (t *Tracer) activityEnd(ctx context.Context, a *Activity) {
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(attrOutcome.String(string(a.Outcome)))
	switch {
	case a.Err != nil:
		msg := clip(a.Err.Error())
		span.AddEvent("exception", trace.WithAttributes(attribute.String("exception.type", fmt.Sprintf("%T", a.Err)),
			attribute.String("exception.message", msg)))
		span.SetStatus(codes.Error, msg)
	case a.Outcome == ActivityUnregistered:
		span.SetStatus(codes.Error, "activity "+strconv.Quote(a.Name)+" is not registered on this host")
	}
	span.End()
}

// maxMessage bounds, in bytes, the failure messages a span carries (its status and its
// exception event). They are a guest's or an activity's text, as large as a payload: a span
// per turn repeating one would swell every export, and an export batch past the collector's
// limit (4 MiB for gRPC) is refused with the spans of every other tenant in it.
const maxMessage = 1024

// clip returns s cut to at most maxMessage bytes on a rune boundary, marked with "…" when it
// was cut.
func clip(s string) string { return clipTo(s, maxMessage) }

// clipTo returns s cut to at most n bytes on a rune boundary, marked with "…" when it was
// cut.
func clipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.ToValidUTF8(s[:cut], "") + "…"
}
