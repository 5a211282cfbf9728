package modules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/durohost/durohost/host/internal/sandbox"
	"github.com/durohost/durohost/internal/testguest"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testguest.Root(), "conformance", "testdata", "wat", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hashOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func newManager(t testing.TB, cfg Config) *Manager {
	t.Helper()
	sb, err := sandbox.New(context.Background(), sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Sandbox = sb
	if cfg.Budget == 0 {
		cfg.Budget = 512 << 20
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close(context.Background())
		sb.Close(context.Background())
	})
	return m
}

// TestConcurrentAcquireCompilesOnce: 16 goroutines acquiring, by bytes and by hash, the same
// Go guest at once share one compilation and one module (run under -race, this is the
// concurrency test of the module manager), and each can run it.
func TestConcurrentAcquireCompilesOnce(t *testing.T) {
	wasm := testguest.Build(t, "conformance/guests/go", "")
	hash := hashOf(wasm)
	m := newManager(t, Config{DiskDir: t.TempDir(), DiskBudget: 1 << 30,
		Fetch: func(context.Context, string) ([]byte, error) { return wasm, nil }})
	const n = 16
	refs := make([]*Ref, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			switch i % 3 {
			case 0:
				refs[i], errs[i] = m.Acquire(context.Background(), wasm, Keep)
			case 1:
				refs[i], errs[i] = m.Acquire(context.Background(), wasm, Transient)
			default:
				refs[i], errs[i] = m.AcquireHash(context.Background(), hash)
			}
		})
	}
	wg.Wait()
	var first *sandbox.Module
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("acquire %d: %v", i, errs[i])
		}
		if first == nil {
			first = refs[i].Module()
		} else if refs[i].Module() != first {
			t.Fatalf("acquire %d got another module", i)
		}
	}
	if s := m.Stats(); s.Compiles != 1 || s.Loaded != 1 || s.Held != 1 {
		t.Fatalf("stats %+v, want one compilation of one held module", s)
	}
	if !first.Has("hello", "") {
		t.Fatal("the module does not register hello")
	}
	for _, r := range refs {
		r.Release()
		r.Release() // a second release does nothing
	}
	if s := m.Stats(); s.Loaded != 1 || s.Held != 0 {
		t.Fatalf("after release: %+v, want the kept module loaded and not held", s)
	}
}

// TestEvictionByBudget: past the budget, the modules nobody holds are closed least recently
// used first, held ones never; an evicted module comes back on use.
func TestEvictionByBudget(t *testing.T) {
	a, b := fixture(t, "hello.wasm"), fixture(t, "calls.wasm")
	m := newManager(t, Config{Budget: 1}) // any loaded module is over budget
	ra, err := m.Acquire(context.Background(), a, Keep)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := m.Acquire(context.Background(), b, Keep)
	if err != nil {
		t.Fatal(err)
	}
	if s := m.Stats(); s.Loaded != 2 || s.Held != 2 {
		t.Fatalf("held modules were evicted: %+v", s)
	}
	ra.Release()
	if s := m.Stats(); s.Loaded != 1 {
		t.Fatalf("after releasing a: %+v, want it evicted", s)
	}
	rb.Release()
	if s := m.Stats(); s.Loaded != 0 || s.Bytes != 0 {
		t.Fatalf("after releasing b: %+v", s)
	}
	ra, err = m.Acquire(context.Background(), a, Keep)
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Release()
	if s := m.Stats(); s.Compiles != 3 || s.Loaded != 1 {
		t.Fatalf("after a comes back: %+v, want a third compilation", s)
	}

	// Within budget, released modules stay.
	big := newManager(t, Config{})
	r1, _ := big.Acquire(context.Background(), a, Keep)
	r1.Release()
	r2, _ := big.Acquire(context.Background(), a, Keep)
	r2.Release()
	if s := big.Stats(); s.Compiles != 1 || s.Loaded != 1 {
		t.Fatalf("within budget: %+v, want one compilation kept", s)
	}
}

// TestTransientNotKept: a module acquired only transiently is closed at its last release and
// leaves nothing on disk; Forget drops a kept one and its compiled code.
func TestTransientNotKept(t *testing.T) {
	dir := t.TempDir()
	a := fixture(t, "hello.wasm")
	m := newManager(t, Config{DiskDir: dir, DiskBudget: 1 << 30})
	r, err := m.Acquire(context.Background(), a, Transient)
	if err != nil {
		t.Fatal(err)
	}
	r.Release()
	if s := m.Stats(); s.Loaded != 0 {
		t.Fatalf("a transient module stayed: %+v", s)
	}
	if _, err := os.Stat(filepath.Join(dir, hashOf(a))); !os.IsNotExist(err) {
		t.Fatalf("a transient module left compiled code on disk (%v)", err)
	}
	r, err = m.Acquire(context.Background(), a, Keep)
	if err != nil {
		t.Fatal(err)
	}
	r.Release()
	if _, err := os.Stat(filepath.Join(dir, hashOf(a))); err != nil {
		t.Fatalf("a kept module has no compiled code on disk: %v", err)
	}
	m.Forget(hashOf(a))
	if s := m.Stats(); s.Loaded != 0 {
		t.Fatalf("forgotten module still loaded: %+v", s)
	}
	if _, err := os.Stat(filepath.Join(dir, hashOf(a))); !os.IsNotExist(err) {
		t.Fatalf("a forgotten module's code stayed on disk (%v)", err)
	}
}

