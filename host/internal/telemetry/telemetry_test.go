package telemetry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// collect returns the metrics c collects.
func collect(t *testing.T, c prometheus.Collector) []*dto.Metric {
	t.Helper()
	ch := make(chan prometheus.Metric)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	var out []*dto.Metric
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		out = append(out, &d)
	}
	return out
}

// value is the value of the one counter c collects.
func value(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ms := collect(t, c)
	if len(ms) != 1 || ms[0].Counter == nil {
		t.Fatalf("%d metrics, want one counter", len(ms))
	}
	return ms[0].Counter.GetValue()
}

// count is the number of series c collects.
func count(t *testing.T, c prometheus.Collector) int { return len(collect(t, c)) }

// committedTurn is a turn of namespace ns that consumed a timer due 30 ms before it began and
// an activity result, and ended its execution with kind.
func committedTurn(h *Hooks, ns string, end history.Kind) *Turn {
	tt := &Turn{InstanceID: "i", Namespace: ns, Execution: 1}
	ctx := h.TurnStart(context.Background(), tt)
	due := tt.Start.Add(-30 * time.Millisecond).UnixNano()
	tt.Committed([]history.Event{{Kind: history.KindTimerFired, Time: due, FireAt: due}, {Kind: history.KindActivityCompleted, Time: due}},
		[]history.Event{{Kind: history.KindTurnStarted}, {Kind: end}})
	tt.SetOrchestration("o")
	tt.SetLive(true)
	h.TurnEnd(ctx, tt)
	return tt
}

func TestTurnMetrics(t *testing.T) {
	m := NewMetrics(Sources{})
	h := (*Hooks)(nil).With(m, nil)
	for _, end := range []history.Kind{history.KindExecutionCompleted, history.KindExecutionFailed,
		history.KindExecutionCancelled, history.KindExecutionContinuedAsNew, history.KindExecutionFailed} {
		committedTurn(h, "ns", end)
	}
	tests := []struct {
		c    prometheus.Collector
		want float64
	}{
		{m.ended.WithLabelValues("ns", "o", "completed"), 1},
		{m.ended.WithLabelValues("ns", "o", "failed"), 2},
		{m.ended.WithLabelValues("ns", "o", "cancelled"), 1},
		{m.ended.WithLabelValues("ns", "o", "continued_as_new"), 1},
		{m.turns.WithLabelValues("ns", "committed", "live"), 5},
		{m.liveHits, 5},
		{m.liveMisses, 0},
	}
	for k, tc := range tests {
		if got := value(t, tc.c); got != tc.want {
			t.Errorf("%d: %v, want %v", k, got, tc.want)
		}
	}
	if n := count(t, m.timerLate); n != 1 {
		t.Errorf("timer lateness series: %d", n)
	}
	// The lateness is at least the 30 ms the timer was overdue.
	if got := count(t, m.messageWait); got != 2 {
		t.Errorf("message wait series %d, want one per kind", got)
	}

	// A turn that did not commit counts no orchestration events; its default outcome is
	// abandoned; a fresh turn is no miss.
	tt := &Turn{Namespace: "ns", Fresh: true, Inputs: []history.Event{{Kind: history.KindExecutionStarted, Name: "o"}}}
	h.TurnEnd(h.TurnStart(context.Background(), tt), tt)
	if tt.Outcome != TurnAbandoned {
		t.Errorf("outcome %q, want abandoned", tt.Outcome)
	}
	if got := value(t, m.started.WithLabelValues("ns", "o")); got != 0 {
		t.Errorf("an uncommitted turn counted a start: %v", got)
	}
	if got := value(t, m.liveMisses); got != 0 {
		t.Errorf("a fresh turn counted a miss: %v", got)
	}
}

