package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store/postgres/pgtest"
	"github.com/durohost/durohost/store/sqlite"
)

// TestMain stops the PostgreSQL server the tests started (pgtest).
func TestMain(m *testing.M) { pgtest.Main(m) }

const guestPkg = "internal/bench/guest"

// fields are the figures each line must have.
var fields = map[string][]string{
	"FLOOR": {"turns_per_s", "turns", "batched_turns_per_s"},
	"W1":    {"instances", "activities", "wall_s", "activities_per_s", "instances_per_s", "step_ms", "turns", "turns_per_s", "of_floor"},
	"W2":    {"activities", "wall_s", "activities_per_s", "turns", "turns_per_s", "of_floor"},
	"W3":    {"runs", "p50_ms", "p90_ms", "p99_ms", "turns", "turns_per_s", "of_floor"},
	"W4":    {"instances", "timer_ms", "wall_s", "late_p50_ms", "late_p99_ms", "turns", "turns_per_s", "of_floor"},
	"W5":    {"activities", "wall_s", "step_ms", "first_tenth_step_ms", "last_tenth_step_ms", "vs_W1_step", "turns", "turns_per_s", "of_floor"},
	"W6":    {"instances", "activities", "wall_s", "activities_per_s", "instances_per_s", "step_ms", "turns", "turns_per_s", "of_floor"},
}

func init() {
	// The memory figures come from /proc/self: Linux only.
	if runtime.GOOS == "linux" {
		for name := range fields {
			if name != "FLOOR" {
				fields[name] = append(fields[name], "rss_idle_mb", "rss_peak_mb")
			}
		}
	}
}

// TestRunRepeated runs W3 three times and checks that every line names its run and that the
// summary line gives, for each figure, the median of the runs and their range.
func TestRunRepeated(t *testing.T) {
	wasm := testguest.Build(t, guestPkg, "")
	for _, asJSON := range []bool{false, true} {
		t.Run("json="+strconv.FormatBool(asJSON), func(t *testing.T) {
			var out bytes.Buffer
			cfg := Config{Module: wasm, Dir: t.TempDir(), Scale: 0.1, JSON: asJSON, Sync: sqlite.SyncNormal,
				Timeout: time.Minute, Runs: 3, Workloads: []string{"W3"}}
			if err := Run(context.Background(), cfg, &out); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			t.Logf("\n%s", out.String())
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 8 {
				t.Fatalf("%d lines, want 3 runs of FLOOR and W3 and 2 summaries:\n%s", len(lines), out.String())
			}
			checkLines(t, strings.Join(lines[:6], "\n"), asJSON, []string{"FLOOR", "W3", "FLOOR", "W3", "FLOOR", "W3"}, nil, map[string]string{"store": "sqlite"})
			var p50s []float64
			for i, line := range lines[:6] {
				name, figs, conf := parseLine(t, line, asJSON)
				if want := strconv.Itoa(i/2 + 1); conf["run"] != want {
					t.Errorf("line %d has run=%s, want %s", i, conf["run"], want)
				}
				if name == "W3" {
					v, _ := strconv.ParseFloat(figs["p50_ms"], 64)
					p50s = append(p50s, v)
				}
			}
			slices.Sort(p50s)
			med, lo, hi := summaryFigure(t, lines[7], asJSON, "W3", "p50_ms")
			if med != p50s[1] || lo != p50s[0] || hi != p50s[2] {
				t.Errorf("summary p50_ms = %g [%g..%g], want %g [%g..%g] of %s", med, lo, hi, p50s[1], p50s[0], p50s[2], lines[7])
			}
			if _, _, _ = summaryFigure(t, lines[6], asJSON, "FLOOR", "turns_per_s"); t.Failed() {
				return
			}
		})
	}
}

// summaryFigure returns the median and range of a figure of a summary line of workload name.
func summaryFigure(t *testing.T, line string, asJSON bool, name, key string) (med, lo, hi float64) {
	t.Helper()
	if asJSON {
		var m struct {
			Workload string
			Summary  string
			OfRuns   int `json:"of_runs"`
			Range    map[string][2]float64
		}
		var figs map[string]json.RawMessage
		if json.Unmarshal([]byte(line), &m) != nil || json.Unmarshal([]byte(line), &figs) != nil {
			t.Fatalf("not a JSON object: %s", line)
		}
		if m.Workload != name || m.Summary != "median" || m.OfRuns != 3 {
			t.Fatalf("summary line %s: want workload %s, summary median, of_runs 3", line, name)
		}
		med, _ = strconv.ParseFloat(string(figs[key]), 64)
		r, ok := m.Range[key]
		if !ok {
			t.Fatalf("summary line has no range of %s: %s", key, line)
		}
		return med, r[0], r[1]
	}
	words := strings.Fields(line)
	if words[0] != name || !strings.Contains(line, "median of 3 runs") {
		t.Fatalf("summary line %q: want %s, median of 3 runs", line, name)
	}
	for i, w := range words {
		if v, ok := strings.CutPrefix(w, key+"="); ok && i+1 < len(words) {
			med, _ = strconv.ParseFloat(v, 64)
			lohi := strings.Trim(words[i+1], "[]")
			a, b, _ := strings.Cut(lohi, "..")
			lo, _ = strconv.ParseFloat(a, 64)
			hi, _ = strconv.ParseFloat(b, 64)
			return med, lo, hi
		}
	}
	t.Fatalf("summary line has no %s: %s", key, line)
	return
}

