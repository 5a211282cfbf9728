package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/sqlite"
)

// TestModulePinning: an instance keeps running on the module it started with; new starts use
// the latest loaded module.
func TestModulePinning(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id, err := e.c.Start(ctx, "event", nil, host.WithInstanceID("pinned"))
	must(t, err)
	waitHistory(t, e, id, history.KindEventSubscribed)
	old, err := e.c.Status(ctx, id)
	must(t, err)
	// The same code linked without symbols: other bytes, another hash.
	m2, err := e.h.LoadModule(ctx, testguest.Build(t, featuresGuest, "-s"))
	must(t, err)
	if m2.Hash == old.ModuleHash {
		t.Fatal("the rebuilt module has the same hash")
	}
	must(t, e.c.RaiseEvent(ctx, id, "approve", []byte(`1`)))
	in, err := e.c.Wait(ctx, id)
	must(t, err)
	if in.Status != store.StatusCompleted || in.ModuleHash != old.ModuleHash {
		t.Fatalf("pinned instance: %v on %s, want completed on %s", in.Status, in.ModuleHash, old.ModuleHash)
	}
	fresh := e.run("hello", `"x"`)
	if fresh.ModuleHash != m2.Hash {
		t.Fatalf("new start on %s, want the latest module %s", fresh.ModuleHash, m2.Hash)
	}
}

// TestUnregisteredOrchestration: a start for an orchestration no module registers is retried
// with backoff, then fails with DH-UNREGISTERED-001.
func TestUnregisteredOrchestration(t *testing.T) {
	e := newEnv(t, host.WithMaxAttempts(3), host.WithRetryBase(time.Millisecond))
	ctx := context.Background()
	must(t, e.st.Enqueue(ctx, store.Message{InstanceID: "u1", Event: history.Event{Kind: history.KindExecutionStarted, Name: "nobody"}}))
	e.h.Client() // the host's client wakes the dispatchers; the store enqueue polls
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	in, err := e.c.Wait(wctx, "u1")
	must(t, err)
	if in.Status != store.StatusFailed || in.Failure == nil || in.Failure.Code != abi.CodeUnregistered {
		t.Fatalf("%v %+v", in.Status, in.Failure)
	}
}

