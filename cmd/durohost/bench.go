package main

import (
	"bufio"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/internal/bench"
	"github.com/durohost/durohost/store/sqlite"
)

// benchGuest is the benchmark guest package, relative to the root of a source checkout.
const benchGuest = "internal/bench/guest"

// modulePath is the module path of durohost, which identifies a source checkout.
const modulePath = "github.com/durohost/durohost"

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure the host end to end on this machine (run from a source checkout)",
		Description: `Runs workloads on a fresh store and a fresh host each, and prints one line per
workload with its figures and its configuration (--json: one JSON object per line):

   FLOOR  the raw commit rate of a turn's statements (3 history inserts, 1 work item,
          1 message delete), one transaction per turn, without store logic, on the
          store's database, measured first; each workload's turns_per_s is given as a
          fraction of it (of_floor)
   W1     200 instances x 10 sequential no-op activities (activities/s, instances/s)
   W2     one instance fanning out 500 no-op activities (activities/s)
   W3     start-to-result latency of a one-activity orchestration, 50 runs one after
          the other (median, p90, p99)
   W4     100 instances each waiting a 1 s durable timer (wall time; lateness of the
          timers, p50 and p99: when the turn that saw a timer fire started, after its due time)
   W5     one instance with 1,000 sequential activities (wall time, time per step)
   W6     the cold path: W1 with the live cache disabled (every turn replays)

The stores are SQLite files in --dir by default, with durable commits (synchronous=FULL)
unless --sync normal. With --store postgres://..., every workload runs on that PostgreSQL
database instead, in a fresh schema of its own (durohost_bench_<pid>_<workload>, dropped
after: the database's other schemas are not touched), and FLOOR is measured there; the
server's settings decide durability (synchronous_commit and fsync are printed). bench never
reads $DUROHOST_STORE: the database it loads must be named on its command line.

--hosts 1,2,3 runs W1 once per count, with that many hosts in this process sharing its
store, each over its own store and connections, the starts spread over them in turn, and
prints one line per count.

cpu_us_per_turn is this process's CPU time per turn (SQLite's work included);
db_cpu_us_per_turn the PostgreSQL server's, when it runs on this machine.
rss_idle_mb is this process's resident memory with the workload's hosts started and warm,
rss_peak_mb its peak during the workload (MiB; Linux).

--runs 3 repeats the floor and the workloads three times (each line says its run), then
prints one summary line per workload: the median of each figure and its [min..max] range.
Figures swing with the disk and the machine's load: compare medians of several runs.

The benchmark guest is, by default, the Go package internal/bench/guest, compiled with the
local Go toolchain (GOOS=wasip1 GOARCH=wasm) and cached like the modules of 'durohost run';
--guest LANGUAGE runs the same workloads with the benchmark guest of another language.
durohost bench must be run from a source checkout of durohost (the current directory or one
above it, or --source).
The machine's load average is printed with each line: figures from a loaded machine
are not comparable.

Examples:
   durohost bench
   durohost bench --workloads W1,W3 --sync normal --json
   durohost bench --runs 3 --workloads W1,W2,W3
   durohost bench --store postgres://durohost@localhost/bench --workloads W1,W2,W3,W4,W5
   durohost bench --store postgres://durohost@localhost/bench --workloads W1 --hosts 1,2,3`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "workloads", Aliases: []string{"w"}, Usage: "the workloads to run, as a comma-separated `LIST` (default: all: " + strings.Join(bench.Names(), ",") + ")"},
			&cli.StringFlag{Name: "store", Usage: "run on the PostgreSQL database of `URL` (postgres://...) instead of SQLite files in --dir"},
			&cli.StringFlag{Name: "hosts", Usage: "run W1 once per count of the comma-separated `LIST` (1,2,3), with that many hosts sharing its store"},
			&cli.StringFlag{Name: "sync", Usage: "durability of SQLite's commits, `MODE`: full (durable, each commit waits for the disk) or normal (relaxed: the last commits may be lost on a power loss)", Value: "full"},
			&cli.StringFlag{Name: "dir", Usage: "`DIR` for the databases and the compiled module (default: a temporary directory, removed after)", TakesFile: true},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object per line"},
			&cli.IntFlag{Name: "runs", Usage: "run the floor and the workloads `N` times, then print the median and range of every figure", Value: 1},
			&cli.IntFlag{Name: "orchestration-workers", Usage: "turns run at once, `N`", Value: 64},
			&cli.IntFlag{Name: "activity-workers", Usage: "activities run at once, `N`", Value: 32},
			&cli.Int64Flag{Name: "live-cache", Usage: "memory of the instances kept alive between turns, in `BYTES` (0: disabled); W6 always runs without", Value: host.DefaultLiveCacheBytes},
			&cli.StringFlag{Name: "guest", Usage: "the `LANGUAGE` of the benchmark guest (" + strings.Join(benchLanguages(), ", ") + ")", Value: "go"},
			&cli.StringFlag{Name: "source", Usage: "`DIR` of the durohost source checkout (default: found from the current directory)", TakesFile: true},
			&cli.Float64Flag{Name: "scale", Usage: "multiply every size by `F` (tests)", Value: 1, Hidden: true},
			&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile of the workloads to `FILE`", Hidden: true, TakesFile: true},
			&cli.StringFlag{Name: "memprofile", Usage: "write an allocation profile of the workloads to `FILE`", Hidden: true, TakesFile: true},
		},
		Action: func(c *cli.Context) error { return benchAction(c) },
	}
}

