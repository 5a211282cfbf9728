package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store"
)

// moduleJSON is a module version in responses.
type moduleJSON struct {
	Name           string             `json:"name"`
	Version        string             `json:"version"`
	Hash           string             `json:"hash"`
	Size           int64              `json:"size"`
	UploadedAt     *time.Time         `json:"uploaded_at,omitempty"`
	Imports        []string           `json:"imports,omitempty"`
	Orchestrations []registrationJSON `json:"orchestrations,omitempty"`
	// Kept lists orchestration versions that were already registered with other bytes: new
	// starts of them keep using the earlier module.
	Kept []registrationJSON `json:"kept,omitempty"`
	// Created is false when the same bytes were already uploaded under this name and version.
	Created *bool `json:"created,omitempty"`
	// Check is the result of ?check=replay.
	Check *checkJSON `json:"check,omitempty"`
}

type registrationJSON struct {
	Name       string     `json:"name"`
	Version    string     `json:"version,omitempty"`
	Hash       string     `json:"hash,omitempty"`
	Registered *time.Time `json:"registered_at,omitempty"`
}

func registrations(regs []abi.Registration) []registrationJSON {
	var out []registrationJSON
	for _, r := range regs {
		out = append(out, registrationJSON{Name: r.Name, Version: r.Version})
	}
	return out
}

// moduleInfoJSON converts a module registration (store.RegistrationModule) of the caller's
// namespace.
func moduleInfoJSON(m store.ModuleInfo) moduleJSON {
	return moduleJSON{Name: m.Name, Version: m.Version, Hash: m.Hash, Size: m.Size, UploadedAt: timePtr(m.CreatedAt)}
}

// checkModuleName accepts 1 to 128 letters, digits, '-', '_' and '.'.
func checkModuleName(name string) error {
	if !validLabel(name, 128) {
		return errorf(http.StatusBadRequest, CodeInvalidName, "module name %q: want 1 to 128 letters, digits, '-', '_' or '.'", name)
	}
	return nil
}

// checkVersion accepts 1 to 128 letters, digits, '-', '_', '.' and '+' (a version the server
// chooses, "sha256:<hash prefix>", has a ':').
func checkVersion(v string) error {
	if !validLabel(strings.ReplaceAll(v, "+", "_"), 128) {
		return errorf(http.StatusBadRequest, CodeInvalidName, "version %q: want 1 to 128 letters, digits, '-', '_', '.' or '+'", v)
	}
	return nil
}

// hashVersion is the version of a module or orchestration uploaded without one, as
// host.LoadModule names it.
func hashVersion(hash string) string { return "sha256:" + hash[:16] }

