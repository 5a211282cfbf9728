// Package server is the HTTP/JSON API of durohost: a module registry and the management of
// instances, over a host.Host and its store, for platforms whose users upload orchestration
// modules and start instances over the network. `durohost serve` runs it; a platform may
// embed it in its own http.Server.
//
//	h, _ := host.New(st)
//	srv, _ := server.New(h, st, server.WithTokens(tokens...))
//	h.Start()
//	http.ListenAndServe("127.0.0.1:8233", srv)
//
// Every request but /healthz, /readyz and /v1/openapi.json carries a bearer token bound to
// a namespace; a namespace sees only its own modules and instances (see RATIONALE.md, "Why
// are namespaces prefixes?"). A token with RoleRead may only call the GET endpoints. The API is described by the OpenAPI 3 document served at
// /v1/openapi.json (openapi.json in this directory). Errors are JSON objects
// {"error": {"code": "...", "message": "..."}} with a stable code.
package server

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
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
	// DefaultMaxRequestBody bounds a JSON request body (inputs and event data travel in it).
	DefaultMaxRequestBody = 8 << 20
	// DefaultMaxWait bounds a long-poll (wait?timeout=).
	DefaultMaxWait = 5 * time.Minute
	// DefaultReplaySample bounds how many open instances an upload with ?check=replay replays.
	DefaultReplaySample = 100
)

// Option configures a Server (see New). Options are applied in order and validated by New.
type Option func(*config)

type config struct {
	tokens       []Token
	maxModule    int64
	maxBody      int64
	maxWait      time.Duration
	replaySample int
	shared       bool
	logger       *slog.Logger
}

// WithTokens adds the bearer tokens the server accepts, each bound to a namespace with a role
// (RoleRead tokens may only call GET endpoints).
func WithTokens(tokens ...Token) Option {
	return func(c *config) { c.tokens = append(c.tokens, tokens...) }
}

// WithMaxModuleSize bounds an uploaded module, in bytes (default and maximum:
// host.MaxModuleSize). A larger body is refused with 413 before it is read.
func WithMaxModuleSize(n int64) Option { return func(c *config) { c.maxModule = n } }

// WithMaxRequestBody bounds a JSON request body, in bytes (default 8 MiB).
func WithMaxRequestBody(n int64) Option { return func(c *config) { c.maxBody = n } }

// WithMaxWait bounds the timeout of a long-poll wait (default 5 minutes).
func WithMaxWait(d time.Duration) Option { return func(c *config) { c.maxWait = d } }

// WithReplaySample bounds how many open instances an upload with ?check=replay replays
// against the new module (default 100).
func WithReplaySample(n int) Option { return func(c *config) { c.replaySample = n } }

// WithSharedRegistry also registers every uploaded orchestration under its plain name in the
// host's registry, as host.LoadModule does. Those names are shared by every namespace: a
// guest's sub-orchestration or detached orchestration that its own namespace does not
// register resolves to another namespace's upload, and host clients outside the server can
// start uploads by name. Use it only when the namespaces trust each other (one team, one
// tenant). It is not needed for children within a namespace: the runtime resolves a child's
// name in the parent's namespace first. See RATIONALE.md, "Why are namespaces prefixes?".
func WithSharedRegistry() Option { return func(c *config) { c.shared = true } }

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
}

// New returns a server over a host and the store the host runs on. The host is the
// caller's to start and stop. At least one token is required (WithTokens).
func New(h *host.Host, st store.Store, opts ...Option) (*Server, error) {
	cfg := config{maxModule: host.MaxModuleSize, maxBody: DefaultMaxRequestBody, maxWait: DefaultMaxWait,
		replaySample: DefaultReplaySample}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case h == nil || st == nil:
		return nil, errors.New("server: nil host or store")
	case len(cfg.tokens) == 0:
		return nil, errors.New("server: no tokens: every request would be refused (give tokens bound to namespaces)")
	case cfg.maxModule < 1 || cfg.maxModule > host.MaxModuleSize:
		return nil, fmt.Errorf("server: module size limit %d is not within 1..%d", cfg.maxModule, host.MaxModuleSize)
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
		tokens: map[[32]byte]grant{}, modules: map[string]*host.Module{}}
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

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

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
		s.mux.Handle(rt.method+" "+rt.path, s.auth(rt.writes(), rt.h))
	}

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

// api lists the endpoints that need a token (openapi.json documents each; a test checks).
func (s *Server) api() []route {
	return []route{
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
	}
}

// ready answers 200 when the store answers a query, 503 otherwise.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := s.st.QueueDepths(ctx); err != nil {
		writeError(w, errorf(http.StatusServiceUnavailable, CodeUnavailable, "store: %v", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
