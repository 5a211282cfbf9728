package postgres

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/durohost/durohost/store"
)

var _ store.PluginStore = (*Store)(nil)

// The plugin registry (store.PluginStore, migration 0002): plugin_blobs holds each plugin's
// bytes once, by hash; plugins holds the registrations, (namespace, name, version) → hash and
// manifest, ordered by seq. Writes take the module registry's advisory lock, so that a put
// and a delete of the same bytes in two namespaces do not interleave.

const (
	pluginCols        = `namespace, name, version, hash, size, manifest, created_at`
	qPlugin           = `SELECT ` + pluginCols + ` FROM plugins WHERE namespace = $1 AND name = $2 AND version = $3`
	qLatestPlugin     = `SELECT ` + pluginCols + ` FROM plugins WHERE namespace = $1 AND name = $2 ORDER BY seq DESC LIMIT 1`
	qPluginHashInNs   = `SELECT EXISTS (SELECT 1 FROM plugins WHERE namespace = $1 AND hash = $2)`
	qPluginBytesOfNs  = `SELECT coalesce(sum(size), 0)::bigint FROM (SELECT max(size) AS size FROM plugins WHERE namespace = $1 GROUP BY hash) p`
	qInsertPluginBlob = `INSERT INTO plugin_blobs (hash, data, created_at) VALUES ($1, $2, durohost_now()) ON CONFLICT (hash) DO NOTHING`
	qInsertPlugin     = `INSERT INTO plugins (namespace, name, version, hash, size, manifest, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, durohost_now()) RETURNING created_at`
	qUnusedPluginBlob = `DELETE FROM plugin_blobs WHERE hash = $1 AND NOT EXISTS (SELECT 1 FROM plugins WHERE hash = $1)`
)

func scanPlugin(ctx context.Context, row pgx.Row) (store.PluginInfo, error) {
	var (
		p       store.PluginInfo
		created int64
	)
	if err := row.Scan(&p.Namespace, &p.Name, &p.Version, &p.Hash, &p.Size, &p.Manifest, &created); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return p, err
		}
		return p, scanFailed(ctx, err, "plugin registration")
	}
	if p.Manifest == nil {
		p.Manifest = []byte{}
	}
	p.CreatedAt = fromNanos(created)
	return p, nil
}