// putModule uploads a module: PUT /v1/modules/{name}?version=V[&check=replay].
func (s *Server) putModule(w http.ResponseWriter, r *http.Request, ns string) error {
	name, version := r.PathValue("name"), r.URL.Query().Get("version")
	if err := checkModuleName(name); err != nil {
		return err
	}
	if version != "" {
		if err := checkVersion(version); err != nil {
			return err
		}
	}
	check := r.URL.Query().Get("check")
	if check != "" && check != "replay" {
		return errorf(http.StatusBadRequest, CodeBadRequest, "check=%q: the only check is replay", check)
	}
	if check == "replay" && !replaySupported {
		return errorf(http.StatusNotImplemented, CodeNotImplemented, "check=replay is not available in this build")
	}
	// A declared length over the limit is refused before anything is read; an undeclared one
	// (chunked) is cut at the limit. Either way the connection is closed rather than drained
	// (writeError). The body is read into a buffer that grows with what arrives, never with
	// what is declared (RATIONALE.md, "Why are request bodies read as they arrive?").
	if r.ContentLength > s.cfg.maxModule {
		return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "module of %d bytes is larger than the limit of %d bytes", r.ContentLength, s.cfg.maxModule)
	}
	wasm, err := readRequestBody(r, "the module", s.cfg.maxModule)
	if err != nil {
		return err
	}
	// The upload's deadlines ran from its start: the module's compilation, and the replays of
	// a check, get their own time to be answered in.
	work := s.h.Limits().CompileTime
	if check == "replay" {
		work += time.Duration(s.cfg.replaySample) * s.h.Limits().ReplayTime
	}
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(work + s.cfg.timeouts.Write))
	if len(wasm) == 0 {
		return errorf(http.StatusBadRequest, CodeInvalidModule, "empty body: send the module's bytes")
	}
	// An upload that is only checked keeps nothing compiled; one that is to be registered
	// keeps its compiled module for the instances to come, and forgets it if it is refused.
	var m *host.Module
	var rp *host.Replayer
	if check == "replay" {
		// One compilation serves the description and every replay of the check.
		if rp, err = s.h.Replayer(r.Context(), wasm); err != nil {
			return err
		}
		defer rp.Close()
		m = rp.Module()
	} else if m, err = s.h.CompileModule(r.Context(), wasm); err != nil {
		return err
	}
	stored := false
	if check != "replay" {
		defer func() {
			if !stored {
				s.forget(m.Hash)
			}
		}()
	}
	s.remember(m)
	if version == "" {
		version = hashVersion(m.Hash)
	}
	ctx := r.Context()
	created := true
	switch old, err := s.st.ResolveModule(ctx, ns, store.RegistrationModule, name, version); {
	case err == nil && old.Hash != m.Hash:
		return versionExists(name, version, old.Hash)
	case err == nil:
		created = false
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	out := moduleJSON{Name: name, Version: version, Hash: m.Hash, Size: int64(m.Size), Imports: m.Imports,
		Orchestrations: registrations(m.Orchestrations)}
	if check == "replay" {
		c, err := s.checkReplay(w, r, ns, m, rp)
		if err != nil {
			return err
		}
		out.Check = c
		out.Created = &created
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	// One put stores the bytes with the namespace's orchestrations (each at the guest's own
	// version, or the hash's) and the module's name: all of them or nothing. A version's
	// code is immutable, as in host.LoadModule: an orchestration version registered with
	// other bytes keeps them (Kept); the module's own name and version refuse other bytes.
	regs := make([]store.Registration, 0, len(m.Orchestrations)+1)
	for _, reg := range m.Orchestrations {
		v := reg.Version
		if v == "" {
			v = hashVersion(m.Hash)
		}
		if r := (store.Registration{Kind: store.RegistrationOrchestration, Name: reg.Name, Version: v}); !slices.Contains(regs, r) {
			regs = append(regs, r)
		}
	}
	regs = append(regs, store.Registration{Kind: store.RegistrationModule, Name: name, Version: version})
	res, err := s.st.PutModule(ctx, store.ModulePut{Namespace: ns, Wasm: wasm, Registrations: regs,
		MaxNamespaceBytes: s.h.NamespacePolicy(ns).MaxModuleBytes})
	if errors.Is(err, store.ErrExists) {
		// Another upload of this name and version won the race.
		old, rerr := s.st.ResolveModule(ctx, ns, store.RegistrationModule, name, version)
		if rerr != nil {
			return err
		}
		return versionExists(name, version, old.Hash)
	}
	if err != nil {
		return err
	}
	stored = true
	// The put says whether this upload created the module's version (of concurrent uploads of
	// the same bytes, one did).
	created = slices.Contains(res.Created, store.Registration{Kind: store.RegistrationModule, Name: name, Version: version})
	for _, k := range res.Kept {
		out.Kept = append(out.Kept, registrationJSON{Name: k.Name, Version: guestVersion(k.Version), Hash: k.Hash})
	}
	if s.h.SharedRegistry() {
		// The host shares its registry: uploads are also registered in the default namespace,
		// where instances of every namespace may resolve them.
		if _, err := s.h.LoadModule(ctx, wasm); err != nil {
			return err
		}
	}
	if info, err := s.st.ResolveModule(ctx, ns, store.RegistrationModule, name, version); err == nil {
		out.UploadedAt = timePtr(info.CreatedAt)
	}
	out.Created = &created
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	writeJSON(w, status, out)
	return nil
}

// versionExists is the 409 of an upload under a name and version that has other bytes.
func versionExists(name, version, hash string) error {
	return errorf(http.StatusConflict, CodeVersionExists, "module %s version %s exists with other bytes (sha256 %s); upload the new build under a new version", name, version, hash)
}

// guestVersion is an orchestration's version as its guest declares it: "" for one the
// registry named after the module's hash.
func guestVersion(v string) string {
	if strings.HasPrefix(v, "sha256:") {
		return ""
	}
	return v
}

// forget drops the compiled module of a refused upload from the host's caches, unless some
// namespace has it registered (its instances would compile it again).
func (s *Server) forget(hash string) {
	if mods, err := s.st.ListModules(context.Background(), store.ModuleFilter{Hash: hash}); err == nil && len(mods) == 0 {
		s.h.ForgetModule(hash)
	}
}

// remember caches a module's description by hash.
func (s *Server) remember(m *host.Module) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.modules) >= 1024 {
		clear(s.modules)
	}
	s.modules[m.Hash] = m
}

// describe returns the description of the module with hash, from the cache or its bytes.
func (s *Server) describe(r *http.Request, hash string) (*host.Module, error) {
	s.mu.Lock()
	m := s.modules[hash]
	s.mu.Unlock()
	if m != nil {
		return m, nil
	}
	wasm, err := s.st.Module(r.Context(), hash)
	if err != nil {
		return nil, err
	}
	if m, err = s.h.InspectModule(r.Context(), wasm); err != nil {
		return nil, err
	}
	s.remember(m)
	return m, nil
}

// namespaceModules returns the registrations of kind of namespace ns (name, hash: "" for
// any), newest first.
func (s *Server) namespaceModules(r *http.Request, ns string, kind store.RegistrationKind, name, hash string) ([]store.ModuleInfo, error) {
	return s.st.ListModules(r.Context(), store.ModuleFilter{Namespaces: []string{ns}, Kind: kind, Name: name, Hash: hash})
}

