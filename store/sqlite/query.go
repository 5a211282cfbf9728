package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// instanceCols are the columns scanInstance reads, in order.
const instanceCols = `id, name, version, module_hash, parent_id, status, output, failure, custom_status,
	execution, created_at, updated_at, completed_at, namespace`

// qUnfinished counts the unfinished instances of namespace ?1: the rows that are running
// (status 1, store.StatusRunning: the only unfinished status a row has; the literal lets the
// partial index instances_running serve it) and the pending instances (a queued start, no
// row yet).
const qUnfinished = `SELECT (SELECT count(*) FROM instances WHERE namespace = ?1 AND status = 1)
	+ (SELECT count(DISTINCT m.instance_id) FROM messages m WHERE m.namespace = ?1
		AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = m.instance_id))`

// Page sizes of ListInstances.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// rowReader converts loosely typed column values, remembering the first mismatch, so that a
// damaged row gives ErrCorrupt naming the column instead of a conversion panic or a zero.
type rowReader struct{ err error }

func (r *rowReader) text(v any, col string) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	r.fail(col, v)
	return ""
}

func (r *rowReader) int(v any, col string) int64 {
	if n, ok := v.(int64); ok {
		return n
	}
	r.fail(col, v)
	return 0
}

func (r *rowReader) blob(v any, col string) []byte {
	switch v := v.(type) {
	case nil:
		return nil
	case []byte:
		return v
	case string:
		return []byte(v)
	}
	r.fail(col, v)
	return nil
}

func (r *rowReader) fail(col string, v any) {
	if r.err == nil {
		r.err = fmt.Errorf("column %s holds %T", col, v)
	}
}

// scanInstance reads a row of instanceCols, then any extra columns into extra. want names
// the instance for errors when the row's own ID cannot be read.
func scanInstance(ctx context.Context, sc scanner, want string, extra ...any) (*store.Instance, error) {
	var v [14]any
	ptrs := make([]any, len(v), len(v)+len(extra))
	for i := range v {
		ptrs[i] = &v[i]
	}
	if err := sc.Scan(append(ptrs, extra...)...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		return nil, scanFailed(ctx, err, "instance %s", quote(want))
	}
	var r rowReader
	in := &store.Instance{ID: r.text(v[0], "id")}
	if r.err == nil {
		want = in.ID
	}
	in.Name = r.text(v[1], "name")
	in.Version = r.text(v[2], "version")
	in.ModuleHash = r.text(v[3], "module_hash")
	in.ParentID = r.text(v[4], "parent_id")
	status := r.int(v[5], "status")
	in.Output = r.blob(v[6], "output")
	failure := r.blob(v[7], "failure")
	in.CustomStatus = r.blob(v[8], "custom_status")
	exec := r.int(v[9], "execution")
	in.CreatedAt = fromNanos(r.int(v[10], "created_at"))
	in.UpdatedAt = fromNanos(r.int(v[11], "updated_at"))
	in.CompletedAt = fromNanos(r.int(v[12], "completed_at"))
	in.Namespace = r.text(v[13], "namespace")
	switch {
	case r.err != nil:
		return nil, corruptf("instance %s: %v", quote(want), r.err)
	case !validStatus(status) || store.Status(status) == store.StatusContinuedAsNew:
		return nil, corruptf("instance %s: status %d", quote(want), status)
	case exec < 1 || exec > 1<<32-1:
		return nil, corruptf("instance %s: execution %d", quote(want), exec)
	}
	in.Status, in.Execution = store.Status(status), uint32(exec)
	var err error
	if in.Failure, err = decodeFailure(failure); err != nil {
		return nil, corruptf("instance %s: failure: %v", quote(want), err)
	}
	return in, nil
}

