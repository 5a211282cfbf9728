// Package bench runs the workloads of `durohost bench`: end-to-end measurements of a host over
// a store (SQLite, or PostgreSQL with Config.Postgres), each printed as one line with its
// figures and its configuration, next to the raw commit rate of that store's database
// measured in the same run (the floor a store cannot beat with one transaction per turn).
//
// Every workload runs on a fresh store (a new SQLite file, or a new schema of the PostgreSQL
// database, removed after) and a fresh host, with the benchmark guest (internal/bench/guest)
// and a native activity "noop" that returns its input; W1 may run with several hosts sharing
// its store (Config.Hosts). Before the timing starts, each host runs one instance of
// "bench_one" so that its connections, compiled module and dispatchers are warm.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/sqlite"
)

// Config configures Run.
type Config struct {
	// Module is the compiled benchmark guest (internal/bench/guest).
	Module []byte
	// Dir holds the SQLite databases (one fresh file per workload, removed after it) and the
	// compilation cache of the module. It must exist.
	Dir string
	// Postgres, when not empty, is the URL of a PostgreSQL database where the workloads run
	// instead of SQLite: each in a fresh schema, durohost_bench_<pid>_<workload>, created by
	// the store and dropped after (the database's other schemas are not touched). Sync does
	// not apply: the server's settings decide (synchronous_commit and fsync are printed).
	Postgres string
	// Hosts, when not empty, runs W1 once for each entry, with that many hosts in the process
	// sharing its store, each over a store of its own (its own connections); starts are
	// spread over the hosts in turn. Without it, W1 runs once with one host.
	Hosts []int
	// Workloads are the names of the workloads to run, in table order whatever their order
	// here (nil: all). The floor is always measured first.
	Workloads []string
	// Sync is the durability of SQLite's commits (default sqlite.SyncFull).
	Sync sqlite.Synchronous
	// OrchestrationWorkers and ActivityWorkers size the host's dispatchers (0: the host's
	// defaults, 64 and 32).
	OrchestrationWorkers, ActivityWorkers int
	// LiveCache is the live cache of every workload but W6, in bytes (0: the host's default,
	// host.DefaultLiveCacheBytes; negative: disabled).
	LiveCache int64
	// Scale multiplies every size (instances, activities, runs, timer delay, floor turns);
	// counts stay at least 1 (0: 1, the sizes of the issue).
	Scale float64
	// JSON prints one JSON object per line instead of text.
	JSON bool
	// Timeout bounds each workload (0: 10 minutes).
	Timeout time.Duration
	// Runs repeats the floor and the workloads (0: 1). With more than one run, every line
	// says its run, and a summary line per workload follows the last run: the median of each
	// figure and its range.
	Runs int
}

// Host defaults, printed in the configuration of each line.
const (
	defaultOrchestrationWorkers = 64
	defaultActivityWorkers      = 32
)

// workload is one entry of the table.
type workload struct {
	name  string
	title string
	// cold disables the live cache (every turn instantiates the module and replays).
	cold bool
	run  func(ctx context.Context, e *env) ([]metric, error)
}

// workloads is the table of workloads, in the order they run.
var workloads = []workload{
	{name: "W1", title: "instances x sequential no-op activities", run: runSequences},
	{name: "W2", title: "one instance fanning out no-op activities", run: runFanout},
	{name: "W3", title: "start-to-result latency of a one-activity orchestration", run: runLatency},
	{name: "W4", title: "instances each waiting a durable timer", run: runTimers},
	{name: "W5", title: "one instance with sequential activities", run: runLongSequence},
	{name: "W6", title: "cold path: W1 with the live cache disabled", cold: true, run: runSequences},
}

// Names returns the names of the workloads, in the order they run.
func Names() []string {
	names := make([]string, len(workloads))
	for i, w := range workloads {
		names[i] = w.name
	}
	return names
}

// sizes are the workloads' sizes at scale 1 (the issue's).
type sizes struct {
	seqInstances, seqSteps int // W1, W6
	fanout                 int // W2
	latencyRuns            int // W3
	timerInstances         int // W4
	timer                  time.Duration
	longSteps              int // W5
	floorTurns             int
	floorBatchedTurns      int
}

func scaled(scale float64) sizes {
	n := func(v int) int { return max(1, int(math.Round(float64(v)*scale))) }
	return sizes{
		seqInstances: n(200), seqSteps: n(10),
		fanout:         n(500),
		latencyRuns:    n(50),
		timerInstances: n(100), timer: max(time.Millisecond, time.Duration(float64(time.Second)*scale)).Round(time.Millisecond),
		longSteps:         n(1000),
		floorTurns:        n(2000),
		floorBatchedTurns: n(10000),
	}
}