// listModules: GET /v1/modules, every version of every module, newest first.
func (s *Server) listModules(w http.ResponseWriter, r *http.Request, ns string) error {
	mods, err := s.namespaceModules(r, ns, store.RegistrationModule, "", "")
	if err != nil {
		return err
	}
	out := []moduleJSON{}
	for _, m := range mods {
		out = append(out, moduleInfoJSON(m))
	}
	writeJSON(w, http.StatusOK, map[string]any{"modules": out})
	return nil
}

// listModuleVersions: GET /v1/modules/{name}, the versions of a module, newest first.
func (s *Server) listModuleVersions(w http.ResponseWriter, r *http.Request, ns string) error {
	name := r.PathValue("name")
	if err := checkModuleName(name); err != nil {
		return err
	}
	mods, err := s.namespaceModules(r, ns, store.RegistrationModule, name, "")
	if err != nil {
		return err
	}
	if len(mods) == 0 {
		return errorf(http.StatusNotFound, CodeModuleNotFound, "no module %q", name)
	}
	out := []moduleJSON{}
	for _, m := range mods {
		out = append(out, moduleInfoJSON(m))
	}
	writeJSON(w, http.StatusOK, map[string]any{"modules": out})
	return nil
}

// resolveModule returns the registration of module name at version ("latest": the newest).
func (s *Server) resolveModule(r *http.Request, ns, name, version string) (*store.ModuleInfo, error) {
	if err := checkModuleName(name); err != nil {
		return nil, err
	}
	v := version
	if v == "latest" {
		v = ""
	}
	info, err := s.st.ResolveModule(r.Context(), ns, store.RegistrationModule, name, v)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, CodeModuleNotFound, "no module %q version %q", name, version)
	}
	return info, err
}

// getModule: GET /v1/modules/{name}/versions/{version}, with imports and orchestrations.
func (s *Server) getModule(w http.ResponseWriter, r *http.Request, ns string) error {
	info, err := s.resolveModule(r, ns, r.PathValue("name"), r.PathValue("version"))
	if err != nil {
		return err
	}
	m, err := s.describe(r, info.Hash)
	if err != nil {
		return err
	}
	out := moduleInfoJSON(*info)
	out.Imports, out.Orchestrations = m.Imports, registrations(m.Orchestrations)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// deleteModule: DELETE /v1/modules/{name}/versions/{version}. The namespace's orchestration
// registrations of the module's bytes go with it, unless another module version of the
// namespace has the same bytes: one store call deletes them together, or nothing (409
// module_pinned when an unfinished instance of the namespace pins the bytes).
func (s *Server) deleteModule(w http.ResponseWriter, r *http.Request, ns string) error {
	name, version := r.PathValue("name"), r.PathValue("version")
	// A concurrent upload or delete may change the registrations between the read and the
	// delete (ErrNotFound): read them again, a few times.
	for attempt := 0; ; attempt++ {
		info, err := s.resolveModule(r, ns, name, version)
		if err != nil {
			return err
		}
		regs, err := s.moduleRegistrations(r, ns, info)
		if err != nil {
			return err
		}
		err = s.st.DeleteModule(r.Context(), ns, regs)
		if errors.Is(err, store.ErrNotFound) && attempt < 3 {
			continue
		}
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusServiceUnavailable, CodeUnavailable, "module %s version %s kept changing while it was being deleted: retry", name, info.Version)
		}
		if err != nil {
			return err
		}
		// Bytes no namespace registers any more leave the host's caches too.
		s.forget(info.Hash)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// moduleRegistrations returns what deleting the module version info deletes: its own
// registration, and the namespace's orchestration registrations of its bytes unless another
// module version of the namespace has them.
func (s *Server) moduleRegistrations(r *http.Request, ns string, info *store.ModuleInfo) ([]store.Registration, error) {
	regs := []store.Registration{{Kind: store.RegistrationModule, Name: info.Name, Version: info.Version}}
	labels, err := s.namespaceModules(r, ns, store.RegistrationModule, "", info.Hash)
	if err != nil {
		return nil, err
	}
	if len(labels) > 1 {
		return regs, nil // another version of the namespace has the bytes
	}
	orchs, err := s.namespaceModules(r, ns, store.RegistrationOrchestration, "", info.Hash)
	if err != nil {
		return nil, err
	}
	for _, o := range orchs {
		regs = append(regs, store.Registration{Kind: o.Kind, Name: o.Name, Version: o.Version})
	}
	return regs, nil
}

// listOrchestrations: GET /v1/orchestrations, the orchestrations the namespace can start.
func (s *Server) listOrchestrations(w http.ResponseWriter, r *http.Request, ns string) error {
	regs, err := s.namespaceModules(r, ns, store.RegistrationOrchestration, "", "")
	if err != nil {
		return err
	}
	out := []registrationJSON{}
	for _, m := range regs {
		out = append(out, registrationJSON{Name: m.Name, Version: m.Version, Hash: m.Hash, Registered: timePtr(m.CreatedAt)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"orchestrations": out})
	return nil
}
