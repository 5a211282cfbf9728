package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/urfave/cli/v2"
	_ "modernc.org/sqlite" // the database/sql driver of the SQLite store, to age a schema

	"github.com/durohost/durohost/store"
)

// password is the password the tests put in PostgreSQL URLs: it must never be printed. The
// test server trusts every local connection, so any password is accepted.
const password = "s3cret-Pw"

// withPassword returns the URL u with the user postgres and the test password.
func withPassword(t *testing.T, u string) string {
	t.Helper()
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	parsed.User = url.UserPassword("postgres", password)
	return parsed.String()
}

// noPassword fails the test if s shows the test password.
func noPassword(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, password) {
		t.Errorf("%s shows the password:\n%s", what, s)
	}
}

func TestParseStore(t *testing.T) {
	tests := []struct {
		name string
		in   string
		// want: the kind, the SQLite path or the display form, a substring of the URL to
		// connect with, pool_max_conns; or a substring of the error.
		kind     storeKind
		display  string
		urlHas   string
		maxConns int
		err      string
	}{
		{name: "path", in: "work.db", kind: kindSQLite, display: "work.db"},
		{name: "absolute path", in: "/var/lib/durohost/d.db", kind: kindSQLite, display: "/var/lib/durohost/d.db"},
		{name: "sqlite prefix", in: "sqlite:work.db", kind: kindSQLite, display: "work.db"},
		{name: "sqlite prefix absolute", in: "sqlite:/data/x.db", kind: kindSQLite, display: "/data/x.db"},
		{name: "sqlite prefix any case", in: "SQLite:x.db", kind: kindSQLite, display: "x.db"},
		{name: "sqlite prefix keeps a colon", in: "sqlite:postgres:x", kind: kindSQLite, display: "postgres:x"},
		{name: "path with a colon", in: "run:1.db", kind: kindSQLite, display: "run:1.db"},
		{name: "postgres URL", in: "postgres://u:" + password + "@db.example:5433/app?sslmode=disable",
			kind: kindPostgres, display: "postgres://u@db.example:5433/app?sslmode=disable", urlHas: "connect_timeout=10"},
		{name: "postgresql scheme", in: "postgresql://u@db.example/app", kind: kindPostgres, display: "postgresql://u@db.example/app"},
		{name: "upper-case scheme", in: "POSTGRES://u@db.example/app", kind: kindPostgres, display: "postgres://u@db.example/app"},
		{name: "unix socket", in: "postgres:///app?host=/run/postgresql", kind: kindPostgres, display: "postgres:///app?host=%2Frun%2Fpostgresql"},
		{name: "password parameter", in: "postgres://u@h/app?password=" + password, kind: kindPostgres,
			display: "postgres://u@h/app?password=xxxxx", urlHas: password},
		{name: "encoded password", in: "postgres://u:" + url.QueryEscape(password+"@/:") + "@h/app", kind: kindPostgres, display: "postgres://u@h/app"},
		{name: "own connect timeout", in: "postgres://h/app?connect_timeout=3", kind: kindPostgres, display: "postgres://h/app?connect_timeout=3", urlHas: "connect_timeout=3"},
		{name: "pool size", in: "postgres://h/app?pool_max_conns=16", kind: kindPostgres, display: "postgres://h/app?pool_max_conns=16", maxConns: 16},
		{name: "empty", in: "", err: "empty store name"},
		{name: "blank", in: "  ", err: "empty store name"},
		{name: "sqlite without path", in: "sqlite:", err: "needs a file path"},
		{name: "sqlite slashes", in: "sqlite:///x.db", err: "sqlite:// is ambiguous"},
		{name: "postgres without slashes", in: "postgres:app", err: "starting with postgres://"},
		{name: "other scheme", in: "mysql://u:" + password + "@h/app", err: `unknown store scheme "mysql"`},
		{name: "key=value string", in: "host=db user=u password=" + password, err: "key=value connection string"},
		{name: "bad port", in: "postgres://u:" + password + "@h:99999/app", err: `port "99999"`},
		{name: "port not a number", in: "postgres://u:" + password + "@h:abc/app", err: "malformed PostgreSQL URL"},
		{name: "unencoded #", in: "postgres://u:pa#" + password + "@h/app", err: "'#'"},
		{name: "unencoded /", in: "postgres://u:a/" + password + "@h/app", err: "malformed PostgreSQL URL"},
		{name: "bad pool size", in: "postgres://u:" + password + "@h/app?pool_max_conns=0", err: "pool_max_conns"},
		{name: "parameter pgx refuses", in: "postgres://u:" + password + "@h/app?sslmode=sometimes", err: "PostgreSQL URL postgres://u@h/app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := parseStore(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseStore(%q) = %+v, %v; want an error containing %q", tt.in, spec, err, tt.err)
				}
				noPassword(t, "the error", err.Error())
				return
			}
			if err != nil {
				t.Fatalf("parseStore(%q): %v", tt.in, err)
			}
			if spec.kind != tt.kind || spec.display != tt.display || spec.maxConns != tt.maxConns {
				t.Errorf("parseStore(%q) = kind %s, display %q, pool %d; want %s, %q, %d", tt.in, spec.kind, spec.display, spec.maxConns, tt.kind, tt.display, tt.maxConns)
			}
			noPassword(t, "the display name", spec.display)
			if tt.kind == kindSQLite && spec.path != tt.display {
				t.Errorf("path %q, want %q", spec.path, tt.display)
			}
			if tt.urlHas != "" && !strings.Contains(spec.url, tt.urlHas) {
				t.Errorf("URL to connect with %q lacks %q", spec.url, tt.urlHas)
			}
			if tt.kind == kindPostgres && strings.Contains(tt.in, password) && !strings.Contains(spec.url, password) {
				t.Errorf("the URL to connect with lost the password")
			}
		})
	}
}

