package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/durohost/durohost/host/internal/plugins"
	"github.com/durohost/durohost/store"
)

// Plugin activities: an Extism plugin (a WebAssembly module written with an Extism PDK, or
// against Extism's kernel ABI) registered under a name in a namespace makes each function it
// exports an activity named "NAME.FUNCTION", which that namespace's orchestrations call like
// any other activity. See RATIONALE.md, "Why are plugin activities Extism plugins?".

// Failure codes of plugin activities (abi.Failure.Code of an activity's failure). Each is of
// kind application, which the orchestration receives and its retry policy may retry, except
// CodePluginTimeout, of kind timeout (retried by retry policies as well).
const (
	// CodePluginError: the function returned a non-zero code; the message is the error the
	// plugin set.
	CodePluginError = plugins.CodeError
	// CodePluginTrap: the plugin trapped (an unreachable, an out-of-bounds access, memory it
	// could not grow within its limit, an abort of its language's runtime).
	CodePluginTrap = plugins.CodeTrap
	// CodePluginTimeout: the call ran longer than the plugin's timeout and was stopped.
	CodePluginTimeout = plugins.CodeTimeout
	// CodePluginHTTPForbidden: the plugin asked for a URL (or was redirected to one) whose
	// host is not among its allowed hosts.
	CodePluginHTTPForbidden = plugins.CodeHTTPForbidden
	// CodePluginOutputTooLarge: the function's output is larger than the plugin's MaxOutput.
	CodePluginOutputTooLarge = plugins.CodeOutputTooLarge
	// CodePluginInstantiate: no instance of the plugin could be made.
	CodePluginInstantiate = plugins.CodeInstantiate
	// CodePluginNoFunction: the plugin does not export the function the activity names.
	CodePluginNoFunction = plugins.CodeNoFunction
	// CodePluginHostCall: a host function the plugin called failed (an HTTP request that
	// could not be sent, a variable store that is full).
	CodePluginHostCall = plugins.CodeHostCall
)

// Sentinel errors of plugins.
var (
	// ErrInvalidPlugin is wrapped by RegisterPlugin and PutPlugin for bytes or a spec that
	// cannot make a plugin; the message names every problem.
	ErrInvalidPlugin = plugins.ErrInvalid
	// ErrUnknownPlugin is returned by Plugin and DeletePlugin for a plugin the namespace
	// does not register.
	ErrUnknownPlugin = errors.New("unknown plugin")
	// ErrPluginExists is wrapped by PutPlugin and RegisterPlugin when the name and version
	// are registered with other bytes or settings (a version is immutable).
	ErrPluginExists = errors.New("plugin version already registered")
	// ErrNoPluginStore is returned by PutPlugin when the host's store does not keep plugins
	// (it does not implement store.PluginStore).
	ErrNoPluginStore = errors.New("the store does not keep plugins")
)

// Defaults of a PluginSpec's limits.
const (
	// DefaultPluginMemoryPages bounds each of a plugin's memories: 256 pages of 64 KiB, 16 MiB.
	DefaultPluginMemoryPages = 256
	// DefaultPluginTimeout bounds one call of a plugin function.
	DefaultPluginTimeout = 30 * time.Second
	// DefaultPluginHTTPResponse bounds the body of one HTTP response a plugin reads.
	DefaultPluginHTTPResponse = 4 << 20
	// DefaultPluginVarBytes bounds a plugin instance's variables (Extism's var_set).
	DefaultPluginVarBytes = 1 << 20
)

