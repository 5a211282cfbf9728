package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run an orchestration until it completes and print its output",
		ArgsUsage: "<module.wasm | guest project directory>",
		Description: `Loads the module, starts its orchestration with --input and runs a host until the
instance ends. The output (JSON) is printed on stdout; the instance ID, the database
and the progress of the instance are printed on stderr.

The module is a .wasm file, or a guest project directory, built and cached: a Go guest
package (compiled with the local Go toolchain, GOOS=wasip1 GOARCH=wasm), a Cargo project
(Debian's rustc for wasm32), an AssemblyScript project (package.json and asconfig.json, with
npm), a C project (a Makefile, or .c files, with clang for wasm32-wasi), or a directory with
a main.js or a main.py (bundled with the embedded JavaScript or Python runtime: no toolchain).

The instance lives in the store (--store: a SQLite file, by default durohost.db in your
data directory, or a PostgreSQL URL): when durohost stops (Ctrl-C, --timeout, a crash),
run it again with --resume <id> and it carries on where it stopped. Activities that
were running may run again; no orchestration decision is ever recorded twice. Other
hosts on the same store (durohost worker, durohost serve) may run its turns meanwhile.

While it runs, the client commands act on the same store from another terminal: raise
an event, enqueue a message, watch the status, read the history, cancel (durohost raise
ID EVENT DATA, status ID, custom-status ID --watch, history ID, ...; give them the same
--store). They keep working after run has ended.

--plugin FILE.wasm registers an Extism plugin for this run: each function it exports is the
activity NAME.FUNCTION (NAME: the file's name without .wasm, or NAME=FILE.wasm), allowed
to reach the --allow-http hosts only. Plugins the store keeps (durohost plugin push to a
server on the same store) are registered too.

An activity that no built-in or plugin provides fails at once, naming the activities there are,
and so does a sub-orchestration that no module of the store registers (serve and worker
wait for another host to register it: --max-attempts, --unregistered-backoff).

Exit codes: 0 completed, 1 error or the instance failed, 2 --timeout passed,
130 interrupted (the last two leave the instance to --resume).

Examples:
   durohost run wasm-examples/go/hello --input '"World"'
   durohost run fanout.wasm --input '{"items": 100}' --store work.db --id batch-1
   durohost run fanout.wasm --resume batch-1 --store work.db
   durohost run fanout.wasm --store postgres://durohost@db.internal/durohost
   durohost run wasm-examples/plugins/review --plugin text=wasm-examples/plugins/assemblyscript/text.wasm`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "orchestration", Aliases: []string{"o"}, Usage: "the orchestration `NAME` to start, when the module registers several (default: its only one, or the one named like the module)"},
			&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "the orchestration's input, as `JSON` (default: null)"},
			storeFlag(),
			lockFlag(),
			&cli.StringFlag{Name: "id", Usage: "the new instance's `ID` (default: a random one)"},
			&cli.StringFlag{Name: "resume", Usage: "do not start an instance: run until the existing instance `ID` ends"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "do not print progress"},
			&cli.DurationFlag{Name: "timeout", Usage: "stop waiting after `DURATION` (0: until the instance ends) with exit code 2; the instance continues on the next --resume"},
			&cli.StringSliceFlag{Name: "plugin", Usage: "register the Extism plugin `FILE.wasm` (or NAME=FILE.wasm): its functions are the activities NAME.FUNCTION, allowed the --allow-http hosts (repeatable)", TakesFile: true},
		}, activityFlags()...),
		Action: func(c *cli.Context) error { return runAction(c) },
	}
}

