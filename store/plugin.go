package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// PluginStore is the capability of a store to keep activity plugins (Extism modules that
// the host runs as activities, see host.PluginSpec) per namespace: their bytes, once per
// sha256 as the module registry keeps modules', and for each (namespace, name, version) a
// manifest, opaque data the host writes and reads (the store, which knows nothing of
// WebAssembly, never parses it). See RATIONALE.md, "Why are plugin activities Extism
// plugins?".
//
// With it, a host stores the plugins uploaded to it (host.PutPlugin: the server's uploads)
// and every host on the store resolves a namespace's plugin activities from it. Without it,
// plugins live only in the memory of the host that registers them (host.RegisterPlugin),
// and the server answers plugin uploads as not implemented. conformance.RunPluginStore
// checks an implementation.
type PluginStore interface {
	// PutPlugin stores a plugin's bytes (once, under their sha256) and its registration
	// (p.Namespace, p.Name, p.Version) with p.Manifest, in one transaction. A registration
	// that exists with the same bytes and manifest is left alone (the result's Created is
	// false); one that exists with other bytes or another manifest fails with ErrExists (a
	// version is immutable). With p.MaxNamespaceBytes positive, a put that would take the
	// namespace's plugin bytes (distinct hashes) past it fails with ErrQuota; a put that adds
	// no new bytes to the namespace is never refused. On any error nothing is written.
	// ErrInvalid for no bytes, an empty name or version, a namespace holding '/', or a
	// negative MaxNamespaceBytes.
	PutPlugin(ctx context.Context, p PluginPut) (*PluginPutResult, error)

	// ResolvePlugin returns the registration of name and version in namespace ns or, when
	// version is empty, the one of name put most recently. It looks in ns only: a name
	// another namespace registers is ErrNotFound. ErrInvalid for an empty name.
	ResolvePlugin(ctx context.Context, ns, name, version string) (*PluginInfo, error)

	// PluginBytes returns the bytes of the plugin with the given hex sha256. ErrNotFound
	// when no registration of any namespace refers to them.
	PluginBytes(ctx context.Context, hash string) ([]byte, error)

	// ListPlugins returns the registrations f selects, newest first (never nil).
	ListPlugins(ctx context.Context, f PluginFilter) ([]PluginInfo, error)

	// DeletePlugin removes the registration of name and version in namespace ns, or every
	// version of name when version is empty, in one transaction, and returns how many it
	// removed; bytes no registration refers to any more are deleted with them. ErrNotFound
	// when there is none; ErrInvalid for an empty name.
	DeletePlugin(ctx context.Context, ns, name, version string) (int, error)
}

// PluginPut is what PluginStore.PutPlugin stores.
type PluginPut struct {
	// Namespace, Name and Version name the registration ("" is the default namespace).
	Namespace, Name, Version string
	// Wasm is the plugin's bytes.
	Wasm []byte
	// Manifest is the host's description of the registration, stored as given.
	Manifest []byte
	// MaxNamespaceBytes, when positive, bounds the namespace's plugin bytes after the put.
	MaxNamespaceBytes int64
}

// PluginPutResult reports what PluginStore.PutPlugin did.
type PluginPutResult struct {
	// Plugin is the registration as stored (the existing one when Created is false).
	Plugin PluginInfo
	// Created is true when the put created the registration.
	Created bool
}

// PluginInfo is one registration of a plugin.
type PluginInfo struct {
	Namespace, Name, Version string
	// Hash is the hex sha256 of the bytes, Size their length.
	Hash string
	Size int64
	// Manifest is the host's description, as put.
	Manifest  []byte
	CreatedAt time.Time
}

// PluginFilter selects registrations in PluginStore.ListPlugins. Zero fields match all.
type PluginFilter struct {
	// Namespaces, when not empty, selects registrations of these namespaces only.
	Namespaces []string
	// Name selects one name ("": any).
	Name string
}

// CheckPluginPut checks the arguments of PluginStore.PutPlugin as every implementation must
// (an error wrapping ErrInvalid naming the problem): bytes, a name and a version, a
// non-negative namespace bound, and a namespace without '/'.
func CheckPluginPut(p PluginPut) error {
	switch {
	case len(p.Wasm) == 0:
		return fmt.Errorf("no bytes: %w", ErrInvalid)
	case p.Name == "" || p.Version == "":
		return fmt.Errorf("plugin %q@%q: empty name or version: %w", p.Name, p.Version, ErrInvalid)
	case p.MaxNamespaceBytes < 0:
		return fmt.Errorf("namespace bytes bound %d: %w", p.MaxNamespaceBytes, ErrInvalid)
	case strings.Contains(p.Namespace, "/"):
		return fmt.Errorf("namespace %q holds '/': %w", p.Namespace, ErrInvalid)
	}
	return nil
}
