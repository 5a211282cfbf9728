package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/host/builtin"
	"github.com/durohost/durohost/store"
)

// stopGrace is how long a stopping host lets in-flight turns and activities finish before
// abandoning them (abandoned work is taken again by the next host).
const stopGrace = 5 * time.Second

// session is a host over the store of --store, with the built-in activities registered.
type session struct {
	// storeName names the store for people (a PostgreSQL URL without its password).
	storeName  string
	st         store.Store
	closeStore func() error
	h          *host.Host
	prog       *progress
}

// defaultLockTimeout is the CLI's lock timeout: how long the work a crashed durohost was
// doing stays locked before another run takes it over. Shorter than the host's default
// (30 s) so that `run --resume` after a crash carries on quickly; locks are renewed while
// work runs, so it does not bound how long a turn or activity may take.
const defaultLockTimeout = 5 * time.Second

// lockFlag is the --lock-timeout flag of the commands that run a host.
func lockFlag() cli.Flag {
	return &cli.DurationFlag{
		Name:  "lock-timeout",
		Usage: "`DURATION` the work of a crashed host stays locked before this one takes it over (renewed while work runs; at least 100ms)",
		Value: defaultLockTimeout,
	}
}

// activityFlags are the flags of the commands that run a host: its worker counts, the
// built-in activities' configuration (see builtin.Config) and the host's limits
// (limitCLIFlags).
func activityFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.IntFlag{Name: "orchestration-workers", Usage: "turns run at once, `N` (a turn mostly waits for its commit: concurrent turns share commits)", Value: 64},
		&cli.IntFlag{Name: "activity-workers", Usage: "activities run at once, `N`", Value: 32},
		&cli.IntFlag{Name: "max-attempts", Usage: "deliveries of a message, or tries of an activity or orchestration no host registers, before the instance fails, `N` (run fails an unregistered activity at once)", Value: 10},
		&cli.DurationFlag{Name: "unregistered-backoff", Usage: "first `DURATION` before an activity or orchestration no host registers is tried again (doubling up to 30s), so that hosts of a rolling deployment that have it can take it", Value: 100 * time.Millisecond},
		&cli.StringSliceFlag{Name: "allow-http", Usage: "let the http activity contact `HOST`: a name, an IP or *.suffix, optionally with :port (repeatable; commas separate several)"},
		&cli.BoolFlag{Name: "enable-shell", Usage: "let the shell activity run commands on this machine"},
		&cli.Int64Flag{Name: "http-max-body", Usage: "largest HTTP response body, in `BYTES`, the http activity reads", Value: builtin.DefaultMaxBodyBytes},
		&cli.DurationFlag{Name: "http-max-timeout", Usage: "largest `DURATION` (timeout_ms) the http activity accepts", Value: builtin.DefaultMaxHTTPTimeout},
		&cli.Int64Flag{Name: "shell-max-output", Usage: "largest stdout and stderr, in `BYTES`, the shell activity captures", Value: builtin.DefaultMaxOutputBytes},
		&cli.DurationFlag{Name: "shell-max-timeout", Usage: "largest `DURATION` (timeout_ms) the shell activity accepts", Value: builtin.DefaultMaxShellTimeout},
	}, limitCLIFlags()...)
}

// workerOptions reads the worker counts of activityFlags.
func workerOptions(c *cli.Context) ([]host.Option, error) {
	orch, act := c.Int("orchestration-workers"), c.Int("activity-workers")
	if orch < 1 || act < 1 {
		return nil, fmt.Errorf("--orchestration-workers and --activity-workers must be at least 1 (got %d and %d)", orch, act)
	}
	attempts, backoff := c.Int("max-attempts"), c.Duration("unregistered-backoff")
	if attempts < 1 || backoff <= 0 {
		return nil, fmt.Errorf("--max-attempts must be at least 1 and --unregistered-backoff positive (got %d and %s)", attempts, backoff)
	}
	return []host.Option{host.WithOrchestrationWorkers(orch), host.WithActivityWorkers(act),
		host.WithMaxAttempts(attempts), host.WithRetryBase(backoff)}, nil
}

// activityConfig reads the flags of activityFlags.
func activityConfig(c *cli.Context) builtin.Config {
	return builtin.Config{
		AllowHTTP:       c.StringSlice("allow-http"),
		EnableShell:     c.Bool("enable-shell"),
		MaxBodyBytes:    c.Int64("http-max-body"),
		MaxHTTPTimeout:  c.Duration("http-max-timeout"),
		MaxOutputBytes:  c.Int64("shell-max-output"),
		MaxShellTimeout: c.Duration("shell-max-timeout"),
	}
}

// sessionOptions are what a command adds to its flags when it opens a session.
type sessionOptions struct {
	// prog prints the progress of the instances (nil: none).
	prog *progress
	// limits are the limits of a config file by flag name (see limitsOfConfig); the flags
	// override them.
	limits map[string]string
	// hostOpts are more options of the host.
	hostOpts []host.Option
	// store and storeSource are the store of a config file and how to name it in errors
	// ("" : none; --store and the environment override it).
	store, storeSource string
}

// openSession opens the store of --store (see storeName), prints its name on stderr and
// creates a host with the limits of the flags, the built-in activities and the progress
// printer (nil: no progress). The host is not started.
func openSession(c *cli.Context, stderr io.Writer, prog *progress, hostOpts ...host.Option) (*session, error) {
	return openSessionWith(c, stderr, sessionOptions{prog: prog, hostOpts: hostOpts})
}

// openSessionWith is openSession with the options of a command.
func openSessionWith(c *cli.Context, stderr io.Writer, so sessionOptions) (*session, error) {
	prog := so.prog
	acts, err := builtin.Activities(activityConfig(c))
	if err != nil {
		return nil, err
	}
	if d := c.Duration("lock-timeout"); d < 100*time.Millisecond {
		return nil, fmt.Errorf("--lock-timeout %s is shorter than 100ms", d)
	}
	limits, sources, err := readLimits(c, so.limits)
	if err != nil {
		return nil, err
	}
	cache, err := cacheDir()
	if err != nil {
		return nil, err
	}
	name, source, err := storeName(c, so.store, so.storeSource)
	if err != nil {
		return nil, err
	}
	st, closeStore, display, err := openStore(c.Context, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	fmt.Fprintf(stderr, "database %s\n", display)
	opts := []host.Option{
		host.WithCompilationCache(filepath.Join(cache, "wazero")),
		host.WithLockTimeout(c.Duration("lock-timeout")),
		host.WithLimits(limits),
	}
	workers, err := workerOptions(c)
	if err != nil {
		closeStore()
		return nil, err
	}
	opts = append(opts, workers...)
	if prog != nil {
		opts = append(opts, host.WithObserver(prog.observe), host.WithLogger(slog.New(&logHandler{p: prog})))
	}
	opts = append(opts, so.hostOpts...)
	h, err := host.New(st, opts...)
	if err != nil {
		closeStore()
		return nil, sources.explain(err)
	}
	for name, fn := range acts {
		if err := h.RegisterActivity(name, fn); err != nil {
			h.Stop(context.Background())
			closeStore()
			return nil, err
		}
	}
	return &session{storeName: display, st: st, closeStore: closeStore, h: h, prog: prog}, nil
}

// close stops the host, letting in-flight work finish for at most stopGrace (or until ctx
// ends), and closes the store.
func (s *session) close(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, stopGrace)
	defer cancel()
	s.h.Stop(ctx)
	s.closeStore()
}
