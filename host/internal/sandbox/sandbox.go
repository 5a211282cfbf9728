// Package sandbox runs orchestration modules in wazero with the durohost ABI and a
// deterministic WASI: the only way a guest touches the world is the ABI, and everything it
// observes is a function of its history (see abi/ABI.md).
package sandbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/host/internal/replay"
	"github.com/durohost/durohost/host/internal/wasmopt"
)

// Config sets up a Runtime. Zero fields take the defaults below.
type Config struct {
	// CacheDir, when set, keeps the code Load compiles across restarts: each module's in
	// CacheDir/<its hash> (Compile takes the directory of each module from its caller).
	CacheDir string
	// MemoryLimitPages bounds each instance's linear memory, in 64 KiB pages.
	MemoryLimitPages uint32
	// TurnTimeout bounds the time a guest runs in the live part of a turn: CPU time of the
	// guest's thread where the platform measures it, wall time elsewhere (see watchdog.go).
	TurnTimeout time.Duration
	// TurnWallTimeout bounds the wall time of the live part of a turn where TurnTimeout is
	// CPU time; reaching it first is the host's problem (Result.Err ErrHostBusy).
	TurnWallTimeout time.Duration
	// ReplayTimeout bounds the wall time of the replay of recorded history that begins a
	// cold turn; an overrun is the host's problem (Result.Err ErrReplayTimeout).
	ReplayTimeout time.Duration
	// InstantiateTimeout bounds a module's initialisation and its description.
	InstantiateTimeout time.Duration
	// CompileTimeout bounds one compilation; CompileConcurrency how many run at once.
	CompileTimeout     time.Duration
	CompileConcurrency int
	// GuestMemory bounds the committed linear memory of every guest of the runtime together,
	// in bytes (see Runtime.Admit).
	GuestMemory int64
	// MaxPayload bounds one payload crossing the ABI.
	MaxPayload int
	// MaxEvents bounds an execution's history.
	MaxEvents int
	// MaxModuleSize bounds the bytes of a module.
	MaxModuleSize int
	// MaxRegistrations bounds the orchestrations a module may register.
	MaxRegistrations int
	// Log receives the replay-safe logs of guests (log host function, stdout, stderr).
	Log func(Log)
	// NoSnapshot makes every instance run its module's initialisation instead of starting
	// from a snapshot of an initialised instance (see snapshot.go). The two give the same
	// instances; this is for tests and measurements.
	NoSnapshot bool
	// NoWarm keeps no instances ready ahead of their starts (see warm.go): every instance is
	// instantiated when its execution needs it. The two give the same instances; this is for
	// tests and measurements.
	NoWarm bool
	// WarmIdle is how long a module's warm instances outlive its last start (default 10 s).
	WarmIdle time.Duration
	// WarmMemory bounds the linear memory the warm instances of all modules hold together
	// (default DefaultWarmMemory: sixteen Go guests of 4 MiB).
	WarmMemory int64
}

// Log is one line a guest logged while not replaying.
type Log struct {
	InstanceID string
	Execution  uint32
	Level      int32
	Message    string
}

// Defaults.
const (
	DefaultMemoryLimitPages   = 4096
	DefaultTurnTimeout        = 10 * time.Second
	DefaultReplayTimeout      = 60 * time.Second
	DefaultInstantiateTimeout = 10 * time.Second
	DefaultCompileTimeout     = 60 * time.Second
	DefaultMaxModuleSize      = 64 << 20
	DefaultMaxRegistrations   = 1000
	DefaultGuestMemory        = 4 << 30
	DefaultWarmMemory         = 64 << 20
)

// Runtime compiles and runs orchestration modules. It is safe for concurrent use.
//
// Each module gets a wazero runtime of its own (see Module): wazero shares the compiled code
// of identical bytes between the modules of one runtime, and closing one of them then breaks
// the others (wazero issue #2336), while modules compiled from its file cache are published
// before they are complete (#2547). One runtime per module, compiled once (the caller, the
// module manager, makes sure of that), avoids both and lets a module's memory go with it.
type Runtime struct {
	cfg Config
	// compiling holds a token per compilation in progress (CompileConcurrency of them).
	compiling chan struct{}
	mem       *memoryBudget

	// compiles counts the compilations started (a slot taken).
	compiles atomic.Int64
	// warmHits counts the instances handed out warm; warmBytes is the memory the warm
	// instances hold, counted as their modules' MemoryEstimate (see warm.go).
	warmHits, warmBytes atomic.Int64

	mu      sync.Mutex
	closed  bool
	modules map[*Module]struct{}
}