// loadInstance reads one instance; store.ErrNotFound when there is none.
func loadInstance(ctx context.Context, q querier, id string) (*store.Instance, error) {
	in, err := scanInstance(ctx, q.QueryRowContext(ctx, `SELECT `+instanceCols+` FROM instances WHERE id = ?1`, id), id)
	if errors.Is(err, sql.ErrNoRows) {
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

// Instance returns an instance's current state; see store.Store.
func (s *Store) Instance(ctx context.Context, id string) (*store.Instance, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if err := checkID("instance", id); err != nil {
		return nil, err
	}
	var in *store.Instance
	err := s.readTx(ctx, func(rtx *sql.Tx) error {
		var err error
		in, err = loadInstance(ctx, rtx, id)
		if errors.Is(err, store.ErrNotFound) {
			if p, perr := loadPending(ctx, rtx, id); perr != nil || p != nil {
				in, err = p, perr
			}
		}
		return err
	})
	return in, err
}

// loadPending returns the pending state of an instance that has no row: the state its queued
// start message describes, or nil when no start message is queued for it.
func loadPending(ctx context.Context, q querier, id string) (*store.Instance, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, data, namespace FROM messages
		WHERE instance_id = ?1 AND namespace IS NOT NULL ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			msgID int64
			data  []byte
			ns    string
		)
		if err := rows.Scan(&msgID, &data, &ns); err != nil {
			return nil, scanFailed(ctx, err, "messages of instance %s", quote(id))
		}
		ev, err := decodeEvent(data, func() string { return fmt.Sprintf("message %d of instance %s", msgID, quote(id)) })
		if err != nil {
			return nil, err
		}
		if ev.Kind != history.KindExecutionStarted {
			return nil, corruptf("message %d of instance %s: a %s event is marked as a start", msgID, quote(id), ev.Kind)
		}
		in := pendingOf(id, ns, &ev)
		return &in, nil
	}
	return nil, rows.Err()
}

