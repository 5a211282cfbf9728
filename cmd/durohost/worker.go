package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/server"
)

// workerCommand runs a host on a store until it is signalled: another host for the instances
// that `durohost serve` (or `durohost run`) starts in the same store.
func workerCommand() *cli.Command {
	return &cli.Command{
		Name:  "worker",
		Usage: "run a host on the store until interrupted, sharing its work with the other hosts",
		Description: `Runs the orchestrations and activities of every instance in the store (--store), with
the modules the instances pin (kept in the store: a worker needs no module file), until
SIGINT or SIGTERM. Every host on one store shares its work: the hosts compete for the
queued turns and activities, and each keeps running the instances it started or took.

Scale out 'durohost serve' on PostgreSQL with workers on other machines (or more serve
processes behind a load balancer):

   durohost serve  --store postgres://durohost@db.internal/durohost --config serve.json
   durohost worker --store postgres://durohost@db.internal/durohost --config serve.json

A turn or activity runs with the configuration of the host that takes it: give every host
the same activity flags (--allow-http, --enable-shell, ...), limits and namespace policies,
here the serve config file (its limits, namespaces, shared_registry and store apply; its
tokens, listen address and TLS files are not used). Instances of the default namespace
(those of 'durohost run') may call every activity the worker registers, as under run.

--metrics-listen ADDRESS serves the worker's Prometheus metrics at /metrics on that address,
without a token (a private network); the config file's "metrics_listen" does the same. Traces
go to an OTLP collector when the standard OTEL_* variables ask for it, as for serve.

SQLite stores may be shared by hosts on one machine only, and gain nothing from it: one
SQLite writer is faster than several.`,
		Flags: append([]cli.Flag{
			storeFlag(),
			&cli.StringFlag{Name: "config", Usage: "serve's JSON configuration `FILE`: its limits, namespace policies, shared_registry and store apply", TakesFile: true},
			&cli.BoolFlag{Name: "shared-registry", Usage: "as serve's --shared-registry: give it to every host of the store or to none"},
			lockFlag(),
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "do not print progress"},
			&cli.StringFlag{Name: "metrics-listen", Usage: "serve /metrics without a token on `ADDRESS` (host:port), for a Prometheus on a private network"},
		}, activityFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return exitWith(exitError, "worker: unexpected argument %q", c.Args().First())
			}
			stderr := c.App.ErrWriter
			cfg := &serveConfig{}
			if path := c.String("config"); path != "" {
				var err error
				if cfg, err = readServeConfig(path); err != nil {
					return exitWith(exitError, "worker: %v", err)
				}
			}
			// The tokens only check that the namespaces of the file are bound to one.
			tokens, err := cfg.tokens(os.Getenv(envTokens))
			if err != nil {
				return exitWith(exitError, "worker: %v", err)
			}
			so, err := workerSessionOptions(c, cfg, tokens)
			if err != nil {
				return exitWith(exitError, "worker: %v", err)
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			if !c.Bool("quiet") {
				so.prog = newProgress(stderr)
			}
			tp, err := tracerFromEnv(c.Context)
			if err != nil {
				return exitWith(exitError, "worker: %v", err)
			}
			if tp != nil {
				defer shutdownTracing(tp, stderr)
			}
			s, err := openSessionWith(c, stderr, so)
			if err != nil {
				return exitWith(exitError, "worker: %s", oneLine(err.Error()))
			}
			if addr := firstOf(c.String("metrics-listen"), cfg.MetricsListen); addr != "" {
				reg := newMetricsRegistry()
				if err := s.h.EnableMetrics(reg); err != nil {
					s.close(context.Background())
					return exitWith(exitError, "worker: %v", err)
				}
				ms, err := serveMetrics(addr, reg, stderr)
				if err != nil {
					s.close(context.Background())
					return exitWith(exitError, "worker: %v", err)
				}
				defer ms.Close()
			}
			if tp != nil {
				if err := s.h.EnableTracing(tp); err != nil {
					s.close(context.Background())
					return exitWith(exitError, "worker: %v", err)
				}
			}
			if err := s.h.Start(); err != nil {
				s.close(context.Background())
				return err
			}
			// Plugins uploaded to a server on the store become activities here too.
			go s.h.WatchPlugins(ctx)
			fmt.Fprintln(stderr, "worker running (Ctrl-C to stop)")
			<-ctx.Done()
			stop()
			s.close(context.Background())
			fmt.Fprintln(stderr, "worker stopped")
			return nil
		},
	}
}

// workerSessionOptions are the session options of a worker: serve's (see serveConfig.sessionOptions),
// but the instances of the default namespace, which only run starts, may call every
// activity, as under run.
func workerSessionOptions(c *cli.Context, cfg *serveConfig, tokens []server.Token) (sessionOptions, error) {
	return cfg.sessionOptions(c, tokens, func(ns string) (host.NamespacePolicy, bool) {
		return host.NamespacePolicy{}, ns == ""
	})
}