// Compiles returns how many compilations the runtime started (modules refused before
// compiling are not counted).
func (rt *Runtime) Compiles() int64 { return rt.compiles.Load() }

// New creates a Runtime.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.MemoryLimitPages == 0 {
		cfg.MemoryLimitPages = DefaultMemoryLimitPages
	}
	if cfg.MemoryLimitPages > 65536 {
		return nil, fmt.Errorf("memory limit of %d pages is more than 65536", cfg.MemoryLimitPages)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.TurnTimeout, DefaultTurnTimeout)
	def(&cfg.TurnWallTimeout, max(3*cfg.TurnTimeout, 30*time.Second))
	def(&cfg.ReplayTimeout, DefaultReplayTimeout)
	def(&cfg.InstantiateTimeout, DefaultInstantiateTimeout)
	def(&cfg.CompileTimeout, DefaultCompileTimeout)
	def(&cfg.WarmIdle, defaultWarmIdle)
	if cfg.CompileConcurrency <= 0 {
		cfg.CompileConcurrency = 1
	}
	if cfg.GuestMemory <= 0 {
		cfg.GuestMemory = DefaultGuestMemory
	}
	if cfg.WarmMemory <= 0 {
		cfg.WarmMemory = DefaultWarmMemory
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = replay.DefaultMaxPayload
	}
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = replay.DefaultMaxEvents
	}
	if cfg.MaxModuleSize <= 0 {
		cfg.MaxModuleSize = DefaultMaxModuleSize
	}
	if cfg.MaxRegistrations <= 0 {
		cfg.MaxRegistrations = DefaultMaxRegistrations
	}
	return &Runtime{
		cfg:       cfg,
		compiling: make(chan struct{}, cfg.CompileConcurrency),
		mem:       newMemoryBudget(cfg.GuestMemory),
		modules:   map[*Module]struct{}{},
	}, nil
}

// Close releases every module still open and the instances they run.
func (rt *Runtime) Close(ctx context.Context) error {
	rt.mu.Lock()
	rt.closed = true
	mods := make([]*Module, 0, len(rt.modules))
	for m := range rt.modules {
		mods = append(mods, m)
	}
	rt.mu.Unlock()
	var errs []error
	for _, m := range mods {
		errs = append(errs, m.Close(ctx))
	}
	return errors.Join(errs...)
}

// Module is a validated, compiled orchestration module, with the wazero runtime it runs in.
type Module struct {
	// Hash is the hex sha256 of the module's bytes.
	Hash string
	// Size is the number of bytes.
	Size int
	// Imports lists the module's imports as "module.name".
	Imports []string
	// Orchestrations are the orchestrations the module registers.
	Orchestrations []abi.Registration
	// Stream is set for a module of the stream form (ABI.md, "Stream form"): a WASI program
	// that imports nothing from the ABI and speaks it on the file StreamPath.
	Stream bool
	// entry is the export the host calls once per instance (durohost_run, or _start for a
	// stream-form WASI command).
	entry string
	// files are the read-only files a stream-form module bundles (StreamFilesSection).
	files map[string][]byte

	rt       *Runtime
	r        wazero.Runtime
	cache    wazero.CompilationCache // nil when compiled without a cache directory
	compiled wazero.CompiledModule
	// codeSize is the size of the code section, for Cost.
	codeSize int
	// image, when set, is the initial memory of a module compiled without its data segments
	// (see dataImage); every instance's memory must start from it.
	image *dataImage
	// snap, when set, is the state of an instance once initialised: image then holds its
	// memory, and instances start from it instead of running their initialisation (see
	// snapshot.go).
	snap *snapshot
	// globals are the names under which the compiled module exports its mutable globals
	// (wasmopt.ExportGlobals), nil when it does not.
	globals []string
	// goRand: the Go runtime's generator was found at goRandAt in an initialised instance's
	// memory; every instance gets its own seed there (gorand.go).
	goRand   bool
	goRandAt uint32
	// warm holds instances instantiated ahead of their starts (see warm.go); bound counts the
	// instances bound to an execution and not closed yet.
	warm  warmPool
	bound atomic.Int64

	closeOnce sync.Once
	closeErr  error
}

