package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/sqlite"
)

// crashGuest is the workload of the process tests (see testdata/crashguest).
var crashGuest = filepath.Join("testdata", "crashguest")

// stepServer answers GET /<instance>/<i> with 2*i and counts the requests of each path.
type stepServer struct {
	*httptest.Server
	mu    sync.Mutex
	hits  map[string]int
	delay time.Duration
}

func newStepServer(t *testing.T, delay time.Duration) *stepServer {
	s := &stepServer{hits: map[string]int{}, delay: delay}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		i, err := strconv.Atoi(parts[len(parts)-1])
		if err != nil {
			http.Error(w, "bad step", http.StatusBadRequest)
			return
		}
		if s.delay > 0 {
			time.Sleep(s.delay) // simulated work of the activity
		}
		s.mu.Lock()
		s.hits[r.URL.Path]++
		s.mu.Unlock()
		fmt.Fprint(w, 2*i)
	}))
	t.Cleanup(s.Close)
	return s
}

// check checks that every step of instance id ran at least once, and returns how many ran
// more than once.
func (s *stepServer) check(t *testing.T, id string, steps int) (again int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range steps {
		n := s.hits[fmt.Sprintf("/%s/%d", id, i)]
		if n == 0 {
			t.Errorf("%s: step %d never ran", id, i)
		}
		again += max(n-1, 0)
	}
	return again
}

// syncBuffer is a bytes.Buffer safe for a process writing while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// process is a running durohost.
type process struct {
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{}
	err            error
}

func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	return startProcessEnv(t, nil, bin, args...)
}

