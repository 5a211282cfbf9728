package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

// userObjects lists the schemas of database url other than PostgreSQL's own, and counts its
// tables outside them.
func userObjects(t *testing.T, url string) (schemas []string, tables int) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT nspname FROM pg_namespace
		WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema' ORDER BY nspname`)
	if err != nil {
		t.Fatal(err)
	}
	if schemas, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables
		WHERE schemaname NOT LIKE 'pg\_%' AND schemaname <> 'information_schema'`).Scan(&tables)
	if err != nil {
		t.Fatal(err)
	}
	return schemas, tables
}

// TestDatabaseIsEmptiedForTheNextTest fills a database in one test and checks that the next
// test gets it back empty.
func TestDatabaseIsEmptiedForTheNextTest(t *testing.T) {
	var first string
	t.Run("fill", func(t *testing.T) {
		first = NewDatabase(t)
		conn, err := pgx.Connect(context.Background(), first)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(context.Background(), `CREATE SCHEMA filled; CREATE TABLE filled.t (x int);
			CREATE TABLE public.u (y int); INSERT INTO public.u VALUES (1)`)
		if err != nil {
			t.Fatal(err)
		}
		// A connection the test leaves open is closed by the emptying.
	})
	t.Run("reuse", func(t *testing.T) {
		url := NewDatabase(t)
		if url != first {
			t.Fatalf("got database %s, want the one the previous test freed, %s", url, first)
		}
		schemas, tables := userObjects(t, url)
		if len(schemas) != 1 || schemas[0] != "public" || tables != 0 {
			t.Fatalf("reused database holds schemas %q and %d tables, want only an empty public", schemas, tables)
		}
	})
}

// TestServerOfEnvironment uses the test binary's server as if DUROHOST_TEST_POSTGRES named
// it: Start connects to it, and Stop drops the databases it created there.
func TestServerOfEnvironment(t *testing.T) {
	local, err := Shared()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvURL, local.URL())
	s, err := Start()
	if err != nil {
		t.Fatalf("Start with %s: %v", EnvURL, err)
	}
	if s.URL() != local.URL() || s.cmd != nil {
		t.Fatalf("Start with %s started a server of its own", EnvURL)
	}
	ctx := context.Background()
	name, url, err := s.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if schemas, tables := userObjects(t, url); len(schemas) != 1 || tables != 0 {
		t.Fatalf("new database holds schemas %q and %d tables", schemas, tables)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	conn, err := pgx.Connect(ctx, local.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatalf("database %s is still there after Stop", name)
	}
}