func TestNilTurnSetters(t *testing.T) {
	// The runtime calls these on a nil *Turn when telemetry is off.
	var tt *Turn
	tt.SetLive(true)
	tt.SetOrchestration("x")
	tt.SetOutcome(TurnDropped)
	tt.Measure(PhaseCommit)()
	tt.Committed(nil, nil)
	tt.CommitFailed(true)
	var a *Activity
	a.SetOutcome(ActivityFailed, nil)
}

func TestTracerRemembersBounded(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	tr := NewTracer(tp)
	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	for k := range maxRemembered + 10 {
		tr.started(ctx, fmt.Sprint(k))
	}
	span.End()
	if len(tr.starts) != maxRemembered || tr.order.Len() != maxRemembered {
		t.Fatalf("remembers %d (%d), want %d", len(tr.starts), tr.order.Len(), maxRemembered)
	}
	// The oldest are forgotten: their spans fall back on the trace derived from the ID.
	if got := trace.SpanContextFromContext(tr.parent(context.Background(), "0")); got.TraceID() != InstanceSpanContext("0").TraceID() {
		t.Errorf("a forgotten instance's parent is %v", got)
	}
	if got := trace.SpanContextFromContext(tr.parent(context.Background(), "42")); got.TraceID() != span.SpanContext().TraceID() {
		t.Errorf("a remembered instance's parent is %v", got)
	}
	// Continuing as new keeps it; an execution's end forgets it.
	h := (*Hooks)(nil).With(nil, tr)
	tt := &Turn{InstanceID: "42"}
	c0 := h.TurnStart(context.Background(), tt)
	tt.Committed(nil, []history.Event{{Kind: history.KindExecutionContinuedAsNew}})
	h.TurnEnd(c0, tt)
	if _, ok := tr.starts["42"]; !ok {
		t.Error("an instance that continued as new is forgotten")
	}
	tt = &Turn{InstanceID: "42"}
	c := h.TurnStart(context.Background(), tt)
	tt.Committed(nil, []history.Event{{Kind: history.KindExecutionCompleted}})
	h.TurnEnd(c, tt)
	if _, ok := tr.starts["42"]; ok {
		t.Error("an ended instance is still remembered")
	}
	// Started without a span: nothing remembered.
	tr.started(context.Background(), "plain")
	if _, ok := tr.starts["plain"]; ok {
		t.Error("a start without a span is remembered")
	}
}

// BenchmarkTurnHooks is the cost the hooks add to a turn: none when telemetry is off (a nil
// *Hooks is never called), the metrics' and the spans' otherwise.
//
//	go test ./host/internal/telemetry -run '^$' -bench TurnHooks
func BenchmarkTurnHooks(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	b.Cleanup(func() { tp.Shutdown(context.Background()) })
	for _, c := range []struct {
		name string
		h    *Hooks
	}{
		{"metrics", (*Hooks)(nil).With(NewMetrics(Sources{}), nil)},
		{"tracing", (*Hooks)(nil).With(nil, NewTracer(tp))},
		{"metrics+tracing", (*Hooks)(nil).With(NewMetrics(Sources{}), NewTracer(tp))},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				committedTurn(c.h, "ns", history.KindExecutionCompleted)
			}
		})
	}
}

