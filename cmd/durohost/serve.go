package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v2"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/host/builtin"
	"github.com/durohost/durohost/server"
)

// envTokens holds the bearer tokens of serve: "namespace:token[:role],...".
const envTokens = "DUROHOST_TOKENS"

// defaultListen is serve's address: loopback only, unless told otherwise.
const defaultListen = "127.0.0.1:8233"

// shutdownGrace is how long a stopping server lets requests in flight finish.
const shutdownGrace = 10 * time.Second

// serveConfig is the JSON file of serve --config. Flags override its fields.
type serveConfig struct {
	// Listen is the address to listen on (default 127.0.0.1:8233).
	Listen string `json:"listen,omitempty"`
	// Store names the store as --store does (a SQLite path or a postgres:// URL).
	Store string `json:"store,omitempty"`
	// DB is the older name of Store.
	DB string `json:"db,omitempty"`
	// Tokens are the bearer tokens, each bound to a namespace: give the secret in "token", or
	// only its hex sha256 in "token_sha256" (so that the file holds no secret). "role" is
	// "write" (the default: every endpoint) or "read" (GET endpoints only).
	Tokens []struct {
		Namespace   string `json:"namespace"`
		Token       string `json:"token,omitempty"`
		TokenSHA256 string `json:"token_sha256,omitempty"`
		Role        string `json:"role,omitempty"`
	} `json:"tokens"`
	// SharedRegistry: see --shared-registry (not needed for children within a namespace).
	SharedRegistry bool `json:"shared_registry,omitempty"`
	// MaxModuleSize was the bound of an upload: it is limits.max_module_size now.
	MaxModuleSize json.RawMessage `json:"max_module_size,omitempty"`
	// TLSCert and TLSKey are the PEM files of --tls-cert and --tls-key.
	TLSCert string `json:"tls_cert,omitempty"`
	TLSKey  string `json:"tls_key,omitempty"`
	// Limits are the host's limits: the limit flags' names with '_' for '-' ("turn_time"),
	// each value a string as the flag takes it ("10s", "64MiB") or a number.
	Limits map[string]json.RawMessage `json:"limits,omitempty"`
	// Namespaces maps a namespace to its policy.
	Namespaces map[string]namespaceConfig `json:"namespaces,omitempty"`
	// MetricsTokens may read every series of /metrics (and nothing else): the secret in
	// "token" or its hex sha256 in "token_sha256".
	MetricsTokens []struct {
		Token       string `json:"token,omitempty"`
		TokenSHA256 string `json:"token_sha256,omitempty"`
	} `json:"metrics_tokens,omitempty"`
	// MetricsListen is the address of --metrics-listen.
	MetricsListen string `json:"metrics_listen,omitempty"`
}

// namespaceConfig is the policy of one namespace in the config file (see host.NamespacePolicy).
type namespaceConfig struct {
	// Activities lists the only activities the namespace's orchestrations may call. Without
	// it, every registered activity but shell; shell only when listed (and --enable-shell).
	Activities []string `json:"activities"`
	// HTTPHosts, when given, replaces --allow-http for the namespace's http activity calls.
	HTTPHosts []string `json:"http_hosts"`
	// MaxInstances bounds the namespace's unfinished instances (0: no bound).
	MaxInstances int `json:"max_instances,omitempty"`
	// MaxModuleBytes bounds the bytes of the modules the namespace uploaded: a size, as the
	// limits take it ("64MiB") or bytes (0: no bound).
	MaxModuleBytes json.RawMessage `json:"max_module_bytes,omitempty"`
	// MaxConcurrentTurns bounds the namespace's turns running at once (0: no bound).
	MaxConcurrentTurns int `json:"max_concurrent_turns,omitempty"`
}

// readServeConfig reads a config file strictly (unknown keys are errors).
func readServeConfig(path string) (*serveConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %v", err)
	}
	var cfg serveConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("config %s: %v", path, err)
	}
	if cfg.MaxModuleSize != nil {
		return nil, fmt.Errorf("config %s: max_module_size is now in the limits: {\"limits\": {\"max_module_size\": %s}}", path, cfg.MaxModuleSize)
	}
	if cfg.Store != "" && cfg.DB != "" && cfg.Store != cfg.DB {
		return nil, fmt.Errorf("config %s: \"store\" and \"db\" name different stores: keep \"store\" (\"db\" is its older name)", path)
	}
	if cfg.Store == "" {
		cfg.Store = cfg.DB
	}
	return &cfg, nil
}

