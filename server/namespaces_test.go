package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store"
)

// TestChildrenNeverResolveInAnotherNamespace: a guest of namespace a that starts a child by a
// name only b registers, or by b's old prefixed form "b/<name>", does not run b's module, nor
// the default namespace's registration of the name (the host does not share its registry):
// the child fails as unregistered, and nothing in the failure names b's orchestrations or
// module.
func TestChildrenNeverResolveInAnotherNamespace(t *testing.T) {
	// Few, quick attempts: an unregistered child fails in milliseconds.
	e := newEnvWith(t, envConfig{hostOpts: []host.Option{host.WithMaxAttempts(3), host.WithRetryBase(5 * time.Millisecond)}})
	e.upload(tokA, "parent", "1", goGuest(t))
	hello := e.upload(tokB, "greeter", "1", wat(t, "hello.wasm"))
	if _, err := e.h.LoadModule(t.Context(), wat(t, "hello.wasm")); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"wat_hello", "b/wat_hello"} {
		id := fmt.Sprintf("p%d", i)
		e.start(tokA, "sc_child", id, map[string]any{"name": name})
		out := e.wait(tokA, id)
		parentFailure := fmt.Sprint(out["failure"])
		if out["status"] != "failed" || !strings.Contains(parentFailure, abi.CodeUnregistered) {
			t.Fatalf("child %q of a: parent = %v, want it failed by the child's %s failure", name, out, abi.CodeUnregistered)
		}
		tree := e.expect(tokA, "GET", "/v1/instances/"+id+"/tree", nil, http.StatusOK, "").obj(t)
		kids, _ := tree["children"].([]any)
		if len(kids) != 1 {
			t.Fatalf("tree of %s = %v", id, tree)
		}
		child := kids[0].(map[string]any)
		failure := fmt.Sprint(child["failure"])
		if child["status"] != "failed" || child["module_hash"] == hello["hash"] {
			t.Fatalf("child %q of a = %v, want failed and not on b's module", name, child)
		}
		for _, leak := range []string{hello["hash"].(string), "greeter", `"b"`, "namespace b"} {
			if strings.Contains(failure, leak) || strings.Contains(parentFailure, leak) {
				t.Fatalf("child %q of a: the failure mentions %q of namespace b: %s / %s", name, leak, failure, parentFailure)
			}
		}
	}
	// b's namespace holds none of it.
	if l := e.expect(tokB, "GET", "/v1/instances", nil, http.StatusOK, "").obj(t)["instances"].([]any); len(l) != 0 {
		t.Fatalf("b lists %v", l)
	}
}

// TestDefaultNamespaceIsNotATenant: an instance the embedder starts in the default namespace
// under a key that looks like one of namespace a ("a/<id>") is not a's: a can neither see,
// list, signal nor delete it.
func TestDefaultNamespaceIsNotATenant(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	if _, err := e.h.LoadModule(ctx, wat(t, "hello.wasm")); err != nil {
		t.Fatal(err)
	}
	key, err := e.h.Client().Start(ctx, "wat_hello", nil, host.WithInstanceID("a/lookalike"))
	must(t, err)
	in, err := e.h.Client().Wait(ctx, key)
	must(t, err)
	if in.Namespace != "" || in.Status != store.StatusCompleted {
		t.Fatalf("embedder's instance = %+v, want completed in the default namespace", in)
	}
	for _, ep := range instanceEndpoints("lookalike") {
		e.expect(tokA, ep.method, ep.path, ep.body, http.StatusNotFound, CodeInstanceNotFound)
	}
	if l := e.expect(tokA, "GET", "/v1/instances", nil, http.StatusOK, "").obj(t)["instances"].([]any); len(l) != 0 {
		t.Fatalf("a lists %v", l)
	}
	if n := e.expect(tokA, "DELETE", "/v1/instances", nil, http.StatusOK, "").obj(t)["deleted"]; n != float64(0) {
		t.Fatalf("a purged %v", n)
	}
	if _, err := e.st.Instance(ctx, "a/lookalike"); err != nil {
		t.Fatalf("the embedder's instance after a's calls: %v", err)
	}
	// The host's own registrations are not a's either.
	e.expect(tokA, "POST", "/v1/instances", map[string]any{"name": "wat_hello"}, http.StatusNotFound, CodeUnknownOrchestration)
	if l := e.expect(tokA, "GET", "/v1/orchestrations", nil, http.StatusOK, "").obj(t)["orchestrations"].([]any); len(l) != 0 {
		t.Fatalf("a lists orchestrations %v", l)
	}
}

// TestModuleBytesPerNamespace: two namespaces upload the same bytes; each deletes its own
// registrations, in one store call (a module version with the namespace's orchestrations of
// its bytes, unless another version of the namespace has them), and an instance pins the
// bytes only for its own namespace.
func TestModuleBytesPerNamespace(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	hello := wat(t, "hello.wasm")
	hash := e.upload(tokA, "x", "1", hello)["hash"].(string)
	e.upload(tokA, "y", "1", hello)
	e.upload(tokB, "z", "1", hello)

	// Another version of a has the bytes: deleting x keeps a's orchestrations.
	e.expect(tokA, "DELETE", "/v1/modules/x/versions/1", nil, http.StatusNoContent, "")
	orchs := func(ns string) int {
		regs, err := e.st.ListModules(ctx, store.ModuleFilter{Namespaces: []string{ns}, Kind: store.RegistrationOrchestration, Hash: hash})
		must(t, err)
		return len(regs)
	}
	if orchs("a") != 1 {
		t.Fatalf("a's orchestrations after deleting x: %d, want wat_hello kept for y", orchs("a"))
	}

	// An instance of a pins the bytes for a; b's delete does not ask a's instances.
	must(t, e.h.RegisterActivity("greet", e.block))
	id := e.start(tokA, "wat_hello", "pinning", nil)
	e.waitFor(tokA, id, "running", func(m map[string]any) bool { return m["status"] == "running" })
	e.expect(tokA, "DELETE", "/v1/modules/y/versions/1", nil, http.StatusConflict, CodeModulePinned)
	e.expect(tokA, "GET", "/v1/modules/y/versions/1", nil, http.StatusOK, "")
	if orchs("a") != 1 {
		t.Fatalf("a's orchestrations after a refused delete: %d, want 1", orchs("a"))
	}
	e.expect(tokB, "DELETE", "/v1/modules/z/versions/1", nil, http.StatusNoContent, "")
	if orchs("b") != 0 {
		t.Fatalf("b's orchestrations after deleting z: %d, want 0", orchs("b"))
	}
	e.expect(tokB, "POST", "/v1/instances", map[string]any{"name": "wat_hello"}, http.StatusNotFound, CodeUnknownOrchestration)
	if _, err := e.st.Module(ctx, hash); err != nil {
		t.Fatalf("the bytes after b's delete: %v, want them kept for a", err)
	}

	close(e.release)
	e.wait(tokA, id)
	e.expect(tokA, "DELETE", "/v1/modules/y/versions/1", nil, http.StatusNoContent, "")
	if orchs("a") != 0 {
		t.Fatalf("a's orchestrations after deleting y: %d, want 0", orchs("a"))
	}
	if _, err := e.st.Module(ctx, hash); err == nil {
		t.Fatal("the bytes outlived every registration")
	}
}