// Close releases the compiled code, the module's runtime and the memory image. Instances of
// the module must be closed first (the module manager counts them).
func (m *Module) Close(ctx context.Context) error {
	m.closeOnce.Do(func() {
		m.dropWarm(true)
		m.rt.mu.Lock()
		delete(m.rt.modules, m)
		m.rt.mu.Unlock()
		errs := []error{m.r.Close(ctx)}
		if m.cache != nil {
			errs = append(errs, m.cache.Close(ctx))
		}
		errs = append(errs, m.image.close())
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}

// Cost estimates the memory the module holds while it is loaded, in bytes: its compiled code
// (about codeFactor bytes of machine code per byte of WebAssembly code, measured on Go guests),
// the resident bytes of its memory image and a fixed overhead for its runtime.
func (m *Module) Cost() int64 {
	return int64(m.codeSize)*codeFactor + m.image.resident() + moduleOverhead
}

const (
	codeFactor     = 4
	moduleOverhead = 256 << 10
)

// MemoryEstimate is the linear memory a new instance of the module starts with, in bytes
// (what admitting a turn that instantiates it must find room for).
func (m *Module) MemoryEstimate() int64 {
	if m.snap != nil {
		return int64(m.snap.pages) * 65536
	}
	if m.image != nil {
		return int64(m.image.size)
	}
	return 1 << 20
}

// minImage is the smallest data image worth a mapping: below it, copying the data segments
// at instantiation costs less than mapping a file.
const minImage = 64 << 10

// Has reports whether the module registers the orchestration name (at version, when given).
func (m *Module) Has(name, version string) bool {
	for _, r := range m.Orchestrations {
		if r.Name == name && (version == "" || r.Version == version) {
			return true
		}
	}
	return false
}

// Load compiles a module as Compile does, with its code cached in Config.CacheDir/<hash>
// when the runtime has a cache directory.
func (rt *Runtime) Load(ctx context.Context, wasm []byte) (*Module, error) {
	dir := ""
	if rt.cfg.CacheDir != "" {
		sum := sha256.Sum256(wasm)
		dir = filepath.Join(rt.cfg.CacheDir, hex.EncodeToString(sum[:]))
	}
	return rt.Compile(ctx, wasm, dir)
}

// Compile validates and compiles a module in a runtime of its own and asks it which
// orchestrations it registers. cacheDir, when set, is the directory where its compiled code is
// kept across restarts (a directory per module). Errors for unacceptable bytes wrap
// ErrInvalidModule and name what is wrong; a compilation that outlasts the compile budget is
// ErrCompileTimeout; an interruption (ctx) is the context's error.
func (rt *Runtime) Compile(ctx context.Context, wasm []byte, cacheDir string) (*Module, error) {
	if len(wasm) > rt.cfg.MaxModuleSize {
		return nil, fmt.Errorf("%w: %d bytes is more than the limit of %d", ErrInvalidModule, len(wasm), rt.cfg.MaxModuleSize)
	}
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) {
		return nil, fmt.Errorf("%w: not a WebAssembly binary (no \\0asm header)", ErrInvalidModule)
	}
	sum := sha256.Sum256(wasm)
	// The module is read once, checked against the limits that keep compiling it cheap
	// (wasmopt.Check), and its imports and exports validated, all before anything compiles.
	layout, err := wasmopt.ParseChecked(wasm, wasmopt.Limits{MaxMemoryPages: rt.cfg.MemoryLimitPages})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidModule, err)
	}
	imports, form, err := validate(layout)
	if err != nil {
		return nil, err
	}
	// Instances are pinned to the hash of the original bytes; what is compiled is the same
	// module without its data segments, whose initial memory is mapped from an image at each
	// instantiation (see dataImage), or, where that is not available or not worth it, the
	// module with its data segments merged (about twice as cheap to instantiate as Go's
	// tens of thousands of segments).
	var (
		opt     []byte
		image   *wasmopt.Image
		globals []string
	)
	if imageSupported {
		// With its mutable globals exported, an initialised instance's state can be
		// snapshotted (see snapshot.go), when its memory and globals are all its state.
		exported := layout
		if layout.Snapshottable() || form.streamReactor(layout) {
			exported, globals = layout.WithGlobalsExported()
		}
		if opt, image, err = exported.DataImage(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidModule, err)
		}
		if image == nil || image.DataBytes() < minImage {
			// An image only where the data justifies a mapping.
			opt, image, globals = nil, nil, nil
		}
	}
	if image == nil {
		if opt, err = layout.MergeDataSegments(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidModule, err)
		}
	}
	m := &Module{Hash: hex.EncodeToString(sum[:]), Size: len(wasm), Imports: imports, rt: rt, globals: globals, codeSize: layout.CodeSize,
		Stream: form.stream, entry: form.entry}
	if form.stream {
		if m.files, err = bundledFiles(wasm, layout); err != nil {
			return nil, err
		}
	}
	if err := rt.compile(ctx, m, opt, cacheDir); err != nil {
		return nil, err
	}
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		m.Close(ctx)
		return nil, ErrClosed
	}
	rt.modules[m] = struct{}{}
	rt.mu.Unlock()
	if image != nil {
		if m.image, err = newDataImage(image); err != nil {
			m.Close(ctx)
			return nil, err
		}
	}
	regs, err := rt.describe(ctx, m)
	if err != nil {
		m.Close(ctx)
		switch {
		case ctx.Err() != nil:
			// Interrupted (the host is stopping, the client went away): the module is not
			// to blame.
			return nil, fmt.Errorf("describe module: %w", ctx.Err())
		case transient(err):
			// A busy host (its wall-time backstop) or a spent guest memory budget: not the
			// module's fault either.
			return nil, fmt.Errorf("describe module: %w", err)
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidModule, err)
	}
	if err := rt.checkRegistrations(regs); err != nil {
		m.Close(ctx)
		return nil, err
	}
	m.Orchestrations = regs
	// The first start of a module just loaded (uploaded, or read back from the store after a
	// restart) finds an instance ready too, rather than one being instantiated beside it.
	m.refillWarm()
	return m, nil
}