func TestStoreName(t *testing.T) {
	data := t.TempDir()
	t.Setenv("XDG_DATA_HOME", data)
	def := filepath.Join(data, "durohost", "durohost.db")
	tests := []struct {
		name           string
		args           []string
		envStore, envD string
		file           string
		want, source   string
		err            string
	}{
		{name: "default", want: def, source: "the default store"},
		{name: "flag", args: []string{"--store", "a.db"}, envStore: "b.db", file: "c.db", want: "a.db", source: "--store"},
		{name: "older flag name", args: []string{"--db", "a.db"}, envStore: "b.db", want: "a.db", source: "--store"},
		{name: "environment", envStore: "b.db", envD: "b.db", file: "c.db", want: "b.db", source: "$" + envStore},
		{name: "older environment name", envD: "d.db", file: "c.db", want: "d.db", source: "$" + envDB},
		{name: "config file", file: "c.db", want: "c.db", source: "config f.json"},
		{name: "two environments", envStore: "b.db", envD: "d.db", err: "name different stores"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envStore, tt.envStore)
			t.Setenv(envDB, tt.envD)
			var name, source string
			var err error
			app := &cli.App{Name: "t", Writer: io.Discard, ErrWriter: io.Discard, HideHelp: true,
				ExitErrHandler: func(*cli.Context, error) {},
				Flags:          []cli.Flag{storeFlag()},
				Action: func(c *cli.Context) error {
					name, source, err = storeName(c, tt.file, "config f.json")
					return nil
				}}
			if runErr := app.Run(append([]string{"t"}, tt.args...)); runErr != nil {
				t.Fatal(runErr)
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %q from %s, %v; want an error containing %q", name, source, err, tt.err)
				}
				return
			}
			if err != nil || name != tt.want || source != tt.source {
				t.Fatalf("got %q from %s, %v; want %q from %s", name, source, err, tt.want, tt.source)
			}
		})
	}
}

// freeAddress returns a loopback address where nothing listens.
func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestOpenStoreErrors(t *testing.T) {
	ctx := context.Background()
	db := pgDatabase(t)
	// A PostgreSQL database whose schema a newer durohost wrote.
	st, closeStore, display, err := openStore(ctx, withPassword(t, db))
	if err != nil {
		t.Fatal(err)
	}
	noPassword(t, "the display name", display)
	if !strings.HasPrefix(display, "postgres://postgres@") {
		t.Errorf("display name %q", display)
	}
	if _, err := st.QueueDepths(ctx); err != nil {
		t.Fatal(err)
	}
	closeStore()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "UPDATE durohost.schema_version SET version = 999"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	// A SQLite file whose schema a newer durohost wrote.
	newer := filepath.Join(t.TempDir(), "newer.db")
	_, closeStore, _, err = openStore(ctx, newer)
	if err != nil {
		t.Fatal(err)
	}
	closeStore()
	raw, err := sql.Open("sqlite", newer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	noDB, err := url.Parse(withPassword(t, db))
	if err != nil {
		t.Fatal(err)
	}
	noDB.Path = "/no_such_database"

	tests := []struct {
		name, store string
		is          error
		mention     []string
	}{
		{"server down", "postgres://postgres:" + password + "@" + freeAddress(t) + "/app?sslmode=disable", nil,
			[]string{"cannot connect to the PostgreSQL server of postgres://postgres@", "is it running"}},
		{"no such database", noDB.String(), nil, []string{"cannot connect", "no_such_database", "does not exist"}},
		{"postgres schema too new", withPassword(t, db), store.ErrSchemaTooNew, []string{"newer version of durohost", "999"}},
		{"sqlite schema too new", newer, store.ErrSchemaTooNew, []string{"store " + newer + " was written by a newer version", "999"}},
		{"sqlite directory", t.TempDir(), nil, []string{"is a directory"}},
		{"malformed URL", "postgres://postgres:" + password + "@h:x/app", nil, []string{"malformed PostgreSQL URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, closeStore, _, err := openStore(ctx, tt.store)
			if err == nil {
				closeStore()
				t.Fatalf("opened %v", st)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q lacks %q", err, m)
				}
			}
			noPassword(t, "the error", err.Error())
		})
	}
	// Through the command line: the exit code and one line naming the problem.
	r := runCLI("run", watFixture("hello.wasm"), "--store", "postgres://postgres:"+password+"@"+freeAddress(t)+"/app?sslmode=disable")
	if r.code != exitError || !strings.Contains(r.stderr, "run: --store: cannot connect") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("%v", r)
	}
	noPassword(t, "stderr", r.stderr)
}