// TestRun runs every workload at a tiny scale, in text and in JSON, and checks that each
// prints one line with its figures and configuration (never the figures' values).
func TestRun(t *testing.T) {
	wasm := testguest.Build(t, guestPkg, "")
	dir := t.TempDir()
	for _, asJSON := range []bool{false, true} {
		t.Run("json="+strconv.FormatBool(asJSON), func(t *testing.T) {
			var out bytes.Buffer
			cfg := Config{Module: wasm, Dir: dir, Scale: 0.02, JSON: asJSON, Sync: sqlite.SyncNormal, Timeout: time.Minute}
			if err := Run(context.Background(), cfg, &out); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			t.Logf("\n%s", out.String())
			checkLines(t, out.String(), asJSON, append([]string{"FLOOR"}, Names()...), nil,
				map[string]string{"store": "sqlite", "sync": "normal"})
		})
	}
	// The databases are removed; the compilation cache stays.
	left, _ := filepath.Glob(filepath.Join(dir, "*.db*"))
	if len(left) > 0 {
		t.Errorf("databases left behind: %v", left)
	}
}

// TestRunPostgres runs every workload on PostgreSQL at a tiny scale, W1 with 1 and 2 hosts,
// and checks the lines, and that the schemas of the workloads are dropped after.
func TestRunPostgres(t *testing.T) {
	wasm := testguest.Build(t, guestPkg, "")
	db := pgtest.NewDatabase(t)
	for _, asJSON := range []bool{false, true} {
		t.Run("json="+strconv.FormatBool(asJSON), func(t *testing.T) {
			var out bytes.Buffer
			cfg := Config{Module: wasm, Dir: t.TempDir(), Postgres: db, Hosts: []int{1, 2}, Scale: 0.02, JSON: asJSON, Timeout: time.Minute}
			if err := Run(context.Background(), cfg, &out); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			t.Logf("\n%s", out.String())
			want := append([]string{"FLOOR", "W1"}, Names()...)
			hosts := []string{"", "1", "2"}
			for range Names()[1:] {
				hosts = append(hosts, "1")
			}
			checkLines(t, out.String(), asJSON, want, hosts,
				map[string]string{"store": "postgres", "synchronous_commit": "", "fsync": "", "server": ""})
			if !strings.Contains(out.String(), "db_cpu_us_per_turn") {
				t.Errorf("no line has the server's CPU time (the test server runs on this machine)")
			}
		})
	}
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var left []string
	rows, err := conn.Query(context.Background(), `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'durohost_bench%'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		rows.Scan(&s)
		left = append(left, s)
	}
	if rows.Err() != nil || len(left) > 0 {
		t.Errorf("schemas left behind: %v (%v)", left, rows.Err())
	}
}

// checkLines checks the lines of a run: one per workload of want, in order, each with its
// figures and its configuration, the store's (store: the configuration keys it must have,
// with their value when not empty) and, for the workloads, the host count of hosts (when
// not nil).
func checkLines(t *testing.T, out string, asJSON bool, want, hosts []string, store map[string]string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, line := range lines {
		name, figs, conf := parseLine(t, line, asJSON)
		if name != want[i] {
			t.Errorf("line %d is %s, want %s", i, name, want[i])
		}
		for _, f := range fields[name] {
			if _, ok := figs[f]; !ok {
				t.Errorf("%s lacks %s: %s", name, f, line)
			}
		}
		for c, v := range store {
			if got, ok := conf[c]; !ok || (v != "" && got != v) {
				t.Errorf("%s has the configuration %s=%q, want %q: %s", name, c, got, v, line)
			}
		}
		for _, c := range []string{"gomaxprocs", "scale"} {
			if _, ok := conf[c]; !ok {
				t.Errorf("%s lacks the configuration %s: %s", name, c, line)
			}
		}
		if name == "FLOOR" {
			continue
		}
		for _, c := range []string{"hosts", "orchestration_workers", "activity_workers", "live_cache"} {
			if _, ok := conf[c]; !ok {
				t.Errorf("%s lacks the configuration %s: %s", name, c, line)
			}
		}
		if hosts != nil && conf["hosts"] != hosts[i] {
			t.Errorf("line %d (%s) has hosts=%s, want %s", i, name, conf["hosts"], hosts[i])
		}
		if live := conf["live_cache"]; (name == "W6") != (live == "0") {
			t.Errorf("%s runs with live_cache=%s", name, live)
		}
	}
}

// parseLine returns a line's workload, figures and configuration as strings.
func parseLine(t *testing.T, line string, asJSON bool) (string, map[string]string, map[string]string) {
	t.Helper()
	figs, conf := map[string]string{}, map[string]string{}
	if asJSON {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON object: %q: %v", line, err)
		}
		var name string
		json.Unmarshal(m["workload"], &name)
		var c map[string]json.RawMessage
		if err := json.Unmarshal(m["config"], &c); err != nil {
			t.Fatalf("no config object: %q", line)
		}
		for k, v := range c {
			conf[k] = strings.Trim(string(v), `"`)
		}
		for k, v := range m {
			if k == "workload" || k == "title" || k == "config" {
				continue
			}
			if _, err := strconv.ParseFloat(string(v), 64); err != nil {
				t.Errorf("%s: %s is not a number: %s", name, k, v)
			}
			figs[k] = string(v)
		}
		return name, figs, conf
	}
	main, config, ok := strings.Cut(line, "|")
	if !ok {
		t.Fatalf("no configuration after |: %q", line)
	}
	words := strings.Fields(main)
	for _, w := range words[1:] {
		if k, v, ok := strings.Cut(w, "="); ok {
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				t.Errorf("%s: %s is not a number: %s", words[0], k, v)
			}
			figs[k] = v
		}
	}
	for _, w := range strings.Fields(config) {
		k, v, _ := strings.Cut(w, "=")
		conf[k] = v
	}
	return words[0], figs, conf
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no module", Config{Dir: dir}, "no module"},
		{"no directory", Config{Module: []byte("x"), Dir: filepath.Join(dir, "absent")}, "does not exist"},
		{"unknown workload", Config{Module: []byte("x"), Dir: dir, Workloads: []string{"W9"}}, `unknown workload "W9"`},
		{"no hosts", Config{Module: []byte("x"), Dir: dir, Hosts: []int{1, 0}}, "0 hosts"},
		{"no PostgreSQL server", Config{Module: []byte("x"), Dir: dir, Postgres: "postgres://u@127.0.0.1:1/db?sslmode=disable&connect_timeout=5"}, "bench: PostgreSQL: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Run(context.Background(), tt.cfg, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// BenchmarkTurn measures the host's end-to-end turn on the live path: fetch, resume the live
// instance, commit. "timer" is one instance waiting b.N timers of 0 ms in sequence (one turn
// each, no activity); "activity" is one instance calling b.N no-op activities in sequence (a
// turn plus an activity's fetch and commit each). Both with durable commits, and relaxed.
//
//	go test ./internal/bench -run '^$' -bench Turn -benchtime 2000x
func BenchmarkTurn(b *testing.B) {
	wasm := testguest.Build(b, guestPkg, "")
	cache := b.TempDir()
	for _, mode := range []sqlite.Synchronous{sqlite.SyncFull, sqlite.SyncNormal} {
		for _, w := range []struct{ name, orch string }{{"timer", "bench_ticks"}, {"activity", "bench_sequence"}} {
			b.Run(w.name+"-"+strings.ToLower(mode.String()), func(b *testing.B) {
				dir := b.TempDir()
				cfg := Config{Module: wasm, Dir: dir, Sync: mode, OrchestrationWorkers: defaultOrchestrationWorkers,
					ActivityWorkers: defaultActivityWorkers}
				e, err := newEnv(context.Background(), cfg, &sqliteBackend{dir: dir, sync: mode}, "bench", 1, host.DefaultLiveCacheBytes, cache)
				if err != nil {
					b.Fatal(err)
				}
				defer e.close()
				ctx := context.Background()
				if err := e.warmUp(ctx); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				if err := e.startAll(ctx, w.orch, "b", 1, []byte(strconv.Itoa(b.N))); err != nil {
					b.Fatal(err)
				}
				if err := e.tr.wait(ctx, 1); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				b.ReportMetric(float64(e.tr.turnCount())/b.Elapsed().Seconds(), "turns/s")
			})
		}
	}
}
