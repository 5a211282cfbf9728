package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// The module registry: module_blobs holds each module's bytes once, by hash; modules holds
// the registrations, (namespace, kind, name, version) → hash, ordered by seq (migration 0004).

// Statements of the registry.
const (
	qRegistration = `SELECT seq, hash, size, created_at FROM modules
		WHERE namespace = ?1 AND kind = ?2 AND name = ?3 AND version = ?4`
	qInsertBlob = `INSERT INTO module_blobs (hash, data, created_at) VALUES (?1, ?2, ?3)
		ON CONFLICT (hash) DO NOTHING`
	qInsertRegistration = `INSERT INTO modules (namespace, kind, name, version, hash, size, created_at)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)`
	qHashInNamespace = `SELECT 1 FROM modules WHERE namespace = ?1 AND hash = ?2 LIMIT 1`
	// qModuleBytes sums the sizes of the distinct hashes registered in namespace ?1.
	qModuleBytes = `SELECT coalesce(sum(size), 0), count(*) FROM
		(SELECT max(size) AS size FROM modules WHERE namespace = ?1 GROUP BY hash)`
	// qRunningPin finds a running instance of namespace ?1 pinned to hash ?2 (status 1 as in
	// qUnfinished, for the partial index instances_running).
	qRunningPin = `SELECT id FROM instances WHERE namespace = ?1 AND module_hash = ?2 AND status = 1 LIMIT 1`
	// qPendingOf lists the queued starts of namespace ?1 whose instance has no row.
	qPendingOf = `SELECT m.id, m.instance_id, m.data FROM messages m
		WHERE m.namespace = ?1 AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = m.instance_id)`
	qDeleteRegistration = `DELETE FROM modules WHERE seq = ?1`
	qDeleteUnusedBlob   = `DELETE FROM module_blobs WHERE hash = ?1 AND NOT EXISTS (SELECT 1 FROM modules WHERE hash = ?1)`
)

// describeReg formats a registration for errors: kind name@version.
func describeReg(r store.Registration) string {
	return fmt.Sprintf("%s %s@%s", r.Kind, quote(r.Name), quote(r.Version))
}

// checkRegistrations validates the registrations of a put or delete: at least one, each of a
// known kind with a name and a version, none twice.
func checkRegistrations(regs []store.Registration) error {
	if len(regs) == 0 {
		return fmt.Errorf("no registration: %w", store.ErrInvalid)
	}
	seen := make(map[store.Registration]bool, len(regs))
	for _, r := range regs {
		switch {
		case !r.Kind.Valid():
			return fmt.Errorf("registration %s@%s: kind %d: %w", quote(r.Name), quote(r.Version), r.Kind, store.ErrInvalid)
		case r.Name == "":
			return fmt.Errorf("%s registration with an empty name: %w", r.Kind, store.ErrInvalid)
		case r.Version == "":
			return fmt.Errorf("%s registration %s with an empty version: %w", r.Kind, quote(r.Name), store.ErrInvalid)
		case seen[r]:
			return fmt.Errorf("%s given twice: %w", describeReg(r), store.ErrInvalid)
		}
		seen[r] = true
	}
	return nil
}

// PutModule stores module bytes and their registrations in one transaction; see
// store.Store.
func (s *Store) PutModule(ctx context.Context, p store.ModulePut) (*store.PutResult, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	fail := func(err error) error { return fmt.Errorf("put module: %w", err) }
	switch {
	case len(p.Wasm) == 0:
		return nil, fail(fmt.Errorf("no bytes: %w", store.ErrInvalid))
	case p.MaxNamespaceBytes < 0:
		return nil, fail(fmt.Errorf("namespace bytes bound %d: %w", p.MaxNamespaceBytes, store.ErrInvalid))
	}
	if err := checkNamespace(p.Namespace); err != nil {
		return nil, fail(err)
	}
	if err := checkRegistrations(p.Registrations); err != nil {
		return nil, fail(err)
	}
	sum := sha256.Sum256(p.Wasm)
	hash := hex.EncodeToString(sum[:])
	size := int64(len(p.Wasm))
	var res store.PutResult
	err := s.w.do(ctx, func(t *tx) error {
		res = store.PutResult{Hash: hash}
		now := nanos(t.now)
		var create []store.Registration
		for _, r := range p.Registrations {
			var (
				seq, oldSize, created int64
				old                   string
			)
			err := t.queryRow(qRegistration, []any{p.Namespace, r.Kind, r.Name, r.Version}, &seq, &old, &oldSize, &created)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				create = append(create, r)
			case err != nil:
				return err
			case old == hash:
				res.Existing = append(res.Existing, r)
			case r.Kind == store.RegistrationModule:
				return fmt.Errorf("%s of namespace %s is registered with other bytes (sha256 %s): %w", describeReg(r), quote(p.Namespace), old, store.ErrExists)
			default:
				res.Kept = append(res.Kept, store.ModuleInfo{Namespace: p.Namespace, Kind: r.Kind, Name: r.Name,
					Version: r.Version, Hash: old, Size: oldSize, CreatedAt: fromNanos(created)})
			}
		}
		if len(create) == 0 {
			return nil
		}
		if p.MaxNamespaceBytes > 0 {
			if err := checkModuleQuota(t, p.Namespace, hash, size, p.MaxNamespaceBytes); err != nil {
				return err
			}
		}
		if _, err := t.exec(qInsertBlob, hash, p.Wasm, now); err != nil {
			return err
		}
		for _, r := range create {
			if _, err := t.exec(qInsertRegistration, p.Namespace, r.Kind, r.Name, r.Version, hash, size, now); err != nil {
				return err
			}
		}
		res.Created = create
		return nil
	})
	if err != nil {
		return nil, fail(err)
	}
	return &res, nil
}

