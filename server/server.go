// Package server is the HTTP/JSON API of durohost: a module registry and the management of
// instances, over a host.Host and its store, for platforms whose users upload orchestration
// modules and start instances over the network. `durohost serve` runs it; a platform may
// embed it in its own http.Server.
//
//	h, _ := host.New(st)
//	srv, _ := server.New(h, st, server.WithTokens(tokens...))
//	h.Start()
//	srv.HTTPServer("127.0.0.1:8233").ListenAndServe()
//
// Every request but /healthz, /readyz and /v1/openapi.json carries a bearer token bound to
// a namespace; a namespace sees only its own modules and instances (see RATIONALE.md, "Why
// are namespaces data?"). A token with RoleRead may only call the GET endpoints. The API
// is described by the OpenAPI 3 document served at /v1/openapi.json (openapi.json in this
// directory). Errors are JSON objects {"error": {"code": "...", "message": "..."}} with a
// stable code. A 5xx answer carries a generic message and the request ID under which the
// server logged the error (every answer carries its ID in the X-Request-ID header).
//
// # Serving to untrusted clients
//
// HTTPServer returns an http.Server whose timeouts bound what a client may hold: the request
// headers (Timeouts.ReadHeader), the whole request with its body (Timeouts.Read), the answer
// (Timeouts.Write) and an idle keep-alive connection (Timeouts.Idle). An embedder that uses
// its own http.Server must set all four (http.Server's zero values wait forever: a client that
// declares a body and sends nothing holds its connection, and a goroutine, for good), with
// WriteTimeout at least ReadTimeout. The handler itself extends the deadlines of the requests
// that legitimately take longer, through http.NewResponseController: a long-poll (wait,
// custom-status) to the server's maximum wait plus Timeouts.Write, an upload to
// Timeouts.Upload. See RATIONALE.md, "Why does serve set these timeouts?".
package server

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store"
)

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3 document of the API.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

// Defaults.
const (
	// DefaultMaxWait bounds a long-poll (wait?timeout=).
	DefaultMaxWait = 5 * time.Minute
	// DefaultReplaySample bounds how many open instances an upload with ?check=replay replays.
	DefaultReplaySample = 100
	// DefaultMaxHeaderBytes bounds the request line and headers of HTTPServer's connections.
	DefaultMaxHeaderBytes = 64 << 10
	// bodyMargin is what a JSON request body may hold beyond its payload in base64: the
	// other fields (name, ID, version) and the keys.
	bodyMargin = 64 << 10
)

// Timeouts bound what one client may hold of a server made by HTTPServer. A zero field takes
// its default (DefaultTimeouts). See RATIONALE.md, "Why does serve set these timeouts?".
type Timeouts struct {
	// ReadHeader bounds the time to read a request's line and headers.
	ReadHeader time.Duration
	// Read bounds the time to read a whole request, body included, from its first byte. A
	// body that has not arrived by then is answered 408 request_timeout.
	Read time.Duration
	// Write bounds the time from the end of a request's headers to the end of its answer: the
	// handler's work and the client's reading. Long-polls extend theirs to the maximum wait
	// (WithMaxWait) plus Write.
	Write time.Duration
	// Idle bounds the time a keep-alive connection waits for its next request.
	Idle time.Duration
	// Upload bounds the time to receive an uploaded module (PUT /v1/modules/{name}), which
	// may be much larger than a JSON body; its answer then has Write more (plus the time to
	// compile the module, within the host's Limits.CompileTime).
	Upload time.Duration
}

// DefaultTimeouts are the timeouts of HTTPServer without WithTimeouts, and the values New
// gives the zero fields of a Timeouts.
var DefaultTimeouts = Timeouts{
	ReadHeader: 10 * time.Second,
	Read:       time.Minute,
	Write:      time.Minute,
	Idle:       2 * time.Minute,
	Upload:     10 * time.Minute,
}

// Option configures a Server (see New). Options are applied in order and validated by New.
type Option func(*config)

type config struct {
	tokens       []Token
	maxModule    int64
	maxBody      int64
	maxWait      time.Duration
	replaySample int
	logger       *slog.Logger
	timeouts     Timeouts
	obs          observability // metrics.go
}

// WithTokens adds the bearer tokens the server accepts, each bound to a namespace with a role
// (RoleRead tokens may only call GET endpoints).
func WithTokens(tokens ...Token) Option {
	return func(c *config) { c.tokens = append(c.tokens, tokens...) }
}

