package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/sqlite"
)

const featuresGuest = "conformance/guests/go"

type env struct {
	t  *testing.T
	st *sqlite.Store
	h  *host.Host
	c  *host.Client
}

// newEnv opens a SQLite store in a temp dir, a host with the features guest loaded and the
// activities the guest calls, and starts it.
func newEnv(t *testing.T, opts ...host.Option) *env {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]host.Option{host.WithCompilationCache(cacheDir), host.WithLockTimeout(5 * time.Second)}, opts...)
	h, err := host.New(st, opts...)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, h: h, c: h.Client()}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.Stop(ctx)
		st.Close()
	})
	if _, err := h.LoadModule(context.Background(), testguest.Build(t, featuresGuest, "")); err != nil {
		t.Fatal(err)
	}
	must(t, h.RegisterActivity("greet", func(_ context.Context, in []byte) ([]byte, error) {
		var s string
		json.Unmarshal(in, &s)
		return json.Marshal("Hello, " + s + "!")
	}))
	must(t, h.RegisterActivity("step", func(_ context.Context, in []byte) ([]byte, error) {
		return []byte(`"step-` + string(in) + `"`), nil
	}))
	must(t, h.Start())
	return e
}

// cacheDir holds compiled modules for every host of the package's tests.
var cacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "durohost-host-test-")
	if err != nil {
		panic(err)
	}
	cacheDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) run(name, input string, opts ...host.StartOption) *store.Instance {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := e.c.Start(ctx, name, []byte(input), opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	in, err := e.c.Wait(ctx, id)
	if err != nil {
		e.t.Fatalf("wait %s: %v", id, err)
	}
	return in
}

func TestHello(t *testing.T) {
	e := newEnv(t)
	in := e.run("hello", `"World"`, host.WithInstanceID("h1"))
	if in.Status != store.StatusCompleted || string(in.Output) != `"Hello, World!"` {
		t.Fatalf("%v %s %+v", in.Status, in.Output, in.Failure)
	}
	hist, err := e.c.History(context.Background(), "h1", 0)
	must(t, err)
	if hist[len(hist)-1].Kind != history.KindExecutionCompleted {
		t.Fatalf("last event %v", hist[len(hist)-1].Kind)
	}
	if in.ModuleHash == "" {
		t.Error("instance does not pin a module hash")
	}
}

func TestSemantics(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	t.Run("fanout", func(t *testing.T) {
		in := e.run("fanout", `20`)
		var out []string
		json.Unmarshal(in.Output, &out)
		if len(out) != 20 || out[0] != "step-0" || out[19] != "step-19" {
			t.Fatalf("%s", in.Output)
		}
	})
	t.Run("sub-orchestration", func(t *testing.T) {
		in := e.run("child", `"kid"`, host.WithInstanceID("p1"))
		if string(in.Output) != `"Hello, kid!"` {
			t.Fatalf("%v %s %+v", in.Status, in.Output, in.Failure)
		}
		tree, err := e.c.Tree(ctx, "p1")
		must(t, err)
		if len(tree.Children) != 1 || tree.Children[0].Instance.ParentID != "p1" {
			t.Fatalf("tree %+v", tree)
		}
	})
	t.Run("continue as new", func(t *testing.T) {
		in := e.run("continue", `0`, host.WithInstanceID("c1"))
		if string(in.Output) != `3` || in.Execution != 4 {
			t.Fatalf("%v %s exec %d", in.Status, in.Output, in.Execution)
		}
		execs, err := e.c.Executions(ctx, "c1")
		must(t, err)
		if len(execs) != 4 || execs[0].Status != store.StatusContinuedAsNew {
			t.Fatalf("executions %+v", execs)
		}
	})
	t.Run("external event", func(t *testing.T) {
		id, err := e.c.Start(ctx, "event", []byte(`null`), host.WithInstanceID("ev1"))
		must(t, err)
		waitHistory(t, e, id, history.KindEventSubscribed)
		must(t, e.c.RaiseEvent(ctx, id, "approve", []byte(`"yes"`)))
		in, err := e.c.Wait(ctx, id)
		must(t, err)
		if string(in.Output) != `"yes"` {
			t.Fatalf("%v %s", in.Status, in.Output)
		}
		// Ignored after completion.
		must(t, e.c.RaiseEvent(ctx, id, "approve", []byte(`"late"`)))
	})
	t.Run("timer", func(t *testing.T) {
		in := e.run("timer", `20`)
		if in.Status != store.StatusCompleted {
			t.Fatalf("%v %+v", in.Status, in.Failure)
		}
	})
	t.Run("duplicate start", func(t *testing.T) {
		e.run("hello", `"a"`, host.WithInstanceID("dup"))
		_, err := e.c.Start(ctx, "hello", []byte(`"b"`), host.WithInstanceID("dup"))
		if !errors.Is(err, host.ErrInstanceExists) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("concurrent starts of one ID", func(t *testing.T) {
		const n = 8
		errs := make(chan error, n)
		for i := range n {
			go func() {
				_, err := e.c.Start(ctx, "hello", fmt.Appendf(nil, `"%d"`, i), host.WithInstanceID("race"))
				errs <- err
			}()
		}
		ok := 0
		for range n {
			switch err := <-errs; {
			case err == nil:
				ok++
			case !errors.Is(err, host.ErrInstanceExists):
				t.Fatalf("Start: %v, want nil or ErrInstanceExists", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d starts succeeded, want exactly 1", ok)
		}
		in, err := e.c.Wait(ctx, "race")
		must(t, err)
		if in.Status != store.StatusCompleted {
			t.Fatalf("%v %+v", in.Status, in.Failure)
		}
	})
	t.Run("unknown orchestration", func(t *testing.T) {
		_, err := e.c.Start(ctx, "nope", nil)
		if !errors.Is(err, host.ErrUnknownOrchestration) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestCancelRunningInstance(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	started := make(chan struct{})
	cancelled := make(chan struct{})
	must(t, e.h.RegisterActivity("a", func(ctx context.Context, _ []byte) ([]byte, error) {
		close(started)
		<-ctx.Done()
		close(cancelled)
		return nil, ctx.Err()
	}))
	id, err := e.c.Start(ctx, "select_activity", nil, host.WithInstanceID("cx"))
	must(t, err)
	<-started
	must(t, e.c.Cancel(ctx, id, "test"))
	wctx, stop := context.WithTimeout(ctx, 20*time.Second)
	defer stop()
	in, err := e.c.Wait(wctx, id)
	must(t, err)
	if in.Status != store.StatusCancelled {
		t.Fatalf("status %v", in.Status)
	}
	select {
	case <-cancelled:
	case <-wctx.Done():
		t.Fatal("the running activity's context was not cancelled")
	}
}

func TestUnregisteredActivityThenPoison(t *testing.T) {
	e := newEnv(t, host.WithMaxAttempts(3), host.WithRetryBase(time.Millisecond))
	in := e.run("activity_fail", `null`)
	if in.Status != store.StatusFailed || in.Failure == nil || !strings.Contains(in.Failure.Message, abi.CodeUnregistered) && !strings.Contains(in.Failure.Message, "no host registers activity") {
		t.Fatalf("%v %+v", in.Status, in.Failure)
	}
}

// TestFailUnregistered: with WithFailUnregistered, a call to an activity no function of the
// host handles fails at once, naming the activities there are, and so does the start of an
// orchestration no module registers, instead of waiting out the backoff (here ten minutes,
// longer than the test may take).
func TestFailUnregistered(t *testing.T) {
	e := newEnv(t, host.WithFailUnregistered(), host.WithRetryBase(10*time.Minute))
	in := e.run("activity_fail", `null`)
	if in.Status != store.StatusFailed || in.Failure == nil || in.Failure.Code != abi.CodeUnregistered ||
		!strings.Contains(in.Failure.Message, `activity "fails" is not registered: the activities are greet, step`) {
		t.Fatalf("%v %+v, want a failure naming the unregistered activity and the registered ones", in.Status, in.Failure)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	must(t, e.st.Enqueue(ctx, store.Message{InstanceID: "u1", Event: history.Event{Kind: history.KindExecutionStarted, Name: "nobody", Time: time.Now().UnixNano()}}))
	in, err := e.c.Wait(ctx, "u1")
	must(t, err)
	if in.Status != store.StatusFailed || in.Failure == nil || in.Failure.Code != abi.CodeUnregistered ||
		!strings.Contains(in.Failure.Message, `no module registers orchestration "nobody"`) {
		t.Fatalf("%v %+v, want a failure naming the unregistered orchestration", in.Status, in.Failure)
	}
}

func waitHistory(t *testing.T, e *env, id string, kind history.Kind) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		hist, _ := e.c.History(context.Background(), id, 0)
		for _, ev := range hist {
			if ev.Kind == kind {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s never recorded %v", id, kind)
}

// TestStartsDuringStop: instances started while the host stops are neither lost nor run
// after it stopped: each start either committed (and a later host runs it) or failed.
func TestStartsDuringStop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.db")
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	wasm := testguest.Build(t, featuresGuest, "")
	newHost := func() *host.Host {
		h, err := host.New(st, host.WithCompilationCache(cacheDir), host.WithLockTimeout(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.LoadModule(context.Background(), wasm); err != nil {
			t.Fatal(err)
		}
		must(t, h.RegisterActivity("greet", func(_ context.Context, in []byte) ([]byte, error) { return in, nil }))
		must(t, h.Start())
		return h
	}
	var started []string
	for round := range 5 {
		h := newHost()
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				id := fmt.Sprintf("r%d-%d", round, i)
				if _, err := h.Client().Start(context.Background(), "hello", []byte(`"x"`), host.WithInstanceID(id)); err == nil {
					mu.Lock()
					started = append(started, id)
					mu.Unlock()
				}
			})
			if i == 10 {
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					h.Stop(ctx)
				}()
			}
		}
		wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		h.Stop(ctx)
		cancel()
	}
	h := newHost()
	defer h.Stop(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, id := range started {
		in, err := h.Client().Wait(ctx, id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if in.Status != store.StatusCompleted {
			t.Fatalf("%s: %v %+v", id, in.Status, in.Failure)
		}
	}
	if len(started) == 0 {
		t.Fatal("no start succeeded")
	}
	t.Logf("%d instances started around a stop, all completed", len(started))
}
