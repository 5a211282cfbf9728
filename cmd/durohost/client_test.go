package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/server"
	"github.com/durohost/durohost/store/sqlite"
)

// testServer is a server on a loopback port over a started host, with namespace "a"
// (token "tok-a") and "b" (token "tok-b"). Its activity step_a blocks until release is closed.
type testServer struct {
	url     string
	release chan struct{}
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	cache, _ := cacheDir()
	h, err := host.New(st, host.WithCompilationCache(filepath.Join(cache, "wazero")))
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{release: make(chan struct{})}
	h.RegisterActivity("greet", func(_ context.Context, in []byte) ([]byte, error) {
		var s string
		json.Unmarshal(in, &s)
		return json.Marshal("Hello, " + s + "!")
	})
	h.RegisterActivity("step_a", func(ctx context.Context, _ []byte) ([]byte, error) {
		select {
		case <-ts.release:
			return []byte(`"released"`), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	srv, err := server.New(h, st, server.WithTokens(server.NewToken("a", "tok-a"), server.NewToken("b", "tok-b")))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	ts.url = hs.URL
	t.Cleanup(func() {
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.Stop(ctx)
		st.Close()
	})
	return ts
}

// cli runs a client command against the server with namespace a's token.
func (ts *testServer) cli(args ...string) result {
	return runCLI(append(args, "--server", ts.url, "--token", "tok-a")...)
}

func (ts *testServer) ok(t *testing.T, want string, args ...string) string {
	t.Helper()
	r := ts.cli(args...)
	if r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Fatalf("durohost %s: want exit 0 and %q in stdout, got %v", strings.Join(args, " "), want, r)
	}
	return r.stdout
}

func (ts *testServer) fails(t *testing.T, code int, want string, args ...string) result {
	t.Helper()
	r := ts.cli(args...)
	if r.code != code || !strings.Contains(r.stdout+r.stderr, want) {
		t.Fatalf("durohost %s: want exit %d and %q, got %v", strings.Join(args, " "), code, want, r)
	}
	return r
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClientVerbs(t *testing.T) {
	ts := newTestServer(t)
	hello := watFixture("hello.wasm")

	// Modules.
	ts.ok(t, "uploaded hello 1", "module", "push", hello, "--version", "1")
	ts.ok(t, "already uploaded hello 1", "module", "push", hello, "--version", "1")
	ts.fails(t, exitError, "version_exists", "module", "push", watFixture("calls.wasm"), "--name", "hello", "--version", "1")
	ts.fails(t, exitError, "invalid_module", "module", "push", watFixture("forbidden.wasm"))
	ts.ok(t, "hello", "module", "list")
	out := ts.ok(t, "wat_hello", "module", "show", "hello")
	if !strings.Contains(out, "durohost_v1.schedule") {
		t.Fatalf("module show: %s", out)
	}
	var mods struct{ Modules []map[string]any }
	if err := json.Unmarshal([]byte(ts.ok(t, `"modules"`, "module", "list", "--json")), &mods); err != nil || len(mods.Modules) != 1 {
		t.Fatalf("module list --json: %v %v", mods, err)
	}

	// An instance end to end.
	ts.ok(t, "h1", "start", "wat_hello", "--id", "h1")
	ts.ok(t, `"Hello, wat!"`, "wait", "h1", "--timeout", "30s")
	ts.ok(t, "completed", "status", "h1")
	var st map[string]any
	json.Unmarshal([]byte(ts.ok(t, `"status"`, "status", "h1", "--json")), &st)
	if st["status"] != "completed" || st["output"] != "Hello, wat!" {
		t.Fatalf("status --json: %v", st)
	}
	ts.ok(t, `activity_scheduled "greet" input "wat"`, "history", "h1")
	file := writeFile(t, "h1.json", []byte(ts.ok(t, `"events"`, "history", "h1", "--json")))
	if r := runCLI("replay", hello, "--history", file); r.code != 0 || strings.TrimSpace(r.stdout) != "compatible" {
		t.Fatalf("replay of its own history: %v", r)
	}
	ts.ok(t, "h1", "list")
	ts.fails(t, exitError, "instance_not_found", "status", "nope")
	ts.fails(t, exitError, "unknown_orchestration", "start", "nope")
	ts.fails(t, exitError, "not JSON", "start", "wat_hello", "--input", "{")
	// Namespace b does not see a's instance.
	if r := runCLI("status", "h1", "--server", ts.url, "--token", "tok-b"); r.code != exitError || !strings.Contains(r.stderr, "instance_not_found") {
		t.Fatalf("b reads a's instance: %v", r)
	}
	if r := runCLI("list", "--server", ts.url); r.code != exitError || !strings.Contains(r.stderr, "unauthenticated") {
		t.Fatalf("no token: %v", r)
	}
	// The environment gives the server and the token.
	t.Setenv(envServer, ts.url)
	t.Setenv(envToken, "tok-a")
	if r := runCLI("status", "h1"); r.code != 0 || !strings.Contains(r.stdout, "completed") {
		t.Fatalf("status from the environment: %v", r)
	}

	// Events, queues, cancel, rm, prune with the Go guest.
	guest := writeFile(t, "guest.wasm", testguest.Build(t, "conformance/guests/go", ""))
	ts.ok(t, "uploaded guest", "module", "push", guest)
	ts.ok(t, "e1", "start", "event", "--id", "e1")
	ts.ok(t, `sent event "approve" to e1`, "raise", "e1", "approve", `{"yes":1}`)
	ts.ok(t, `{"yes":1}`, "wait", "e1")
	ts.ok(t, "q1", "start", "queue", "--id", "q1", "--input", "2")
	ts.ok(t, "sent queue", "enqueue", "q1", "q", `"m1"`)
	ts.ok(t, "sent queue", "enqueue", "q1", "q", `"m2"`)
	ts.ok(t, `["m1","m2"]`, "wait", "q1")
	ts.ok(t, "c1", "start", "event", "--id", "c1")
	ts.fails(t, exitTimeout, "still", "wait", "c1", "--timeout", "50ms")
	ts.ok(t, "cancellation of c1 requested", "cancel", "c1", "--reason", "no longer needed")
	ts.fails(t, exitError, "cancelled", "wait", "c1")
	ts.ok(t, "deleted c1", "rm", "c1")
	ts.fails(t, exitError, "instance_not_found", "rm", "c1")
	ts.ok(t, "n1", "start", "continue", "--id", "n1", "--input", "0")
	ts.ok(t, "3", "wait", "n1")
	ts.ok(t, "pruned 3 executions of n1", "prune", "n1", "--keep-last", "1")
	var list struct{ Instances []map[string]any }
	json.Unmarshal([]byte(ts.ok(t, `"instances"`, "list", "--status", "completed", "--json")), &list)
	if len(list.Instances) != 4 {
		t.Fatalf("list --status completed: %v", list)
	}
	ts.ok(t, "e1", "list", "--name", "event", "--limit", "1")
}

// TestClientReplay: `durohost replay` and `module push --check` on a compatible and an
// incompatible build.
func TestClientReplay(t *testing.T) {
	ts := newTestServer(t)
	a := writeFile(t, "nd-a.wasm", testguest.Build(t, "conformance/guests/nondet", ""))
	b := writeFile(t, "nd-b.wasm", testguest.Build(t, "conformance/guests/nondet", "-X=main.variant=b"))
	ts.ok(t, "uploaded nd 1", "module", "push", a, "--name", "nd", "--version", "1")
	ts.ok(t, "open", "start", "nd_name", "--id", "open")
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(ts.cli("history", "open").stdout, "activity_scheduled") {
		if time.Now().After(deadline) {
			t.Fatal("the instance never scheduled its activity")
		}
		time.Sleep(10 * time.Millisecond) // polling for a condition, bounded by the deadline
	}
	hist := writeFile(t, "open.json", []byte(ts.ok(t, `"events"`, "history", "open", "--json")))

	ts.ok(t, "compatible", "replay", a, "--history", hist)
	ts.ok(t, "compatible", "replay", a, "--instance", "open")
	for _, args := range [][]string{{"replay", b, "--history", hist}, {"replay", b, "--instance", "open"}} {
		r := ts.fails(t, exitError, "first divergence at event #3", args...)
		for _, want := range []string{`history recorded: activity_scheduled "step_a" input 1`, `the module now:   activity_scheduled "step_b" input 1`} {
			if !strings.Contains(r.stdout, want) {
				t.Fatalf("%v: stdout lacks %q:\n%s", args, want, r.stdout)
			}
		}
	}
	r := ts.fails(t, exitError, `"compatible": false`, "replay", b, "--history", hist, "--json")
	var out struct {
		Divergence struct {
			Code     string
			Index    int64
			Recorded struct{ Name string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Divergence.Index != 3 || out.Divergence.Recorded.Name != "step_a" {
		t.Fatalf("replay --json: %v %s", err, r.stdout)
	}

	// The upload gate.
	ts.ok(t, "compatible: 1 open instances checked", "module", "push", a, "--name", "nd", "--version", "2", "--check")
	r = ts.fails(t, exitError, "incompatible: 1 open instances checked", "module", "push", b, "--name", "nd", "--version", "2", "--check")
	if !strings.Contains(r.stdout, `open (nd_name, execution 1): diverges`) || !strings.Contains(r.stdout, `"step_b"`) {
		t.Fatalf("check output:\n%s", r.stdout)
	}
	ts.fails(t, exitError, "give --history FILE or --instance ID", "replay", a)
	ts.fails(t, exitError, "give --id", "replay", a, "--history", writeFile(t, "bare.json", []byte(`{"events": []}`)))
	close(ts.release)
}

// TestClientCustomStatus: `custom-status` prints the value; --watch prints each change until
// the instance ends.
func TestClientCustomStatus(t *testing.T) {
	ts := newTestServer(t)
	guest := writeFile(t, "guest.wasm", testguest.Build(t, "conformance/guests/go", ""))
	ts.ok(t, "uploaded guest", "module", "push", guest)
	// sc_counter sets the custom status {"n": N} and waits for the event "next", up to N = 2.
	ts.ok(t, "w1", "start", "sc_counter", "--id", "w1", "--input", `{"n": 0, "to": 2, "event": "next"}`)
	waitFor(t, 30*time.Second, `custom status {"n":0}`, func() bool { return ts.cli("custom-status", "w1").stdout == "{\"n\":0}\n" })
	var cs map[string]any
	if err := json.Unmarshal([]byte(ts.ok(t, `"etag"`, "custom-status", "w1", "--json")), &cs); err != nil || cs["status"] != "running" {
		t.Fatalf("custom-status --json: %v %v", cs, err)
	}
	ts.fails(t, exitTimeout, "still running", "custom-status", "w1", "--watch", "--timeout", "50ms")
	ts.fails(t, exitError, "--timeout goes with --watch", "custom-status", "w1", "--timeout", "1s")

	var stdout, stderr syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run([]string{"durohost", "custom-status", "w1", "--watch", "--server", ts.url, "--token", "tok-a"}, &stdout, &stderr)
	}()
	for n := range 3 {
		want := fmt.Sprintf("{\"n\":%d}\n", n)
		waitFor(t, 30*time.Second, "the watch to print "+want, func() bool { return strings.HasSuffix(stdout.String(), want) })
		ts.ok(t, "sent event", "raise", "w1", "next", strconv.Itoa(n))
	}
	select {
	case c := <-code:
		if c != 0 || stdout.String() != "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n" {
			t.Fatalf("custom-status --watch: exit %d\nstdout:\n%s\nstderr:\n%s", c, stdout.String(), stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("custom-status --watch did not end with the instance; stdout:\n%s", stdout.String())
	}
	ts.ok(t, "completed", "status", "w1")
	// On an ended instance, --watch prints the value and returns.
	if out := ts.ok(t, `"completed"`, "custom-status", "w1", "--watch", "--json"); strings.Count(out, "\n") != 1 {
		t.Fatalf("custom-status --watch --json of an ended instance: %q", out)
	}
}