// compile compiles opt, the transformed module, into m's own runtime, within the compile
// budget and the runtime's compile concurrency. The compilation runs on its own goroutine:
// when the budget ends first, Compile returns at once, and the compilation keeps its slot
// until it stops (wazero checks for cancellation between functions, and function bodies
// were bounded before), so abandoned compilations never add up beyond CompileConcurrency.
func (rt *Runtime) compile(ctx context.Context, m *Module, opt []byte, cacheDir string) error {
	// The budget covers the wait for a slot too: a caller queued behind other compilations
	// hears that the host is busy within it, rather than waiting without end.
	cctx, cancel := context.WithTimeout(ctx, rt.cfg.CompileTimeout)
	defer cancel()
	select {
	case rt.compiling <- struct{}{}:
	case <-cctx.Done():
		if ctx.Err() != nil {
			return fmt.Errorf("compile module: waiting for a compile slot: %w", ctx.Err())
		}
		return fmt.Errorf("%w: no compile slot was free within %s (%d compilations at once)", ErrBusy, rt.cfg.CompileTimeout, rt.cfg.CompileConcurrency)
	}
	rt.compiles.Add(1)
	// Two workers: wazero checks for cancellation only when it compiles with several.
	cctx = experimental.WithCompilationWorkers(cctx, 2)
	done := make(chan compiled) // a result is handed over only to a caller still waiting
	go func() {
		defer func() { <-rt.compiling }()
		res := compileIn(cctx, rt, opt, cacheDir)
		var pathErr *fs.PathError
		if cacheDir != "" && (errors.As(res.err, &pathErr) || res.r == nil) && cctx.Err() == nil {
			// The compilation cache could not be written or opened (a full disk, a
			// directory removed under it): compile without it rather than refuse the module.
			res = compileIn(cctx, rt, opt, "")
		}
		select {
		case done <- res:
		case <-cctx.Done():
			// Abandoned: whoever asked has gone; release what was made.
			if res.err == nil {
				res.r.Close(context.Background())
				if res.cache != nil {
					res.cache.Close(context.Background())
				}
			}
		}
	}()
	select {
	case res := <-done:
		if res.err != nil {
			switch {
			case ctx.Err() != nil:
				return fmt.Errorf("compile module: %w", ctx.Err())
			case cctx.Err() != nil:
				return fmt.Errorf("%w: %s", ErrCompileTimeout, rt.cfg.CompileTimeout)
			}
			return fmt.Errorf("%w: %v", ErrInvalidModule, res.err)
		}
		m.r, m.cache, m.compiled = res.r, res.cache, res.cm
		return nil
	case <-cctx.Done():
		if ctx.Err() != nil {
			return fmt.Errorf("compile module: %w", ctx.Err())
		}
		return fmt.Errorf("%w: %s", ErrCompileTimeout, rt.cfg.CompileTimeout)
	}
}

