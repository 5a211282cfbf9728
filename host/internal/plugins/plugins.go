// Package plugins runs Extism plugins (github.com/extism/go-sdk) as durohost activities: it
// checks a plugin's bytes (Describe), compiles each plugin once per process and keeps a pool
// of its instances (Manager, Plugin), and runs one function call at a time in an instance
// within the plugin's limits (Plugin.Call), turning every way a call can fail into an
// *abi.Failure with a stable code. See RATIONALE.md, "Why are plugin activities Extism
// plugins?".
package plugins

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	extism "github.com/extism/go-sdk"
	"github.com/gobwas/glob"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/sys"

	"github.com/durohost/durohost/abi"
)

// Failure codes of plugin calls (abi.Failure.Code). Every failure is of kind application,
// which an orchestration sees and may retry, except a time-out, of kind timeout (retried by
// the SDKs' retry policies too).
const (
	// CodeError: the function returned a non-zero code; the message is the error the plugin
	// set, if any.
	CodeError = "DH-PLUGIN-001"
	// CodeTrap: the plugin trapped (unreachable, out-of-bounds access, a memory it could not
	// grow, an abort of its language's runtime).
	CodeTrap = "DH-PLUGIN-002"
	// CodeTimeout: the call ran longer than the plugin's timeout and was stopped.
	CodeTimeout = "DH-PLUGIN-003"
	// CodeHTTPForbidden: the plugin asked for a URL whose host is not among its allowed
	// hosts (directly or through a redirect).
	CodeHTTPForbidden = "DH-PLUGIN-004"
	// CodeOutputTooLarge: the function's output is larger than the plugin's output limit.
	CodeOutputTooLarge = "DH-PLUGIN-005"
	// CodeInstantiate: no instance of the plugin could be made (its memory limit is too
	// small for it, its initialisation trapped).
	CodeInstantiate = "DH-PLUGIN-006"
	// CodeNoFunction: the plugin does not export the function the activity names.
	CodeNoFunction = "DH-PLUGIN-007"
	// CodeHostCall: a host function the plugin called failed (an HTTP request that could not
	// be sent or read, a malformed request, a variable store that is full).
	CodeHostCall = "DH-PLUGIN-008"
)

// Settings are what the host lets one plugin do. The zero value of a field is not a default:
// the caller normalises them (host.PluginSpec).
type Settings struct {
	// AllowedHosts are the hosts the plugin's HTTP requests may reach: a host name, or a glob
	// pattern ("*.example.org"). None: no HTTP at all.
	AllowedHosts []string
	// Config is what the plugin reads with config_get.
	Config map[string]string
	// MemoryPages bounds each of the plugin's memories, in 64 KiB pages.
	MemoryPages uint32
	// Timeout bounds one call, in wall time.
	Timeout time.Duration
	// MaxOutput bounds the output of one call, in bytes.
	MaxOutput int
	// MaxHTTPResponse bounds the body of one HTTP response, in bytes.
	MaxHTTPResponse int64
	// MaxVarBytes bounds the plugin's variables (var_set), in bytes.
	MaxVarBytes int64
	// WASI gives the plugin WASI preview 1 (clocks and randomness; no files, environment or
	// arguments).
	WASI bool
	// InstantiateTimeout, when positive and shorter than Timeout, bounds the making of an
	// instance (its start function) instead: the host's bound, where Timeout is the
	// uploader's.
	InstantiateTimeout time.Duration
	// PrivateNetwork lets the plugin's HTTP requests connect to addresses that are not
	// public (loopback, private, link-local, ...). Without it such an address is refused
	// whatever allowed host name resolved to it.
	PrivateNetwork bool
}

// CheckHosts validates allowed-host patterns: each a non-empty host name or glob pattern,
// without a scheme, a port or a path.
func CheckHosts(hosts []string) error {
	for _, h := range hosts {
		switch {
		case h == "":
			return errors.New("an allowed host is empty")
		case strings.ContainsAny(h, "/:@ "):
			return fmt.Errorf("allowed host %q is not a host name or pattern (no scheme, port or path: e.g. api.example.org or *.example.org)", h)
		}
		if _, err := glob.Compile(h); err != nil {
			return fmt.Errorf("allowed host %q is not a valid pattern: %v", h, err)
		}
	}
	return nil
}