// TestQueueMessageForMissingInstanceIsDropped: the client refuses messages to an instance
// that does not exist (ErrNotFound); messages that reach the store anyway (the instance was
// deleted meanwhile) are consumed without creating it.
func TestQueueMessageForMissingInstanceIsDropped(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for name, send := range map[string]func() error{
		"enqueue": func() error { return e.c.Enqueue(ctx, "ghost", "q", []byte(`1`)) },
		"raise":   func() error { return e.c.RaiseEvent(ctx, "ghost", "e", []byte(`1`)) },
		"cancel":  func() error { return e.c.Cancel(ctx, "ghost", "") },
	} {
		if err := send(); !errors.Is(err, host.ErrNotFound) || !strings.Contains(err.Error(), `"ghost"`) {
			t.Errorf("%s to a missing instance: %v, want ErrNotFound naming it", name, err)
		}
	}
	for _, kind := range []history.Kind{history.KindQueueMessage, history.KindEventRaised} {
		must(t, e.st.Enqueue(ctx, store.Message{InstanceID: "ghost", Event: history.Event{Kind: kind, Name: "q", Input: []byte(`1`), Time: time.Now().UnixNano()}}))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := e.st.QueueDepths(ctx)
		must(t, err)
		if d.Messages == 0 && d.LockedInstances == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("messages never consumed: %+v", d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := e.c.Status(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("status of ghost: %v, want not found", err)
	}
}

// TestLongActivityKeepsItsLock: an activity running longer than the lock timeout renews its
// lock and runs once.
func TestLongActivityKeepsItsLock(t *testing.T) {
	e := newEnv(t, host.WithLockTimeout(300*time.Millisecond), host.WithActivityRenewInterval(50*time.Millisecond))
	var runs atomic.Int32
	must(t, e.h.RegisterActivity("a", func(ctx context.Context, _ []byte) ([]byte, error) {
		runs.Add(1)
		select {
		case <-time.After(600 * time.Millisecond): // twice the lock timeout, less than the 1 s timer
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return []byte(`1`), nil
	}))
	in := e.run("select_activity", `null`)
	if in.Status != store.StatusCompleted || string(in.Output) != `"activity"` {
		t.Fatalf("%v %s %+v", in.Status, in.Output, in.Failure)
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("activity ran %d times, want 1", n)
	}
}

// failingStore fails every CommitTurn of one instance, as a host that crashes mid-commit would.
type failingStore struct {
	store.Store
	id string
}

func (f failingStore) CommitTurn(ctx context.Context, token string, c *store.Commit) error {
	if len(c.Activities) > 0 && c.Activities[0].InstanceID == f.id {
		return errors.New("injected commit failure")
	}
	return f.Store.CommitTurn(ctx, token, c)
}

// TestPoisonMessage: a message whose turn never commits is delivered MaxAttempts times, then
// the instance fails with DH-POISON-001 naming the message.
func TestPoisonMessage(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "p.db"))
	must(t, err)
	defer st.Close()
	h, err := host.New(failingStore{st, "poison1"}, host.WithMaxAttempts(3), host.WithCompilationCache(cacheDir))
	must(t, err)
	defer h.Stop(context.Background())
	_, err = h.LoadModule(context.Background(), testguest.Build(t, featuresGuest, ""))
	must(t, err)
	must(t, h.RegisterActivity("greet", func(context.Context, []byte) ([]byte, error) { return []byte(`"x"`), nil }))
	must(t, h.Start())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := h.Client().Start(ctx, "hello", []byte(`"p"`), host.WithInstanceID("poison1"))
	must(t, err)
	in, err := h.Client().Wait(ctx, id)
	must(t, err)
	if in.Status != store.StatusFailed || in.Failure == nil || in.Failure.Code != abi.CodePoison || !strings.Contains(in.Failure.Message, "execution_started") {
		t.Fatalf("%v %+v", in.Status, in.Failure)
	}
}

// TestTwoHostsShareOneStore: two hosts on one store complete a fan-out together without
// processing a turn twice.
func TestTwoHostsShareOneStore(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "shared.db"))
	must(t, err)
	defer st.Close()
	var hosts []*host.Host
	var perHost [2]atomic.Int32
	for k := range 2 {
		h, err := host.New(st, host.WithCompilationCache(cacheDir), host.WithActivityWorkers(4))
		must(t, err)
		defer h.Stop(context.Background())
		_, err = h.LoadModule(context.Background(), testguest.Build(t, featuresGuest, ""))
		must(t, err)
		must(t, h.RegisterActivity("step", func(_ context.Context, in []byte) ([]byte, error) {
			perHost[k].Add(1)
			time.Sleep(time.Millisecond)
			return in, nil
		}))
		must(t, h.Start())
		hosts = append(hosts, h)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var ids []string
	for range 6 {
		id, err := hosts[0].Client().Start(ctx, "fanout", []byte(`30`))
		must(t, err)
		ids = append(ids, id)
	}
	for _, id := range ids {
		in, err := hosts[1].Client().Wait(ctx, id)
		must(t, err)
		var out []int
		if in.Status != store.StatusCompleted || json.Unmarshal(in.Output, &out) != nil || len(out) != 30 {
			t.Fatalf("%s: %v %s", id, in.Status, in.Output)
		}
		hist, err := st.History(ctx, id, 0)
		must(t, err)
		scheduled := map[string]int{}
		for k, ev := range hist {
			if ev.ID != int64(k+1) {
				t.Fatalf("%s: event %d has ID %d", id, k+1, ev.ID)
			}
			if ev.Kind == history.KindActivityScheduled {
				scheduled[string(ev.Input)]++
			}
		}
		for in, n := range scheduled {
			if n != 1 {
				t.Fatalf("%s: step %s scheduled %d times", id, in, n)
			}
		}
	}
	if perHost[0].Load() == 0 || perHost[1].Load() == 0 {
		t.Logf("work split %d/%d (one host took everything)", perHost[0].Load(), perHost[1].Load())
	}
}

