package server

import (
	"errors"

	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/durohost/durohost/host"
)

// Error codes of the plugin endpoints.
const (
	CodeInvalidPlugin  = "invalid_plugin"   // 400: the bytes or settings cannot make a plugin
	CodePluginNotFound = "plugin_not_found" // 404: no such plugin or version in the namespace
)

// pluginJSON is a plugin version in responses.
type pluginJSON struct {
	Name            string            `json:"name"`
	Version         string            `json:"version"`
	Hash            string            `json:"sha256"`
	Size            int64             `json:"size"`
	Functions       []string          `json:"functions"`
	Activities      []string          `json:"activities"`
	AllowedHosts    []string          `json:"allowed_hosts"`
	Config          map[string]string `json:"config,omitempty"`
	MemoryPages     uint32            `json:"memory_pages"`
	Timeout         string            `json:"timeout"`
	MaxOutput       int               `json:"max_output"`
	MaxHTTPResponse int64             `json:"max_http_response"`
	WASI            bool              `json:"wasi"`
	UploadedAt      *time.Time        `json:"uploaded_at,omitempty"`
	// Created is false when the same bytes and settings were already uploaded under this
	// name and version (PUT only).
	Created *bool `json:"created,omitempty"`
}

// hiddenConfig replaces the values of a plugin's config for a read token: config often holds
// the plugin's credentials, which reading the namespace must not give away.
const hiddenConfig = "(hidden from read tokens)"

// pluginOf describes p to the caller of r: a read token sees its config's keys, not their
// values.
func pluginOf(r *http.Request, p *host.PluginInfo) pluginJSON {
	config := p.Config
	if roleOf(r) == RoleRead && len(config) > 0 {
		config = make(map[string]string, len(p.Config))
		for k := range p.Config {
			config[k] = hiddenConfig
		}
	}
	hosts := p.AllowedHosts
	if hosts == nil {
		hosts = []string{}
	}
	return pluginJSON{Name: p.Name, Version: p.Version, Hash: p.Hash, Size: p.Size, Functions: p.Functions,
		Activities: p.Activities(), AllowedHosts: hosts, Config: config, MemoryPages: p.MemoryPages,
		Timeout: p.Timeout.String(), MaxOutput: p.MaxOutput, MaxHTTPResponse: p.MaxHTTPResponse, WASI: p.WASI,
		UploadedAt: timePtr(p.CreatedAt)}
}

// pluginError maps the host's plugin errors to the API's (the others to errorOf's).
func pluginError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, host.ErrInvalidPlugin):
		return errorf(http.StatusBadRequest, CodeInvalidPlugin, "%v", err)
	case errors.Is(err, host.ErrPluginExists):
		return errorf(http.StatusConflict, CodeVersionExists, "%v; upload the new build or settings under a new version", err)
	case errors.Is(err, host.ErrUnknownPlugin):
		return errorf(http.StatusNotFound, CodePluginNotFound, "%v", err)
	case errors.Is(err, host.ErrNoPluginStore):
		return errorf(http.StatusNotImplemented, CodeNotImplemented, "this server's store does not keep plugins")
	}
	return err
}

// pluginSpec reads a plugin upload's settings from its query: version, allow_host
// (repeated), config (repeated, KEY=VALUE), memory_pages, timeout, max_output,
// max_http_response, wasi.
func pluginSpec(r *http.Request, ns string) (host.PluginSpec, error) {
	q := r.URL.Query()
	spec := host.PluginSpec{Name: r.PathValue("name"), Version: q.Get("version"), Namespace: ns, AllowedHosts: q["allow_host"]}
	if err := host.CheckPluginName(spec.Name); err != nil {
		return spec, errorf(http.StatusBadRequest, CodeInvalidName, "%v", err)
	}
	if spec.Version != "" {
		if err := checkVersion(spec.Version); err != nil {
			return spec, err
		}
	}
	for _, kv := range q["config"] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return spec, errorf(http.StatusBadRequest, CodeBadRequest, "config=%q: want KEY=VALUE", kv)
		}
		if spec.Config == nil {
			spec.Config = map[string]string{}
		}
		spec.Config[k] = v
	}
	num := func(name string, bits int, set func(uint64)) error {
		if s := q.Get(name); s != "" {
			n, err := strconv.ParseUint(s, 10, bits)
			if err != nil {
				return errorf(http.StatusBadRequest, CodeBadRequest, "%s=%q: want a whole number", name, s)
			}
			set(n)
		}
		return nil
	}
	for _, err := range []error{
		num("memory_pages", 32, func(n uint64) { spec.MemoryPages = uint32(n) }),
		num("max_output", 31, func(n uint64) { spec.MaxOutput = int(n) }),
		num("max_http_response", 62, func(n uint64) { spec.MaxHTTPResponse = int64(n) }),
	} {
		if err != nil {
			return spec, err
		}
	}
	if s := q.Get("timeout"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return spec, errorf(http.StatusBadRequest, CodeBadRequest, "timeout=%q: want a positive duration such as 30s", s)
		}
		spec.Timeout = d
	}
	switch s := q.Get("wasi"); s {
	case "", "false":
	case "true":
		spec.WASI = true
	default:
		return spec, errorf(http.StatusBadRequest, CodeBadRequest, "wasi=%q: want true or false", s)
	}
	return spec, nil
}

