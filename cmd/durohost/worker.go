package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
)

// workerCommand runs a host on a database until it is signalled: another worker for the
// instances that `durohost run` starts (used by the multi-host tests; a `serve` command will
// replace it).
func workerCommand() *cli.Command {
	return &cli.Command{
		Name:   "worker",
		Usage:  "run a host on the database until interrupted (runs every instance's pending work)",
		Hidden: true,
		Description: `Runs orchestrations and activities of every instance in the database, with the
modules the instances pin (stored in the database), until SIGINT or SIGTERM.`,
		Flags: append([]cli.Flag{
			dbFlag(),
			lockFlag(),
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "do not print progress"},
		}, activityFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return exitWith(exitError, "worker: unexpected argument %q", c.Args().First())
			}
			stderr := c.App.ErrWriter
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			var prog *progress
			if !c.Bool("quiet") {
				prog = newProgress(stderr)
			}
			s, err := openSession(c, stderr, prog)
			if err != nil {
				return exitWith(exitError, "worker: %s", oneLine(err.Error()))
			}
			if err := s.h.Start(); err != nil {
				s.close(context.Background())
				return err
			}
			fmt.Fprintln(stderr, "worker running (Ctrl-C to stop)")
			<-ctx.Done()
			stop()
			s.close(context.Background())
			fmt.Fprintln(stderr, "worker stopped")
			return nil
		},
	}
}
