// Package host runs durable orchestrations compiled to WebAssembly.
//
// A Host loads orchestration modules, registers native activities and runs the dispatchers
// that drive instances from a store.Store; a Client starts, observes and signals instances.
//
//	st, _ := sqlite.Open("durohost.db")
//	h, _ := host.New(st)
//	h.RegisterActivity("greet", func(ctx context.Context, in []byte) ([]byte, error) { ... })
//	h.LoadModuleFile(ctx, "hello.wasm")
//	h.Start()
//	id, _ := h.Client().Start(ctx, "hello", []byte(`"World"`))
//	st, _ := h.Client().Wait(ctx, id)
package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/host/internal/modules"
	"github.com/durohost/durohost/host/internal/runtime"
	"github.com/durohost/durohost/host/internal/sandbox"
	"github.com/durohost/durohost/store"
)

// ActivityFunc is a native activity: it receives the input the orchestration passed (JSON by
// convention) and returns the result. Its context is cancelled when the orchestration no
// longer needs the result (the instance was cancelled or ended, the future was dropped) or
// the host stops. An error fails the activity (an *abi.Failure keeps its kind and code).
type ActivityFunc func(ctx context.Context, input []byte) ([]byte, error)

// Event is a progress notification (see WithObserver).
type Event = runtime.Event

// Module describes a loaded orchestration module.
type Module struct {
	// Hash is the hex sha256 of the module's bytes; instances pin it.
	Hash string
	Size int
	// Imports lists the functions the module imports, as "module.name".
	Imports []string
	// Orchestrations are the orchestrations the module registers.
	Orchestrations []abi.Registration
	// Kept lists orchestration versions that were already registered with other bytes: a
	// version's code is immutable, so new starts of these keep using the earlier module.
	Kept []abi.Registration
}

// Host runs orchestrations and activities. It is safe for concurrent use.
type Host struct {
	st     store.Store
	sb     *sandbox.Runtime
	mods   *modules.Manager
	rt     *runtime.Runtime
	client *Client
	cfg    config

	mu      sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	drain   context.CancelFunc
	done    chan struct{}
}

// New creates a host over a store. The store stays the caller's to close (after Stop).
func New(st store.Store, opts ...Option) (*Host, error) {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case cfg.orchWorkers < 1, cfg.actWorkers < 1:
		return nil, fmt.Errorf("host: worker counts must be at least 1 (got %d and %d)", cfg.orchWorkers, cfg.actWorkers)
	case cfg.lockTimeout < 100*time.Millisecond:
		return nil, fmt.Errorf("host: lock timeout %s is shorter than 100ms", cfg.lockTimeout)
	case cfg.maxAttempts < 1:
		return nil, fmt.Errorf("host: max attempts must be at least 1 (got %d)", cfg.maxAttempts)
	case cfg.liveCache < 0:
		return nil, fmt.Errorf("host: live cache size %d is negative", cfg.liveCache)
	}
	limits, err := cfg.limits.normalized()
	if err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	cfg.limits = limits
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	logger := cfg.logger
	sb, err := sandbox.New(context.Background(), sandbox.Config{
		MemoryLimitPages: limits.MemoryPages, TurnTimeout: limits.TurnTime, TurnWallTimeout: limits.TurnWallTime,
		ReplayTimeout: limits.ReplayTime, InstantiateTimeout: limits.InstantiateTime,
		CompileTimeout: limits.CompileTime, CompileConcurrency: limits.CompileConcurrency,
		GuestMemory: limits.GuestMemory, MaxPayload: limits.MaxPayload, MaxEvents: limits.MaxEvents,
		MaxModuleSize: limits.MaxModuleSize, MaxRegistrations: limits.MaxRegistrations,
		Log: func(l sandbox.Log) {
			logger.Log(context.Background(), guestLevel(l.Level), l.Message, "instance", l.InstanceID, "execution", l.Execution, "source", "guest")
		},
	})
	if err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	mods, err := modules.New(modules.Config{
		Sandbox: sb, Budget: limits.ModuleCache, DiskDir: cfg.cacheDir, DiskBudget: limits.DiskCache,
		Fetch: st.Module, Logger: logger,
	})
	if err != nil {
		sb.Close(context.Background())
		return nil, fmt.Errorf("host: %w", err)
	}
	rt := runtime.New(st, sb, mods, runtime.Config{
		OrchestrationWorkers: cfg.orchWorkers, ActivityWorkers: cfg.actWorkers,
		LockTimeout: cfg.lockTimeout, MaxAttempts: cfg.maxAttempts, RetryBase: cfg.retryBase,
		PollMin: cfg.pollMin, PollMax: cfg.pollMax, ActivityRenew: cfg.activityRenew,
		LiveCacheBytes: cfg.liveCache, MaxPayload: limits.MaxPayload, MaxEvents: limits.MaxEvents,
		Policy: runtimePolicy(cfg.policy), Logger: cfg.logger, Observe: cfg.observe,
		SharedRegistry: cfg.sharedRegistry, FailUnregistered: cfg.failUnregistered,
	})
	h := &Host{st: st, sb: sb, mods: mods, rt: rt, cfg: cfg}
	h.client = &Client{st: st, rt: rt, maxPayload: limits.MaxPayload}
	return h, nil
}

