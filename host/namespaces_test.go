package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/host/builtin"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store"
)

// register puts the features guest in namespace ns, registering hello and event.
func register(t *testing.T, e *env, ns string) {
	t.Helper()
	_, err := e.st.PutModule(context.Background(), store.ModulePut{Namespace: ns,
		Wasm: testguest.Build(t, featuresGuest, ""),
		Registrations: []store.Registration{
			{Kind: store.RegistrationOrchestration, Name: "hello", Version: "sha256:0123456789abcdef"},
			{Kind: store.RegistrationOrchestration, Name: "event", Version: "sha256:0123456789abcdef"},
		}})
	if err != nil {
		t.Fatal(err)
	}
}

func waitDone(t *testing.T, e *env, key string) *store.Instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in, err := e.c.Wait(ctx, key)
	if err != nil {
		t.Fatalf("wait %s: %v", key, err)
	}
	return in
}

// TestNamespaceActivityAllowList: a namespace whose policy does not list an activity cannot
// call it: to it, the activity is not registered (retried as unregistered, then the
// orchestration fails); a namespace that lists it, and the default namespace, can.
func TestNamespaceActivityAllowList(t *testing.T) {
	var calls atomic.Int32
	e := newEnv(t, host.WithMaxAttempts(2), host.WithRetryBase(time.Millisecond),
		host.WithNamespacePolicy(func(ns string) host.NamespacePolicy {
			switch ns {
			case "locked":
				return host.NamespacePolicy{Activities: []string{"step"}}
			case "open":
				return host.NamespacePolicy{Activities: []string{"greet", "step"}}
			}
			return host.NamespacePolicy{}
		}))
	must(t, e.h.RegisterActivity("greet", func(context.Context, []byte) ([]byte, error) {
		calls.Add(1)
		return []byte(`"hi"`), nil
	}))
	for _, ns := range []string{"locked", "open"} {
		register(t, e, ns)
	}
	ctx := context.Background()
	locked, err := e.c.Start(ctx, "hello", []byte(`"x"`), host.WithNamespace("locked"))
	must(t, err)
	in := waitDone(t, e, locked)
	if in.Status != store.StatusFailed || in.Failure == nil || in.Failure.Code != abi.CodeUnregistered ||
		!strings.Contains(in.Failure.Message, `"greet"`) || !strings.Contains(in.Failure.Message, `namespace "locked"`) {
		t.Fatalf("locked namespace: %v %+v, want the orchestration failed on an unregistered greet", in.Status, in.Failure)
	}
	if calls.Load() != 0 {
		t.Fatalf("the activity ran %d times for a namespace that may not call it", calls.Load())
	}
	for _, o := range [][]host.StartOption{{host.WithNamespace("open")}, nil} {
		key, err := e.c.Start(ctx, "hello", []byte(`"x"`), o...)
		must(t, err)
		if in := waitDone(t, e, key); in.Status != store.StatusCompleted {
			t.Fatalf("%s: %v %+v", key, in.Status, in.Failure)
		}
	}
	if calls.Load() != 2 {
		t.Fatalf("greet ran %d times, want 2", calls.Load())
	}
}

// TestNamespaceHTTPHosts: the built-in http activity contacts, for an instance of a namespace,
// only the hosts of that namespace's policy.
func TestNamespaceHTTPHosts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "pong") }))
	defer srv.Close()
	e := newEnv(t, host.WithNamespacePolicy(func(ns string) host.NamespacePolicy {
		if ns == "near" {
			return host.NamespacePolicy{HTTPHosts: []string{"127.0.0.1"}}
		}
		return host.NamespacePolicy{HTTPHosts: []string{"example.org"}}
	}))
	acts, err := builtin.Activities(builtin.Config{AllowHTTP: []string{"127.0.0.1"}})
	must(t, err)
	// hello calls greet with its input, a URL here: greet asks http for it.
	must(t, e.h.RegisterActivity("greet", func(ctx context.Context, in []byte) ([]byte, error) {
		var url string
		if err := json.Unmarshal(in, &url); err != nil {
			return nil, err
		}
		return acts["http"](ctx, []byte(fmt.Sprintf(`{"url": %q}`, url)))
	}))
	input := []byte(fmt.Sprintf("%q", srv.URL))
	for _, ns := range []string{"near", "far"} {
		register(t, e, ns)
		key, err := e.c.Start(context.Background(), "hello", input, host.WithNamespace(ns))
		must(t, err)
		in := waitDone(t, e, key)
		switch ns {
		case "near":
			if in.Status != store.StatusCompleted || !strings.Contains(string(in.Output), "pong") {
				t.Fatalf("near: %v %s %+v", in.Status, in.Output, in.Failure)
			}
		case "far":
			if in.Status != store.StatusFailed || in.Failure == nil || !strings.Contains(in.Failure.Message, "not allowed") ||
				!strings.Contains(in.Failure.Message, `namespace "far"`) {
				t.Fatalf("far: %v %+v, want the host refused", in.Status, in.Failure)
			}
		}
	}
}

