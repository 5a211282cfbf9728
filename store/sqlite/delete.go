package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/durohost/durohost/store"
)

// qTree lists an instance and its descendants (through parent_id) with their status (NULL
// when the instance has no row yet).
const qTree = `WITH RECURSIVE tree(id) AS (
		SELECT ?1
		UNION
		SELECT i.id FROM instances i JOIN tree t ON i.parent_id = t.id
	) SELECT t.id, i.status FROM tree t LEFT JOIN instances i ON i.id = t.id`

// deleteStmts remove everything stored for one instance ID. Deleting the lock row and the
// work items is what makes in-flight turns and activities fail with ErrLockLost.
var deleteStmts = []string{
	`DELETE FROM instances WHERE id = ?1`,
	`DELETE FROM executions WHERE instance_id = ?1`,
	`DELETE FROM history WHERE instance_id = ?1`,
	`DELETE FROM messages WHERE instance_id = ?1`,
	`DELETE FROM work_items WHERE instance_id = ?1`,
	`DELETE FROM instance_locks WHERE instance_id = ?1`,
}

// treeMember is an instance of a tree and whether it is finished.
type treeMember struct {
	id       string
	exists   bool
	finished bool
}

// loadTree returns id and its descendants.
func loadTree(t *tx, id string) ([]treeMember, error) {
	rows, err := t.query(qTree, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var tree []treeMember
	for rows.Next() {
		var (
			m      treeMember
			status sql.NullInt64
		)
		if err := rows.Scan(&m.id, &status); err != nil {
			return nil, corruptf("descendants of instance %s: %v", quote(id), err)
		}
		m.exists, m.finished = status.Valid, status.Valid && store.Status(status.Int64).Finished()
		tree = append(tree, m)
	}
	return tree, rows.Err()
}

// deleteTree deletes every member of a tree.
func deleteTree(t *tx, tree []treeMember) error {
	for _, m := range tree {
		for _, q := range deleteStmts {
			if _, err := t.exec(q, m.id); err != nil {
				return fmt.Errorf("delete instance %s: %w", quote(m.id), err)
			}
		}
	}
	return nil
}

// DeleteInstance deletes an instance and its descendants; see store.Store. An instance that
// has queued messages or a lock but no row yet (pending: its first turn has not committed)
// counts as existing and not finished.
func (s *Store) DeleteInstance(ctx context.Context, id string, force bool) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if err := checkID("delete instance", id); err != nil {
		return err
	}
	return s.w.do(ctx, func(t *tx) error {
		tree, err := loadTree(t, id)
		if err != nil {
			return fmt.Errorf("delete instance: %w", err)
		}
		if !tree[0].exists {
			var one int
			err := t.queryRow(`SELECT 1 FROM messages WHERE instance_id = ?1
				UNION ALL SELECT 1 FROM instance_locks WHERE instance_id = ?1 LIMIT 1`, []any{id}, &one)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("delete instance %s: %w", quote(id), store.ErrNotFound)
			}
			if err != nil {
				return fmt.Errorf("delete instance %s: %w", quote(id), err)
			}
		}
		if !force {
			for _, m := range tree {
				if !m.finished {
					return fmt.Errorf("delete instance %s: %s is not finished: %w", quote(id), quote(m.id), store.ErrRunning)
				}
			}
		}
		return deleteTree(t, tree)
	})
}

// DeleteInstances deletes the finished instances matching f with their descendants; see
// store.Store. An instance with a descendant that is not finished is skipped.
func (s *Store) DeleteInstances(ctx context.Context, f store.Filter) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	where, args := filterSQL(f)
	where = append(where, fmt.Sprintf("status IN (%d, %d, %d)", store.StatusCompleted, store.StatusFailed, store.StatusCancelled))
	q := `SELECT id FROM instances WHERE ` + strings.Join(where, " AND ") + ` ORDER BY created_at, id`
	var deleted int
	err := s.w.do(ctx, func(t *tx) error {
		deleted = 0
		ids, err := queryStrings(t, q, args...)
		if err != nil {
			return err
		}
		gone := map[string]bool{}
	next:
		for _, id := range ids {
			if gone[id] {
				continue
			}
			tree, err := loadTree(t, id)
			if err != nil {
				return err
			}
			for _, m := range tree {
				if !m.finished {
					continue next
				}
			}
			if err := deleteTree(t, tree); err != nil {
				return err
			}
			for _, m := range tree {
				gone[m.id] = true
			}
			deleted++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete instances: %w", err)
	}
	return deleted, nil
}

// queryStrings returns the first column of every row of q.
func queryStrings(t *tx, q string, args ...any) ([]string, error) {
	rows, err := t.queryDirect(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// PruneExecutions deletes old executions of an instance; see store.Store. keepLast counts
// the current execution.
func (s *Store) PruneExecutions(ctx context.Context, id string, before time.Time, keepLast int) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	if err := checkID("prune executions", id); err != nil {
		return 0, err
	}
	if keepLast < 0 {
		return 0, fmt.Errorf("prune executions: keepLast %d: %w", keepLast, store.ErrInvalid)
	}
	var pruned int
	err := s.w.do(ctx, func(t *tx) error {
		pruned = 0
		var cur int64
		if err := t.queryRow(qInstanceExecution, []any{id}, &cur); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("instance %s: %w", quote(id), store.ErrNotFound)
			}
			return err
		}
		rows, err := t.query(`SELECT id FROM executions
			WHERE instance_id = ?1 AND id <> ?2 AND completed_at <> 0 AND completed_at < ?3
			  AND id NOT IN (SELECT id FROM executions WHERE instance_id = ?1 ORDER BY id DESC LIMIT ?4)`,
			id, cur, nanos(before), keepLast)
		if err != nil {
			return err
		}
		var execs []int64
		for rows.Next() {
			var e int64
			if err := rows.Scan(&e); err != nil {
				rows.Close()
				return corruptf("executions of instance %s: %v", quote(id), err)
			}
			execs = append(execs, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, e := range execs {
			if _, err := t.exec(`DELETE FROM history WHERE instance_id = ?1 AND execution = ?2`, id, e); err != nil {
				return err
			}
			if _, err := t.exec(`DELETE FROM executions WHERE instance_id = ?1 AND id = ?2`, id, e); err != nil {
				return err
			}
		}
		pruned = len(execs)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune executions: %w", err)
	}
	return pruned, nil
}
