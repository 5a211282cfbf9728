package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
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

// TestMigrateNamespaces writes a database at schema version 3 holding what a server stored
// when namespaces were prefixes (instance keys "<ns>/<id>", registrations "<ns>/<name>",
// module names "@<ns>/<name>"), opens it with this build, and checks that migration 0004 made
// the namespaces data: registrations, instances, queued starts and work items.
func TestMigrateNamespaces(t *testing.T) {
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
	if err := migrate(ctx, conn, ms[:3]); err != nil {
		t.Fatal(err)
	}
	blobA, blobPlain, blobB := []byte("\x00asm\x01\x00\x00\x00a"), []byte("\x00asm\x01\x00\x00\x00plain"), []byte("\x00asm\x01\x00\x00\x00b")
	hA, hPlain, hB := hashHex(blobA), hashHex(blobPlain), hashHex(blobB)
	start := func(id, hash string) []byte {
		b, err := encodeMessageEvent(&store.Message{InstanceID: id, Event: history.Event{Kind: history.KindExecutionStarted,
			Time: 5, Name: "orch", Version: "1", Input: []byte(`"in"`), ParentID: "p", ModuleHash: hash}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	event, err := encodeMessageEvent(&store.Message{InstanceID: "x", Event: history.Event{Kind: history.KindEventRaised, Name: "e", Time: 5}})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO module_blobs VALUES (?1, ?2, 1), (?3, ?4, 1), (?5, ?6, 1)`, []any{hA, blobA, hPlain, blobPlain, hB, blobB}},
		{`INSERT INTO modules (name, version, hash, size, created_at) VALUES
			('team-a/orch', '1', ?1, ?2, 1), ('@team-a/pkg', '1', ?1, ?2, 2), ('plain', '1', ?3, ?4, 3),
			('other/thing', '1', ?3, ?4, 4), ('team-b/x', 'sha256:0123456789abcdef', ?5, ?6, 5), ('@team-b/lib', '2', ?5, ?6, 6),
			('team-a/orch', '2', ?5, ?6, 7)`,
			[]any{hA, len(blobA), hPlain, len(blobPlain), hB, len(blobB)}},
		{`INSERT INTO instances (id, name, version, module_hash, parent_id, status, execution, created_at, updated_at, completed_at, events)
			VALUES ('team-a/i1', 'orch', '1', ?1, '', 1, 1, 1, 1, 0, 0), ('plain-i', 'plain', '1', ?2, '', 1, 1, 2, 2, 0, 0),
			('other/i', 'thing', '1', ?2, '', 2, 1, 3, 3, 3, 0), ('team-b/c', 'x', '', ?3, '', 2, 1, 4, 4, 4, 0)`, []any{hA, hPlain, hB}},
		{`INSERT INTO messages (instance_id, data, visible_at, ready_at) VALUES
			('team-a/pending', ?1, 0, 1), ('team-a/i1', ?2, 0, 1), ('p2', ?3, 0, 1), ('team-a/eventonly', ?2, 0, 1),
			('team-a/i1', ?4, 0, 1)`, []any{start("team-a/pending", hA), event, start("p2", ""), start("team-a/i1", "")}},
		{`INSERT INTO work_items (instance_id, execution, event_id, name, input, visible_at, ready_at) VALUES
			('team-a/i1', 1, 3, 'act', NULL, 0, 1), ('plain-i', 1, 3, 'act', NULL, 0, 2)`, nil},
	} {
		if _, err := conn.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	conn.Close()
	db.Close()

	s, err := Open(path, WithSynchronous(SyncOff))
	if err != nil {
		t.Fatalf("Open of a version-3 database: %v", err)
	}
	defer s.Close()
	if v := userVersion(t, path); v != schemaVersion() {
		t.Fatalf("migrated database at version %d, want %d", v, schemaVersion())
	}

	regs, err := s.ListModules(ctx, store.ModuleFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range regs {
		got = append(got, fmt.Sprintf("%s|%s|%s@%s|%s", m.Namespace, m.Kind, m.Name, m.Version, m.Hash[:4]))
	}
	want := []string{
		"team-a|orchestration|orch@2|" + hB[:4], "team-b|module|lib@2|" + hB[:4], "team-b|orchestration|x@sha256:0123456789abcdef|" + hB[:4],
		"|orchestration|other/thing@1|" + hPlain[:4], "|orchestration|plain@1|" + hPlain[:4],
		"team-a|module|pkg@1|" + hA[:4], "team-a|orchestration|orch@1|" + hA[:4],
	}
	if !slices.Equal(got, want) {
		t.Fatalf("registrations after migration:\n got %q\nwant %q", got, want)
	}
	if m, err := s.ResolveModule(ctx, "team-a", store.RegistrationOrchestration, "orch", ""); err != nil || m.Version != "2" {
		t.Fatalf("latest team-a orch = %+v, %v; want version 2", m, err)
	}
	if _, err := s.ResolveModule(ctx, "", store.RegistrationOrchestration, "orch", ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("orch in the default namespace: %v, want ErrNotFound", err)
	}

	for key, want := range map[string]struct {
		ns     string
		status store.Status
	}{
		"team-a/i1": {"team-a", store.StatusRunning}, "plain-i": {"", store.StatusRunning}, "other/i": {"", store.StatusCompleted},
		"team-b/c": {"team-b", store.StatusCompleted}, "team-a/pending": {"team-a", store.StatusPending}, "p2": {"", store.StatusPending},
	} {
		in, err := s.Instance(ctx, key)
		if err != nil || in.Namespace != want.ns || in.Status != want.status {
			t.Errorf("Instance(%q) = %+v, %v; want namespace %q, status %s", key, in, err, want.ns, want.status)
		}
	}
	if in, err := s.Instance(ctx, "team-a/pending"); err != nil || in.Name != "orch" || in.ModuleHash != hA || in.ParentID != "p" {
		t.Errorf("pending instance = %+v, %v; want its start's state", in, err)
	}
	if _, err := s.Instance(ctx, "team-a/eventonly"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an instance with only an event queued: %v, want ErrNotFound (an event is not a start)", err)
	}
	page, err := s.ListInstances(ctx, store.Filter{Namespaces: []string{"team-a"}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, in := range page.Instances {
		ids = append(ids, in.ID)
	}
	if !slices.Equal(ids, []string{"team-a/i1", "team-a/pending"}) {
		t.Errorf("team-a lists %q, want team-a/i1 and team-a/pending", ids)
	}
	if u, err := s.NamespaceUsage(ctx, "team-a"); err != nil || *u != (store.Usage{ModuleBytes: int64(len(blobA) + len(blobB)), Modules: 2, Instances: 2}) {
		t.Errorf("NamespaceUsage(team-a) = %+v, %v", u, err)
	}
	for _, want := range []string{"team-a", ""} {
		w, err := s.FetchActivity(ctx, time.Minute)
		if err != nil || w.Namespace != want {
			t.Fatalf("FetchActivity = %+v, %v; want an item of namespace %q", w, err, want)
		}
	}
	err = s.DeleteModule(ctx, "team-a", []store.Registration{{Kind: store.RegistrationModule, Name: "pkg", Version: "1"},
		{Kind: store.RegistrationOrchestration, Name: "orch", Version: "1"}})
	if !errors.Is(err, store.ErrModulePinned) {
		t.Errorf("DeleteModule of team-a's bytes pinned by team-a/i1: %v, want ErrModulePinned", err)
	}
	// The registry goes on from the migrated sequence: a new put is the newest.
	if _, err := s.PutModule(ctx, store.ModulePut{Namespace: "team-a", Wasm: blobPlain,
		Registrations: []store.Registration{{Kind: store.RegistrationOrchestration, Name: "orch", Version: "3"}}}); err != nil {
		t.Fatal(err)
	}
	if m, err := s.ResolveModule(ctx, "team-a", store.RegistrationOrchestration, "orch", ""); err != nil || m.Version != "3" {
		t.Fatalf("latest team-a orch after a put = %+v, %v; want version 3", m, err)
	}
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