// compiled is the outcome of compileIn.
type compiled struct {
	r     wazero.Runtime
	cache wazero.CompilationCache
	cm    wazero.CompiledModule
	err   error
}

// compileIn compiles opt in a new runtime (cached in cacheDir when set); on failure nothing is
// left open.
func compileIn(ctx context.Context, rt *Runtime, opt []byte, cacheDir string) compiled {
	var res compiled
	res.r, res.cache, res.err = rt.newEngine(cacheDir)
	if res.err == nil {
		res.cm, res.err = res.r.CompileModule(ctx, opt)
	}
	if res.err != nil && res.r != nil {
		res.r.Close(context.Background())
		if res.cache != nil {
			res.cache.Close(context.Background())
		}
	}
	return res
}

// newEngine creates a module's wazero runtime with the durohost ABI and the deterministic
// WASI installed, its compiled code cached in cacheDir when set.
func (rt *Runtime) newEngine(cacheDir string) (wazero.Runtime, wazero.CompilationCache, error) {
	ctx := context.Background()
	rc := wazero.NewRuntimeConfig().
		WithDebugInfoEnabled(false).
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(rt.cfg.MemoryLimitPages)
	var cache wazero.CompilationCache
	if cacheDir != "" {
		var err error
		if cache, err = wazero.NewCompilationCacheWithDir(cacheDir); err != nil {
			return nil, nil, fmt.Errorf("compilation cache: %w", err)
		}
		rc = rc.WithCompilationCache(cache)
	}
	r := wazero.NewRuntimeWithConfig(ctx, rc)
	fail := func(what string, err error) (wazero.Runtime, wazero.CompilationCache, error) {
		r.Close(ctx)
		if cache != nil {
			cache.Close(ctx)
		}
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r); err != nil {
		return fail("install WASI", err)
	}
	if err := installABI(ctx, r); err != nil {
		return fail("install ABI", err)
	}
	return r, cache, nil
}