func guestLevel(l int32) slog.Level {
	switch l {
	case abi.LogDebug:
		return slog.LevelDebug
	case abi.LogWarn:
		return slog.LevelWarn
	case abi.LogError:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Limits returns the host's limits, with every default filled in.
func (h *Host) Limits() Limits { return h.cfg.limits }

// Client returns a client bound to this host (it is woken by this host's commits).
func (h *Host) Client() *Client { return h.client }

// RegisterActivity registers (or replaces) a native activity under name.
func (h *Host) RegisterActivity(name string, fn ActivityFunc) error {
	if err := checkName("activity name", name); err != nil {
		return err
	}
	if fn == nil {
		return fmt.Errorf("register activity %q: nil function", name)
	}
	h.rt.RegisterActivity(name, runtime.ActivityFunc(fn))
	return nil
}

// CodeBadPayload is the failure code of a typed activity (RegisterActivityFunc) whose input
// does not decode into its type, or whose result does not encode: the application code the
// guest SDKs use for the same problem (abi/ABI.md, "Failure codes"), so that one check
// covers both sides.
const CodeBadPayload = "bad_payload"

// RegisterActivityFunc registers a typed activity whose input and output are JSON. An input
// that does not decode into In, or an output that does not encode, fails the activity with an
// application failure of code CodeBadPayload.
func RegisterActivityFunc[In, Out any](h *Host, name string, fn func(ctx context.Context, in In) (Out, error)) error {
	return h.RegisterActivity(name, typedActivity(name, fn))
}

// typedActivity wraps a typed activity as an ActivityFunc using JSON.
func typedActivity[In, Out any](name string, fn func(ctx context.Context, in In) (Out, error)) ActivityFunc {
	return func(ctx context.Context, data []byte) ([]byte, error) {
		var in In
		if len(data) > 0 {
			if err := json.Unmarshal(data, &in); err != nil {
				return nil, &abi.Failure{Kind: abi.FailureApplication, Code: CodeBadPayload,
					Message: fmt.Sprintf("activity %q: input is not a valid %T: %v", name, in, err)}
			}
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(out)
		if err != nil {
			return nil, &abi.Failure{Kind: abi.FailureApplication, Code: CodeBadPayload,
				Message: fmt.Sprintf("activity %q: encode the result: %v", name, err)}
		}
		return b, nil
	}
}

// LoadModule validates and compiles a module, stores it in the store's module registry and
// makes its orchestrations startable: new starts of an orchestration use the most recently
// loaded module that registers it. Each orchestration is registered under its own version, or,
// when it has none, under the module's hash. A version is immutable: when it is already
// registered with other bytes it is listed in Module.Kept and keeps its earlier module.
func (h *Host) LoadModule(ctx context.Context, wasm []byte) (*Module, error) {
	ref, err := h.mods.Acquire(ctx, wasm, modules.Keep)
	if err != nil {
		return nil, fmt.Errorf("load module: %w", err)
	}
	defer ref.Release()
	m := ref.Module()
	// One put registers every orchestration in the default namespace, lowest version first
	// (the latest put is what a start without a version resolves).
	regs := slices.Clone(m.Orchestrations)
	slices.SortStableFunc(regs, func(a, b abi.Registration) int { return compareVersions(a.Version, b.Version) })
	puts := make([]store.Registration, 0, len(regs))
	for _, r := range regs {
		version := r.Version
		if version == "" {
			version = "sha256:" + m.Hash[:16]
		}
		if reg := (store.Registration{Kind: store.RegistrationOrchestration, Name: r.Name, Version: version}); !slices.Contains(puts, reg) {
			puts = append(puts, reg)
		}
	}
	var kept []abi.Registration
	if len(puts) > 0 {
		res, err := h.st.PutModule(ctx, store.ModulePut{Wasm: wasm, Registrations: puts})
		if err != nil {
			return nil, fmt.Errorf("load module: register its orchestrations: %w", err)
		}
		for _, k := range res.Kept {
			// A version's code is immutable: new starts of it keep the earlier module.
			kept = append(kept, abi.Registration{Name: k.Name, Version: k.Version})
			h.cfg.logger.Warn("orchestration version already registered with other bytes; new starts of it keep the earlier module (give the new build a new version)",
				"orchestration", k.Name, "version", k.Version, "kept_sha256", k.Hash)
		}
	}
	return &Module{Hash: m.Hash, Size: m.Size, Imports: m.Imports, Orchestrations: m.Orchestrations, Kept: kept}, nil
}

// InspectModule validates, compiles and describes a module like LoadModule, without
// registering it and without keeping it: nothing of it stays in memory or on disk unless the
// host already had it. Errors for unacceptable bytes wrap ErrInvalidModule.
func (h *Host) InspectModule(ctx context.Context, wasm []byte) (*Module, error) {
	return h.describe(ctx, wasm, modules.Transient, "inspect module")
}

// CompileModule validates, compiles and describes a module like InspectModule, and keeps it
// compiled (in the host's module cache and its compilation cache on disk) for the instances
// that will run it, without registering anything in the store: a caller that keeps its own
// registry (the HTTP server) registers it, and calls ForgetModule if it refuses the module
// after all. Errors for unacceptable bytes wrap ErrInvalidModule.
func (h *Host) CompileModule(ctx context.Context, wasm []byte) (*Module, error) {
	return h.describe(ctx, wasm, modules.Keep, "compile module")
}

// ForgetModule drops the compiled module with the given hash from the host's caches once
// nothing runs it (a module whose upload was refused, or that was deleted). Instances pinned
// to it compile it again if they run.
func (h *Host) ForgetModule(hash string) { h.mods.Forget(hash) }

func (h *Host) describe(ctx context.Context, wasm []byte, mode modules.Mode, what string) (*Module, error) {
	ref, err := h.mods.Acquire(ctx, wasm, mode)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer ref.Release()
	m := ref.Module()
	return &Module{Hash: m.Hash, Size: m.Size, Imports: m.Imports, Orchestrations: m.Orchestrations}, nil
}

// LoadModuleFile is LoadModule on the bytes of a file.
func (h *Host) LoadModuleFile(ctx context.Context, path string) (*Module, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load module: %w", err)
	}
	return h.LoadModule(ctx, b)
}

// Start runs the dispatchers in the background.
func (h *Host) Start() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.stopped:
		return ErrStopped
	case h.started:
		return ErrStarted
	}
	h.started = true
	ctx, cancel := context.WithCancel(context.Background())
	drain, drainCancel := context.WithCancel(context.Background())
	h.cancel, h.drain, h.done = cancel, drainCancel, make(chan struct{})
	h.rt.Accept(drain)
	go func() {
		defer close(h.done)
		h.rt.Run(ctx, drain)
	}()
	return nil
}

