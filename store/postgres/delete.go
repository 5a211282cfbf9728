package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/durohost/durohost/store"
)

// qTree lists an instance and its descendants (through parent_id) with their status (NULL
// when the instance has no row yet).
const qTree = `WITH RECURSIVE tree(id) AS (
		SELECT $1::text COLLATE "C"
		UNION
		SELECT i.id FROM instances i JOIN tree t ON i.parent_id = t.id
	) SELECT t.id, i.status FROM tree t LEFT JOIN instances i ON i.id = t.id`

// qPendingExists tells whether an instance without a row exists: it has queued messages, or
// a turn lock that was taken and not released.
const qPendingExists = `SELECT EXISTS (SELECT 1 FROM messages WHERE instance_id = $1)
	OR EXISTS (SELECT 1 FROM turn_locks WHERE instance_id = $1 AND token <> '')`

// deleteStmts remove everything stored for the instances $1. The lock rows go first: their
// deletion waits for the transactions that are sending messages to them (which hold them FOR
// KEY SHARE), so that the messages deleted next include those. Deleting the lock rows and the
// work items is what makes in-flight turns and activities fail with ErrLockLost.
var deleteStmts = []string{
	`DELETE FROM turn_locks WHERE instance_id = ANY($1::text[])`,
	`DELETE FROM instances WHERE id = ANY($1::text[])`,
	`DELETE FROM executions WHERE instance_id = ANY($1::text[])`,
	`DELETE FROM history WHERE instance_id = ANY($1::text[])`,
	`DELETE FROM messages WHERE instance_id = ANY($1::text[])`,
	`DELETE FROM work_items WHERE instance_id = ANY($1::text[])`,
}

// treeMember is an instance of a tree and whether it is finished.
type treeMember struct {
	id       string
	exists   bool
	finished bool
}

// loadTree returns id and its descendants.
func loadTree(ctx context.Context, tx pgx.Tx, id string) ([]treeMember, error) {
	rows, err := tx.Query(ctx, qTree, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var tree []treeMember
	for rows.Next() {
		var (
			m      treeMember
			status *int16
		)
		if err := rows.Scan(&m.id, &status); err != nil {
			return nil, scanFailed(ctx, err, "descendants of instance %s", quote(id))
		}
		m.exists, m.finished = status != nil, status != nil && store.Status(*status).Finished()
		tree = append(tree, m)
	}
	return tree, rows.Err()
}

// deleteMembers deletes every instance of ids, in one pipeline.
func deleteMembers(ctx context.Context, tx pgx.Tx, ids []string) error {
	ids = slices.Clone(ids)
	slices.Sort(ids) // one order of locks for every deletion
	b := &pgx.Batch{}
	for _, q := range deleteStmts {
		b.Queue(q, ids)
	}
	return tx.SendBatch(ctx, b).Close()
}

// DeleteInstance deletes an instance and its descendants; see store.Store. An instance that
// has queued messages or a lock but no row yet (pending: its first turn has not committed)
// counts as existing and not finished. The deletion holds the advisory lock of the ID, so
// that it is ordered with starts and other deletions of the ID.
func (s *Store) DeleteInstance(ctx context.Context, id string, force bool) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if err := checkID("delete instance", id); err != nil {
		return err
	}
	var (
		tree    []treeMember
		pending bool
	)
	err := s.inTx(ctx,
		func(b *pgx.Batch) {
			b.Queue(qAdvisoryLock, int32(advisoryInstance), advisoryKey(s.cfg.schema, id))
		},
		func(br pgx.BatchResults) error {
			_, err := br.Exec()
			return err
		},
		func(ctx context.Context, tx pgx.Tx) error {
			var err error
			if tree, err = loadTree(ctx, tx, id); err != nil {
				return err
			}
			if !tree[0].exists {
				if err := tx.QueryRow(ctx, qPendingExists, id).Scan(&pending); err != nil {
					return err
				}
				if !pending {
					return fmt.Errorf("instance %s: %w", quote(id), store.ErrNotFound)
				}
			}
			if !force {
				for _, m := range tree {
					if !m.finished {
						return fmt.Errorf("%s is not finished: %w", quote(m.id), store.ErrRunning)
					}
				}
			}
			ids := make([]string, len(tree))
			for i, m := range tree {
				ids[i] = m.id
			}
			return deleteMembers(ctx, tx, ids)
		})
	if err != nil {
		return fmt.Errorf("delete instance %s: %w", quote(id), err)
	}
	return nil
}

// DeleteInstances deletes the finished instances matching f with their descendants; see
// store.Store. An instance with a descendant that is not finished is skipped.
func (s *Store) DeleteInstances(ctx context.Context, f store.Filter) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	where, args := filterSQL(f, nil)
	where = append(where, fmt.Sprintf("i.status IN (%d, %d, %d)", store.StatusCompleted, store.StatusFailed, store.StatusCancelled))
	q := `SELECT i.id FROM instances i WHERE `
	for n, w := range where {
		if n > 0 {
			q += " AND "
		}
		q += w
	}
	q += ` ORDER BY i.created_at, i.id`
	var deleted int
	err := s.inTx(ctx, nil, nil, func(ctx context.Context, tx pgx.Tx) error {
		deleted = 0
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		gone := map[string]bool{}
		var doomed []string
	next:
		for _, id := range ids {
			if gone[id] {
				continue
			}
			tree, err := loadTree(ctx, tx, id)
			if err != nil {
				return err
			}
			for _, m := range tree {
				if !m.finished {
					continue next
				}
			}
			for _, m := range tree {
				if !gone[m.id] { // (a descendant already deleted as a root of its own)
					gone[m.id] = true
					doomed = append(doomed, m.id)
				}
			}
			deleted++
		}
		if len(doomed) == 0 {
			return nil
		}
		return deleteMembers(ctx, tx, doomed)
	})
	if err != nil {
		return 0, fmt.Errorf("delete instances: %w", err)
	}
	return deleted, nil
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
	err := s.inTx(ctx, nil, nil, func(ctx context.Context, tx pgx.Tx) error {
		pruned = 0
		var cur int64
		err := tx.QueryRow(ctx, `SELECT execution FROM instances WHERE id = $1 FOR UPDATE`, id).Scan(&cur)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("instance %s: %w", quote(id), store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id FROM executions
			WHERE instance_id = $1 AND id <> $2 AND completed_at <> 0 AND completed_at < $3
			  AND id NOT IN (SELECT id FROM executions WHERE instance_id = $1 ORDER BY id DESC LIMIT $4)`,
			id, cur, nanos(before), int64(keepLast))
		if err != nil {
			return err
		}
		execs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		if len(execs) == 0 {
			return nil
		}
		b := &pgx.Batch{}
		b.Queue(`DELETE FROM history WHERE instance_id = $1 AND execution = ANY($2::bigint[])`, id, execs)
		b.Queue(`DELETE FROM executions WHERE instance_id = $1 AND id = ANY($2::bigint[])`, id, execs)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		pruned = len(execs)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune executions: %w", err)
	}
	return pruned, nil
}
