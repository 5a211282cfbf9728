package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store"
)

func TestInstances(t *testing.T) {
	e := newEnv(t)
	e.upload(tokA, "guest", "1", goGuest(t))

	// Start, status, raise, wait, history, executions, custom status.
	id := e.start(tokA, "event", "ev-1", nil)
	if st := e.expect(tokA, "GET", "/v1/instances/ev-1", nil, http.StatusOK, "").obj(t)["status"]; st != "pending" && st != "running" {
		t.Fatalf("status = %v", st)
	}
	e.expect(tokA, "POST", "/v1/instances", map[string]any{"name": "event", "id": "ev-1"}, http.StatusConflict, CodeInstanceExists)
	// A wait that times out answers the current state.
	if st := e.expect(tokA, "GET", "/v1/instances/ev-1/wait?timeout=50ms", nil, http.StatusOK, "").obj(t)["status"]; st != "pending" && st != "running" {
		t.Fatalf("status after a short wait = %v", st)
	}
	e.expect(tokA, "POST", "/v1/instances/"+id+"/events/approve", `{"ok":true}`, http.StatusAccepted, "")
	done := e.wait(tokA, id)
	if done["status"] != "completed" || fmt.Sprint(done["output"]) != "map[ok:true]" || done["completed_at"] == nil || done["name"] != "event" {
		t.Fatalf("instance = %v", done)
	}
	if k := e.historyKinds(tokA, id); !slices.Contains(k, "event_raised") || !slices.Contains(k, "execution_completed") {
		t.Fatalf("history = %v", k)
	}
	hist := e.expect(tokA, "GET", "/v1/instances/ev-1/history?execution=1", nil, http.StatusOK, "").obj(t)
	if hist["id"] != "ev-1" || hist["instance_id"] != "a/ev-1" || hist["execution"] != float64(1) || hist["module_hash"] == nil {
		t.Fatalf("history document = %v", hist)
	}
	e.expect(tokA, "GET", "/v1/instances/ev-1/history?execution=7", nil, http.StatusNotFound, CodeExecutionNotFound)
	e.expect(tokA, "GET", "/v1/instances/ev-1/history?execution=x", nil, http.StatusBadRequest, CodeBadRequest)

	// Queue messages.
	q := e.start(tokA, "queue", "q-1", 2)
	e.expect(tokA, "POST", "/v1/instances/"+q+"/queues/q", `"first"`, http.StatusAccepted, "")
	e.expect(tokA, "POST", "/v1/instances/"+q+"/queues/q", `"second"`, http.StatusAccepted, "")
	if out := e.wait(tokA, q)["output"]; fmt.Sprint(out) != "[first second]" {
		t.Fatalf("queue output = %v", out)
	}

	// Continue-as-new: executions, custom status, prune.
	c := e.start(tokA, "continue", "c-1", 0)
	if out := e.wait(tokA, c); out["output"] != float64(3) || out["execution"] != float64(4) {
		t.Fatalf("continue = %v", out)
	}
	execs := e.expect(tokA, "GET", "/v1/instances/c-1/executions", nil, http.StatusOK, "").obj(t)["executions"].([]any)
	if len(execs) != 4 || execs[0].(map[string]any)["status"] != "continued_as_new" {
		t.Fatalf("executions = %v", execs)
	}
	cs := e.expect(tokA, "GET", "/v1/instances/c-1/custom-status", nil, http.StatusOK, "").obj(t)
	if cs["custom_status"] != float64(2) {
		t.Fatalf("custom status = %v", cs)
	}
	pr := e.expect(tokA, "POST", "/v1/instances/c-1/prune", map[string]any{"keep_last": 1}, http.StatusOK, "").obj(t)
	if pr["pruned"] != float64(3) { // keep_last counts the current execution
		t.Fatalf("prune = %v", pr)
	}
	e.expect(tokA, "GET", "/v1/instances/c-1/history?execution=1", nil, http.StatusNotFound, CodeExecutionNotFound)
	e.expect(tokA, "POST", "/v1/instances/c-1/prune", `{"keep_last": -1}`, http.StatusBadRequest, CodeBadRequest)

	// Tree: a sub-orchestration with a derived ID (the parent's module registers it).
	p := e.start(tokA, "child", "parent-1", "tree")
	if out := e.wait(tokA, p); out["status"] != "completed" {
		t.Fatalf("child = %v", out)
	}
	tree := e.expect(tokA, "GET", "/v1/instances/parent-1/tree", nil, http.StatusOK, "").obj(t)
	kids, _ := tree["children"].([]any)
	if tree["id"] != "parent-1" || len(kids) != 1 || !strings.HasPrefix(kids[0].(map[string]any)["id"].(string), "parent-1:") ||
		kids[0].(map[string]any)["parent_id"] != "parent-1" {
		t.Fatalf("tree = %v", tree)
	}

	// Cancel, delete (running only with force).
	x := e.start(tokA, "event", "cancel-me", nil)
	e.expect(tokA, "POST", "/v1/instances/"+x+"/cancel", `{"reason":"testing"}`, http.StatusAccepted, "")
	if out := e.wait(tokA, x); out["status"] != "cancelled" || !strings.Contains(fmt.Sprint(out["failure"]), "testing") {
		t.Fatalf("cancelled = %v", out)
	}
	e.expect(tokA, "DELETE", "/v1/instances/"+x, nil, http.StatusNoContent, "")
	e.expect(tokA, "GET", "/v1/instances/"+x, nil, http.StatusNotFound, CodeInstanceNotFound)
	r := e.start(tokA, "event", "running-1", nil)
	e.waitFor(tokA, r, "running", func(m map[string]any) bool { return m["status"] == "running" })
	e.expect(tokA, "DELETE", "/v1/instances/"+r, nil, http.StatusConflict, CodeInstanceRunning)
	e.expect(tokA, "DELETE", "/v1/instances/"+r+"?force=true", nil, http.StatusNoContent, "")

	// List: filters and pagination.
	all := e.expect(tokA, "GET", "/v1/instances", nil, http.StatusOK, "").obj(t)["instances"].([]any)
	var ids []string
	for _, in := range all {
		ids = append(ids, in.(map[string]any)["id"].(string))
	}
	// parent-1's child is listed too.
	if len(ids) != 5 || !slices.Contains(ids, "ev-1") || !slices.Contains(ids, "parent-1") {
		t.Fatalf("list = %v", ids)
	}
	var paged []string
	token := ""
	for range 10 {
		page := e.expect(tokA, "GET", "/v1/instances?page_size=2&page_token="+token, nil, http.StatusOK, "").obj(t)
		for _, in := range page["instances"].([]any) {
			paged = append(paged, in.(map[string]any)["id"].(string))
		}
		if token = page["next_page_token"].(string); token == "" {
			break
		}
	}
	if !slices.Equal(paged, ids) {
		t.Fatalf("pages = %v, want %v", paged, ids)
	}
	if l := e.expect(tokA, "GET", "/v1/instances?prefix=c-&status=completed,failed", nil, http.StatusOK, "").obj(t)["instances"].([]any); len(l) != 1 {
		t.Fatalf("filtered list = %v", l)
	}
	if l := e.expect(tokA, "GET", "/v1/instances?name=queue&created_after="+time.Now().Add(-time.Hour).Format(time.RFC3339), nil, http.StatusOK, "").obj(t)["instances"].([]any); len(l) != 1 {
		t.Fatalf("list by name = %v", l)
	}
	for _, bad := range []string{"status=sleeping", "page_size=0", "page_size=x", "created_before=yesterday", "page_token=zzz"} {
		e.expect(tokA, "GET", "/v1/instances?"+bad, nil, http.StatusBadRequest, CodeBadRequest)
	}
	// Purge the finished instances whose ID starts with "q-".
	if n := e.expect(tokA, "DELETE", "/v1/instances?prefix=q-", nil, http.StatusOK, "").obj(t)["deleted"]; n != float64(1) {
		t.Fatalf("purged %v", n)
	}
	e.expect(tokA, "GET", "/v1/instances/q-1", nil, http.StatusNotFound, CodeInstanceNotFound)
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t)
	e.upload(tokA, "hello", "1", wat(t, "hello.wasm"))
	tests := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"malformed JSON", "POST", "/v1/instances", `{"name": "wat_hello",`, 400, CodeBadRequest},
		{"JSON array", "POST", "/v1/instances", `["wat_hello"]`, 400, CodeBadRequest},
		{"unknown field", "POST", "/v1/instances", `{"name": "wat_hello", "inptu": 1}`, 400, CodeBadRequest},
		{"trailing data", "POST", "/v1/instances", `{"name": "wat_hello"} {}`, 400, CodeBadRequest},
		{"no name", "POST", "/v1/instances", `{}`, 400, CodeBadRequest},
		{"input twice", "POST", "/v1/instances", `{"name": "wat_hello", "input": 1, "input_base64": "AQ=="}`, 400, CodeBadRequest},
		{"bad base64", "POST", "/v1/instances", `{"name": "wat_hello", "input_base64": "***"}`, 400, CodeBadRequest},
		{"not JSON", "POST", "/v1/instances", []byte(`name=wat_hello`), 400, CodeBadRequest},
		{"unknown orchestration", "POST", "/v1/instances", `{"name": "nope"}`, 404, CodeUnknownOrchestration},
		{"unknown version", "POST", "/v1/instances", `{"name": "wat_hello", "version": "9"}`, 404, CodeUnknownOrchestration},
		{"huge body", "POST", "/v1/instances", `{"name": "wat_hello", "input": "` + strings.Repeat("x", 9<<20) + `"}`, 413, CodeTooLarge},
		{"huge ID", "POST", "/v1/instances", `{"name": "wat_hello", "id": "` + strings.Repeat("x", 1000) + `"}`, 400, CodeInvalidName},
		{"malformed cancel", "POST", "/v1/instances/x/cancel", `{"reason":`, 400, CodeBadRequest},
		{"malformed prune", "POST", "/v1/instances/x/prune", `{"before": "yesterday"}`, 400, CodeBadRequest},
		{"bad force", "DELETE", "/v1/instances/x?force=maybe", nil, 400, CodeBadRequest},
		{"bad timeout", "GET", "/v1/instances/x/wait?timeout=soon", nil, 400, CodeBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.expect(tokA, tc.method, tc.path, tc.body, tc.status, tc.code)
		})
	}
	// A body that is not JSON is refused by its Content-Type.
	req, _ := http.NewRequest("POST", e.url+"/v1/instances", strings.NewReader(`{"name":"wat_hello"}`))
	req.Header.Set("Authorization", "Bearer "+tokA)
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain body: status %d", resp.StatusCode)
	}
	// Unknown instance IDs: every instance endpoint answers 404 instance_not_found.
	for _, ep := range instanceEndpoints("no-such-id") {
		t.Run("unknown "+ep.method+" "+ep.path, func(t *testing.T) {
			e.expect(tokA, ep.method, ep.path, ep.body, http.StatusNotFound, CodeInstanceNotFound)
		})
	}
}