// metric is one figure of a line.
type metric struct {
	key   string
	value float64
	// prec is the number of decimals printed.
	prec int
}

// env is what a workload runs with: fresh hosts over a fresh store, each host over a store
// of its own that shares the data.
type env struct {
	cfg   Config
	sizes sizes
	be    backend
	name  string // of the store
	hosts []*host.Host
	// h and c are the first host and its client.
	h       *host.Host
	c       *host.Client
	clients []*host.Client
	stores  []store.Store
	tr      *tracker
	// floor is the raw commit rate (turns/s, one per transaction) measured first.
	floor float64
	// seqStep is W1's time per step (ms), for W5's comparison (0: W1 did not run).
	seqStep float64
	// cpu0 and srv0 are the CPU times of the process and of the database server (-1:
	// unknown) when the workload started (after the warm-up).
	cpu0, srv0 time.Duration
}

// Run measures the floor, then runs the configured workloads, writing one line per workload
// to out. It stops at the first workload that fails.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	if len(cfg.Module) == 0 {
		return errors.New("bench: no module")
	}
	if fi, err := os.Stat(cfg.Dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("bench: directory %q does not exist", cfg.Dir)
	}
	if cfg.Scale == 0 {
		cfg.Scale = 1
	}
	if cfg.Scale < 0 {
		return fmt.Errorf("bench: negative scale %g", cfg.Scale)
	}
	if cfg.OrchestrationWorkers == 0 {
		cfg.OrchestrationWorkers = defaultOrchestrationWorkers
	}
	if cfg.ActivityWorkers == 0 {
		cfg.ActivityWorkers = defaultActivityWorkers
	}
	if cfg.LiveCache == 0 {
		cfg.LiveCache = host.DefaultLiveCacheBytes
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Minute
	}
	var selected []workload
	for _, name := range cfg.Workloads {
		if !slices.ContainsFunc(workloads, func(w workload) bool { return strings.EqualFold(w.name, name) }) {
			return fmt.Errorf("bench: unknown workload %q (known: %s)", name, strings.Join(Names(), ", "))
		}
	}
	for _, n := range cfg.Hosts {
		if n < 1 {
			return fmt.Errorf("bench: %d hosts: want at least 1", n)
		}
	}
	for _, w := range workloads {
		if cfg.Workloads == nil || slices.ContainsFunc(cfg.Workloads, func(n string) bool { return strings.EqualFold(w.name, n) }) {
			selected = append(selected, w)
		}
	}
	sz := scaled(cfg.Scale)

	var be backend = &sqliteBackend{dir: cfg.Dir, sync: cfg.Sync}
	floorTitle := "raw SQLite commits of a turn's statements, no store logic"
	if cfg.Postgres != "" {
		pg, err := newPostgresBackend(ctx, cfg.Postgres)
		if err != nil {
			return fmt.Errorf("bench: PostgreSQL: %w", err)
		}
		defer pg.close()
		be = pg
		floorTitle = "raw PostgreSQL commits of a turn's statements, no store logic"
	}

	runs := max(cfg.Runs, 1)
	var results []result
	for run := 1; run <= runs; run++ {
		err := runOnce(ctx, cfg, be, sz, selected, floorTitle, run, func(r result) error {
			results = append(results, r)
			return writeLine(out, cfg, be, r.name, r.title, r.live, r.hosts, r.load, r.run, r.ms)
		})
		if err != nil {
			return err
		}
	}
	if runs > 1 {
		return writeSummaries(out, cfg, results)
	}
	return nil
}

// result is one line of one run.
type result struct {
	name, title string
	live        int64
	hosts, run  int
	load        float64
	ms          []metric
}

