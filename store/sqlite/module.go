package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/durohost/durohost/store"
)

// PutModule stores module bytes and a name/version registration; see store.Store.
func (s *Store) PutModule(ctx context.Context, name, version string, wasm []byte) (string, error) {
	if err := s.enter(); err != nil {
		return "", err
	}
	defer s.leave()
	switch {
	case name == "":
		return "", fmt.Errorf("put module: empty name: %w", store.ErrInvalid)
	case version == "":
		return "", fmt.Errorf("put module %s: empty version: %w", quote(name), store.ErrInvalid)
	case len(wasm) == 0:
		return "", fmt.Errorf("put module %s@%s: no bytes: %w", quote(name), quote(version), store.ErrInvalid)
	}
	sum := sha256.Sum256(wasm)
	hash := hex.EncodeToString(sum[:])
	err := s.w.do(ctx, func(t *tx) error {
		now := nanos(t.now)
		var old string
		err := t.queryRow(`SELECT hash FROM modules WHERE name = ?1 AND version = ?2`, []any{name, version}, &old)
		switch {
		case err == nil && old == hash:
			return nil
		case err == nil:
			return fmt.Errorf("%s@%s is already registered with other bytes (sha256 %s): %w", quote(name), quote(version), old, store.ErrInvalid)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := t.exec(`INSERT INTO module_blobs (hash, data, created_at) VALUES (?1, ?2, ?3)
			ON CONFLICT (hash) DO NOTHING`, hash, wasm, now); err != nil {
			return err
		}
		_, err = t.exec(`INSERT INTO modules (name, version, hash, size, created_at) VALUES (?1, ?2, ?3, ?4, ?5)`,
			name, version, hash, len(wasm), now)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("put module: %w", err)
	}
	return hash, nil
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

const moduleCols = `name, version, hash, size, created_at`

func scanModule(ctx context.Context, sc scanner) (store.ModuleInfo, error) {
	var (
		m       store.ModuleInfo
		created int64
	)
	if err := sc.Scan(&m.Name, &m.Version, &m.Hash, &m.Size, &created); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return m, err
		}
		return m, scanFailed(ctx, err, "module registration")
	}
	m.CreatedAt = fromNanos(created)
	return m, nil
}

// ResolveModule returns a registration, the newest one when version is empty; see
// store.Store.
func (s *Store) ResolveModule(ctx context.Context, name, version string) (*store.ModuleInfo, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if name == "" {
		return nil, fmt.Errorf("resolve module: empty name: %w", store.ErrInvalid)
	}
	var row *sql.Row
	if version == "" {
		row = s.rdb.QueryRowContext(ctx, `SELECT `+moduleCols+` FROM modules WHERE name = ?1 ORDER BY seq DESC LIMIT 1`, name)
	} else {
		row = s.rdb.QueryRowContext(ctx, `SELECT `+moduleCols+` FROM modules WHERE name = ?1 AND version = ?2`, name, version)
	}
	m, err := scanModule(ctx, row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("resolve module %s@%s: %w", quote(name), quote(version), store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("resolve module: %w", err)
	}
	return &m, nil
}

// ListModules returns registrations newest first; see store.Store.
func (s *Store) ListModules(ctx context.Context, name string) ([]store.ModuleInfo, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+moduleCols+` FROM modules
		WHERE ?1 = '' OR name = ?1 ORDER BY seq DESC`, name)
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

// DeleteModule removes a registration, and its bytes once unreferenced; see store.Store.
func (s *Store) DeleteModule(ctx context.Context, name, version string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	return s.w.do(ctx, func(t *tx) error {
		fail := func(err error) error { return fmt.Errorf("delete module %s@%s: %w", quote(name), quote(version), err) }
		var hash string
		err := t.queryRow(`SELECT hash FROM modules WHERE name = ?1 AND version = ?2`, []any{name, version}, &hash)
		if errors.Is(err, sql.ErrNoRows) {
			return fail(store.ErrNotFound)
		}
		if err != nil {
			return fail(err)
		}
		var pinner string
		err = t.queryRow(fmt.Sprintf(`SELECT id FROM instances WHERE module_hash = ?1 AND status NOT IN (%d, %d, %d) LIMIT 1`,
			store.StatusCompleted, store.StatusFailed, store.StatusCancelled), []any{hash}, &pinner)
		if err == nil {
			return fail(fmt.Errorf("instance %s pins sha256 %s: %w", quote(pinner), hash, store.ErrModulePinned))
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fail(err)
		}
		if _, err := t.exec(`DELETE FROM modules WHERE name = ?1 AND version = ?2`, name, version); err != nil {
			return fail(err)
		}
		if _, err := t.exec(`DELETE FROM module_blobs WHERE hash = ?1
			AND NOT EXISTS (SELECT 1 FROM modules WHERE hash = ?1)`, hash); err != nil {
			return fail(err)
		}
		return nil
	})
}
