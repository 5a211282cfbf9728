package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

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
	// DB is the SQLite database.
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
	// MaxModuleSize bounds an upload, in bytes.
	MaxModuleSize int64 `json:"max_module_size,omitempty"`
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
	return &cfg, nil
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
		Description: `Runs the orchestrations and activities of the database, and serves the HTTP/JSON API
(described at /v1/openapi.json) on --listen: upload modules, start, observe, signal and
manage instances. Every request but /healthz, /readyz and /v1/openapi.json needs a bearer
token, bound to a namespace that sees only its own modules and instances. Tokens come from
the --config file ({"tokens": [{"namespace": "team-a", "token": "..."}]}, or "token_sha256"
to keep only the digest) and from $DUROHOST_TOKENS ("team-a:secret,team-b:other"). A token
has a role: "write" (the default) may do everything in its namespace, "read" only the GET
endpoints (status, wait, history, custom status, lists, tree, module metadata); give it as
"role": "read" in the file, or as a third field in $DUROHOST_TOKENS ("team-a:secret:read";
a secret holding ':' then needs its role: "team-a:pass:word:write").

Sub-orchestrations and detached orchestrations a guest starts by name resolve in its own
namespace, in any module the namespace uploaded, and never in another namespace's unless
--shared-registry is given: it also registers every upload under its plain name, shared by
all namespaces, so that a guest may start an orchestration only another namespace uploaded.
Give it only for namespaces that trust each other.

SIGINT or SIGTERM stops accepting connections, lets requests and turns in flight finish
(or abandons them after a grace period: the work is taken again at the next start), and
closes the database.`,
		Flags: append([]cli.Flag{
			dbFlag(),
			&cli.StringFlag{Name: "listen", Usage: "`ADDRESS` to listen on (host:port; port 0 picks one)"},
			&cli.StringFlag{Name: "config", Usage: "JSON configuration `FILE` (tokens, listen, db)", TakesFile: true},
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
	if c.String("db") == "" && cfg.DB != "" {
		c.Set("db", cfg.DB)
	}
	opts := []server.Option{server.WithTokens(tokens...),
		server.WithLogger(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))}
	if c.Bool("shared-registry") || cfg.SharedRegistry {
		opts = append(opts, server.WithSharedRegistry())
	}
	if cfg.MaxModuleSize > 0 {
		opts = append(opts, server.WithMaxModuleSize(cfg.MaxModuleSize))
	}

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := openSession(c, stderr, nil)
	if err != nil {
		return exitWith(exitError, "serve: %s", oneLine(err.Error()))
	}
	defer s.close(context.Background())
	srv, err := server.New(s.h, s.st, opts...)
	if err != nil {
		return exitWith(exitError, "serve: %v", err)
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
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return base }}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	fmt.Fprintf(stderr, "listening on http://%s (%d namespaces; Ctrl-C to stop)\n", ln.Addr(), countNamespaces(tokens))

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