// Stop stops fetching new work and waits for in-flight turns and activities to finish; when
// ctx ends first, they are interrupted and their locks abandoned (nothing is lost: the work
// is taken again later). It releases the sandbox; the store stays open.
func (h *Host) Stop(ctx context.Context) error {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return nil
	}
	h.stopped = true
	started := h.started
	h.mu.Unlock()
	if started {
		h.cancel()
		select {
		case <-h.done:
		case <-ctx.Done():
			h.drain()
			<-h.done
		}
		h.drain()
	}
	return errors.Join(h.mods.Close(context.Background()), h.sb.Close(context.Background()))
}

// compareVersions orders versions by dot-separated numeric segments, others lexically.
func compareVersions(a, b string) int {
	as, bs := splitVersion(a), splitVersion(b)
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, y := as[i], bs[i]
		xn, xok := atoi(x)
		yn, yok := atoi(y)
		switch {
		case xok && yok && xn != yn:
			if xn < yn {
				return -1
			}
			return 1
		case !(xok && yok) && x != y:
			if x < y {
				return -1
			}
			return 1
		}
	}
	return len(as) - len(bs)
}

func splitVersion(v string) []string {
	if v == "" {
		return nil
	}
	var out []string
	start := 0
	for i := 0; i <= len(v); i++ {
		if i == len(v) || v[i] == '.' {
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return out
}

func atoi(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func isInvalid(err error) bool { return errors.Is(err, store.ErrInvalid) }

// ModuleStats describes the host's compiled modules (see Limits.ModuleCache).
type ModuleStats struct {
	// Loaded counts the modules compiled in memory, Held those that instances, turns or
	// callers hold now; the others may be evicted.
	Loaded, Held int
	// Bytes is the estimated memory of the loaded modules.
	Bytes int64
	// Compiles counts the compilations started since the host was made.
	Compiles int64
}

// ModuleStats returns the state of the host's compiled modules.
func (h *Host) ModuleStats() ModuleStats {
	s := h.mods.Stats()
	return ModuleStats{Loaded: s.Loaded, Held: s.Held, Bytes: s.Bytes, Compiles: s.Compiles}
}