// policies returns the namespace policy of the config file for a host with the activities
// registered: a namespace's "activities" list, or every registered activity but shell. It
// refuses a namespace no token is bound to (a typo would leave the intended namespace
// without its policy; not checked when there are no tokens, as for a worker that serves no
// requests), an activity that is not registered, shell when it is not enabled, malformed
// http hosts and negative quotas.
func (cfg *serveConfig) policies(tokens []server.Token, registered []string, shellEnabled bool) (func(string) host.NamespacePolicy, error) {
	bound := map[string]bool{}
	for _, t := range tokens {
		bound[t.Namespace] = true
	}
	var withoutShell []string
	for _, name := range registered {
		if name != "shell" {
			withoutShell = append(withoutShell, name)
		}
	}
	sort.Strings(withoutShell)
	byNS := map[string]host.NamespacePolicy{}
	for ns, nc := range cfg.Namespaces {
		at := fmt.Sprintf("config: namespaces.%s", ns)
		if len(tokens) > 0 && !bound[ns] {
			return nil, fmt.Errorf("%s: no token is bound to namespace %q", at, ns)
		}
		p := host.NamespacePolicy{Activities: withoutShell, HTTPHosts: nc.HTTPHosts,
			MaxInstances: nc.MaxInstances, MaxConcurrentTurns: nc.MaxConcurrentTurns}
		if nc.Activities != nil {
			p.Activities = []string{}
			for _, a := range nc.Activities {
				switch {
				case !slices.Contains(registered, a):
					return nil, fmt.Errorf("%s.activities: no activity %q (the activities are %s)", at, a, strings.Join(registered, ", "))
				case a == "shell" && !shellEnabled:
					return nil, fmt.Errorf("%s.activities: shell is listed but --enable-shell is not given (every call would fail)", at)
				}
				if !slices.Contains(p.Activities, a) {
					p.Activities = append(p.Activities, a)
				}
			}
		}
		if nc.HTTPHosts != nil {
			if _, err := builtin.Activities(builtin.Config{AllowHTTP: nc.HTTPHosts}); err != nil {
				return nil, fmt.Errorf("%s.http_hosts: %v", at, err)
			}
		}
		if nc.MaxModuleBytes != nil {
			v, err := configValue(nc.MaxModuleBytes)
			if err == nil {
				p.MaxModuleBytes, err = parseSize(v)
			}
			if err != nil {
				return nil, fmt.Errorf("%s.max_module_bytes: %v", at, err)
			}
		}
		switch {
		case nc.MaxInstances < 0:
			return nil, fmt.Errorf("%s.max_instances %d is negative (0: no bound)", at, nc.MaxInstances)
		case nc.MaxConcurrentTurns < 0:
			return nil, fmt.Errorf("%s.max_concurrent_turns %d is negative (0: no bound)", at, nc.MaxConcurrentTurns)
		}
		byNS[ns] = p
	}
	def := host.NamespacePolicy{Activities: withoutShell}
	return func(ns string) host.NamespacePolicy {
		if p, ok := byNS[ns]; ok {
			return p
		}
		return def
	}, nil
}

