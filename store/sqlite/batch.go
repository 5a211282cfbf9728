package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/durohost/durohost/store"
)

// maxActivityBatch caps the work items FetchActivities locks in one call.
const maxActivityBatch = 256

// qLockWorkItems locks the next visible work items, up to ?4 of them (see qLockWorkItem).
const qLockWorkItems = `UPDATE work_items SET attempts = attempts + 1, lock_token = id || '.' || ?1,
		locked_until = ?2, ready_at = ?2
		WHERE id IN (SELECT id FROM work_items WHERE ready_at <= ?3 ORDER BY ready_at, id LIMIT ?4)
		RETURNING id, instance_id, execution, event_id, name, input, visible_at, attempts, lock_token, namespace`

// FetchActivities locks up to max visible work items (at most 256) in one transaction; see
// store.ActivityBatcher.
func (s *Store) FetchActivities(ctx context.Context, lockFor time.Duration, max int) ([]store.WorkItem, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	switch {
	case lockFor <= 0:
		return nil, fmt.Errorf("fetch activities: lock duration %v: %w", lockFor, store.ErrInvalid)
	case max <= 0:
		return nil, fmt.Errorf("fetch activities: at most %d items: %w", max, store.ErrInvalid)
	}
	max = min(max, maxActivityBatch)
	if ok, err := s.readyOnReader(ctx, qNextWorkItem); err != nil {
		return nil, fmt.Errorf("fetch activities: %w", err)
	} else if !ok {
		return nil, store.ErrNoWork
	}
	var (
		items   []store.WorkItem
		scanErr error
	)
	// Its only errors are failed statements: no savepoint needed (see modeNoSavepoint).
	err := s.w.submit(ctx, func(t *tx) error {
		items, scanErr = items[:0], nil
		now := nanos(t.now)
		until := now + int64(lockFor)
		rows, err := t.query(qLockWorkItems, newToken(), until, now, max)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				w         store.WorkItem
				visibleAt int64
			)
			if err := rows.Scan(&w.ID, &w.InstanceID, &w.Execution, &w.EventID, &w.Name, &w.Input, &visibleAt, &w.Attempts, &w.Token, &w.Namespace); err != nil {
				// Keep the locks: the unreadable item is skipped until its lock expires, not
				// fetched in a loop; the readable ones are returned.
				scanErr = corruptf("fetch activities: work item %d: %v", w.ID, err)
				continue
			}
			w.VisibleAt, w.LockedUntil = fromNanos(visibleAt), fromNanos(until)
			items = append(items, w)
		}
		return rows.Err()
	}, modeRelaxed|modeNoSavepoint)
	switch {
	case err != nil:
		return nil, fmt.Errorf("fetch activities: %w", err)
	case len(items) > 0:
		return items, nil
	case scanErr != nil:
		return nil, scanErr
	}
	return nil, store.ErrNoWork
}

var _ store.ActivityBatcher = (*Store)(nil)
