package bench

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, the store's

	"github.com/durohost/durohost/store/sqlite"
)

// measureFloor returns the raw commit rate, in turns per second, of the statements a turn
// writes, with no store logic: 3 history inserts, 1 work item insert and 1 message delete,
// perTx turns per transaction, on one connection configured like the store's writer (WAL,
// the given synchronous mode), on a fresh file in dir with the store's schema. It is the
// idea of store/sqlite's BenchmarkRawFloor, measured in the same run as the workloads.
func measureFloor(ctx context.Context, dir string, mode sqlite.Synchronous, turns, perTx int) (float64, error) {
	path := filepath.Join(dir, "floor-"+strconv.Itoa(perTx)+".db")
	removeDB(path)
	defer removeDB(path)
	st, err := sqlite.Open(path, sqlite.WithSynchronous(mode)) // creates the schema
	if err != nil {
		return 0, err
	}
	if err := st.Close(); err != nil {
		return 0, err
	}
	dsn := "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path) +
		"?mode=rw&_pragma=busy_timeout(10000)&_pragma=cache_size(-16000)&_pragma=temp_store(MEMORY)" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(" + mode.String() + ")&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	// The messages the turns delete, one each.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	for i := range turns {
		if _, err := tx.Exec(`INSERT INTO messages (id, instance_id, data, visible_at, ready_at) VALUES (?1, ?2, ?3, 0, 0)`,
			i+1, "floor-"+strconv.Itoa(i), []byte("message")); err != nil {
			tx.Rollback()
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	hist, err := db.PrepareContext(ctx, `INSERT INTO history (instance_id, execution, event_id, data) VALUES (?1, ?2, ?3, ?4)`)
	if err != nil {
		return 0, err
	}
	defer hist.Close()
	work, err := db.PrepareContext(ctx, `INSERT INTO work_items (instance_id, execution, event_id, name, input, visible_at, ready_at) VALUES (?1, ?2, ?3, ?4, ?5, 0, 0)`)
	if err != nil {
		return 0, err
	}
	defer work.Close()
	del, err := db.PrepareContext(ctx, `DELETE FROM messages WHERE id = ?1`)
	if err != nil {
		return 0, err
	}
	defer del.Close()

	ev := []byte("event-data-of-a-typical-size-0123456789")
	t0 := time.Now()
	for start := 0; start < turns; start += perTx {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, err
		}
		h, w, d := tx.Stmt(hist), tx.Stmt(work), tx.Stmt(del)
		for i := start; i < min(start+perTx, turns); i++ {
			id := "floor-" + strconv.Itoa(i)
			for e := 1; e <= 3; e++ {
				if _, err = h.ExecContext(ctx, id, 1, e, ev); err != nil {
					break
				}
			}
			if err == nil {
				_, err = w.ExecContext(ctx, id, 1, 3, "noop", []byte(`"x"`))
			}
			if err == nil {
				_, err = d.ExecContext(ctx, i+1)
			}
			if err != nil {
				tx.Rollback()
				return 0, fmt.Errorf("turn %d: %w", i, err)
			}
		}
		if err := tx.Commit(); err != nil {
			return 0, err
		}
	}
	return float64(turns) / time.Since(t0).Seconds(), nil
}