// PluginSpec names a plugin and says what the host lets it do. Zero fields take their
// defaults (see Host.RegisterPlugin).
type PluginSpec struct {
	// Name names the plugin: its functions are the activities "Name.FUNCTION". 1 to 64
	// letters, digits, '_' and '-', starting with a letter.
	Name string `json:"name"`
	// Version names this build of it; empty: "sha256:" and 16 hex digits of a digest of the
	// bytes and the settings. A version is immutable.
	Version string `json:"version"`
	// Namespace is the namespace whose orchestrations may call it ("": the default one).
	Namespace string `json:"namespace"`
	// AllowedHosts are the hosts its HTTP requests may reach, each a host name or a glob
	// pattern ("*.example.org"); a redirect elsewhere ends the call. None: no HTTP.
	AllowedHosts []string `json:"allowed_hosts,omitempty"`
	// Config is what the plugin reads with Extism's config_get.
	Config map[string]string `json:"config,omitempty"`
	// MemoryPages bounds each of its memories, in 64 KiB pages (0: DefaultPluginMemoryPages);
	// at most the host's Limits.MemoryPages.
	MemoryPages uint32 `json:"memory_pages"`
	// Timeout bounds one call, in wall time (0: DefaultPluginTimeout). A call that outlasts
	// it is stopped and fails with CodePluginTimeout, a failure of kind timeout.
	Timeout time.Duration `json:"timeout"`
	// MaxOutput bounds one call's output, in bytes (0: the host's Limits.MaxPayload, which
	// bounds every activity result anyway).
	MaxOutput int `json:"max_output"`
	// MaxHTTPResponse bounds the body of one HTTP response (0: DefaultPluginHTTPResponse).
	MaxHTTPResponse int64 `json:"max_http_response"`
	// WASI gives the plugin WASI preview 1: clocks, randomness, sleep; no files, environment
	// or arguments. Without it a plugin that imports WASI is refused.
	WASI bool `json:"wasi,omitempty"`
	// PrivateNetwork lets its HTTP requests connect to addresses that are not public
	// (loopback, private, link-local, ...); without it such an address is refused, whatever
	// allowed host name resolves to it. It is for plugins the embedder trusts with its own
	// network (RegisterPlugin, the CLI's run --plugin): PutPlugin, which stores the plugins
	// a namespace uploads, refuses it.
	PrivateNetwork bool `json:"private_network,omitempty"`
}

// PluginInfo describes a registered plugin.
type PluginInfo struct {
	// PluginSpec is the plugin's spec, with its defaults filled in.
	PluginSpec
	// Hash is the hex sha256 of its bytes, Size their length.
	Hash string `json:"sha256"`
	Size int64  `json:"size"`
	// Functions are the functions activities may call, sorted.
	Functions []string `json:"functions"`
	// Stored is true for a plugin kept in the store (PutPlugin), false for one kept in this
	// host's memory (RegisterPlugin).
	Stored    bool      `json:"stored"`
	CreatedAt time.Time `json:"created_at"`
}

// Activities returns the names of the plugin's activities, "NAME.FUNCTION".
func (p *PluginInfo) Activities() []string {
	out := make([]string, len(p.Functions))
	for i, fn := range p.Functions {
		out[i] = p.Name + "." + fn
	}
	return out
}

// CheckPluginName validates a plugin name: 1 to 64 letters, digits, '_' and '-', starting
// with a letter. Errors wrap ErrInvalidPlugin.
func CheckPluginName(name string) error {
	ok := name != "" && len(name) <= 64
	for i, c := range name {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '_' || c == '-')) {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("%w: plugin name %q: use 1 to 64 letters, digits, '_' and '-', starting with a letter", ErrInvalidPlugin, truncate(name, 64))
	}
	return nil
}

// normalized checks spec against the host's limits and fills its defaults in.
func (spec PluginSpec) normalized(limits Limits) (PluginSpec, error) {
	maxPayload := limits.MaxPayload
	if err := CheckPluginName(spec.Name); err != nil {
		return spec, err
	}
	if spec.Version != "" {
		if err := checkName("plugin version", spec.Version); err != nil {
			return spec, fmt.Errorf("%w: %v", ErrInvalidPlugin, err)
		}
	}
	if strings.Contains(spec.Namespace, "/") {
		return spec, fmt.Errorf("%w: namespace %q holds '/'", ErrInvalidPlugin, spec.Namespace)
	}
	if err := plugins.CheckHosts(spec.AllowedHosts); err != nil {
		return spec, fmt.Errorf("%w: %v", ErrInvalidPlugin, err)
	}
	for k := range spec.Config {
		if k == "" {
			return spec, fmt.Errorf("%w: a config key is empty", ErrInvalidPlugin)
		}
	}
	switch {
	case spec.MemoryPages > limits.MemoryPages:
		return spec, fmt.Errorf("%w: memory of %d pages is more than the host's limit of %d pages of 64 KiB (Limits.MemoryPages)", ErrInvalidPlugin, spec.MemoryPages, limits.MemoryPages)
	case spec.Timeout < 0, spec.MaxOutput < 0, spec.MaxHTTPResponse < 0:
		return spec, fmt.Errorf("%w: a negative timeout or size", ErrInvalidPlugin)
	case spec.MaxOutput > maxPayload:
		return spec, fmt.Errorf("%w: output limit %d is more than the host's payload limit %d", ErrInvalidPlugin, spec.MaxOutput, maxPayload)
	}
	if spec.MemoryPages == 0 {
		spec.MemoryPages = min(DefaultPluginMemoryPages, limits.MemoryPages)
	}
	if spec.Timeout == 0 {
		spec.Timeout = DefaultPluginTimeout
	}
	if spec.MaxOutput == 0 {
		spec.MaxOutput = maxPayload
	}
	if spec.MaxHTTPResponse == 0 {
		spec.MaxHTTPResponse = DefaultPluginHTTPResponse
	}
	spec.AllowedHosts = slices.Clone(spec.AllowedHosts)
	spec.Config = maps.Clone(spec.Config)
	return spec, nil
}

