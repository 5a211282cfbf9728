package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/durohost/durohost/store"
)

// Migrations are the files migrations/NNNN_name.sql, applied in order. The schema version of
// a database is PRAGMA user_version: the number of the last migration applied. A migration
// is never edited once released; a change to the schema is a new file.
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

// migrate brings the database on conn up to the last of ms, each migration in its own
// IMMEDIATE transaction (so that two processes opening the same file do not both apply
// it). A database whose version is beyond ms fails with store.ErrSchemaTooNew.
func migrate(ctx context.Context, conn *sql.Conn, ms []migration) error {
	for {
		done, err := migrateStep(ctx, conn, ms)
		if err != nil || done {
			return err
		}
	}
}

// migrateStep applies the next migration, if any; done reports that none was left.
func migrateStep(ctx context.Context, conn *sql.Conn, ms []migration) (done bool, err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return false, fmt.Errorf("migrate: begin: %w", err)
	}
	defer func() {
		if err != nil || done {
			_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	var v int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
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
	if _, err := conn.ExecContext(ctx, m.sql); err != nil {
		return false, fmt.Errorf("migrate: apply %s: %w", m.name, err)
	}
	// PRAGMA takes no bound parameters; m.version is an int we produced.
	if _, err := conn.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(m.version)); err != nil {
		return false, fmt.Errorf("migrate: set schema version %d: %w", m.version, err)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return false, fmt.Errorf("migrate: commit %s: %w", m.name, err)
	}
	return false, nil
}
