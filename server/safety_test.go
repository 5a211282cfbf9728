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
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
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
	if cpuOK {
		// Where the process's CPU time can be read, the client leaves once the compilation
		// has done a part of its work (a whole one takes about 3 s of CPU on 2 cores), so
		// that it is stopped within wazero's compiler rather than before it.
		eventually(t, "the slow compilation's progress", func() bool {
			now, _ := processCPU()
			return now-cpu0 >= 300*time.Millisecond
		})
	}

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
	cpuLeft, _ := processCPU()
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
	t.Logf("slow module (%d functions nested %d deep, %d KiB): its client left after %s of compilation (process CPU since its upload: %s); the next upload needing the slot was answered %s later (process CPU meanwhile: %s); a whole compilation: BenchmarkCompileSlowModule",
		slowFuncs, maxDepth-1, len(slow)>>10, left.Sub(compiling).Round(time.Millisecond), cpuLeft-cpu0,
		freed.Round(time.Millisecond), cpuSince(cpuLeft, cpuOK))
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

// residentBytes returns the resident memory of the process, from /proc/self/statm.
func residentBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	must(t, err)
	var size, res int64
	if _, err := fmt.Sscan(string(b), &size, &res); err != nil {
		t.Fatalf("/proc/self/statm %q: %v", b, err)
	}
	return res * int64(os.Getpagesize())
}

// TestUploadsMemory: 50 uploads of distinct small modules whose 64 KiB of data sit at
// 200 MiB in their memory, made while 40 other uploads that declare 64 MiB each stall after
// their first byte, grow the resident memory and the heap of the process by a few MiB, not by
// their memories' reach nor by what the stalled ones declare: memory images are sparse,
// modules past the module cache are evicted, and request bodies grow with what arrives. The
// first module, evicted, comes back when an instance of it starts.
func TestUploadsMemory(t *testing.T) {
	if _, err := os.Stat("/proc/self/statm"); err != nil {
		t.Skip("no /proc to read the resident memory from")
	}
	const (
		modules  = 50
		stalled  = 40
		declared = 64 << 20
		cache    = 4 << 20 // Limits.ModuleCache
		// bound on the growth of the resident memory: the 50 modules' data is 3.2 MiB, the
		// stalled uploads' first chunks 640 KiB; one memory image written densely is 200 MiB,
		// the stalled uploads' declared lengths 2.5 GiB.
		bound = 48 << 20
		// heapBound bounds the growth of the heap: memory allocated for what a stalled upload
		// declares is not resident until written, but it is heap.
		heapBound = 24 << 20
	)
	e := newEnvWith(t, envConfig{hostOpts: []host.Option{host.WithLimits(host.Limits{ModuleCache: cache})}},
		WithTimeouts(Timeouts{Upload: failsafe}))
	mods := make([][]byte, modules)
	for i := range mods {
		mods[i] = testguest.HighData(t, 3300, 200<<20, 64<<10, i)
	}
	var arrived atomic.Int64
	setBodyHook(t, func() { arrived.Add(1) })
	// Memory the earlier tests freed goes back to the system first, so that it cannot make
	// room for what this test takes.
	debug.FreeOSMemory()
	before := residentBytes(t)
	var heap0 runtime.MemStats
	runtime.ReadMemStats(&heap0)

	conns := make([]net.Conn, stalled)
	for i := range conns {
		conns[i] = e.rawRequest(fmt.Sprintf("PUT /v1/modules/stalled%d HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d", i, tokA, declared), []byte{0})
	}
	eventually(t, "the stalled uploads' first bytes read", func() bool { return arrived.Load() >= stalled })
	var first string
	for i, wasm := range mods {
		m := e.upload(tokA, fmt.Sprintf("m%d", i), "1", wasm)
		if i == 0 {
			first = m["hash"].(string)
		}
	}
	debug.FreeOSMemory()
	grown := residentBytes(t) - before
	var heap runtime.MemStats
	runtime.ReadMemStats(&heap)
	heapGrown := int64(heap.HeapAlloc) - int64(heap0.HeapAlloc)
	s := e.h.ModuleStats()
	t.Logf("%d uploads of 64 KiB at 200 MiB with %d stalled uploads of %d MiB: resident memory %+.1f MiB, heap %+.1f MiB; %d modules kept (%d KiB estimated)",
		modules, stalled, declared>>20, float64(grown)/(1<<20), float64(heapGrown)/(1<<20), s.Loaded, s.Bytes>>10)
	if grown > bound {
		t.Errorf("resident memory grew by %d MiB, more than %d MiB", grown>>20, bound>>20)
	}
	if heapGrown > heapBound {
		t.Errorf("the heap grew by %d MiB, more than %d MiB", heapGrown>>20, heapBound>>20)
	}
	if s.Loaded >= modules || s.Bytes > cache {
		t.Errorf("the modules past the module cache of %d bytes were not evicted: %+v", cache, s)
	}
	for _, c := range conns {
		c.Close()
	}

	// An instance of the first module, evicted: it is compiled again and runs.
	e.expect(tokA, "POST", "/v1/instances", map[string]any{"name": "wat_hello", "version": hashVersion(first), "id": "first"}, http.StatusCreated, "")
	out := e.wait(tokA, "first")
	if out["status"] != "completed" || out["output"] != "Hello, wat!" || out["module_hash"] != first {
		t.Fatalf("instance of the first module = %v", out)
	}
	if n := e.h.ModuleStats().Compiles - s.Compiles; n != 1 {
		t.Fatalf("the first module's instance: %d compilations, want 1 (it was evicted)", n)
	}
}