// WithMaxModuleSize bounds an uploaded module, in bytes (default and maximum: the host's
// Limits().MaxModuleSize). A larger declared body is refused with 413 before it is read.
func WithMaxModuleSize(n int64) Option { return func(c *config) { c.maxModule = n } }

// WithMaxRequestBody bounds a JSON request body, in bytes. The default is derived from the
// host's Limits().MaxPayload: the largest payload in base64 plus 64 KiB for the other fields,
// so that a body is never refused for less than a payload the host accepts. Payloads (a start
// input, event data, a queue message) larger than MaxPayload are refused with 413 whatever
// this limit.
func WithMaxRequestBody(n int64) Option { return func(c *config) { c.maxBody = n } }

// WithTimeouts sets the timeouts of HTTPServer and the deadlines the handler extends (zero
// fields take their defaults, see DefaultTimeouts).
func WithTimeouts(t Timeouts) Option { return func(c *config) { c.timeouts = t } }

// WithMaxWait bounds the timeout of a long-poll wait (default 5 minutes).
func WithMaxWait(d time.Duration) Option { return func(c *config) { c.maxWait = d } }

// WithReplaySample bounds how many open instances an upload with ?check=replay replays
// against the new module (default 100).
func WithReplaySample(n int) Option { return func(c *config) { c.replaySample = n } }

// WithLogger sets the logger of request failures (default: none).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// Server serves the API. It is an http.Handler, safe for concurrent use.
type Server struct {
	h   *host.Host
	c   *host.Client
	st  store.Store
	cfg config
	mux *http.ServeMux

	tokens map[[32]byte]grant // sha256 of a token → its namespace and role

	mu sync.Mutex
	// modules caches module descriptions by hash.
	modules map[string]*host.Module

	readiness readiness
}

// New returns a server over a host and the store the host runs on. The host is the
// caller's to start and stop. At least one token is required (WithTokens).
func New(h *host.Host, st store.Store, opts ...Option) (*Server, error) {
	if h == nil || st == nil {
		return nil, errors.New("server: nil host or store")
	}
	limits := h.Limits()
	cfg := config{maxModule: int64(limits.MaxModuleSize), maxBody: jsonBodyLimit(limits.MaxPayload),
		maxWait: DefaultMaxWait, replaySample: DefaultReplaySample}
	for _, o := range opts {
		o(&cfg)
	}
	t, err := cfg.timeouts.normalized()
	if err != nil {
		return nil, err
	}
	cfg.timeouts = t
	switch {
	case len(cfg.tokens) == 0:
		return nil, errors.New("server: no tokens: every request would be refused (give tokens bound to namespaces)")
	case cfg.maxModule < 1 || cfg.maxModule > int64(limits.MaxModuleSize):
		return nil, fmt.Errorf("server: module size limit %d is not within 1..%d (the host's Limits().MaxModuleSize)", cfg.maxModule, limits.MaxModuleSize)
	case cfg.maxBody < 1:
		return nil, fmt.Errorf("server: request body limit %d is not positive", cfg.maxBody)
	case cfg.maxWait <= 0:
		return nil, fmt.Errorf("server: wait limit %s is not positive", cfg.maxWait)
	case cfg.replaySample < 1:
		return nil, fmt.Errorf("server: replay sample %d is not positive", cfg.replaySample)
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{h: h, c: h.Client(), st: st, cfg: cfg, mux: http.NewServeMux(),
		tokens: map[[32]byte]grant{}, modules: map[string]*host.Module{}, readiness: readiness{interval: readyInterval}}
	for _, t := range cfg.tokens {
		if err := checkNamespace(t.Namespace); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		if t.Role != RoleWrite && t.Role != RoleRead {
			return nil, fmt.Errorf("server: token of namespace %q: %v: %w", t.Namespace, t.Role, ErrUnknownRole)
		}
		if g, ok := s.tokens[t.Hash]; ok && g.ns != t.Namespace {
			return nil, fmt.Errorf("server: one token is bound to namespaces %q and %q", g.ns, t.Namespace)
		} else if ok && g.role != t.Role {
			return nil, fmt.Errorf("server: one token of namespace %q has roles %s and %s", t.Namespace, g.role, t.Role)
		}
		s.tokens[t.Hash] = grant{ns: t.Namespace, role: t.Role}
	}
	s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler. Every answer carries a new request ID in the
// X-Request-ID header. A handler's panic is logged with it and answered 500.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(RequestIDHeader, newRequestID())
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.cfg.logger.Error("request panicked", "request_id", w.Header().Get(RequestIDHeader), "method", r.Method,
				"path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			writeError(w, r, errorf(http.StatusInternalServerError, CodeInternal, "internal error"))
		}
	}()
	s.mux.ServeHTTP(w, r)
}

