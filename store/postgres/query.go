package postgres

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// instanceCols are the columns scanInstance reads, in order, of instance row i.
const instanceCols = `i.id, i.name, i.version, i.module_hash, i.parent_id, i.status, i.output, i.failure,
	i.custom_status, i.execution, i.created_at, i.updated_at, i.completed_at, i.namespace`

// unfinished is the count of the unfinished instances of the namespace in parameter p: the
// rows that are running (status 1, store.StatusRunning: the only unfinished status a row has;
// the literal lets the partial index instances_running serve it) and the pending instances
// (a queued start, no row yet).
func unfinished(p string) string {
	return `((SELECT count(*) FROM instances WHERE namespace = ` + p + ` AND status = 1)
	+ (SELECT count(DISTINCT m.instance_id) FROM messages m WHERE m.namespace = ` + p + `
		AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = m.instance_id)))`
}

// qUnfinished is unfinished for the namespace in $2.
var qUnfinished = unfinished("$2")

// Page sizes of ListInstances.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// scanInstance reads a row of instanceCols, then any extra columns into extra. want names
// the instance for errors. A missing row is pgx.ErrNoRows, unwrapped.
func scanInstance(ctx context.Context, row pgx.Row, want string, extra ...any) (*store.Instance, error) {
	var (
		in                  store.Instance
		status              int16
		failure             []byte
		exec                int64
		created, updated, c int64
	)
	dest := append([]any{&in.ID, &in.Name, &in.Version, &in.ModuleHash, &in.ParentID, &status, &in.Output, &failure,
		&in.CustomStatus, &exec, &created, &updated, &c, &in.Namespace}, extra...)
	if err := row.Scan(dest...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, err
		}
		return nil, scanFailed(ctx, err, "instance %s", quote(want))
	}
	switch {
	case !validStatus(int64(status)) || store.Status(status) == store.StatusContinuedAsNew:
		return nil, corruptf("instance %s: status %d", quote(in.ID), status)
	case exec < 1 || exec > 1<<32-1:
		return nil, corruptf("instance %s: execution %d", quote(in.ID), exec)
	}
	in.Status, in.Execution = store.Status(status), uint32(exec)
	in.CreatedAt, in.UpdatedAt, in.CompletedAt = fromNanos(created), fromNanos(updated), fromNanos(c)
	var err error
	if in.Failure, err = decodeFailure(failure); err != nil {
		return nil, corruptf("instance %s: failure: %v", quote(in.ID), err)
	}
	return &in, nil
}

// queryRower is what the read helpers need: a pool, a connection or a transaction.
type queryRower interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// qInstance reads one instance row.
const qInstance = `SELECT ` + instanceCols + ` FROM instances i WHERE i.id = $1`

// loadInstance reads one instance; store.ErrNotFound when it has no row.
func loadInstance(ctx context.Context, q queryRower, id string) (*store.Instance, error) {
	in, err := scanInstance(ctx, q.QueryRow(ctx, qInstance, id), id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("instance %s: %w", quote(id), store.ErrNotFound)
	}
	return in, err
}

// checkID rejects an empty instance ID.
func checkID(op, id string) error {
	if id == "" {
		return fmt.Errorf("%s: empty instance ID: %w", op, store.ErrInvalid)
	}
	return nil
}

// readTx runs fn in a read-only REPEATABLE READ transaction (one snapshot).
func (s *Store) readTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return ctxError(ctx, sqlError(err))
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	return fn(tx)
}

// Instance returns an instance's current state; see store.Store.
func (s *Store) Instance(ctx context.Context, id string) (*store.Instance, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if err := checkID("instance", id); err != nil {
		return nil, err
	}
	// Most instances have a row: one query. Else the row and the queued start are read in one
	// snapshot (the first commit turns the one into the other).
	in, err := loadInstance(ctx, s.pool, id)
	if !errors.Is(err, store.ErrNotFound) {
		return in, ctxError(ctx, sqlError(err))
	}
	err = s.readTx(ctx, func(tx pgx.Tx) error {
		var err error
		in, err = loadInstance(ctx, tx, id)
		if errors.Is(err, store.ErrNotFound) {
			if p, perr := loadPending(ctx, tx, id); perr != nil || p != nil {
				in, err = p, perr
			}
		}
		return err
	})
	return in, ctxError(ctx, sqlError(err))
}