// startProcessEnv starts bin with args and extra environment variables; the process is killed
// when the test ends.
func startProcessEnv(t *testing.T, env []string, bin string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// code returns the exit code of an ended process (-1 if killed by a signal).
func (p *process) code() int {
	<-p.done
	return p.cmd.ProcessState.ExitCode()
}

func (p *process) String() string {
	return fmt.Sprintf("%v: %v\nstdout:\n%s\nstderr:\n%s", p.cmd.Args[1:], p.err, p.stdout.String(), p.stderr.String())
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// prebuild compiles a guest into the shared cache so that the processes do not.
func prebuild(t *testing.T, dir string) []byte {
	t.Helper()
	cache, err := cacheDir()
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := (&guestBuilder{cacheDir: cache, log: io.Discard}).build(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

// progressEvent matches a progress line of the main instance.
var progressEvent = regexp.MustCompile(`(?m)^\s*\+\S+\s+#\d+ `)

// waitProgress waits until the run p reports progress (or ends).
func waitProgress(t *testing.T, p *process) {
	t.Helper()
	waitFor(t, 20*time.Second, "progress of "+strings.Join(p.cmd.Args[1:], " "), func() bool {
		select {
		case <-p.done:
			return true
		default:
			return progressEvent.MatchString(p.stderr.String())
		}
	})
}

// crashOutput is the output of the crash guest.
type crashOutput struct {
	Steps int `json:"steps"`
	Sum   int `json:"sum"`
}

func checkCrashOutput(t *testing.T, id, stdout string, steps int) {
	t.Helper()
	var out crashOutput
	if err := json.Unmarshal([]byte(stdout), &out); err != nil || out.Steps != steps || out.Sum != steps*(steps-1) {
		t.Fatalf("%s: output %q (%v), want steps %d and sum %d", id, stdout, err, steps, steps*(steps-1))
	}
}

// TestCrashRecovery kills `durohost run` with SIGKILL at random points, again and again,
// resuming each time, and checks that every instance completes with the right output, that
// no decision is recorded twice and that every activity ran at least once.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("kills processes for tens of seconds")
	}
	bin := binary(t)
	prebuild(t, crashGuest)
	srv := newStepServer(t, 0)
	db := filepath.Join(t.TempDir(), "crash.db")
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("seed %d", seed)

	const (
		steps    = 100
		minKills = 25
	)
	start := time.Now()
	deadline := start.Add(75 * time.Second)
	var kills, restarts, noInstance, again int
	var completed []string
	for n := 1; kills < minKills; n++ {
		id := fmt.Sprintf("crash-%d", n)
		input := fmt.Sprintf(`{"steps": %d, "url": %q, "timer_ms": 20}`, steps, srv.URL)
		started := false
		for {
			if time.Now().After(deadline) {
				t.Fatalf("not done after %s: %d kills, %d restarts", time.Since(start), kills, restarts)
			}
			// A killed run leaves its locks behind: a short lock timeout lets the next run
			// take the work over quickly.
			args := []string{"run", crashGuest, "--db", db, "--allow-http", "127.0.0.1", "--lock-timeout", "1s"}
			if started {
				args = append(args, "--resume", id)
				restarts++
			} else {
				args = append(args, "--id", id, "--input", input)
				started = true
			}
			p := startProcess(t, bin, args...)
			// Kill at a random point: one time in four during start-up (module load, replay,
			// waiting for the dead run's locks to expire), otherwise while the instance makes
			// progress (in a turn, an activity, a commit).
			// Once there were enough kills, the run is left to complete.
			if kills < minKills {
				if rng.IntN(4) > 0 {
					waitProgress(t, p)
				}
				timer := time.NewTimer(time.Duration(rng.IntN(400)) * time.Millisecond)
				select {
				case <-p.done:
					timer.Stop()
				case <-timer.C:
					p.cmd.Process.Signal(syscall.SIGKILL)
					<-p.done
				}
			} else {
				select {
				case <-p.done:
				case <-time.After(time.Until(deadline)):
					t.Fatalf("the last run did not complete: %v", p)
				}
			}
			switch code := p.code(); {
			case code == -1:
				kills++
				continue
			case code == 1 && strings.Contains(p.stderr.String(), "no instance"):
				// Killed before the start was committed: start it again.
				noInstance++
				started = false
				restarts--
				continue
			case code != 0:
				t.Fatalf("exit code %d: %v", code, p)
			}
			checkCrashOutput(t, id, p.stdout.String(), steps)
			completed = append(completed, id)
			break
		}
	}
	elapsed := time.Since(start)

	st, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, id := range completed {
		hist, err := st.History(context.Background(), id, 0)
		if err != nil {
			t.Fatal(err)
		}
		checkHistory(t, id, hist, true)
		var acts, timers int
		for _, e := range hist {
			switch e.Kind {
			case history.KindActivityScheduled:
				acts++
			case history.KindTimerCreated:
				timers++
			}
		}
		if want := steps + (steps+2)/3; acts != want || timers != steps/20 {
			t.Errorf("%s: %d activities and %d timers in history, want %d and %d", id, acts, timers, want, steps/20)
		}
		again += srv.check(t, id, steps)
	}
	t.Logf("%d SIGKILLs, %d restarts with --resume (%d before the start was committed), %d instances of %d steps completed in %s; %d http activities ran more than once",
		kills, restarts, noInstance, len(completed), steps, elapsed.Round(time.Millisecond), again)
}

// TestInterrupt sends SIGINT to `durohost run`: it stops gracefully with exit code 130 and
// says how to resume, and the resumed run completes the instance.
func TestInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	t.Parallel()
	bin := binary(t)
	prebuild(t, crashGuest)
	srv := newStepServer(t, 0)
	db := filepath.Join(t.TempDir(), "int.db")
	const steps = 100
	input := fmt.Sprintf(`{"steps": %d, "url": %q, "timer_ms": 100}`, steps, srv.URL)
	p := startProcess(t, bin, "run", crashGuest, "--db", db, "--allow-http", "127.0.0.1", "--id", "int", "--input", input)
	waitFor(t, 30*time.Second, "the first timer", func() bool { return strings.Contains(p.stderr.String(), "timer created") })
	p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.code(); code != exitInterrupted {
		t.Fatalf("exit code %d, want %d: %v", code, exitInterrupted, p)
	}
	hint := "durohost run " + crashGuest + " --resume int --store " + db
	if !strings.Contains(p.stderr.String(), hint) {
		t.Fatalf("stderr lacks %q: %v", hint, p)
	}
	p = startProcess(t, bin, "run", crashGuest, "--db", db, "--allow-http", "127.0.0.1", "--resume", "int", "--quiet")
	if code := p.code(); code != 0 {
		t.Fatalf("resume: %v", p)
	}
	checkCrashOutput(t, "int", p.stdout.String(), steps)
	srv.check(t, "int", steps)
}

// progressLine matches a worker's progress line for a history event: instance and event ID.
var progressLine = regexp.MustCompile(`^\s*\+\S+\s+\[([^\]]+)\] #(\d+) `)

// TestTwoHosts runs two worker processes on one SQLite file and checks that they shared
// the work without processing any turn twice: every history event was committed (and
// reported) by exactly one of them.
func TestTwoHosts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	t.Parallel()
	bin := binary(t)
	wasm := prebuild(t, crashGuest)
	srv := newStepServer(t, 2*time.Millisecond)
	db := filepath.Join(t.TempDir(), "shared.db")
	ctx := context.Background()

	// Register the module in the database (a host that is never started).
	st, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cache, err := cacheDir()
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(st, host.WithCompilationCache(filepath.Join(cache, "wazero")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.LoadModule(ctx, wasm); err != nil {
		t.Fatal(err)
	}
	h.Stop(ctx)

	// Two turns at once each: a host keeps running the instances it started (their results
	// come back to it), so with room for all sixteen one worker could take them all; with two,
	// the rest wait in the queue for either.
	workers := []*process{
		startProcess(t, bin, "worker", "--db", db, "--allow-http", "127.0.0.1", "--orchestration-workers", "2"),
		startProcess(t, bin, "worker", "--db", db, "--allow-http", "127.0.0.1", "--orchestration-workers", "2"),
	}
	for _, w := range workers {
		waitFor(t, 30*time.Second, "a worker to start", func() bool { return strings.Contains(w.stderr.String(), "worker running") })
	}

	const instances, steps = 16, 40
	client := host.NewClient(st)
	var ids []string
	for i := range instances {
		id := fmt.Sprintf("shared-%d", i)
		input := fmt.Sprintf(`{"steps": %d, "url": %q, "timer_ms": 10}`, steps, srv.URL)
		if _, err := client.Start(ctx, "crash", []byte(input), host.WithInstanceID(id)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	start := time.Now()
	waitFor(t, 60*time.Second, "every instance to finish", func() bool {
		page, err := client.List(ctx, store.Filter{IDPrefix: "shared-", Statuses: []store.Status{store.StatusCompleted, store.StatusFailed, store.StatusCancelled}})
		return err == nil && len(page.Instances) == instances
	})
	elapsed := time.Since(start)
	for _, w := range workers {
		w.cmd.Process.Signal(syscall.SIGTERM)
		if code := w.code(); code != 0 {
			t.Fatalf("worker exit code %d: %v", code, w)
		}
	}

	// Which worker reported (so committed) each event.
	by := map[string]int{}
	turns := make([]int, len(workers))
	for wi, w := range workers {
		for _, l := range lines(w.stderr.String()) {
			m := progressLine.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			key := m[1] + "#" + m[2]
			if prev, ok := by[key]; ok {
				t.Errorf("event %s reported by worker %d and by worker %d", key, prev, wi)
			}
			by[key] = wi
			turns[wi]++
		}
	}
	for _, id := range ids {
		in, err := client.Status(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if in.Status != store.StatusCompleted {
			t.Fatalf("%s: %s %v", id, in.Status, in.Failure)
		}
		checkCrashOutput(t, id, string(in.Output), steps)
		hist, err := client.History(ctx, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		checkHistory(t, id, hist, true)
		for _, e := range hist {
			key := fmt.Sprintf("%s#%d", id, e.ID)
			if _, ok := by[key]; !ok && e.Kind != history.KindTurnStarted {
				t.Errorf("%s (%s) is in history but no worker reported committing it", key, e.Kind)
			}
			delete(by, key)
		}
		srv.check(t, id, steps)
	}
	for key := range by {
		t.Errorf("a worker reported %s, which is not in history", key)
	}
	if turns[0] == 0 || turns[1] == 0 {
		t.Errorf("the work was not shared: events committed per worker %v", turns)
	}
	t.Logf("%d instances of %d steps in %s; events committed per worker: %v", instances, steps, elapsed.Round(time.Millisecond), turns)
}