// benchAction is the bench command.
func benchAction(c *cli.Context) error {
	stdout, stderr := c.App.Writer, c.App.ErrWriter
	if c.NArg() > 0 {
		return exitWith(exitError, "bench: unexpected argument %q (see 'durohost bench --help')", c.Args().First())
	}
	cfg := bench.Config{
		OrchestrationWorkers: c.Int("orchestration-workers"),
		ActivityWorkers:      c.Int("activity-workers"),
		LiveCache:            c.Int64("live-cache"),
		Scale:                c.Float64("scale"),
		JSON:                 c.Bool("json"),
		Runs:                 c.Int("runs"),
	}
	if arg := c.String("store"); arg != "" {
		spec, err := parseStore(arg)
		switch {
		case err != nil:
			return exitWith(exitError, "bench: --store: %v", err)
		case spec.kind != kindPostgres:
			return exitWith(exitError, "bench: --store takes a postgres:// URL: SQLite runs on fresh files in --dir without it")
		case c.IsSet("sync"):
			return exitWith(exitError, "bench: --sync applies to SQLite: on PostgreSQL the server's synchronous_commit and fsync decide")
		}
		cfg.Postgres = spec.url
	}
	if list := c.String("hosts"); list != "" {
		for _, f := range strings.Split(list, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 || n > 64 {
				return exitWith(exitError, "bench: --hosts %q: want counts of hosts from 1 to 64, separated by commas (1,2,3)", list)
			}
			cfg.Hosts = append(cfg.Hosts, n)
		}
	}
	switch strings.ToLower(c.String("sync")) {
	case "full":
		cfg.Sync = sqlite.SyncFull
	case "normal":
		cfg.Sync = sqlite.SyncNormal
	default:
		return exitWith(exitError, "bench: --sync must be full or normal, not %q", c.String("sync"))
	}
	switch {
	case cfg.OrchestrationWorkers < 1, cfg.ActivityWorkers < 1:
		return exitWith(exitError, "bench: --orchestration-workers and --activity-workers must be at least 1")
	case cfg.LiveCache < 0:
		return exitWith(exitError, "bench: --live-cache must not be negative")
	case cfg.Scale <= 0:
		return exitWith(exitError, "bench: --scale must be positive")
	case cfg.Runs < 1 || cfg.Runs > 100:
		return exitWith(exitError, "bench: --runs must be from 1 to 100, not %d", cfg.Runs)
	case cfg.LiveCache == 0:
		cfg.LiveCache = -1 // bench.Config: negative disables
	}
	if w := c.String("workloads"); w != "" {
		for _, name := range strings.Split(w, ",") {
			if name = strings.TrimSpace(name); name != "" {
				cfg.Workloads = append(cfg.Workloads, strings.ToUpper(name))
			}
		}
		for _, name := range cfg.Workloads {
			if !slices.Contains(bench.Names(), name) {
				return exitWith(exitError, "bench: unknown workload %q in --workloads (known: %s)", name, strings.Join(bench.Names(), ", "))
			}
		}
		if cfg.Hosts != nil && !slices.Contains(cfg.Workloads, "W1") {
			return exitWith(exitError, "bench: --hosts applies to W1, which --workloads leaves out")
		}
	}

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()

	src := c.String("source")
	if src == "" {
		wd, err := os.Getwd()
		if err != nil {
			return exitWith(exitError, "bench: %v", err)
		}
		if src = findCheckout(wd); src == "" {
			return exitWith(exitError, "bench: run durohost bench from a source checkout of %s (the benchmark guest, %s, is compiled from source), or give --source DIR", modulePath, benchGuest)
		}
	} else if !isCheckout(src) {
		return exitWith(exitError, "bench: --source %s is not a source checkout of %s with %s", src, modulePath, benchGuest)
	}
	cache, err := cacheDir()
	if err != nil {
		return err
	}
	wasm, err := (&guestBuilder{cacheDir: cache, log: stderr}).buildBenchGuest(ctx, c.String("guest"), src)
	if err != nil {
		if ctx.Err() != nil {
			return exitWith(exitInterrupted, "interrupted")
		}
		return exitWith(exitError, "bench: %s", err)
	}
	cfg.Module = wasm

	if dir := c.String("dir"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return exitWith(exitError, "bench: --dir: %v", err)
		}
		cfg.Dir = dir
	} else {
		dir, err := os.MkdirTemp("", "durohost-bench-")
		if err != nil {
			return exitWith(exitError, "bench: %v", err)
		}
		defer os.RemoveAll(dir)
		cfg.Dir = dir
	}

	if path := c.String("cpuprofile"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return exitWith(exitError, "bench: --cpuprofile: %v", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return exitWith(exitError, "bench: --cpuprofile: %v", err)
		}
		defer pprof.StopCPUProfile()
	}
	if path := c.String("memprofile"); path != "" {
		runtime.MemProfileRate = 64 << 10
		defer func() {
			if f, err := os.Create(path); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	if err := bench.Run(ctx, cfg, stdout); err != nil {
		if ctx.Err() != nil {
			return exitWith(exitInterrupted, "interrupted")
		}
		if spec, perr := parseStore(c.String("store")); perr == nil {
			err = spec.scrub(err)
		}
		return exitWith(exitError, "%s", oneLine(err.Error()))
	}
	return nil
}

// findCheckout returns the nearest directory at or above dir that is a source checkout of
// durohost ("" if none).
func findCheckout(dir string) string {
	for d := dir; ; {
		if isCheckout(d) {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return ""
		}
		d = parent
	}
}

// isCheckout reports whether dir is the root of a source checkout of durohost: its go.mod
// declares the module and the benchmark guest is there.
func isCheckout(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 2 && fields[0] == "module" {
			if strings.Trim(fields[1], `"`) != modulePath {
				return false
			}
			fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(benchGuest)))
			return err == nil && fi.IsDir()
		}
	}
	return false
}