type endpoint struct {
	method, path string
	body         any
}

// instanceEndpoints lists every endpoint about one instance.
func instanceEndpoints(id string) []endpoint {
	p := "/v1/instances/" + id
	return []endpoint{
		{"GET", p, nil},
		{"GET", p + "/wait?timeout=10ms", nil},
		{"GET", p + "/executions", nil},
		{"GET", p + "/history", nil},
		{"GET", p + "/custom-status", nil},
		{"GET", p + "/tree", nil},
		{"POST", p + "/events/approve", `"yes"`},
		{"POST", p + "/queues/q", `"m"`},
		{"POST", p + "/cancel", `{}`},
		{"POST", p + "/prune", `{}`},
		{"DELETE", p + "?force=true", nil},
	}
}

// TestNamespaceIsolation: namespace b can neither see nor touch a's modules and instances.
func TestNamespaceIsolation(t *testing.T) {
	e := newEnv(t)
	e.upload(tokA, "guest", "1", goGuest(t))
	a := e.start(tokA, "event", "shared-id", nil)
	e.waitFor(tokA, a, "running", func(m map[string]any) bool { return m["status"] == "running" })
	done := e.start(tokA, "event", "done-id", nil)
	e.expect(tokA, "POST", "/v1/instances/done-id/events/approve", `1`, http.StatusAccepted, "")
	e.wait(tokA, done)

	// b sees nothing of a.
	for _, id := range []string{a, done} {
		for _, ep := range instanceEndpoints(id) {
			e.expect(tokB, ep.method, ep.path, ep.body, http.StatusNotFound, CodeInstanceNotFound)
		}
	}
	if l := e.expect(tokB, "GET", "/v1/instances", nil, http.StatusOK, "").obj(t)["instances"].([]any); len(l) != 0 {
		t.Fatalf("b lists %v", l)
	}
	if n := e.expect(tokB, "DELETE", "/v1/instances", nil, http.StatusOK, "").obj(t)["deleted"]; n != float64(0) {
		t.Fatalf("b purged %v", n)
	}
	if l := e.expect(tokB, "GET", "/v1/modules", nil, http.StatusOK, "").obj(t)["modules"].([]any); len(l) != 0 {
		t.Fatalf("b lists modules %v", l)
	}
	if l := e.expect(tokB, "GET", "/v1/orchestrations", nil, http.StatusOK, "").obj(t)["orchestrations"].([]any); len(l) != 0 {
		t.Fatalf("b lists orchestrations %v", l)
	}
	e.expect(tokB, "GET", "/v1/modules/guest", nil, http.StatusNotFound, CodeModuleNotFound)
	e.expect(tokB, "GET", "/v1/modules/guest/versions/1", nil, http.StatusNotFound, CodeModuleNotFound)
	e.expect(tokB, "DELETE", "/v1/modules/guest/versions/1", nil, http.StatusNotFound, CodeModuleNotFound)
	e.expect(tokB, "POST", "/v1/instances", map[string]any{"name": "event"}, http.StatusNotFound, CodeUnknownOrchestration)

	// b has its own instance under the same ID, with its own module.
	e.upload(tokB, "hello", "1", wat(t, "hello.wasm"))
	e.start(tokB, "wat_hello", "shared-id", nil)
	if out := e.wait(tokB, "shared-id"); out["output"] != "Hello, wat!" {
		t.Fatalf("b's instance = %v", out)
	}
	// a's instance was neither signalled, cancelled nor deleted: it still waits, and ends
	// with a's event.
	if st := e.expect(tokA, "GET", "/v1/instances/shared-id", nil, http.StatusOK, "").obj(t); st["status"] != "running" || st["name"] != "event" {
		t.Fatalf("a's instance = %v", st)
	}
	e.expect(tokA, "GET", "/v1/instances/done-id", nil, http.StatusOK, "")
	e.expect(tokA, "POST", "/v1/instances/shared-id/events/approve", `"from a"`, http.StatusAccepted, "")
	if out := e.wait(tokA, "shared-id"); out["output"] != "from a" {
		t.Fatalf("a's instance = %v", out)
	}
	if l := e.expect(tokA, "GET", "/v1/instances", nil, http.StatusOK, "").obj(t)["instances"].([]any); len(l) != 2 {
		t.Fatalf("a lists %v", l)
	}
}

