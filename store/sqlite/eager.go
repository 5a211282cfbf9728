package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/durohost/durohost/store"
)

// qAnyMessage finds a queued message of an instance.
const qAnyMessage = `SELECT 1 FROM messages WHERE instance_id = ?1 LIMIT 1`

// StartWithTurn creates an instance with its first turn, computed by the host on the start
// message, in one transaction; see store.EagerStarter. Messages already queued for the
// instance (an event raised before its start) would have been taken by its first turn: with
// any of them queued the start is ErrConflict, nothing is written, and the caller starts
// the instance the usual way.
func (s *Store) StartWithTurn(ctx context.Context, msg store.Message, opts store.StartOptions, c *store.Commit) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if err := store.CheckStartWithTurn(msg, opts, c); err != nil {
		return err
	}
	if err := checkStartKey(&msg); err != nil {
		return fmt.Errorf("start with turn: %w", err)
	}
	e, err := encodeCommit(c)
	if err != nil {
		return fmt.Errorf("start with turn: %w", err)
	}
	id := msg.InstanceID
	err = s.w.do(ctx, func(t *tx) error {
		e.resetAttempt()
		now := nanos(t.now)
		if err := t.checkNew(id); err != nil {
			return err
		}
		var one int
		switch err := t.queryRow(qAnyMessage, []any{id}, &one); {
		case err == nil:
			return fmt.Errorf("start with turn %s: messages are queued for it: %w", quote(id), store.ErrConflict)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("start with turn %s: %w", quote(id), err)
		}
		if err := t.checkQuota(msg.Namespace, opts.MaxInstances); err != nil {
			return err
		}
		if err := createInstance(t, id, e, now); err != nil {
			return fmt.Errorf("start with turn %s: %w", quote(id), err)
		}
		return writeEffects(t, id, "", e, now)
	})
	if err != nil {
		c.Created = time.Time{}
	}
	return err
}

var _ store.EagerStarter = (*Store)(nil)