// TestGuestNameLabelsBounded: a namespace whose guests use many orchestration or activity
// names gets at most MaxNamesPerNamespace series per metric and name label, the rest under
// OtherName; another namespace keeps its own names.
func TestGuestNameLabelsBounded(t *testing.T) {
	m := NewMetrics(Sources{})
	h := (*Hooks)(nil).With(m, nil)
	const many = MaxNamesPerNamespace + 50
	for k := range many {
		a := &Activity{Namespace: "greedy", Name: fmt.Sprint("act-", k), Attempt: 2, Outcome: ActivityUnregistered}
		h.ActivityEnd(h.ActivityStart(context.Background(), a), a)
		a.SetOutcome(ActivityCompleted, nil)
		h.ActivityEnd(h.ActivityStart(context.Background(), a), a)
		tt := &Turn{Namespace: "greedy", Execution: 1}
		ctx := h.TurnStart(context.Background(), tt)
		name := fmt.Sprint("orch-", k)
		tt.Committed([]history.Event{{Kind: history.KindExecutionStarted, Name: name}}, []history.Event{{Kind: history.KindExecutionCompleted}})
		tt.SetOrchestration(name)
		h.TurnEnd(ctx, tt)
	}
	for _, ns := range []string{"greedy", "quiet"} {
		a := &Activity{Namespace: ns, Name: "act-0", Outcome: ActivityCompleted}
		h.ActivityEnd(h.ActivityStart(context.Background(), a), a)
	}
	a := &Activity{Namespace: "quiet", Name: "late", Outcome: ActivityCompleted}
	h.ActivityEnd(h.ActivityStart(context.Background(), a), a)

	for _, tc := range []struct {
		name string
		c    prometheus.Collector
		want int
	}{
		// greedy: MaxNamesPerNamespace names and _other, by outcome (unregistered, completed);
		// quiet: act-0 and late, completed.
		{"activity_executions_total", m.acts, 2*(MaxNamesPerNamespace+1) + 2},
		{"activity_duration_seconds", m.actSeconds, MaxNamesPerNamespace + 1 + 2},
		{"activity_retries_total", m.actRetries, MaxNamesPerNamespace + 1},
		{"orchestrations_started_total", m.started, MaxNamesPerNamespace + 1},
		{"orchestrations_completed_total", m.ended, MaxNamesPerNamespace + 1},
	} {
		if got := count(t, tc.c); got != tc.want {
			t.Errorf("%s: %d series, want %d", tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct {
		c    prometheus.Collector
		want float64
	}{
		{m.acts.WithLabelValues("greedy", OtherName, string(ActivityCompleted)), many - MaxNamesPerNamespace},
		{m.acts.WithLabelValues("greedy", "act-0", string(ActivityCompleted)), 2},
		{m.acts.WithLabelValues("quiet", "act-0", string(ActivityCompleted)), 1},
		{m.acts.WithLabelValues("quiet", "late", string(ActivityCompleted)), 1},
		{m.started.WithLabelValues("greedy", OtherName), many - MaxNamesPerNamespace},
		{m.ended.WithLabelValues("greedy", "orch-1", "completed"), 1},
	} {
		if got := value(t, tc.c); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.c.(prometheus.Metric).Desc(), got, tc.want)
		}
	}
}

// TestSpanMessagesClipped: the failure messages a span carries (a guest's or an activity's
// text, as large as a payload) are cut to maxMessage bytes of valid UTF-8.
func TestSpanMessagesClipped(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	h := (*Hooks)(nil).With(nil, NewTracer(tp))
	huge := strings.Repeat("é", 1<<19) // 1 MiB, two bytes a rune: a cut may fall inside one

	tt := &Turn{InstanceID: "i", Namespace: "ns"}
	ctx := h.TurnStart(context.Background(), tt)
	tt.Committed(nil, []history.Event{{Kind: history.KindExecutionFailed, Failure: &abi.Failure{Kind: abi.FailureApplication, Message: huge}}})
	h.TurnEnd(ctx, tt)
	a := &Activity{InstanceID: "i", Namespace: "ns", Name: "act"}
	ctx = h.ActivityStart(context.Background(), a)
	a.SetOutcome(ActivityFailed, errors.New(huge))
	h.ActivityEnd(ctx, a)

	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	for _, s := range spans {
		texts := []string{s.Status.Description}
		for _, ev := range s.Events {
			for _, kv := range ev.Attributes {
				texts = append(texts, kv.Value.Emit())
			}
		}
		for _, txt := range texts {
			if len(txt) > maxMessage || !utf8.ValidString(txt) {
				t.Errorf("span %q carries %d bytes (valid UTF-8: %v), want at most %d", s.Name, len(txt), utf8.ValidString(txt), maxMessage)
			}
		}
		if !strings.HasPrefix(s.Status.Description, "éé") || !strings.HasSuffix(s.Status.Description, "…") {
			t.Errorf("span %q status %.20q...: want the message's start, marked as cut", s.Name, s.Status.Description)
		}
	}
	if got := clip("short"); got != "short" {
		t.Errorf("clip(short) = %q", got)
	}
}

// TestRememberDropsTraceState: the parent remembered for an instance's spans keeps its trace
// and span IDs but not the client's trace state (a client could otherwise pin 16 KiB of it for
// each of maxRemembered instances).
func TestRememberDropsTraceState(t *testing.T) {
	ts, err := trace.ParseTraceState("vendor=" + strings.Repeat("x", 200) + ",other=y")
	if err != nil {
		t.Fatal(err)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2},
		TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: true})
	tr := NewTracer(sdktrace.NewTracerProvider())
	tr.started(trace.ContextWithRemoteSpanContext(context.Background(), sc), "i")
	got := trace.SpanContextFromContext(tr.parent(context.Background(), "i"))
	if got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() {
		t.Errorf("parent %v, want the started span's IDs %v", got, sc)
	}
	if got.TraceState().Len() != 0 {
		t.Errorf("the remembered parent holds the trace state %q", got.TraceState())
	}
}