// tokens returns the tokens of the config file and of $DUROHOST_TOKENS.
func (cfg *serveConfig) tokens(env string) ([]server.Token, error) {
	var out []server.Token
	for i, t := range cfg.Tokens {
		var tok server.Token
		switch {
		case t.Token != "" && t.TokenSHA256 != "":
			return nil, fmt.Errorf("config: tokens[%d]: give token or token_sha256, not both", i)
		case t.Token != "":
			tok = server.NewToken(t.Namespace, t.Token)
		case t.TokenSHA256 != "":
			var err error
			if tok, err = server.HashedToken(t.Namespace, t.TokenSHA256); err != nil {
				return nil, fmt.Errorf("config: tokens[%d]: %v", i, err)
			}
		default:
			return nil, fmt.Errorf("config: tokens[%d]: no token", i)
		}
		if t.Role != "" {
			var err error
			if tok.Role, err = server.ParseRole(t.Role); err != nil {
				return nil, fmt.Errorf("config: tokens[%d]: %v", i, err)
			}
		}
		out = append(out, tok)
	}
	if env != "" {
		toks, err := server.ParseTokens(env)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", envTokens, err)
		}
		out = append(out, toks...)
	}
	return out, nil
}

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run the host and its HTTP API (module registry, instances) until interrupted",
		Description: `Runs the orchestrations and activities of the store, and serves the HTTP/JSON API
(described at /v1/openapi.json) on --listen: upload modules, start, observe, signal and
manage instances. Every request but /healthz, /readyz and /v1/openapi.json needs a bearer
token, bound to a namespace that sees only its own modules and instances. Tokens come from
the --config file ({"tokens": [{"namespace": "team-a", "token": "..."}]}, or "token_sha256"
to keep only the digest) and from $DUROHOST_TOKENS ("team-a:secret,team-b:other"). A token
has a role: "write" (the default) may do everything in its namespace, "read" only the GET
endpoints (status, wait, history, custom status, lists, tree, module metadata); give it as
"role": "read" in the file, or as a third field in $DUROHOST_TOKENS ("team-a:secret:read";
a secret holding ':' then needs its role: "team-a:pass:word:write").

Tokens travel in every request: beyond loopback, serve over TLS (--tls-cert and --tls-key,
PEM files) or behind a TLS proxy; serve warns when it listens beyond loopback without TLS.
` + timeoutsHelp() + `

The config file also holds the host's limits, {"limits": {"turn_time": "5s",
"max_payload": "1MiB"}} (the limit flags' names with _ for -; a flag overrides the file),
and a policy per namespace:
   {"namespaces": {"team-a": {"activities": ["echo", "http"], "http_hosts": ["api.example.org"],
     "max_instances": 1000, "max_module_bytes": "256MiB", "max_concurrent_turns": 16}}}
"activities" lists the only activities the namespace may call; without it, every activity
but shell: shell runs only with --enable-shell and only for the namespaces that list it.
"http_hosts" replaces --allow-http for the namespace. The quotas (0 or absent: none) bound
its unfinished instances (a start beyond is 429 quota_exceeded), the bytes of its uploaded
modules and its turns running at once.

The web console is at /ui/ (sign in with a token). Prometheus metrics are at /metrics: a
metrics token ($DUROHOST_METRICS_TOKENS="secret,...", or {"metrics_tokens": [{"token":
"..."}]} in the file) reads every series, a namespace's token only its own; --metrics-listen
ADDRESS also serves them without a token on a private address. Traces are off unless the
standard OpenTelemetry variables ask for them: OTEL_EXPORTER_OTLP_ENDPOINT (or
OTEL_TRACES_EXPORTER=otlp) sends a span per request, turn and activity attempt to an OTLP
collector (OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf, the default, or grpc).

Sub-orchestrations and detached orchestrations a guest starts by name resolve in its own
namespace, in any module the namespace uploaded, and never in another namespace's unless
--shared-registry is given: it also registers every upload under its plain name, shared by
all namespaces, so that a guest may start an orchestration only another namespace uploaded.
Give it only for namespaces that trust each other.

The store (--store, or "store" in the config file) is a SQLite file or a PostgreSQL URL.
Several hosts may share a PostgreSQL store: more serve processes behind a load balancer,
or durohost worker processes given the same --store and --config (see 'durohost worker
--help'). They share the store's modules and instances; each needs the same activity
flags, limits and namespace policies.

SIGINT or SIGTERM stops accepting connections, lets requests and turns in flight finish
(or abandons them after a grace period: the work is taken again at the next start), and
closes the store.

Examples:
   DUROHOST_TOKENS=team-a:s3cret durohost serve --store durohost.db
   DUROHOST_TOKENS=team-a:s3cret durohost serve --store postgres://durohost@db.internal/durohost --listen :8233`,
		Flags: append([]cli.Flag{
			storeFlag(),
			&cli.StringFlag{Name: "listen", Usage: "`ADDRESS` to listen on (host:port; port 0 picks one)"},
			&cli.StringFlag{Name: "config", Usage: "JSON configuration `FILE` (tokens, listen, store, tls_cert, tls_key, limits, namespaces, metrics_tokens, metrics_listen)", TakesFile: true},
			&cli.StringFlag{Name: "tls-cert", Usage: "serve HTTPS with the certificate chain of PEM `FILE` (with --tls-key)", TakesFile: true},
			&cli.StringFlag{Name: "tls-key", Usage: "the private key of --tls-cert, PEM `FILE`", TakesFile: true},
			&cli.StringFlag{Name: "metrics-listen", Usage: "also serve /metrics without a token on `ADDRESS` (host:port), for a Prometheus on a private network; on --listen, /metrics needs a metrics token ($" + envMetricsTokens + ") or a namespace's token (its own series)"},
			&cli.BoolFlag{Name: "shared-registry", Usage: "also register uploaded orchestrations by their plain names, shared by every namespace, so that a guest may start an orchestration another namespace uploaded (only for namespaces that trust each other; not needed for sub-orchestrations within a namespace)"},
			lockFlag(),
		}, activityFlags()...),
		Action: serveAction,
	}
}

func serveAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return exitWith(exitError, "serve: unexpected argument %q", c.Args().First())
	}
	stderr := c.App.ErrWriter
	cfg := &serveConfig{}
	if path := c.String("config"); path != "" {
		var err error
		if cfg, err = readServeConfig(path); err != nil {
			return exitWith(exitError, "serve: %v", err)
		}
	}
	tokens, err := cfg.tokens(os.Getenv(envTokens))
	if err != nil {
		return exitWith(exitError, "serve: %v", err)
	}
	if len(tokens) == 0 {
		return exitWith(exitError, "serve: no tokens: give them in the --config file or in $%s (namespace:token[:role],...)", envTokens)
	}
	listen := firstOf(c.String("listen"), cfg.Listen, defaultListen)
	tlsConfig, err := loadTLS(firstOf(c.String("tls-cert"), cfg.TLSCert), firstOf(c.String("tls-key"), cfg.TLSKey))
	if err != nil {
		return exitWith(exitError, "serve: %v", err)
	}
	so, err := cfg.sessionOptions(c, tokens, nil)
	if err != nil {
		return exitWith(exitError, "serve: %v", err)
	}
	opts := []server.Option{server.WithTokens(tokens...),
		server.WithLogger(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))}
	metricsTokens, err := cfg.metricsTokens(os.Getenv(envMetricsTokens))
	if err != nil {
		return exitWith(exitError, "serve: %v", err)
	}
	tp, err := tracerFromEnv(c.Context)
	if err != nil {
		return exitWith(exitError, "serve: %v", err)
	}
	if tp != nil {
		defer shutdownTracing(tp, stderr)
		opts = append(opts, server.WithTracerProvider(tp))
	}
	reg := newMetricsRegistry()
	opts = append(opts, server.WithMetrics(reg), server.WithMetricsTokens(metricsTokens...))

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := openSessionWith(c, stderr, so)
	if err != nil {
		return exitWith(exitError, "serve: %s", oneLine(err.Error()))
	}
	defer s.close(context.Background())
	if err := s.h.EnableMetrics(reg); err != nil {
		return exitWith(exitError, "serve: %v", err)
	}
	if tp != nil {
		if err := s.h.EnableTracing(tp); err != nil {
			return exitWith(exitError, "serve: %v", err)
		}
	}
	srv, err := server.New(s.h, s.st, opts...)
	if err != nil {
		return exitWith(exitError, "serve: %v", err)
	}
	metricsServer, err := serveMetrics(firstOf(c.String("metrics-listen"), cfg.MetricsListen), reg, stderr)
	if err != nil {
		return exitWith(exitError, "serve: %v", err)
	}
	if metricsServer != nil {
		defer metricsServer.Close()
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return exitWith(exitError, "serve: %v", err)
	}
	if err := s.h.Start(); err != nil {
		ln.Close()
		return err
	}
	// Requests see base ending when the server stops, so that long-polls return.
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	// Plugins uploaded through other hosts on the store (and before a restart) become
	// activities here, and replaced or deleted ones stop being (host.WatchPlugins).
	go s.h.WatchPlugins(base)
	hs := srv.HTTPServer(listen)
	hs.BaseContext = func(net.Listener) context.Context { return base }
	hs.TLSConfig = tlsConfig
	served := make(chan error, 1)
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
		go func() { served <- hs.ServeTLS(ln, "", "") }()
	} else {
		go func() { served <- hs.Serve(ln) }()
	}
	fmt.Fprintf(stderr, "listening on %s://%s (%d namespaces; Ctrl-C to stop)\n", scheme, ln.Addr(), countNamespaces(tokens))
	if w := plaintextWarning(ln.Addr(), tlsConfig != nil); w != "" {
		fmt.Fprintln(stderr, w)
	}

	select {
	case <-ctx.Done():
	case err := <-served:
		return exitWith(exitError, "serve: %v", err)
	}
	stop()
	fmt.Fprintln(stderr, "stopping: no new connections; finishing requests and turns in flight")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	cancelBase()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintf(stderr, "shutdown: %v\n", err)
	}
	s.close(context.Background())
	fmt.Fprintln(stderr, "stopped")
	return nil
}

