package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store/postgres/pgtest"
)

// testDir holds what the tests share: the cache of compiled guests and modules
// ($DUROHOST_CACHE_DIR) and the durohost binary of the process tests.
var testDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "durohost-cli-test-")
	if err != nil {
		panic(err)
	}
	testDir = dir
	os.Setenv(envCacheDir, filepath.Join(dir, "cache"))
	os.Unsetenv(envDB)
	os.Unsetenv(envStore)
	code := m.Run()
	if pg.srv != nil {
		if err := pg.srv.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop the PostgreSQL server of the tests: %v\n", err)
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// pg is the PostgreSQL server of the tests that need one, started by the first (see
// pgtest: a throw-away server, or the one of $DUROHOST_TEST_POSTGRES).
var pg struct {
	once sync.Once
	srv  *pgtest.Server
	err  error
}

// pgDatabase returns the URL of an empty PostgreSQL database for t; the test fails when no
// server can be had (it never skips).
func pgDatabase(t *testing.T) string {
	t.Helper()
	pg.once.Do(func() { pg.srv, pg.err = pgtest.Start() })
	if pg.err != nil {
		t.Fatalf("PostgreSQL is needed by this test and none could be had: %v", pg.err)
	}
	return pg.srv.NewDatabase(t)
}

// result is what one run of the CLI produced.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit code %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// runCLI calls run with args (without the program name) and buffers.
func runCLI(args ...string) result {
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"durohost"}, args...), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

// example returns the directory of an example orchestration, relative to this package.
func example(name string) string { return filepath.Join("..", "..", "wasm-examples", "go", name) }

// watFixture returns a WebAssembly fixture of the conformance suite.
func watFixture(name string) string {
	return filepath.Join("..", "..", "conformance", "testdata", "wat", name)
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds the durohost binary once for the tests that run it as a process.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binPath = filepath.Join(testDir, "bin", "durohost")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// checkHistory checks the invariants of one execution's history: event IDs 1, 2, 3, ...,
// every completion refers to an earlier decision of the right kind, no decision completes
// twice, and (for a finished execution) every activity and timer completed exactly once.
func checkHistory(t *testing.T, id string, hist []history.Event, finished bool) {
	t.Helper()
	decisions := map[int64]history.Kind{}
	completed := map[int64]int{}
	for i, e := range hist {
		if e.ID != int64(i+1) {
			t.Fatalf("%s: event %d has ID %d (duplicate or gap)", id, i, e.ID)
		}
		if e.Kind.IsDecision() {
			decisions[e.ID] = e.Kind
		}
		if e.Kind.IsCompletion() {
			want := map[history.Kind]history.Kind{
				history.KindActivityCompleted:         history.KindActivityScheduled,
				history.KindActivityFailed:            history.KindActivityScheduled,
				history.KindTimerFired:                history.KindTimerCreated,
				history.KindSubOrchestrationCompleted: history.KindSubOrchestrationScheduled,
				history.KindSubOrchestrationFailed:    history.KindSubOrchestrationScheduled,
			}[e.Kind]
			if decisions[e.Ref] != want {
				t.Fatalf("%s: event %d (%s) refers to #%d, a %s", id, e.ID, e.Kind, e.Ref, decisions[e.Ref])
			}
			completed[e.Ref]++
			if completed[e.Ref] > 1 {
				t.Fatalf("%s: decision #%d (%s) completed %d times", id, e.Ref, decisions[e.Ref], completed[e.Ref])
			}
		}
	}
	if !finished {
		return
	}
	for ref, k := range decisions {
		if (k == history.KindActivityScheduled || k == history.KindTimerCreated) && completed[ref] != 1 {
			t.Errorf("%s: %s #%d completed %d times", id, k, ref, completed[ref])
		}
	}
}

// lines returns the non-empty lines of s.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// jsonEqual reports whether a and b are the same JSON value.
func jsonEqual(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatalf("not JSON: %q: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("not JSON: %q: %v", b, err)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}