// newRequestID returns 16 random hexadecimal digits.
func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// HTTPServer returns an http.Server that serves s on addr with the timeouts of WithTimeouts
// (DefaultTimeouts) and DefaultMaxHeaderBytes, logging its own errors (TLS handshakes,
// accept errors) to the server's logger. The caller may set more fields (TLSConfig,
// BaseContext) before serving.
func (s *Server) HTTPServer(addr string) *http.Server {
	t := s.cfg.timeouts
	return &http.Server{
		Addr:              addr,
		Handler:           s,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.cfg.logger.Handler(), slog.LevelWarn),
	}
}

// normalized returns t with its zero fields set to their defaults, or an error naming the
// first one that is negative, or a write timeout shorter than the read timeout (an answer
// to a body that did not arrive in time could not be written).
func (t Timeouts) normalized() (Timeouts, error) {
	d := DefaultTimeouts
	for _, f := range []struct {
		v    *time.Duration
		def  time.Duration
		name string
	}{{&t.ReadHeader, d.ReadHeader, "read header"}, {&t.Read, d.Read, "read"}, {&t.Write, d.Write, "write"},
		{&t.Idle, d.Idle, "idle"}, {&t.Upload, d.Upload, "upload"}} {
		switch {
		case *f.v < 0:
			return t, fmt.Errorf("server: %s timeout %s is negative", f.name, *f.v)
		case *f.v == 0:
			*f.v = f.def
		}
	}
	if t.Write < t.Read {
		return t, fmt.Errorf("server: write timeout %s is shorter than the read timeout %s (a request that timed out could not be answered)", t.Write, t.Read)
	}
	return t, nil
}

// jsonBodyLimit is the default bound of a JSON request body for payloads of at most
// maxPayload bytes: a payload in base64 and the margin of the other fields.
func jsonBodyLimit(maxPayload int) int64 {
	return int64(base64.StdEncoding.EncodedLen(maxPayload)) + bodyMargin
}

// handler is an API handler: it returns an error (an *Error, or one mapped by errorOf).
type handler func(w http.ResponseWriter, r *http.Request, ns string) error

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.ready)
	s.mux.HandleFunc("GET /v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	})
	for _, rt := range s.api() {
		s.mux.Handle(rt.method+" "+rt.path, s.traced(rt.method+" "+rt.path, s.auth(rt.writes(), s.deadlines(rt, rt.h))))
	}
	if s.cfg.obs.gatherer != nil {
		s.mux.HandleFunc("GET /metrics", s.metrics)
	}
	s.consoleRoutes() // console.go

	// Anything else under /v1/ is a JSON 404 (or 405), not the mux's text.
	s.mux.Handle("/", s.auth(false, func(w http.ResponseWriter, r *http.Request, ns string) error {
		return errorf(http.StatusNotFound, CodeNotFound, "no endpoint %s %s (see /v1/openapi.json)", r.Method, r.URL.Path)
	}))
}

type route struct {
	method, path string
	h            handler
}

// writes reports whether the route needs a RoleWrite token: every method but GET (a PUT with
// ?check=replay, which stores nothing, too: the role is decided by the route alone).
func (rt route) writes() bool { return rt.method != http.MethodGet }

// longPoll reports whether the route may wait for a change, up to the server's maximum wait.
func (rt route) longPoll() bool {
	return rt.path == "/v1/instances/{id}/wait" || rt.path == "/v1/instances/{id}/custom-status"
}

// upload reports whether the route receives a module.
func (rt route) upload() bool { return rt.method == http.MethodPut && rt.path == "/v1/modules/{name}" }