// sessionOptions returns what serve and worker take alike from the config file and the
// flags for their host: the limits of the file, the namespace policies (see policies;
// override, when not nil, changes the policy of some namespaces), the shared registry and
// the store of the file. Every host on one store must be given the same: a turn or activity
// runs with the policies of whichever host takes it.
func (cfg *serveConfig) sessionOptions(c *cli.Context, tokens []server.Token, override func(ns string) (host.NamespacePolicy, bool)) (sessionOptions, error) {
	fileLimits, err := limitsOfConfig(cfg.Limits)
	if err != nil {
		return sessionOptions{}, fmt.Errorf("config: %v", err)
	}
	acts, err := builtin.Activities(activityConfig(c))
	if err != nil {
		return sessionOptions{}, err
	}
	var registered []string
	for name := range acts {
		registered = append(registered, name)
	}
	sort.Strings(registered)
	policy, err := cfg.policies(tokens, registered, c.Bool("enable-shell"))
	if err != nil {
		return sessionOptions{}, err
	}
	if override != nil {
		base := policy
		policy = func(ns string) host.NamespacePolicy {
			if p, ok := override(ns); ok {
				return p
			}
			return base(ns)
		}
	}
	hostOpts := []host.Option{host.WithNamespacePolicy(policy)}
	if c.Bool("shared-registry") || cfg.SharedRegistry {
		hostOpts = append(hostOpts, host.WithSharedRegistry())
	}
	return sessionOptions{limits: fileLimits, hostOpts: hostOpts,
		store: cfg.Store, storeSource: "config " + c.String("config")}, nil
}

// timeoutsHelp describes the timeouts of serve's connections (server.DefaultTimeouts).
func timeoutsHelp() string {
	t := server.DefaultTimeouts
	return fmt.Sprintf(`A connection is bounded in time: %s for a request's headers, %s for its body
(%s for a module upload), %s to answer (a long-poll: its wait, at most %s, and %s
more), %s idle between requests.`, t.ReadHeader, t.Read, t.Upload, t.Write, server.DefaultMaxWait, t.Write, t.Idle)
}

