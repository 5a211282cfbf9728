package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/urfave/cli/v2"

	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/postgres"
	"github.com/durohost/durohost/store/sqlite"
)

// A store is named the same way by every command that opens one (run, serve, worker): with
// --store (or $DUROHOST_STORE), as
//
//   - a SQLite file: a path, or sqlite:PATH (for a path that could read as something else);
//   - a PostgreSQL database: a postgres:// or postgresql:// URL, as libpq and pgx read it
//     (postgres://user:password@host:5432/db?sslmode=disable).
//
// --db and $DUROHOST_DB are the older names of --store and $DUROHOST_STORE, kept as
// aliases. Unset, the store is durohost.db in the user's data directory. openStore is the
// one place where the CLI opens a store; a password is never printed: the store's display
// name leaves it out and error messages are scrubbed of it.

// envStore names the store when --store is not given (before envDB, its older name).
const envStore = "DUROHOST_STORE"

// defaultConnectTimeout is the connect_timeout (seconds) the CLI adds to a PostgreSQL URL
// that has none, so that a server that does not answer is reported instead of waited for.
const defaultConnectTimeout = "10"

// storeKind is the implementation a store name selects.
type storeKind uint8

const (
	kindSQLite storeKind = iota
	kindPostgres
)

func (k storeKind) String() string {
	if k == kindPostgres {
		return "postgres"
	}
	return "sqlite"
}

// storeSpec is a parsed store name.
type storeSpec struct {
	kind storeKind
	// path is the SQLite file.
	path string
	// url is the PostgreSQL URL to connect with (its password included), with the CLI's
	// defaults added (connect_timeout).
	url string
	// display names the store for people: the path, or the URL without its password.
	display string
	// secrets are the forms of the password that error messages must not show.
	secrets []string
	// maxConns is pool_max_conns of the URL (0: the store's default).
	maxConns int
}

// storeFlag is the --store flag (alias --db) of the commands that open a store. Its
// environment variables are read by storeName, which tells them apart in its errors.
func storeFlag() cli.Flag {
	return &cli.StringFlag{
		Name:    "store",
		Aliases: []string{"db"},
		Usage: "the store holding the instances and modules: a SQLite file `PATH` (or sqlite:PATH) or a PostgreSQL URL " +
			"(postgres://user@host:5432/db; give the password in $PGPASSWORD or ~/.pgpass rather than here). Default: $" + envStore +
			", else durohost.db in the user's data directory. --db and $" + envDB + " are older names",
		TakesFile: true,
	}
}

// storeName returns the store a command opens and where the name came from: --store (or
// --db), else $DUROHOST_STORE, else $DUROHOST_DB, else fromFile (a config file's; its
// source is fileSource), else the default SQLite file. $DUROHOST_STORE and $DUROHOST_DB
// naming different stores is an error.
func storeName(c *cli.Context, fromFile, fileSource string) (name, source string, err error) {
	if c.IsSet("store") {
		return c.String("store"), "--store", nil
	}
	envS, envD := os.Getenv(envStore), os.Getenv(envDB)
	switch {
	case envS != "" && envD != "" && envS != envD:
		return "", "", fmt.Errorf("$%s and $%s name different stores: unset $%s (its older name)", envStore, envDB, envDB)
	case envS != "":
		return envS, "$" + envStore, nil
	case envD != "":
		return envD, "$" + envDB, nil
	case fromFile != "":
		return fromFile, fileSource, nil
	}
	path, err := defaultDBPath()
	return path, "the default store", err
}

// pgKeyword matches the start of a libpq key=value connection string.
var pgKeyword = regexp.MustCompile(`^\s*(host|hostaddr|port|dbname|user|password|sslmode|service)\s*=`)

// schemeOf returns the scheme of a name of the form "scheme://...", or "".
var schemeOf = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*)://`)

// parseStore parses a store name (see the top of this file). Errors never quote a URL, which
// may hold a password.
func parseStore(name string) (storeSpec, error) {
	lower := strings.ToLower(name)
	switch {
	case strings.TrimSpace(name) == "":
		return storeSpec{}, errors.New("empty store name: give a SQLite file path or a postgres:// URL")
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return parsePostgres(name)
	case strings.HasPrefix(lower, "postgres:"), strings.HasPrefix(lower, "postgresql:"):
		return storeSpec{}, errors.New("a PostgreSQL store is a URL starting with postgres:// (postgres://user@host/db); for a SQLite file of that name write sqlite:" + name)
	case strings.HasPrefix(lower, "sqlite://"):
		return storeSpec{}, errors.New("sqlite:// is ambiguous: write sqlite:PATH (sqlite:/var/lib/durohost.db, sqlite:work.db) or the plain path")
	case strings.HasPrefix(lower, "sqlite:"):
		path := name[len("sqlite:"):]
		if path == "" {
			return storeSpec{}, errors.New("sqlite: needs a file path: sqlite:PATH")
		}
		return storeSpec{kind: kindSQLite, path: path, display: path}, nil
	case pgKeyword.MatchString(name):
		return storeSpec{}, errors.New("a key=value connection string is not accepted (it would read as a file name): give a postgres:// URL")
	}
	if m := schemeOf.FindStringSubmatch(name); m != nil {
		return storeSpec{}, fmt.Errorf("unknown store scheme %q: want a SQLite file path, sqlite:PATH or a postgres:// URL", m[1])
	}
	return storeSpec{kind: kindSQLite, path: name, display: name}, nil
}