// readTx runs fn in a read transaction on a read connection (one consistent snapshot).
func (s *Store) readTx(ctx context.Context, fn func(*sql.Tx) error) error {
	rtx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer rtx.Rollback()
	return fn(rtx)
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
	var out []store.Execution
	err := s.readTx(ctx, func(rtx *sql.Tx) error {
		if _, err := loadInstance(ctx, rtx, id); err != nil {
			return err
		}
		// The current execution's length is kept on the instance row (migration 0002).
		rows, err := rtx.QueryContext(ctx, `SELECT e.id, e.status,
			CASE WHEN e.id = i.execution THEN i.events ELSE e.events END, e.created_at, e.completed_at
			FROM executions e JOIN instances i ON i.id = e.instance_id
			WHERE e.instance_id = ?1 ORDER BY e.id`, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var exec, status, events, created, completed int64
			if err := rows.Scan(&exec, &status, &events, &created, &completed); err != nil {
				return scanFailed(ctx, err, "executions of instance %s", quote(id))
			}
			if !validStatus(status) || exec < 1 || exec > 1<<32-1 || events < 0 {
				return corruptf("instance %s execution %d: status %d, %d events", quote(id), exec, status, events)
			}
			out = append(out, store.Execution{
				ID: uint32(exec), Status: store.Status(status), Events: int(events),
				CreatedAt: fromNanos(created), CompletedAt: fromNanos(completed),
			})
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("executions: %w", err)
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
	var evs []history.Event
	err := s.readTx(ctx, func(rtx *sql.Tx) error {
		in, err := loadInstance(ctx, rtx, id)
		if err != nil {
			return err
		}
		if execution == 0 {
			execution = in.Execution
		}
		var one int
		err = rtx.QueryRowContext(ctx, `SELECT 1 FROM executions WHERE instance_id = ?1 AND id = ?2`, id, execution).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("instance %s execution %d: %w", quote(id), execution, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		evs, err = loadHistory(ctx, rtx, id, execution)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	if evs == nil {
		evs = []history.Event{}
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
	err := s.readTx(ctx, func(rtx *sql.Tx) error {
		if _, err := loadInstance(ctx, rtx, id); err != nil {
			return err
		}
		var err error
		out, err = queryInstances(ctx, rtx, `SELECT `+instanceCols+` FROM instances
			WHERE parent_id = ?1 ORDER BY created_at, id`, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("children: %w", err)
	}
	return out, nil
}

// queryInstances runs a query selecting instanceCols.
func queryInstances(ctx context.Context, q querier, query string, args ...any) ([]store.Instance, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Instance
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
	where, args := filterSQL(f)
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
		where = append(where, "(created_at > ? OR (created_at = ? AND id > ?))")
		args = append(args, afterAt, afterAt, afterID)
	}
	q := `SELECT ` + instanceCols + ` FROM instances`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at, id LIMIT ?"
	args = append(args, size+1)
	var ins []store.Instance
	err := s.readTx(ctx, func(rtx *sql.Tx) error {
		var err error
		if ins, err = queryInstances(ctx, rtx, q, args...); err != nil {
			return err
		}
		if !wantsPending(f) {
			return nil
		}
		pending, err := listPending(ctx, rtx, f)
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
		return nil, fmt.Errorf("list instances: %w", err)
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

// filterSQL returns the conditions (with ? placeholders) and arguments selecting f.
func filterSQL(f store.Filter) (where []string, args []any) {
	if len(f.Namespaces) > 0 {
		where = append(where, "namespace IN (?"+strings.Repeat(", ?", len(f.Namespaces)-1)+")")
		for _, ns := range f.Namespaces {
			args = append(args, ns)
		}
	}
	if len(f.Statuses) > 0 {
		where = append(where, "status IN (?"+strings.Repeat(", ?", len(f.Statuses)-1)+")")
		for _, st := range f.Statuses {
			args = append(args, int64(st))
		}
	}
	if f.Name != "" {
		where = append(where, "name = ?")
		args = append(args, f.Name)
	}
	if f.IDPrefix != "" {
		// Byte-wise prefix match; LIKE and GLOB would need escaping and fold case.
		where = append(where, "substr(CAST(id AS BLOB), 1, ?) = CAST(? AS BLOB)")
		args = append(args, len(f.IDPrefix), f.IDPrefix)
	}
	if !f.CreatedAfter.IsZero() {
		where = append(where, "created_at >= ?")
		args = append(args, nanos(f.CreatedAfter))
	}
	if !f.CreatedBefore.IsZero() {
		where = append(where, "created_at < ?")
		args = append(args, nanos(f.CreatedBefore))
	}
	return where, args
}

// pendingOf is the state of pending instance id of namespace ns, from its queued start event.
func pendingOf(id, ns string, start *history.Event) store.Instance {
	in := store.Instance{ID: id, InstanceState: store.InstanceState{
		Namespace: ns, Name: start.Name, Version: start.Version, ModuleHash: start.ModuleHash, ParentID: start.ParentID,
		Status: store.StatusPending,
	}}
	if start.Time != 0 {
		in.CreatedAt = fromNanos(start.Time)
		in.UpdatedAt = in.CreatedAt
	}
	return in
}

// wantsPending reports whether a filter selects pending instances (no status filter, or one
// that names StatusPending).
func wantsPending(f store.Filter) bool {
	return len(f.Statuses) == 0 || slices.Contains(f.Statuses, store.StatusPending)
}

// qPendingStarts lists the queued start messages of instances that have no row, oldest first
// (the namespaces condition is added by listPending).
const qPendingStarts = `SELECT m.id, m.instance_id, m.data, m.namespace FROM messages m
	WHERE m.namespace IS NOT NULL AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = m.instance_id)
	  AND (?1 = '' OR substr(CAST(m.instance_id AS BLOB), 1, length(CAST(?1 AS BLOB))) = CAST(?1 AS BLOB))`

// listPending returns the pending instances (a queued start message, no row) that f selects,
// in no particular order. There are few of them: an instance stays pending until its first
// turn commits.
func listPending(ctx context.Context, q querier, f store.Filter) ([]store.Instance, error) {
	query, args := qPendingStarts, []any{f.IDPrefix}
	if len(f.Namespaces) > 0 {
		query += " AND m.namespace IN (?" + strings.Repeat(", ?", len(f.Namespaces)-1) + ")"
		for _, ns := range f.Namespaces {
			args = append(args, ns)
		}
	}
	rows, err := q.QueryContext(ctx, query+" ORDER BY m.id", args...)
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
		ev, err := decodeEvent(data, func() string { return fmt.Sprintf("message %d of instance %s", msgID, quote(id)) })
		if err != nil {
			return nil, err
		}
		if ev.Kind != history.KindExecutionStarted {
			return nil, corruptf("message %d of instance %s: a %s event is marked as a start", msgID, quote(id), ev.Kind)
		}
		seen[id] = true
		in := pendingOf(id, ns, &ev)
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
	err := s.rdb.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM messages WHERE ready_at <= ?1),
		(SELECT count(*) FROM messages WHERE ready_at > ?1),
		(SELECT count(*) FROM work_items WHERE locked_until <= ?1),
		(SELECT count(*) FROM work_items WHERE locked_until > ?1),
		(SELECT count(*) FROM instance_locks WHERE locked_until > ?1)
		  + (SELECT count(*) FROM instances WHERE locked_until > ?1)`, nanos(s.cfg.clock())).
		Scan(&d.Messages, &d.DelayedMessages, &d.Activities, &d.LockedActivities, &d.LockedInstances)
	if err != nil {
		return nil, fmt.Errorf("queue depths: %w", err)
	}
	return &d, nil
}
