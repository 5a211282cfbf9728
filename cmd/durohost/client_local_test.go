package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store/sqlite"
)

// localHost is a started host over a SQLite file, with the Go test guest loaded in the
// default namespace, as durohost run leaves it: the client commands act on the file without
// --server.
type localHost struct {
	db string
}

func newLocalHost(t *testing.T) *localHost {
	t.Helper()
	db := filepath.Join(t.TempDir(), "local.db")
	st, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	cache, _ := cacheDir()
	h, err := host.New(st, host.WithCompilationCache(filepath.Join(cache, "wazero")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.LoadModule(context.Background(), testguest.Build(t, "conformance/guests/go", "")); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.Stop(ctx)
		st.Close()
	})
	return &localHost{db: db}
}

func (l *localHost) cli(args ...string) result { return runCLI(append(args, "--store", l.db)...) }

func (l *localHost) ok(t *testing.T, want string, args ...string) string {
	t.Helper()
	r := l.cli(args...)
	if r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Fatalf("durohost %s: want exit 0 and %q in stdout, got %v", strings.Join(args, " "), want, r)
	}
	return r.stdout
}

func (l *localHost) fails(t *testing.T, code int, want string, args ...string) {
	t.Helper()
	if r := l.cli(args...); r.code != code || !strings.Contains(r.stdout+r.stderr, want) {
		t.Fatalf("durohost %s: want exit %d and %q, got %v", strings.Join(args, " "), code, want, r)
	}
}

// TestClientVerbsLocal: without --server, the client commands act on the store of --store
// (the default namespace, durohost run's), printing what they print with a server.
func TestClientVerbsLocal(t *testing.T) {
	l := newLocalHost(t)

	// Events, queues, continue-as-new, cancel, rm, prune.
	l.ok(t, "e1", "start", "event", "--id", "e1")
	l.ok(t, `sent event "approve" to e1`, "raise", "e1", "approve", `{"yes":1}`)
	l.ok(t, `{"yes":1}`, "wait", "e1")
	var st map[string]any
	json.Unmarshal([]byte(l.ok(t, `"status"`, "status", "e1", "--json")), &st)
	if st["id"] != "e1" || st["status"] != "completed" || st["name"] != "event" || st["created_at"] == nil {
		t.Fatalf("status --json: %v", st)
	}
	l.ok(t, "status:         completed", "status", "e1")
	l.ok(t, `event_raised "approve" input {"yes":1}`, "history", "e1")
	if out := l.ok(t, "event_subscribed", "history", "e1", "--decisions"); strings.Contains(out, "turn_started") || strings.Contains(out, "event_raised") {
		t.Fatalf("history --decisions prints more than decisions:\n%s", out)
	}
	l.fails(t, exitError, "--decisions is for reading", "history", "e1", "--decisions", "--json")
	l.fails(t, exitError, "instance_exists", "start", "event", "--id", "e1")
	l.fails(t, exitError, "unknown_orchestration", "start", "nope")

	l.ok(t, "q1", "start", "queue", "--id", "q1", "--input", "2")
	l.ok(t, `sent queue "q" to q1`, "enqueue", "q1", "q", `"m1"`)
	l.ok(t, "sent queue", "enqueue", "q1", "q", `"m2"`)
	l.fails(t, exitError, `DATA is not JSON: m3 (a JSON string needs its quotes: '"text"'; --raw sends it as it is)`, "enqueue", "q1", "q", `m3`)
	l.ok(t, `["m1","m2"]`, "wait", "q1")
	l.ok(t, `sent queue "q" to q1`, "enqueue", "q1", "q", `m3`, "--raw") // to an ended instance: dropped

	l.ok(t, "c1", "start", "event", "--id", "c1")
	l.fails(t, exitTimeout, "still", "wait", "c1", "--timeout", "50ms")
	l.fails(t, exitError, "instance_running", "rm", "c1")
	l.ok(t, "cancellation of c1 requested", "cancel", "c1", "--reason", "no longer needed")
	l.fails(t, exitError, "cancelled", "wait", "c1")
	l.ok(t, "deleted c1", "rm", "c1")
	l.fails(t, exitError, "instance_not_found", "rm", "c1")

	l.ok(t, "n1", "start", "continue", "--id", "n1", "--input", "0")
	l.ok(t, "3", "wait", "n1")
	l.ok(t, "execution:      4", "status", "n1")
	l.ok(t, "n1, execution 1", "history", "n1", "--execution", "1")
	l.ok(t, "pruned 3 executions of n1", "prune", "n1", "--keep-last", "1")
	l.fails(t, exitError, "execution_not_found", "history", "n1", "--execution", "1")

	var list struct{ Instances []map[string]any }
	json.Unmarshal([]byte(l.ok(t, `"instances"`, "list", "--status", "completed", "--json")), &list)
	if len(list.Instances) != 3 {
		t.Fatalf("list --status completed: %v", list)
	}
	l.ok(t, "e1", "list", "--name", "event", "--limit", "1")

	// A history saved from the store replays against the module.
	file := writeFile(t, "e1.json", []byte(l.ok(t, `"instance_id": "e1"`, "history", "e1", "--json")))
	if r := runCLI("replay", writeFile(t, "guest.wasm", testguest.Build(t, "conformance/guests/go", "")), "--history", file); r.code != 0 || strings.TrimSpace(r.stdout) != "compatible" {
		t.Fatalf("replay of a local history: %v", r)
	}

	// What cannot work says why.
	l.fails(t, exitError, `no instance "ghost" in store `+l.db, "raise", "ghost", "approve")
	l.fails(t, exitError, `no instance "ghost"`, "status", "ghost")
	if r := runCLI("module", "list"); r.code != exitError || !strings.Contains(r.stderr, "module list needs a server: give --server URL") {
		t.Fatalf("module list without a server: %v", r)
	}
	l.fails(t, exitError, "give --server or --store, not both", "status", "e1", "--server", "http://127.0.0.1:1")
	missing := filepath.Join(t.TempDir(), "missing.db")
	if r := runCLI("status", "e1", "--store", missing); r.code != exitError || !strings.Contains(r.stderr, "no store at "+missing) {
		t.Fatalf("status on a missing store: %v", r)
	}
	if r := runCLI("replay", "x.wasm", "--instance", "e1"); r.code != exitError || !strings.Contains(r.stderr, "needs a server") || !strings.Contains(r.stderr, "give --history h.json") {
		t.Fatalf("replay --instance without a server: %v", r)
	}
}