// TestRunPostgres runs an orchestration to completion on PostgreSQL, named by --store, then
// resumes it from $DUROHOST_STORE.
func TestRunPostgres(t *testing.T) {
	db := withPassword(t, pgDatabase(t))
	r := runCLI("run", example("hello"), "--input", `"PG"`, "--store", db, "--id", "pg1")
	if r.code != 0 || !strings.Contains(r.stdout, "Hello, PG!") {
		t.Fatalf("%v", r)
	}
	if !strings.Contains(r.stderr, "database postgres://postgres@") {
		t.Errorf("stderr does not name the store:\n%s", r.stderr)
	}
	noPassword(t, "stderr", r.stderr)
	t.Setenv(envStore, db)
	r = runCLI("run", example("hello"), "--resume", "pg1", "--quiet")
	if r.code != 0 || !strings.Contains(r.stdout, "Hello, PG!") {
		t.Fatalf("resume from $%s: %v", envStore, r)
	}
	noPassword(t, "stderr", r.stderr)
	// An instance that outlives --timeout: the resume command names the store without the
	// password.
	r = runCLI("run", example("approval"), "--input", `{"request": "r", "timeout_ms": 60000}`, "--id", "slow", "--timeout", "100ms", "--quiet")
	if r.code != exitTimeout || !strings.Contains(r.stderr, "--resume slow --store 'postgres://postgres@") {
		t.Fatalf("%v", r)
	}
	noPassword(t, "stderr", r.stderr)
}

// TestServeAndWorkerPostgres runs serve and a worker on one PostgreSQL database: modules
// and instances go through serve's API, and the worker takes part of the work.
func TestServeAndWorkerPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	bin := binary(t)
	wasm := writeFile(t, "crash.wasm", prebuild(t, crashGuest))
	steps := newStepServer(t, 2*time.Millisecond)
	db := withPassword(t, pgDatabase(t))

	// The store comes from the config file for serve, from the environment (which wins over
	// the file) for the worker, which reads the file for its policies.
	config := writeFile(t, "serve.json", []byte(fmt.Sprintf(`{"store": %q, "tokens": [{"namespace": "a", "token": "secret-a"}],
		"namespaces": {"a": {"activities": ["http", "echo"]}}}`, db)))
	// serve takes one turn and one activity at a time, so that work is left for the worker.
	serve, api := startServer(t, nil, "--config", config, "--allow-http", "127.0.0.1",
		"--orchestration-workers", "1", "--activity-workers", "1")
	worker := startProcessEnv(t, []string{envStore + "=" + db}, bin, "worker", "--config", config, "--allow-http", "127.0.0.1")
	waitFor(t, 30*time.Second, "the worker to start", func() bool {
		select {
		case <-worker.done:
			t.Fatalf("the worker ended: %v", worker)
		default:
		}
		return strings.Contains(worker.stderr.String(), "worker running")
	})
	client := func(args ...string) string {
		t.Helper()
		r := runCLI(append(args, "--server", api, "--token", "secret-a")...)
		if r.code != 0 {
			t.Fatalf("%v: %v", args, r)
		}
		return r.stdout
	}
	client("module", "push", wasm)
	const instances, n = 8, 30
	for i := range instances {
		client("start", "crash", "--id", "s"+strconv.Itoa(i), "--input", fmt.Sprintf(`{"steps": %d, "url": %q, "timer_ms": 10}`, n, steps.URL))
	}
	for i := range instances {
		id := "s" + strconv.Itoa(i)
		checkCrashOutput(t, id, client("wait", id, "--timeout", "60s"), n)
		steps.check(t, "a/"+id, n) // the store (and the guest) prefix IDs with their namespace
	}
	var reported int
	for _, l := range lines(worker.stderr.String()) {
		if progressLine.MatchString(l) {
			reported++
		}
	}
	if reported == 0 {
		t.Errorf("the worker committed nothing:\n%s", worker.stderr.String())
	}
	worker.cmd.Process.Signal(syscall.SIGTERM)
	if code := worker.code(); code != 0 {
		t.Errorf("worker: %v", worker)
	}
	stopServer(t, serve)
	for _, p := range []*process{serve, worker} {
		if !strings.Contains(p.stderr.String(), "database postgres://postgres@") {
			t.Errorf("%s does not name the store:\n%s", p.cmd.Args[1], p.stderr.String())
		}
		noPassword(t, p.cmd.Args[1]+"'s stderr", p.stderr.String())
	}
	t.Logf("the worker committed %d events", reported)
}
