// Command hostproc is one host of the scale-out tests (package scaleout): a durohost host on
// a PostgreSQL store, with the activities the tests' workload calls, that runs until it is
// signalled (SIGINT, SIGTERM) or its standard input closes (the test that started it is
// gone). It writes one scaleout.Record a line on standard output: "ready" once it works, then
// every turn it commits and every activity it runs.
//
//	hostproc --store postgres://... --module guest.wasm --name h1 [--cache DIR] [--lock-timeout 2s] [--activity-time 20ms]
//
// The activities, for the Go test guest (conformance/guests/go), return a scaleout.Result: a
// value, the host's name (--name) and the run ("<name>/<n>", the records of the run say it):
//
//   - step(i): the value "<instance>/<i>", the instance that scheduled it and its input;
//   - greet(s): the value "Hello, <s>!".
//
// Each works for --activity-time first, so that a host holds activity locks at any moment.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/internal/scaleout"
	"github.com/durohost/durohost/store/postgres"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// options are the command's flags.
type options struct {
	store, module, cache, name string
	lockTimeout, work          time.Duration
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("hostproc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.store, "store", os.Getenv("DUROHOST_STORE"), "PostgreSQL URL of the store (default $DUROHOST_STORE)")
	fs.StringVar(&o.module, "module", "", "the guest module `file` to load")
	fs.StringVar(&o.name, "name", "", "the host's `name`, in the activities' results")
	fs.StringVar(&o.cache, "cache", "", "compilation cache `directory` (none by default)")
	fs.DurationVar(&o.lockTimeout, "lock-timeout", 2*time.Second, "the host's lock timeout")
	fs.DurationVar(&o.work, "activity-time", 20*time.Millisecond, "how long each activity works")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.store == "":
		return o, errors.New("no store: give --store or set DUROHOST_STORE")
	case o.module == "":
		return o, errors.New("no module: give --module")
	case o.name == "":
		return o, errors.New("no name: give --name")
	case o.work < 0:
		return o, fmt.Errorf("--activity-time %s is negative", o.work)
	}
	return o, nil
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "hostproc: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, o, stdin, scaleout.NewRecorder(stdout), stderr); err != nil {
		fmt.Fprintf(stderr, "hostproc: %v\n", err)
		return 1
	}
	return 0
}

// serve runs the host until ctx ends or stdin closes, then stops it.
func serve(ctx context.Context, o options, stdin io.Reader, rec *scaleout.Recorder, stderr io.Writer) error {
	st, err := postgres.Open(ctx, o.store)
	if err != nil {
		return err
	}
	defer st.Close()
	opts := []host.Option{
		host.WithLockTimeout(o.lockTimeout),
		host.WithLogger(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))),
		host.WithObserver(func(ev host.Event) {
			if len(ev.Events) == 0 {
				return
			}
			kinds := make([]string, len(ev.Events))
			for i, e := range ev.Events {
				kinds[i] = e.Kind.String()
			}
			record(rec, scaleout.Record{Kind: scaleout.RecordTurn, Instance: ev.InstanceID,
				First: ev.Events[0].ID, Last: ev.Events[len(ev.Events)-1].ID, Kinds: kinds}, stderr)
		}),
	}
	if o.cache != "" {
		opts = append(opts, host.WithCompilationCache(o.cache))
	}
	h, err := host.New(st, opts...)
	if err != nil {
		return err
	}
	a := activities{rec: rec, name: o.name, runs: new(atomic.Int64), work: o.work, stderr: stderr}
	err = errors.Join(
		host.RegisterActivityFunc(h, "step", func(ctx context.Context, i int) (scaleout.Result, error) {
			return recorded(ctx, a, i, func(id string) string { return fmt.Sprintf("%s/%d", id, i) })
		}),
		host.RegisterActivityFunc(h, "greet", func(ctx context.Context, s string) (scaleout.Result, error) {
			return recorded(ctx, a, s, func(string) string { return "Hello, " + s + "!" })
		}),
	)
	if err == nil {
		_, err = h.LoadModuleFile(ctx, o.module)
	}
	if err == nil {
		err = h.Start()
	}
	if err != nil {
		h.Stop(context.Background())
		return err
	}
	record(rec, scaleout.Record{Kind: scaleout.RecordReady}, stderr)
	gone := make(chan struct{})
	go func() {
		io.Copy(io.Discard, stdin)
		close(gone)
	}()
	select {
	case <-ctx.Done():
	case <-gone:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return h.Stop(sctx)
}

// activities is what the activities share.
type activities struct {
	rec    *scaleout.Recorder
	name   string
	runs   *atomic.Int64 // numbers the runs
	work   time.Duration
	stderr io.Writer
}

// recorded records the start of an activity with input in, works, records its result (the
// value fn returns for the instance ID, and the host's name), and returns it.
func recorded[In any](ctx context.Context, a activities, in In, fn func(instance string) string) (scaleout.Result, error) {
	info, ok := host.ActivityNamespace(ctx)
	if !ok {
		return scaleout.Result{}, errors.New("not an activity's context")
	}
	input, err := json.Marshal(in)
	if err != nil {
		return scaleout.Result{}, err
	}
	r := scaleout.Record{Kind: scaleout.RecordStart, Instance: info.InstanceID, Activity: info.Name,
		Input: input, Attempt: info.Attempt, Run: fmt.Sprintf("%s/%d", a.name, a.runs.Add(1))}
	record(a.rec, r, a.stderr)
	t := time.NewTimer(a.work)
	defer t.Stop()
	select {
	case <-ctx.Done():
		r.Kind = scaleout.RecordLost
		record(a.rec, r, a.stderr)
		return scaleout.Result{}, ctx.Err()
	case <-t.C:
	}
	out := scaleout.Result{Value: fn(info.InstanceID), Host: a.name, Run: r.Run}
	if r.Output, err = json.Marshal(out); err != nil {
		return scaleout.Result{}, err
	}
	r.Kind = scaleout.RecordDone
	record(a.rec, r, a.stderr)
	return out, nil
}

// record writes r with the current time; a failure is reported on stderr (the test then
// misses the record and says so).
func record(rec *scaleout.Recorder, r scaleout.Record, stderr io.Writer) {
	r.Time = time.Now().UnixNano()
	if err := rec.Write(r); err != nil {
		fmt.Fprintf(stderr, "hostproc: %v\n", err)
	}
}
