package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/durohost/durohost/store"
)

// SQLSTATEs raised by the store's own statements (durohost_fail, migration 0001): a
// statement that finds a check failed raises one, which rolls back everything its
// transaction did, and the store answers with the sentinel it stands for.
const (
	codeLockLost  = "DH001" // store.ErrLockLost
	codeConflict  = "DH002" // store.ErrConflict
	codeInvalid   = "DH003" // store.ErrInvalid
	codeExists    = "DH004" // store.ErrExists
	codeQuota     = "DH005" // store.ErrQuota
	codeDuplicate = "DH006" // store.ErrDuplicateEvent
	// codeSlow: the fast form of a commit found the instance in another state than it
	// assumed; the commit runs again on the slow path, which finds out why.
	codeSlow = "DH008"
	// codeRetry: a message's instance was deleted while the message was sent to it; the
	// call runs again (see withLocks).
	codeRetry = "DH009"
)

// errSlowPath and errRetry are the internal outcomes of codeSlow and codeRetry.
var (
	errSlowPath = errors.New("fast path refused")
	errRetry    = errors.New("instance deleted while written to")
)

// PostgreSQL SQLSTATEs the store acts on.
const (
	pgSerializationFailure = "40001"
	pgDeadlock             = "40P01"
	pgUniqueViolation      = "23505"
	pgBadCharacter         = "22021" // character_not_in_repertoire: NUL, invalid UTF-8
	pgUntranslatable       = "22P05"
	pgProgramLimit         = "54000" // e.g. an index row larger than a page allows
	pgStringTooLong        = "22001"
)

// sqlError turns an error of the database into the store's: the sentinel a durohost
// SQLSTATE stands for, store.ErrInvalid for values PostgreSQL cannot store (text holding NUL
// bytes or invalid UTF-8, keys too long for an index), and the context's error when the
// caller's context ended. Other errors are returned as they are.
func sqlError(err error) error {
	if err == nil {
		return nil
	}
	var pg *pgconn.PgError
	if !errors.As(err, &pg) {
		return err
	}
	var sentinel error
	switch pg.Code {
	case codeLockLost:
		sentinel = store.ErrLockLost
	case codeConflict:
		sentinel = store.ErrConflict
	case codeInvalid:
		sentinel = store.ErrInvalid
	case codeExists:
		sentinel = store.ErrExists
	case codeQuota:
		sentinel = store.ErrQuota
	case codeDuplicate:
		sentinel = store.ErrDuplicateEvent
	case codeSlow:
		return errSlowPath
	case codeRetry:
		return errRetry
	case pgBadCharacter, pgUntranslatable, pgProgramLimit, pgStringTooLong:
		return fmt.Errorf("%s: %w", pg.Message, store.ErrInvalid)
	default:
		return err
	}
	return fmt.Errorf("%s: %w", pg.Message, sentinel)
}

// transient reports whether err is worth running its transaction again: a serialization
// failure, a deadlock, or a message sent to an instance being deleted.
func transient(err error) bool {
	if errors.Is(err, errRetry) {
		return true
	}
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == pgSerializationFailure || pg.Code == pgDeadlock)
}

// ctxError returns ctx's error when ctx has ended, else err: a statement cut short by the
// caller is reported as such, never as corrupt data.
func ctxError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return fmt.Errorf("%w (%v)", ctxErr, err)
	}
	return err
}
