//go:build linux

package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/postgres/pgtest"
)

// The benchmarks run on a durable server (fsync and synchronous commit on, pgtest.Durable)
// and measure turns committed per second, where a turn appends 3 events, enqueues 1 activity
// work item and deletes 1 consumed message, against the raw floor: the same statements run
// with no store logic, one turn per transaction (one pipeline, as the store sends them) on one
// connection or on 8 at once, and 100 turns per transaction. BenchmarkSequences is workload
// W1 of durohost bench run on this store: a host over it runs 200 instances of 10 sequential
// no-op activities.
//
//	go test ./store/postgres -run '^$' -bench . -benchtime 3000x
//
// Compare BenchmarkCommitTurn/serial with BenchmarkRawFloor/1-per-tx, and
// BenchmarkCommitTurn/concurrent-128 with BenchmarkRawFloor/concurrent-8.

// benchStore opens a store on a fresh database of the durable server.
func benchStore(b *testing.B, opts ...Option) *Store {
	b.Helper()
	s, err := Open(context.Background(), pgtest.NewDatabase(b, pgtest.Durable()), opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// benchTurns prepares n locked turns of n existing instances, each with one message.
func benchTurns(b *testing.B, n int) (*Store, []*store.Turn) {
	b.Helper()
	s := benchStore(b)
	ctx := context.Background()
	msgs := make([]store.Message, n)
	for i := range msgs {
		msgs[i] = store.Message{InstanceID: "bench-" + strconv.Itoa(i), Event: history.Event{Kind: history.KindExecutionStarted, Name: "orch", Version: "1"}}
	}
	if err := s.Enqueue(ctx, msgs...); err != nil {
		b.Fatal(err)
	}
	// First turns, concurrently.
	parallel(b, n, func(int) error {
		turn, err := s.FetchTurn(ctx, time.Hour, nil)
		if err != nil {
			return err
		}
		c := &store.Commit{
			State:     store.InstanceState{Name: "orch", Version: "1", Status: store.StatusRunning},
			Execution: 1,
			History:   []history.Event{{ID: 1, Kind: history.KindTurnStarted, Time: 1}, {ID: 2, Kind: history.KindExecutionStarted, Name: "orch"}},
		}
		for _, m := range turn.Messages {
			c.Consumed = append(c.Consumed, m.ID)
		}
		return s.CommitTurn(ctx, turn.Token, c)
	})
	for i := range msgs {
		msgs[i] = store.Message{InstanceID: msgs[i].InstanceID, Event: history.Event{Kind: history.KindActivityCompleted, Ref: 3, Result: []byte(`"ok"`)}}
	}
	if err := s.Enqueue(ctx, msgs...); err != nil {
		b.Fatal(err)
	}
	// Lock every instance at once, as n FetchTurn calls would (which would take O(n²): each
	// fetch skips the instances already locked).
	_, err := s.pool.Exec(ctx, `WITH l AS (UPDATE turn_locks SET token = 'bench' || lock_id, locked_until = durohost_now() + 3600000000000
			RETURNING instance_id, token)
		UPDATE messages m SET attempts = 1, lock_token = l.token FROM l WHERE m.instance_id = l.instance_id`)
	if err != nil {
		b.Fatal(err)
	}
	rows, err := s.pool.Query(ctx, `SELECT m.id, m.instance_id, t.lock_id, t.token FROM messages m JOIN turn_locks t USING (instance_id) ORDER BY m.id`)
	if err != nil {
		b.Fatal(err)
	}
	turns := make([]*store.Turn, 0, n)
	for rows.Next() {
		var (
			mid, lid  int64
			id, token string
		)
		if err := rows.Scan(&mid, &id, &lid, &token); err != nil {
			b.Fatal(err)
		}
		turns = append(turns, &store.Turn{InstanceID: id, Token: makeToken(kindTurnRow, lid, token), Messages: []store.Message{{ID: mid}},
			Execution: 1, History: make([]history.Event, 2)})
		s.owners.put(s.owners.turns, lid, id) // what FetchTurn would have remembered
	}
	rows.Close()
	parallel(b, n, func(i int) error {
		in, err := s.Instance(ctx, turns[i].InstanceID)
		turns[i].Instance = in
		return err
	})
	return s, turns
}

// parallel runs fn(0..n-1) on 16 goroutines.
func parallel(b *testing.B, n int, fn func(i int) error) {
	b.Helper()
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make(chan error, 16)
	)
	for range 16 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// benchCommit is the commit of a steady-state turn: 3 events, 1 work item, 1 consumed message.
func benchCommit(turn *store.Turn) *store.Commit {
	next := int64(len(turn.History))
	return &store.Commit{
		State:     turn.Instance.InstanceState,
		Execution: turn.Execution,
		History: []history.Event{
			{ID: next + 1, Kind: history.KindTurnStarted, Time: 2},
			{ID: next + 2, Kind: history.KindActivityCompleted, Ref: 3, Result: []byte(`"ok"`)},
			{ID: next + 3, Kind: history.KindActivityScheduled, Name: "act", Input: []byte(`"in"`)},
		},
		Activities: []store.WorkItem{{
			ActivityRef: store.ActivityRef{InstanceID: turn.InstanceID, Execution: turn.Execution, EventID: next + 3},
			Name:        "act", Input: []byte(`"in"`),
		}},
		Consumed: []int64{turn.Messages[0].ID},
	}
}

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverCPU returns the CPU time the database server has used (user and system, of the
// postmaster and its live and reaped children, from /proc: the test server runs on this
// machine), or 0 when it cannot be read.
func serverCPU(s *Store) time.Duration {
	var pid int
	if err := s.pool.QueryRow(context.Background(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		return 0
	}
	stat := func(pid int) []string {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return nil
		}
		// Fields after the command name (which may hold spaces), from field 3 on.
		rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
		return strings.Fields(rest)
	}
	ticks := func(f []string, idx ...int) (n int64) {
		for _, i := range idx {
			v, _ := strconv.ParseInt(f[i-3], 10, 64)
			n += v
		}
		return n
	}
	f := stat(pid)
	if f == nil {
		return 0
	}
	parent, _ := strconv.Atoi(f[4-3])
	pf := stat(parent)
	if pf == nil {
		return 0
	}
	total := ticks(pf, 14, 15, 16, 17) // the postmaster and its reaped children
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if cf := stat(child); cf != nil && cf[4-3] == strconv.Itoa(parent) {
			total += ticks(cf, 14, 15)
		}
	}
	return time.Duration(total) * time.Second / 100 // USER_HZ
}

// reportTurns reports turns/s, and the CPU time per turn of this process and of the
// database server since cpu0 and srv0 (less sensitive than wall time to other load on the
// machine).
func reportTurns(b *testing.B, s *Store, n int, cpu0, srv0 time.Duration) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "turns/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(n), "client-cpu-µs/turn")
	if srv := serverCPU(s); srv > 0 && srv0 > 0 {
		b.ReportMetric(float64((srv-srv0).Microseconds())/float64(n), "server-cpu-µs/turn")
	}
}

// BenchmarkCommitTurn measures CommitTurn alone (the turns are locked beforehand).
func BenchmarkCommitTurn(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		s, turns := benchTurns(b, b.N)
		ctx := context.Background()
		b.ResetTimer()
		cpu0, srv0 := cpuTime(), serverCPU(s)
		for i := range b.N {
			if err := s.CommitTurn(ctx, turns[i].Token, benchCommit(turns[i])); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		reportTurns(b, s, b.N, cpu0, srv0)
	})
	for _, callers := range []int{128} {
		b.Run(fmt.Sprintf("concurrent-%d", callers), func(b *testing.B) {
			s, turns := benchTurns(b, b.N)
			ctx := context.Background()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			cpu0, srv0 := cpuTime(), serverCPU(s)
			for range callers {
				wg.Go(func() {
					for i := int(next.Add(1) - 1); i < b.N; i = int(next.Add(1) - 1) {
						if err := s.CommitTurn(ctx, turns[i].Token, benchCommit(turns[i])); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			reportTurns(b, s, b.N, cpu0, srv0)
		})
	}
}

// BenchmarkRawFloor runs the statements of a turn with no store logic: 3 history inserts, 1
// work item insert and 1 message delete, sent as one pipeline (one round trip, one
// transaction) per turn on one connection (1-per-tx) or on 8 connections at once
// (concurrent-8), and 100 turns per transaction (100-per-tx).
func BenchmarkRawFloor(b *testing.B) {
	for _, mode := range []struct {
		name         string
		perTx, conns int
	}{{"1-per-tx", 1, 1}, {"concurrent-8", 1, 8}, {"100-per-tx", 100, 1}} {
		b.Run(mode.name, func(b *testing.B) {
			s := benchStore(b) // creates the schema
			ctx := context.Background()
			cfg, err := pgxpool.ParseConfig(s.connCfg.ConnString())
			if err != nil {
				b.Fatal(err)
			}
			cfg.ConnConfig.RuntimeParams["search_path"] = s.cfg.schema
			cfg.MaxConns = int32(mode.conns)
			pool, err := pgxpool.NewWithConfig(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer pool.Close()
			// Messages to delete, one per turn.
			ids := make([]string, b.N)
			for i := range ids {
				ids[i] = "bench-" + strconv.Itoa(i)
			}
			if _, err := pool.Exec(ctx, `INSERT INTO messages (instance_id, data, visible_at, ready_at)
				SELECT x, '\x6d657373616765'::bytea, 0, 0 FROM unnest($1::text[]) x`, ids); err != nil {
				b.Fatal(err)
			}
			var first int64
			if err := pool.QueryRow(ctx, `SELECT min(id) FROM messages`).Scan(&first); err != nil {
				b.Fatal(err)
			}
			ev := []byte("event-data-of-a-typical-size-0123456789")
			turn := func(batch *pgx.Batch, i int) {
				for e := 1; e <= 3; e++ {
					batch.Queue(`INSERT INTO history (instance_id, execution, event_id, data) VALUES ($1, $2, $3, $4)`, ids[i], 1, e, ev)
				}
				batch.Queue(`INSERT INTO work_items (instance_id, execution, event_id, namespace, name, input, visible_at, ready_at)
					VALUES ($1, $2, $3, '', $4, $5, 0, 0)`, ids[i], 1, 3, "act", []byte(`"in"`))
				batch.Queue(`DELETE FROM messages WHERE id = $1`, first+int64(i))
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			cpu0, srv0 := cpuTime(), serverCPU(s)
			for range mode.conns {
				wg.Go(func() {
					for {
						start := int(next.Add(int64(mode.perTx)) - int64(mode.perTx))
						if start >= b.N {
							return
						}
						batch := &pgx.Batch{}
						if mode.perTx > 1 {
							batch.Queue("BEGIN")
						}
						for i := start; i < min(start+mode.perTx, b.N); i++ {
							turn(batch, i)
						}
						if mode.perTx > 1 {
							batch.Queue("COMMIT")
						}
						if err := pool.SendBatch(ctx, batch).Close(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			reportTurns(b, s, b.N, cpu0, srv0)
		})
	}
}

// BenchmarkTurnCycle measures whole turns as a dispatcher runs them: FetchTurn, then
// CommitTurn, by 32 concurrent workers over 256 instances that always have a message waiting
// (each commit enqueues the next one).
func BenchmarkTurnCycle(b *testing.B) {
	const instances, workers = 256, 32
	s, turns := benchTurns(b, instances)
	ctx := context.Background()
	for _, turn := range turns {
		if err := s.AbandonTurn(ctx, turn.Token, store.AbandonOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	var done atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	cpu0, srv0 := cpuTime(), serverCPU(s)
	for range workers {
		wg.Go(func() {
			for done.Load() < int64(b.N) {
				turn, err := s.FetchTurn(ctx, time.Minute, nil)
				if errors.Is(err, store.ErrNoWork) {
					time.Sleep(100 * time.Microsecond)
					continue
				}
				if err != nil {
					b.Error(err)
					return
				}
				c := benchCommit(turn)
				c.Messages = []store.Message{{InstanceID: turn.InstanceID, Event: history.Event{Kind: history.KindActivityCompleted, Ref: 3}}}
				if err := s.CommitTurn(ctx, turn.Token, c); err != nil {
					b.Error(err)
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	reportTurns(b, s, int(done.Load()), cpu0, srv0)
}

// BenchmarkSequences is workload W1 of durohost bench on this store: one host runs 200
// instances of 10 sequential no-op activities (the bench guest's bench_sequence) with the
// default workers and live cache; the clock runs from the first start to the last completion,
// seen by an observer as durohost bench sees it. b.N runs of the workload, each on a fresh
// database.
func BenchmarkSequences(b *testing.B) {
	const instances, steps = 200, 10
	guest := testguest.Build(b, "internal/bench/guest", "")
	cache := b.TempDir()
	ctx := context.Background()
	var total, cpu, srv time.Duration
	for range b.N {
		b.StopTimer()
		s := benchStore(b)
		var (
			mu    sync.Mutex
			ended int
			done  = make(chan struct{})
		)
		observe := func(ev host.Event) {
			for _, h := range ev.Events {
				if !h.Kind.IsTerminal() {
					continue
				}
				if h.Kind != history.KindExecutionCompleted {
					b.Errorf("instance %s: %s", ev.InstanceID, h.Kind)
				}
				mu.Lock()
				if ended++; ended == instances {
					close(done)
				}
				mu.Unlock()
			}
		}
		h, err := host.New(s, host.WithCompilationCache(cache), host.WithObserver(observe))
		if err != nil {
			b.Fatal(err)
		}
		if err := h.RegisterActivity("noop", func(_ context.Context, in []byte) ([]byte, error) { return in, nil }); err != nil {
			b.Fatal(err)
		}
		if _, err := h.LoadModule(ctx, guest); err != nil {
			b.Fatal(err)
		}
		if err := h.Start(); err != nil {
			b.Fatal(err)
		}
		c := h.Client()
		b.StartTimer()
		t0, cpu0, srv0 := time.Now(), cpuTime(), serverCPU(s)
		var wg sync.WaitGroup
		for i := range instances {
			wg.Go(func() {
				if _, err := c.Start(ctx, "bench_sequence", []byte(strconv.Itoa(steps)), host.WithInstanceID("seq-"+strconv.Itoa(i))); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		select {
		case <-done:
		case <-time.After(5 * time.Minute):
			b.Fatalf("%d of %d instances ended within 5 minutes", ended, instances)
		}
		total += time.Since(t0)
		cpu += cpuTime() - cpu0
		srv += serverCPU(s) - srv0
		b.StopTimer()
		if err := h.Stop(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	acts := float64(b.N * instances * steps)
	b.ReportMetric(acts/total.Seconds(), "activities/s")
	b.ReportMetric(float64(cpu.Microseconds())/acts, "client-cpu-µs/activity")
	b.ReportMetric(float64(srv.Microseconds())/acts, "server-cpu-µs/activity")
}