// TestPendingAcrossRestart: an instance started on a server whose host runs no turns is
// pending, for this server and for a new one on the same database (the store derives it
// from the queued start message); a second start is refused, and the instance runs once a
// host runs turns.
func TestPendingAcrossRestart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	first := newEnvWith(t, envConfig{db: db, stopped: true})
	first.upload(tokA, "hello", "1", wat(t, "hello.wasm"))
	first.start(tokA, "wat_hello", "p1", nil)
	if st := first.expect(tokA, "GET", "/v1/instances/p1", nil, http.StatusOK, "").obj(t); st["status"] != "pending" || st["name"] != "wat_hello" {
		t.Fatalf("instance on the server that started it = %v", st)
	}
	first.close()

	e := newEnvWith(t, envConfig{db: db, stopped: true})
	st := e.expect(tokA, "GET", "/v1/instances/p1", nil, http.StatusOK, "").obj(t)
	if st["id"] != "p1" || st["status"] != "pending" || st["name"] != "wat_hello" || st["module_hash"] == nil || st["created_at"] == nil {
		t.Fatalf("instance after a restart = %v", st)
	}
	e.expect(tokA, "POST", "/v1/instances", map[string]any{"name": "wat_hello", "id": "p1"}, http.StatusConflict, CodeInstanceExists)
	e.expect(tokB, "GET", "/v1/instances/p1", nil, http.StatusNotFound, CodeInstanceNotFound)
	if execs := e.expect(tokA, "GET", "/v1/instances/p1/executions", nil, http.StatusOK, "").obj(t)["executions"].([]any); len(execs) != 0 {
		t.Fatalf("executions of a pending instance = %v", execs)
	}
	if k := e.historyKinds(tokA, "p1"); len(k) != 0 {
		t.Fatalf("history of a pending instance = %v", k)
	}
	e.expect(tokA, "GET", "/v1/instances/p1/history?execution=2", nil, http.StatusNotFound, CodeExecutionNotFound)
	if tree := e.expect(tokA, "GET", "/v1/instances/p1/tree", nil, http.StatusOK, "").obj(t); tree["status"] != "pending" || tree["children"] != nil {
		t.Fatalf("tree of a pending instance = %v", tree)
	}
	if st := e.expect(tokA, "GET", "/v1/instances/p1/wait?timeout=10ms", nil, http.StatusOK, "").obj(t)["status"]; st != "pending" {
		t.Fatalf("status after a short wait = %v", st)
	}
	if n := e.expect(tokA, "POST", "/v1/instances/p1/prune", `{}`, http.StatusOK, "").obj(t)["pruned"]; n != float64(0) {
		t.Fatalf("pruned %v executions of a pending instance", n)
	}
	if l := e.expect(tokA, "GET", "/v1/instances?status=pending", nil, http.StatusOK, "").obj(t)["instances"].([]any); len(l) != 1 || l[0].(map[string]any)["id"] != "p1" {
		t.Fatalf("pending instances listed: %v, want p1", l)
	}
	if l := e.expect(tokB, "GET", "/v1/instances?status=pending", nil, http.StatusOK, "").obj(t)["instances"].([]any); len(l) != 0 {
		t.Fatalf("namespace b lists a's pending instance: %v", l)
	}
	e.expect(tokA, "DELETE", "/v1/instances/p1?force=true", nil, http.StatusConflict, CodeInstanceRunning)
	// Purge does not take it either: it has not finished.
	e.expect(tokA, "DELETE", "/v1/instances", nil, http.StatusOK, "")
	e.expect(tokA, "GET", "/v1/instances/p1", nil, http.StatusOK, "")

	must(t, e.h.Start())
	if out := e.wait(tokA, "p1"); out["status"] != "completed" || out["output"] != "Hello, wat!" {
		t.Fatalf("instance once turns run = %v", out)
	}
	e.expect(tokA, "POST", "/v1/instances", map[string]any{"name": "wat_hello", "id": "p1"}, http.StatusConflict, CodeInstanceExists)
}