// runOnce measures the floor and runs the selected workloads once (run is the run's number,
// from 1), passing each line to emit as soon as it is measured; it stops at the first
// workload that fails.
func runOnce(ctx context.Context, cfg Config, be backend, sz sizes, selected []workload, floorTitle string, run int, emit func(result) error) error {
	load := loadAverage()
	cpu0, srv0 := cpuTime(), be.serverCPU(ctx)
	floor, err := be.floor(ctx, sz.floorTurns, 1)
	if err != nil {
		return fmt.Errorf("bench: floor: %w", err)
	}
	floorMetrics := []metric{{"turns_per_s", floor, 0}, {"turns", float64(sz.floorTurns), 0}}
	if cpu, srv := cpuTime(), be.serverCPU(ctx); cpu >= 0 && cpu0 >= 0 {
		// (The floor's schema is created and dropped within: a little more than its turns.)
		floorMetrics = append(floorMetrics, metric{"cpu_us_per_turn", float64((cpu - cpu0).Microseconds()) / float64(sz.floorTurns), 0})
		if srv >= 0 && srv0 >= 0 {
			floorMetrics = append(floorMetrics, metric{"db_cpu_us_per_turn", float64((srv - srv0).Microseconds()) / float64(sz.floorTurns), 0})
		}
	}
	batched, err := be.floor(ctx, sz.floorBatchedTurns, 100)
	if err != nil {
		return fmt.Errorf("bench: floor: %w", err)
	}
	err = emit(result{name: "FLOOR", title: floorTitle, live: -1, run: run, load: load,
		ms: append(floorMetrics, metric{"batched_turns_per_s", batched, 0})})
	if err != nil {
		return err
	}

	seqStep := 0.0
	for _, w := range selected {
		live := cfg.LiveCache
		if w.cold || live < 0 {
			live = 0
		}
		hostCounts := []int{1}
		if w.name == "W1" && len(cfg.Hosts) > 0 {
			hostCounts = cfg.Hosts
		}
		for _, n := range hostCounts {
			load := loadAverage()
			ms, err := runWorkload(ctx, cfg, be, sz, w, n, live, floor, seqStep)
			if err != nil {
				if n > 1 {
					return fmt.Errorf("bench: %s with %d hosts: %w", w.name, n, err)
				}
				return fmt.Errorf("bench: %s: %w", w.name, err)
			}
			if w.name == "W1" && n == 1 {
				seqStep = valueOf(ms, "step_ms")
			}
			if err := emit(result{name: w.name, title: w.title, live: live, hosts: n, run: run, load: load, ms: ms}); err != nil {
				return err
			}
		}
	}
	return nil
}

// runWorkload runs w with n hosts on a fresh store, and removes the store after.
func runWorkload(ctx context.Context, cfg Config, be backend, sz sizes, w workload, n int, live int64, floor, seqStep float64) (ms []metric, err error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	name := strings.ToLower(w.name)
	if n > 1 {
		name += "_h" + strconv.Itoa(n)
	}
	// The peak RSS of the workload counts from here: give the previous workloads' garbage
	// back to the system first, so that it is the workload's own.
	debug.FreeOSMemory()
	peakOK := resetPeakRSS()
	e, err := newEnv(ctx, cfg, be, name, n, live, filepath.Join(cfg.Dir, "wazero-cache"))
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := e.close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	e.sizes, e.floor, e.seqStep = sz, floor, seqStep
	if err := e.warmUp(ctx); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	idle, _ := rssBytes()
	e.cpu0, e.srv0 = cpuTime(), be.serverCPU(ctx)
	ms, err = w.run(ctx, e)
	if err != nil {
		return nil, err
	}
	// rss_idle_mb: the process with its hosts started and warm, before the workload;
	// rss_peak_mb: its peak during the workload (both in MiB).
	if _, peak := rssBytes(); idle > 0 && peak > 0 && peakOK {
		ms = append(ms, metric{"rss_idle_mb", float64(idle) / (1 << 20), 0}, metric{"rss_peak_mb", float64(peak) / (1 << 20), 0})
	}
	return ms, nil
}

// newEnv opens a fresh store called name and starts n hosts over it, each over a store of
// its own, with the module loaded (compiled with the compilation cache in cacheDir).
func newEnv(ctx context.Context, cfg Config, be backend, name string, n int, live int64, cacheDir string) (_ *env, err error) {
	e := &env{cfg: cfg, be: be, name: name, tr: newTracker()}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	for i := range n {
		st, err := be.open(ctx, name, i == 0)
		if err != nil {
			return nil, err
		}
		e.stores = append(e.stores, st)
		h, err := host.New(st,
			host.WithCompilationCache(cacheDir),
			host.WithOrchestrationWorkers(cfg.OrchestrationWorkers),
			host.WithActivityWorkers(cfg.ActivityWorkers),
			host.WithLiveCache(live),
			host.WithObserver(func(ev host.Event) { e.tr.observe(i, ev) }))
		if err != nil {
			return nil, err
		}
		e.hosts = append(e.hosts, h)
		e.clients = append(e.clients, h.Client())
		if err := h.RegisterActivity("noop", noop); err != nil {
			return nil, err
		}
		if _, err := h.LoadModule(ctx, cfg.Module); err != nil {
			return nil, err
		}
	}
	for _, h := range e.hosts {
		if err := h.Start(); err != nil {
			return nil, err
		}
	}
	e.h, e.c = e.hosts[0], e.clients[0]
	return e, nil
}

