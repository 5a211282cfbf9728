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
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/host/internal/replay"
	"github.com/durohost/durohost/host/internal/wasmopt"
)

// Config sets up a Runtime. Zero fields take the defaults below.
type Config struct {
	// CacheDir holds compiled modules across restarts ("" keeps them in memory only).
	CacheDir string
	// MemoryLimitPages bounds each instance's linear memory, in 64 KiB pages.
	MemoryLimitPages uint32
	// TurnTimeout bounds the wall time a guest may run within one turn.
	TurnTimeout time.Duration
	// MaxPayload bounds one payload crossing the ABI.
	MaxPayload int
	// MaxEvents bounds an execution's history.
	MaxEvents int
	// MaxModuleSize bounds the bytes of a module.
	MaxModuleSize int
	// Log receives the replay-safe logs of guests (log host function, stdout, stderr).
	Log func(Log)
	// NoSnapshot makes every instance run its module's initialisation instead of starting
	// from a snapshot of an initialised instance (see snapshot.go). The two give the same
	// instances; this is for tests and measurements.
	NoSnapshot bool
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
	DefaultMemoryLimitPages = 4096
	DefaultTurnTimeout      = 10 * time.Second
	DefaultMaxModuleSize    = 64 << 20
)

// Runtime compiles and runs orchestration modules. It is safe for concurrent use.
type Runtime struct {
	cfg   Config
	r     wazero.Runtime
	cache wazero.CompilationCache

	// images are the memory images of the modules loaded here: Close releases them (and the
	// memories they pool).
	mu     sync.Mutex
	images []*dataImage
}

// track records a memory image for Close.
func (rt *Runtime) track(img *dataImage) {
	if img == nil {
		return
	}
	rt.mu.Lock()
	rt.images = append(rt.images, img)
	rt.mu.Unlock()
}

// New creates a Runtime with the durohost ABI and the deterministic WASI installed.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.MemoryLimitPages == 0 {
		cfg.MemoryLimitPages = DefaultMemoryLimitPages
	}
	if cfg.MemoryLimitPages > 65536 {
		return nil, fmt.Errorf("memory limit of %d pages is more than 65536", cfg.MemoryLimitPages)
	}
	if cfg.TurnTimeout <= 0 {
		cfg.TurnTimeout = DefaultTurnTimeout
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
	var cache wazero.CompilationCache
	var err error
	if cfg.CacheDir != "" {
		if cache, err = wazero.NewCompilationCacheWithDir(cfg.CacheDir); err != nil {
			return nil, fmt.Errorf("compilation cache: %w", err)
		}
	} else {
		cache = wazero.NewCompilationCache()
	}
	rc := wazero.NewRuntimeConfig().
		WithCompilationCache(cache).
		WithDebugInfoEnabled(false).
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(cfg.MemoryLimitPages)
	rt := &Runtime{cfg: cfg, r: wazero.NewRuntimeWithConfig(ctx, rc), cache: cache}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt.r); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("install WASI: %w", err)
	}
	if err := rt.installABI(ctx); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("install ABI: %w", err)
	}
	return rt, nil
}

// Close releases the runtime and every module and instance it holds.
func (rt *Runtime) Close(ctx context.Context) error {
	err := rt.r.Close(ctx)
	if rt.cache != nil {
		rt.cache.Close(ctx)
	}
	rt.mu.Lock()
	images := rt.images
	rt.images = nil
	rt.mu.Unlock()
	for _, img := range images {
		img.close()
	}
	return err
}

// Module is a validated, compiled orchestration module.
type Module struct {
	// Hash is the hex sha256 of the module's bytes.
	Hash string
	// Size is the number of bytes.
	Size int
	// Imports lists the module's imports as "module.name".
	Imports []string
	// Orchestrations are the orchestrations the module registers.
	Orchestrations []abi.Registration

	compiled wazero.CompiledModule
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
}