// loadPending returns the pending state of an instance that has no row: the state its queued
// start message describes, or nil when no start message is queued for it.
func loadPending(ctx context.Context, q queryRower, id string) (*store.Instance, error) {
	var (
		msgID int64
		data  []byte
		ns    string
	)
	err := q.QueryRow(ctx, `SELECT id, data, namespace FROM messages
		WHERE instance_id = $1 AND namespace IS NOT NULL ORDER BY id LIMIT 1`, id).Scan(&msgID, &data, &ns)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, scanFailed(ctx, err, "messages of instance %s", quote(id))
	}
	in, err := pendingFrom(msgID, id, ns, data)
	if err != nil {
		return nil, err
	}
	return &in, nil
}

// pendingFrom is the state of pending instance id of namespace ns, from its queued start
// message msgID (data).
func pendingFrom(msgID int64, id, ns string, data []byte) (store.Instance, error) {
	ev, err := decodeEvent(data, func() string { return fmt.Sprintf("message %d of instance %s", msgID, quote(id)) })
	if err != nil {
		return store.Instance{}, err
	}
	if ev.Kind != history.KindExecutionStarted {
		return store.Instance{}, corruptf("message %d of instance %s: a %s event is marked as a start", msgID, quote(id), ev.Kind)
	}
	in := store.Instance{ID: id, InstanceState: store.InstanceState{
		Namespace: ns, Name: ev.Name, Version: ev.Version, ModuleHash: ev.ModuleHash, ParentID: ev.ParentID,
		Status: store.StatusPending,
	}}
	if ev.Time != 0 {
		in.CreatedAt = fromNanos(ev.Time)
		in.UpdatedAt = in.CreatedAt
	}
	return in, nil
}

// Executions lists an instance's executions; see store.Store.
func (s *Store) Executions(ctx context.Context, id string) ([]store.Execution, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if err := checkID("executions", id); err != nil {
		return nil, err
	}
	// The current execution's length is kept on the instance row.
	rows, err := s.pool.Query(ctx, `SELECT e.id, e.status,
			CASE WHEN e.id = i.execution THEN i.events ELSE e.events END, e.created_at, e.completed_at
		FROM instances i LEFT JOIN executions e ON e.instance_id = i.id
		WHERE i.id = $1 ORDER BY e.id`, id)
	if err != nil {
		return nil, fmt.Errorf("executions: %w", ctxError(ctx, sqlError(err)))
	}
	defer rows.Close()
	found := false
	out := []store.Execution{}
	for rows.Next() {
		found = true
		var (
			exec, events, created, completed *int64
			status                           *int16
		)
		if err := rows.Scan(&exec, &status, &events, &created, &completed); err != nil {
			return nil, fmt.Errorf("executions: %w", scanFailed(ctx, err, "executions of instance %s", quote(id)))
		}
		if exec == nil {
			continue // an instance without executions (never written so)
		}
		if !validStatus(int64(*status)) || *exec < 1 || *exec > 1<<32-1 || *events < 0 {
			return nil, corruptf("executions: instance %s execution %d: status %d, %d events", quote(id), *exec, *status, *events)
		}
		out = append(out, store.Execution{
			ID: uint32(*exec), Status: store.Status(*status), Events: int(*events),
			CreatedAt: fromNanos(*created), CompletedAt: fromNanos(*completed),
		})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("executions: %w", ctxError(ctx, sqlError(err)))
	}
	if !found {
		return nil, fmt.Errorf("executions: instance %s: %w", quote(id), store.ErrNotFound)
	}
	return out, nil
}