// checkRegistrations refuses a description with too many registrations or names a client
// could not use.
func (rt *Runtime) checkRegistrations(regs []abi.Registration) error {
	if len(regs) > rt.cfg.MaxRegistrations {
		return fmt.Errorf("%w: the module registers %d orchestrations, more than the limit of %d", ErrInvalidModule, len(regs), rt.cfg.MaxRegistrations)
	}
	seen := make(map[abi.Registration]bool, len(regs))
	for _, r := range regs {
		if err := abi.CheckName(r.Name); err != nil {
			return fmt.Errorf("%w: registers an orchestration whose name %q %v", ErrInvalidModule, truncate(r.Name, 64), err)
		}
		if r.Version != "" {
			if err := abi.CheckName(r.Version); err != nil {
				return fmt.Errorf("%w: orchestration %q has a version that %v", ErrInvalidModule, r.Name, err)
			}
		}
		if seen[r] {
			return fmt.Errorf("%w: registers orchestration %q version %q twice", ErrInvalidModule, r.Name, r.Version)
		}
		seen[r] = true
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// moduleForm is what validate found out about a module's form.
type moduleForm struct {
	stream bool   // the stream form (ABI.md, "Stream form")
	entry  string // the export called once per instance
}

// validate checks a module's imports and exports against the ABI, from its layout (before it
// is compiled), and returns its imports as "module.name" and its form. The error names every
// problem. A module that imports nothing from the ABI and does not export
// durohost_abi_version is of the stream form; every other module is of the imported form.
func validate(l *wasmopt.Module) ([]string, moduleForm, error) {
	var problems []string
	var imports []string
	abiFuncs := map[string]abi.Signature{}
	for _, s := range abi.HostFunctions {
		abiFuncs[s.Name] = s
	}
	importsABI := false
	for _, f := range l.ImportedFuncs() {
		mod, name := f.Module, f.Name
		imports = append(imports, mod+"."+name)
		switch mod {
		case abi.ImportModule:
			importsABI = true
			s, ok := abiFuncs[name]
			if !ok {
				problems = append(problems, fmt.Sprintf("imports unknown ABI function %s.%s", mod, name))
			} else if !sameTypes(f.Type.Params, s.Params) || !sameTypes(f.Type.Results, s.Results) {
				problems = append(problems, fmt.Sprintf("imports %s.%s with signature %s, ABI v%d defines %s",
					mod, name, sig(f.Type), abi.Version, abiSig(s)))
			}
		case abi.WASIModule:
			if !wasiFunctions[name] {
				problems = append(problems, fmt.Sprintf("imports unknown WASI function %s.%s", mod, name))
			}
		default:
			problems = append(problems, fmt.Sprintf("imports forbidden function %s.%s (only %s and %s are allowed)", mod, name, abi.ImportModule, abi.WASIModule))
		}
	}
	for _, mem := range l.ImportedMemories() {
		problems = append(problems, fmt.Sprintf("imports memory %s.%s (a module must define its own)", mem.Module, mem.Name))
	}
	exports := map[string]wasmopt.FuncType{}
	for _, f := range l.ExportedFuncs() {
		exports[f.Name] = f.Type
	}
	_, hasVersion := exports[abi.ExportABIVersion]
	form := moduleForm{entry: abi.ExportRun}
	if !importsABI && !hasVersion {
		// The stream form: a WASI program whose entry is durohost_run (a reactor, whose
		// _initialize is then snapshotted) or _start (a command).
		form.stream = true
		if _, ok := exports[abi.ExportRun]; !ok {
			form.entry = ExportStart
		}
		if t, ok := exports[form.entry]; !ok {
			problems = append(problems, fmt.Sprintf("imports nothing from %s (the stream form) but exports neither %s nor %s", abi.ImportModule, abi.ExportRun, ExportStart))
		} else if len(t.Params) != 0 || len(t.Results) != 0 {
			problems = append(problems, fmt.Sprintf("exports %s with signature %s, must be () -> ()", form.entry, sig(t)))
		}
	} else {
		for _, want := range abi.Exports {
			t, ok := exports[want.Name]
			if !ok {
				problems = append(problems, fmt.Sprintf("does not export function %s", want.Name))
			} else if !sameTypes(t.Params, want.Params) || !sameTypes(t.Results, want.Results) {
				problems = append(problems, fmt.Sprintf("exports %s with signature %s, ABI v%d requires %s",
					want.Name, sig(t), abi.Version, abiSig(want)))
			}
		}
	}
	if t, ok := exports[abi.ExportInitialize]; ok && (len(t.Params) != 0 || len(t.Results) != 0) {
		problems = append(problems, fmt.Sprintf("exports %s with signature %s, must be () -> ()", abi.ExportInitialize, sig(t)))
	}
	hasMemory := false
	for _, e := range l.ExportedMemories() {
		hasMemory = hasMemory || e.Name == abi.ExportMemory
	}
	if !hasMemory {
		problems = append(problems, fmt.Sprintf("does not export its memory as %q", abi.ExportMemory))
	}
	if len(problems) > 0 {
		return nil, form, fmt.Errorf("%w: module %s", ErrInvalidModule, strings.Join(problems, "; "))
	}
	return imports, form, nil
}

func sameTypes(got []wasmopt.ValueType, want []abi.ValueType) bool {
	return slices.EqualFunc(got, want, func(g wasmopt.ValueType, w abi.ValueType) bool { return byte(g) == byte(w) })
}

func sig(t wasmopt.FuncType) string {
	names := func(ts []wasmopt.ValueType) string {
		s := make([]string, len(ts))
		for i, v := range ts {
			s[i] = v.String()
		}
		return strings.Join(s, " ")
	}
	return "(" + names(t.Params) + ") -> (" + names(t.Results) + ")"
}

func abiSig(s abi.Signature) string {
	names := func(ts []abi.ValueType) string {
		out := make([]string, len(ts))
		for i, t := range ts {
			out[i] = t.String()
		}
		return strings.Join(out, " ")
	}
	return "(" + names(s.Params) + ") -> (" + names(s.Results) + ")"
}

// describe instantiates the module once, checks its ABI version and asks it for its
// registrations.
func (rt *Runtime) describe(ctx context.Context, m *Module) ([]abi.Registration, error) {
	// The describing instance is the one whose initialised state becomes the snapshot (taken
	// by instantiate before the instance runs anything else, see snapshot.go).
	inst, err := rt.instantiate(ctx, m, true, false)
	if err != nil {
		return nil, err
	}
	defer inst.Close()
	inst.describe = true
	res := inst.Run(ctx)
	if res.Err != nil {
		return nil, fmt.Errorf("describe: %w", res.Err)
	}
	if inst.registrations == nil {
		return nil, errors.New("durohost_run did not answer the describe request with a describe outcome")
	}
	return inst.registrations, nil
}