// TestNamespaceInstanceQuota: Client.Start refuses a start beyond the namespace's
// MaxInstances (unfinished instances, pending ones included) with ErrQuota; other namespaces
// are not affected.
func TestNamespaceInstanceQuota(t *testing.T) {
	e := newEnv(t, host.WithNamespacePolicy(func(ns string) host.NamespacePolicy {
		if ns == "small" {
			return host.NamespacePolicy{MaxInstances: 2}
		}
		return host.NamespacePolicy{}
	}))
	register(t, e, "small")
	register(t, e, "big")
	ctx := context.Background()
	for i := range 2 { // event waits for an event: the instances stay unfinished
		_, err := e.c.Start(ctx, "event", []byte(`"go"`), host.WithNamespace("small"), host.WithInstanceID(fmt.Sprint("s", i)))
		must(t, err)
	}
	if _, err := e.c.Start(ctx, "event", []byte(`"go"`), host.WithNamespace("small"), host.WithInstanceID("s2")); !errors.Is(err, host.ErrQuota) {
		t.Fatalf("third start: %v, want ErrQuota", err)
	}
	for i := range 3 {
		_, err := e.c.Start(ctx, "event", []byte(`"go"`), host.WithNamespace("big"), host.WithInstanceID(fmt.Sprint("b", i)))
		must(t, err)
	}
	// Once one ends, there is room again.
	must(t, e.c.Cancel(ctx, store.Key("small", "s0"), "done"))
	waitDone(t, e, store.Key("small", "s0"))
	_, err := e.c.Start(ctx, "event", []byte(`"go"`), host.WithNamespace("small"), host.WithInstanceID("s3"))
	must(t, err)
}

// TestNamespaceConcurrentTurns: with MaxConcurrentTurns 1, a namespace's instances all
// complete: their turns wait in the queue for the namespace's slot (the gate itself is tested
// in the runtime's package).
func TestNamespaceConcurrentTurns(t *testing.T) {
	e := newEnv(t, host.WithNamespacePolicy(func(ns string) host.NamespacePolicy {
		return host.NamespacePolicy{MaxConcurrentTurns: 1}
	}))
	register(t, e, "one")
	ctx := context.Background()
	var keys []string
	for i := range 8 {
		key, err := e.c.Start(ctx, "hello", []byte(`"x"`), host.WithNamespace("one"), host.WithInstanceID(fmt.Sprint(i)))
		must(t, err)
		keys = append(keys, key)
	}
	for _, key := range keys {
		if in := waitDone(t, e, key); in.Status != store.StatusCompleted {
			t.Fatalf("%s: %v %+v", key, in.Status, in.Failure)
		}
	}
}

// TestStartRecordsVersion: an instance started without a version runs the version the
// registry resolved, and its status says which.
func TestStartRecordsVersion(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	key, err := e.c.Start(ctx, "versioned", []byte(`null`))
	must(t, err)
	in := waitDone(t, e, key)
	info, err := e.st.ResolveModule(ctx, "", store.RegistrationOrchestration, "versioned", "")
	must(t, err)
	if in.Version == "" || in.Version != info.Version {
		t.Fatalf("instance runs version %q, the registry resolved %q", in.Version, info.Version)
	}
	// An orchestration registered without a version has none to record.
	key, err = e.c.Start(ctx, "hello", []byte(`"x"`))
	must(t, err)
	if in := waitDone(t, e, key); in.Version != "" {
		t.Fatalf("hello runs version %q, want none", in.Version)
	}
}

// TestReplayInNamespace: a namespaced instance whose code names a child replays against its
// history only in its namespace, where the child's ID was scoped when it ran.
func TestReplayInNamespace(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	wasm := testguest.Build(t, featuresGuest, "")
	_, err := e.st.PutModule(ctx, store.ModulePut{Namespace: "t", Wasm: wasm, Registrations: []store.Registration{
		{Kind: store.RegistrationOrchestration, Name: "child_named", Version: "sha256:0123456789abcdef"},
		{Kind: store.RegistrationOrchestration, Name: "hello", Version: "sha256:0123456789abcdef"},
	}})
	must(t, err)
	key, err := e.c.Start(ctx, "child_named", []byte(`"kid"`), host.WithNamespace("t"), host.WithInstanceID("p"))
	must(t, err)
	if in := waitDone(t, e, key); in.Status != store.StatusCompleted {
		t.Fatalf("%v %+v", in.Status, in.Failure)
	}
	if _, err := e.c.Status(ctx, store.Key("t", "kid")); err != nil {
		t.Fatalf("the child is not t/kid: %v", err)
	}
	events, err := e.c.History(ctx, key, 1)
	must(t, err)
	if d, err := e.h.Replay(ctx, wasm, key, 1, events, host.InNamespace("t")); err != nil || d != nil {
		t.Fatalf("replay in its namespace: %v %v", d, err)
	}
	if d, err := e.h.Replay(ctx, wasm, key, 1, events); err != nil || d == nil || d.Code != abi.CodeCommandMismatch {
		t.Fatalf("replay in the default namespace: %v %v, want the child's ID to differ", d, err)
	}
}