// parsePostgres parses a postgres:// or postgresql:// URL.
func parsePostgres(raw string) (storeSpec, error) {
	const form = "want postgres://[user[:password]@][host][:port][/database][?param=value&...], " +
		"with the special characters of the user and password percent-encoded (@ as %40, / as %2F, : as %3A, # as %23)"
	if strings.Contains(raw, "#") {
		return storeSpec{}, errors.New("malformed PostgreSQL URL: it holds a '#'; " + form)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		// Not even the parser's reason: it may quote a piece of a password that
		// broke the URL (an unencoded '/' makes its tail read as a port).
		return storeSpec{}, errors.New("malformed PostgreSQL URL: " + form)
	}
	spec := storeSpec{kind: kindPostgres}
	if pw, ok := u.User.Password(); ok && pw != "" {
		spec.secrets = append(spec.secrets, pw, url.QueryEscape(pw), url.PathEscape(pw))
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return storeSpec{}, fmt.Errorf("malformed PostgreSQL URL: its parameters: %v", err)
	}
	for _, key := range []string{"password", "sslpassword"} {
		for _, v := range q[key] {
			if v != "" {
				spec.secrets = append(spec.secrets, v, url.QueryEscape(v))
			}
		}
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return storeSpec{}, fmt.Errorf("malformed PostgreSQL URL: port %q is not a number from 1 to 65535", p)
		}
	}
	if v := q.Get("pool_max_conns"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return storeSpec{}, fmt.Errorf("PostgreSQL URL: pool_max_conns=%q is not a whole number of at least 1", v)
		}
		spec.maxConns = n
	}
	// The display form: no password, in the user part or in the parameters.
	shown := *u
	if u.User != nil {
		shown.User = url.User(u.User.Username())
	}
	sq := u.Query()
	for _, key := range []string{"password", "sslpassword"} {
		if sq.Has(key) {
			sq.Set(key, "xxxxx")
		}
	}
	shown.RawQuery = sq.Encode()
	spec.display = shown.String()
	// The URL to connect with: the CLI's connect timeout unless one is given.
	conn := *u
	if !q.Has("connect_timeout") {
		cq := u.Query()
		cq.Set("connect_timeout", defaultConnectTimeout)
		conn.RawQuery = cq.Encode()
	}
	spec.url = conn.String()
	// pgx must read it too (a parameter it refuses, a malformed host list).
	if _, err := pgconn.ParseConfig(spec.url); err != nil {
		return storeSpec{}, spec.scrub(fmt.Errorf("PostgreSQL URL %s: %w", spec.display, unquoteConnString(err)))
	}
	return spec, nil
}

// unquoteConnString returns the reason of a pgconn parse error, without the connection
// string it quotes.
func unquoteConnString(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		if inner := pe.Unwrap(); inner != nil {
			var ue *url.Error
			if errors.As(inner, &ue) {
				return ue.Err
			}
			return inner
		}
		// The message follows the quoted string: "cannot parse `...`: reason".
		msg := pe.Error()
		if i := strings.LastIndex(msg, "`: "); i >= 0 {
			return errors.New(msg[i+3:])
		}
		return errors.New("cannot parse it")
	}
	return err
}

// scrubbedError is an error whose message had the password removed; it unwraps to the
// original error, so that errors.Is still finds the sentinels.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrub returns err with every form of the store's password in its message replaced.
func (s storeSpec) scrub(err error) error {
	if err == nil || len(s.secrets) == 0 {
		return err
	}
	msg := err.Error()
	changed := false
	for _, secret := range s.secrets {
		if secret != "" && strings.Contains(msg, secret) {
			msg = strings.ReplaceAll(msg, secret, "xxxxx")
			changed = true
		}
	}
	if !changed {
		return err
	}
	return &scrubbedError{msg: msg, err: err}
}

// openStore opens the store named name (see the top of this file), creating a SQLite
// file's directory, and returns it with the function that closes it and its display name
// (without a password). A PostgreSQL store is opened with opts. Errors say what is wrong:
// a malformed name, a server that cannot be reached, a schema newer than this build.
func openStore(ctx context.Context, name string, opts ...postgres.Option) (st store.Store, closeStore func() error, display string, err error) {
	spec, err := parseStore(name)
	if err != nil {
		return nil, nil, "", err
	}
	return spec.open(ctx, opts...)
}

// open opens the store of s (see openStore).
func (s storeSpec) open(ctx context.Context, opts ...postgres.Option) (store.Store, func() error, string, error) {
	switch s.kind {
	case kindPostgres:
		if s.maxConns > 0 {
			opts = append([]postgres.Option{postgres.WithMaxConns(s.maxConns)}, opts...)
		}
		st, err := postgres.Open(ctx, s.url, opts...)
		if err != nil {
			return nil, nil, "", s.scrub(s.openError(err))
		}
		return st, st.Close, s.display, nil
	default:
		path, err := prepareDB(s.path)
		if err != nil {
			return nil, nil, "", err
		}
		st, err := sqlite.Open(path)
		if err != nil {
			return nil, nil, "", s.openError(err)
		}
		return st, st.Close, path, nil
	}
}

// openError explains an error of a store's Open.
func (s storeSpec) openError(err error) error {
	var ce *pgconn.ConnectError
	switch {
	case errors.Is(err, store.ErrSchemaTooNew):
		return fmt.Errorf("store %s was written by a newer version of durohost (%w): use that version or a later one (a schema is never downgraded)", s.display, err)
	case errors.As(err, &ce):
		return fmt.Errorf("cannot connect to the PostgreSQL server of %s: %w (is it running and reachable, and are the host, port, user, password and database right?)", s.display, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("the PostgreSQL server of %s did not answer in time: %w", s.display, err)
	}
	return fmt.Errorf("open store %s: %w", s.display, err)
}