// TestCustomStatusWait: GET custom-status?wait_for_change=ETAG long-polls for a change of the
// custom status, answers at once when it differs or the instance has ended, and at the
// timeout with the unchanged value.
func TestCustomStatusWait(t *testing.T) {
	e := newEnv(t)
	e.upload(tokA, "guest", "1", goGuest(t))
	// sc_counter sets the custom status {"n": N}, then waits for the event "next".
	id := e.start(tokA, "sc_counter", "counter", map[string]any{"n": 0, "to": 2, "event": "next"})
	e.waitFor(tokA, id, `custom status {"n":0}`, func(m map[string]any) bool { return fmt.Sprint(m["custom_status"]) == "map[n:0]" })
	path := "/v1/instances/" + id + "/custom-status"
	cs := func(r reply) (value, etag, status string) {
		m := r.obj(t)
		return string(mustJSON(t, m["custom_status"])), m["etag"].(string), m["status"].(string)
	}
	v0, tag0, st := cs(e.expect(tokA, "GET", path, nil, http.StatusOK, ""))
	if v0 != `{"n":0}` || len(tag0) != 32 || st != "running" {
		t.Fatalf("custom status = %s, etag %q, status %s", v0, tag0, st)
	}
	// Unchanged: the answer comes at the timeout, with the same value.
	if v, tag, _ := cs(e.expect(tokA, "GET", path+"?wait_for_change="+tag0+"&timeout=50ms", nil, http.StatusOK, "")); v != v0 || tag != tag0 {
		t.Fatalf("after a timeout: %s %s, want %s %s", v, tag, v0, tag0)
	}
	// A waiting request answers with the next value.
	type answer struct {
		r   reply
		err error
	}
	got := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("GET", e.url+path+"?wait_for_change="+tag0+"&timeout=60s", nil)
		req.Header.Set("Authorization", "Bearer "+tokA)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		got <- answer{reply{resp.StatusCode, body, resp.Header}, err}
	}()
	e.expect(tokA, "POST", "/v1/instances/"+id+"/events/next", `1`, http.StatusAccepted, "")
	a := <-got
	must(t, a.err)
	v1, tag1, _ := cs(a.r)
	if a.r.status != http.StatusOK || v1 != `{"n":1}` || tag1 == tag0 {
		t.Fatalf("long-poll answered %d %s (etag %s)", a.r.status, a.r.body, tag1)
	}
	// A stale etag answers at once, with the current value (a 5-minute wait would not).
	quick := &http.Client{Timeout: 20 * time.Second}
	req, _ := http.NewRequest("GET", e.url+path+"?wait_for_change="+tag0+"&timeout=5m", nil)
	req.Header.Set("Authorization", "Bearer "+tokA)
	resp, err := quick.Do(req)
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if v, _, _ := cs(reply{resp.StatusCode, body, nil}); v != `{"n":1}` {
		t.Fatalf("stale etag: %s", body)
	}
	// An ended instance answers at once too, with its final status.
	e.expect(tokA, "POST", "/v1/instances/"+id+"/events/next", `2`, http.StatusAccepted, "")
	e.expect(tokA, "POST", "/v1/instances/"+id+"/events/next", `3`, http.StatusAccepted, "")
	e.wait(tokA, id)
	_, tag2, _ := cs(e.expect(tokA, "GET", path, nil, http.StatusOK, ""))
	req, _ = http.NewRequest("GET", e.url+path+"?wait_for_change="+tag2+"&timeout=5m", nil)
	req.Header.Set("Authorization", "Bearer "+tokA)
	resp, err = quick.Do(req)
	must(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if v, tag, st := cs(reply{resp.StatusCode, body, nil}); v != `{"n":2}` || tag != tag2 || st != "completed" {
		t.Fatalf("ended instance: %s", body)
	}

	for _, bad := range []string{"?timeout=1s", "?wait_for_change=" + tag0 + "&timeout=soon", "?wait_for_change=x&timeout=-1s"} {
		e.expect(tokA, "GET", path+bad, nil, http.StatusBadRequest, CodeBadRequest)
	}
	e.expect(tokA, "GET", "/v1/instances/nope/custom-status?wait_for_change="+tag0, nil, http.StatusNotFound, CodeInstanceNotFound)
	e.expect(tokB, "GET", path+"?wait_for_change="+tag0, nil, http.StatusNotFound, CodeInstanceNotFound)
}

