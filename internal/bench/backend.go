package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/sqlite"
)

// backend is where the workloads' stores live: fresh SQLite files in Config.Dir, or fresh
// schemas of the PostgreSQL database of Config.Postgres.
type backend interface {
	// open opens store name; with fresh, whatever store of that name a previous run left is
	// removed first. Several stores opened with one name share their data (several hosts).
	open(ctx context.Context, name string, fresh bool) (store.Store, error)
	// remove removes store name (its stores must be closed).
	remove(ctx context.Context, name string) error
	// floor returns the raw commit rate, in turns per second, of the statements a turn
	// writes, with no store logic, perTx turns per transaction.
	floor(ctx context.Context, turns, perTx int) (float64, error)
	// config is the store's part of the configuration printed with every line.
	config() []kv
	// serverCPU returns the CPU time the database server has used, or -1 when it cannot be
	// read (an embedded store's is the process's own).
	serverCPU(ctx context.Context) time.Duration
	// close releases what the backend holds.
	close() error
}

// kv is one key=value of a line's configuration.
type kv struct {
	key string
	val any
}

// sqliteBackend keeps each store in a file of dir.
type sqliteBackend struct {
	dir  string
	sync sqlite.Synchronous
}

func (b *sqliteBackend) path(name string) string { return filepath.Join(b.dir, name+".db") }

func (b *sqliteBackend) open(_ context.Context, name string, fresh bool) (store.Store, error) {
	if fresh {
		removeDB(b.path(name))
	}
	st, err := sqlite.Open(b.path(name), sqlite.WithSynchronous(b.sync))
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (b *sqliteBackend) remove(_ context.Context, name string) error {
	removeDB(b.path(name))
	return nil
}

func (b *sqliteBackend) floor(ctx context.Context, turns, perTx int) (float64, error) {
	return measureFloor(ctx, b.dir, b.sync, turns, perTx)
}

func (b *sqliteBackend) config() []kv {
	return []kv{{"store", "sqlite"}, {"sync", strings.ToLower(b.sync.String())}}
}

func (b *sqliteBackend) serverCPU(context.Context) time.Duration { return -1 }

func (b *sqliteBackend) close() error { return nil }

// removeDB removes a database file and its WAL files.
func removeDB(path string) {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		os.Remove(path + suffix)
	}
}
