package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/durohost/durohost/abi"
)

// Exit codes of durohost.
const (
	// exitOK: the command succeeded (for run: the instance completed).
	exitOK = 0
	// exitError: an error, or the instance failed or was cancelled.
	exitError = 1
	// exitTimeout: run's --timeout passed; the instance continues in the database.
	exitTimeout = 2
	// exitInterrupted: stopped by SIGINT or SIGTERM; the instance continues in the database.
	exitInterrupted = 130
)

// version is the release version, set with -ldflags "-X main.version=v1.2.3"; when empty,
// the module version recorded in the binary is used.
var version = ""

// exitError is an error that carries the process exit code. An empty message prints nothing.
type exitCodeError struct {
	code int
	msg  string
}

func (e *exitCodeError) Error() string { return e.msg }

// ExitCode implements cli.ExitCoder.
func (e *exitCodeError) ExitCode() int { return e.code }

// exitWith returns an error that makes run return code after printing the message (if any).
func exitWith(code int, format string, args ...any) error {
	return &exitCodeError{code: code, msg: fmt.Sprintf(format, args...)}
}

// run is the whole command line: it parses args (args[0] is the program name), runs the
// command and returns the process exit code. Output goes to stdout, diagnostics and progress
// to stderr.
func run(args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	if len(args) > 1 {
		if cmd := app.Command(args[1]); cmd != nil {
			// Let flags follow the positional arguments (`run hello.wasm --input 1`), which
			// the standard flag parsing of cli/v2 stops at.
			if sub := subcommand(cmd, args); sub != nil { // `module push f.wasm --name x`
				args = append(args[:3:3], permuteArgs(sub.Flags, args[3:])...)
			} else {
				args = append(args[:2:2], permuteArgs(cmd.Flags, args[2:])...)
			}
		}
	}
	err := app.RunContext(context.Background(), args)
	if err == nil {
		return exitOK
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(stderr, "durohost: "+msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintln(stderr, "durohost: "+oneLine(err.Error()))
	return exitError
}

// newApp builds the command tree. It is built anew for every run, so that no flag state is
// shared between calls.
func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:  "durohost",
		Usage: "run durable orchestrations compiled to WebAssembly",
		Description: "durohost runs orchestrations written in any language that compiles to WebAssembly against\n" +
			"the durohost ABI. Their progress is recorded in an embedded SQLite database, so an\n" +
			"orchestration survives restarts and crashes: run it again with --resume and it carries\n" +
			"on where it stopped.\n\n" +
			"Start with:  durohost run wasm-examples/go/hello --input '\"World\"'",
		Writer:    stdout,
		ErrWriter: stderr,
		// run() turns errors into exit codes; cli must never call os.Exit.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   usageError,
		// cli's own --help and --version flags are package variables that every parse
		// writes to: each app gets its own, so that concurrent runs (tests) do not race.
		HideHelp:    true,
		HideVersion: true,
		Flags: []cli.Flag{
			helpFlag(),
			&cli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print the version"},
		},
		Action: func(c *cli.Context) error {
			if c.Bool("version") {
				fmt.Fprintln(c.App.Writer, "durohost "+versionString())
				return nil
			}
			if c.NArg() > 0 {
				return exitWith(exitError, "unknown command %q (see 'durohost --help')", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		Commands: []*cli.Command{
			runCommand(),
			activitiesCommand(),
			workerCommand(),
			serveCommand(),
			replayCommand(),
			benchCommand(),
			versionCommand(),
			helpCommand(),
		},
	}
	app.Commands = append(app.Commands, clientCommands()...)
	app.Commands = append(app.Commands, pluginCommand()) // plugin.go
	for _, c := range app.Commands {
		c.OnUsageError = usageError
		c.HideHelp = true
		c.Flags = append(c.Flags, helpFlag())
	}
	return app
}

// helpFlag is a command's --help flag (cli finds it by name).
func helpFlag() cli.Flag {
	return &cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help"}
}

func helpCommand() *cli.Command {
	return &cli.Command{
		Name:      "help",
		Usage:     "show the help of durohost or of a command",
		ArgsUsage: "[COMMAND]",
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return cli.ShowAppHelp(c)
			}
			name := c.Args().First()
			if cmd := c.App.Command(name); cmd == nil || cmd.Hidden {
				return exitWith(exitError, "help: unknown command %q (see 'durohost --help')", name)
			}
			return cli.ShowCommandHelp(c, name)
		},
	}
}

// usageError makes a flag parsing error a one-line error pointing to the help.
func usageError(c *cli.Context, err error, isSubcommand bool) error {
	name := "durohost"
	if c.Command != nil && c.Command.Name != "" {
		name += " " + c.Command.Name
	}
	return exitWith(exitError, "%s: %v (see '%s --help')", name, err, name)
}

// versionString describes this build: release, Go version and ABI version.
func versionString() string {
	v := version
	if v == "" {
		v = "(devel)"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
			v = bi.Main.Version
		}
	}
	return fmt.Sprintf("%s (%s, ABI v%d)", v, runtime.Version(), abi.Version)
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version of durohost, of Go and of the ABI it implements",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return exitWith(exitError, "version: unexpected argument %q", c.Args().First())
			}
			fmt.Fprintln(c.App.Writer, "durohost "+versionString())
			return nil
		},
	}
}

// permuteArgs moves the flags of args (with their values) before the positional
// arguments, keeping the order of each. "--" ends the flags.
func permuteArgs(flags []cli.Flag, args []string) []string {
	var fl, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		fl = append(fl, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if takesValue(flags, name) && i+1 < len(args) {
			fl = append(fl, args[i+1])
			i++
		}
	}
	out := fl
	for _, p := range pos {
		if strings.HasPrefix(p, "-") {
			out = append(out, "--")
			break
		}
	}
	return append(out, pos...)
}

// takesValue reports whether the flag called name is defined and needs a value.
func takesValue(flags []cli.Flag, name string) bool {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				_, isBool := f.(*cli.BoolFlag)
				return !isBool
			}
		}
	}
	return false
}

// oneLine joins the lines of a multi-line message with "; ".
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "\n") {
		return s
	}
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}
