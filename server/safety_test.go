package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/sqlite"
)

// A shared server under hostile and concurrent use, over HTTP: concurrent uploads of one
// module, compile bombs, compilations abandoned by their client, memory-hungry uploads.

// maxDepth is the block nesting the host accepts in a function body before compiling it
// (wasmopt.DefaultLimits.MaxDepth, not importable from here).
const maxDepth = 3000

// slowFuncs is how many functions nested maxDepth-1 deep make the slow module: within every
// limit checked before compiling, and seconds to compile (BenchmarkCompileSlowModule).
const slowFuncs = 100

// slowModule is a module that passes the checks made before compiling and takes seconds to
// compile.
func slowModule(t testing.TB) []byte { return testguest.Nested(t, maxDepth-1, slowFuncs, 0) }

// loggedEnv is newEnvWith with the server's log kept for the test to read (and shown if the
// test fails).
func loggedEnv(t *testing.T, ec envConfig, opts ...Option) (*env, *logBuffer) {
	t.Helper()
	log := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", log.String())
		}
	})
	opts = append([]Option{WithLogger(slog.New(slog.NewTextHandler(log, nil)))}, opts...)
	return newEnvWith(t, ec, opts...), log
}

// send is call for any goroutine and with a context: it returns the transport's error
// rather than failing the test.
func (e *env) send(ctx context.Context, token, method, path string, body []byte) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, method, e.url+path, bytes.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, data, resp.Header}, err
}

// sendWithin sends a request that must be answered with status (and, for an error, code)
// within d.
func (e *env) sendWithin(d time.Duration, token, method, path string, body []byte, status int, code string) reply {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), d)
	defer cancel()
	start := time.Now()
	r, err := e.send(ctx, token, method, path, body)
	if err != nil {
		e.t.Fatalf("%s %s: no answer after %s: %v", method, path, time.Since(start).Round(time.Millisecond), err)
	}
	if r.status != status {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, status, r.body)
	}
	if code != "" {
		if got := r.code(e.t); got != code {
			e.t.Fatalf("%s %s: code %q, want %q; body %s", method, path, got, code, r.body)
		}
	}
	return r
}

// eventually polls cond until it holds, failing the test after failsafe.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(failsafe)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %s", what, failsafe)
		}
		time.Sleep(2 * time.Millisecond) // polling for a condition, bounded by the deadline
	}
}

func hashOf(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return hex.EncodeToString(sum[:])
}

// errorMessage returns the message of an error answer.
func errorMessage(t *testing.T, r reply) string {
	t.Helper()
	r.code(t)
	return r.obj(t)["error"].(map[string]any)["message"].(string)
}

// processCPU returns the CPU time (user and system) the process has used, read from
// /proc/self/stat; false where it cannot be read.
func processCPU() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	// The fields after the command's closing parenthesis start at field 3 (state); utime and
	// stime are fields 14 and 15, in clock ticks of 1/100 s (USER_HZ, the same on every
	// Linux).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, true
}

// cpuSince formats the CPU time used since start (from processCPU), or "unknown".
func cpuSince(start time.Duration, ok bool) string {
	now, ok2 := processCPU()
	if !ok || !ok2 {
		return "unknown"
	}
	return (now - start).String()
}