// TestRefusedModulesLeaveNothing: bytes the sandbox refuses are not cached, in memory or on
// disk, and a failed compilation is tried again by the next caller.
func TestRefusedModulesLeaveNothing(t *testing.T) {
	dir := t.TempDir()
	m := newManager(t, Config{DiskDir: dir, DiskBudget: 1 << 30})
	for _, name := range []string{"forbidden.wasm", "noexports.wasm", "badversion.wasm"} {
		bad := fixture(t, name)
		for range 2 {
			if _, err := m.Acquire(context.Background(), bad, Keep); !errors.Is(err, sandbox.ErrInvalidModule) {
				t.Fatalf("%s: %v, want ErrInvalidModule", name, err)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, hashOf(bad))); !os.IsNotExist(err) {
			t.Fatalf("%s: refused module left compiled code on disk (%v)", name, err)
		}
	}
	if s := m.Stats(); s.Loaded != 0 || s.Compiles != 2 {
		t.Fatalf("stats %+v, want nothing loaded, and only badversion.wasm (refused after it compiled) compiled, each time", s)
	}
}

// TestAcquireHashChecksBytes: bytes from the store that do not match the hash they were asked
// for are refused (ErrCorrupt), and never run.
func TestAcquireHashChecksBytes(t *testing.T) {
	a, b := fixture(t, "hello.wasm"), fixture(t, "calls.wasm")
	m := newManager(t, Config{Fetch: func(context.Context, string) ([]byte, error) { return b, nil }})
	if _, err := m.AcquireHash(context.Background(), hashOf(a)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("mismatched bytes: %v, want ErrCorrupt", err)
	}
	if _, err := m.AcquireHash(context.Background(), "not-a-hash"); err == nil {
		t.Fatal("a malformed hash was accepted")
	}
	if s := m.Stats(); s.Compiles != 0 {
		t.Fatalf("refused bytes were compiled: %+v", s)
	}
}

// TestInterruptedCompileRetried: a waiter whose compiling caller was interrupted compiles the
// module itself instead of failing with the other caller's error.
func TestInterruptedCompileRetried(t *testing.T) {
	a := fixture(t, "hello.wasm")
	m := newManager(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Acquire(ctx, a, Keep); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled acquire: %v", err)
	}
	r, err := m.Acquire(context.Background(), a, Keep)
	if err != nil {
		t.Fatalf("acquire after an interrupted one: %v", err)
	}
	r.Release()
}

// TestDiskBudget: the compilation cache on disk is trimmed to its budget, least recently used
// modules first; directories of an older layout are removed.
func TestDiskBudget(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "wazero-v1.12.0-amd64-linux")
	if err := os.MkdirAll(old, 0o755); err != nil {
		t.Fatal(err)
	}
	a, b := fixture(t, "hello.wasm"), fixture(t, "calls.wasm")
	m := newManager(t, Config{DiskDir: dir, DiskBudget: 1 << 30})
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Fatal("the old cache layout was not removed")
	}
	for _, w := range [][]byte{a, b} {
		r, err := m.Acquire(context.Background(), w, Keep)
		if err != nil {
			t.Fatal(err)
		}
		r.Release()
	}
	sizeA := dirSize(filepath.Join(dir, hashOf(a)))
	sizeB := dirSize(filepath.Join(dir, hashOf(b)))
	if sizeA == 0 || sizeB == 0 {
		t.Fatalf("no compiled code on disk (%d, %d)", sizeA, sizeB)
	}
	m.disk.budget = sizeB // room for the most recent one only
	m.disk.trim()
	if _, err := os.Stat(filepath.Join(dir, hashOf(a))); !os.IsNotExist(err) {
		t.Fatal("the least recently used module was not trimmed")
	}
	if _, err := os.Stat(filepath.Join(dir, hashOf(b))); err != nil {
		t.Fatalf("the most recent module was trimmed: %v", err)
	}
}

// rss returns the resident memory of the process, in bytes (0 where /proc is not there).
func rss(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, res int64
	fmt.Sscan(string(b), &size, &res)
	return res * int64(os.Getpagesize())
}

// TestHighDataModulesStaySmall: 50 small modules, each with 64 KiB of data at 200 MiB, cost
// the host about their data, not their memory's reach: the memory image of a module is sparse
// and kept once (not also on the heap), and past the budget, the modules nobody holds are
// evicted; one comes back when it is used again.
func TestHighDataModulesStaySmall(t *testing.T) {
	if _, err := os.Stat("/proc/self/statm"); err != nil {
		t.Skip("no /proc to read the resident memory from")
	}
	m := newManager(t, Config{Budget: 4 << 20})
	const n = 50
	mods := make([][]byte, n)
	for i := range mods {
		mods[i] = testguest.HighData(t, 3300, 200<<20, 64<<10, i)
	}
	runtime.GC()
	before := rss(t)
	for i, wasm := range mods {
		r, err := m.Acquire(context.Background(), wasm, Keep)
		if err != nil {
			t.Fatalf("module %d: %v", i, err)
		}
		if !r.Module().Has("wat_hello", "") {
			t.Fatalf("module %d does not register wat_hello", i)
		}
		r.Release()
	}
	runtime.GC()
	grown := rss(t) - before
	s := m.Stats()
	t.Logf("50 modules of 64 KiB at 200 MiB: resident memory +%d MiB, %d kept (%d KiB estimated)", grown>>20, s.Loaded, s.Bytes>>10)
	if grown > 200<<20 {
		t.Fatalf("resident memory grew by %d MiB for 50 modules of 64 KiB of data each", grown>>20)
	}
	if s.Bytes > 4<<20 || s.Loaded >= n {
		t.Fatalf("the modules past the budget were not evicted: %+v", s)
	}
	r, err := m.Acquire(context.Background(), mods[0], Keep)
	if err != nil {
		t.Fatalf("an evicted module does not come back: %v", err)
	}
	r.Release()
}
