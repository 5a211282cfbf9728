package host_test

import (
	"context"
	"errors"
	"testing"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store"
)

// TestStartInNamespace: WithNamespace resolves the orchestration among the namespace's own
// registrations only, starts the instance under its key (store.Key) and records its
// namespace; the default namespace's registrations (LoadModule's) are not the namespace's.
func TestStartInNamespace(t *testing.T) {
	e := newEnv(t) // the features guest is loaded in the default namespace
	ctx := context.Background()
	if _, err := e.c.Start(ctx, "hello", []byte(`"x"`), host.WithNamespace("t1"), host.WithInstanceID("x")); !errors.Is(err, host.ErrUnknownOrchestration) {
		t.Fatalf("start in a namespace that registers nothing: %v, want ErrUnknownOrchestration", err)
	}
	register(t, e, "t1")
	key, err := e.c.Start(ctx, "hello", []byte(`"x"`), host.WithNamespace("t1"), host.WithInstanceID("x"))
	if err != nil || key != "t1/x" {
		t.Fatalf("Start = %q, %v; want the key t1/x", key, err)
	}
	if in := waitDone(t, e, key); in.ID != key || in.Namespace != "t1" || in.Status != store.StatusCompleted {
		t.Fatalf("instance = %+v, want t1/x of namespace t1, completed", in)
	}
	page, err := e.c.List(ctx, store.Filter{Namespaces: []string{"t1"}})
	if err != nil || len(page.Instances) != 1 || page.Instances[0].ID != key {
		t.Fatalf("List(t1) = %+v, %v; want t1/x alone", page, err)
	}
	// A key is one string: the default namespace's ID "t1/x" is the same key.
	if _, err := e.c.Start(ctx, "hello", []byte(`"x"`), host.WithInstanceID("t1/x")); !errors.Is(err, host.ErrInstanceExists) {
		t.Fatalf("start of the default namespace's t1/x: %v, want ErrInstanceExists", err)
	}
	if _, err := e.c.Start(ctx, "hello", nil, host.WithNamespace("a/b")); err == nil || errors.Is(err, host.ErrUnknownOrchestration) {
		t.Fatalf("start in namespace a/b: %v, want a refusal of the namespace", err)
	}
}