// History returns the events of one execution; see store.Store.
func (s *Store) History(ctx context.Context, id string, execution uint32) ([]history.Event, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if err := checkID("history", id); err != nil {
		return nil, err
	}
	var (
		exec   int64
		exists bool
		data   [][]byte
	)
	// One statement: the execution (0: the instance's current one), whether it exists, and
	// its events.
	err := s.pool.QueryRow(ctx, `SELECT x.exec, EXISTS (SELECT 1 FROM executions WHERE instance_id = $1 AND id = x.exec),
			ARRAY(SELECT h.data FROM history h WHERE h.instance_id = $1 AND h.execution = x.exec ORDER BY h.event_id)
		FROM (SELECT CASE WHEN $2::bigint = 0 THEN i.execution ELSE $2::bigint END AS exec FROM instances i WHERE i.id = $1) x`,
		id, int64(execution)).Scan(&exec, &exists, &data)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("history: instance %s: %w", quote(id), store.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("history: %w", scanFailed(ctx, err, "history of instance %s", quote(id)))
	case !exists:
		return nil, fmt.Errorf("history: instance %s execution %d: %w", quote(id), exec, store.ErrNotFound)
	}
	evs, err := decodeHistory(id, uint32(exec), data)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return evs, nil
}

// Children returns the sub-orchestrations of an instance; see store.Store.
func (s *Store) Children(ctx context.Context, id string) ([]store.Instance, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if err := checkID("children", id); err != nil {
		return nil, err
	}
	var out []store.Instance
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		if _, err := loadInstance(ctx, tx, id); err != nil {
			return err
		}
		var err error
		out, err = queryInstances(ctx, tx, `SELECT `+instanceCols+` FROM instances i
			WHERE i.parent_id = $1 ORDER BY i.created_at, i.id`, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("children: %w", ctxError(ctx, sqlError(err)))
	}
	return out, nil
}

// queryInstances runs a query selecting instanceCols.
func queryInstances(ctx context.Context, q queryRower, query string, args ...any) ([]store.Instance, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.Instance{}
	for rows.Next() {
		in, err := scanInstance(ctx, rows, "?")
		if err != nil {
			return nil, err
		}
		out = append(out, *in)
	}
	return out, rows.Err()
}

