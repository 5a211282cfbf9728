package server

import (
	"bytes"
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

func moduleInfoJSON(ns string, m store.ModuleInfo) moduleJSON {
	name, _ := strings.CutPrefix(m.Name, "@"+ns+"/")
	return moduleJSON{Name: name, Version: m.Version, Hash: m.Hash, Size: m.Size, UploadedAt: timePtr(m.CreatedAt)}
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
	// (chunked) is cut at the limit by MaxBytesReader. Either way the connection is closed
	// rather than drained.
	if r.ContentLength > s.cfg.maxModule {
		w.Header().Set("Connection", "close")
		return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "module of %d bytes is larger than the limit of %d bytes", r.ContentLength, s.cfg.maxModule)
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, s.cfg.maxModule)); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "module is larger than the limit of %d bytes", s.cfg.maxModule)
		}
		return errorf(http.StatusBadRequest, CodeBadRequest, "read module: %v", err)
	}
	wasm := buf.Bytes()
	if len(wasm) == 0 {
		return errorf(http.StatusBadRequest, CodeInvalidModule, "empty body: send the module's bytes")
	}
	m, err := s.h.InspectModule(r.Context(), wasm)
	if err != nil {
		return err
	}
	s.remember(m)
	if version == "" {
		version = hashVersion(m.Hash)
	}
	ctx := r.Context()
	created := true
	switch old, err := s.st.ResolveModule(ctx, moduleKey(ns, name), version); {
	case err == nil && old.Hash != m.Hash:
		return errorf(http.StatusConflict, CodeVersionExists, "module %s version %s exists with other bytes (sha256 %s); upload the new build under a new version", name, version, old.Hash)
	case err == nil:
		created = false
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	out := moduleJSON{Name: name, Version: version, Hash: m.Hash, Size: int64(m.Size), Imports: m.Imports,
		Orchestrations: registrations(m.Orchestrations)}
	if check == "replay" {
		c, err := s.checkReplay(r, ns, m, wasm)
		if err != nil {
			return err
		}
		out.Check = c
		out.Created = &created
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	regs := slices.Clone(m.Orchestrations)
	for _, reg := range regs {
		v := reg.Version
		if v == "" {
			v = hashVersion(m.Hash)
		}
		if _, err := s.st.PutModule(ctx, scoped(ns, reg.Name), v, wasm); err != nil {
			if errors.Is(err, store.ErrInvalid) && reg.Version != "" {
				// A version's code is immutable, as in host.LoadModule.
				out.Kept = append(out.Kept, registrationJSON{Name: reg.Name, Version: reg.Version})
				continue
			}
			return err
		}
	}
	if _, err := s.st.PutModule(ctx, moduleKey(ns, name), version, wasm); err != nil {
		return err
	}
	if s.cfg.shared {
		if _, err := s.h.LoadModule(ctx, wasm); err != nil {
			return err
		}
	}
	if info, err := s.st.ResolveModule(ctx, moduleKey(ns, name), version); err == nil {
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

// namespaceModules returns the registrations of the namespace whose store name starts with
// prefix, newest first.
func (s *Server) namespaceModules(r *http.Request, prefix string) ([]store.ModuleInfo, error) {
	all, err := s.st.ListModules(r.Context(), "")
	if err != nil {
		return nil, err
	}
	var out []store.ModuleInfo
	for _, m := range all {
		if strings.HasPrefix(m.Name, prefix) {
			out = append(out, m)
		}
	}
	return out, nil
}

// listModules: GET /v1/modules, every version of every module, newest first.
func (s *Server) listModules(w http.ResponseWriter, r *http.Request, ns string) error {
	mods, err := s.namespaceModules(r, "@"+ns+"/")
	if err != nil {
		return err
	}
	out := []moduleJSON{}
	for _, m := range mods {
		out = append(out, moduleInfoJSON(ns, m))
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
	mods, err := s.st.ListModules(r.Context(), moduleKey(ns, name))
	if err != nil {
		return err
	}
	if len(mods) == 0 {
		return errorf(http.StatusNotFound, CodeModuleNotFound, "no module %q", name)
	}
	out := []moduleJSON{}
	for _, m := range mods {
		out = append(out, moduleInfoJSON(ns, m))
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
	info, err := s.st.ResolveModule(r.Context(), moduleKey(ns, name), v)
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
	out := moduleInfoJSON(ns, *info)
	out.Imports, out.Orchestrations = m.Imports, registrations(m.Orchestrations)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// deleteModule: DELETE /v1/modules/{name}/versions/{version}. The namespace's orchestration
// registrations of the module's bytes go with it, unless another module version of the
// namespace has the same bytes. 409 module_pinned when an unfinished instance pins them.
func (s *Server) deleteModule(w http.ResponseWriter, r *http.Request, ns string) error {
	name := r.PathValue("name")
	info, err := s.resolveModule(r, ns, name, r.PathValue("version"))
	if err != nil {
		return err
	}
	labels, err := s.namespaceModules(r, "@"+ns+"/")
	if err != nil {
		return err
	}
	shared := false
	for _, l := range labels {
		if l.Hash == info.Hash && (l.Name != info.Name || l.Version != info.Version) {
			shared = true
		}
	}
	ctx := r.Context()
	if !shared {
		orchs, err := s.namespaceModules(r, ns+"/")
		if err != nil {
			return err
		}
		for _, o := range orchs {
			if o.Hash != info.Hash {
				continue
			}
			if err := s.st.DeleteModule(ctx, o.Name, o.Version); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
	}
	if err := s.st.DeleteModule(ctx, info.Name, info.Version); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listOrchestrations: GET /v1/orchestrations, the orchestrations the namespace can start.
func (s *Server) listOrchestrations(w http.ResponseWriter, r *http.Request, ns string) error {
	regs, err := s.namespaceModules(r, ns+"/")
	if err != nil {
		return err
	}
	out := []registrationJSON{}
	for _, m := range regs {
		out = append(out, registrationJSON{Name: mustStrip(ns, m.Name), Version: m.Version, Hash: m.Hash, Registered: timePtr(m.CreatedAt)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"orchestrations": out})
	return nil
}
