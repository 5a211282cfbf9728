// Package pgtest gives tests a PostgreSQL server: a throw-away one that it starts from the
// PostgreSQL binaries installed on the machine, or the server named by the environment
// variable DUROHOST_TEST_POSTGRES. One server serves a whole test binary; each test gets a
// database of its own.
//
// A package whose tests use it calls Main from its TestMain, then NewDatabase in each test:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		url := pgtest.NewDatabase(t) // a fresh, empty database, dropped after the test
//		...
//	}
//
// A database handed to a test is empty; when the test ends it is emptied (its schemas
// dropped) and handed to a later test, which is much faster than creating one per test.
//
// The throw-away server is started at the first NewDatabase call (a test binary that never
// asks for one starts nothing): initdb into a temporary directory, then postgres listening on
// a Unix socket in that directory only. When the tests run as root, both run as an
// unprivileged user ("postgres" if the machine has one, else "nobody"), since initdb refuses
// to run as root. The binaries are those of the directory DUROHOST_TEST_POSTGRES_BIN names,
// else of the newest /usr/lib/postgresql/<version>/bin (Debian's layout), else those found on
// PATH, else a published build fetched once into the temporary directory (so that the tests
// run where only Go is installed). The server does not wait for the disk (fsync off) unless Durable asks. Main stops the
// server and removes its directory. When no server can be had, NewDatabase fails the test
// with the reason: tests that need PostgreSQL never skip.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL is the environment variable naming a server to use instead of starting one, as a
// URL (postgres://user:password@host:port/database?sslmode=disable). Its user must be allowed
// to create databases; the database of the URL is only used to create and drop others.
const EnvURL = "DUROHOST_TEST_POSTGRES"

// EnvBin is the environment variable naming the directory of the PostgreSQL binaries
// (initdb, postgres), when they are neither on PATH nor in /usr/lib/postgresql; "fetch" uses
// the published build the tests fetch when the machine has none.
const EnvBin = "DUROHOST_TEST_POSTGRES_BIN"

// startTimeout bounds initdb and the wait for a started server to accept connections.
const startTimeout = time.Minute

// Server is a PostgreSQL server for tests: one this package started, or the one named by
// DUROHOST_TEST_POSTGRES.
type Server struct {
	url string // of the maintenance database
	// dir, cmd and done are set for a server this package started.
	dir  string
	cmd  *exec.Cmd
	done chan error // the postgres process's exit

	mu      sync.Mutex
	dbs     int      // databases created
	created []string // their names
	free    []string // databases emptied by the tests that used them, ready for others
	stopped bool
}

// Option configures Start.
type Option func(*config)

type config struct {
	durable bool
}

// Durable makes a started server wait for the disk at every commit (fsync and synchronous
// commit on, the PostgreSQL defaults), for benchmarks. Without it the server never syncs:
// tests do not need their data to survive a crash, and creating a database is several times
// faster. It has no effect on the server of DUROHOST_TEST_POSTGRES.
func Durable() Option { return func(c *config) { c.durable = true } }

// Start returns the server named by DUROHOST_TEST_POSTGRES, or starts a throw-away one (see
// the package documentation). Stop it with Stop.
func Start(opts ...Option) (*Server, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if u := os.Getenv(EnvURL); u != "" {
		s := &Server{url: u}
		if err := s.ping(context.Background()); err != nil {
			return nil, fmt.Errorf("pgtest: the server of %s does not answer: %w", EnvURL, err)
		}
		return s, nil
	}
	return startLocal(cfg)
}

// URL returns the URL of the server's maintenance database.
func (s *Server) URL() string { return s.url }

// ping connects to the maintenance database and runs a query.
func (s *Server) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var one int
	return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
}

// CreateDatabase creates an empty database and returns its name and URL.
func (s *Server) CreateDatabase(ctx context.Context) (name, dbURL string, err error) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return "", "", errors.New("pgtest: the server is stopped")
	}
	s.dbs++
	var b [4]byte
	_, _ = rand.Read(b[:])
	name = fmt.Sprintf("durohost_test_%d_%d_%s", os.Getpid(), s.dbs, hex.EncodeToString(b[:]))
	s.mu.Unlock()
	conn, err := pgx.Connect(ctx, s.url)
	if err != nil {
		return "", "", fmt.Errorf("pgtest: connect: %w", err)
	}
	defer conn.Close(context.Background())
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident+" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"); err != nil {
		return "", "", fmt.Errorf("pgtest: create database: %w", err)
	}
	s.mu.Lock()
	s.created = append(s.created, name)
	s.mu.Unlock()
	dbURL, err = s.urlOf(name)
	return name, dbURL, err
}