// settings are the sandbox settings of a normalised spec.
func (spec PluginSpec) settings() plugins.Settings {
	return plugins.Settings{AllowedHosts: spec.AllowedHosts, Config: spec.Config, MemoryPages: spec.MemoryPages,
		Timeout: spec.Timeout, MaxOutput: spec.MaxOutput, MaxHTTPResponse: spec.MaxHTTPResponse,
		MaxVarBytes: DefaultPluginVarBytes, WASI: spec.WASI, PrivateNetwork: spec.PrivateNetwork}
}

// manifest is what the store keeps of a plugin beside its bytes (store.PluginInfo.Manifest):
// the spec's settings and the functions, so that a host learns the activities of a plugin
// without compiling it.
type manifest struct {
	AllowedHosts    []string          `json:"allowed_hosts,omitempty"`
	Config          map[string]string `json:"config,omitempty"`
	MemoryPages     uint32            `json:"memory_pages"`
	TimeoutMS       int64             `json:"timeout_ms"`
	MaxOutput       int               `json:"max_output"`
	MaxHTTPResponse int64             `json:"max_http_response"`
	WASI            bool              `json:"wasi,omitempty"`
	PrivateNetwork  bool              `json:"private_network,omitempty"`
	Functions       []string          `json:"functions"`
}

func manifestOf(spec PluginSpec, functions []string) manifest {
	return manifest{AllowedHosts: spec.AllowedHosts, Config: spec.Config, MemoryPages: spec.MemoryPages,
		TimeoutMS: spec.Timeout.Milliseconds(), MaxOutput: spec.MaxOutput, MaxHTTPResponse: spec.MaxHTTPResponse,
		WASI: spec.WASI, PrivateNetwork: spec.PrivateNetwork, Functions: functions}
}

// encode is the manifest's stored form (encoding/json sorts the config's keys).
func (m manifest) encode() []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // strings, numbers and a map of strings always encode
	}
	return b
}

// infoOf rebuilds a PluginInfo from a stored registration.
func infoOf(p *store.PluginInfo) (*PluginInfo, error) {
	var m manifest
	if err := json.Unmarshal(p.Manifest, &m); err != nil {
		return nil, fmt.Errorf("plugin %s@%s of namespace %q: %w: its manifest: %v", p.Name, p.Version, p.Namespace, store.ErrCorrupt, err)
	}
	return &PluginInfo{
		PluginSpec: PluginSpec{Name: p.Name, Version: p.Version, Namespace: p.Namespace, AllowedHosts: m.AllowedHosts,
			Config: m.Config, MemoryPages: m.MemoryPages, Timeout: time.Duration(m.TimeoutMS) * time.Millisecond,
			MaxOutput: m.MaxOutput, MaxHTTPResponse: m.MaxHTTPResponse, WASI: m.WASI, PrivateNetwork: m.PrivateNetwork},
		Hash: p.Hash, Size: p.Size, Functions: m.Functions, Stored: true, CreatedAt: p.CreatedAt,
	}, nil
}

