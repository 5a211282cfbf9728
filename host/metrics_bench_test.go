package host_test

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/durohost/durohost/store/sqlite"
)

// BenchmarkTelemetry runs orchestrations of 200 sequential activities on the live path with
// telemetry off, with metrics, and with metrics and tracing (spans batched to an exporter that
// drops them), and reports the time per step (a turn and an activity):
//
//	go test ./host -run '^$' -bench Telemetry -count 5
func BenchmarkTelemetry(b *testing.B) {
	const n = 200
	for _, mode := range []string{"off", "metrics", "metrics+tracing"} {
		b.Run(mode, func(b *testing.B) {
			e := newSequenceEnv(b, sqlite.SyncNormal)
			if mode != "off" {
				if err := e.h.EnableMetrics(prometheus.NewRegistry()); err != nil {
					b.Fatal(err)
				}
			}
			if mode == "metrics+tracing" {
				tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
				b.Cleanup(func() { tp.Shutdown(b.Context()) })
				if err := e.h.EnableTracing(tp); err != nil {
					b.Fatal(err)
				}
			}
			e.runSequence(b, "warm-up", 10)
			k := 0
			for b.Loop() {
				b.StopTimer()
				e.reset()
				b.StartTimer()
				e.runSequence(b, fmt.Sprintf("seq-%d", k), n)
				k++
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(k*n), "µs/step")
		})
	}
}