// loadTLS returns the TLS configuration of a certificate chain and its key (PEM files), or
// nil when neither is given.
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	switch {
	case certFile == "" && keyFile == "":
		return nil, nil
	case certFile == "":
		return nil, errors.New("--tls-key needs --tls-cert (tls_key needs tls_cert)")
	case keyFile == "":
		return nil, errors.New("--tls-cert needs --tls-key (tls_cert needs tls_key)")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s and key %s: %v", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// plaintextWarning is the warning of a server that listens beyond loopback without TLS, or "".
func plaintextWarning(addr net.Addr, tls bool) string {
	if tls {
		return ""
	}
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsLoopback() {
		return ""
	}
	return fmt.Sprintf("warning: serving plain HTTP on %s, reachable beyond this machine: bearer tokens and payloads travel in clear; give --tls-cert and --tls-key, or listen on loopback behind a TLS proxy", addr)
}

func countNamespaces(tokens []server.Token) int {
	seen := map[string]bool{}
	for _, t := range tokens {
		seen[t.Namespace] = true
	}
	return len(seen)
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// envMetricsTokens holds the tokens that may read every series of /metrics: secrets
// separated by commas.
const envMetricsTokens = "DUROHOST_METRICS_TOKENS"

// metricsTokens returns the sha256 of the metrics tokens of the config file and of
// $DUROHOST_METRICS_TOKENS.
func (cfg *serveConfig) metricsTokens(env string) ([][32]byte, error) {
	var out [][32]byte
	for i, t := range cfg.MetricsTokens {
		switch {
		case t.Token != "" && t.TokenSHA256 != "":
			return nil, fmt.Errorf("config: metrics_tokens[%d]: give token or token_sha256, not both", i)
		case t.Token != "":
			out = append(out, sha256.Sum256([]byte(t.Token)))
		case t.TokenSHA256 != "":
			b, err := hex.DecodeString(t.TokenSHA256)
			if err != nil || len(b) != 32 {
				return nil, fmt.Errorf("config: metrics_tokens[%d]: %q is not a hex sha256 (64 hex digits)", i, t.TokenSHA256)
			}
			out = append(out, [32]byte(b))
		default:
			return nil, fmt.Errorf("config: metrics_tokens[%d]: no token", i)
		}
	}
	for _, s := range strings.Split(env, ",") {
		if s = strings.TrimSpace(s); s != "" {
			if strings.Contains(s, ":") {
				return nil, fmt.Errorf("%s: an entry holds ':': give the secrets alone, separated by commas (a metrics token is bound to no namespace)", envMetricsTokens)
			}
			out = append(out, sha256.Sum256([]byte(s)))
		}
	}
	return out, nil
}

// newMetricsRegistry returns the registry of serve's metrics: the Go runtime's and the
// process's, and (once the host is made) the host's.
func newMetricsRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// serveMetrics serves the metrics of reg at /metrics on addr, without a token (nothing when
// addr is empty). It refuses a port already taken before serve starts its host.
func serveMetrics(addr string, reg *prometheus.Registry, stderr io.Writer) (*http.Server, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-listen: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	go hs.Serve(ln)
	fmt.Fprintf(stderr, "metrics on http://%s/metrics (no token: keep this address private)\n", ln.Addr())
	return hs, nil
}

// tracerFromEnv returns a tracer provider exporting to an OTLP collector when the standard
// environment asks for one, nil otherwise (tracing is off by default): when
// OTEL_TRACES_EXPORTER is "otlp", or, without it, when OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set. OTEL_SDK_DISABLED=true and
// OTEL_TRACES_EXPORTER=none turn it off. The protocol is OTEL_EXPORTER_OTLP_TRACES_PROTOCOL
// or OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf (the default) or grpc. The exporter reads the
// other OTEL_EXPORTER_OTLP_* variables (headers, timeout, TLS), the provider
// OTEL_TRACES_SAMPLER and its argument, the resource OTEL_SERVICE_NAME (default durohost) and
// OTEL_RESOURCE_ATTRIBUTES.
func tracerFromEnv(ctx context.Context) (*sdktrace.TracerProvider, error) {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") {
		return nil, nil
	}
	switch exp := os.Getenv("OTEL_TRACES_EXPORTER"); exp {
	case "":
		if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
			return nil, nil
		}
	case "none":
		return nil, nil
	case "otlp":
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: durohost exports traces with otlp only (or none)", exp)
	}
	protocol := firstOf(os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL"), "http/protobuf")
	var exporter sdktrace.SpanExporter
	var err error
	switch protocol {
	case "http/protobuf":
		exporter, err = otlptracehttp.New(ctx)
	case "grpc":
		exporter, err = otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("OTLP protocol %q: want http/protobuf or grpc", protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %v", err)
	}
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName("durohost")),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("OpenTelemetry resource: %v", err)
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res)), nil
}

// shutdownTracing sends the spans still buffered, within a few seconds.
func shutdownTracing(tp *sdktrace.TracerProvider, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tp.Shutdown(ctx); err != nil {
		fmt.Fprintf(stderr, "tracing: %v\n", err)
	}
}