// close stops the hosts, closes their stores and removes the store.
func (e *env) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for _, h := range e.hosts {
		errs = append(errs, h.Stop(ctx))
	}
	for _, st := range e.stores {
		errs = append(errs, st.Close())
	}
	errs = append(errs, e.be.remove(ctx, e.name))
	return errors.Join(errs...)
}

// noop is the activity of every workload.
func noop(_ context.Context, in []byte) ([]byte, error) { return in, nil }

// warmUp runs one instance of bench_one on each host, then resets the counters.
func (e *env) warmUp(ctx context.Context) error {
	if err := e.startAll(ctx, "bench_one", "warmup", len(e.hosts), nil); err != nil {
		return err
	}
	if err := e.tr.wait(ctx, len(e.hosts)); err != nil {
		return err
	}
	e.tr.reset()
	return nil
}

// startAll starts n instances of name concurrently, with IDs prefix-0, prefix-1, ..., through
// the hosts' clients in turn (instance i through host i mod hosts), and records when each was
// started in the tracker. It returns once all are enqueued.
func (e *env) startAll(ctx context.Context, name, prefix string, n int, input []byte) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 64)
	for i := range n {
		id := prefix + "-" + strconv.Itoa(i)
		c := e.clients[i%len(e.clients)]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			e.tr.started(id, time.Now())
			if _, err := c.Start(ctx, name, input, host.WithInstanceID(id)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// valueOf returns the value of the metric key (0 if absent).
func valueOf(ms []metric, key string) float64 {
	for _, m := range ms {
		if m.key == key {
			return m.value
		}
	}
	return 0
}

// throughput returns the figures every workload reports about its turns: the turns committed,
// turns/s, that rate as a fraction of the floor, the CPU time of the process per turn
// (activities included; SQLite's work too, in the process) and, for a PostgreSQL server on
// this machine, the server's CPU time per turn, since the workload started.
func (e *env) throughput(wall time.Duration) []metric {
	cpu, srv := cpuTime(), e.be.serverCPU(context.Background())
	turns := e.tr.turnCount()
	rate := float64(turns) / wall.Seconds()
	ms := []metric{{"turns", float64(turns), 0}, {"turns_per_s", rate, 0}, {"of_floor", rate / e.floor, 2}}
	if cpu >= 0 && e.cpu0 >= 0 && turns > 0 {
		ms = append(ms, metric{"cpu_us_per_turn", float64((cpu - e.cpu0).Microseconds()) / float64(turns), 0})
	}
	if srv >= 0 && e.srv0 >= 0 && turns > 0 {
		ms = append(ms, metric{"db_cpu_us_per_turn", float64((srv - e.srv0).Microseconds()) / float64(turns), 0})
	}
	if len(e.hosts) > 1 && turns > 0 {
		ms = append(ms, metric{"moved_turns", float64(e.tr.movedTurns()) / float64(turns), 2})
	}
	return ms
}

// percentile returns the p-th percentile (0 < p ≤ 1, nearest rank) of sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// loadAverage returns the 1-minute load average of the machine (-1 where unknown).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// writeLine prints one result line: text (name, title, key=value figures, then the
// configuration after "|") or one JSON object. live < 0 leaves the host's configuration out
// (FLOOR); hosts is the number of hosts of the workload.
func writeLine(out io.Writer, cfg Config, be backend, name, title string, live int64, hosts int, load float64, run int, ms []metric) error {
	conf := slices.Clone(be.config())
	if live >= 0 {
		conf = append(conf, kv{"hosts", hosts}, kv{"orchestration_workers", cfg.OrchestrationWorkers},
			kv{"activity_workers", cfg.ActivityWorkers}, kv{"live_cache", live})
	}
	conf = append(conf, kv{"gomaxprocs", goruntime.GOMAXPROCS(0)})
	if load >= 0 {
		conf = append(conf, kv{"load1", load})
	}
	if cfg.Scale != 1 {
		conf = append(conf, kv{"scale", cfg.Scale})
	}
	if cfg.Runs > 1 {
		conf = append(conf, kv{"run", run})
	}
	var b strings.Builder
	if cfg.JSON {
		jname, _ := json.Marshal(name)
		jtitle, _ := json.Marshal(title)
		fmt.Fprintf(&b, `{"workload":%s,"title":%s`, jname, jtitle)
		for _, m := range ms {
			fmt.Fprintf(&b, `,%q:%s`, m.key, strconv.FormatFloat(m.value, 'f', m.prec, 64))
		}
		b.WriteString(`,"config":{`)
		for i, c := range conf {
			v, _ := json.Marshal(c.val)
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%q:%s", c.key, v)
		}
		b.WriteString("}}\n")
	} else {
		fmt.Fprintf(&b, "%-5s %-55s", name, title)
		for _, m := range ms {
			fmt.Fprintf(&b, " %s=%s", m.key, strconv.FormatFloat(m.value, 'f', m.prec, 64))
		}
		b.WriteString("  |")
		for _, c := range conf {
			fmt.Fprintf(&b, " %s=%v", c.key, c.val)
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(out, b.String())
	return err
}

// checkCompleted fails when an instance did not complete.
func (e *env) checkCompleted(ctx context.Context, ids ...string) error {
	for _, id := range ids {
		in, err := e.c.Status(ctx, id)
		if err != nil {
			return fmt.Errorf("instance %s: %w", id, err)
		}
		if in.Status != store.StatusCompleted {
			msg := ""
			if in.Failure != nil {
				msg = ": " + in.Failure.Message
			}
			return fmt.Errorf("instance %s ended %s%s", id, in.Status, msg)
		}
	}
	return nil
}

// ids returns prefix-0 ... prefix-(n-1).
func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + "-" + strconv.Itoa(i)
	}
	return out
}

// tracker follows the host's progress events: turns committed, activities run, instances
// ended (with the time each ended).
type tracker struct {
	mu         sync.Mutex
	turns      int
	activities int
	ended      int
	failures   []string
	start, end map[string]time.Time
	// turnTimes records the commit time of every turn of the instance named record.
	record    string
	turnTimes []time.Time
	// lastHost is the host that committed each instance's last turn; moved counts the turns
	// committed by another host than the instance's previous turn (see movedTurns).
	lastHost map[string]int
	moved    int
	changed  chan struct{}
}

func newTracker() *tracker {
	return &tracker{start: map[string]time.Time{}, end: map[string]time.Time{}, lastHost: map[string]int{}, changed: make(chan struct{})}
}

func (t *tracker) observe(hostIndex int, ev host.Event) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if ev.Activity != "" {
		if ev.Done {
			t.activities++
		}
		return
	}
	if len(ev.Events) == 0 {
		return
	}
	t.turns++
	if last, ok := t.lastHost[ev.InstanceID]; ok && last != hostIndex {
		t.moved++
	}
	t.lastHost[ev.InstanceID] = hostIndex
	if ev.InstanceID == t.record {
		t.turnTimes = append(t.turnTimes, now)
	}
	for _, h := range ev.Events {
		if !h.Kind.IsTerminal() {
			continue
		}
		t.ended++
		t.end[ev.InstanceID] = now
		if h.Kind != history.KindExecutionCompleted {
			t.failures = append(t.failures, fmt.Sprintf("instance %s: %s", ev.InstanceID, h.Kind))
		}
		close(t.changed)
		t.changed = make(chan struct{})
	}
}

// started records when an instance was started.
func (t *tracker) started(id string, at time.Time) {
	t.mu.Lock()
	t.start[id] = at
	t.mu.Unlock()
}

// wait returns once n instances have ended since the last reset, or ctx ends.
func (t *tracker) wait(ctx context.Context, n int) error {
	for {
		t.mu.Lock()
		ended, ch := t.ended, t.changed
		var failed error
		if len(t.failures) > 0 {
			failed = errors.New(t.failures[0])
		}
		t.mu.Unlock()
		switch {
		case failed != nil:
			return failed
		case ended >= n:
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d instances ended: %w", ended, n, ctx.Err())
		case <-ch:
		}
	}
}

func (t *tracker) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.turns, t.activities, t.ended, t.moved = 0, 0, 0, 0
	t.lastHost = map[string]int{}
	t.start, t.end = map[string]time.Time{}, map[string]time.Time{}
	t.turnTimes = nil
}

// movedTurns returns the turns committed by another host than the previous turn of their
// instance: a host that runs an instance it did not run last has no live copy of it and
// replays its history first.
func (t *tracker) movedTurns() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.moved
}

func (t *tracker) turnCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.turns
}

func (t *tracker) activityCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.activities
}

// meanLatency returns the mean time from start to end of the instances ids.
func (t *tracker) meanLatency(ids []string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var sum time.Duration
	for _, id := range ids {
		sum += t.end[id].Sub(t.start[id])
	}
	return sum / time.Duration(max(len(ids), 1))
}