// hostAllowed reports whether host (normalised: normHost) matches one of the patterns, whose
// normalised forms are hosts.
func hostAllowed(patterns []glob.Glob, hosts []string, host string) bool {
	for i, p := range patterns {
		if hosts[i] == host || p.Match(host) {
			return true
		}
	}
	return false
}

// Config sets up a Manager.
type Config struct {
	// MaxIdle bounds the idle instances kept per plugin (0: 8).
	MaxIdle int
	// IdleMemory bounds the memory the idle instances of all plugins may hold, in bytes,
	// each counted at the most its memories may grow to (twice its memory limit: its own
	// memory and the kernel's), whatever it holds now (0: DefaultIdleMemory). An instance
	// beyond it is closed after its call rather than pooled.
	IdleMemory int64
	// CompileConcurrency bounds the plugins compiling at once (0: 1); a load waits for a
	// slot as long as its context allows.
	CompileConcurrency int
	// Logger receives the plugins' logs, with the plugin's name ("plugin") and
	// "source"="plugin".
	Logger *slog.Logger
}

// Manager compiles plugins, each once per process for its bytes, memory limit and WASI,
// however many registrations share them. It is safe for concurrent use.
type Manager struct {
	cfg Config

	slots chan struct{} // compile slots

	public, private *http.Client // plugins' HTTP clients, without and with PrivateNetwork

	compilations atomic.Int64 // compilations begun, for tests
	idleMemory   atomic.Int64 // what the idle instances of all plugins may hold (IdleMemory)

	mu       sync.Mutex
	compiled map[compileKey]*compiled
	closed   bool
}

// compileKey names one compilation: what NewCompiledPlugin bakes into its runtime.
type compileKey struct {
	hash  string
	pages uint32
	wasi  bool
}

type compiled struct {
	ready chan struct{} // closed once cp or err is set
	cp    *extism.CompiledPlugin
	err   error
	refs  int
}

// logLevel opens Extism's process-wide log gate once, at info: the plugins' logs at info and
// above then reach Config.Logger, whose handler filters them further. (Below info, the SDK's
// own messages would go to the standard logger before an instance has its logger.)
var logLevel sync.Once