// ListInstances returns one page of the instances matching f; see store.Store. The page
// token encodes the (creation time, ID) of the last instance returned, so pages stay stable
// while instances are added or removed.
func (s *Store) ListInstances(ctx context.Context, f store.Filter) (*store.Page, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	size := f.PageSize
	switch {
	case size < 0:
		return nil, fmt.Errorf("list instances: page size %d: %w", size, store.ErrInvalid)
	case size == 0:
		size = defaultPageSize
	case size > maxPageSize:
		size = maxPageSize
	}
	where, args := filterSQL(f, nil)
	var (
		after   bool // a page token gives the position to continue after
		afterAt int64
		afterID string
	)
	if f.PageToken != "" {
		var err error
		if afterAt, afterID, err = decodePageToken(f.PageToken); err != nil {
			return nil, fmt.Errorf("list instances: %w", err)
		}
		after = true
		args = append(args, afterAt, afterID)
		where = append(where, fmt.Sprintf("(i.created_at > $%d OR (i.created_at = $%d AND i.id > $%d))", len(args)-1, len(args)-1, len(args)))
	}
	q := `SELECT ` + instanceCols + ` FROM instances i`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, size+1)
	q += " ORDER BY i.created_at, i.id LIMIT $" + strconv.Itoa(len(args))
	var ins []store.Instance
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		var err error
		if ins, err = queryInstances(ctx, tx, q, args...); err != nil {
			return err
		}
		if !wantsPending(f) {
			return nil
		}
		pending, err := listPending(ctx, tx, f)
		if err != nil {
			return err
		}
		// Both lists are ordered by creation time then ID: merge them, after the token.
		for _, p := range pending {
			at := nanos(p.CreatedAt)
			if after && (at < afterAt || at == afterAt && p.ID <= afterID) {
				continue
			}
			ins = append(ins, p)
		}
		slices.SortFunc(ins, func(a, b store.Instance) int {
			if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		if len(ins) > size+1 {
			ins = ins[:size+1]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", ctxError(ctx, sqlError(err)))
	}
	page := &store.Page{Instances: ins}
	if len(ins) > size {
		page.Instances = ins[:size]
		last := ins[size-1]
		page.Next = encodePageToken(nanos(last.CreatedAt), last.ID)
	}
	if page.Instances == nil {
		page.Instances = []store.Instance{}
	}
	return page, nil
}

// filterSQL returns the conditions on instance row i selecting f, with their arguments
// appended to args (numbered after them).
func filterSQL(f store.Filter, args []any) (where []string, _ []any) {
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if len(f.Namespaces) > 0 {
		where = append(where, "i.namespace = ANY("+arg(f.Namespaces)+"::text[])")
	}
	if len(f.Statuses) > 0 {
		st := make([]int16, len(f.Statuses))
		for i, s := range f.Statuses {
			st[i] = int16(s)
		}
		where = append(where, "i.status = ANY("+arg(st)+"::smallint[])")
	}
	if f.Name != "" {
		where = append(where, "i.name = "+arg(f.Name))
	}
	if f.IDPrefix != "" {
		// Byte-wise prefix match; LIKE would need escaping.
		where = append(where, "starts_with(i.id, "+arg(f.IDPrefix)+")")
	}
	if !f.CreatedAfter.IsZero() {
		where = append(where, "i.created_at >= "+arg(nanos(f.CreatedAfter)))
	}
	if !f.CreatedBefore.IsZero() {
		where = append(where, "i.created_at < "+arg(nanos(f.CreatedBefore)))
	}
	return where, args
}

// wantsPending reports whether a filter selects pending instances (no status filter, or one
// that names StatusPending).
func wantsPending(f store.Filter) bool {
	return len(f.Statuses) == 0 || slices.Contains(f.Statuses, store.StatusPending)
}

// qPendingStarts lists the queued start messages of instances that have no row, oldest first,
// of the namespaces $2 (all when empty) and with IDs starting with $1.
const qPendingStarts = `SELECT m.id, m.instance_id, m.data, m.namespace FROM messages m
	WHERE m.namespace IS NOT NULL AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = m.instance_id)
	  AND starts_with(m.instance_id, $1) AND (cardinality($2::text[]) = 0 OR m.namespace = ANY($2::text[]))
	ORDER BY m.id`

// listPending returns the pending instances (a queued start message, no row) that f selects,
// in no particular order. There are few of them: an instance stays pending until its first
// turn commits.
func listPending(ctx context.Context, q queryRower, f store.Filter) ([]store.Instance, error) {
	rows, err := q.Query(ctx, qPendingStarts, f.IDPrefix, append([]string{}, f.Namespaces...))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	seen := map[string]bool{}
	var out []store.Instance
	for rows.Next() {
		var (
			msgID int64
			id    string
			data  []byte
			ns    string
		)
		if err := rows.Scan(&msgID, &id, &data, &ns); err != nil {
			return nil, scanFailed(ctx, err, "pending messages")
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		in, err := pendingFrom(msgID, id, ns, data)
		if err != nil {
			return nil, err
		}
		switch {
		case f.Name != "" && in.Name != f.Name,
			!f.CreatedAfter.IsZero() && in.CreatedAt.Before(f.CreatedAfter),
			!f.CreatedBefore.IsZero() && !in.CreatedAt.Before(f.CreatedBefore):
			continue
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// encodePageToken returns the opaque token of the position after (created, id).
func encodePageToken(created int64, id string) string {
	b := binary.BigEndian.AppendUint64([]byte{1}, uint64(created))
	return base64.RawURLEncoding.EncodeToString(append(b, id...))
}

func decodePageToken(tok string) (created int64, id string, err error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 9 || b[0] != 1 {
		return 0, "", fmt.Errorf("malformed page token: %w", store.ErrInvalid)
	}
	return int64(binary.BigEndian.Uint64(b[1:9])), string(b[9:]), nil
}

// QueueDepths counts what is waiting; see store.Store.
func (s *Store) QueueDepths(ctx context.Context) (*store.Depths, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	var d store.Depths
	err := s.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM messages WHERE ready_at <= durohost_now()),
		(SELECT count(*) FROM messages WHERE ready_at > durohost_now()),
		(SELECT count(*) FROM work_items WHERE locked_until <= durohost_now()),
		(SELECT count(*) FROM work_items WHERE locked_until > durohost_now()),
		(SELECT count(*) FROM turn_locks WHERE locked_until > durohost_now())`).
		Scan(&d.Messages, &d.DelayedMessages, &d.Activities, &d.LockedActivities, &d.LockedInstances)
	if err != nil {
		return nil, fmt.Errorf("queue depths: %w", ctxError(ctx, sqlError(err)))
	}
	return &d, nil
}
