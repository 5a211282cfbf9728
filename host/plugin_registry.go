package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/host/internal/plugins"
	"github.com/durohost/durohost/host/internal/runtime"
	"github.com/durohost/durohost/store"
)

// pluginHost is the plugin registry of one Host: the plugins registered in its memory, the
// plugins of the store it has loaded, and the activity names it registered with the runtime.
// It is made on first use (pluginsOf) and lives as long as its Host; it holds no reference
// to the Host, so that the Host's collection closes it.
type pluginHost struct {
	rt  *runtime.Runtime
	ps  store.PluginStore // nil when the store does not keep plugins
	log *slog.Logger
	mgr *plugins.Manager
	// maxPages is the host's Limits.MemoryPages, which bounds a stored plugin's memory too.
	maxPages uint32
	// instantiateTime is the host's Limits.InstantiateTime, which bounds the making of an
	// instance when the plugin's timeout is longer.
	instantiateTime time.Duration

	mu     sync.Mutex
	mem    map[nsName][]*loadedPlugin // RegisterPlugin's versions, oldest first
	names  map[string]bool            // activity names registered with the runtime
	stored map[string]*loadedPlugin   // store plugins loaded, by key
	cache  map[nsName]cachedPlugin    // what a namespace's name resolved to in the store
	closed bool
}

type nsName struct{ ns, name string }

// loadedPlugin is a compiled plugin with its registration.
type loadedPlugin struct {
	info PluginInfo
	p    *plugins.Plugin
	// key tells stored plugins apart: their hash and manifest (what they run and how).
	key string
}

func (l *loadedPlugin) release(ctx context.Context) { l.p.Close(ctx) }

type cachedPlugin struct {
	l  *loadedPlugin
	at time.Time
}

// hostPlugins maps each Host that used plugins to its registry, weakly: a Host that is
// collected has its registry closed (see pluginsOf).
var hostPlugins = struct {
	sync.Mutex
	m map[weak.Pointer[Host]]*pluginHost
}{m: map[weak.Pointer[Host]]*pluginHost{}}

// pluginsOf returns the plugin registry of h, making it on first use.
func pluginsOf(h *Host) *pluginHost {
	k := weak.Make(h)
	hostPlugins.Lock()
	defer hostPlugins.Unlock()
	if ph, ok := hostPlugins.m[k]; ok {
		return ph
	}
	ps, _ := h.st.(store.PluginStore)
	ph := &pluginHost{
		rt: h.rt, ps: ps, log: h.cfg.logger, maxPages: h.cfg.limits.MemoryPages,
		instantiateTime: h.cfg.limits.InstantiateTime,
		mgr: plugins.New(plugins.Config{MaxIdle: h.cfg.actWorkers, CompileConcurrency: h.cfg.limits.CompileConcurrency,
			IdleMemory: h.cfg.limits.GuestMemory / 4, Logger: h.cfg.logger}),
		mem:   map[nsName][]*loadedPlugin{},
		names: map[string]bool{}, stored: map[string]*loadedPlugin{}, cache: map[nsName]cachedPlugin{},
	}
	hostPlugins.m[k] = ph
	goruntime.AddCleanup(h, func(k weak.Pointer[Host]) {
		hostPlugins.Lock()
		ph := hostPlugins.m[k]
		delete(hostPlugins.m, k)
		hostPlugins.Unlock()
		if ph != nil {
			ph.close()
		}
	}, k)
	return ph
}

// close closes every plugin (once the calls running end).
func (ph *pluginHost) close() {
	ph.mu.Lock()
	ph.closed = true
	var all []*loadedPlugin
	for _, vs := range ph.mem {
		all = append(all, vs...)
	}
	for _, l := range ph.stored {
		all = append(all, l)
	}
	ph.mem, ph.stored, ph.cache = nil, nil, nil
	ph.mu.Unlock()
	for _, l := range all {
		l.release(context.Background())
	}
	ph.mgr.Close()
}

// load checks and compiles a plugin with a normalised spec and describes it (its version is
// the content version when spec has none).
func (ph *pluginHost) load(ctx context.Context, spec PluginSpec, wasm []byte) (*loadedPlugin, error) {
	if spec.MemoryPages > ph.maxPages {
		return nil, fmt.Errorf("%w: memory of %d pages is more than the host's limit of %d pages of 64 KiB (Limits.MemoryPages)", ErrInvalidPlugin, spec.MemoryPages, ph.maxPages)
	}
	s := spec.settings()
	s.InstantiateTimeout = ph.instantiateTime
	p, err := ph.mgr.Load(ctx, spec.Name, wasm, s)
	if err != nil {
		return nil, err
	}
	info := p.Info()
	if clash := ph.nativeClash(spec.Name, info.Functions); clash != "" {
		p.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("%w: activity %q is an activity of the host, which a plugin cannot replace: rename the plugin or its function", ErrInvalidPlugin, clash)
	}
	m := manifestOf(spec, info.Functions).encode()
	if spec.Version == "" {
		spec.Version = contentVersion(info.Hash, m)
	}
	return &loadedPlugin{
		info: PluginInfo{PluginSpec: spec, Hash: info.Hash, Size: int64(info.Size), Functions: info.Functions, CreatedAt: time.Now()},
		p:    p, key: info.Hash + "\n" + string(m),
	}, nil
}

