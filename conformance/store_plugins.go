package conformance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/durohost/durohost/store"
)

// RunPluginStore checks a store's plugin registry (store.PluginStore) against its contract:
// puts (idempotent, immutable versions, quotas), resolution of the newest version within one
// namespace, listing, deletion with the bytes no registration refers to, and bad arguments.
// open must return an empty store that implements store.PluginStore, as for RunStore.
func RunPluginStore(t *testing.T, open func(t *testing.T) store.Store) {
	for _, c := range pluginCases() {
		t.Run(c.name, func(t *testing.T) {
			s := open(t)
			ps, ok := s.(store.PluginStore)
			if !ok {
				t.Fatalf("%T does not implement store.PluginStore", s)
			}
			c.run(t, ps)
		})
	}
}

type pluginCase struct {
	name string
	run  func(t *testing.T, s store.PluginStore)
}

func pluginHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func mustPutPlugin(t *testing.T, s store.PluginStore, p store.PluginPut) *store.PluginPutResult {
	t.Helper()
	res, err := s.PutPlugin(context.Background(), p)
	if err != nil {
		t.Fatalf("PutPlugin %s/%s@%s: %v", p.Namespace, p.Name, p.Version, err)
	}
	return res
}

func pluginCases() []pluginCase {
	ctx := context.Background()
	wasmA, wasmB := []byte("\x00asm plugin a"), []byte("\x00asm plugin b, longer")
	manifest := []byte(`{"functions":["f"]}`)
	return []pluginCase{
		{"PutResolveBytes", func(t *testing.T, s store.PluginStore) {
			res := mustPutPlugin(t, s, store.PluginPut{Namespace: "t", Name: "tools", Version: "1", Wasm: wasmA, Manifest: manifest})
			p := res.Plugin
			if !res.Created || p.Namespace != "t" || p.Name != "tools" || p.Version != "1" || p.Hash != pluginHash(wasmA) ||
				p.Size != int64(len(wasmA)) || !bytes.Equal(p.Manifest, manifest) || p.CreatedAt.IsZero() {
				t.Fatalf("put result %+v", res)
			}
			got, err := s.ResolvePlugin(ctx, "t", "tools", "1")
			if err != nil || got.Hash != p.Hash || !bytes.Equal(got.Manifest, manifest) || got.Size != p.Size {
				t.Fatalf("ResolvePlugin: %+v, %v", got, err)
			}
			b, err := s.PluginBytes(ctx, p.Hash)
			if err != nil || !bytes.Equal(b, wasmA) {
				t.Fatalf("PluginBytes: %q, %v", b, err)
			}
			if _, err := s.PluginBytes(ctx, pluginHash([]byte("other"))); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("PluginBytes of unknown bytes: %v, want ErrNotFound", err)
			}
		}},
		{"LatestVersion", func(t *testing.T, s store.PluginStore) {
			mustPutPlugin(t, s, store.PluginPut{Name: "tools", Version: "2", Wasm: wasmB, Manifest: manifest})
			mustPutPlugin(t, s, store.PluginPut{Name: "tools", Version: "1", Wasm: wasmA, Manifest: manifest})
			got, err := s.ResolvePlugin(ctx, "", "tools", "")
			if err != nil || got.Version != "1" {
				t.Fatalf("newest put: %+v, %v; want version 1 (put last)", got, err)
			}
			got, err = s.ResolvePlugin(ctx, "", "tools", "2")
			if err != nil || got.Hash != pluginHash(wasmB) {
				t.Fatalf("version 2: %+v, %v", got, err)
			}
		}},
		{"Immutable", func(t *testing.T, s store.PluginStore) {
			mustPutPlugin(t, s, store.PluginPut{Name: "tools", Version: "1", Wasm: wasmA, Manifest: manifest})
			again := mustPutPlugin(t, s, store.PluginPut{Name: "tools", Version: "1", Wasm: wasmA, Manifest: manifest})
			if again.Created || again.Plugin.Hash != pluginHash(wasmA) {
				t.Fatalf("the same put again: %+v, want Created false", again)
			}
			for _, p := range []store.PluginPut{
				{Name: "tools", Version: "1", Wasm: wasmB, Manifest: manifest},
				{Name: "tools", Version: "1", Wasm: wasmA, Manifest: []byte(`{}`)},
			} {
				if _, err := s.PutPlugin(ctx, p); !errors.Is(err, store.ErrExists) {
					t.Fatalf("a version with other bytes or manifest: %v, want ErrExists", err)
				}
			}
		}},
		{"Namespaces", func(t *testing.T, s store.PluginStore) {
			mustPutPlugin(t, s, store.PluginPut{Namespace: "a", Name: "tools", Version: "1", Wasm: wasmA, Manifest: manifest})
			if _, err := s.ResolvePlugin(ctx, "b", "tools", ""); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("namespace b resolving a's plugin: %v, want ErrNotFound", err)
			}
			if _, err := s.ResolvePlugin(ctx, "", "tools", ""); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("the default namespace resolving a's plugin: %v, want ErrNotFound", err)
			}
			mustPutPlugin(t, s, store.PluginPut{Namespace: "b", Name: "tools", Version: "1", Wasm: wasmB, Manifest: manifest})
			got, err := s.ResolvePlugin(ctx, "a", "tools", "")
			if err != nil || got.Hash != pluginHash(wasmA) {
				t.Fatalf("a's plugin after b put one of the same name: %+v, %v", got, err)
			}
			if _, err := s.DeletePlugin(ctx, "c", "tools", ""); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("delete in a namespace without it: %v, want ErrNotFound", err)
			}
		}},
		{"List", func(t *testing.T, s store.PluginStore) {
			mustPutPlugin(t, s, store.PluginPut{Namespace: "a", Name: "x", Version: "1", Wasm: wasmA, Manifest: manifest})
			mustPutPlugin(t, s, store.PluginPut{Namespace: "b", Name: "y", Version: "1", Wasm: wasmB, Manifest: manifest})
			mustPutPlugin(t, s, store.PluginPut{Namespace: "a", Name: "y", Version: "1", Wasm: wasmB, Manifest: manifest})
			names := func(f store.PluginFilter) []string {
				ps, err := s.ListPlugins(ctx, f)
				if err != nil || ps == nil {
					t.Fatalf("ListPlugins(%+v): %v, %v", f, ps, err)
				}
				out := []string{}
				for _, p := range ps {
					out = append(out, p.Namespace+"/"+p.Name)
				}
				return out
			}
			tests := []struct {
				f    store.PluginFilter
				want []string
			}{
				{store.PluginFilter{}, []string{"a/y", "b/y", "a/x"}},
				{store.PluginFilter{Namespaces: []string{"a"}}, []string{"a/y", "a/x"}},
				{store.PluginFilter{Name: "y"}, []string{"a/y", "b/y"}},
				{store.PluginFilter{Namespaces: []string{"c"}}, []string{}},
			}
			for _, tt := range tests {
				if got := names(tt.f); !equalStrings(got, tt.want) {
					t.Errorf("ListPlugins(%+v) = %v, want %v (newest first)", tt.f, got, tt.want)
				}
			}
		}},
		{"Delete", func(t *testing.T, s store.PluginStore) {
			mustPutPlugin(t, s, store.PluginPut{Name: "tools", Version: "1", Wasm: wasmA, Manifest: manifest})
			mustPutPlugin(t, s, store.PluginPut{Name: "tools", Version: "2", Wasm: wasmB, Manifest: manifest})
			mustPutPlugin(t, s, store.PluginPut{Namespace: "x", Name: "other", Version: "1", Wasm: wasmB, Manifest: manifest})
			if n, err := s.DeletePlugin(ctx, "", "tools", "1"); err != nil || n != 1 {
				t.Fatalf("delete version 1: %d, %v", n, err)
			}
			if _, err := s.PluginBytes(ctx, pluginHash(wasmA)); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("bytes no registration refers to: %v, want ErrNotFound", err)
			}
			if got, err := s.ResolvePlugin(ctx, "", "tools", ""); err != nil || got.Version != "2" {
				t.Fatalf("after deleting version 1: %+v, %v", got, err)
			}
			if n, err := s.DeletePlugin(ctx, "", "tools", ""); err != nil || n != 1 {
				t.Fatalf("delete every version: %d, %v", n, err)
			}
			if _, err := s.ResolvePlugin(ctx, "", "tools", ""); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("resolve a deleted plugin: %v, want ErrNotFound", err)
			}
			if b, err := s.PluginBytes(ctx, pluginHash(wasmB)); err != nil || !bytes.Equal(b, wasmB) {
				t.Fatalf("bytes another namespace still refers to: %q, %v", b, err)
			}
			if _, err := s.DeletePlugin(ctx, "", "tools", ""); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("delete again: %v, want ErrNotFound", err)
			}
		}},
		{"Quota", func(t *testing.T, s store.PluginStore) {
			bound := int64(len(wasmA) + len(wasmB) - 1)
			mustPutPlugin(t, s, store.PluginPut{Name: "a", Version: "1", Wasm: wasmA, Manifest: manifest, MaxNamespaceBytes: bound})
			if _, err := s.PutPlugin(ctx, store.PluginPut{Name: "b", Version: "1", Wasm: wasmB, Manifest: manifest, MaxNamespaceBytes: bound}); !errors.Is(err, store.ErrQuota) {
				t.Fatalf("a put past the bound: %v, want ErrQuota", err)
			}
			// The same bytes under another name add nothing to the namespace.
			mustPutPlugin(t, s, store.PluginPut{Name: "a2", Version: "1", Wasm: wasmA, Manifest: manifest, MaxNamespaceBytes: bound})
			if _, err := s.ResolvePlugin(ctx, "", "b", ""); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("a refused put wrote its registration: %v", err)
			}
		}},
		{"BadInput", func(t *testing.T, s store.PluginStore) {
			for _, p := range []store.PluginPut{
				{Name: "x", Version: "1", Manifest: manifest},
				{Version: "1", Wasm: wasmA},
				{Name: "x", Wasm: wasmA},
				{Namespace: "a/b", Name: "x", Version: "1", Wasm: wasmA},
				{Name: "x", Version: "1", Wasm: wasmA, MaxNamespaceBytes: -1},
			} {
				if _, err := s.PutPlugin(ctx, p); !errors.Is(err, store.ErrInvalid) {
					t.Errorf("PutPlugin(%+v): %v, want ErrInvalid", p, err)
				}
			}
			if _, err := s.ResolvePlugin(ctx, "", "", ""); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("ResolvePlugin with no name: %v, want ErrInvalid", err)
			}
			if _, err := s.DeletePlugin(ctx, "", "", ""); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("DeletePlugin with no name: %v, want ErrInvalid", err)
			}
		}},
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
