package sqlite

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// BenchmarkCompleteActivity measures CompleteActivity as the activity workers of a fan-out
// call it: 32 concurrent workers completing work items locked beforehand, their results
// going to one instance, with synchronous=FULL. The writer groups the completions; its cost
// per completion is what bounds the rate of a fan-out (cpu-µs/completion counts every
// goroutine of the process).
//
//	go test ./store/sqlite -run '^$' -bench CompleteActivity -benchtime 5000x
func BenchmarkCompleteActivity(b *testing.B) {
	const workers = 32
	path := filepath.Join(b.TempDir(), "bench.db")
	s, err := Open(path, WithSynchronous(SyncOff))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	err = s.w.do(ctx, func(t *tx) error {
		for i := range b.N {
			if _, err := t.exec(`INSERT INTO work_items (instance_id, execution, event_id, name, input, visible_at, ready_at)
				VALUES ('fan-out', 1, ?1, 'act', x'22696e22', 0, 0)`, i+3); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	items := make([]store.WorkItem, 0, b.N)
	for len(items) < b.N {
		got, err := s.FetchActivities(ctx, time.Hour, maxActivityBatch)
		if err != nil {
			b.Fatal(err)
		}
		items = append(items, got...)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if s, err = Open(path); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	b.ResetTimer()
	cpu0 := cpuTime()
	for range workers {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(items)); i = next.Add(1) - 1 {
				w := items[i]
				res := store.Message{InstanceID: w.InstanceID, Event: history.Event{Kind: history.KindActivityCompleted, Ref: w.EventID, Result: []byte(`"ok"`)}}
				if err := s.CompleteActivity(ctx, w.Token, res); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "completions/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/completion")
	if n := s.w.batches.Load(); n > 0 {
		b.ReportMetric(float64(s.w.batched.Load())/float64(n), "completions/tx")
	}
}