// addMemory registers a plugin in memory (RegisterPlugin).
func (ph *pluginHost) addMemory(ctx context.Context, l *loadedPlugin) error {
	k := nsName{l.info.Namespace, l.info.Name}
	ph.mu.Lock()
	if ph.closed {
		ph.mu.Unlock()
		l.release(ctx)
		return plugins.ErrClosed
	}
	for _, old := range ph.mem[k] {
		if old.info.Version != l.info.Version {
			continue
		}
		ph.mu.Unlock()
		l.release(ctx)
		if old.key != l.key {
			return fmt.Errorf("%w: version %q is registered with other bytes or settings (sha256 %s)", ErrPluginExists, old.info.Version, old.info.Hash)
		}
		return nil
	}
	ph.mem[k] = append(ph.mem[k], l)
	ph.registerNames(l.info.Name, l.info.Functions)
	ph.mu.Unlock()
	return nil
}

// addStored records a plugin that PutPlugin stored, and resolves its namespace's name to it.
func (ph *pluginHost) addStored(ctx context.Context, l *loadedPlugin, info *PluginInfo) {
	l.info = *info
	ph.mu.Lock()
	if ph.closed {
		ph.mu.Unlock()
		l.release(ctx)
		return
	}
	var drop *loadedPlugin
	if old, ok := ph.stored[l.key]; ok {
		drop, l = l, old
	} else {
		ph.stored[l.key] = l
	}
	ph.cache[nsName{info.Namespace, info.Name}] = cachedPlugin{l: l, at: time.Now()}
	ph.registerNames(info.Name, info.Functions)
	ph.mu.Unlock()
	if drop != nil {
		drop.release(ctx)
	}
}

// nativeClash returns the first activity NAME.FUNCTION of a plugin's functions that the host
// already has as an activity of its own (native or built-in), "" when none: a plugin must not
// take over, for every namespace, an activity the host registered.
func (ph *pluginHost) nativeClash(name string, functions []string) string {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	for _, fn := range functions {
		if act := name + "." + fn; !ph.names[act] && ph.rt.HasActivity(act) {
			return act
		}
	}
	return ""
}

// registerNames registers the activities of a plugin's functions with the runtime, once
// each, leaving alone a name the host has as an activity of its own (a plugin stored by
// another host whose names clash with this host's activities: those calls run the host's
// activity). ph.mu is held.
func (ph *pluginHost) registerNames(name string, functions []string) {
	for _, fn := range functions {
		act := name + "." + fn
		if ph.names[act] {
			continue
		}
		if ph.rt.HasActivity(act) {
			ph.log.Warn("plugin function not registered: the host has an activity of that name", "activity", act)
			continue
		}
		ph.names[act] = true
		ph.rt.RegisterActivity(act, ph.activity(name, fn))
	}
}

// activity is the activity of function fn of the plugins named name: it calls the plugin of
// that name of the namespace that scheduled it.
func (ph *pluginHost) activity(name, fn string) runtime.ActivityFunc {
	return func(ctx context.Context, input []byte) ([]byte, error) {
		ns := ""
		if info, ok := runtime.ActivityInfoFrom(ctx); ok {
			ns = info.Namespace
			// The operator's HTTP hosts of the namespace bound its plugins as they bound the
			// built-in http activity.
			ctx = plugins.WithHTTPPolicy(ctx, info.HTTPHosts)
		}
		for attempt := 0; ; attempt++ {
			l, err := ph.resolve(ctx, ns, name)
			if err != nil {
				return nil, err
			}
			if l == nil {
				return nil, &abi.Failure{Kind: abi.FailureInfrastructure, Code: abi.CodeUnregistered,
					Message: fmt.Sprintf("activity %q: no plugin %q%s", name+"."+fn, name, inNamespace(ns))}
			}
			out, err := l.p.Call(ctx, fn, input)
			if errors.Is(err, plugins.ErrClosed) && attempt == 0 {
				continue // replaced or deleted meanwhile: resolve again
			}
			return out, err
		}
	}
}

