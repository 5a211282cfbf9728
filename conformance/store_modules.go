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

// orchReg and moduleReg are registrations of each kind.
func orchReg(name, version string) store.Registration {
	return store.Registration{Kind: store.RegistrationOrchestration, Name: name, Version: version}
}

func moduleReg(name, version string) store.Registration {
	return store.Registration{Kind: store.RegistrationModule, Name: name, Version: version}
}

// putIn stores wasm with regs in namespace ns and returns what PutModule reports.
func putIn(t *testing.T, s store.Store, ns string, wasm []byte, regs ...store.Registration) *store.PutResult {
	t.Helper()
	res, err := s.PutModule(t.Context(), store.ModulePut{Namespace: ns, Wasm: wasm, Registrations: regs})
	must(t, fmt.Sprintf("PutModule(%q, %v)", ns, regs), err)
	if res == nil {
		t.Fatal("PutModule returned nil and no error")
	}
	if res.Hash != hashOf(wasm) {
		t.Fatalf("PutModule: hash %q, want %q", res.Hash, hashOf(wasm))
	}
	return res
}

// putModule registers the orchestration name@version with wasm in the default namespace and
// returns the hash.
func putModule(t *testing.T, s store.Store, name, version string, wasm []byte) string {
	t.Helper()
	return putIn(t, s, "", wasm, orchReg(name, version)).Hash
}

func resolveIn(t *testing.T, s store.Store, ns string, kind store.RegistrationKind, name, version string) *store.ModuleInfo {
	t.Helper()
	info, err := s.ResolveModule(t.Context(), ns, kind, name, version)
	must(t, fmt.Sprintf("ResolveModule(%q, %s, %q, %q)", ns, kind, name, version), err)
	if info == nil {
		t.Fatal("ResolveModule returned nil and no error")
	}
	return info
}

// resolve resolves orchestration name in the default namespace.
func resolve(t *testing.T, s store.Store, name, version string) *store.ModuleInfo {
	t.Helper()
	return resolveIn(t, s, "", store.RegistrationOrchestration, name, version)
}

// unresolved fails the case unless the registration is ErrNotFound.
func unresolved(t *testing.T, s store.Store, ns string, kind store.RegistrationKind, name, version string) {
	t.Helper()
	info, err := s.ResolveModule(t.Context(), ns, kind, name, version)
	if err == nil {
		t.Fatalf("ResolveModule(%q, %s, %q, %q) = %+v, want ErrNotFound", ns, kind, name, version, *info)
	}
	wantErr(t, fmt.Sprintf("ResolveModule(%q, %s, %q, %q)", ns, kind, name, version), err, store.ErrNotFound)
}

// listRegs returns the registrations f selects as "ns|kind|name@version", newest first.
func listRegs(t *testing.T, s store.Store, f store.ModuleFilter) []string {
	t.Helper()
	infos, err := s.ListModules(t.Context(), f)
	must(t, fmt.Sprintf("ListModules(%+v)", f), err)
	if infos == nil {
		t.Fatal("ListModules returned nil and no error, want an empty slice")
	}
	out := make([]string, len(infos))
	for i, m := range infos {
		out[i] = fmt.Sprintf("%s|%s|%s@%s", m.Namespace, m.Kind, m.Name, m.Version)
	}
	return out
}