// PutPlugin stores a plugin's bytes and registration in one transaction; see
// store.PluginStore.
func (s *Store) PutPlugin(ctx context.Context, p store.PluginPut) (*store.PluginPutResult, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	fail := func(err error) error { return fmt.Errorf("put plugin: %w", err) }
	if err := store.CheckPluginPut(p); err != nil {
		return nil, fail(err)
	}
	sum := sha256.Sum256(p.Wasm)
	hash := hex.EncodeToString(sum[:])
	size := int64(len(p.Wasm))
	manifest := p.Manifest
	if manifest == nil {
		manifest = []byte{}
	}
	var res store.PluginPutResult
	err := s.inTx(ctx, s.lockRegistry, execFirst, func(ctx context.Context, tx pgx.Tx) error {
		old, err := scanPlugin(ctx, tx.QueryRow(ctx, qPlugin, p.Namespace, p.Name, p.Version))
		switch {
		case err == nil:
			if old.Hash != hash || !bytes.Equal(old.Manifest, manifest) {
				return fmt.Errorf("plugin %s@%s of namespace %s is registered with other bytes or settings (sha256 %s): %w",
					quote(p.Name), quote(p.Version), quote(p.Namespace), old.Hash, store.ErrExists)
			}
			res.Plugin = old
			return nil
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		if p.MaxNamespaceBytes > 0 {
			var has bool
			if err := tx.QueryRow(ctx, qPluginHashInNs, p.Namespace, hash).Scan(&has); err != nil {
				return err
			}
			if !has {
				var used int64
				if err := tx.QueryRow(ctx, qPluginBytesOfNs, p.Namespace).Scan(&used); err != nil {
					return err
				}
				if used+size > p.MaxNamespaceBytes {
					return fmt.Errorf("namespace %s holds %d bytes of plugins; %d more would pass its bound of %d: %w",
						quote(p.Namespace), used, size, p.MaxNamespaceBytes, store.ErrQuota)
				}
			}
		}
		if _, err := tx.Exec(ctx, qInsertPluginBlob, hash, p.Wasm); err != nil {
			return err
		}
		var created int64
		if err := tx.QueryRow(ctx, qInsertPlugin, p.Namespace, p.Name, p.Version, hash, size, manifest).Scan(&created); err != nil {
			return err
		}
		res = store.PluginPutResult{Created: true, Plugin: store.PluginInfo{Namespace: p.Namespace, Name: p.Name,
			Version: p.Version, Hash: hash, Size: size, Manifest: manifest, CreatedAt: fromNanos(created)}}
		return nil
	})
	if err != nil {
		return nil, fail(ctxError(ctx, sqlError(err)))
	}
	return &res, nil
}

// ResolvePlugin returns a registration of one namespace; see store.PluginStore.
func (s *Store) ResolvePlugin(ctx context.Context, ns, name, version string) (*store.PluginInfo, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if name == "" {
		return nil, fmt.Errorf("resolve plugin: empty name: %w", store.ErrInvalid)
	}
	var row pgx.Row
	if version == "" {
		row = s.pool.QueryRow(ctx, qLatestPlugin, ns, name)
	} else {
		row = s.pool.QueryRow(ctx, qPlugin, ns, name, version)
	}
	p, err := scanPlugin(ctx, row)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("resolve plugin: %s@%s in namespace %s: %w", quote(name), quote(version), quote(ns), store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("resolve plugin: %w", ctxError(ctx, sqlError(err)))
	}
	return &p, nil
}

// PluginBytes returns a plugin's bytes by hash; see store.PluginStore. Bytes that no longer
// match their hash give store.ErrCorrupt.
func (s *Store) PluginBytes(ctx context.Context, hash string) ([]byte, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	var data []byte
	err := s.pool.QueryRow(ctx, `SELECT data FROM plugin_blobs WHERE hash = $1`, hash).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("plugin bytes %s: %w", quote(hash), store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("plugin bytes %s: %w", quote(hash), ctxError(ctx, sqlError(err)))
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != hash {
		return nil, corruptf("plugin bytes %s: they do not match their hash", quote(hash))
	}
	return data, nil
}

// ListPlugins returns the registrations f selects, newest first; see store.PluginStore.
func (s *Store) ListPlugins(ctx context.Context, f store.PluginFilter) ([]store.PluginInfo, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	var (
		where []string
		args  []any
	)
	if len(f.Namespaces) > 0 {
		args = append(args, f.Namespaces)
		where = append(where, "namespace = ANY($"+strconv.Itoa(len(args))+"::text[])")
	}
	if f.Name != "" {
		args = append(args, f.Name)
		where = append(where, "name = $"+strconv.Itoa(len(args)))
	}
	q := `SELECT ` + pluginCols + ` FROM plugins`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.pool.Query(ctx, q+" ORDER BY seq DESC", args...)
	if err != nil {
		return nil, fmt.Errorf("list plugins: %w", ctxError(ctx, sqlError(err)))
	}
	defer rows.Close()
	out := []store.PluginInfo{}
	for rows.Next() {
		p, err := scanPlugin(ctx, rows)
		if err != nil {
			return nil, fmt.Errorf("list plugins: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list plugins: %w", ctxError(ctx, sqlError(err)))
	}
	return out, nil
}

// DeletePlugin removes registrations of a namespace and the bytes no registration refers
// to any more, in one transaction; see store.PluginStore.
func (s *Store) DeletePlugin(ctx context.Context, ns, name, version string) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	if name == "" {
		return 0, fmt.Errorf("delete plugin: empty name: %w", store.ErrInvalid)
	}
	var n int
	err := s.inTx(ctx, s.lockRegistry, execFirst, func(ctx context.Context, tx pgx.Tx) error {
		del, args := `DELETE FROM plugins WHERE namespace = $1 AND name = $2`, []any{ns, name}
		if version != "" {
			del, args = del+` AND version = $3`, append(args, version)
		}
		rows, err := tx.Query(ctx, del+` RETURNING hash`, args...)
		if err != nil {
			return err
		}
		var hashes []string
		for rows.Next() {
			var h string
			if err := rows.Scan(&h); err != nil {
				rows.Close()
				return err
			}
			hashes = append(hashes, h)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(hashes) == 0 {
			return fmt.Errorf("plugin %s@%s in namespace %s: %w", quote(name), quote(version), quote(ns), store.ErrNotFound)
		}
		n = len(hashes)
		for _, h := range hashes {
			if _, err := tx.Exec(ctx, qUnusedPluginBlob, h); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete plugin: %w", ctxError(ctx, sqlError(err)))
	}
	return n, nil
}