// runAction is the run command.
func runAction(c *cli.Context) error {
	stdout, stderr := c.App.Writer, c.App.ErrWriter
	if c.NArg() != 1 {
		return exitWith(exitError, "run: expected one module (a .wasm file or a guest project directory), got %d arguments (see 'durohost run --help')", c.NArg())
	}
	modArg := c.Args().First()
	resume := c.String("resume")
	if resume != "" {
		for _, f := range []string{"id", "input", "orchestration"} {
			if c.IsSet(f) {
				return exitWith(exitError, "run: --%s cannot be used with --resume (the instance was started with its own)", f)
			}
		}
	}
	input := []byte("null")
	if c.IsSet("input") {
		input = []byte(c.String("input"))
		var v any
		if err := json.Unmarshal(input, &v); err != nil {
			return exitWith(exitError, "run: --input is not valid JSON: %v (a JSON string needs quotes: --input '\"text\"')", err)
		}
	}
	if c.Duration("timeout") < 0 {
		return exitWith(exitError, "run: --timeout must not be negative")
	}

	// Stop on Ctrl-C or SIGTERM. After the first signal, the default handlers are back: a
	// second Ctrl-C kills the process (durable state stays consistent).
	ctx, stopSignals := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	cache, err := cacheDir()
	if err != nil {
		return err
	}
	wasm, err := readModule(ctx, modArg, &guestBuilder{cacheDir: cache, log: stderr})
	if err != nil {
		if ctx.Err() != nil {
			return exitWith(exitInterrupted, "interrupted")
		}
		return exitWith(exitError, "%s", err)
	}

	var prog *progress
	if !c.Bool("quiet") {
		prog = newProgress(stderr)
		if c.IsSet("store") {
			prog.storeArg = " --store " + shellWord(c.String("store"))
		}
	}
	// No other host will register an activity or a module that run lacks: a call to one fails
	// at once (see RATIONALE.md, "Why does run fail unknown activities at once?").
	s, err := openSession(c, stderr, prog, host.WithFailUnregistered())
	if err != nil {
		return exitWith(exitError, "run: %s", oneLine(err.Error()))
	}
	defer s.close(context.Background())

	// Plugins are registered before the host starts: run fails an unregistered activity at
	// once. Those the store keeps (uploaded to a server on the same store) are registered too.
	if _, err := registerPluginFiles(ctx, s.h, c.StringSlice("plugin"), c.StringSlice("allow-http")); err != nil {
		return exitWith(exitError, "run: %s", oneLine(err.Error()))
	}
	if err := s.h.SyncPlugins(ctx); err != nil {
		return exitWith(exitError, "run: plugins of the store: %s", oneLine(err.Error()))
	}

	mod, err := s.h.LoadModule(ctx, wasm)
	if err != nil {
		if ctx.Err() != nil {
			return exitWith(exitInterrupted, "interrupted")
		}
		return exitWith(exitError, "%s: %s", modArg, oneLine(err.Error()))
	}
	id := resume
	if id == "" {
		name, err := pickOrchestration(mod, c.String("orchestration"), modArg)
		if err != nil {
			return exitWith(exitError, "%s", err)
		}
		if id = c.String("id"); id == "" {
			id = randomID()
		}
		if prog != nil {
			prog.setMain(id)
		}
		if err := s.h.Start(); err != nil {
			return err
		}
		if _, err := s.h.Client().Start(ctx, name, input, host.WithInstanceID(id)); err != nil {
			if errors.Is(err, host.ErrInstanceExists) {
				return exitWith(exitError, "run: instance %q already exists in %s: wait for it with --resume %s, or choose another --id", id, s.storeName, id)
			}
			return exitWith(exitError, "run: %s", oneLine(err.Error()))
		}
	} else {
		if prog != nil {
			prog.setMain(id)
		}
		if err := s.h.Start(); err != nil {
			return err
		}
	}
	if resume != "" {
		if err := awaitInstance(ctx, s.st, id); err != nil && ctx.Err() == nil {
			return exitWith(exitError, "run: %s", err)
		}
	}
	fmt.Fprintf(stderr, "instance %s\n", id)
	resumeHint := fmt.Sprintf("durohost run %s --resume %s --store %s", shellQuote(modArg), shellQuote(id), shellQuote(s.storeName))
	waitCtx := ctx
	if d := c.Duration("timeout"); d > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	in, err := s.h.Client().Wait(waitCtx, id)
	if err != nil {
		interrupted := ctx.Err() != nil
		stopSignals()
		if interrupted {
			fmt.Fprintf(stderr, "interrupted: stopping the host (in-flight work has %s to finish; Ctrl-C again to quit at once)\n", stopGrace)
		} else if waitCtx.Err() == nil {
			return exitWith(exitError, "run: wait for %s: %s", id, oneLine(err.Error()))
		}
		s.close(context.Background())
		if interrupted {
			return exitWith(exitInterrupted, "instance %s stopped before it ended; it is kept in the database: resume it with\n  %s", id, resumeHint)
		}
		return exitWith(exitTimeout, "instance %s is still running after --timeout %s; it continues when a host runs it: resume it with\n  %s", id, c.Duration("timeout"), resumeHint)
	}
	s.close(context.Background())
	return report(stdout, in)
}