// mustJSON encodes a decoded JSON value again (compact, keys sorted).
func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err)
	return b
}

// TestSubOrchestrationsInNamespace: a guest starts a sub-orchestration by name that another
// module of its namespace registers, without the shared registry; another namespace's
// registration of the name is never used.
func TestSubOrchestrationsInNamespace(t *testing.T) {
	// Few, quick attempts: an unregistered child fails in milliseconds.
	e := newEnvWith(t, envConfig{hostOpts: []host.Option{host.WithMaxAttempts(3), host.WithRetryBase(5 * time.Millisecond)}})
	e.upload(tokA, "parent", "1", goGuest(t)) // sc_child starts the child named in its input
	hello := e.upload(tokB, "greeter", "1", wat(t, "hello.wasm"))

	// Only b registers wat_hello: a's child does not resolve, fails as unregistered after the
	// host's attempts, and fails its parent.
	e.start(tokA, "sc_child", "lonely", map[string]any{"name": "wat_hello"})
	out := e.wait(tokA, "lonely")
	if out["status"] != "failed" || !strings.Contains(fmt.Sprint(out["failure"]), abi.CodeUnregistered) {
		t.Fatalf("parent of an unregistered child = %v", out)
	}
	tree := e.expect(tokA, "GET", "/v1/instances/lonely/tree", nil, http.StatusOK, "").obj(t)
	kids, _ := tree["children"].([]any)
	if len(kids) != 1 || kids[0].(map[string]any)["status"] != "failed" {
		t.Fatalf("tree = %v", tree)
	}
	if l := e.expect(tokB, "GET", "/v1/instances", nil, http.StatusOK, "").obj(t)["instances"].([]any); len(l) != 0 {
		t.Fatalf("b lists %v", l)
	}

	// Once a uploads its own module registering wat_hello, a's parent runs the child on it.
	own := e.upload(tokA, "greeter", "1", wat(t, "hello.wasm"))
	e.start(tokA, "sc_child", "parent", map[string]any{"name": "wat_hello"})
	if out := e.wait(tokA, "parent"); out["status"] != "completed" || out["output"] != "Hello, wat!" {
		t.Fatalf("parent = %v", out)
	}
	tree = e.expect(tokA, "GET", "/v1/instances/parent/tree", nil, http.StatusOK, "").obj(t)
	kids, _ = tree["children"].([]any)
	if len(kids) != 1 {
		t.Fatalf("tree = %v", tree)
	}
	child := kids[0].(map[string]any)
	if child["name"] != "wat_hello" || child["status"] != "completed" || child["module_hash"] != own["hash"] || tree["module_hash"] == own["hash"] {
		t.Fatalf("child = %v, want wat_hello on module %v (b's is %v)", child, own["hash"], hello["hash"])
	}
}

