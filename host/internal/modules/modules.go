// Package modules is the module manager of a host: it owns every compiled orchestration
// module, with its memory image and snapshot. It compiles each module once per process
// however many callers ask for it at once (concurrent loads of the same bytes share one
// compilation), counts who holds each module so that none is closed under its users, keeps
// the modules nobody holds in a least-recently-used cache bounded by their estimated memory,
// and keeps their compiled code on disk, a directory per module, bounded by bytes. See
// RATIONALE.md, "Why one module manager?".
package modules

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/durohost/durohost/host/internal/sandbox"
)

// Config sets up a Manager.
type Config struct {
	// Sandbox compiles and runs the modules; the Manager does not close it.
	Sandbox *sandbox.Runtime
	// Budget bounds the estimated memory (sandbox.Module.Cost) of the modules kept while
	// nothing holds them (least recently used first out); held modules are never evicted
	// and not counted.
	Budget int64
	// DiskDir, when set, keeps the compiled code of the modules acquired with Keep across
	// restarts (DiskDir/<hash>); DiskBudget bounds its bytes (least recently used first out).
	DiskDir    string
	DiskBudget int64
	// Fetch returns the bytes of a module by hash (AcquireHash); the Manager checks that they
	// match it.
	Fetch func(ctx context.Context, hash string) ([]byte, error)
	// Logger receives cache maintenance problems (a directory that could not be removed).
	Logger *slog.Logger
}

// Mode says what becomes of a module once nobody holds it.
type Mode uint8

const (
	// Keep: the module stays loaded (within Budget) and its code is kept on disk. For modules
	// that run instances.
	Keep Mode = iota
	// Transient: the module is compiled without the disk cache and closed when its last
	// holder releases it, unless someone acquired it with Keep meanwhile. For modules that
	// are only inspected or replayed once (an upload's check, a history replayed by a tool).
	Transient
)

// Manager owns compiled modules. It is safe for concurrent use.
type Manager struct {
	cfg  Config
	disk *diskCache

	mu      sync.Mutex
	entries map[string]*entry
	lru     *list.List // kept entries nobody holds, most recently released first
	used    int64      // Cost of every loaded entry
	idle    int64      // Cost of the entries in lru (what Budget bounds)
	closed  bool
	// timedOut remembers, for a while, the modules whose compilation outlasted the budget:
	// AcquireHash answers them at once instead of compiling them again (and again).
	timedOut map[string]time.Time
}

// maxTimedOut bounds the modules remembered as timed out.
const maxTimedOut = 1024

// compileRetry is how long a compilation that outlasted its budget is not tried again.
const compileRetry = time.Minute

type entry struct {
	hash  string
	ready chan struct{} // closed once mod or err is set
	mod   *sandbox.Module
	err   error
	refs  int
	keep  bool
	cost  int64
	elem  *list.Element // in lru while nobody holds it
}

