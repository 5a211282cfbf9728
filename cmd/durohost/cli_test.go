package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/sqlite"
)

func TestRunHelloGoPackage(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "sub", "d.db")
	r := runCLI("run", example("hello"), "--input", `"World"`, "--db", db)
	if r.code != 0 || !strings.Contains(r.stdout, "Hello, World!") {
		t.Fatalf("want a greeting and exit code 0, got %v", r)
	}
	if len(lines(r.stdout)) != 1 || !jsonEqual(t, r.stdout, `"Hello, World! Bonjour, World! Hola, World!"`) {
		t.Errorf("stdout is not the output JSON on one line: %q", r.stdout)
	}
	for _, want := range []string{"database " + db, "instance ", "activity echo", "completed: "} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}

	// The second run takes the module from the cache, without compiling.
	cache, err := cacheDir()
	if err != nil {
		t.Fatal(err)
	}
	b := &guestBuilder{cacheDir: cache}
	plan, err := b.plan(context.Background(), example("hello"))
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(plan.cached)
	if err != nil {
		t.Fatalf("no cached build after the first run: %v", err)
	}
	r = runCLI("run", example("hello"), "--input", `"again"`, "--db", db, "--quiet")
	if r.code != 0 || !strings.Contains(r.stdout, "Hello, again!") {
		t.Fatalf("second run: %v", r)
	}
	if strings.Contains(r.stderr, "compiling") || strings.Contains(r.stderr, "#2 started") {
		t.Errorf("second run compiled again or printed progress with --quiet:\n%s", r.stderr)
	}
	after, err := os.Stat(plan.cached)
	if err != nil || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("the cached build was replaced (%v)", err)
	}
}

func TestExamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, input, want string
	}{
		{"fanout", `{"items": 5}`, `{"count": 5, "sum_of_squares": 55}`},
		{"approval", `{"request": "new laptop", "timeout_ms": 100}`, `{"request": "new laptop", "status": "timed out"}`},
		{"saga", `{"fail_at": "book_car"}`, `{"booked": ["book_flight", "book_hotel"], "compensated": ["cancel_hotel", "cancel_flight"], "error": "book_car failed: no availability"}`},
		{"saga", `{}`, `{"booked": ["book_flight", "book_hotel", "book_car"], "compensated": []}`},
		{"monitor", `{"checks": 3, "interval_ms": 10}`, `{"rounds": 3}`},
		{"orders", `{"orders": [{"id": "a", "qty": 2}, {"id": "b", "qty": 1}]}`, `{"results": [{"id": "a", "status": "shipped"}, {"id": "b", "status": "shipped"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := filepath.Join(t.TempDir(), "d.db")
			r := runCLI("run", example(tt.name), "--input", tt.input, "--db", db, "--id", "x", "--timeout", "60s")
			if r.code != 0 {
				t.Fatalf("%v", r)
			}
			if !jsonEqual(t, r.stdout, tt.want) {
				t.Fatalf("output %s, want %s\n%v", r.stdout, tt.want, r)
			}
			checkInstanceTree(t, db, "x")
		})
	}
	t.Run("failure", func(t *testing.T) {
		t.Parallel()
		db := filepath.Join(t.TempDir(), "d.db")
		r := runCLI("run", example("fanout"), "--input", `{"items": -1}`, "--db", db, "--quiet")
		if r.code != 1 || !strings.Contains(r.stderr, "failed: items must be between 1 and 1000, got -1 (application, code bad_input)") {
			t.Fatalf("want exit code 1 and the failure, got %v", r)
		}
		if r.stdout != "" {
			t.Errorf("stdout: %q", r.stdout)
		}
	})
}

// checkInstanceTree checks the histories of an instance and its sub-orchestrations.
func checkInstanceTree(t *testing.T, db, id string) {
	t.Helper()
	st, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tree, err := host.NewClient(st).Tree(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var walk func(*host.Tree)
	walk = func(n *host.Tree) {
		execs, err := st.Executions(context.Background(), n.Instance.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, ex := range execs {
			hist, err := st.History(context.Background(), n.Instance.ID, ex.ID)
			if err != nil {
				t.Fatal(err)
			}
			checkHistory(t, n.Instance.ID, hist, true)
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(tree)
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notWasm := filepath.Join(dir, "text.wasm")
	if err := os.WriteFile(notWasm, []byte("(module)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	hello := watFixture("hello.wasm")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"missing file", []string{"run", "nothere.wasm"}, []string{"nothere.wasm", "no such file"}},
		{"directory without Go files", []string{"run", empty}, []string{empty, "holds no guest project"}},
		{"not a main package", []string{"run", filepath.Join("..", "..", "history")}, []string{"history", "package history, not a main package"}},
		{"not WebAssembly", []string{"run", notWasm}, []string{"text.wasm", "not a WebAssembly module"}},
		{"forbidden imports", []string{"run", watFixture("forbidden.wasm")}, []string{"forbidden.wasm", "forbidden function env.exit", "sock_open"}},
		{"unknown orchestration", []string{"run", hello, "--orchestration", "nope"}, []string{`does not register orchestration "nope"`, "it registers: wat_hello"}},
		{"invalid JSON input", []string{"run", hello, "--input", "{bad"}, []string{"--input is not valid JSON"}},
		{"plain text input", []string{"run", hello, "--input", "World"}, []string{"--input is not valid JSON", `'"text"'`}},
		{"unknown instance", []string{"run", hello, "--resume", "nope"}, []string{`no instance "nope"`}},
		{"resume with id", []string{"run", hello, "--resume", "a", "--id", "b"}, []string{"--id cannot be used with --resume"}},
		{"no module", []string{"run"}, []string{"expected one module"}},
		{"two modules", []string{"run", hello, hello}, []string{"expected one module", "got 2"}},
		{"unknown flag", []string{"run", hello, "--bogus"}, []string{"flag provided but not defined: -bogus", "durohost run --help"}},
		{"bad allow-http", []string{"run", hello, "--allow-http", "http://x/y"}, []string{"allow-http"}},
		{"no orchestration workers", []string{"run", hello, "--orchestration-workers", "0"}, []string{"--orchestration-workers and --activity-workers must be at least 1", "got 0 and 32"}},
		{"unknown command", []string{"bogus"}, []string{"bogus"}},
		{"unknown activity", []string{"activities", "nope"}, []string{`no built-in activity "nope"`, "echo, sleep, http, shell"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := tt.args
			if args[0] == "run" {
				args = append(args, "--db", filepath.Join(t.TempDir(), "d.db"))
			}
			r := runCLI(args...)
			if r.code == 0 {
				t.Fatalf("exit code 0: %v", r)
			}
			var errs []string
			for _, l := range lines(r.stderr) {
				if !strings.HasPrefix(l, "database ") {
					errs = append(errs, l)
				}
			}
			if len(errs) != 1 {
				t.Fatalf("want a single error line, got %d: %v", len(errs), r)
			}
			for _, w := range tt.want {
				if !strings.Contains(errs[0], w) {
					t.Errorf("error %q does not contain %q", errs[0], w)
				}
			}
			if r.stdout != "" {
				t.Errorf("stdout: %q", r.stdout)
			}
		})
	}
}

func TestResume(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "d.db")
	// A 2 s durable timer outlives a 200 ms run: exit code 2, the instance is left running.
	r := runCLI("run", example("approval"), "--input", `{"request": "r", "timeout_ms": 2000}`, "--db", db, "--id", "slow", "--timeout", "200ms")
	if r.code != 2 {
		t.Fatalf("want exit code 2, got %v", r)
	}
	hint := "durohost run " + example("approval") + " --resume slow --store " + db
	if !strings.Contains(r.stderr, hint) {
		t.Fatalf("stderr lacks the resume command %q:\n%s", hint, r.stderr)
	}

	r = runCLI("run", example("approval"), "--resume", "slow", "--db", db)
	if r.code != 0 || !jsonEqual(t, r.stdout, `{"request": "r", "status": "timed out"}`) {
		t.Fatalf("resume: %v", r)
	}
	if !strings.Contains(r.stderr, "timer #5 fired") {
		t.Errorf("resume progress lacks the timer:\n%s", r.stderr)
	}
	if st := status(t, db, "slow"); st.Status != store.StatusCompleted {
		t.Errorf("instance is %s after the resume", st.Status)
	}
	// Resuming a finished instance prints its output again.
	r = runCLI("run", example("approval"), "--resume", "slow", "--db", db, "--quiet")
	if r.code != 0 || !strings.Contains(r.stdout, "timed out") {
		t.Fatalf("resume of a finished instance: %v", r)
	}
	// Starting it again is refused.
	r = runCLI("run", example("approval"), "--id", "slow", "--db", db, "--quiet")
	if r.code != 1 || !strings.Contains(r.stderr, `instance "slow" already exists`) {
		t.Fatalf("start of an existing ID: %v", r)
	}
}

// TestResumePendingStart resumes an instance whose start message was enqueued by a client
// while no host ran: it has no instance row yet.
func TestResumePendingStart(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "d.db")
	cache, _ := cacheDir()
	wasm, err := (&guestBuilder{cacheDir: cache, log: os.Stderr}).build(context.Background(), example("hello"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(st, host.WithCompilationCache(filepath.Join(cache, "wazero")))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := h.LoadModule(ctx, wasm); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Client().Start(ctx, "hello", []byte(`"pending"`), host.WithInstanceID("p1")); err != nil {
		t.Fatal(err)
	}
	h.Stop(ctx)
	st.Close()

	r := runCLI("run", example("hello"), "--resume", "p1", "--db", db)
	if r.code != 0 || !strings.Contains(r.stdout, "Hello, pending!") {
		t.Fatalf("%v", r)
	}
}

// status reads an instance from the database.
func status(t *testing.T, db, id string) *store.Instance {
	t.Helper()
	st, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	in, err := st.Instance(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestActivities(t *testing.T) {
	t.Parallel()
	r := runCLI("activities")
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	for _, name := range []string{"echo", "sleep", "http", "shell"} {
		if !strings.Contains(r.stdout, "\n"+name+"\n") && !strings.HasPrefix(r.stdout, name+"\n") {
			t.Errorf("activities does not list %s:\n%s", name, r.stdout)
		}
	}
	for _, want := range []string{"Input:", "Output:", "Example input:", "--allow-http", "--enable-shell"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("activities output lacks %q", want)
		}
	}
	r = runCLI("activities", "sleep")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "sleep\n") || strings.Contains(r.stdout, "\necho\n") {
		t.Errorf("activities sleep: %v", r)
	}
}

func TestHelpAndVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"run", "activities", "version", "durohost run wasm-examples/go/hello"}},
		{[]string{"run", "--help"}, []string{"--resume", "--input", "--store", "--db", "DUROHOST_STORE", "postgres://", "--allow-http", "--enable-shell", "--timeout", "Exit codes"}},
		{[]string{"worker", "--help"}, []string{"--store", "--config", "--shared-registry", "same activity flags"}},
		{[]string{"serve", "--help"}, []string{"--store", "postgres://"}},
		{[]string{"replay", "--help"}, []string{"takes no --store"}},
		{[]string{"help", "run"}, []string{"--resume"}},
		{[]string{"activities", "--help"}, []string{"built-in activities"}},
		{[]string{"version"}, []string{"durohost ", "ABI v1", "go1."}},
		{[]string{"--version"}, []string{"ABI v1"}},
	}
	for _, tt := range tests {
		r := runCLI(tt.args...)
		if r.code != 0 {
			t.Errorf("%v: %v", tt.args, r)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%v: stdout lacks %q:\n%s", tt.args, w, r.stdout)
			}
		}
	}
	if r := runCLI("--help"); !strings.Contains(r.stdout, "worker") {
		t.Errorf("the worker command is not listed:\n%s", r.stdout)
	}
}

func TestPermuteArgs(t *testing.T) {
	flags := runCommand().Flags
	tests := []struct{ in, want string }{
		{"m.wasm --input 1 --quiet", "--input 1 --quiet m.wasm"},
		{"--db x m.wasm -q --id=a", "--db x -q --id=a m.wasm"},
		{"m.wasm -- -weird", "-- m.wasm -weird"},
		{"-- -weird --input 1", "-- -weird --input 1"},
		{"m.wasm --enable-shell --allow-http a --allow-http b", "--enable-shell --allow-http a --allow-http b m.wasm"},
	}
	for _, tt := range tests {
		got := strings.Join(permuteArgs(flags, strings.Fields(tt.in)), " ")
		if got != tt.want {
			t.Errorf("permuteArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDefaultDB(t *testing.T) {
	data := t.TempDir()
	t.Setenv("XDG_DATA_HOME", data)
	want := filepath.Join(data, "durohost", "durohost.db")
	if got, err := defaultDBPath(); err != nil || got != want {
		t.Fatalf("defaultDBPath() = %q, %v; want %q", got, err, want)
	}
	// The orchestration event waits for an event that never comes: until --timeout (exit 2).
	guest := writeFile(t, "guest.wasm", testguest.Build(t, "conformance/guests/go", ""))
	r := runCLI("run", guest, "--orchestration", "event", "--timeout", "50ms")
	if r.code != 2 || !strings.Contains(r.stderr, "database "+want) || !strings.Contains(r.stderr, "still running after --timeout 50ms") {
		t.Fatalf("%v", r)
	}
	if _, err := os.Stat(want); err != nil {
		t.Fatal(err)
	}
	// $DUROHOST_DB overrides the default.
	other := filepath.Join(t.TempDir(), "env.db")
	t.Setenv(envDB, other)
	r = runCLI("run", guest, "--orchestration", "event", "--timeout", "50ms", "--quiet")
	if r.code != 2 || !strings.Contains(r.stderr, "database "+other) {
		t.Fatalf("%v", r)
	}
}

// TestRunUnknownActivity: in run, a call to an activity no built-in provides fails at once
// (not after the backoff serve and worker keep, here made longer than the test may take),
// naming the activities there are.
func TestRunUnknownActivity(t *testing.T) {
	t.Parallel()
	guest := writeFile(t, "guest.wasm", testguest.Build(t, "conformance/guests/go", ""))
	r := runCLI("run", guest, "--orchestration", "activity_fail", "--store", filepath.Join(t.TempDir(), "u.db"),
		"--unregistered-backoff", "10m", "--quiet")
	want := `activity "fails" is not registered: the activities are echo, http, shell, sleep`
	if r.code != exitError || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "DH-UNREGISTERED-001") {
		t.Fatalf("want exit 1 and %q, got %v", want, r)
	}
	if r := runCLI("run", guest, "--max-attempts", "0"); r.code != exitError || !strings.Contains(r.stderr, "--max-attempts must be at least 1") {
		t.Fatalf("--max-attempts 0: %v", r)
	}
}