// checkModuleQuota fails with store.ErrQuota when registering bytes of the given hash and
// size in namespace ns would take its module bytes past max. Bytes the namespace already has
// add nothing.
func checkModuleQuota(t *tx, ns, hash string, size, max int64) error {
	var one int
	switch err := t.queryRow(qHashInNamespace, []any{ns, hash}, &one); {
	case err == nil:
		return nil
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	var (
		used    int64
		modules int
	)
	if err := t.queryRow(qModuleBytes, []any{ns}, &used, &modules); err != nil {
		return err
	}
	if used+size > max {
		return fmt.Errorf("namespace %s holds %d bytes of modules; %d more would pass its bound of %d: %w", quote(ns), used, size, max, store.ErrQuota)
	}
	return nil
}

// Module returns a module's bytes by hash; see store.Store. Bytes that no longer match
// their hash give store.ErrCorrupt.
func (s *Store) Module(ctx context.Context, hash string) ([]byte, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	var data []byte
	err := s.rdb.QueryRowContext(ctx, `SELECT data FROM module_blobs WHERE hash = ?1`, hash).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("module %s: %w", quote(hash), store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", quote(hash), err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != hash {
		return nil, corruptf("module %s: bytes do not match their hash", quote(hash))
	}
	return data, nil
}

const moduleCols = `namespace, kind, name, version, hash, size, created_at`

// ResolveModule's statements (prepared once on the readers, see Store.reads): the newest
// registration of a name, and one version of it.
const (
	qResolveNewest = `SELECT ` + moduleCols + ` FROM modules
		WHERE namespace = ?1 AND kind = ?2 AND name = ?3 ORDER BY seq DESC LIMIT 1`
	qResolveVersion = `SELECT ` + moduleCols + ` FROM modules
		WHERE namespace = ?1 AND kind = ?2 AND name = ?3 AND version = ?4`
)

func scanModule(ctx context.Context, sc scanner) (store.ModuleInfo, error) {
	var (
		m       store.ModuleInfo
		kind    int64
		created int64
	)
	if err := sc.Scan(&m.Namespace, &kind, &m.Name, &m.Version, &m.Hash, &m.Size, &created); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return m, err
		}
		return m, scanFailed(ctx, err, "module registration")
	}
	m.Kind = store.RegistrationKind(kind)
	if kind < 0 || kind > 255 || !m.Kind.Valid() {
		return m, corruptf("module registration %s@%s: kind %d", quote(m.Name), quote(m.Version), kind)
	}
	m.CreatedAt = fromNanos(created)
	return m, nil
}

