package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/durohost/durohost/store"
)

// maxActivityBatch caps the work items FetchActivities locks in one call.
const maxActivityBatch = 256

// qFetchActivities locks up to $3 of the oldest visible work items with secret $1 for $2
// nanoseconds, skipping the items other transactions are locking (see qFetchActivity).
const qFetchActivities = `UPDATE work_items SET attempts = attempts + 1, lock_token = $1,
		locked_until = durohost_lock_until($2::bigint), ready_at = durohost_lock_until($2::bigint)
	WHERE id IN (SELECT id FROM work_items WHERE ready_at <= (SELECT durohost_now()) ORDER BY ready_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
	RETURNING id, instance_id, execution, event_id, namespace, name, input, visible_at, attempts, locked_until`

// FetchActivities locks up to max visible work items (at most 256) in one statement; see
// store.ActivityBatcher. The items share the lock's secret; each token names its own item.
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
	secret := newSecret()
	var (
		items   []store.WorkItem
		scanErr error
	)
	err := s.write(ctx, s.fetch, func(ctx context.Context, conn *pgx.Conn) error {
		items, scanErr = items[:0], nil
		rows, err := conn.Query(ctx, qFetchActivities, secret, int64(lockFor), int32(max))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				w                store.WorkItem
				exec             int64
				visibleAt, until int64
				attempts         int32
			)
			err := rows.Scan(&w.ID, &w.InstanceID, &exec, &w.EventID, &w.Namespace, &w.Name, &w.Input, &visibleAt, &attempts, &until)
			if err == nil && (exec < 1 || exec > 1<<32-1) {
				err = fmt.Errorf("execution %d", exec)
			}
			if err != nil {
				// The item stays locked: it is skipped until the lock expires, not fetched in a
				// loop; the readable ones are returned.
				scanErr = corruptf("fetch activities: work item %d: %v", w.ID, err)
				continue
			}
			w.Execution, w.VisibleAt, w.LockedUntil, w.Attempts = uint32(exec), fromNanos(visibleAt), fromNanos(until), int(attempts)
			w.Token = makeToken(kindActivity, w.ID, secret)
			items = append(items, w)
		}
		return rows.Err()
	})
	switch {
	case err != nil:
		return nil, fmt.Errorf("fetch activities: %w", err)
	case len(items) > 0:
		for _, w := range items {
			s.owners.put(s.owners.items, w.ID, w.InstanceID)
		}
		return items, nil
	case scanErr != nil:
		return nil, scanErr
	}
	return nil, store.ErrNoWork
}

var _ store.ActivityBatcher = (*Store)(nil)
