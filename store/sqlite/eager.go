package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/durohost/durohost/history"
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
	switch {
	case msg.Event.Kind != history.KindExecutionStarted:
		return fmt.Errorf("start with turn: a %s event is not a start: %w", msg.Event.Kind, store.ErrInvalid)
	case opts.LockFor != 0 || opts.Known != nil:
		return fmt.Errorf("start with turn: a lock duration or known history: %w", store.ErrInvalid)
	case opts.MaxInstances < 0:
		return fmt.Errorf("start with turn: instance quota %d: %w", opts.MaxInstances, store.ErrInvalid)
	case c == nil:
		return fmt.Errorf("start with turn: nil commit: %w", store.ErrInvalid)
	case c.Execution != 1 || len(c.History) == 0 || c.History[0].ID != 1 || c.ContinueAsNew && len(c.History) < 2:
		return fmt.Errorf("start with turn: the turn must create execution 1 with history from event 1: %w", store.ErrInvalid)
	case len(c.Consumed) > 0:
		return fmt.Errorf("start with turn: the turn consumes messages: %w", store.ErrInvalid)
	case c.State.Namespace != msg.Namespace:
		return fmt.Errorf("start with turn: the turn's namespace %s is not the start's %s: %w", quote(c.State.Namespace), quote(msg.Namespace), store.ErrInvalid)
	}
	if !holdsStart(c.History, &msg.Event) {
		return fmt.Errorf("start with turn: the turn's history does not hold the start event: %w", store.ErrInvalid)
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

// holdsStart reports whether hist holds the start event ev (by kind, name and input).
func holdsStart(hist []history.Event, ev *history.Event) bool {
	for i := range hist {
		h := &hist[i]
		if h.Kind == history.KindExecutionStarted && h.Name == ev.Name && string(h.Input) == string(ev.Input) {
			return true
		}
	}
	return false
}

var _ store.EagerStarter = (*Store)(nil)
