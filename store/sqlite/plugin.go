package sqlite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/durohost/durohost/store"
)

var _ store.PluginStore = (*Store)(nil)

// The plugin registry (store.PluginStore, migration 0005): plugin_blobs holds each plugin's
// bytes once, by hash; plugins holds the registrations, (namespace, name, version) → hash and
// manifest, ordered by seq.

const (
	pluginCols        = `namespace, name, version, hash, size, manifest, created_at`
	qPlugin           = `SELECT ` + pluginCols + ` FROM plugins WHERE namespace = ?1 AND name = ?2 AND version = ?3`
	qLatestPlugin     = `SELECT ` + pluginCols + ` FROM plugins WHERE namespace = ?1 AND name = ?2 ORDER BY seq DESC LIMIT 1`
	qPluginHashInNs   = `SELECT 1 FROM plugins WHERE namespace = ?1 AND hash = ?2 LIMIT 1`
	qPluginBytesOfNs  = `SELECT coalesce(sum(size), 0) FROM (SELECT max(size) AS size FROM plugins WHERE namespace = ?1 GROUP BY hash)`
	qInsertPluginBlob = `INSERT INTO plugin_blobs (hash, data, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (hash) DO NOTHING`
	qInsertPlugin     = `INSERT INTO plugins (namespace, name, version, hash, size, manifest, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)`
	qUnusedPluginBlob = `DELETE FROM plugin_blobs WHERE hash = ?1 AND NOT EXISTS (SELECT 1 FROM plugins WHERE hash = ?1)`
)

func scanPlugin(ctx context.Context, sc scanner) (store.PluginInfo, error) {
	var (
		p       store.PluginInfo
		created int64
	)
	if err := sc.Scan(&p.Namespace, &p.Name, &p.Version, &p.Hash, &p.Size, &p.Manifest, &created); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
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
	err := s.w.do(ctx, func(t *tx) error {
		rows, err := t.query(qPlugin, p.Namespace, p.Name, p.Version)
		if err != nil {
			return err
		}
		var found bool
		if rows.Next() {
			res.Plugin, err = scanPlugin(ctx, rows)
			found = err == nil
		}
		rows.Close()
		if err != nil {
			return err
		}
		if found {
			if res.Plugin.Hash != hash || !bytes.Equal(res.Plugin.Manifest, manifest) {
				return fmt.Errorf("plugin %s@%s of namespace %s is registered with other bytes or settings (sha256 %s): %w",
					quote(p.Name), quote(p.Version), quote(p.Namespace), res.Plugin.Hash, store.ErrExists)
			}
			return nil
		}
		if p.MaxNamespaceBytes > 0 {
			var one int
			switch err := t.queryRow(qPluginHashInNs, []any{p.Namespace, hash}, &one); {
			case errors.Is(err, sql.ErrNoRows):
				var used int64
				if err := t.queryRow(qPluginBytesOfNs, []any{p.Namespace}, &used); err != nil {
					return err
				}
				if used+size > p.MaxNamespaceBytes {
					return fmt.Errorf("namespace %s holds %d bytes of plugins; %d more would pass its bound of %d: %w",
						quote(p.Namespace), used, size, p.MaxNamespaceBytes, store.ErrQuota)
				}
			case err != nil:
				return err
			}
		}
		now := nanos(t.now)
		if _, err := t.exec(qInsertPluginBlob, hash, p.Wasm, now); err != nil {
			return err
		}
		if _, err := t.exec(qInsertPlugin, p.Namespace, p.Name, p.Version, hash, size, manifest, now); err != nil {
			return err
		}
		res = store.PluginPutResult{Created: true, Plugin: store.PluginInfo{Namespace: p.Namespace, Name: p.Name,
			Version: p.Version, Hash: hash, Size: size, Manifest: manifest, CreatedAt: fromNanos(now)}}
		return nil
	})
	if err != nil {
		return nil, fail(err)
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
	var row *sql.Row
	if version == "" {
		row = s.rdb.QueryRowContext(ctx, qLatestPlugin, ns, name)
	} else {
		row = s.rdb.QueryRowContext(ctx, qPlugin, ns, name, version)
	}
	p, err := scanPlugin(ctx, row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("resolve plugin: %s@%s in namespace %s: %w", quote(name), quote(version), quote(ns), store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("resolve plugin: %w", err)
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
	err := s.rdb.QueryRowContext(ctx, `SELECT data FROM plugin_blobs WHERE hash = ?1`, hash).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("plugin bytes %s: %w", quote(hash), store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("plugin bytes %s: %w", quote(hash), err)
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
		where = append(where, "namespace IN (?"+strings.Repeat(", ?", len(f.Namespaces)-1)+")")
		for _, ns := range f.Namespaces {
			args = append(args, ns)
		}
	}
	if f.Name != "" {
		where = append(where, "name = ?")
		args = append(args, f.Name)
	}
	q := `SELECT ` + pluginCols + ` FROM plugins`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.rdb.QueryContext(ctx, q+" ORDER BY seq DESC", args...)
	if err != nil {
		return nil, fmt.Errorf("list plugins: %w", err)
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
		return nil, fmt.Errorf("list plugins: %w", err)
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
	err := s.w.do(ctx, func(t *tx) error {
		q, args := `SELECT DISTINCT hash FROM plugins WHERE namespace = ?1 AND name = ?2`, []any{ns, name}
		if version != "" {
			q, args = q+` AND version = ?3`, append(args, version)
		}
		rows, err := t.query(q, args...)
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
		del := `DELETE FROM plugins WHERE namespace = ?1 AND name = ?2`
		if version != "" {
			del += ` AND version = ?3`
		}
		c, err := t.execN(del, args...)
		if err != nil {
			return err
		}
		if c == 0 {
			return fmt.Errorf("plugin %s@%s in namespace %s: %w", quote(name), quote(version), quote(ns), store.ErrNotFound)
		}
		n = int(c)
		for _, h := range hashes {
			if _, err := t.exec(qUnusedPluginBlob, h); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete plugin: %w", err)
	}
	return n, nil
}