// resolve returns the plugin that name resolves to in namespace ns: the newest version in
// memory, else the store's newest (looked up again after PluginRefresh); nil when there is
// none.
func (ph *pluginHost) resolve(ctx context.Context, ns, name string) (*loadedPlugin, error) {
	k := nsName{ns, name}
	ph.mu.Lock()
	if ph.closed {
		ph.mu.Unlock()
		return nil, plugins.ErrClosed
	}
	if vs := ph.mem[k]; len(vs) > 0 {
		l := vs[len(vs)-1]
		ph.mu.Unlock()
		return l, nil
	}
	c, ok := ph.cache[k]
	ph.mu.Unlock()
	if ph.ps == nil {
		return nil, nil
	}
	if ok && time.Since(c.at) < PluginRefresh {
		return c.l, nil
	}
	sp, err := ph.ps.ResolvePlugin(ctx, ns, name, "")
	if errors.Is(err, store.ErrNotFound) {
		ph.forget(ctx, ns, name)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("resolve plugin %q%s: %w", name, inNamespace(ns), err)
	}
	key := sp.Hash + "\n" + string(sp.Manifest)
	ph.mu.Lock()
	if ph.closed {
		ph.mu.Unlock()
		return nil, plugins.ErrClosed
	}
	l, ok := ph.stored[key]
	if ok {
		ph.cache[k] = cachedPlugin{l: l, at: time.Now()}
	}
	ph.mu.Unlock()
	if ok {
		return l, nil
	}
	info, err := infoOf(sp)
	if err != nil {
		return nil, err
	}
	wasm, err := ph.ps.PluginBytes(ctx, sp.Hash)
	if err != nil {
		return nil, fmt.Errorf("plugin %q%s: its bytes: %w", name, inNamespace(ns), err)
	}
	l, err = ph.load(ctx, info.PluginSpec, wasm)
	if err != nil {
		return nil, fmt.Errorf("plugin %q%s: %w", name, inNamespace(ns), err)
	}
	l.key = key // as stored (the manifest of an older build may differ)
	ph.addStored(ctx, l, info)
	ph.mu.Lock()
	defer ph.mu.Unlock()
	if ph.closed {
		return nil, plugins.ErrClosed
	}
	return ph.cache[k].l, nil
}

// forget drops what namespace ns resolved name to in the store.
func (ph *pluginHost) forget(ctx context.Context, ns, name string) {
	ph.mu.Lock()
	if !ph.closed {
		delete(ph.cache, nsName{ns, name})
	}
	ph.mu.Unlock()
}

// sync registers the activities of every stored plugin and closes the loaded plugins the
// store no longer has.
func (ph *pluginHost) sync(ctx context.Context) error {
	if ph.ps == nil {
		return nil
	}
	all, err := ph.ps.ListPlugins(ctx, store.PluginFilter{})
	if err != nil {
		return fmt.Errorf("sync plugins: %w", err)
	}
	live := map[string]bool{}
	ph.mu.Lock()
	defer ph.mu.Unlock()
	if ph.closed {
		return plugins.ErrClosed
	}
	var problems []error
	for i := range all {
		info, err := infoOf(&all[i])
		if err != nil {
			problems = append(problems, err)
			continue
		}
		live[all[i].Hash+"\n"+string(all[i].Manifest)] = true
		ph.registerNames(info.Name, info.Functions)
	}
	for key, l := range ph.stored {
		if live[key] {
			continue
		}
		delete(ph.stored, key)
		for k, c := range ph.cache {
			if c.l == l {
				delete(ph.cache, k)
			}
		}
		go l.release(context.WithoutCancel(ctx)) // calls running finish first
	}
	return errors.Join(problems...)
}

// memory returns the version (empty: the newest) of name in ns registered in memory.
func (ph *pluginHost) memory(ns, name, version string) *loadedPlugin {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	vs := ph.mem[nsName{ns, name}]
	for i := len(vs) - 1; i >= 0; i-- {
		if version == "" || vs[i].info.Version == version {
			return vs[i]
		}
	}
	return nil
}

// memoryInfos returns the plugins of ns registered in memory, newest first.
func (ph *pluginHost) memoryInfos(ns string) []PluginInfo {
	ph.mu.Lock()
	var out []PluginInfo
	for k, vs := range ph.mem {
		if k.ns != ns {
			continue
		}
		for _, l := range vs {
			out = append(out, l.info)
		}
	}
	ph.mu.Unlock()
	slices.SortStableFunc(out, func(a, b PluginInfo) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// removeMemory removes the version (empty: every version) of name in ns from memory and
// returns how many it removed.
func (ph *pluginHost) removeMemory(ctx context.Context, ns, name, version string) int {
	k := nsName{ns, name}
	ph.mu.Lock()
	if ph.closed {
		ph.mu.Unlock()
		return 0
	}
	var gone []*loadedPlugin
	ph.mem[k] = slices.DeleteFunc(ph.mem[k], func(l *loadedPlugin) bool {
		if version == "" || l.info.Version == version {
			gone = append(gone, l)
			return true
		}
		return false
	})
	if len(ph.mem[k]) == 0 {
		delete(ph.mem, k)
	}
	ph.mu.Unlock()
	for _, l := range gone {
		l.release(ctx)
	}
	return len(gone)
}
