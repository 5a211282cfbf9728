package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/postgres"
	"github.com/durohost/durohost/store/postgres/pgtest"
)

// open opens a store on url and closes it at the end of the test.
func open(t testing.TB, url string, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// connect opens a plain connection to url, with search_path set to schema.
func connect(t testing.TB, url, schema string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = schema
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func startMsg(id string) store.Message {
	return store.Message{InstanceID: id, Event: history.Event{Kind: history.KindExecutionStarted, Name: "orch", Version: "1"}}
}

func eventMsg(id, data string) store.Message {
	return store.Message{InstanceID: id, Event: history.Event{Kind: history.KindEventRaised, Name: "e", Input: []byte(data)}}
}

// firstCommit is the commit of a first turn: TurnStarted + ExecutionStarted, running,
// consuming the turn's messages.
func firstCommit(turn *store.Turn) *store.Commit {
	c := &store.Commit{
		State:     store.InstanceState{Name: "orch", Version: "1", Status: store.StatusRunning},
		Execution: 1,
		History:   []history.Event{{ID: 1, Kind: history.KindTurnStarted, Time: 1}, {ID: 2, Kind: history.KindExecutionStarted, Name: "orch"}},
	}
	for _, m := range turn.Messages {
		c.Consumed = append(c.Consumed, m.ID)
	}
	return c
}

// nextCommit is the commit of a later turn that records its messages as events.
func nextCommit(turn *store.Turn) *store.Commit {
	c := &store.Commit{State: turn.Instance.InstanceState, Execution: turn.Execution}
	id := int64(turn.Events)
	for _, m := range turn.Messages {
		id++
		ev := m.Event
		ev.ID = id
		c.History = append(c.History, ev)
		c.Consumed = append(c.Consumed, m.ID)
	}
	return c
}

// create starts instance id and commits its first turn.
func create(t testing.TB, s *postgres.Store, id string) {
	t.Helper()
	ctx := context.Background()
	turn, err := s.StartInstance(ctx, startMsg(id), store.StartOptions{LockFor: time.Minute})
	if err != nil || turn == nil {
		t.Fatalf("StartInstance(%s): %v, %v", id, turn, err)
	}
	if err := s.CommitTurn(ctx, turn.Token, firstCommit(turn)); err != nil {
		t.Fatalf("CommitTurn(%s): %v", id, err)
	}
}

func TestOpenRefusesBadOptions(t *testing.T) {
	url := pgtest.NewDatabase(t)
	tests := []struct {
		name string
		url  string
		opts []postgres.Option
	}{
		{"malformed URL", "postgres://[::1", nil},
		{"schema with upper case", url, []postgres.Option{postgres.WithSchema("Durohost")}},
		{"schema with a quote", url, []postgres.Option{postgres.WithSchema(`a"b`)}},
		{"schema starting with a digit", url, []postgres.Option{postgres.WithSchema("1x")}},
		{"empty schema", url, []postgres.Option{postgres.WithSchema("")}},
		{"long schema", url, []postgres.Option{postgres.WithSchema(strings.Repeat("s", 49))}},
		{"no connections", url, []postgres.Option{postgres.WithMaxConns(0)}},
		{"no fetch connections", url, []postgres.Option{postgres.WithFetchConns(0)}},
		{"negative notify interval", url, []postgres.Option{postgres.WithNotifyInterval(-time.Second)}},
		{"no write timeout", url, []postgres.Option{postgres.WithWriteTimeout(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := postgres.Open(context.Background(), tt.url, tt.opts...)
			if err == nil {
				s.Close()
			}
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("Open: got %v, want ErrInvalid", err)
			}
		})
	}
}

func TestSchemaTooNew(t *testing.T) {
	url := pgtest.NewDatabase(t)
	s := open(t, url)
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	conn := connect(t, url, postgres.DefaultSchema)
	if _, err := conn.Exec(context.Background(), "UPDATE schema_version SET version = version + 1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("Ping after a newer migration: got %v, want ErrSchemaTooNew", err)
	}
	if s2, err := postgres.Open(context.Background(), url); !errors.Is(err, store.ErrSchemaTooNew) {
		if err == nil {
			s2.Close()
		}
		t.Fatalf("Open of a newer schema: got %v, want ErrSchemaTooNew", err)
	}
}

// TestConcurrentOpen opens one new database from several goroutines at once: the migration
// runs once and every store works.
func TestConcurrentOpen(t *testing.T) {
	url := pgtest.NewDatabase(t)
	const n = 6
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(context.Background(), url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	for i, s := range stores {
		if err := s.Enqueue(context.Background(), startMsg(fmt.Sprint("i", i))); err != nil {
			t.Fatalf("Enqueue on store %d: %v", i, err)
		}
	}
	d, err := stores[0].QueueDepths(context.Background())
	if err != nil || d.Messages != n {
		t.Fatalf("QueueDepths = %+v, %v; want %d messages", d, err, n)
	}
}

// TestSchemasAreIndependent opens two stores in two schemas of one database.
func TestSchemasAreIndependent(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a := open(t, url, postgres.WithSchema("tenant_a"))
	b := open(t, url, postgres.WithSchema("tenant_b"))
	ctx := context.Background()
	if err := a.Enqueue(ctx, startMsg("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.FetchTurn(ctx, time.Minute, nil); !errors.Is(err, store.ErrNoWork) {
		t.Fatalf("FetchTurn in the other schema: got %v, want ErrNoWork", err)
	}
	if turn, err := a.FetchTurn(ctx, time.Minute, nil); err != nil || turn.InstanceID != "x" {
		t.Fatalf("FetchTurn: %v, %v; want x's turn", turn, err)
	}
}

// TestTextRefused checks that text PostgreSQL cannot store (NUL bytes, invalid UTF-8) is
// refused with ErrInvalid, and nothing is written.
func TestTextRefused(t *testing.T) {
	s := open(t, pgtest.NewDatabase(t))
	ctx := context.Background()
	for _, id := range []string{"nul\x00id", "bad\xffutf8"} {
		err := s.Enqueue(ctx, startMsg(id))
		if !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("Enqueue(%q): got %v, want ErrInvalid", id, err)
		}
		if _, err := s.StartInstance(ctx, startMsg(id), store.StartOptions{}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("StartInstance(%q): got %v, want ErrInvalid", id, err)
		}
	}
	if d, err := s.QueueDepths(ctx); err != nil || d.Messages != 0 {
		t.Fatalf("QueueDepths = %+v, %v; want nothing queued", d, err)
	}
}

// TestCancelledReadIsNotCorrupt checks that a read cut short by its context reports the
// context's error, never ErrCorrupt.
func TestCancelledReadIsNotCorrupt(t *testing.T) {
	s := open(t, pgtest.NewDatabase(t))
	create(t, s, "a")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, call := range map[string]func() error{
		"Instance":      func() error { _, err := s.Instance(ctx, "a"); return err },
		"History":       func() error { _, err := s.History(ctx, "a", 0); return err },
		"Executions":    func() error { _, err := s.Executions(ctx, "a"); return err },
		"ListInstances": func() error { _, err := s.ListInstances(ctx, store.Filter{}); return err },
		"FetchTurn":     func() error { _, err := s.FetchTurn(ctx, time.Minute, nil); return err },
		"Enqueue":       func() error { return s.Enqueue(ctx, eventMsg("a", "x")) },
	} {
		err := call()
		if !errors.Is(err, context.Canceled) || errors.Is(err, store.ErrCorrupt) {
			t.Errorf("%s with a cancelled context: got %v, want context.Canceled", name, err)
		}
	}
	if d, err := s.QueueDepths(context.Background()); err != nil || d.Messages != 0 {
		t.Fatalf("QueueDepths = %+v, %v; want the cancelled Enqueue to have written nothing", d, err)
	}
}

// TestSlowPath commits turns whose token says the opposite of the truth about the instance
// row (the fast form of the commit then refuses, and the slow path commits), and a
// continue-as-new without events (which the fast form cannot count).
func TestSlowPath(t *testing.T) {
	s := open(t, pgtest.NewDatabase(t))
	ctx := context.Background()
	flip := func(tok string) string {
		switch tok[0] {
		case 'r':
			return "p" + tok[1:]
		case 'p':
			return "r" + tok[1:]
		}
		t.Fatalf("token %q of an unknown kind", tok)
		return ""
	}
	if err := s.Enqueue(ctx, startMsg("a")); err != nil {
		t.Fatal(err)
	}
	turn, err := s.FetchTurn(ctx, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := firstCommit(turn)
	if err := s.CommitTurn(ctx, flip(turn.Token), c); err != nil {
		t.Fatalf("first commit with a row's token: %v", err)
	}
	if c.Created.IsZero() {
		t.Fatal("the first commit did not report the row's creation time")
	}
	if err := s.Enqueue(ctx, eventMsg("a", "x")); err != nil {
		t.Fatal(err)
	}
	turn, err = s.FetchTurn(ctx, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CommitTurn(ctx, flip(turn.Token), nextCommit(turn)); err != nil {
		t.Fatalf("later commit with a pending instance's token: %v", err)
	}
	// Wrong lengths are still refused on the slow path, with the right error.
	if err := s.Enqueue(ctx, eventMsg("a", "y")); err != nil {
		t.Fatal(err)
	}
	turn, err = s.FetchTurn(ctx, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	bad := nextCommit(turn)
	bad.History[0].ID = 1
	bad.History = bad.History[:1]
	if err := s.CommitTurn(ctx, flip(turn.Token), bad); !errors.Is(err, store.ErrDuplicateEvent) {
		t.Fatalf("commit of a duplicate event on the slow path: got %v, want ErrDuplicateEvent", err)
	}
	// Continue-as-new consuming the message with no event of its own.
	can := nextCommit(turn)
	can.History = nil
	can.ContinueAsNew = true
	can.Messages = []store.Message{startMsg("a")}
	if err := s.CommitTurn(ctx, turn.Token, can); err != nil {
		t.Fatalf("continue-as-new without events: %v", err)
	}
	ex, err := s.Executions(ctx, "a")
	if err != nil || len(ex) != 2 || ex[0].Status != store.StatusContinuedAsNew || ex[0].Events != 3 || ex[1].Events != 0 {
		t.Fatalf("Executions = %+v, %v; want 1 continued as new with 3 events, then 2 empty", ex, err)
	}
}

// TestDeleteRacesMessages deletes instances while messages are sent to them: every message
// that stays queued must keep its instance's lock row, or no turn would ever take it.
func TestDeleteRacesMessages(t *testing.T) {
	url := pgtest.NewDatabase(t)
	s := open(t, url)
	ctx := context.Background()
	const rounds, senders = 200, 8
	for i := range rounds {
		id := fmt.Sprint("r", i)
		create(t, s, id)
		var wg sync.WaitGroup
		for j := range senders {
			wg.Go(func() {
				if err := s.Enqueue(ctx, eventMsg(id, fmt.Sprint(j))); err != nil {
					t.Errorf("Enqueue: %v", err)
				}
			})
		}
		wg.Go(func() {
			if err := s.DeleteInstance(ctx, id, true); err != nil {
				t.Errorf("DeleteInstance: %v", err)
			}
		})
		wg.Wait()
	}
	var orphans int
	err := connect(t, url, postgres.DefaultSchema).QueryRow(ctx, `SELECT count(*) FROM messages m
		WHERE NOT EXISTS (SELECT 1 FROM turn_locks t WHERE t.instance_id = m.instance_id)`).Scan(&orphans)
	if err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Fatalf("%d queued messages have no lock row", orphans)
	}
	// What stays queued is fetched (and dropped, as a host drops messages to no instance).
	for {
		turn, err := s.FetchTurn(ctx, time.Minute, nil)
		if errors.Is(err, store.ErrNoWork) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if turn.Instance != nil {
			t.Fatalf("turn of %s has an instance row after its deletion", turn.InstanceID)
		}
		c := &store.Commit{}
		for _, m := range turn.Messages {
			c.Consumed = append(c.Consumed, m.ID)
		}
		if err := s.CommitTurn(ctx, turn.Token, c); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWakeupsAcrossStores checks that a store is woken by the work another store (another
// host) makes visible, and that the wake-up names its kind.
func TestWakeupsAcrossStores(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a, b := open(t, url), open(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wakes, err := b.Wakeups(ctx)
	if err != nil {
		t.Fatalf("Wakeups: %v", err)
	}
	// expect waits for the kinds of want, received since the last expect.
	var got store.Wake
	expect := func(want store.Wake, after string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for got&want != want {
			select {
			case w, ok := <-wakes:
				if !ok {
					t.Fatalf("the channel closed waiting for %s after %s", want, after)
				}
				got |= w
			case <-deadline:
				t.Fatalf("store b was not woken for %s after %s by store a (got %s)", want&^got, after, got)
			}
		}
		got &^= want
	}
	create(t, a, "x") // a's StartInstance locks the turn itself: it need not wake anyone
	if err := a.Enqueue(ctx, eventMsg("x", "e")); err != nil {
		t.Fatal(err)
	}
	expect(store.WakeTurns, "a's Enqueue")
	turn, err := b.FetchTurn(ctx, time.Minute, nil)
	if err != nil || turn.InstanceID != "x" {
		t.Fatalf("b's FetchTurn after the wake-up: %v, %v; want x's turn", turn, err)
	}
	c := nextCommit(turn)
	c.History = append(c.History, history.Event{ID: c.History[len(c.History)-1].ID + 1, Kind: history.KindActivityScheduled, Name: "act"})
	c.Activities = []store.WorkItem{{ActivityRef: store.ActivityRef{InstanceID: "x", Execution: 1, EventID: c.History[len(c.History)-1].ID}, Name: "act"}}
	if err := b.CommitTurn(ctx, turn.Token, c); err != nil {
		t.Fatal(err)
	}
	expect(store.WakeActivities, "b's commit of a work item (b announces its own work too)")
	cancel()
	for range wakes { // closed once ctx ended
	}
}