// Close releases the compiled code and the memory image.
func (m *Module) Close(ctx context.Context) error {
	return errors.Join(m.compiled.Close(ctx), m.image.close())
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

// Load validates and compiles a module and asks it which orchestrations it registers.
// Errors wrap ErrInvalidModule and name what is wrong.
func (rt *Runtime) Load(ctx context.Context, wasm []byte) (*Module, error) {
	if len(wasm) > rt.cfg.MaxModuleSize {
		return nil, fmt.Errorf("%w: %d bytes is more than the limit of %d", ErrInvalidModule, len(wasm), rt.cfg.MaxModuleSize)
	}
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) {
		return nil, fmt.Errorf("%w: not a WebAssembly binary (no \\0asm header)", ErrInvalidModule)
	}
	sum := sha256.Sum256(wasm)
	// Instances are pinned to the hash of the original bytes; what is compiled is the same
	// module without its data segments, whose initial memory is mapped from an image at each
	// instantiation (see dataImage), or, where that is not available or not worth it, the
	// module with its data segments merged (about twice as cheap to instantiate as Go's
	// tens of thousands of segments).
	opt, image, globals, err := []byte(nil), []byte(nil), []string(nil), error(nil)
	if imageSupported {
		// With its mutable globals exported, an initialised instance's state can be
		// snapshotted (see snapshot.go), when its memory and globals are all its state.
		snapshottable, err := wasmopt.Snapshottable(wasm)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidModule, err)
		}
		exported, names := wasm, []string(nil)
		if snapshottable {
			if exported, names, err = wasmopt.ExportGlobals(wasm); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrInvalidModule, err)
			}
		}
		if opt, image, err = wasmopt.DataImage(exported); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidModule, err)
		}
		globals = names
		if len(image) < minImage {
			opt, image, globals = wasm, nil, nil
		}
	}
	if image == nil {
		if opt, err = wasmopt.MergeDataSegments(wasm); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidModule, err)
		}
	}
	cm, err := rt.r.CompileModule(ctx, opt)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("compile module: %w", ctx.Err())
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidModule, err)
	}
	m := &Module{Hash: hex.EncodeToString(sum[:]), Size: len(wasm), compiled: cm, globals: globals}
	if image != nil {
		if m.image, err = newDataImage(image); err != nil {
			cm.Close(ctx)
			return nil, err
		}
		rt.track(m.image)
	}
	if err := m.validate(); err != nil {
		m.Close(ctx)
		return nil, err
	}
	regs, err := rt.describe(ctx, m)
	if err != nil {
		m.Close(ctx)
		if ctx.Err() != nil {
			// Interrupted (the host is stopping): the module is not to blame.
			return nil, fmt.Errorf("describe module: %w", ctx.Err())
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidModule, err)
	}
	m.Orchestrations = regs
	return m, nil
}

// validate checks imports and exports against the ABI.
func (m *Module) validate() error {
	var problems []string
	abiFuncs := map[string]abi.Signature{}
	for _, s := range abi.HostFunctions {
		abiFuncs[s.Name] = s
	}
	for _, f := range m.compiled.ImportedFunctions() {
		mod, name, _ := f.Import()
		m.Imports = append(m.Imports, mod+"."+name)
		switch mod {
		case abi.ImportModule:
			s, ok := abiFuncs[name]
			if !ok {
				problems = append(problems, fmt.Sprintf("imports unknown ABI function %s.%s", mod, name))
			} else if !sameTypes(f.ParamTypes(), s.Params) || !sameTypes(f.ResultTypes(), s.Results) {
				problems = append(problems, fmt.Sprintf("imports %s.%s with signature %s, ABI v%d defines %s",
					mod, name, sig(f.ParamTypes(), f.ResultTypes()), abi.Version, abiSig(s)))
			}
		case abi.WASIModule:
			if !wasiFunctions[name] {
				problems = append(problems, fmt.Sprintf("imports unknown WASI function %s.%s", mod, name))
			}
		default:
			problems = append(problems, fmt.Sprintf("imports forbidden function %s.%s (only %s and %s are allowed)", mod, name, abi.ImportModule, abi.WASIModule))
		}
	}
	for _, mem := range m.compiled.ImportedMemories() {
		mod, name, _ := mem.Import()
		problems = append(problems, fmt.Sprintf("imports memory %s.%s (a module must define its own)", mod, name))
	}
	exports := m.compiled.ExportedFunctions()
	for _, want := range abi.Exports {
		f, ok := exports[want.Name]
		if !ok {
			problems = append(problems, fmt.Sprintf("does not export function %s", want.Name))
		} else if !sameTypes(f.ParamTypes(), want.Params) || !sameTypes(f.ResultTypes(), want.Results) {
			problems = append(problems, fmt.Sprintf("exports %s with signature %s, ABI v%d requires %s",
				want.Name, sig(f.ParamTypes(), f.ResultTypes()), abi.Version, abiSig(want)))
		}
	}
	if f, ok := exports[abi.ExportInitialize]; ok && (len(f.ParamTypes()) != 0 || len(f.ResultTypes()) != 0) {
		problems = append(problems, fmt.Sprintf("exports %s with signature %s, must be () -> ()", abi.ExportInitialize, sig(f.ParamTypes(), f.ResultTypes())))
	}
	if _, ok := m.compiled.ExportedMemories()[abi.ExportMemory]; !ok {
		problems = append(problems, fmt.Sprintf("does not export its memory as %q", abi.ExportMemory))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: module %s", ErrInvalidModule, strings.Join(problems, "; "))
	}
	return nil
}

func sameTypes(got []api.ValueType, want []abi.ValueType) bool {
	return slices.EqualFunc(got, want, func(g api.ValueType, w abi.ValueType) bool { return byte(g) == byte(w) })
}

func sig(params, results []api.ValueType) string {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return strings.Join(s, " ")
	}
	return "(" + names(params) + ") -> (" + names(results) + ")"
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
	inst, err := rt.instantiate(ctx, m, nil, "", 0, !rt.cfg.NoSnapshot)
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