// historyEvents returns the events of an instance's current execution, as JSON.
func (e *env) historyEvents(token, id string) []json.RawMessage {
	e.t.Helper()
	r := e.expect(token, "GET", "/v1/instances/"+url.PathEscape(id)+"/history", nil, http.StatusOK, "")
	var h struct {
		History struct {
			Events []json.RawMessage `json:"events"`
		} `json:"history"`
	}
	must(e.t, json.Unmarshal(r.body, &h))
	return h.History.Events
}

// sameEvents reports whether two histories hold the same events.
func sameEvents(a, b []json.RawMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// TestChildNamesWithSeparators: a guest of namespace a that names a child orchestration with
// '@' or '/' in the forms a registry might use for another namespace's or a version's
// registration does not run b's module nor the default namespace's: the child is unregistered
// in a, and its failure names nothing of b.
func TestChildNamesWithSeparators(t *testing.T) {
	// Few, quick attempts: an unregistered child fails in milliseconds.
	e := newEnvWith(t, envConfig{hostOpts: []host.Option{host.WithMaxAttempts(3), host.WithRetryBase(5 * time.Millisecond)}})
	e.upload(tokA, "parent", "1", goGuest(t))
	hello := e.upload(tokB, "greeter", "1", wat(t, "hello.wasm"))
	if _, err := e.h.LoadModule(t.Context(), wat(t, "hello.wasm")); err != nil {
		t.Fatal(err)
	}
	bHash := hello["hash"].(string)
	version := hashVersion(bHash)
	for i, name := range []string{"wat_hello@" + version, "b@wat_hello", "wat_hello@b", "@b/wat_hello",
		"b/wat_hello@" + version, "a/wat_hello", "/wat_hello"} {
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
		if child["status"] != "failed" || child["module_hash"] == bHash {
			t.Fatalf("child %q of a = %v, want failed and not on b's module", name, child)
		}
		failure := fmt.Sprint(child["failure"])
		for _, leak := range []string{bHash, "greeter", "namespace b"} {
			if strings.Contains(failure, leak) || strings.Contains(parentFailure, leak) {
				t.Fatalf("child %q of a: the failure mentions %q of namespace b: %s / %s", name, leak, failure, parentFailure)
			}
		}
	}
	if l := e.expect(tokB, "GET", "/v1/instances", nil, http.StatusOK, "").obj(t)["instances"].([]any); len(l) != 0 {
		t.Fatalf("b lists %v", l)
	}
}

// TestChildIDsStayInNamespace: a guest of namespace a that starts children under explicit
// IDs holding '/' or '@', or equal to an instance ID of namespace b, or to b's instance's key
// ("b/x"), starts them in a: they run there, a reads them under those IDs, b cannot, and b's
// instance is untouched (same status, same history) and still ends with b's event.
func TestChildIDsStayInNamespace(t *testing.T) {
	e := newEnv(t)
	guest := goGuest(t)
	e.upload(tokA, "guest", "1", guest)
	e.upload(tokB, "guest", "1", guest)
	e.start(tokB, "event", "x", nil)
	e.waitFor(tokB, "x", "running", func(m map[string]any) bool { return m["status"] == "running" })
	bHistory := e.historyEvents(tokB, "x")

	ids := []string{"x", "b/x", "x@b", "@b/x", "b@x", "b/x/y", "/b/x"}
	for i, id := range ids {
		parent := fmt.Sprintf("p%d", i)
		e.start(tokA, "child_named", parent, id)
		if out := e.wait(tokA, parent); out["status"] != "completed" || out["output"] != "Hello, x!" {
			t.Fatalf("parent of child %q = %v", id, out)
		}
		child := e.expect(tokA, "GET", "/v1/instances/"+url.PathEscape(id), nil, http.StatusOK, "").obj(t)
		if child["id"] != id || child["name"] != "hello" || child["status"] != "completed" || child["parent_id"] != parent {
			t.Fatalf("a's child %q = %v", id, child)
		}
		in, err := e.st.Instance(t.Context(), store.Key("a", id))
		if err != nil || in.Namespace != "a" {
			t.Fatalf("a's child %q in the store: %+v, %v", id, in, err)
		}
		if id != "x" {
			e.expect(tokB, "GET", "/v1/instances/"+url.PathEscape(id), nil, http.StatusNotFound, CodeInstanceNotFound)
		}
	}
	st := e.expect(tokB, "GET", "/v1/instances/x", nil, http.StatusOK, "").obj(t)
	if st["status"] != "running" || st["name"] != "event" || st["parent_id"] != nil {
		t.Fatalf("b's instance after a's children = %v", st)
	}
	if h := e.historyEvents(tokB, "x"); !sameEvents(h, bHistory) {
		t.Fatalf("b's history changed:\nbefore %s\nafter  %s", bHistory, h)
	}
	if l := e.expect(tokB, "GET", "/v1/instances", nil, http.StatusOK, "").obj(t)["instances"].([]any); len(l) != 1 {
		t.Fatalf("b lists %v", l)
	}
	if l := e.expect(tokA, "GET", "/v1/instances", nil, http.StatusOK, "").obj(t)["instances"].([]any); len(l) != 2*len(ids) {
		t.Fatalf("a lists %d instances, want %d parents and children", len(l), 2*len(ids))
	}
	e.expect(tokB, "POST", "/v1/instances/x/events/approve", `"b's"`, http.StatusAccepted, "")
	if out := e.wait(tokB, "x"); out["status"] != "completed" || out["output"] != "b's" {
		t.Fatalf("b's instance = %v", out)
	}
}

// TestChildStartOfExistingInstance: a parent that starts a child under the ID of an instance
// of its namespace that it did not start has its call failed with DH-CHILD-002, and leaves
// that instance untouched (same status, same history); cancelling the parent, after the
// refusal or while its start may still be on its way, does not cancel that instance, which
// still ends with its own event and no trace of the parents in its history.
func TestChildStartOfExistingInstance(t *testing.T) {
	e := newEnv(t)
	e.upload(tokA, "guest", "1", goGuest(t))
	e.start(tokA, "event", "existing", nil)
	e.waitFor(tokA, "existing", "running", func(m map[string]any) bool { return m["status"] == "running" })
	before := e.historyEvents(tokA, "existing")
	untouched := func(when string) {
		t.Helper()
		st := e.expect(tokA, "GET", "/v1/instances/existing", nil, http.StatusOK, "").obj(t)
		if st["status"] != "running" || st["name"] != "event" || st["parent_id"] != nil {
			t.Fatalf("%s: the existing instance = %v", when, st)
		}
		if h := e.historyEvents(tokA, "existing"); !sameEvents(h, before) {
			t.Fatalf("%s: the existing instance's history changed:\nbefore %s\nafter  %s", when, before, h)
		}
	}

	// child_named calls "hello" under the ID it is given: the call fails, and the parent.
	e.start(tokA, "child_named", "p1", "existing")
	out := e.wait(tokA, "p1")
	failure, _ := out["failure"].(map[string]any)
	if out["status"] != "failed" || failure == nil || failure["code"] != abi.CodeInstanceExists {
		t.Fatalf("parent starting a child under an existing ID = %v, want failed with %s", out, abi.CodeInstanceExists)
	}
	untouched("after the refused start")
	e.call(tokA, "POST", "/v1/instances/p1/cancel", `{}`)

	// A parent that goes on waiting after the refusal, cancelled then.
	join := map[string]any{"futures": []map[string]any{
		{"kind": "child", "name": "hello", "id": "existing", "input": "x"},
		{"kind": "event", "name": "go"},
	}}
	e.start(tokA, "sc_join", "p2", join)
	e.waitFor(tokA, "p2", "the refusal", func(map[string]any) bool {
		return slices.Contains(e.historyKinds(tokA, "p2"), "sub_orchestration_failed")
	})
	e.expect(tokA, "POST", "/v1/instances/p2/cancel", `{}`, http.StatusAccepted, "")
	if out := e.wait(tokA, "p2"); out["status"] != "cancelled" {
		t.Fatalf("cancelled parent = %v", out)
	}
	// A parent cancelled at once, its start of the child perhaps still on its way.
	e.start(tokA, "sc_join", "p3", join)
	e.expect(tokA, "POST", "/v1/instances/p3/cancel", `{}`, http.StatusAccepted, "")
	if out := e.wait(tokA, "p3"); out["status"] != "cancelled" {
		t.Fatalf("parent cancelled at once = %v", out)
	}
	untouched("after the parents were cancelled")

	// The instance still takes its own event, after whatever the parents sent it.
	e.expect(tokA, "POST", "/v1/instances/existing/events/approve", `"mine"`, http.StatusAccepted, "")
	if out := e.wait(tokA, "existing"); out["status"] != "completed" || out["output"] != "mine" {
		t.Fatalf("the existing instance = %v", out)
	}
	after := e.historyEvents(tokA, "existing")
	if len(after) < len(before) || !sameEvents(after[:len(before)], before) {
		t.Fatalf("the existing instance's history was rewritten:\nbefore %s\nafter  %s", before, after)
	}
	for _, ev := range after[len(before):] {
		var k struct{ Kind string }
		must(t, json.Unmarshal(ev, &k))
		if !slices.Contains([]string{"turn_started", "event_raised", "execution_completed"}, k.Kind) {
			t.Fatalf("the existing instance recorded %s from the parents:\n%s", ev, after)
		}
	}
}
