package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// The benchmarks measure turns committed per second, where a turn appends 3 events, enqueues
// 1 activity work item and deletes 1 consumed message, against the raw floor: the same
// statements run with no store logic on one connection, one turn per transaction and 100
// turns per transaction. All with synchronous=FULL unless the name says otherwise.
//
//	go test ./store/sqlite -run '^$' -bench . -benchtime 3000x
//
// Compare BenchmarkCommitTurn/serial with BenchmarkRawFloor/1-per-tx, and
// BenchmarkCommitTurn/concurrent-128 with BenchmarkRawFloor/100-per-tx.

// benchTurns prepares n locked turns of n existing instances, each with one message, and
// returns the store (reopened with opts) and the turns. Preparation runs with durability off.
func benchTurns(b *testing.B, n int, opts ...Option) (*Store, []*store.Turn) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.db")
	s, err := Open(path, WithSynchronous(SyncOff))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	msgs := make([]store.Message, n)
	for i := range msgs {
		msgs[i] = startMsg("bench-" + strconv.Itoa(i))
	}
	if err := s.Enqueue(ctx, msgs...); err != nil {
		b.Fatal(err)
	}
	// First turns, concurrently so that group commit makes the setup quick.
	parallel(b, n, func(int) error {
		turn, err := s.FetchTurn(ctx, time.Hour, nil)
		if err != nil {
			return err
		}
		return s.CommitTurn(ctx, turn.Token, firstCommit(turn))
	})
	for i := range msgs {
		msgs[i] = store.Message{InstanceID: msgs[i].InstanceID, Event: history.Event{Kind: history.KindActivityCompleted, Ref: 3, Result: []byte(`"ok"`)}}
	}
	if err := s.Enqueue(ctx, msgs...); err != nil {
		b.Fatal(err)
	}
	// Lock every instance at once, as n FetchTurn calls would (which would take O(n²): each
	// fetch skips the instances already locked).
	err = s.w.do(ctx, func(t *tx) error {
		if _, err := t.exec(`UPDATE instances SET lock_token = 'r' || rowid || '.bench', locked_until = ?1`,
			nanos(time.Now().Add(time.Hour))); err != nil {
			return err
		}
		_, err := t.exec(`UPDATE messages SET attempts = 1,
			lock_token = (SELECT lock_token FROM instances i WHERE i.id = messages.instance_id)`)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	turns := make([]*store.Turn, 0, n)
	rows, err := s.rdb.Query(`SELECT m.id, m.instance_id, m.lock_token FROM messages m ORDER BY m.id`)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var (
			mid       int64
			id, token string
		)
		if err := rows.Scan(&mid, &id, &token); err != nil {
			b.Fatal(err)
		}
		turns = append(turns, &store.Turn{InstanceID: id, Token: token, Messages: []store.Message{{ID: mid}}})
	}
	rows.Close()
	parallel(b, n, func(i int) error {
		in, err := s.Instance(ctx, turns[i].InstanceID)
		turns[i].Instance, turns[i].Execution = in, 1
		turns[i].History = make([]history.Event, 2) // the first turn's
		return err
	})
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	s, err = Open(path, opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	// What FetchTurn would have remembered in this process.
	err = s.w.do(ctx, func(t *tx) error {
		for _, turn := range turns {
			t.rememberLock(turn.Token, turn.InstanceID)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return s, turns
}

// parallel runs fn(0..n-1) on 64 goroutines.
func parallel(b *testing.B, n int, fn func(i int) error) {
	b.Helper()
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make(chan error, 64)
	)
	for range 64 {
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

// reportTurns reports turns/s, the CPU time per turn since cpu0 (less sensitive than wall
// time to other load on the machine) and, for a store, the turns per transaction.
func reportTurns(b *testing.B, s *Store, cpu0 time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "turns/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/turn")
	if s != nil {
		if n := s.w.batches.Load(); n > 0 {
			b.ReportMetric(float64(s.w.batched.Load())/float64(n), "turns/tx")
		}
	}
}

// BenchmarkCommitTurn measures CommitTurn alone (the turns are fetched beforehand).
func BenchmarkCommitTurn(b *testing.B) {
	for _, mode := range []Synchronous{SyncFull, SyncNormal} {
		suffix := ""
		if mode != SyncFull {
			suffix = "-" + mode.String()
		}
		b.Run("serial"+suffix, func(b *testing.B) {
			s, turns := benchTurns(b, b.N, WithSynchronous(mode))
			ctx := context.Background()
			s.w.batches.Store(0)
			s.w.batched.Store(0)
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := range b.N {
				if err := s.CommitTurn(ctx, turns[i].Token, benchCommit(turns[i])); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportTurns(b, s, cpu0)
		})
		for _, callers := range []int{128} {
			b.Run(fmt.Sprintf("concurrent-%d%s", callers, suffix), func(b *testing.B) {
				s, turns := benchTurns(b, b.N, WithSynchronous(mode))
				ctx := context.Background()
				s.w.batches.Store(0)
				s.w.batched.Store(0)
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				cpu0 := cpuTime()
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
				reportTurns(b, s, cpu0)
			})
		}
	}
}

// BenchmarkRawFloor runs the statements of a turn with no store logic: 3 history inserts, 1
// work item insert and 1 message delete, on one connection with synchronous=FULL.
func BenchmarkRawFloor(b *testing.B) {
	for _, perTx := range []int{1, 100} {
		b.Run(fmt.Sprintf("%d-per-tx", perTx), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "floor.db")
			s, err := Open(path) // creates the schema
			if err != nil {
				b.Fatal(err)
			}
			s.Close()
			dsn, _ := dsns(path, defaultConfig()) // the writer's pragmas: WAL, synchronous=FULL...
			db, err := sql.Open("sqlite", dsn+"&_txlock=immediate")
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			ctx := context.Background()
			// Messages to delete, one per turn.
			tx, _ := db.BeginTx(ctx, nil)
			ins, _ := tx.Prepare(`INSERT INTO messages (instance_id, data, visible_at, ready_at) VALUES (?1, ?2, 0, 0)`)
			for i := range b.N {
				if _, err := ins.Exec("bench-"+strconv.Itoa(i), []byte("message")); err != nil {
					b.Fatal(err)
				}
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
			ev := []byte("event-data-of-a-typical-size-0123456789")
			histStmt := mustPrepare(b, db, `INSERT INTO history (instance_id, execution, event_id, data) VALUES (?1, ?2, ?3, ?4)`)
			workStmt := mustPrepare(b, db, `INSERT INTO work_items (instance_id, execution, event_id, name, input, visible_at, ready_at) VALUES (?1, ?2, ?3, ?4, ?5, 0, 0)`)
			delStmt := mustPrepare(b, db, `DELETE FROM messages WHERE id = ?1`)
			b.ResetTimer()
			cpu0 := cpuTime()
			for start := 0; start < b.N; start += perTx {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				hist, work, del := tx.Stmt(histStmt), tx.Stmt(workStmt), tx.Stmt(delStmt)
				for i := start; i < min(start+perTx, b.N); i++ {
					id := "bench-" + strconv.Itoa(i)
					for e := 1; e <= 3; e++ {
						if _, err := hist.Exec(id, 1, e, ev); err != nil {
							b.Fatal(err)
						}
					}
					if _, err := work.Exec(id, 1, 3, "act", []byte(`"in"`)); err != nil {
						b.Fatal(err)
					}
					if _, err := del.Exec(i + 1); err != nil {
						b.Fatal(err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportTurns(b, nil, cpu0)
		})
	}
}

func mustPrepare(b *testing.B, db *sql.DB, q string) *sql.Stmt {
	s, err := db.Prepare(q)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkTurnCycle measures whole turns as a dispatcher runs them: FetchTurn, then
// CommitTurn, by 32 concurrent workers over 256 instances that always have a message waiting
// (each commit enqueues the next one). For information: the raw floor has no equivalent.
func BenchmarkTurnCycle(b *testing.B) {
	const instances, workers = 256, 32
	s, turns := benchTurns(b, instances)
	ctx := context.Background()
	// Release the prepared locks: the workers fetch for themselves.
	for _, turn := range turns {
		if err := s.AbandonTurn(ctx, turn.Token, store.AbandonOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	var done atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	cpu0 := cpuTime()
	for range workers {
		wg.Go(func() {
			for done.Load() < int64(b.N) {
				turn, err := s.FetchTurn(ctx, time.Minute, nil)
				if errors.Is(err, store.ErrNoWork) {
					runtime.Gosched()
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
	reportTurns(b, s, cpu0)
}
