package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/postgres"
)

// postgresBackend keeps each store in a schema of one PostgreSQL database, named
// durohost_bench_<pid>_<store>: the database's other schemas are never touched, and two runs
// of durohost bench on one database do not meet.
type postgresBackend struct {
	url    string
	prefix string

	mu    sync.Mutex // admin is one connection
	admin *pgx.Conn  // drops schemas, reads the server's pid
	// settings are the server's durability settings and version, printed with every line.
	settings []kv
	// postmaster is the pid of the server's main process when it runs on this machine (0:
	// its CPU time is not measured).
	postmaster int
}

// newPostgresBackend connects to the database of url and reads the server's settings.
func newPostgresBackend(ctx context.Context, url string) (*postgresBackend, error) {
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	b := &postgresBackend{url: url, prefix: "durohost_bench_" + strconv.Itoa(os.Getpid()), admin: admin}
	var syncCommit, fsync string
	var version, pid int
	err = admin.QueryRow(ctx, `SELECT current_setting('synchronous_commit'), current_setting('fsync'),
		current_setting('server_version_num')::int, pg_backend_pid()`).Scan(&syncCommit, &fsync, &version, &pid)
	if err != nil {
		admin.Close(ctx)
		return nil, fmt.Errorf("read the server's settings: %w", err)
	}
	b.settings = []kv{{"store", "postgres"}, {"synchronous_commit", syncCommit}, {"fsync", fsync},
		{"server", fmt.Sprintf("%d.%d", version/10000, version%10000)}}
	b.postmaster = localPostmaster(pid)
	return b, nil
}

// schema returns the schema of store name.
func (b *postgresBackend) schema(name string) string { return b.prefix + "_" + strings.ToLower(name) }

func (b *postgresBackend) open(ctx context.Context, name string, fresh bool) (store.Store, error) {
	if fresh {
		if err := b.remove(ctx, name); err != nil {
			return nil, err
		}
	}
	st, err := postgres.Open(ctx, b.url, postgres.WithSchema(b.schema(name)))
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (b *postgresBackend) remove(ctx context.Context, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, err := b.admin.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{b.schema(name)}.Sanitize()+" CASCADE"); err != nil {
		return fmt.Errorf("drop schema %s: %w", b.schema(name), err)
	}
	return nil
}

func (b *postgresBackend) config() []kv { return b.settings }

func (b *postgresBackend) close() error { return b.admin.Close(context.Background()) }

// floor is the idea of store/postgres's BenchmarkRawFloor, measured in the same run as the
// workloads: 3 history inserts, 1 work item insert and 1 message delete per turn, sent as one
// pipeline on one connection (one round trip; one transaction per turn, or perTx turns
// between a BEGIN and a COMMIT), into the store's tables in a schema of their own.
func (b *postgresBackend) floor(ctx context.Context, turns, perTx int) (float64, error) {
	name := "floor_" + strconv.Itoa(perTx)
	st, err := b.open(ctx, name, true) // creates the schema
	if err != nil {
		return 0, err
	}
	if err := st.Close(); err != nil {
		return 0, err
	}
	defer b.remove(context.Background(), name)
	cfg, err := pgx.ParseConfig(b.url)
	if err != nil {
		return 0, err
	}
	cfg.RuntimeParams["search_path"] = b.schema(name)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())

	// The messages the turns delete, one each.
	ids := make([]string, turns)
	for i := range ids {
		ids[i] = "floor-" + strconv.Itoa(i)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO messages (instance_id, data, visible_at, ready_at)
		SELECT x, '\x6d657373616765'::bytea, 0, 0 FROM unnest($1::text[]) WITH ORDINALITY AS t(x, n) ORDER BY n`, ids); err != nil {
		return 0, fmt.Errorf("messages: %w", err)
	}
	var first int64
	if err := conn.QueryRow(ctx, `SELECT min(id) FROM messages`).Scan(&first); err != nil {
		return 0, err
	}
	ev := []byte("event-data-of-a-typical-size-0123456789")
	t0 := time.Now()
	for start := 0; start < turns; start += perTx {
		batch := &pgx.Batch{}
		if perTx > 1 {
			batch.Queue("BEGIN")
		}
		for i := start; i < min(start+perTx, turns); i++ {
			for e := 1; e <= 3; e++ {
				batch.Queue(`INSERT INTO history (instance_id, execution, event_id, data) VALUES ($1, $2, $3, $4)`, ids[i], 1, e, ev)
			}
			batch.Queue(`INSERT INTO work_items (instance_id, execution, event_id, namespace, name, input, visible_at, ready_at)
				VALUES ($1, $2, $3, '', $4, $5, 0, 0)`, ids[i], 1, 3, "noop", []byte(`"x"`))
			batch.Queue(`DELETE FROM messages WHERE id = $1`, first+int64(i))
		}
		if perTx > 1 {
			batch.Queue("COMMIT")
		}
		if err := conn.SendBatch(ctx, batch).Close(); err != nil {
			return 0, fmt.Errorf("turn %d: %w", start, err)
		}
	}
	return float64(turns) / time.Since(t0).Seconds(), nil
}

// localPostmaster returns the pid of the main process of the server whose backend has pid,
// when that backend runs on this machine (0 otherwise): a process of that pid whose command
// and parent's command are postgres.
func localPostmaster(pid int) int {
	f := procStat(pid)
	if f == nil || f.comm != "postgres" {
		return 0
	}
	parent := procStat(f.ppid)
	if parent == nil || parent.comm != "postgres" {
		return 0
	}
	return f.ppid
}

// serverCPU returns the CPU time of the server's processes: the main process, its live
// children and those it reaped. -1 when the server does not run on this machine.
func (b *postgresBackend) serverCPU(context.Context) time.Duration {
	if b.postmaster == 0 {
		return -1
	}
	main := procStat(b.postmaster)
	if main == nil {
		return -1
	}
	total := main.utime + main.stime + main.cutime + main.cstime
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := procStat(pid); f != nil && f.ppid == b.postmaster {
			total += f.utime + f.stime
		}
	}
	return time.Duration(total) * time.Second / 100 // USER_HZ
}

// stat is what serverCPU reads of /proc/<pid>/stat (times in clock ticks).
type stat struct {
	comm                         string
	ppid                         int
	utime, stime, cutime, cstime int64
}

// procStat reads /proc/<pid>/stat (nil where there is none).
func procStat(pid int) *stat {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	s := string(b)
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < open || close+2 > len(s) {
		return nil
	}
	// Fields after the command (which may hold spaces) start with field 3, the state.
	f := strings.Fields(s[close+2:])
	if len(f) < 15 {
		return nil
	}
	num := func(field int) int64 {
		v, _ := strconv.ParseInt(f[field-3], 10, 64)
		return v
	}
	return &stat{comm: s[open+1 : close], ppid: int(num(4)), utime: num(14), stime: num(15), cutime: num(16), cstime: num(17)}
}
