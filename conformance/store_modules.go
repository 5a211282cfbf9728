package conformance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/durohost/durohost/store"
)

// wasmBytes returns distinct module bytes for tag (the suite never runs them).
func wasmBytes(tag string) []byte {
	return append([]byte("\x00asm\x01\x00\x00\x00"), []byte(tag)...)
}

func hashOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func putModule(t *testing.T, s store.Store, name, version string, wasm []byte) string {
	t.Helper()
	h, err := s.PutModule(t.Context(), name, version, wasm)
	must(t, fmt.Sprintf("PutModule(%s@%s)", name, version), err)
	return h
}

func resolve(t *testing.T, s store.Store, name, version string) *store.ModuleInfo {
	t.Helper()
	info, err := s.ResolveModule(t.Context(), name, version)
	must(t, fmt.Sprintf("ResolveModule(%q, %q)", name, version), err)
	if info == nil {
		t.Fatal("ResolveModule returned nil and no error")
	}
	return info
}

func listModules(t *testing.T, s store.Store, name string) []string {
	t.Helper()
	infos, err := s.ListModules(t.Context(), name)
	must(t, fmt.Sprintf("ListModules(%q)", name), err)
	out := make([]string, len(infos))
	for i, m := range infos {
		out[i] = m.Name + "@" + m.Version
	}
	return out
}

func moduleBytes(t *testing.T, s store.Store, hash string, want []byte) {
	t.Helper()
	got, err := s.Module(t.Context(), hash)
	must(t, "Module", err)
	if !bytes.Equal(got, want) {
		t.Fatalf("Module(%s) returned %d bytes, want the %d bytes put", hash, len(got), len(want))
	}
}

// pinning creates instance id pinned to hash with status st.
func pinning(t *testing.T, s store.Store, id, hash string, st store.Status) {
	t.Helper()
	create(t, s, id, store.InstanceState{ModuleHash: hash, Status: st})
}