// putPlugin uploads a plugin: PUT /v1/plugins/{name}?version=V&allow_host=H&config=K=V...
func (s *Server) putPlugin(w http.ResponseWriter, r *http.Request, ns string) error {
	spec, err := pluginSpec(r, ns)
	if err != nil {
		return err
	}
	// As a module upload: the body may take Timeouts.Upload to arrive, and the plugin its
	// compilation time to be answered.
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(s.cfg.timeouts.Upload))
	if r.ContentLength > s.cfg.maxModule {
		return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "plugin of %d bytes is larger than the limit of %d bytes", r.ContentLength, s.cfg.maxModule)
	}
	wasm, err := readRequestBody(r, "the plugin", s.cfg.maxModule)
	if err != nil {
		return err
	}
	if len(wasm) == 0 {
		return errorf(http.StatusBadRequest, CodeInvalidPlugin, "empty body: send the plugin's bytes")
	}
	rc.SetWriteDeadline(time.Now().Add(s.h.Limits().CompileTime + s.cfg.timeouts.Write))
	info, created, err := s.h.PutPlugin(r.Context(), wasm, spec, s.h.NamespacePolicy(ns).MaxModuleBytes)
	if err != nil {
		return pluginError(err)
	}
	out := pluginOf(r, info)
	out.Created = &created
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, out)
	return nil
}

// listPlugins lists the namespace's plugins, every version, newest first: GET /v1/plugins.
func (s *Server) listPlugins(w http.ResponseWriter, r *http.Request, ns string) error {
	return s.writePlugins(w, r, ns, "")
}

// listPluginVersions lists the versions of one plugin, newest first: GET /v1/plugins/{name}.
func (s *Server) listPluginVersions(w http.ResponseWriter, r *http.Request, ns string) error {
	return s.writePlugins(w, r, ns, r.PathValue("name"))
}

func (s *Server) writePlugins(w http.ResponseWriter, r *http.Request, ns, name string) error {
	list, err := s.h.Plugins(r.Context(), ns)
	if err != nil {
		return err
	}
	out := []pluginJSON{}
	for i := range list {
		if name == "" || list[i].Name == name {
			out = append(out, pluginOf(r, &list[i]))
		}
	}
	if name != "" && len(out) == 0 {
		return errorf(http.StatusNotFound, CodePluginNotFound, "no plugin %q", name)
	}
	writeJSON(w, http.StatusOK, map[string]any{"plugins": out})
	return nil
}

// getPlugin describes one version: GET /v1/plugins/{name}/versions/{version}.
func (s *Server) getPlugin(w http.ResponseWriter, r *http.Request, ns string) error {
	info, err := s.h.Plugin(r.Context(), ns, r.PathValue("name"), r.PathValue("version"))
	if err != nil {
		return pluginError(err)
	}
	writeJSON(w, http.StatusOK, pluginOf(r, info))
	return nil
}

// deletePlugin deletes one version (DELETE /v1/plugins/{name}/versions/{version}) or every
// version (DELETE /v1/plugins/{name}) of a plugin.
func (s *Server) deletePlugin(w http.ResponseWriter, r *http.Request, ns string) error {
	name, version := r.PathValue("name"), r.PathValue("version")
	n, err := s.h.DeletePlugin(r.Context(), ns, name, version)
	if err != nil {
		return pluginError(err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": n, "name": name})
	return nil
}

// pluginRoutes are the plugin endpoints (see api).
func (s *Server) pluginRoutes() []route {
	return []route{
		{"PUT", "/v1/plugins/{name}", s.putPlugin},
		{"GET", "/v1/plugins", s.listPlugins},
		{"GET", "/v1/plugins/{name}", s.listPluginVersions},
		{"GET", "/v1/plugins/{name}/versions/{version}", s.getPlugin},
		{"DELETE", "/v1/plugins/{name}", s.deletePlugin},
		{"DELETE", "/v1/plugins/{name}/versions/{version}", s.deletePlugin},
	}
}
