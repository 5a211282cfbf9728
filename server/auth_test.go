package server

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// tokARead is a read-only token of namespace a.
const tokARead = "read-token-of-a"

// TestReadToken: a read token gets 403 forbidden on every route that writes, and changes
// nothing; it reads every GET route; a write token of the same namespace is unaffected.
func TestReadToken(t *testing.T) {
	ro := NewToken("a", tokARead)
	ro.Role = RoleRead
	e := newEnv(t, WithTokens(ro))
	e.upload(tokA, "guest", "1", goGuest(t))
	e.upload(tokA, "hello", "1", wat(t, "hello.wasm"))
	ev := e.start(tokA, "event", "ev", nil)
	e.waitFor(tokA, ev, "running", func(m map[string]any) bool { return m["status"] == "running" })
	cont := e.start(tokA, "continue", "cont", 0)
	e.wait(tokA, cont)

	// One concrete request per route: "METHOD pattern" of Server.api.
	writes := map[string]endpoint{
		"PUT /v1/modules/{name}":                         {"PUT", "/v1/modules/other?version=1", wat(t, "hello.wasm")},
		"DELETE /v1/modules/{name}/versions/{version}":   {"DELETE", "/v1/modules/hello/versions/1", nil},
		"POST /v1/instances":                             {"POST", "/v1/instances", map[string]any{"name": "event", "id": "new"}},
		"DELETE /v1/instances":                           {"DELETE", "/v1/instances", nil},
		"DELETE /v1/instances/{id}":                      {"DELETE", "/v1/instances/cont", nil},
		"POST /v1/instances/{id}/events/{event}":         {"POST", "/v1/instances/ev/events/approve", `"from the read token"`},
		"POST /v1/instances/{id}/queues/{queue}":         {"POST", "/v1/instances/ev/queues/q", `"m"`},
		"POST /v1/instances/{id}/cancel":                 {"POST", "/v1/instances/ev/cancel", `{"reason": "read token"}`},
		"POST /v1/instances/{id}/prune":                  {"POST", "/v1/instances/cont/prune", `{"keep_last": 1}`},
		"PUT /v1/modules/{name} with check=replay":       {"PUT", "/v1/modules/guest?version=2&check=replay", goGuest(t)},
		"POST /v1/instances on an unknown orchestration": {"POST", "/v1/instances", map[string]any{"name": "nope"}},
		"PUT /v1/plugins/{name}":                         {"PUT", "/v1/plugins/kernel", pluginFixture(t, "wat/kernel.wasm")},
		"DELETE /v1/plugins/{name}":                      {"DELETE", "/v1/plugins/kernel", nil},
		"DELETE /v1/plugins/{name}/versions/{version}":   {"DELETE", "/v1/plugins/kernel/versions/1", nil},
	}
	reads := map[string]endpoint{
		"GET /v1/modules":                               {"GET", "/v1/modules", nil},
		"GET /v1/modules/{name}":                        {"GET", "/v1/modules/guest", nil},
		"GET /v1/modules/{name}/versions/{version}":     {"GET", "/v1/modules/guest/versions/1", nil},
		"GET /v1/orchestrations":                        {"GET", "/v1/orchestrations", nil},
		"GET /v1/instances":                             {"GET", "/v1/instances", nil},
		"GET /v1/instances/{id}":                        {"GET", "/v1/instances/ev", nil},
		"GET /v1/instances/{id}/wait":                   {"GET", "/v1/instances/ev/wait?timeout=10ms", nil},
		"GET /v1/instances/{id}/executions":             {"GET", "/v1/instances/cont/executions", nil},
		"GET /v1/instances/{id}/history":                {"GET", "/v1/instances/cont/history?execution=1", nil},
		"GET /v1/instances/{id}/custom-status":          {"GET", "/v1/instances/cont/custom-status", nil},
		"GET /v1/instances/{id}/tree":                   {"GET", "/v1/instances/ev/tree", nil},
		"GET /v1/openapi.json (no token needed)":        {"GET", "/v1/openapi.json", nil},
		"GET /v1/instances/{id} of an unknown ID":       {"GET", "/v1/instances/nope", nil},
		"POST /v1/nothing (no such endpoint: 404)":      {"POST", "/v1/nothing", nil},
		"GET /v1/instances/{id}/wait, bad timeout":      {"GET", "/v1/instances/ev/wait?timeout=soon", nil},
		"GET /v1/modules/{name}/versions/{version} 404": {"GET", "/v1/modules/guest/versions/9", nil},
		"GET /v1/plugins":                               {"GET", "/v1/plugins", nil},
		"GET /v1/plugins/{name}":                        {"GET", "/v1/plugins/kernel", nil},
		"GET /v1/plugins/{name}/versions/{version}":     {"GET", "/v1/plugins/kernel/versions/1", nil},
	}
	for _, rt := range e.srv.api() {
		key := rt.method + " " + rt.path
		if _, ok := writes[key]; rt.writes() && !ok {
			t.Errorf("route %s writes but is not in the table of writes", key)
		}
		if _, ok := reads[key]; !rt.writes() && !ok {
			t.Errorf("route %s reads but is not in the table of reads", key)
		}
	}

	for name, ep := range writes {
		t.Run("read token: "+name, func(t *testing.T) {
			r := e.expect(tokARead, ep.method, ep.path, ep.body, http.StatusForbidden, CodeForbidden)
			msg := r.obj(t)["error"].(map[string]any)["message"].(string)
			if !strings.Contains(msg, "role read") || !strings.Contains(msg, "role write") || !strings.Contains(msg, `"a"`) {
				t.Errorf("message %q does not name the token's role and the role needed", msg)
			}
		})
	}
	for name, ep := range reads {
		t.Run("read token: "+name, func(t *testing.T) {
			if r := e.call(tokARead, ep.method, ep.path, ep.body); r.status == http.StatusForbidden || r.status == http.StatusUnauthorized {
				t.Errorf("%s %s: %d %s", ep.method, ep.path, r.status, r.body)
			}
		})
	}
	// A read token of a namespace does not reach another namespace either.
	e.expect(tokARead, "GET", "/v1/instances/ev", nil, http.StatusOK, "")
	e.expect(tokB, "GET", "/v1/instances/ev", nil, http.StatusNotFound, CodeInstanceNotFound)

	// Nothing changed: no module uploaded or deleted, no instance started, deleted or pruned.
	e.expect(tokA, "GET", "/v1/modules/other", nil, http.StatusNotFound, CodeModuleNotFound)
	e.expect(tokA, "GET", "/v1/modules/hello/versions/1", nil, http.StatusOK, "")
	e.expect(tokA, "GET", "/v1/instances/new", nil, http.StatusNotFound, CodeInstanceNotFound)
	if execs := e.expect(tokA, "GET", "/v1/instances/cont/executions", nil, http.StatusOK, "").obj(t)["executions"].([]any); len(execs) != 4 {
		t.Fatalf("executions of cont = %v, want all 4", execs)
	}
	// Neither the read token's event nor its cancellation reached ev: it ends with a's event.
	e.expect(tokA, "POST", "/v1/instances/ev/events/approve", `"from a"`, http.StatusAccepted, "")
	if out := e.wait(tokA, ev); out["status"] != "completed" || out["output"] != "from a" {
		t.Fatalf("ev = %v", out)
	}

	// The write token of the namespace may do all of it.
	for name, ep := range writes {
		if r := e.call(tokA, ep.method, ep.path, ep.body); r.status == http.StatusForbidden || r.status == http.StatusUnauthorized {
			t.Errorf("write token: %s: %d %s", name, r.status, r.body)
		}
	}
	e.expect(tokA, "GET", "/v1/modules/other", nil, http.StatusOK, "")
}

// TestTokenRoles: New refuses a role it does not know and one token with two roles.
func TestTokenRoles(t *testing.T) {
	e := newEnv(t)
	bad := NewToken("a", "x")
	bad.Role = Role(7)
	if _, err := New(e.h, e.st, WithTokens(bad)); !errors.Is(err, ErrUnknownRole) {
		t.Errorf("New with role 7: %v, want ErrUnknownRole", err)
	}
	ro := NewToken("a", "x")
	ro.Role = RoleRead
	if _, err := New(e.h, e.st, WithTokens(NewToken("a", "x"), ro)); err == nil || !strings.Contains(err.Error(), "roles") {
		t.Errorf("New with one token as read and write: %v", err)
	}
	if _, err := New(e.h, e.st, WithTokens(ro, ro)); err != nil {
		t.Errorf("New with a token given twice: %v", err)
	}
	if Role(7).String() != "Role(7)" {
		t.Errorf("Role(7) = %q", Role(7).String())
	}
}