// New returns a Manager. The first one sets Extism's process-wide log level to info, so that
// the plugins' info, warning and error logs reach Config.Logger.
func New(cfg Config) *Manager {
	logLevel.Do(func() { extism.SetLogLevel(extism.LogLevelInfo) })
	if cfg.MaxIdle <= 0 {
		cfg.MaxIdle = 8
	}
	if cfg.IdleMemory <= 0 {
		cfg.IdleMemory = DefaultIdleMemory
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CompileConcurrency <= 0 {
		cfg.CompileConcurrency = 1
	}
	return &Manager{cfg: cfg, compiled: map[compileKey]*compiled{}, slots: make(chan struct{}, cfg.CompileConcurrency),
		public: newHTTPClient(false), private: newHTTPClient(true)}
}

// client returns the HTTP client of plugins with or without PrivateNetwork.
func (m *Manager) client(private bool) *http.Client {
	if private {
		return m.private
	}
	return m.public
}

// Load checks wasm with Describe, compiles it unless a plugin of the same bytes, memory limit
// and WASI is loaded, and makes one instance of it (kept for the first call), so that a
// plugin that cannot be instantiated is refused here. name names the plugin in messages.
// Close the Plugin once it is no longer registered. Errors wrap ErrInvalid for unacceptable
// bytes, and an instance that cannot be made.
func (m *Manager) Load(ctx context.Context, name string, wasm []byte, s Settings) (*Plugin, error) {
	info, err := Describe(wasm, s)
	if err != nil {
		return nil, err
	}
	var bad []string
	for _, fn := range info.Functions {
		// An activity's name is shown by the console, the CLI and the logs: no control or
		// invisible characters (a bidirectional override could disguise it), bounded.
		if fn == "" {
			bad = append(bad, `the activity name of its function "" would end with its plugin's name and a dot`)
		} else if err := abi.CheckName(name + "." + fn); err != nil {
			bad = append(bad, fmt.Sprintf("the activity name of its function %q %v", truncated(fn), err))
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(bad, "; "))
	}
	if err := CheckHosts(s.AllowedHosts); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	globs := make([]glob.Glob, len(s.AllowedHosts))
	hosts := make([]string, len(s.AllowedHosts))
	for i, h := range s.AllowedHosts {
		hosts[i] = normHost(h)
		globs[i] = glob.MustCompile(hosts[i])
	}
	key := compileKey{hash: info.Hash, pages: s.MemoryPages, wasi: s.WASI}
	c, err := m.acquire(ctx, key, wasm)
	if err != nil {
		return nil, err
	}
	p := &Plugin{m: m, key: key, c: c, s: s, globs: globs, hosts: hosts, info: info, name: name}
	inst, err := p.get(ctx)
	if err != nil {
		p.Close(ctx)
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	p.put(ctx, inst)
	return p, nil
}

func (m *Manager) acquire(ctx context.Context, key compileKey, wasm []byte) (*compiled, error) {
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return nil, ErrClosed
		}
		c, ok := m.compiled[key]
		if !ok {
			break // compile it: below, with the lock held
		}
		c.refs++
		m.mu.Unlock()
		select {
		case <-c.ready:
		case <-ctx.Done():
			m.release(ctx, key, c)
			return nil, ctx.Err()
		}
		if c.err == nil {
			return c, nil
		}
		m.release(ctx, key, c)
		if !errors.Is(c.err, errNoSlot) || ctx.Err() != nil {
			return nil, c.err
		}
		// The loader that was to compile it gave up waiting for a slot: try again.
	}
	c := &compiled{ready: make(chan struct{}), refs: 1}
	m.compiled[key] = c
	m.mu.Unlock()
	fail := func(err error) (*compiled, error) {
		c.err = err
		m.mu.Lock()
		if m.compiled[key] == c {
			delete(m.compiled, key) // a later load compiles it afresh
		}
		m.mu.Unlock()
		close(c.ready)
		m.release(ctx, key, c)
		return nil, err
	}
	select {
	case m.slots <- struct{}{}:
	case <-ctx.Done():
		return fail(fmt.Errorf("compile plugin: %w: %w", errNoSlot, ctx.Err()))
	}
	defer func() { <-m.slots }()
	wasm, err := moveImportsOf(wasm)
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrInvalid, err))
	}
	m.compilations.Add(1)
	rc := wazero.NewRuntimeConfig().WithCloseOnContextDone(true).WithMemoryLimitPages(key.pages).WithDebugInfoEnabled(false)
	cp, err := extism.NewCompiledPlugin(context.WithoutCancel(ctx),
		extism.Manifest{Wasm: []extism.Wasm{extism.WasmData{Data: wasm}}},
		extism.PluginConfig{RuntimeConfig: rc, EnableWasi: key.wasi}, hostFuncs())
	if err != nil {
		return fail(fmt.Errorf("%w: compile: %v", ErrInvalid, err))
	}
	c.cp = cp
	close(c.ready)
	return c, nil
}

// release drops a reference to a compilation; the last one closes it.
func (m *Manager) release(ctx context.Context, key compileKey, c *compiled) {
	m.mu.Lock()
	c.refs--
	last := c.refs == 0
	if last && m.compiled[key] == c {
		delete(m.compiled, key)
	}
	m.mu.Unlock()
	if last && c.cp != nil {
		if err := c.cp.Close(context.WithoutCancel(ctx)); err != nil {
			m.cfg.Logger.Warn("close compiled plugin", "sha256", key.hash, "err", err)
		}
	}
}

// DefaultIdleMemory is the default Config.IdleMemory: 32 idle instances of plugins with the
// default memory limit of 16 MiB.
const DefaultIdleMemory = 1 << 30

