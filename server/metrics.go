package server

import (
	"crypto/sha256"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/trace"
)

// observability is what the server exposes beside the API: metrics and tracing.
type observability struct {
	gatherer      prometheus.Gatherer
	metricsTokens map[[32]byte]bool
	tracer        trace.TracerProvider
}

// WithMetrics serves the metrics of g (a prometheus.Registry with the host's metrics, see
// host.Host.EnableMetrics) at GET /metrics, in the Prometheus text format. A metrics token
// (WithMetricsTokens) reads every series; a namespace's token, read or write, reads only the
// series labelled with its namespace (its turns, activities and orchestrations), not the
// host-wide ones nor other namespaces'. Without WithMetrics, /metrics is 404. To serve
// metrics without a token on a private address instead, serve promhttp.HandlerFor(g, ...)
// on a listener of your own (durohost serve --metrics-listen).
func WithMetrics(g prometheus.Gatherer) Option { return func(c *config) { c.obs.gatherer = g } }

// WithMetricsTokens adds the tokens that may read every series at /metrics, given as the
// sha256 of their secrets. They are bound to no namespace and may call nothing else.
func WithMetricsTokens(sha256s ...[32]byte) Option {
	return func(c *config) {
		if c.obs.metricsTokens == nil {
			c.obs.metricsTokens = map[[32]byte]bool{}
		}
		for _, h := range sha256s {
			c.obs.metricsTokens[h] = true
		}
	}
}

// bearer returns the sha256 of the request's bearer token, or false without one.
func bearer(r *http.Request) ([32]byte, bool) {
	scheme, secret, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	secret = strings.TrimSpace(secret)
	if !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return [32]byte{}, false
	}
	return sha256.Sum256([]byte(secret)), true
}

// metrics serves GET /metrics (see WithMetrics).
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	h, ok := bearer(r)
	if !ok {
		writeError(w, r, errorf(http.StatusUnauthorized, CodeUnauthenticated, "missing bearer token (send Authorization: Bearer <token>; Prometheus: authorization.credentials)"))
		return
	}
	g := s.cfg.obs.gatherer
	if !s.cfg.obs.metricsTokens[h] {
		grant, ok := s.tokens[h]
		if !ok {
			writeError(w, r, errorf(http.StatusUnauthorized, CodeUnauthenticated, "unknown bearer token"))
			return
		}
		g = namespaceGatherer{g: g, ns: grant.ns}
	}
	promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorLog: errorLogger{s}}).ServeHTTP(w, r)
}

// errorLogger logs the errors of gathering metrics.
type errorLogger struct{ s *Server }

func (l errorLogger) Println(v ...any) { l.s.cfg.logger.Error("gather metrics", "err", v) }

// namespaceGatherer keeps the series of one namespace: those with the label namespace=ns.
type namespaceGatherer struct {
	g  prometheus.Gatherer
	ns string
}

// Gather implements prometheus.Gatherer.
func (n namespaceGatherer) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := n.g.Gather()
	out := mfs[:0]
	for _, mf := range mfs {
		kept := mf.Metric[:0]
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if l.GetName() == "namespace" && l.GetValue() == n.ns {
					kept = append(kept, m)
					break
				}
			}
		}
		if len(kept) > 0 {
			mf.Metric = kept
			out = append(out, mf)
		}
	}
	return out, err
}