// TestConcurrentUploadsCompileOnce: on a server whose host has compiled nothing (an empty
// compilation cache), 16 uploads of the same module and 16 ?check=replay uploads of it, all
// at once, are each answered, without a 5xx or a panic, and compile the module once for all
// of them; the checks replay the namespace's running instances, which then run on that one
// compilation.
func TestConcurrentUploadsCompileOnce(t *testing.T) {
	const uploads, checks = 16, 16
	// Every request is answered well within this (a few seconds on a 2-core machine, a minute
	// with -race): reaching it means a request hangs.
	const deadline = 5 * time.Minute
	guest := goGuest(t)
	db := filepath.Join(t.TempDir(), "s.db")

	// Two instances waiting for an event, started by an earlier server on the same database.
	first := newEnvWith(t, envConfig{db: db})
	first.upload(tokA, "guest", "1", guest)
	waiting := []string{"w1", "w2"}
	for _, id := range waiting {
		first.start(tokA, "event", id, nil)
		first.waitFor(tokA, id, "running", func(m map[string]any) bool { return m["status"] == "running" })
	}
	first.close()

	e, log := loggedEnv(t, envConfig{db: db, hostOpts: []host.Option{host.WithCompilationCache(t.TempDir())}})
	if s := e.h.ModuleStats(); s.Compiles != 0 || s.Loaded != 0 {
		t.Fatalf("a fresh host has compiled modules already: %+v", s)
	}

	type result struct {
		check bool
		r     reply
		err   error
	}
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	begin := make(chan struct{})
	results := make(chan result, uploads+checks)
	for i := range uploads + checks {
		check := i >= uploads
		go func() {
			path := "/v1/modules/guest?version=2"
			if check {
				path += "&check=replay"
			}
			<-begin
			r, err := e.send(ctx, tokA, "PUT", path, guest)
			results <- result{check, r, err}
		}()
	}
	started := time.Now()
	close(begin)
	created := 0
	for n := range uploads + checks {
		var res result
		select {
		case res = <-results:
		case <-ctx.Done():
			t.Fatalf("%d of %d requests unanswered after %s", uploads+checks-n, uploads+checks, deadline)
		}
		switch {
		case res.err != nil:
			t.Fatalf("a request failed: %v", res.err)
		case res.r.status >= 500:
			t.Fatalf("check=%v: status %d: %s", res.check, res.r.status, res.r.body)
		case res.check:
			if res.r.status != http.StatusOK {
				t.Fatalf("check: status %d: %s", res.r.status, res.r.body)
			}
			var out struct {
				Check checkJSON `json:"check"`
			}
			must(t, json.Unmarshal(res.r.body, &out))
			if c := out.Check; !c.Compatible || c.Checked != len(waiting) || len(c.Instances) != len(waiting) {
				t.Fatalf("check = %s, want the %d waiting instances replayed, compatible", res.r.body, len(waiting))
			}
		case res.r.status == http.StatusCreated:
			created++
		case res.r.status != http.StatusOK:
			t.Fatalf("upload: status %d: %s", res.r.status, res.r.body)
		}
	}
	t.Logf("%d uploads and %d checks of a %d KiB module answered in %s (%d answered 201 created)",
		uploads, checks, len(guest)>>10, time.Since(started).Round(time.Millisecond), created)
	if s := e.h.ModuleStats(); s.Compiles != 1 || s.Loaded != 1 {
		t.Fatalf("after %d concurrent uploads of one module: %+v, want 1 compilation, 1 module loaded", uploads+checks, s)
	}
	if strings.Contains(log.String(), "panic") {
		t.Fatalf("the server logged a panic:\n%s", log.String())
	}
	// The instances run on that compilation.
	for _, id := range waiting {
		e.expect(tokA, "POST", "/v1/instances/"+id+"/events/approve", `"go"`, http.StatusAccepted, "")
		if out := e.wait(tokA, id); out["status"] != "completed" || out["output"] != "go" {
			t.Fatalf("instance %s = %v", id, out)
		}
	}
	if s := e.h.ModuleStats(); s.Compiles != 1 {
		t.Fatalf("running the instances compiled the module again: %+v", s)
	}
}

// TestCompileBombRefused: a module nesting blocks deeper than the host accepts is refused
// with 400 invalid_module naming the depth and the limit, before anything compiles; one at
// the limit is accepted (and compiled).
func TestCompileBombRefused(t *testing.T) {
	e := newEnv(t)
	for _, depth := range []int{maxDepth + 1, 100_000} {
		before := e.h.ModuleStats().Compiles
		r := e.sendWithin(failsafe, tokA, "PUT", "/v1/modules/bomb", testguest.Nested(t, depth, 1, depth), http.StatusBadRequest, CodeInvalidModule)
		msg := errorMessage(t, r)
		for _, want := range []string{fmt.Sprintf("blocks nested %d deep", depth), fmt.Sprintf("limit of %d", maxDepth)} {
			if !strings.Contains(msg, want) {
				t.Errorf("depth %d: message %q does not say %q", depth, msg, want)
			}
		}
		if after := e.h.ModuleStats().Compiles; after != before {
			t.Errorf("depth %d: %d compilations started for a module refused before compiling", depth, after-before)
		}
	}
	e.expect(tokA, "GET", "/v1/modules/bomb", nil, http.StatusNotFound, CodeModuleNotFound)
	before := e.h.ModuleStats().Compiles
	e.upload(tokA, "deep", "1", testguest.Nested(t, maxDepth, 1, 0))
	if after := e.h.ModuleStats().Compiles; after != before+1 {
		t.Fatalf("a module at the limit: %d compilations, want 1", after-before)
	}
}

