package server

import (
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// WithTracerProvider makes the server record a span per API request with tp, a child of the
// request's W3C traceparent header when it carries one. The host's spans of an instance
// started by a request are children of that request's span (host.Host.EnableTracing).
func WithTracerProvider(tp trace.TracerProvider) Option { return func(c *config) { c.obs.tracer = tp } }

// tracerName is the instrumentation scope of the server's spans.
const tracerName = "github.com/durohost/durohost/server"

// statusRecorder remembers the status of an answer.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (deadlines, flushes).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// traced wraps the handler of route pattern ("POST /v1/instances") in a server span, when
// the server traces; h itself otherwise.
func (s *Server) traced(pattern string, h http.Handler) http.Handler {
	tp := s.cfg.obs.tracer
	if tp == nil {
		return h
	}
	tr := tp.Tracer(tracerName)
	prop := propagation.TraceContext{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tr.Start(ctx, pattern, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("http.route", pattern),
				attribute.String("durohost.request_id", w.Header().Get(RequestIDHeader))))
		defer span.End()
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r.WithContext(ctx))
		span.SetAttributes(attribute.Int("http.response.status_code", rec.status))
		if rec.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(rec.status))
		}
	})
}