// ResolveModule returns a registration of one namespace, the newest one of the name when
// version is empty; see store.Store.
func (s *Store) ResolveModule(ctx context.Context, ns string, kind store.RegistrationKind, name, version string) (*store.ModuleInfo, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	switch {
	case !kind.Valid():
		return nil, fmt.Errorf("resolve module: kind %d: %w", kind, store.ErrInvalid)
	case name == "":
		return nil, fmt.Errorf("resolve module: empty name: %w", store.ErrInvalid)
	}
	var row *sql.Row
	if version == "" {
		row = s.reads[qResolveNewest].QueryRowContext(ctx, ns, kind, name)
	} else {
		row = s.reads[qResolveVersion].QueryRowContext(ctx, ns, kind, name, version)
	}
	m, err := scanModule(ctx, row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("resolve module: %s %s@%s in namespace %s: %w", kind, quote(name), quote(version), quote(ns), store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("resolve module: %w", err)
	}
	return &m, nil
}

// ListModules returns the registrations f selects, newest first; see store.Store.
func (s *Store) ListModules(ctx context.Context, f store.ModuleFilter) ([]store.ModuleInfo, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if f.Kind != 0 && !f.Kind.Valid() {
		return nil, fmt.Errorf("list modules: kind %d: %w", f.Kind, store.ErrInvalid)
	}
	var (
		where []string
		args  []any
	)
	if len(f.Namespaces) > 0 {
		where = append(where, "namespace IN (?"+strings.Repeat(", ?", len(f.Namespaces)-1)+")")
		for _, ns := range f.Namespaces {
			args = append(args, ns)
		}
	}
	for _, c := range []struct {
		col string
		v   any
		set bool
	}{{"kind", f.Kind, f.Kind != 0}, {"name", f.Name, f.Name != ""}, {"hash", f.Hash, f.Hash != ""}} {
		if c.set {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	q := `SELECT ` + moduleCols + ` FROM modules`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.rdb.QueryContext(ctx, q+" ORDER BY seq DESC", args...)
	if err != nil {
		return nil, fmt.Errorf("list modules: %w", err)
	}
	defer rows.Close()
	out := []store.ModuleInfo{}
	for rows.Next() {
		m, err := scanModule(ctx, rows)
		if err != nil {
			return nil, fmt.Errorf("list modules: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list modules: %w", err)
	}
	return out, nil
}

// DeleteModule removes registrations of a namespace in one transaction, and the bytes no
// registration refers to any more; see store.Store.
func (s *Store) DeleteModule(ctx context.Context, ns string, regs []store.Registration) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	fail := func(err error) error { return fmt.Errorf("delete module: %w", err) }
	if err := checkRegistrations(regs); err != nil {
		return fail(err)
	}
	return s.w.do(ctx, func(t *tx) error {
		seqs := make([]int64, 0, len(regs))
		var hashes []string // distinct, in the order met
		for _, r := range regs {
			var (
				seq, size, created int64
				hash               string
			)
			err := t.queryRow(qRegistration, []any{ns, r.Kind, r.Name, r.Version}, &seq, &hash, &size, &created)
			if errors.Is(err, sql.ErrNoRows) {
				return fail(fmt.Errorf("%s in namespace %s: %w", describeReg(r), quote(ns), store.ErrNotFound))
			}
			if err != nil {
				return fail(err)
			}
			seqs = append(seqs, seq)
			if !slices.Contains(hashes, hash) {
				hashes = append(hashes, hash)
			}
		}
		for _, q := range seqs {
			if _, err := t.exec(qDeleteRegistration, q); err != nil {
				return fail(err)
			}
		}
		// The namespace lets go of a hash when none of its registrations is left: then no
		// unfinished instance of it may pin the hash.
		for _, h := range hashes {
			var one int
			err := t.queryRow(qHashInNamespace, []any{ns, h}, &one)
			if err == nil {
				continue
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fail(err)
			}
			if err := checkUnpinned(t, ns, h); err != nil {
				return fail(err)
			}
			if _, err := t.exec(qDeleteUnusedBlob, h); err != nil {
				return fail(err)
			}
		}
		return nil
	})
}

// checkUnpinned fails with store.ErrModulePinned when an unfinished instance of namespace ns
// (running, or pending with the hash in its start) is pinned to hash.
func checkUnpinned(t *tx, ns, hash string) error {
	var id string
	switch err := t.queryRow(qRunningPin, []any{ns, hash}, &id); {
	case err == nil:
		return fmt.Errorf("instance %s pins sha256 %s: %w", quote(id), hash, store.ErrModulePinned)
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	rows, err := t.query(qPendingOf, ns)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			msgID int64
			data  []byte
		)
		if err := rows.Scan(&msgID, &id, &data); err != nil {
			return corruptf("pending starts of namespace %s: %v", quote(ns), err)
		}
		ev, err := decodeEvent(data, func() string { return fmt.Sprintf("message %d of instance %s", msgID, quote(id)) })
		if err != nil {
			return err
		}
		if ev.Kind == history.KindExecutionStarted && ev.ModuleHash == hash {
			return fmt.Errorf("pending instance %s pins sha256 %s: %w", quote(id), hash, store.ErrModulePinned)
		}
	}
	return rows.Err()
}

// NamespaceUsage returns what a namespace holds; see store.Store.
func (s *Store) NamespaceUsage(ctx context.Context, ns string) (*store.Usage, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	var u store.Usage
	err := s.readTx(ctx, func(rtx *sql.Tx) error {
		if err := rtx.QueryRowContext(ctx, qModuleBytes, ns).Scan(&u.ModuleBytes, &u.Modules); err != nil {
			return err
		}
		return rtx.QueryRowContext(ctx, qUnfinished, ns).Scan(&u.Instances)
	})
	if err != nil {
		return nil, fmt.Errorf("namespace usage %s: %w", quote(ns), err)
	}
	return &u, nil
}