// TestSharedRegistryCrossesNamespaces: with a host built WithSharedRegistry, uploads are
// also registered in the default namespace, so a guest of one namespace may start an
// orchestration only another namespace uploaded (the trade-off of the option).
func TestSharedRegistryCrossesNamespaces(t *testing.T) {
	e := newEnvWith(t, envConfig{hostOpts: []host.Option{host.WithSharedRegistry()}})
	e.upload(tokA, "parent", "1", goGuest(t))
	e.upload(tokB, "greeter", "1", wat(t, "hello.wasm"))
	if _, err := e.st.ResolveModule(t.Context(), "", store.RegistrationOrchestration, "wat_hello", ""); err != nil {
		t.Fatalf("wat_hello in the default namespace: %v, want b's upload registered there", err)
	}
	e.start(tokA, "sc_child", "p", map[string]any{"name": "wat_hello"})
	if out := e.wait(tokA, "p"); out["status"] != "completed" || out["output"] != "Hello, wat!" {
		t.Fatalf("parent = %v", out)
	}
}

// TestIDsArePrintable: an instance ID with a control or invisible formatting character is
// refused with 400 invalid_name, whatever the endpoint.
func TestIDsArePrintable(t *testing.T) {
	for _, id := range []string{"a\x00b", "line\nbreak", "esc\x1b[31m", "rtl\u202etxt.exe"} {
		if err := checkID(id); err == nil {
			t.Errorf("checkID(%q) accepted it", id)
		}
	}
	if err := checkID("order-42 ☕"); err != nil {
		t.Errorf("a printable ID was refused: %v", err)
	}
}