func moduleCases() []storeCase {
	return []storeCase{
		{"PutModule returns the hex sha256", func(t *testing.T, s store.Store) {
			b := wasmBytes("one")
			if got, want := putModule(t, s, "m", "1", b), hashOf(b); got != want {
				t.Fatalf("PutModule = %q, want %q", got, want)
			}
		}},
		{"Module returns the stored bytes", func(t *testing.T, s store.Store) {
			b := wasmBytes("one")
			moduleBytes(t, s, putModule(t, s, "m", "1", b), b)
		}},
		{"unknown hash is ErrNotFound", func(t *testing.T, s store.Store) {
			putModule(t, s, "m", "1", wasmBytes("one"))
			_, err := s.Module(t.Context(), hashOf([]byte("other")))
			wantErr(t, "Module(unknown hash)", err, store.ErrNotFound)
		}},
		{"re-putting the same bytes is idempotent", func(t *testing.T, s store.Store) {
			b := wasmBytes("one")
			h1 := putModule(t, s, "m", "1", b)
			h2 := putModule(t, s, "m", "1", b)
			if h1 != h2 {
				t.Fatalf("re-put hash %q, first %q", h2, h1)
			}
			sameStrings(t, "ListModules", listModules(t, s, "m"), []string{"m@1"})
		}},
		{"same name and version with different bytes is ErrInvalid", func(t *testing.T, s store.Store) {
			b := wasmBytes("one")
			h := putModule(t, s, "m", "1", b)
			_, err := s.PutModule(t.Context(), "m", "1", wasmBytes("two"))
			wantErr(t, "PutModule(m@1, other bytes)", err, store.ErrInvalid)
			if got := resolve(t, s, "m", "1").Hash; got != h {
				t.Fatalf("m@1 now resolves to %q, want the original %q", got, h)
			}
			moduleBytes(t, s, h, b)
			if _, err := s.Module(t.Context(), hashOf(wasmBytes("two"))); err == nil {
				t.Fatal("the rejected bytes were stored")
			}
		}},
		{"ResolveModule without a version returns the most recently put", func(t *testing.T, s store.Store) {
			putModule(t, s, "m", "1", wasmBytes("1"))
			putModule(t, s, "m", "2", wasmBytes("2"))
			h := putModule(t, s, "m", "1.5", wasmBytes("1.5"))
			if got := resolve(t, s, "m", ""); got.Version != "1.5" || got.Hash != h {
				t.Fatalf("latest = %s (%s), want 1.5 (%s), the last put", got.Version, got.Hash, h)
			}
		}},
		{"ResolveModule with a version returns that registration", func(t *testing.T, s store.Store) {
			b := wasmBytes("1")
			h := putModule(t, s, "m", "1", b)
			putModule(t, s, "m", "2", wasmBytes("2"))
			got := resolve(t, s, "m", "1")
			if got.Name != "m" || got.Version != "1" || got.Hash != h || got.Size != int64(len(b)) || got.CreatedAt.IsZero() {
				t.Fatalf("ResolveModule(m, 1) = %+v, want name m, version 1, hash %s, size %d, a CreatedAt", got, h, len(b))
			}
		}},
		{"ResolveModule of an unknown name or version is ErrNotFound", func(t *testing.T, s store.Store) {
			putModule(t, s, "m", "1", wasmBytes("1"))
			_, err := s.ResolveModule(t.Context(), "other", "")
			wantErr(t, "ResolveModule(other, latest)", err, store.ErrNotFound)
			_, err = s.ResolveModule(t.Context(), "m", "9")
			wantErr(t, "ResolveModule(m, 9)", err, store.ErrNotFound)
		}},
		{"ListModules returns a name's registrations newest first", func(t *testing.T, s store.Store) {
			putModule(t, s, "m", "1", wasmBytes("1"))
			putModule(t, s, "other", "1", wasmBytes("o"))
			putModule(t, s, "m", "3", wasmBytes("3"))
			putModule(t, s, "m", "2", wasmBytes("2"))
			sameStrings(t, "ListModules(m)", listModules(t, s, "m"), []string{"m@2", "m@3", "m@1"})
		}},
		{"ListModules with no name returns every registration newest first", func(t *testing.T, s store.Store) {
			putModule(t, s, "a", "1", wasmBytes("a1"))
			putModule(t, s, "b", "1", wasmBytes("b1"))
			putModule(t, s, "a", "2", wasmBytes("a2"))
			sameStrings(t, "ListModules()", listModules(t, s, ""), []string{"a@2", "b@1", "a@1"})
		}},
		{"ListModules of an unknown name is empty", func(t *testing.T, s store.Store) {
			putModule(t, s, "a", "1", wasmBytes("a1"))
			sameStrings(t, "ListModules(none)", listModules(t, s, "none"), nil)
		}},
		{"DeleteModule removes the registration and unreferenced bytes", func(t *testing.T, s store.Store) {
			h := putModule(t, s, "m", "1", wasmBytes("1"))
			putModule(t, s, "m", "2", wasmBytes("2"))
			must(t, "DeleteModule", s.DeleteModule(t.Context(), "m", "1"))
			_, err := s.ResolveModule(t.Context(), "m", "1")
			wantErr(t, "ResolveModule after delete", err, store.ErrNotFound)
			_, err = s.Module(t.Context(), h)
			wantErr(t, "Module of deleted, unreferenced bytes", err, store.ErrNotFound)
			sameStrings(t, "ListModules", listModules(t, s, "m"), []string{"m@2"})
		}},
		{"latest falls back after the newest is deleted", func(t *testing.T, s store.Store) {
			putModule(t, s, "m", "1", wasmBytes("1"))
			putModule(t, s, "m", "2", wasmBytes("2"))
			must(t, "DeleteModule(m@2)", s.DeleteModule(t.Context(), "m", "2"))
			if got := resolve(t, s, "m", ""); got.Version != "1" {
				t.Fatalf("latest = %s, want 1", got.Version)
			}
			must(t, "DeleteModule(m@1)", s.DeleteModule(t.Context(), "m", "1"))
			_, err := s.ResolveModule(t.Context(), "m", "")
			wantErr(t, "ResolveModule(m, latest) with no versions left", err, store.ErrNotFound)
		}},
		{"bytes shared by two registrations survive deleting one", func(t *testing.T, s store.Store) {
			b := wasmBytes("shared")
			h1 := putModule(t, s, "a", "1", b)
			h2 := putModule(t, s, "b", "7", b)
			if h1 != h2 {
				t.Fatalf("same bytes, different hashes %q and %q", h1, h2)
			}
			must(t, "DeleteModule(a@1)", s.DeleteModule(t.Context(), "a", "1"))
			moduleBytes(t, s, h1, b)
			must(t, "DeleteModule(b@7)", s.DeleteModule(t.Context(), "b", "7"))
			_, err := s.Module(t.Context(), h1)
			wantErr(t, "Module after both registrations are deleted", err, store.ErrNotFound)
		}},
		{"DeleteModule of an unknown registration is ErrNotFound", func(t *testing.T, s store.Store) {
			putModule(t, s, "m", "1", wasmBytes("1"))
			wantErr(t, "DeleteModule(m@2)", s.DeleteModule(t.Context(), "m", "2"), store.ErrNotFound)
			wantErr(t, "DeleteModule(x@1)", s.DeleteModule(t.Context(), "x", "1"), store.ErrNotFound)
		}},
		{"module pinned by a running instance is ErrModulePinned", func(t *testing.T, s store.Store) {
			b := wasmBytes("1")
			h := putModule(t, s, "m", "1", b)
			pinning(t, s, "a", h, store.StatusRunning)
			wantErr(t, "DeleteModule of a pinned module", s.DeleteModule(t.Context(), "m", "1"), store.ErrModulePinned)
			if got := resolve(t, s, "m", "1"); got.Hash != h {
				t.Fatalf("registration changed to %q", got.Hash)
			}
			moduleBytes(t, s, h, b)
		}},
		{"module pinned only by finished instances can be deleted", func(t *testing.T, s store.Store) {
			h := putModule(t, s, "m", "1", wasmBytes("1"))
			pinning(t, s, "a", h, store.StatusCompleted)
			pinning(t, s, "b", h, store.StatusFailed)
			must(t, "DeleteModule", s.DeleteModule(t.Context(), "m", "1"))
		}},
		{"module can be deleted once its pinning instance finishes", func(t *testing.T, s store.Store) {
			h := putModule(t, s, "m", "1", wasmBytes("1"))
			pinning(t, s, "a", h, store.StatusRunning)
			wantErr(t, "DeleteModule while a runs", s.DeleteModule(t.Context(), "m", "1"), store.ErrModulePinned)
			finish(t, s, "a", store.StatusCompleted)
			must(t, "DeleteModule after a finished", s.DeleteModule(t.Context(), "m", "1"))
		}},
		{"unpinned version can be deleted while another is pinned", func(t *testing.T, s store.Store) {
			h1 := putModule(t, s, "m", "1", wasmBytes("1"))
			putModule(t, s, "m", "2", wasmBytes("2"))
			pinning(t, s, "a", h1, store.StatusRunning)
			must(t, "DeleteModule(m@2)", s.DeleteModule(t.Context(), "m", "2"))
			wantErr(t, "DeleteModule(m@1)", s.DeleteModule(t.Context(), "m", "1"), store.ErrModulePinned)
		}},
		{"large module round-trips", func(t *testing.T, s store.Store) {
			b := bigPayload(4<<20, 7)
			moduleBytes(t, s, putModule(t, s, "big", "1", b), b)
			if got := resolve(t, s, "big", "1").Size; got != int64(len(b)) {
				t.Fatalf("Size = %d, want %d", got, len(b))
			}
		}},
		{"empty name or version is ErrInvalid", func(t *testing.T, s store.Store) {
			_, err := s.PutModule(t.Context(), "", "1", wasmBytes("x"))
			wantErr(t, "PutModule with an empty name", err, store.ErrInvalid)
			_, err = s.PutModule(t.Context(), "m", "", wasmBytes("x"))
			wantErr(t, "PutModule with an empty version", err, store.ErrInvalid)
			sameStrings(t, "ListModules", listModules(t, s, ""), nil)
		}},
	}
}

// bigPayload returns n pseudo-random bytes (incompressible, with every byte value).
func bigPayload(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}