// reserve counts n more bytes of idle instances, unless that passes Config.IdleMemory.
func (m *Manager) reserve(n int64) bool {
	for {
		cur := m.idleMemory.Load()
		if cur+n > m.cfg.IdleMemory {
			return false
		}
		if m.idleMemory.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// Compiled returns how many compilations the manager holds.
func (m *Manager) Compiled() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.compiled)
}

// Close refuses further loads and closes the idle connections of plugins' HTTP requests.
// Plugins still loaded keep working until they are closed.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.public.CloseIdleConnections()
	m.private.CloseIdleConnections()
}

// Plugin is a loaded plugin with its settings and a pool of idle instances. Calls run in
// parallel, each in an instance of its own. It is safe for concurrent use.
type Plugin struct {
	m     *Manager
	key   compileKey
	c     *compiled
	s     Settings
	globs []glob.Glob
	hosts []string // the allowed hosts, normalised (normHost)
	info  *Info
	name  string

	mu     sync.Mutex
	idle   []*instance
	calls  int // calls running
	closed bool
}

// Info describes the plugin's bytes.
func (p *Plugin) Info() *Info { return p.info }

// Settings returns the plugin's settings.
func (p *Plugin) Settings() Settings { return p.s }

// Close closes the idle instances and, once the calls running have finished (their
// instances are closed then), releases the compilation. Later calls fail with ErrClosed.
func (p *Plugin) Close(ctx context.Context) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.m.idleMemory.Add(-int64(len(idle)) * p.idleCost())
	last := p.calls == 0
	p.mu.Unlock()
	for _, inst := range idle {
		inst.Close(context.WithoutCancel(ctx))
	}
	if last {
		p.m.release(ctx, p.key, p.c)
	}
}

// instance is an instance of a plugin, with the context its WASI sleeps end with.
type instance struct {
	*extism.Plugin
	// ctx is the context of the call running in the instance (nil between calls): a sleep
	// (WASI's poll_oneoff) ends when it is done. wazero's own sleep is time.Sleep, which
	// neither the timeout nor a cancellation would end.
	ctx atomic.Pointer[context.Context]
}

// sleep is the instance's WASI nanosleep.
func (i *instance) sleep(ns int64) {
	ctx := i.ctx.Load()
	if ctx == nil || ns <= 0 {
		return
	}
	t := time.NewTimer(time.Duration(ns))
	defer t.Stop()
	select {
	case <-t.C:
	case <-(*ctx).Done():
	}
}

// running sets the context of the call running in the instance (nil: none).
func (i *instance) running(ctx context.Context) {
	if ctx == nil {
		i.ctx.Store(nil)
		return
	}
	i.ctx.Store(&ctx)
}

// newInstance makes a new instance of the plugin with its settings.
func (p *Plugin) newInstance(ctx context.Context) (*instance, error) {
	i := &instance{}
	mc := wazero.NewModuleConfig()
	if p.s.WASI {
		mc = mc.WithSysWalltime().WithSysNanotime().WithNanosleep(i.sleep).WithRandSource(rand.Reader)
	}
	// Instantiation runs the plugin's start function: it gets the plugin's timeout too, or
	// the host's bound when that is shorter.
	limit, what := p.s.Timeout, "its timeout"
	if t := p.s.InstantiateTimeout; t > 0 && t < limit {
		limit, what = t, "the host's instantiation time limit"
	}
	ictx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	i.running(ictx)
	defer i.running(nil)
	inst, err := p.c.cp.Instance(ictx, extism.PluginInstanceConfig{ModuleConfig: mc})
	switch {
	case err != nil && ctx.Err() == nil && ictx.Err() != nil:
		return nil, fmt.Errorf("instantiate plugin %q: its initialisation ran longer than %s of %s", p.name, what, limit)
	case err != nil:
		return nil, fmt.Errorf("instantiate plugin %q: %v", p.name, firstLine(err))
	}
	inst.Timeout = 0 // Call applies the timeout, to tell it from a cancellation
	inst.Config = p.s.Config
	inst.MaxHttpResponseBytes = p.s.MaxHTTPResponse
	inst.MaxVarBytes = p.s.MaxVarBytes
	log := p.m.cfg.Logger
	name := p.name
	inst.SetLogger(func(level extism.LogLevel, msg string) {
		if len(msg) > maxLogLine {
			msg = strings.ToValidUTF8(msg[:maxLogLine], "") + "…"
		}
		log.Log(context.Background(), slogLevel(level), msg, "plugin", name, "source", "plugin")
	})
	i.Plugin = inst
	return i, nil
}

