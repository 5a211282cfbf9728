package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/durohost/durohost/store"
)

// Statements of StartWithTurn, sent in one pipeline after the start's advisory locks and
// qStartCheck (so that of concurrent starts of one ID exactly one creates the row).
const (
	// qEagerConflict refuses the eager start of an instance that messages already wait for:
	// its first turn would have taken them.
	qEagerConflict = `SELECT CASE WHEN EXISTS (SELECT 1 FROM messages WHERE instance_id = $1)
		THEN durohost_fail('DH002', 'messages wait for the instance') ELSE '' END`

	// qStartNew is the guard of StartWithTurn: it creates the instance's lock row (unlocked),
	// its row, its first execution(s) and its history, as qCommitNew does without a lock. $1
	// the instance, $2-$18 the arguments of qCommitNew's $4-$20 (encodedCommit.newArgs without
	// the consumed messages).
	qStartNew = `WITH a AS (INSERT INTO turn_locks (instance_id) VALUES ($1::text) ON CONFLICT DO NOTHING),
	i AS (
		INSERT INTO instances (id, namespace, name, version, module_hash, parent_id, status, output, failure,
			custom_status, execution, events, created_at, updated_at, completed_at)
		VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::smallint, $8::bytea, $9::bytea,
			$10::bytea, $11::bigint, $12::bigint, durohost_now(), durohost_now(),
			CASE WHEN $13::boolean THEN durohost_now() ELSE 0 END)
		ON CONFLICT (id) DO NOTHING
		RETURNING created_at),
	x AS (
		INSERT INTO executions (instance_id, id, status, events, created_at, completed_at)
		SELECT $1::text, 1::bigint, $14::smallint, $15::bigint, durohost_now(), CASE WHEN $16::boolean THEN durohost_now() ELSE 0 END FROM i
		UNION ALL
		SELECT $1::text, 2::bigint, 1::smallint, 0::bigint, durohost_now(), 0::bigint FROM i WHERE $17::boolean),
	h AS (
		INSERT INTO history (instance_id, execution, event_id, data)
		SELECT $1::text, 1::bigint, x.o, x.d FROM i, unnest($18::bytea[]) WITH ORDINALITY AS x(d, o))
	SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM i) THEN durohost_fail('DH004', 'the instance exists')
		ELSE $2::text END, coalesce((SELECT created_at FROM i), 0), false`
)

// StartWithTurn creates an instance with its first turn, computed by the host on the start
// message, in one transaction; see store.EagerStarter. Messages already queued for the
// instance make it ErrConflict (nothing written): the caller starts the instance the usual
// way, and its first turn takes them.
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
	if err := e.checkNew(id); err != nil {
		return fmt.Errorf("start with turn: %w", err)
	}
	args := e.newArgs()
	g := guard{qStartNew, append([]any{id}, args[:len(args)-1]...)}
	secrets := claimSecrets(c)
	var out commitOut
	err = s.write(ctx, s.pool, func(ctx context.Context, conn *pgx.Conn) error {
		pre := &pgx.Batch{}
		if opts.MaxInstances > 0 {
			pre.Queue(qAdvisoryLock, int32(advisoryNamespace), advisoryKey(s.cfg.schema, msg.Namespace))
		}
		pre.Queue(qAdvisoryLock, int32(advisoryInstance), advisoryKey(s.cfg.schema, id))
		pre.Queue(qStartCheck, id, msg.Namespace, int32(opts.MaxInstances))
		pre.Queue(qEagerConflict, id)
		var err error
		out, err = sendCommit(ctx, prefixed{conn, pre}, g, id, e, secrets)
		return err
	})
	if err != nil {
		c.Created = time.Time{}
		return fmt.Errorf("start with turn %s: %w", quote(id), err)
	}
	s.applyOut(id, c, secrets, out)
	return nil
}

// prefixed sends a batch after the statements of pre, in one pipeline (one transaction).
type prefixed struct {
	conn *pgx.Conn
	pre  *pgx.Batch
}

func (p prefixed) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return p.conn.SendBatch(ctx, &pgx.Batch{QueuedQueries: slices.Concat(p.pre.QueuedQueries, b.QueuedQueries)})
}

var _ store.EagerStarter = (*Store)(nil)