// TestLongNameLabelsCut: a guest's name of 1024 bytes is a label value of at most
// MaxNameLabel bytes of valid UTF-8 (it is repeated on every line of its series at each
// scrape).
func TestLongNameLabelsCut(t *testing.T) {
	m := NewMetrics(Sources{})
	h := (*Hooks)(nil).With(m, nil)
	long := "a" + strings.Repeat("é", 1023/2) // 1024 bytes; a cut at an even offset splits a rune
	a := &Activity{Namespace: "ns", Name: long, Outcome: ActivityCompleted}
	h.ActivityEnd(h.ActivityStart(context.Background(), a), a)
	ms := collect(t, m.acts)
	if len(ms) != 1 {
		t.Fatalf("%d series, want 1", len(ms))
	}
	for _, l := range ms[0].Label {
		if l.GetName() != "activity" {
			continue
		}
		v := l.GetValue()
		if len(v) > MaxNameLabel || !utf8.ValidString(v) || !strings.HasPrefix(long, strings.TrimSuffix(v, "…")) || !strings.HasSuffix(v, "…") {
			t.Errorf("activity label %q (%d bytes): want the name's start, at most %d bytes, marked as cut", v, len(v), MaxNameLabel)
		}
	}
}

// TestQueueDepthsShared: the store's queue depths are read at most once per depthTTL, and
// scrapes at once share one read (every token that may read /metrics makes a gather).
func TestQueueDepthsShared(t *testing.T) {
	var mu sync.Mutex
	reads := 0
	release := make(chan struct{})
	m := NewMetrics(Sources{Depths: func(context.Context) (*store.Depths, error) {
		<-release
		mu.Lock()
		defer mu.Unlock()
		reads++
		return &store.Depths{Messages: reads}, nil
	}})
	clock := time.Unix(1000, 0)
	m.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); count(t, m) }()
	}
	close(release)
	wg.Wait()
	if reads != 1 {
		t.Errorf("20 scrapes at once read the depths %d times, want 1", reads)
	}
	mu.Lock()
	clock = clock.Add(depthTTL - time.Millisecond)
	mu.Unlock()
	count(t, m)
	if reads != 1 {
		t.Errorf("a scrape within %s read the depths again (%d reads)", depthTTL, reads)
	}
	mu.Lock()
	clock = clock.Add(time.Millisecond)
	mu.Unlock()
	count(t, m)
	if reads != 2 {
		t.Errorf("a scrape %s later read the depths %d times in all, want 2", depthTTL, reads)
	}
}