// New returns a Manager.
func New(cfg Config) (*Manager, error) {
	if cfg.Sandbox == nil {
		return nil, errors.New("modules: no sandbox")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{cfg: cfg, entries: map[string]*entry{}, lru: list.New(), timedOut: map[string]time.Time{}}
	if cfg.DiskDir != "" {
		d, err := openDiskCache(cfg.DiskDir, cfg.DiskBudget, cfg.Logger)
		if err != nil {
			return nil, err
		}
		m.disk = d
	}
	return m, nil
}

// Ref is one holder's reference to a module. Release it once done (an instance of the module
// releases it when it is closed, see sandbox.Instance.SetRelease).
type Ref struct {
	m    *Manager
	e    *entry
	once sync.Once
}

// Module returns the module.
func (r *Ref) Module() *sandbox.Module { return r.e.mod }

// Release gives the reference back; later calls do nothing.
func (r *Ref) Release() { r.once.Do(func() { r.m.release(r.e) }) }

// Acquire returns a reference to the module of wasm, compiling it unless it is loaded or
// being compiled (callers of the same bytes then wait for that compilation). Errors are the
// sandbox's (sandbox.ErrInvalidModule for unacceptable bytes, sandbox.ErrCompileTimeout,
// sandbox.ErrBusy, the transient ones of describing it), the context's, or ErrClosed.
func (m *Manager) Acquire(ctx context.Context, wasm []byte, mode Mode) (*Ref, error) {
	sum := sha256.Sum256(wasm)
	return m.acquire(ctx, hex.EncodeToString(sum[:]), mode, func(context.Context) ([]byte, error) { return wasm, nil })
}

// AcquireHash returns a reference to the module with the given hex sha256, fetching its bytes
// (Config.Fetch) and compiling it unless it is loaded; it is kept (Keep). Bytes that do not
// match the hash are refused (ErrCorrupt). A module whose compilation outlasted the budget is
// answered sandbox.ErrCompileTimeout without compiling again for a minute.
func (m *Manager) AcquireHash(ctx context.Context, hash string) (*Ref, error) {
	if !validHash(hash) {
		return nil, fmt.Errorf("module %q: not a hex sha256", hash)
	}
	m.mu.Lock()
	at, failed := m.timedOut[hash]
	if failed && time.Since(at) >= compileRetry {
		delete(m.timedOut, hash)
		failed = false
	}
	m.mu.Unlock()
	if failed {
		return nil, fmt.Errorf("module %s: %w (at %s; tried again after %s)", short(hash), sandbox.ErrCompileTimeout, at.Format(time.TimeOnly), compileRetry)
	}
	return m.acquire(ctx, hash, Keep, func(ctx context.Context) ([]byte, error) {
		if m.cfg.Fetch == nil {
			return nil, fmt.Errorf("module %s: no store to fetch it from", short(hash))
		}
		b, err := m.cfg.Fetch(ctx, hash)
		if err != nil {
			return nil, err
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != hash {
			return nil, fmt.Errorf("module %s: %w: the bytes the store returned have sha256 %x", short(hash), ErrCorrupt, sum[:8])
		}
		return b, nil
	})
}

func (m *Manager) acquire(ctx context.Context, hash string, mode Mode, load func(context.Context) ([]byte, error)) (*Ref, error) {
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return nil, ErrClosed
		}
		e, ok := m.entries[hash]
		if !ok {
			e = &entry{hash: hash, ready: make(chan struct{}), refs: 1, keep: mode == Keep}
			m.entries[hash] = e
			m.mu.Unlock()
			return m.load(ctx, e, mode, load)
		}
		e.refs++
		if mode == Keep {
			e.keep = true
		}
		if e.elem != nil {
			m.lru.Remove(e.elem)
			m.idle -= e.cost
			e.elem = nil
		}
		m.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			m.release(e)
			return nil, ctx.Err()
		}
		if e.err == nil {
			return &Ref{m: m, e: e}, nil
		}
		m.release(e)
		if !interrupted(e.err) || ctx.Err() != nil {
			return nil, e.err
		}
		// The caller that compiled was interrupted, not this one: compile again.
	}
}

// load compiles e's module; failed entries are forgotten so that the next caller tries again.
func (m *Manager) load(ctx context.Context, e *entry, mode Mode, load func(context.Context) ([]byte, error)) (*Ref, error) {
	wasm, err := load(ctx)
	dir := ""
	if err == nil {
		if m.disk != nil && mode == Keep {
			dir = m.disk.path(e.hash)
		}
		e.mod, err = m.cfg.Sandbox.Compile(ctx, wasm, dir)
	}
	m.mu.Lock()
	if err != nil {
		e.err = err
		delete(m.entries, e.hash)
		if errors.Is(err, sandbox.ErrCompileTimeout) && len(m.timedOut) < maxTimedOut {
			m.timedOut[e.hash] = time.Now()
		}
	} else {
		e.cost = e.mod.Cost()
		m.used += e.cost
	}
	close(e.ready)
	m.mu.Unlock()
	if m.disk != nil && dir != "" {
		switch {
		case errors.Is(err, sandbox.ErrInvalidModule):
			m.disk.remove(e.hash) // nothing is cached for a module that was refused
		case err == nil:
			m.disk.used(e.hash)
		}
	}
	if err != nil {
		return nil, err
	}
	m.evict()
	return &Ref{m: m, e: e}, nil
}