// report prints the outcome of a finished instance: the output on stdout, or the failure.
func report(stdout io.Writer, in *store.Instance) error {
	switch in.Status {
	case store.StatusCompleted:
		out := bytes.TrimSpace(in.Output)
		if len(out) == 0 {
			out = []byte("null")
		}
		fmt.Fprintf(stdout, "%s\n", out)
		return nil
	case store.StatusFailed:
		return exitWith(exitError, "instance %s failed: %s", in.ID, failure(in.Failure))
	case store.StatusCancelled:
		return exitWith(exitError, "instance %s was cancelled: %s", in.ID, failure(in.Failure))
	}
	return exitWith(exitError, "instance %s ended with status %s", in.ID, in.Status)
}

// readModule returns the module bytes of arg: a .wasm file, or a guest project directory
// (a Go package, or a project of another registered language) built by b.
func readModule(ctx context.Context, arg string, b *guestBuilder) ([]byte, error) {
	fi, err := os.Stat(arg)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("module %s: no such file or directory", arg)
	case err != nil:
		return nil, fmt.Errorf("module %s: %v", arg, err)
	case fi.IsDir():
		return b.buildDir(ctx, arg)
	}
	wasm, err := os.ReadFile(arg)
	if err != nil {
		return nil, fmt.Errorf("module %s: %v", arg, err)
	}
	if !bytes.HasPrefix(wasm, []byte("\x00asm")) {
		return nil, fmt.Errorf("module %s is not a WebAssembly module (it does not start with \\0asm): give a .wasm file or a guest project directory (Go, Rust, AssemblyScript, C, JavaScript, Python)", arg)
	}
	return wasm, nil
}

// pickOrchestration chooses the orchestration to start: the one named (which the module
// must register), else the module's only one, else the one named like the module file or
// directory.
func pickOrchestration(mod *host.Module, name, modArg string) (string, error) {
	var names []string
	for _, r := range mod.Orchestrations {
		if !slices.Contains(names, r.Name) {
			names = append(names, r.Name)
		}
	}
	slices.Sort(names)
	list := strings.Join(names, ", ")
	switch {
	case len(names) == 0:
		return "", fmt.Errorf("%s registers no orchestration", modArg)
	case name != "":
		if slices.Contains(names, name) {
			return name, nil
		}
		return "", fmt.Errorf("%s does not register orchestration %q; it registers: %s", modArg, name, list)
	case len(names) == 1:
		return names[0], nil
	}
	base := strings.TrimSuffix(filepath.Base(filepath.Clean(modArg)), ".wasm")
	if slices.Contains(names, base) {
		return base, nil
	}
	return "", fmt.Errorf("%s registers several orchestrations (%s): choose one with --orchestration", modArg, list)
}

// awaitInstance returns once the instance id exists, or an error once it is clear that it
// does not and will not: no row, and no message waiting in the queues (a pending start is a
// visible message until the first turn creates the row, in the same transaction that
// consumes it).
func awaitInstance(ctx context.Context, st store.Store, id string) error {
	for {
		_, err := st.Instance(ctx, id)
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		d, err := st.QueueDepths(ctx)
		if err != nil {
			return err
		}
		if d.Messages == 0 && d.LockedInstances == 0 {
			if _, err := st.Instance(ctx, id); errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no instance %q in this store (and no pending start): check the ID and --store", id)
			}
			continue
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// randomID returns a new instance ID: 16 hexadecimal digits.
func randomID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=+@%,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