// TestAbandonedCompile: the compilation of a module that is slow to compile (within the
// limits checked before compiling) is abandoned when its client goes away. Meanwhile the
// server answers other requests, and an upload refused before compiling does not wait for
// the compile slot; afterwards the slot (CompileConcurrency 1) is free for the next upload
// within the compile budget, and the slow module left no compiled code: its compilation
// stopped rather than ran to its end unheard. The compile budget is longer than the slow
// module's whole compilation, so that only the client's going away can stop it.
func TestAbandonedCompile(t *testing.T) {
	const budget = 30 * time.Second
	ctx := t.Context()
	diskDir := t.TempDir()
	e, _ := loggedEnv(t, envConfig{hostOpts: []host.Option{host.WithCompilationCache(diskDir),
		host.WithLimits(host.Limits{CompileConcurrency: 1, CompileTime: budget})}})
	small := wat(t, "hello.wasm")
	e.upload(tokA, "small", "1", small)

	slow := slowModule(t)
	hash := hashOf(slow)
	// Namespace b has the same bytes (stored by an earlier server, never compiled here): a
	// refused upload of them does not forget their compiled code, so that none on disk
	// afterwards can only mean that the compilation stopped.
	_, err := e.st.PutModule(ctx, store.ModulePut{Namespace: "b", Wasm: slow,
		Registrations: []store.Registration{{Kind: store.RegistrationModule, Name: "slow", Version: "1"}}})
	must(t, err)

	cpu0, cpuOK := processCPU()
	reqCtx, leave := context.WithCancel(ctx)
	defer leave()
	gone := make(chan error, 1)
	go func() {
		r, err := e.send(reqCtx, tokA, "PUT", "/v1/modules/slow?version=1", slow)
		if err == nil {
			err = fmt.Errorf("answered %d: %s", r.status, r.body)
		}
		gone <- err
	}()
	// The compilation has the slot once its engine has made its cache directory.
	eventually(t, "the slow module's compilation", func() bool {
		m, _ := filepath.Glob(filepath.Join(diskDir, hash, "wazero-*"))
		return len(m) > 0
	})
	compiling := time.Now()

	// The server answers meanwhile: a module it has compiled needs no slot, nor does a module
	// refused before compiling (which would take minutes to compile).
	e.sendWithin(failsafe, "", "GET", "/healthz", nil, http.StatusOK, "")
	e.sendWithin(failsafe, tokA, "PUT", "/v1/modules/small?version=1", small, http.StatusOK, "")
	e.sendWithin(failsafe, tokA, "PUT", "/v1/modules/bomb", testguest.Nested(t, 100_000, 1, 0), http.StatusBadRequest, CodeInvalidModule)
	select {
	case err := <-gone:
		t.Fatalf("the slow upload ended while the other requests were answered: %v", err)
	default:
	}

	leave()
	select {
	case err := <-gone:
		if !strings.Contains(err.Error(), "context canceled") {
			t.Fatalf("the client that went away: %v", err)
		}
	case <-time.After(failsafe):
		t.Fatal("the cancelled request did not return")
	}
	left := time.Now()
	// An upload that needs the slot gets it, within the compile budget.
	e.sendWithin(budget, tokA, "PUT", "/v1/modules/after?version=1", testguest.Nested(t, 1, 1, 1), http.StatusCreated, "")
	freed := time.Since(left)
	var code []string
	filepath.WalkDir(filepath.Join(diskDir, hash), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			code = append(code, p)
		}
		return nil
	})
	if len(code) > 0 {
		t.Fatalf("the abandoned compilation ran to its end: compiled code on disk %v", code)
	}
	e.expect(tokA, "GET", "/v1/modules/slow", nil, http.StatusNotFound, CodeModuleNotFound)
	t.Logf("slow module (%d functions nested %d deep, %d KiB): compiling for %s when its client left; the next upload needing the slot was answered %s later; CPU used by the process from the slow upload to that answer: %s (a whole compilation: BenchmarkCompileSlowModule)",
		slowFuncs, maxDepth-1, len(slow)>>10, left.Sub(compiling).Round(time.Millisecond), freed.Round(time.Millisecond), cpuSince(cpu0, cpuOK))
}

// BenchmarkCompileSlowModule measures a whole compilation of TestAbandonedCompile's slow
// module (no compilation cache), in wall time and in CPU time of the process.
func BenchmarkCompileSlowModule(b *testing.B) {
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "s.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	h, err := host.New(st)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Stop(context.Background())
	slow := slowModule(b)
	cpu0, ok := processCPU()
	for b.Loop() {
		// Inspected modules are not kept: each round compiles the module again.
		if _, err := h.InspectModule(b.Context(), slow); err != nil {
			b.Fatal(err)
		}
	}
	if cpu, ok2 := processCPU(); ok && ok2 {
		b.ReportMetric(float64(cpu-cpu0)/float64(b.N)/float64(time.Millisecond), "cpu-ms/op")
	}
}
