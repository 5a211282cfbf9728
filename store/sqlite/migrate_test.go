package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

func TestEmbeddedMigrations(t *testing.T) {
	ms, err := loadMigrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 2 || schemaVersion() != len(ms) {
		t.Fatalf("got %d migrations, schema version %d", len(ms), schemaVersion())
	}
}

func TestLoadMigrations(t *testing.T) {
	sql := &fstest.MapFile{Data: []byte("CREATE TABLE t (a);")}
	tests := []struct {
		name    string
		files   fstest.MapFS
		want    int
		wantErr bool
	}{
		{"numbered", fstest.MapFS{"m/0001_a.sql": sql, "m/0002_b.sql": sql, "m/README": sql}, 2, false},
		{"gap", fstest.MapFS{"m/0001_a.sql": sql, "m/0003_c.sql": sql}, 0, true},
		{"duplicate", fstest.MapFS{"m/0001_a.sql": sql, "m/0001_b.sql": sql}, 0, true},
		{"no number", fstest.MapFS{"m/init.sql": sql}, 0, true},
		{"zero", fstest.MapFS{"m/0000_a.sql": sql}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := loadMigrations(tt.files, "m")
			if (err != nil) != tt.wantErr || len(ms) != tt.want {
				t.Fatalf("got %d migrations, error %v; want %d, error %v", len(ms), err, tt.want, tt.wantErr)
			}
		})
	}
}

// userVersion reads PRAGMA user_version of the database file at path.
func userVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// rawExec runs statements on the database file at path, outside any store.
func rawExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	rawExec(t, path, "PRAGMA user_version = 999")
	s, err = Open(path)
	if !errors.Is(err, store.ErrSchemaTooNew) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Open of a schema-999 database: got %v, want ErrSchemaTooNew", err)
	}
	if v := userVersion(t, path); v != 999 {
		t.Fatalf("a refused Open changed the schema version to %d", v)
	}
}

// TestOpenMigratesOlderSchema writes a database at schema version 1 (as the first release
// left it: a running instance with two events, a new message and a live lock taken on it) and
// opens it with this build, which must migrate it and carry on where it was.
func TestOpenMigratesOlderSchema(t *testing.T) {
	ms, err := loadMigrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, conn, ms[:1]); err != nil {
		t.Fatal(err)
	}
	msg, err := encodeMessageEvent(&store.Message{InstanceID: "a", Event: history.Event{Kind: history.KindEventRaised, Name: "e"}})
	if err != nil {
		t.Fatal(err)
	}
	lockedUntil := time.Now().Add(time.Hour).UnixNano()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO instances (id, name, version, module_hash, parent_id, status, execution, created_at, updated_at, completed_at)
			VALUES ('a', 'orch', '1', '', '', 1, 1, 1, 1, 0)`, nil},
		{`INSERT INTO executions (instance_id, id, status, events, created_at, completed_at) VALUES ('a', 1, 1, 2, 1, 0)`, nil},
		{`INSERT INTO history VALUES ('a', 1, 1, ?1), ('a', 1, 2, ?2)`, []any{
			mustEncode(t, history.Event{ID: 1, Kind: history.KindTurnStarted}),
			mustEncode(t, history.Event{ID: 2, Kind: history.KindExecutionStarted, Name: "orch"})}},
		{`INSERT INTO messages (instance_id, data, visible_at, ready_at, attempts, lock_token) VALUES ('a', ?1, 0, 1, 1, 'old-token')`, []any{msg}},
		{`INSERT INTO instance_locks VALUES ('a', 'old-token', ?1)`, []any{lockedUntil}},
	} {
		if _, err := conn.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	conn.Close()
	db.Close()
	if v := userVersion(t, path); v != 1 {
		t.Fatalf("old database at version %d", v)
	}

	s, err := Open(path, WithSynchronous(SyncOff))
	if err != nil {
		t.Fatalf("Open of a version-1 database: %v", err)
	}
	defer s.Close()
	if v := userVersion(t, path); v != schemaVersion() {
		t.Fatalf("migrated database at version %d, want %d", v, schemaVersion())
	}
	ex, err := s.Executions(ctx, "a")
	if err != nil || len(ex) != 1 || ex[0].Events != 2 {
		t.Fatalf("Executions after migration = %+v, %v; want one with 2 events", ex, err)
	}
	if d, err := s.QueueDepths(ctx); err != nil || d.LockedInstances != 1 {
		t.Fatalf("QueueDepths = %+v, %v; want the old lock", d, err)
	}
	// The lock taken before the upgrade is still live, and the history continues at 3.
	c := &store.Commit{
		State:     store.InstanceState{Name: "orch", Version: "1", Status: store.StatusRunning},
		Execution: 1,
		History:   []history.Event{{ID: 3, Kind: history.KindTurnStarted}, {ID: 4, Kind: history.KindEventRaised, Name: "e"}},
		Consumed:  []int64{1},
	}
	if err := s.CommitTurn(ctx, "old-token", c); err != nil {
		t.Fatalf("CommitTurn after migration: %v", err)
	}
	if ex, _ := s.Executions(ctx, "a"); len(ex) != 1 || ex[0].Events != 4 {
		t.Fatalf("Executions = %+v, want 4 events", ex)
	}
	// New turns lock the instance row.
	if err := s.Enqueue(ctx, store.Message{InstanceID: "a", Event: history.Event{Kind: history.KindEventRaised}}); err != nil {
		t.Fatal(err)
	}
	turn := fetch(t, s)
	if rowLockID(turn.Token) == 0 || len(turn.History) != 4 {
		t.Fatalf("turn after migration: token %q, %d events", turn.Token, len(turn.History))
	}
	s.Close()
	// Opening again is a no-op.
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
}

func mustEncode(t *testing.T, e history.Event) []byte {
	t.Helper()
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