// release drops one reference to e.
func (m *Manager) release(e *entry) {
	var closing *sandbox.Module
	m.mu.Lock()
	e.refs--
	if e.refs == 0 && e.err == nil && m.entries[e.hash] == e {
		select {
		case <-e.ready:
			if e.keep && !m.closed {
				e.elem = m.lru.PushFront(e)
				m.idle += e.cost
			} else {
				closing = m.dropLocked(e)
			}
		default: // still compiling: its compiler holds a reference
		}
	}
	m.mu.Unlock()
	if closing != nil {
		closing.Close(context.Background())
	}
	m.evict()
}

// dropLocked removes a loaded entry nobody holds and returns its module to close.
func (m *Manager) dropLocked(e *entry) *sandbox.Module {
	if e.elem != nil {
		m.lru.Remove(e.elem)
		m.idle -= e.cost
		e.elem = nil
	}
	delete(m.entries, e.hash)
	m.used -= e.cost
	return e.mod
}

// evict closes the least recently used modules nobody holds while they cost more than the
// budget (held modules are not counted: they cannot be evicted). An evicted module's compiled
// code on disk is marked used now, so that the disk keeps longest what was used last.
func (m *Manager) evict() {
	var closing []*sandbox.Module
	m.mu.Lock()
	for m.idle > m.cfg.Budget && m.lru.Len() > 0 {
		e := m.lru.Back().Value.(*entry)
		closing = append(closing, m.dropLocked(e))
	}
	m.mu.Unlock()
	for _, mod := range closing {
		if m.disk != nil {
			m.disk.touch(mod.Hash)
		}
		mod.Close(context.Background())
	}
}

// Forget drops the module with hash from memory once nobody holds it, and its compiled code
// from disk (a module whose upload was refused, or that was deleted).
func (m *Manager) Forget(hash string) {
	var closing *sandbox.Module
	m.mu.Lock()
	if e, ok := m.entries[hash]; ok {
		e.keep = false
		if e.refs == 0 && e.err == nil {
			closing = m.dropLocked(e)
		}
	}
	m.mu.Unlock()
	if closing != nil {
		closing.Close(context.Background())
	}
	if m.disk != nil && validHash(hash) {
		m.disk.remove(hash)
	}
}

// Stats describes the manager's state.
type Stats struct {
	// Loaded counts the modules in memory, Held those somebody holds.
	Loaded, Held int
	// Bytes is the estimated memory of the loaded modules.
	Bytes int64
	// Compiles counts the compilations the sandbox started (modules refused before compiling
	// are not counted).
	Compiles int64
}

// Stats returns the manager's state.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Stats{Bytes: m.used, Compiles: m.cfg.Sandbox.Compiles()}
	for _, e := range m.entries {
		select {
		case <-e.ready:
			s.Loaded++
			if e.refs > 0 {
				s.Held++
			}
		default:
		}
	}
	return s
}

// Close closes the modules nobody holds; held ones are closed when released. Later
// acquisitions fail with ErrClosed.
func (m *Manager) Close(ctx context.Context) error {
	var closing []*sandbox.Module
	m.mu.Lock()
	m.closed = true
	for m.lru.Len() > 0 {
		closing = append(closing, m.dropLocked(m.lru.Back().Value.(*entry)))
	}
	for _, e := range m.entries {
		e.keep = false
	}
	m.mu.Unlock()
	var errs []error
	for _, mod := range closing {
		errs = append(errs, mod.Close(ctx))
	}
	return errors.Join(errs...)
}

// interrupted reports whether err says that a compilation was interrupted by its caller's
// context rather than refused.
func interrupted(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for _, c := range h {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}