// deadlines gives the routes that legitimately take longer than the server's timeouts their
// own deadlines, once the request is authenticated (an anonymous client never holds a
// connection longer than Timeouts.Read and Timeouts.Write allow):
//   - a long-poll may wait the maximum wait: its read and write deadlines are that plus
//     Timeouts.Write from now. The read deadline matters too: when it passes, an HTTP/1
//     server cancels the request's context (its background read of the connection fails).
//   - an upload may take Timeouts.Upload to arrive, and Timeouts.Write more to be answered.
//
// An http.ResponseWriter that cannot set deadlines (http.ErrNotSupported) keeps its server's.
func (s *Server) deadlines(rt route, h handler) handler {
	t := s.cfg.timeouts
	var read, write time.Duration
	switch {
	case rt.longPoll():
		read, write = s.cfg.maxWait+t.Write, s.cfg.maxWait+t.Write
	case rt.upload():
		read, write = t.Upload, t.Upload+t.Write
	default:
		return h
	}
	return func(w http.ResponseWriter, r *http.Request, ns string) error {
		rc := http.NewResponseController(w)
		now := time.Now()
		rc.SetReadDeadline(now.Add(read))
		rc.SetWriteDeadline(now.Add(write))
		return h(w, r, ns)
	}
}

// api lists the endpoints that need a token (openapi.json documents each; a test checks).
func (s *Server) api() []route {
	return append([]route{
		{"PUT", "/v1/modules/{name}", s.putModule},
		{"GET", "/v1/modules", s.listModules},
		{"GET", "/v1/modules/{name}", s.listModuleVersions},
		{"GET", "/v1/modules/{name}/versions/{version}", s.getModule},
		{"DELETE", "/v1/modules/{name}/versions/{version}", s.deleteModule},
		{"GET", "/v1/orchestrations", s.listOrchestrations},

		{"POST", "/v1/instances", s.startInstance},
		{"GET", "/v1/instances", s.listInstances},
		{"DELETE", "/v1/instances", s.purgeInstances},
		{"GET", "/v1/instances/{id}", s.getInstance},
		{"DELETE", "/v1/instances/{id}", s.deleteInstance},
		{"GET", "/v1/instances/{id}/wait", s.waitInstance},
		{"GET", "/v1/instances/{id}/executions", s.listExecutions},
		{"GET", "/v1/instances/{id}/history", s.getHistory},
		{"GET", "/v1/instances/{id}/custom-status", s.getCustomStatus},
		{"POST", "/v1/instances/{id}/events/{event}", s.raiseEvent},
		{"POST", "/v1/instances/{id}/queues/{queue}", s.enqueue},
		{"POST", "/v1/instances/{id}/cancel", s.cancelInstance},
		{"POST", "/v1/instances/{id}/prune", s.pruneInstance},
		{"GET", "/v1/instances/{id}/tree", s.getTree},
	}, s.pluginRoutes()...) // plugins.go
}

// readyInterval bounds how often /readyz asks the store: the answers in between repeat the
// last one, so that an anonymous client cannot make the store work by calling it.
const readyInterval = time.Second

// readiness is the last answer of the store to /readyz.
type readiness struct {
	interval time.Duration // readyInterval
	mu       sync.Mutex
	at       time.Time
	err      error
}

// readyProbeID is the instance the readiness probe looks up when the store cannot be pinged:
// no namespace's instance has an ID without '/', so it is normally not found (which is ready).
const readyProbeID = "readyz-probe"

// ready answers 200 when the store answers, 503 otherwise. It pings the store (a store that
// implements Ping), or looks up one instance by its key, at most once per readyInterval.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if err := s.probe(r.Context()); err != nil {
		s.cfg.logger.Warn("not ready", "request_id", w.Header().Get(RequestIDHeader), "err", err)
		writeError(w, r, errorf(http.StatusServiceUnavailable, CodeUnavailable, "the store does not answer"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// probe asks the store whether it answers, or returns the answer of less than readyInterval
// ago. Concurrent callers wait for one probe. The client's cancellation does not end the
// probe, so it is never the answer the next callers get.
func (s *Server) probe(ctx context.Context) error {
	rd := &s.readiness
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if !rd.at.IsZero() && time.Since(rd.at) < rd.interval {
		return rd.err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	var err error
	if p, ok := s.st.(store.Pinger); ok {
		err = p.Ping(ctx)
	} else if _, err = s.st.Instance(ctx, readyProbeID); errors.Is(err, store.ErrNotFound) {
		err = nil
	}
	rd.at, rd.err = time.Now(), err
	return err
}