// listModules returns the default namespace's orchestration registrations of name (all when
// empty) as "name@version", newest first.
func listModules(t *testing.T, s store.Store, name string) []string {
	t.Helper()
	infos, err := s.ListModules(t.Context(), store.ModuleFilter{Namespaces: []string{""}, Kind: store.RegistrationOrchestration, Name: name})
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

// noModuleBytes fails the case unless the bytes of hash are gone.
func noModuleBytes(t *testing.T, s store.Store, hash, what string) {
	t.Helper()
	_, err := s.Module(t.Context(), hash)
	wantErr(t, "Module "+what, err, store.ErrNotFound)
}

// deleteIn deletes registrations of namespace ns.
func deleteIn(t *testing.T, s store.Store, ns string, regs ...store.Registration) error {
	return s.DeleteModule(t.Context(), ns, regs)
}

// deleteModule deletes orchestration name@version of the default namespace.
func deleteModule(t *testing.T, s store.Store, name, version string) error {
	return deleteIn(t, s, "", orchReg(name, version))
}

// pinning creates instance id of the default namespace pinned to hash with status st.
func pinning(t *testing.T, s store.Store, id, hash string, st store.Status) {
	t.Helper()
	create(t, s, id, store.InstanceState{ModuleHash: hash, Status: st})
}

func sameRegs(t *testing.T, what string, got, want []store.Registration) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
	}
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
			noModuleBytes(t, s, hashOf([]byte("other")), "(unknown hash)")
		}},
		{"re-putting the same bytes is idempotent and reported as existing", func(t *testing.T, s store.Store) {
			b := wasmBytes("one")
			first := putIn(t, s, "", b, orchReg("m", "1"))
			sameRegs(t, "first put: Created", first.Created, []store.Registration{orchReg("m", "1")})
			again := putIn(t, s, "", b, orchReg("m", "1"))
			sameRegs(t, "second put: Created", again.Created, nil)
			sameRegs(t, "second put: Existing", again.Existing, []store.Registration{orchReg("m", "1")})
			if len(again.Kept) != 0 {
				t.Fatalf("second put: Kept %+v, want none", again.Kept)
			}
			sameStrings(t, "ListModules", listModules(t, s, "m"), []string{"m@1"})
		}},
		{"one put stores the bytes once with every registration, in order", func(t *testing.T, s store.Store) {
			b := wasmBytes("many")
			regs := []store.Registration{orchReg("a", "1"), orchReg("b", "1"), moduleReg("pkg", "3"), orchReg("a", "2")}
			res := putIn(t, s, "ns", b, regs...)
			sameRegs(t, "Created", res.Created, regs)
			sameStrings(t, "ListModules newest first", listRegs(t, s, store.ModuleFilter{}),
				[]string{"ns|orchestration|a@2", "ns|module|pkg@3", "ns|orchestration|b@1", "ns|orchestration|a@1"})
			if got := resolveIn(t, s, "ns", store.RegistrationOrchestration, "a", ""); got.Version != "2" {
				t.Fatalf("latest a = %s, want 2 (put after 1 in the same call)", got.Version)
			}
			moduleBytes(t, s, res.Hash, b)
		}},
		{"an orchestration version registered with other bytes is kept, the others are created", func(t *testing.T, s store.Store) {
			old := putIn(t, s, "ns", wasmBytes("old"), orchReg("o", "1")).Hash
			b := wasmBytes("new")
			res := putIn(t, s, "ns", b, orchReg("o", "1"), orchReg("p", "1"))
			sameRegs(t, "Created", res.Created, []store.Registration{orchReg("p", "1")})
			if len(res.Kept) != 1 {
				t.Fatalf("Kept = %+v, want o@1", res.Kept)
			}
			if k := res.Kept[0]; k.Namespace != "ns" || k.Kind != store.RegistrationOrchestration || k.Name != "o" || k.Version != "1" || k.Hash != old {
				t.Fatalf("Kept = %+v, want ns orchestration o@1 with the earlier hash %s", k, old)
			}
			if got := resolveIn(t, s, "ns", store.RegistrationOrchestration, "o", "1").Hash; got != old {
				t.Fatalf("o@1 resolves to %s, want the earlier %s", got, old)
			}
			if got := resolveIn(t, s, "ns", store.RegistrationOrchestration, "p", "1").Hash; got != res.Hash {
				t.Fatalf("p@1 resolves to %s, want the new %s", got, res.Hash)
			}
			moduleBytes(t, s, res.Hash, b)
		}},
		{"a put whose every registration is kept stores no bytes", func(t *testing.T, s store.Store) {
			putModule(t, s, "m", "1", wasmBytes("one"))
			res := putIn(t, s, "", wasmBytes("two"), orchReg("m", "1"))
			if len(res.Kept) != 1 || len(res.Created) != 0 {
				t.Fatalf("PutResult = %+v, want m@1 kept and nothing created", res)
			}
			noModuleBytes(t, s, hashOf(wasmBytes("two")), "of bytes no registration names")
		}},
		{"a module name registered with other bytes fails the whole put with ErrExists", func(t *testing.T, s store.Store) {
			h := putIn(t, s, "ns", wasmBytes("v1"), moduleReg("pkg", "1"), orchReg("o", "1")).Hash
			_, err := s.PutModule(t.Context(), store.ModulePut{Namespace: "ns", Wasm: wasmBytes("v1-rebuilt"),
				Registrations: []store.Registration{orchReg("new", "1"), moduleReg("pkg", "1")}})
			wantErr(t, "PutModule(pkg@1 with other bytes)", err, store.ErrExists)
			if got := resolveIn(t, s, "ns", store.RegistrationModule, "pkg", "1").Hash; got != h {
				t.Fatalf("pkg@1 now resolves to %s, want the original %s", got, h)
			}
			unresolved(t, s, "ns", store.RegistrationOrchestration, "new", "1")
			noModuleBytes(t, s, hashOf(wasmBytes("v1-rebuilt")), "of a refused put")
		}},
		{"the same name may be a module and an orchestration", func(t *testing.T, s store.Store) {
			hm := putIn(t, s, "ns", wasmBytes("m"), moduleReg("x", "1")).Hash
			ho := putIn(t, s, "ns", wasmBytes("o"), orchReg("x", "1")).Hash
			if got := resolveIn(t, s, "ns", store.RegistrationModule, "x", "1").Hash; got != hm {
				t.Fatalf("module x@1 = %s, want %s", got, hm)
			}
			if got := resolveIn(t, s, "ns", store.RegistrationOrchestration, "x", "1").Hash; got != ho {
				t.Fatalf("orchestration x@1 = %s, want %s", got, ho)
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
			h := putIn(t, s, "ns", b, moduleReg("m", "1")).Hash
			putIn(t, s, "ns", wasmBytes("2"), moduleReg("m", "2"))
			got := resolveIn(t, s, "ns", store.RegistrationModule, "m", "1")
			if got.Namespace != "ns" || got.Kind != store.RegistrationModule || got.Name != "m" || got.Version != "1" ||
				got.Hash != h || got.Size != int64(len(b)) || got.CreatedAt.IsZero() {
				t.Fatalf("ResolveModule(ns, module, m, 1) = %+v, want namespace ns, kind module, name m, version 1, hash %s, size %d, a CreatedAt", got, h, len(b))
			}
		}},
		{"ResolveModule of an unknown name or version is ErrNotFound", func(t *testing.T, s store.Store) {
			putModule(t, s, "m", "1", wasmBytes("1"))
			unresolved(t, s, "", store.RegistrationOrchestration, "other", "")
			unresolved(t, s, "", store.RegistrationOrchestration, "m", "9")
			unresolved(t, s, "", store.RegistrationModule, "m", "")
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
		{"ListModules filters by namespace, kind, name and hash", func(t *testing.T, s store.Store) {
			shared := wasmBytes("shared")
			putIn(t, s, "a", shared, orchReg("o", "1"), moduleReg("pkg", "1"))
			putIn(t, s, "b", wasmBytes("b"), orchReg("o", "1"))
			putIn(t, s, "", shared, orchReg("o", "1"))
			putIn(t, s, "c", wasmBytes("c"), moduleReg("o", "1"))
			tests := []struct {
				name string
				f    store.ModuleFilter
				want []string
			}{
				{"all", store.ModuleFilter{}, []string{"c|module|o@1", "|orchestration|o@1", "b|orchestration|o@1", "a|module|pkg@1", "a|orchestration|o@1"}},
				{"namespace a", store.ModuleFilter{Namespaces: []string{"a"}}, []string{"a|module|pkg@1", "a|orchestration|o@1"}},
				{"default namespace", store.ModuleFilter{Namespaces: []string{""}}, []string{"|orchestration|o@1"}},
				{"namespaces b and c", store.ModuleFilter{Namespaces: []string{"b", "c"}}, []string{"c|module|o@1", "b|orchestration|o@1"}},
				{"modules", store.ModuleFilter{Kind: store.RegistrationModule}, []string{"c|module|o@1", "a|module|pkg@1"}},
				{"orchestrations named o", store.ModuleFilter{Kind: store.RegistrationOrchestration, Name: "o"}, []string{"|orchestration|o@1", "b|orchestration|o@1", "a|orchestration|o@1"}},
				{"hash in a", store.ModuleFilter{Namespaces: []string{"a"}, Hash: hashOf(shared)}, []string{"a|module|pkg@1", "a|orchestration|o@1"}},
				{"hash anywhere", store.ModuleFilter{Hash: hashOf(shared)}, []string{"|orchestration|o@1", "a|module|pkg@1", "a|orchestration|o@1"}},
				{"unknown namespace", store.ModuleFilter{Namespaces: []string{"zz"}}, nil},
			}
			for _, tt := range tests {
				sameStrings(t, "ListModules "+tt.name, listRegs(t, s, tt.f), tt.want)
			}
		}},
		{"DeleteModule removes the registration and unreferenced bytes", func(t *testing.T, s store.Store) {
			h := putModule(t, s, "m", "1", wasmBytes("1"))
			putModule(t, s, "m", "2", wasmBytes("2"))
			must(t, "DeleteModule", deleteModule(t, s, "m", "1"))
			unresolved(t, s, "", store.RegistrationOrchestration, "m", "1")
			noModuleBytes(t, s, h, "of deleted, unreferenced bytes")
			sameStrings(t, "ListModules", listModules(t, s, "m"), []string{"m@2"})
		}},
		{"latest falls back after the newest is deleted", func(t *testing.T, s store.Store) {
			putModule(t, s, "m", "1", wasmBytes("1"))
			putModule(t, s, "m", "2", wasmBytes("2"))
			must(t, "DeleteModule(m@2)", deleteModule(t, s, "m", "2"))
			if got := resolve(t, s, "m", ""); got.Version != "1" {
				t.Fatalf("latest = %s, want 1", got.Version)
			}
			must(t, "DeleteModule(m@1)", deleteModule(t, s, "m", "1"))
			unresolved(t, s, "", store.RegistrationOrchestration, "m", "")
		}},
		{"bytes shared by two registrations survive deleting one", func(t *testing.T, s store.Store) {
			b := wasmBytes("shared")
			h1 := putModule(t, s, "a", "1", b)
			h2 := putModule(t, s, "b", "7", b)
			if h1 != h2 {
				t.Fatalf("same bytes, different hashes %q and %q", h1, h2)
			}
			must(t, "DeleteModule(a@1)", deleteModule(t, s, "a", "1"))
			moduleBytes(t, s, h1, b)
			must(t, "DeleteModule(b@7)", deleteModule(t, s, "b", "7"))
			noModuleBytes(t, s, h1, "after both registrations are deleted")
		}},
		{"bytes shared by two namespaces survive until both delete them", func(t *testing.T, s store.Store) {
			b := wasmBytes("shared")
			h := putIn(t, s, "a", b, moduleReg("m", "1")).Hash
			putIn(t, s, "b", b, moduleReg("m", "1"))
			must(t, "DeleteModule(a)", deleteIn(t, s, "a", moduleReg("m", "1")))
			moduleBytes(t, s, h, b)
			must(t, "DeleteModule(b)", deleteIn(t, s, "b", moduleReg("m", "1")))
			noModuleBytes(t, s, h, "after both namespaces deleted their registrations")
		}},
		{"DeleteModule of an unknown registration is ErrNotFound", func(t *testing.T, s store.Store) {
			putModule(t, s, "m", "1", wasmBytes("1"))
			wantErr(t, "DeleteModule(m@2)", deleteModule(t, s, "m", "2"), store.ErrNotFound)
			wantErr(t, "DeleteModule(x@1)", deleteModule(t, s, "x", "1"), store.ErrNotFound)
			wantErr(t, "DeleteModule(module m@1)", deleteIn(t, s, "", moduleReg("m", "1")), store.ErrNotFound)
			wantErr(t, "DeleteModule(m@1 of another namespace)", deleteIn(t, s, "ns", orchReg("m", "1")), store.ErrNotFound)
			resolve(t, s, "m", "1")
		}},
		{"DeleteModule deletes several registrations at once", func(t *testing.T, s store.Store) {
			b := wasmBytes("1")
			h := putIn(t, s, "ns", b, moduleReg("pkg", "1"), orchReg("o", "1"), orchReg("p", "1")).Hash
			must(t, "DeleteModule", deleteIn(t, s, "ns", moduleReg("pkg", "1"), orchReg("o", "1")))
			sameStrings(t, "ListModules", listRegs(t, s, store.ModuleFilter{}), []string{"ns|orchestration|p@1"})
			moduleBytes(t, s, h, b)
			must(t, "DeleteModule(p)", deleteIn(t, s, "ns", orchReg("p", "1")))
			noModuleBytes(t, s, h, "after its last registration is deleted")
		}},
		{"DeleteModule with one unknown registration deletes nothing", func(t *testing.T, s store.Store) {
			b := wasmBytes("1")
			h := putIn(t, s, "ns", b, moduleReg("pkg", "1")).Hash
			wantErr(t, "DeleteModule(pkg, missing)", deleteIn(t, s, "ns", moduleReg("pkg", "1"), orchReg("missing", "1")), store.ErrNotFound)
			resolveIn(t, s, "ns", store.RegistrationModule, "pkg", "1")
			moduleBytes(t, s, h, b)
		}},
		{"module pinned by a running instance is ErrModulePinned", func(t *testing.T, s store.Store) {
			b := wasmBytes("1")
			h := putModule(t, s, "m", "1", b)
			pinning(t, s, "a", h, store.StatusRunning)
			wantErr(t, "DeleteModule of a pinned module", deleteModule(t, s, "m", "1"), store.ErrModulePinned)
			if got := resolve(t, s, "m", "1"); got.Hash != h {
				t.Fatalf("registration changed to %q", got.Hash)
			}
			moduleBytes(t, s, h, b)
		}},
		{"module pinned by a pending instance is ErrModulePinned", func(t *testing.T, s store.Store) {
			h := putIn(t, s, "ns", wasmBytes("1"), orchReg("o", "1")).Hash
			start := nsStart("ns", "x")
			start.Event.ModuleHash = h
			_, err := s.StartInstance(t.Context(), start, store.StartOptions{})
			must(t, "StartInstance", err)
			wantErr(t, "DeleteModule pinned by a pending instance", deleteIn(t, s, "ns", orchReg("o", "1")), store.ErrModulePinned)
			resolveIn(t, s, "ns", store.RegistrationOrchestration, "o", "1")
		}},
		{"a pinned delete of several registrations deletes none of them", func(t *testing.T, s store.Store) {
			h := putIn(t, s, "", wasmBytes("pinned"), orchReg("o", "1")).Hash
			putIn(t, s, "", wasmBytes("free"), orchReg("p", "1"))
			pinning(t, s, "a", h, store.StatusRunning)
			wantErr(t, "DeleteModule(p, o)", deleteIn(t, s, "", orchReg("p", "1"), orchReg("o", "1")), store.ErrModulePinned)
			resolve(t, s, "p", "1")
			resolve(t, s, "o", "1")
		}},
		{"a pinned hash may lose a registration while another of the namespace keeps it", func(t *testing.T, s store.Store) {
			h := putIn(t, s, "", wasmBytes("1"), orchReg("o", "1"), orchReg("o", "alias")).Hash
			pinning(t, s, "a", h, store.StatusRunning)
			must(t, "DeleteModule(o@alias)", deleteModule(t, s, "o", "alias"))
			wantErr(t, "DeleteModule(o@1), the last", deleteModule(t, s, "o", "1"), store.ErrModulePinned)
		}},
		{"module pinned only by finished instances can be deleted", func(t *testing.T, s store.Store) {
			h := putModule(t, s, "m", "1", wasmBytes("1"))
			pinning(t, s, "a", h, store.StatusCompleted)
			pinning(t, s, "b", h, store.StatusFailed)
			must(t, "DeleteModule", deleteModule(t, s, "m", "1"))
		}},
		{"module can be deleted once its pinning instance finishes", func(t *testing.T, s store.Store) {
			h := putModule(t, s, "m", "1", wasmBytes("1"))
			pinning(t, s, "a", h, store.StatusRunning)
			wantErr(t, "DeleteModule while a runs", deleteModule(t, s, "m", "1"), store.ErrModulePinned)
			finish(t, s, "a", store.StatusCompleted)
			must(t, "DeleteModule after a finished", deleteModule(t, s, "m", "1"))
		}},
		{"unpinned version can be deleted while another is pinned", func(t *testing.T, s store.Store) {
			h1 := putModule(t, s, "m", "1", wasmBytes("1"))
			putModule(t, s, "m", "2", wasmBytes("2"))
			pinning(t, s, "a", h1, store.StatusRunning)
			must(t, "DeleteModule(m@2)", deleteModule(t, s, "m", "2"))
			wantErr(t, "DeleteModule(m@1)", deleteModule(t, s, "m", "1"), store.ErrModulePinned)
		}},
		{"the pin check counts only the namespace's own instances", func(t *testing.T, s store.Store) {
			b := wasmBytes("shared")
			h := putIn(t, s, "a", b, orchReg("o", "1")).Hash
			putIn(t, s, "b", b, orchReg("o", "1"))
			createIn(t, s, "a", "x", store.InstanceState{ModuleHash: h})
			must(t, "DeleteModule in b while an instance of a pins the bytes", deleteIn(t, s, "b", orchReg("o", "1")))
			moduleBytes(t, s, h, b)
			wantErr(t, "DeleteModule in a", deleteIn(t, s, "a", orchReg("o", "1")), store.ErrModulePinned)
		}},
		{"PutModule refuses a put past the namespace's byte bound", func(t *testing.T, s store.Store) {
			first := wasmBytes("first")
			putIn(t, s, "ns", first, moduleReg("m", "1"))
			putIn(t, s, "other", wasmBytes("somewhere else, not counted"), moduleReg("m", "1"))
			second := wasmBytes("second")
			limit := int64(len(first) + len(second))
			_, err := s.PutModule(t.Context(), store.ModulePut{Namespace: "ns", Wasm: second,
				Registrations: []store.Registration{moduleReg("m", "2"), orchReg("o", "1")}, MaxNamespaceBytes: limit - 1})
			wantErr(t, "PutModule one byte past the bound", err, store.ErrQuota)
			unresolved(t, s, "ns", store.RegistrationModule, "m", "2")
			unresolved(t, s, "ns", store.RegistrationOrchestration, "o", "1")
			noModuleBytes(t, s, hashOf(second), "of a refused put")
			res, err := s.PutModule(t.Context(), store.ModulePut{Namespace: "ns", Wasm: second,
				Registrations: []store.Registration{moduleReg("m", "2")}, MaxNamespaceBytes: limit})
			must(t, "PutModule up to the bound", err)
			sameRegs(t, "Created", res.Created, []store.Registration{moduleReg("m", "2")})
			// Bytes the namespace already has add nothing.
			_, err = s.PutModule(t.Context(), store.ModulePut{Namespace: "ns", Wasm: first,
				Registrations: []store.Registration{orchReg("o", "1")}, MaxNamespaceBytes: 1})
			must(t, "PutModule of bytes the namespace has, under a smaller bound", err)
		}},
		{"NamespaceUsage counts distinct modules and unfinished instances", func(t *testing.T, s store.Store) {
			a, b := wasmBytes("a"), wasmBytes("bb")
			putIn(t, s, "ns", a, moduleReg("m", "1"), orchReg("o", "1"))
			putIn(t, s, "ns", b, moduleReg("m", "2"))
			putIn(t, s, "ns", a, moduleReg("m", "3"))
			putIn(t, s, "other", wasmBytes("other namespace"), moduleReg("m", "1"))
			createIn(t, s, "ns", "running", store.InstanceState{})
			createIn(t, s, "ns", "done", store.InstanceState{Status: store.StatusCompleted})
			createIn(t, s, "other", "running", store.InstanceState{})
			_, err := s.StartInstance(t.Context(), nsStart("ns", "pending"), store.StartOptions{})
			must(t, "StartInstance", err)
			u, err := s.NamespaceUsage(t.Context(), "ns")
			must(t, "NamespaceUsage", err)
			if want := (store.Usage{ModuleBytes: int64(len(a) + len(b)), Modules: 2, Instances: 2}); u == nil || *u != want {
				t.Fatalf("NamespaceUsage(ns) = %+v, want %+v", u, want)
			}
			u, err = s.NamespaceUsage(t.Context(), "empty")
			must(t, "NamespaceUsage(empty)", err)
			if u == nil || *u != (store.Usage{}) {
				t.Fatalf("NamespaceUsage(empty) = %+v, want zero", u)
			}
		}},
		{"large module round-trips", func(t *testing.T, s store.Store) {
			b := bigPayload(4<<20, 7)
			moduleBytes(t, s, putModule(t, s, "big", "1", b), b)
			if got := resolve(t, s, "big", "1").Size; got != int64(len(b)) {
				t.Fatalf("Size = %d, want %d", got, len(b))
			}
		}},
		{"bad registrations are ErrInvalid and store nothing", func(t *testing.T, s store.Store) {
			b := wasmBytes("x")
			tests := []struct {
				name string
				put  store.ModulePut
			}{
				{"an empty name", store.ModulePut{Wasm: b, Registrations: []store.Registration{orchReg("", "1")}}},
				{"an empty version", store.ModulePut{Wasm: b, Registrations: []store.Registration{orchReg("m", "")}}},
				{"no registration", store.ModulePut{Wasm: b}},
				{"an unknown kind", store.ModulePut{Wasm: b, Registrations: []store.Registration{{Kind: 9, Name: "m", Version: "1"}}}},
				{"a registration twice", store.ModulePut{Wasm: b, Registrations: []store.Registration{orchReg("m", "1"), orchReg("m", "1")}}},
				{"no bytes", store.ModulePut{Registrations: []store.Registration{orchReg("m", "1")}}},
				{"a namespace with a slash", store.ModulePut{Namespace: "a/b", Wasm: b, Registrations: []store.Registration{orchReg("m", "1")}}},
				{"a negative bound", store.ModulePut{Wasm: b, Registrations: []store.Registration{orchReg("m", "1")}, MaxNamespaceBytes: -1}},
			}
			for _, tt := range tests {
				_, err := s.PutModule(t.Context(), tt.put)
				wantErr(t, "PutModule with "+tt.name, err, store.ErrInvalid)
			}
			sameStrings(t, "ListModules", listRegs(t, s, store.ModuleFilter{}), nil)
			noModuleBytes(t, s, hashOf(b), "after refused puts")
			_, err := s.ResolveModule(t.Context(), "", store.RegistrationOrchestration, "", "")
			wantErr(t, "ResolveModule with an empty name", err, store.ErrInvalid)
			_, err = s.ResolveModule(t.Context(), "", 0, "m", "")
			wantErr(t, "ResolveModule of kind 0", err, store.ErrInvalid)
			_, err = s.ListModules(t.Context(), store.ModuleFilter{Kind: 9})
			wantErr(t, "ListModules of kind 9", err, store.ErrInvalid)
			wantErr(t, "DeleteModule of nothing", s.DeleteModule(t.Context(), "", nil), store.ErrInvalid)
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