// maxErrorMessage bounds the message of a call's failure, in bytes: the rest is cut. The
// failure is recorded in the orchestration's history, and what the plugin puts in it (its
// error, a URL it asked for) may be as large as its memory.
const maxErrorMessage = 64 << 10

// maxLogLine bounds a plugin's log message, in bytes, as an orchestration's is bounded: the
// rest is cut (a plugin's message may be as large as its memory).
const maxLogLine = 64 << 10

func slogLevel(l extism.LogLevel) slog.Level {
	switch l {
	case extism.LogLevelTrace, extism.LogLevelDebug:
		return slog.LevelDebug
	case extism.LogLevelWarn:
		return slog.LevelWarn
	case extism.LogLevelError:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// get takes an idle instance, or makes one, for a call; the call ends with put or discard
// (or done, when get failed).
func (p *Plugin) get(ctx context.Context) (*instance, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	p.calls++
	if n := len(p.idle); n > 0 {
		inst := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.m.idleMemory.Add(-p.idleCost())
		p.mu.Unlock()
		return inst, nil
	}
	p.mu.Unlock()
	inst, err := p.newInstance(ctx)
	if err != nil {
		p.done(ctx)
	}
	return inst, err
}

// put ends a call: its instance goes back to the pool, or is closed when the pool is full
// or the plugin closed.
func (p *Plugin) put(ctx context.Context, inst *instance) {
	p.mu.Lock()
	if !p.closed && len(p.idle) < p.m.cfg.MaxIdle && p.m.reserve(p.idleCost()) {
		p.idle = append(p.idle, inst)
		p.mu.Unlock()
		p.done(ctx)
		return
	}
	p.mu.Unlock()
	p.discard(ctx, inst)
}

// discard ends a call whose instance cannot serve again: it is closed.
func (p *Plugin) discard(ctx context.Context, inst *instance) {
	inst.Close(context.WithoutCancel(ctx))
	p.done(ctx)
}

// done counts a call's end; the last call of a closed plugin releases its compilation.
func (p *Plugin) done(ctx context.Context) {
	p.mu.Lock()
	p.calls--
	last := p.closed && p.calls == 0
	p.mu.Unlock()
	if last {
		p.m.release(ctx, p.key, p.c)
	}
}

// idleCost is what an idle instance counts toward Config.IdleMemory: the most its memories
// (its own and the kernel's, each bounded by the memory limit) may hold.
func (p *Plugin) idleCost() int64 { return 2 * int64(p.s.MemoryPages) * 65536 }

// Idle returns how many instances wait in the pool.
func (p *Plugin) Idle() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// errNoSlot is wrapped by a load that gave up waiting for a compile slot.
var errNoSlot = errors.New("no compile slot")

// errTimedOut is the cause of a call's context when the plugin's timeout passed.
var errTimedOut = errors.New("plugin timeout")

// Call runs function fn of the plugin with input in an instance of its own and returns its
// output. A failure of the call is an *abi.Failure with one of the codes above; an error
// that is not one is ctx's (the activity was cancelled: nothing is recorded) or ErrClosed.
// An instance that trapped, timed out or was cancelled is closed; the others go back to the
// pool.
func (p *Plugin) Call(ctx context.Context, fn string, input []byte) ([]byte, error) {
	if !slices.Contains(p.info.Functions, fn) {
		return nil, p.failure(abi.FailureApplication, CodeNoFunction, "plugin %q has no function %q (it has %s)", p.name, fn, strings.Join(p.info.Functions, ", "))
	}
	inst, err := p.get(ctx)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.Is(err, ErrClosed):
		return nil, err
	case err != nil:
		return nil, p.failure(abi.FailureApplication, CodeInstantiate, "%v", err)
	}
	tctx, tcancel := context.WithTimeoutCause(ctx, p.s.Timeout, errTimedOut)
	defer tcancel()
	hc := &callState{p: p, policy: policyOf(ctx)}
	inst.running(tctx)
	rc, out, err := inst.CallWithContext(context.WithValue(tctx, callKey{}, hc), fn, input)
	inst.running(nil)
	cause := context.Cause(tctx)
	if err == nil && rc == 0 {
		if len(out) > p.s.MaxOutput {
			p.put(ctx, inst)
			return nil, p.failure(abi.FailureApplication, CodeOutputTooLarge, "plugin %q function %q returned %d bytes, more than its output limit of %d", p.name, fn, len(out), p.s.MaxOutput)
		}
		p.put(ctx, inst)
		return out, nil
	}
	if cause != nil {
		// The call was stopped (or ended as it was being stopped): the instance is, or is
		// about to be, closed with its context.
		p.discard(ctx, inst)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, p.failure(abi.FailureTimeout, CodeTimeout, "plugin %q function %q ran longer than its timeout of %s and was stopped", p.name, fn, p.s.Timeout)
	}
	if err != nil && hc.output > 0 {
		p.discard(ctx, inst)
		return nil, p.failure(abi.FailureApplication, CodeOutputTooLarge, "plugin %q function %q set an output of %d bytes, more than its output limit of %d", p.name, fn, hc.output, p.s.MaxOutput)
	}
	if err != nil && hc.refused != nil {
		p.discard(ctx, inst)
		return nil, p.failure(abi.FailureApplication, CodeHTTPForbidden, "plugin %q function %q: %v; its allowed hosts: %s", p.name, fn, hc.refused, hostList(p.s.AllowedHosts))
	}
	if err != nil {
		// Extism returns the error the plugin set as a plain error, and a trap as the
		// runtime's: the kernel still holds the former.
		msg := inst.GetErrorWithContext(context.WithoutCancel(ctx))
		if msg != "" && err.Error() == msg {
			p.put(ctx, inst)
			return nil, p.failure(abi.FailureApplication, CodeError, "%s", msg)
		}
		p.discard(ctx, inst)
		var exit *sys.ExitError
		text := firstLine(err)
		switch {
		case errors.As(err, &exit):
			return nil, p.failure(abi.FailureApplication, CodeError, "plugin %q function %q exited with code %d", p.name, fn, exit.ExitCode())
		case strings.Contains(err.Error(), "(recovered by wazero)"):
			return nil, p.failure(abi.FailureApplication, CodeHostCall, "plugin %q function %q: a host function failed: %s", p.name, fn, text)
		}
		detail := ""
		if msg != "" {
			detail = " after setting the error " + strconvQuote(msg)
		}
		return nil, p.failure(abi.FailureApplication, CodeTrap, "plugin %q function %q trapped: %s%s (its memory limit is %d pages of 64 KiB)", p.name, fn, text, detail, p.s.MemoryPages)
	}
	// A non-zero code without an error message.
	p.put(ctx, inst)
	return nil, p.failure(abi.FailureApplication, CodeError, "plugin %q function %q returned code %d", p.name, fn, rc)
}

// failure is a failure of a call. Its message, which holds what the plugin set or asked for
// (its error, a URL), is cut at maxErrorMessage.
func (p *Plugin) failure(kind abi.FailureKind, code, format string, args ...any) *abi.Failure {
	msg := fmt.Sprintf(format, args...)
	if len(msg) > maxErrorMessage {
		msg = strings.ToValidUTF8(msg[:maxErrorMessage], "") + "…"
	}
	return &abi.Failure{Kind: kind, Code: code, Message: msg}
}

func hostList(hosts []string) string {
	if len(hosts) == 0 {
		return "none"
	}
	return strings.Join(hosts, ", ")
}

// firstLine returns the first line of err's message without wazero's suffix for panics.
func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return strings.TrimSuffix(s, " (recovered by wazero)")
}

func strconvQuote(s string) string {
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return fmt.Sprintf("%q", s)
}
