package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/durohost/durohost/store"
)

// Migrations are the files migrations/NNNN_name.sql, applied in order. The schema version of
// a database is the version in its schema_version table: the number of the last migration
// applied. A migration is never edited once released; a change to the schema is a new file.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one numbered schema step.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the migrations in dir of fsys and checks they are numbered 1, 2, 3...
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", e.Name())
		}
		data, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(data)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected number %d", m.name, i+1)
		}
	}
	return ms, nil
}

// schemaVersion is the version this build writes: the number of the last embedded migration.
func schemaVersion() int {
	ms, err := loadMigrations(migrationFS, "migrations")
	if err != nil {
		panic(err) // the embedded files are checked by tests
	}
	return len(ms)
}

// migrate creates schema (conn's search_path) when it does not exist and brings it up to the
// last of ms, each migration in its own transaction, which holds an advisory lock of the
// schema (so that two processes opening the database at once do not both apply it). A schema whose version is beyond ms
// fails with store.ErrSchemaTooNew.
func migrate(ctx context.Context, conn *pgx.Conn, schema string, ms []migration) error {
	for {
		done, err := migrateStep(ctx, conn, schema, ms)
		if err != nil || done {
			return err
		}
	}
}

// migrateStep applies the next migration, if any; done reports that none was left.
func migrateStep(ctx context.Context, conn *pgx.Conn, schema string, ms []migration) (done bool, err error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("migrate: begin: %w", err)
	}
	defer func() {
		if err != nil || done {
			_ = tx.Rollback(context.Background())
		}
	}()
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, $2)", int32(advisoryMigrate), advisoryKey(schema, "")); err != nil {
		return false, fmt.Errorf("migrate: lock: %w", err)
	}
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil {
		return false, fmt.Errorf("migrate: find schema %s: %w", schema, err)
	}
	if !exists { // (CREATE SCHEMA needs a privilege that a schema made by an administrator does not)
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return false, fmt.Errorf("migrate: create schema %s: %w", schema, err)
		}
	}
	if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)"); err != nil {
		return false, fmt.Errorf("migrate: schema_version table: %w", err)
	}
	var v int
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&v); err != nil {
		return false, fmt.Errorf("migrate: read schema version: %w", err)
	}
	switch {
	case v > len(ms):
		return false, fmt.Errorf("database schema version %d, this build knows up to %d: %w", v, len(ms), store.ErrSchemaTooNew)
	case v < 0:
		return false, fmt.Errorf("database schema version %d: %w", v, store.ErrCorrupt)
	case v == len(ms):
		return true, nil
	}
	m := ms[v]
	// A migration holds several statements: the simple protocol runs them in order.
	if err := tx.Conn().PgConn().Exec(ctx, m.sql).Close(); err != nil {
		return false, fmt.Errorf("migrate: apply %s: %w", m.name, err)
	}
	if _, err := tx.Exec(ctx, "DELETE FROM schema_version"); err != nil {
		return false, fmt.Errorf("migrate: set schema version %d: %w", m.version, err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO schema_version (version) VALUES ($1)", m.version); err != nil {
		return false, fmt.Errorf("migrate: set schema version %d: %w", m.version, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("migrate: commit %s: %w", m.name, err)
	}
	return false, nil
}