// TestWaitTimeout: Wait returns the context's error when the instance does not end in time.
func TestWaitTimeout(t *testing.T) {
	e := newEnv(t)
	id, err := e.c.Start(context.Background(), "event", nil)
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := e.c.Wait(ctx, id); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

// TestChildrenRunOnTheParentsModule: a sub-orchestration registered by the parent's module runs
// on that module, even when another module registering it was loaded since.
func TestChildrenRunOnTheParentsModule(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	st, err := e.c.Status(ctx, e.run("hello", `"warm-up"`).ID)
	must(t, err)
	first := st.ModuleHash
	m2, err := e.h.LoadModule(ctx, testguest.Build(t, featuresGuest, "-s"))
	must(t, err)
	if m2.Hash == first {
		t.Fatal("the rebuilt module has the same hash")
	}
	in := e.run("child", `"kid"`, host.WithInstanceID("parent-pinned"), host.WithModuleHash(first))
	if in.Status != store.StatusCompleted || in.ModuleHash != first {
		t.Fatalf("parent: %v on %s", in.Status, in.ModuleHash)
	}
	tree, err := e.c.Tree(ctx, "parent-pinned")
	must(t, err)
	if len(tree.Children) != 1 || tree.Children[0].Instance.ModuleHash != first {
		t.Fatalf("child runs on %+v, want the parent's module %s", tree.Children, first)
	}
}

// TestHistoryOptions: Client.History returns every event, or only the decisions, or every
// event but the turn markers; events keep their IDs.
func TestHistoryOptions(t *testing.T) {
	e := newEnv(t)
	in := e.run("sequence", `2`)
	if in.Status != host.StatusCompleted {
		t.Fatalf("%v %+v", in.Status, in.Failure)
	}
	ctx := context.Background()
	all, err := e.c.History(ctx, in.ID, 0)
	must(t, err)
	tests := []struct {
		name string
		opts []host.HistoryOption
		keep func(history.Kind) bool
	}{
		{"all", nil, func(history.Kind) bool { return true }},
		{"decisions", []host.HistoryOption{host.DecisionsOnly()}, history.Kind.IsDecision},
		{"without turns", []host.HistoryOption{host.WithoutTurnMarkers()}, func(k history.Kind) bool { return k != history.KindTurnStarted }},
		{"both", []host.HistoryOption{host.WithoutTurnMarkers(), host.DecisionsOnly()}, history.Kind.IsDecision},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.c.History(ctx, in.ID, 0, tt.opts...)
			must(t, err)
			var want []int64
			for _, ev := range all {
				if tt.keep(ev.Kind) {
					want = append(want, ev.ID)
				}
			}
			var ids []int64
			for _, ev := range got {
				ids = append(ids, ev.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(want) || len(want) == 0 {
				t.Fatalf("event IDs %v, want %v", ids, want)
			}
		})
	}
	if len(all) == 0 || all[0].Kind != history.KindTurnStarted {
		t.Fatalf("the full history does not start with a turn marker: %v", all)
	}
}

// TestStartVersion: WithOrchestrationVersion starts the version it names (and WithVersion,
// its deprecated former name, too); without it the highest version runs.
func TestStartVersion(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		opts []host.StartOption
		want string
	}{
		{"highest", nil, `"v2"`},
		{"WithOrchestrationVersion", []host.StartOption{host.WithOrchestrationVersion("1")}, `"v1"`},
		{"WithVersion", []host.StartOption{host.WithVersion("1")}, `"v1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := e.run("versioned", `null`, tt.opts...)
			if in.Status != host.StatusCompleted || string(in.Output) != tt.want {
				t.Fatalf("%v %s %+v, want %s", in.Status, in.Output, in.Failure, tt.want)
			}
		})
	}
	if _, err := e.c.Start(context.Background(), "versioned", nil, host.WithOrchestrationVersion("3")); !errors.Is(err, host.ErrUnknownOrchestration) {
		t.Fatalf("start of a version no module registers: %v, want ErrUnknownOrchestration", err)
	}
}