// contentVersion is the default version of a plugin: a digest of its bytes' hash and its
// manifest, so that the same bytes with other settings are another version.
func contentVersion(hash string, m []byte) string {
	sum := sha256.Sum256(append([]byte(hash+"\n"), m...))
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// RegisterPlugin registers an Extism plugin in this host's memory, for the namespace
// spec.Namespace: each function it exports becomes the activity "NAME.FUNCTION" of that
// namespace (its other namespaces do not see it). It checks and compiles the plugin and
// makes an instance of it first: bytes that are not a plugin the host can run (imports it
// does not provide, WASI without spec.WASI, a memory larger than spec.MemoryPages, no
// function) wrap ErrInvalidPlugin. Registering a name again adds a version, which new calls
// use; registering the same name, version, bytes and settings again does nothing. Plugins
// registered this way live as long as the host; PutPlugin keeps them in the store.
func (h *Host) RegisterPlugin(ctx context.Context, wasm []byte, spec PluginSpec) (*PluginInfo, error) {
	spec, err := spec.normalized(h.cfg.limits)
	if err != nil {
		return nil, fmt.Errorf("register plugin: %w", err)
	}
	if err := h.checkPluginSize(wasm); err != nil {
		return nil, fmt.Errorf("register plugin %q: %w", spec.Name, err)
	}
	ph := pluginsOf(h)
	p, err := ph.load(ctx, spec, wasm)
	if err != nil {
		return nil, fmt.Errorf("register plugin %q: %w", spec.Name, err)
	}
	info := p.info
	if err := ph.addMemory(ctx, p); err != nil {
		return nil, fmt.Errorf("register plugin %q: %w", spec.Name, err)
	}
	return &info, nil
}

// RegisterPluginActivity registers activity as one more name of the function fn of the
// plugins named plugin: a call of it runs that function of the plugin of that name of the
// namespace that scheduled it, as a call of "plugin.fn" does (a namespace without such a
// plugin gets the unregistered failure). It moves a native activity to a plugin without
// changing the orchestrations that call it (their code is pinned, and an activity's name is
// part of it); like RegisterActivity, it replaces any activity registered under that name.
func (h *Host) RegisterPluginActivity(activity, plugin, fn string) error {
	if err := checkName("activity name", activity); err != nil {
		return err
	}
	if err := CheckPluginName(plugin); err != nil {
		return err
	}
	if fn == "" {
		return fmt.Errorf("%w: register activity %q: no plugin function", ErrInvalidPlugin, activity)
	}
	ph := pluginsOf(h)
	h.rt.RegisterActivity(activity, ph.activity(plugin, fn))
	return nil
}

// checkPluginSize refuses a plugin larger than the host's Limits.MaxModuleSize.
func (h *Host) checkPluginSize(wasm []byte) error {
	if len(wasm) > h.cfg.limits.MaxModuleSize {
		return fmt.Errorf("%w: %d bytes, more than the host's module size limit of %d", ErrInvalidPlugin, len(wasm), h.cfg.limits.MaxModuleSize)
	}
	return nil
}

// RegisterPluginFile is RegisterPlugin on the bytes of a file.
func (h *Host) RegisterPluginFile(ctx context.Context, path string, spec PluginSpec) (*PluginInfo, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("register plugin: %w", err)
	}
	if spec.Name == "" {
		spec.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	return h.RegisterPlugin(ctx, b, spec)
}

// PutPlugin checks and compiles a plugin as RegisterPlugin does and keeps it in the store
// (store.PluginStore), for spec.Namespace: every host on the store then resolves its
// activities (see SyncPlugins). maxNamespaceBytes, when positive, bounds the namespace's
// plugin bytes (ErrQuota beyond it). created is false when the same name, version, bytes and
// settings were already stored. A spec with PrivateNetwork wraps ErrInvalidPlugin. ErrNoPluginStore when the store does not keep plugins;
// ErrPluginExists when the version is stored with other bytes or settings.
func (h *Host) PutPlugin(ctx context.Context, wasm []byte, spec PluginSpec, maxNamespaceBytes int64) (info *PluginInfo, created bool, err error) {
	ph := pluginsOf(h)
	if ph.ps == nil {
		return nil, false, ErrNoPluginStore
	}
	spec, err = spec.normalized(h.cfg.limits)
	if err != nil {
		return nil, false, fmt.Errorf("put plugin: %w", err)
	}
	if spec.PrivateNetwork {
		return nil, false, fmt.Errorf("put plugin %q: %w: a stored plugin cannot have PrivateNetwork (register it with RegisterPlugin)", spec.Name, ErrInvalidPlugin)
	}
	if err := h.checkPluginSize(wasm); err != nil {
		return nil, false, fmt.Errorf("put plugin %q: %w", spec.Name, err)
	}
	p, err := ph.load(ctx, spec, wasm)
	if err != nil {
		return nil, false, fmt.Errorf("put plugin %q: %w", spec.Name, err)
	}
	m := manifestOf(p.info.PluginSpec, p.info.Functions).encode()
	res, err := ph.ps.PutPlugin(ctx, store.PluginPut{Namespace: spec.Namespace, Name: spec.Name,
		Version: p.info.Version, Wasm: wasm, Manifest: m, MaxNamespaceBytes: maxNamespaceBytes})
	switch {
	case errors.Is(err, store.ErrExists):
		p.release(ctx)
		return nil, false, fmt.Errorf("put plugin %q: %w: %v", spec.Name, ErrPluginExists, err)
	case errors.Is(err, store.ErrQuota):
		p.release(ctx)
		return nil, false, fmt.Errorf("put plugin %q: %w: %v", spec.Name, ErrQuota, err)
	case err != nil:
		p.release(ctx)
		return nil, false, fmt.Errorf("put plugin %q: %w", spec.Name, err)
	}
	stored, err := infoOf(&res.Plugin)
	if err != nil {
		p.release(ctx)
		return nil, false, err
	}
	ph.addStored(ctx, p, stored)
	return stored, res.Created, nil
}

// Plugins returns the plugins of namespace ns, newest first: those of this host's memory,
// then those of the store (when it keeps plugins).
func (h *Host) Plugins(ctx context.Context, ns string) ([]PluginInfo, error) {
	ph := pluginsOf(h)
	out := ph.memoryInfos(ns)
	if ph.ps != nil {
		ps, err := ph.ps.ListPlugins(ctx, store.PluginFilter{Namespaces: []string{ns}})
		if err != nil {
			return nil, fmt.Errorf("list plugins: %w", err)
		}
		for i := range ps {
			info, err := infoOf(&ps[i])
			if err != nil {
				return nil, err
			}
			out = append(out, *info)
		}
	}
	return out, nil
}

// Plugin returns the plugin name of namespace ns at version (empty: the one its activities
// call, registered most recently), from this host's memory first, then from the store.
// ErrUnknownPlugin when the namespace has none.
func (h *Host) Plugin(ctx context.Context, ns, name, version string) (*PluginInfo, error) {
	ph := pluginsOf(h)
	if p := ph.memory(ns, name, version); p != nil {
		info := p.info
		return &info, nil
	}
	if ph.ps != nil {
		sp, err := ph.ps.ResolvePlugin(ctx, ns, name, version)
		switch {
		case err == nil:
			return infoOf(sp)
		case !errors.Is(err, store.ErrNotFound):
			return nil, fmt.Errorf("plugin %q: %w", name, err)
		}
	}
	return nil, fmt.Errorf("plugin %q%s%s: %w", name, atVersion(version), inNamespace(ns), ErrUnknownPlugin)
}

// DeletePlugin removes the plugin name of namespace ns at version (empty: every version),
// from this host's memory and from the store; calls running finish. It returns how many
// versions it removed; ErrUnknownPlugin when there was none. Other hosts on the store stop
// calling it within PluginRefresh.
func (h *Host) DeletePlugin(ctx context.Context, ns, name, version string) (int, error) {
	ph := pluginsOf(h)
	n := ph.removeMemory(ctx, ns, name, version)
	if ph.ps != nil {
		m, err := ph.ps.DeletePlugin(ctx, ns, name, version)
		switch {
		case err == nil:
			n += m
		case !errors.Is(err, store.ErrNotFound):
			return n, fmt.Errorf("delete plugin %q: %w", name, err)
		}
		ph.forget(ctx, ns, name)
	}
	if n == 0 {
		return 0, fmt.Errorf("plugin %q%s%s: %w", name, atVersion(version), inNamespace(ns), ErrUnknownPlugin)
	}
	return n, nil
}

// SyncPlugins registers with the host the activities of every plugin the store keeps, of
// every namespace, so that it runs those that other hosts uploaded. A host learns of the
// plugins PutPlugin stores through it at once; the CLI's serve and worker call SyncPlugins at
// start and every PluginRefresh (WatchPlugins).
func (h *Host) SyncPlugins(ctx context.Context) error {
	return pluginsOf(h).sync(ctx)
}

// PluginRefresh is how often WatchPlugins syncs, and how long a host may call a plugin
// version of the store after another host replaced or deleted it.
const PluginRefresh = 2 * time.Second

// WatchPlugins calls SyncPlugins now and every PluginRefresh until ctx ends; problems are
// logged. Run it in a goroutine of its own.
func (h *Host) WatchPlugins(ctx context.Context) {
	t := time.NewTicker(PluginRefresh)
	defer t.Stop()
	for {
		if err := h.SyncPlugins(ctx); err != nil && ctx.Err() == nil {
			h.cfg.logger.Warn("sync plugins", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func atVersion(v string) string {
	if v == "" {
		return ""
	}
	return "@" + v
}

// inNamespace names a namespace in a message (nothing for the default one).
func inNamespace(ns string) string {
	if ns == "" {
		return ""
	}
	return fmt.Sprintf(" in namespace %q", ns)
}