// urlOf returns the URL of database name.
func (s *Server) urlOf(name string) (string, error) {
	u, err := url.Parse(s.url)
	if err != nil {
		return "", fmt.Errorf("pgtest: server URL: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// DropDatabase drops database name, disconnecting its clients.
func (s *Server) DropDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, s.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}

// emptyDatabase disconnects the clients of database name and drops every schema in it (the
// objects a test created), leaving it as CreateDatabase made it.
func (s *Server) emptyDatabase(ctx context.Context, name string) error {
	admin, err := pgx.Connect(ctx, s.url)
	if err != nil {
		return err
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = $1 AND pid <> pg_backend_pid()`, name); err != nil {
		return err
	}
	u, err := s.urlOf(name)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, `DO $$
		DECLARE s name;
		BEGIN
			FOR s IN SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema' LOOP
				EXECUTE format('DROP SCHEMA %I CASCADE', s);
			END LOOP;
			CREATE SCHEMA public;
			GRANT ALL ON SCHEMA public TO PUBLIC;
		END $$`)
	return err
}

// Stop stops a server this package started and removes its directory; on the server of
// DUROHOST_TEST_POSTGRES it drops the databases it created.
func (s *Server) Stop() error {
	s.mu.Lock()
	already := s.stopped
	s.stopped = true
	s.mu.Unlock()
	if already {
		return nil
	}
	if s.cmd == nil {
		// Not ours: drop what the tests created.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var errs []error
		for _, name := range s.created {
			errs = append(errs, s.DropDatabase(ctx, name))
		}
		return errors.Join(errs...)
	}
	// A fast shutdown (SIGINT) disconnects the clients, then the directory can go.
	_ = s.cmd.Process.Signal(os.Interrupt)
	var err error
	select {
	case err = <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		err = <-s.done
	}
	if rmErr := os.RemoveAll(s.dir); rmErr != nil {
		return rmErr
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return nil // postgres exits with a status after a shutdown request
	}
	return err
}

// startLocal initialises a cluster in a temporary directory and starts postgres on it.
func startLocal(cfg config) (*Server, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	run, err := runAs()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "durohost-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	if err := run.own(dir); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.Dir = dir
	run.apply(initdb)
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pgtest: initdb (%s): %v\n%s", filepath.Join(bin, "initdb"), err, out)
	}
	// The socket lives in dir, unless its path is too long for a Unix socket: then the server
	// listens on a free loopback port.
	sock := filepath.Join(dir, ".s.PGSQL.5432")
	args := []string{"-D", data, "-c", "max_connections=300", "-c", "shared_buffers=128MB",
		"-c", "log_min_messages=fatal", "-c", "log_min_error_statement=panic", "-c", "log_statement=none"}
	host, port := dir, 5432
	if len(sock) < 100 {
		args = append(args, "-k", dir, "-c", "listen_addresses=")
	} else {
		if port, err = freePort(); err != nil {
			return nil, err
		}
		host = "127.0.0.1"
		args = append(args, "-k", "", "-c", "listen_addresses=127.0.0.1")
	}
	args = append(args, "-p", strconv.Itoa(port))
	if !cfg.durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	run.apply(cmd)
	stopWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pgtest: start postgres: %w", err)
	}
	s := &Server{dir: dir, cmd: cmd, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	// A Unix socket directory goes in the host parameter (pgx reads it from the query).
	s.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	if host != "127.0.0.1" {
		q := url.Values{"host": {host}, "sslmode": {"disable"}}
		s.url = (&url.URL{Scheme: "postgres", User: url.User("postgres"), Host: "localhost:" + strconv.Itoa(port),
			Path: "/postgres", RawQuery: q.Encode()}).String()
	}
	if err := s.waitReady(ctx); err != nil {
		_ = cmd.Process.Kill()
		<-s.done
		logged, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("pgtest: postgres did not start: %v\n%s", err, tail(logged, 20))
	}
	ok = true
	return s, nil
}

// waitReady waits until the server accepts connections, it exits or ctx ends.
func (s *Server) waitReady(ctx context.Context) error {
	for {
		err := s.ping(ctx)
		if err == nil {
			return nil
		}
		select {
		case exit := <-s.done:
			s.done <- exit
			return fmt.Errorf("postgres exited: %v", exit)
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// findBin returns the directory of initdb and postgres.
func findBin() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if st, err := os.Stat(filepath.Join(dir, b)); err != nil || st.IsDir() {
				return false
			}
		}
		return true
	}
	if dir := os.Getenv(EnvBin); dir == "fetch" {
		return fetchBin()
	} else if dir != "" {
		if has(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("pgtest: %s=%s holds no initdb and postgres", EnvBin, dir)
	}
	// Debian's /usr/lib/postgresql/<version>/bin, newest version first, then PATH (where
	// Debian only links wrappers, resolved to their directory).
	var candidates []string
	if entries, err := os.ReadDir("/usr/lib/postgresql"); err == nil {
		var versions []int
		for _, e := range entries {
			if v, err := strconv.Atoi(e.Name()); err == nil {
				versions = append(versions, v)
			}
		}
		sort.Sort(sort.Reverse(sort.IntSlice(versions)))
		for _, v := range versions {
			candidates = append(candidates, filepath.Join("/usr/lib/postgresql", strconv.Itoa(v), "bin"))
		}
	}
	for _, name := range []string{"postgres", "initdb", "pg_ctl"} {
		if p, err := exec.LookPath(name); err == nil {
			if real, err := filepath.EvalSymlinks(p); err == nil {
				candidates = append(candidates, filepath.Dir(real))
			}
			candidates = append(candidates, filepath.Dir(p))
		}
	}
	for _, dir := range candidates {
		if has(dir) {
			return dir, nil
		}
	}
	// Where only Go is installed: fetch a published build of PostgreSQL.
	dir, err := fetchBin()
	if err != nil {
		return "", fmt.Errorf("pgtest: no PostgreSQL server binaries (initdb, postgres) on PATH or in /usr/lib/postgresql/*/bin, "+
			"and fetching them failed (%v): install PostgreSQL, set %s to their directory, or set %s to a server URL", err, EnvBin, EnvURL)
	}
	return dir, nil
}

// identity is who initdb and postgres run as: the current user, or an unprivileged one when
// the tests run as root.
type identity struct {
	uid, gid uint32
	switched bool
	name     string
}

// runAs picks the identity of the server processes.
func runAs() (identity, error) {
	if os.Geteuid() != 0 {
		return identity{}, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		return identity{uid: uint32(uid), gid: uint32(gid), switched: true, name: name}, nil
	}
	return identity{}, errors.New(`pgtest: running as root, and neither a "postgres" nor a "nobody" user exists to run the server as (initdb refuses root)`)
}

// own gives dir to the server's user.
func (id identity) own(dir string) error {
	if !id.switched {
		return nil
	}
	if err := os.Chown(dir, int(id.uid), int(id.gid)); err != nil {
		return fmt.Errorf("pgtest: give %s to user %s: %w", dir, id.name, err)
	}
	return nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// The servers of the test binary: the fast one, and the durable one (Durable) when a test
// or benchmark asks for it.
var shared [2]struct {
	once sync.Once
	srv  *Server
	err  error
}

// Main runs the tests of m, then stops the test binary's servers that were started, and
// exits with the tests' status. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	for i := range shared {
		if shared[i].srv != nil {
			if err := shared[i].srv.Stop(); err != nil {
				fmt.Fprintf(os.Stderr, "pgtest: stop the server: %v\n", err)
			}
		}
	}
	os.Exit(code)
}

// Shared returns the test binary's server, starting it at the first call (see the package
// documentation); with Durable, the binary's durable server (a second one). Every later call
// returns the same server, or the same error. With DUROHOST_TEST_POSTGRES both are that
// server.
func Shared(opts ...Option) (*Server, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	i := 0
	if cfg.durable && os.Getenv(EnvURL) == "" {
		i = 1
	}
	shared[i].once.Do(func() { shared[i].srv, shared[i].err = Start(opts...) })
	return shared[i].srv, shared[i].err
}

// NewDatabase returns the URL of an empty database of the test binary's server (with Durable,
// of its durable server) for test t: no other test uses it until t and its cleanups end.
// When no server can be had, the test fails with the reason.
func NewDatabase(t testing.TB, opts ...Option) string {
	t.Helper()
	s, err := Shared(opts...)
	if err != nil {
		t.Fatalf("PostgreSQL is needed by this test and none could be had: %v", err)
	}
	return s.NewDatabase(t)
}

// NewDatabase returns the URL of an empty database of s for test t (see the package-level
// NewDatabase). Creating a database costs about a tenth of a second, emptying one a few
// milliseconds: a database is created when none is free, and once t ends (after the cleanups
// it registered later, such as closing a store), its clients are disconnected, every schema
// in it is dropped, and it is free for the next test.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s.mu.Lock()
	var name string
	if n := len(s.free); n > 0 {
		name, s.free = s.free[n-1], s.free[:n-1]
	}
	s.mu.Unlock()
	var (
		u   string
		err error
	)
	if name == "" {
		name, u, err = s.CreateDatabase(ctx)
	} else {
		u, err = s.urlOf(name)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.emptyDatabase(ctx, name); err != nil {
			// Not reusable: it goes with the server (or is dropped now from a server that
			// is not ours).
			if s.cmd == nil {
				_ = s.DropDatabase(ctx, name)
			}
			return
		}
		s.mu.Lock()
		s.free = append(s.free, name)
		s.mu.Unlock()
	})
	return u
}