// TestClientCustomStatusLocal: custom-status --watch on the local store prints each change
// until the instance ends, the changes made by the host that runs it.
func TestClientCustomStatusLocal(t *testing.T) {
	l := newLocalHost(t)
	l.ok(t, "w1", "start", "sc_counter", "--id", "w1", "--input", `{"n": 0, "to": 2, "event": "next"}`)
	waitFor(t, 30*time.Second, `custom status {"n":0}`, func() bool { return l.cli("custom-status", "w1").stdout == "{\"n\":0}\n" })
	var cs map[string]any
	if err := json.Unmarshal([]byte(l.ok(t, `"etag"`, "custom-status", "w1", "--json")), &cs); err != nil || cs["status"] != "running" {
		t.Fatalf("custom-status --json: %v %v", cs, err)
	}
	l.fails(t, exitTimeout, "still running", "custom-status", "w1", "--watch", "--timeout", "50ms")

	var stdout, stderr syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run([]string{"durohost", "custom-status", "w1", "--watch", "--store", l.db}, &stdout, &stderr)
	}()
	for n := range 3 {
		want := fmt.Sprintf("{\"n\":%d}\n", n)
		waitFor(t, 30*time.Second, "the watch to print "+want, func() bool { return strings.HasSuffix(stdout.String(), want) })
		l.ok(t, "sent event", "raise", "w1", "next", strconv.Itoa(n))
	}
	select {
	case c := <-code:
		if c != 0 || stdout.String() != "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n" {
			t.Fatalf("custom-status --watch: exit %d\nstdout:\n%s\nstderr:\n%s", c, stdout.String(), stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("custom-status --watch did not end with the instance; stdout:\n%s", stdout.String())
	}
}

// TestClientLocalMatchesServer: the documents the instance commands print with --json are
// the same from the local store as from a server, but for times and the server's namespace.
func TestClientLocalMatchesServer(t *testing.T) {
	l := newLocalHost(t)
	ts := newTestServer(t)
	ts.ok(t, "uploaded guest", "module", "push", writeFile(t, "guest.wasm", testguest.Build(t, "conformance/guests/go", "")))
	for _, ok := range []func(*testing.T, string, ...string) string{l.ok, ts.ok} {
		ok(t, "p1", "start", "event", "--id", "p1")
		// Raised once the instance waits, so that both histories have the same turns.
		waitFor(t, 30*time.Second, "the instance to wait for its event", func() bool {
			return strings.Contains(ok(t, "", "history", "p1"), "event_subscribed")
		})
		ok(t, "sent event", "raise", "p1", "approve", `{"yes":1}`)
		ok(t, `{"yes":1}`, "wait", "p1")
	}
	// strip drops what differs between two runs: times, and the namespace of the server (and
	// so the instance's key, instance_id).
	var strip func(v any) any
	strip = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			for _, k := range []string{"created_at", "updated_at", "completed_at", "time", "namespace", "instance_id", "next_page_token"} {
				delete(v, k)
			}
			for k, x := range v {
				v[k] = strip(x)
			}
		case []any:
			for i, x := range v {
				v[i] = strip(x)
			}
		}
		return v
	}
	for _, args := range [][]string{
		{"status", "p1", "--json"},
		{"wait", "p1", "--json"},
		{"custom-status", "p1", "--json"},
		{"history", "p1", "--json"},
		{"list", "--json"},
	} {
		var local, served any
		if err := json.Unmarshal([]byte(l.ok(t, "", args...)), &local); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(ts.ok(t, "", args...)), &served); err != nil {
			t.Fatal(err)
		}
		lj, _ := json.Marshal(strip(local))
		sj, _ := json.Marshal(strip(served))
		if string(lj) != string(sj) {
			t.Errorf("%s:\nlocal  %s\nserver %s", strings.Join(args, " "), lj, sj)
		}
	}
}
