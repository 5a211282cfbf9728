package server

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

const tokMetrics = "token-of-prometheus"

// metricsEnv is a server with metrics (and their token) whose namespaces a and b each ran an
// instance of hello.
func metricsEnv(t *testing.T, opts ...Option) *env {
	t.Helper()
	reg := prometheus.NewRegistry()
	e := newEnv(t, append([]Option{WithMetrics(reg), WithMetricsTokens(sha256.Sum256([]byte(tokMetrics)))}, opts...)...)
	must(t, e.h.EnableMetrics(reg))
	guest := goGuest(t)
	for _, tok := range []string{tokA, tokB} {
		e.upload(tok, "features", "1", guest)
		e.wait(tok, e.start(tok, "hello", "h", "x"))
	}
	return e
}

// scrape waits until /metrics, read with token, holds want, and returns it.
func scrape(t *testing.T, e *env, token, want string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := e.expect(token, "GET", "/metrics", nil, http.StatusOK, "")
		if strings.Contains(string(r.body), want) {
			return string(r.body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics with token %s has no %s:\n%s", token, want, r.body)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMetricsAccess(t *testing.T) {
	e := metricsEnv(t)
	e.expect("", "GET", "/metrics", nil, http.StatusUnauthorized, CodeUnauthenticated)
	e.expect("not-a-token", "GET", "/metrics", nil, http.StatusUnauthorized, CodeUnauthenticated)
	// A metrics token may read metrics and nothing else.
	e.expect(tokMetrics, "GET", "/v1/instances", nil, http.StatusUnauthorized, CodeUnauthenticated)

	all := scrape(t, e, tokMetrics, `durohost_orchestrations_completed_total{namespace="b",orchestration="hello",status="completed"} 1`)
	for _, want := range []string{
		`durohost_orchestrations_completed_total{namespace="a",orchestration="hello",status="completed"} 1`,
		`durohost_activity_executions_total{activity="greet",namespace="a",outcome="completed"} 1`,
		"durohost_live_cache_limit_bytes ", `durohost_queue_depth{queue="messages",state="ready"}`,
		"# TYPE durohost_turn_duration_seconds histogram",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("the metrics token's scrape has no %s", want)
		}
	}

	// A namespace's token reads its own series only.
	a := scrape(t, e, tokA, `durohost_orchestrations_completed_total{namespace="a",orchestration="hello",status="completed"} 1`)
	for _, not := range []string{`namespace="b"`, "durohost_live_cache_limit_bytes", "durohost_queue_depth"} {
		if strings.Contains(a, not) {
			t.Errorf("namespace a's scrape holds %s:\n%s", not, a)
		}
	}
}

func TestMetricsOff(t *testing.T) {
	e := newEnv(t)
	e.expect(tokA, "GET", "/metrics", nil, http.StatusNotFound, CodeNotFound)
}

func TestWhoami(t *testing.T) {
	e := newEnv(t, WithTokens(Token{Namespace: "a", Hash: sha256.Sum256([]byte("reader")), Role: RoleRead}))
	for _, c := range []struct{ token, ns, role string }{{tokA, "a", "write"}, {tokB, "b", "write"}, {"reader", "a", "read"}} {
		got := e.expect(c.token, "GET", "/ui/whoami", nil, http.StatusOK, "").obj(t)
		if got["namespace"] != c.ns || got["role"] != c.role {
			t.Errorf("whoami of %s = %v, want %s %s", c.token, got, c.ns, c.role)
		}
	}
	e.expect("", "GET", "/ui/whoami", nil, http.StatusUnauthorized, CodeUnauthenticated)
}

func TestRequestSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	e := newEnv(t, WithTracerProvider(tp))
	must(t, e.h.EnableTracing(tp))
	e.upload(tokA, "features", "1", goGuest(t))

	// The caller's traceparent: the request's span is its child, the instance's spans the
	// request's.
	const traceID, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req, err := http.NewRequest("POST", e.url+"/v1/instances", strings.NewReader(`{"name":"hello","id":"t1","input":"x"}`))
	must(t, err)
	req.Header.Set("Authorization", "Bearer "+tokA)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+traceID+"-"+parent+"-01")
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		t.Fatalf("start: %d", resp.StatusCode)
	}
	e.wait(tokA, "t1")

	deadline := time.Now().Add(10 * time.Second)
	for {
		var request *tracetest.SpanStub
		turns := 0
		spans := exp.GetSpans()
		for i, s := range spans {
			if s.Name == "POST /v1/instances" {
				request = &spans[i]
			}
		}
		if request != nil {
			if request.SpanContext.TraceID().String() != traceID || request.Parent.SpanID().String() != parent {
				t.Fatalf("request span: trace %s parent %s, want %s %s", request.SpanContext.TraceID(), request.Parent.SpanID(), traceID, parent)
			}
			for _, s := range spans {
				if s.Name == "turn hello" && s.Parent.SpanID() == request.SpanContext.SpanID() {
					turns++
				}
			}
		}
		if turns >= 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("want the request's span and two turns of hello under it; spans: %v", spans)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRequestSpansMalformedTraceparent: a traceparent the W3C format refuses (bad version,
// all-zero IDs, wrong lengths, upper case, junk) is ignored: the request is served and its span
// is the root of a new trace.
func TestRequestSpansMalformedTraceparent(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	e := newEnv(t, WithTracerProvider(tp))
	bad := []string{
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
		strings.Repeat("x", 8000),
		"00-4bf92f3577b34da6a3ce929d0e0e4736\x00-00f067aa0ba902b7-01",
	}
	for _, v := range bad {
		req, err := http.NewRequest("GET", e.url+"/v1/instances", nil)
		must(t, err)
		req.Header.Set("Authorization", "Bearer "+tokA)
		req.Header["Traceparent"] = []string{v}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			// Go's client refuses a header value holding a NUL: nothing to test then.
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("traceparent %.40q: status %d", v, resp.StatusCode)
		}
	}
	spans := exp.GetSpans()
	if len(spans) < len(bad)-1 {
		t.Fatalf("%d spans for %d requests", len(spans), len(bad))
	}
	for _, s := range spans {
		if s.Parent.IsValid() || s.SpanContext.TraceID().String() == "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Errorf("span %s has the parent %v of a malformed traceparent", s.Name, s.Parent)
		}
	}
}
