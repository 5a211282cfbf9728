package host_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/durohost/durohost/host"
)

// spansOf waits until the exporter holds at least n spans of instance id, and returns them.
func spansOf(t *testing.T, exp *tracetest.InMemoryExporter, id string, n int) []tracetest.SpanStub {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var out []tracetest.SpanStub
		for _, s := range exp.GetSpans() {
			for _, a := range s.Attributes {
				if a.Key == "durohost.instance.id" && a.Value.AsString() == id {
					out = append(out, s)
				}
			}
		}
		if len(out) >= n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d spans of %s, want %d: %v", len(out), id, n, out)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTracing(t *testing.T) {
	e := newEnv(t)
	must(t, e.h.RegisterActivity("fails", func(context.Context, []byte) ([]byte, error) { return nil, errors.New("no") }))
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	must(t, e.h.EnableTracing(tp))
	if err := e.h.EnableTracing(tp); !errors.Is(err, host.ErrAlreadyEnabled) {
		t.Fatalf("second EnableTracing: %v, want ErrAlreadyEnabled", err)
	}

	t.Run("start request", func(t *testing.T) {
		// The spans of an instance started with a span are children of that span.
		ctx, req := tp.Tracer("test").Start(context.Background(), "POST /v1/instances")
		id, err := e.c.Start(ctx, "hello", []byte(`"x"`), host.WithInstanceID("traced"))
		must(t, err)
		req.End()
		if _, err := e.c.Wait(ctx, id); err != nil {
			t.Fatal(err)
		}
		// hello: a first turn scheduling greet, the attempt, the turn on its result.
		spans := spansOf(t, exp, id, 3)
		names := map[string]int{}
		for _, s := range spans {
			names[s.Name]++
			if s.SpanContext.TraceID() != req.SpanContext().TraceID() || s.Parent.SpanID() != req.SpanContext().SpanID() {
				t.Errorf("span %s: trace %s parent %s, want the start request's %s %s", s.Name, s.SpanContext.TraceID(),
					s.Parent.SpanID(), req.SpanContext().TraceID(), req.SpanContext().SpanID())
			}
		}
		if names["turn hello"] < 2 || names["activity greet"] != 1 {
			t.Errorf("spans %v, want 2 turns of hello and an attempt of greet", names)
		}
		for _, s := range spans {
			if s.Name != "activity greet" {
				continue
			}
			attrs := map[string]string{}
			for _, a := range s.Attributes {
				attrs[string(a.Key)] = a.Value.Emit()
			}
			if attrs["durohost.outcome"] != "completed" || attrs["durohost.activity.attempt"] != "1" {
				t.Errorf("activity span attributes %v", attrs)
			}
		}
	})

	t.Run("children", func(t *testing.T) {
		// A sub-orchestration's spans are in its parent's trace, under the turn that started it.
		ctx, req := tp.Tracer("test").Start(context.Background(), "POST /v1/instances")
		id, err := e.c.Start(ctx, "child", nil, host.WithInstanceID("family"))
		must(t, err)
		req.End()
		if _, err := e.c.Wait(ctx, id); err != nil {
			t.Fatal(err)
		}
		var childID string
		for _, s := range exp.GetSpans() {
			for _, a := range s.Attributes {
				if a.Key == "durohost.instance.id" && strings.HasPrefix(a.Value.AsString(), "family:") {
					childID = a.Value.AsString()
				}
			}
		}
		if childID == "" {
			t.Fatal("no span of the child")
		}
		for _, s := range spansOf(t, exp, childID, 1) {
			if s.SpanContext.TraceID() != req.SpanContext().TraceID() {
				t.Errorf("child span %s: trace %s, want the parent's %s", s.Name, s.SpanContext.TraceID(), req.SpanContext().TraceID())
			}
		}
	})

	t.Run("no start request", func(t *testing.T) {
		// Without one, the instance's spans share a trace derived from its ID.
		e.run("activity_fail", `null`, host.WithInstanceID("derived"))
		spans := spansOf(t, exp, "derived", 3)
		sum := sha256.Sum256([]byte("durohost instance derived"))
		var want trace.TraceID
		copy(want[:], sum[:16])
		failed := false
		for _, s := range spans {
			if s.SpanContext.TraceID() != want {
				t.Errorf("span %s: trace %s, want %s", s.Name, s.SpanContext.TraceID(), want)
			}
			if s.Status.Code.String() == "Error" {
				failed = true
			}
		}
		if !failed {
			t.Errorf("no span has the error status of the failed activity and execution: %v", spans)
		}
	})
}
