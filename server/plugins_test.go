package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/durohost/durohost/conformance"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store/sqlite"
)

func pluginFixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "wasm-examples", "plugins", path))
	must(t, err)
	return b
}

// TestPlugins: a namespace uploads, lists, describes and deletes its plugins; its
// orchestrations call them; another namespace sees none of them and cannot call them.
func TestPlugins(t *testing.T) {
	e := newEnv(t)
	kernel := pluginFixture(t, "wat/kernel.wasm")
	put := e.expect(tokA, "PUT", "/v1/plugins/kernel?version=1&allow_host=api.example.org&config=mode=fast&timeout=2s&memory_pages=16", kernel, http.StatusCreated, "").obj(t)
	if put["created"] != true || put["version"] != "1" || put["timeout"] != "2s" || put["memory_pages"] != 16.0 ||
		!strings.Contains(asJSON(t, put["activities"]), `"kernel.echo"`) ||
		asJSON(t, put["config"]) != `{"mode":"fast"}` || asJSON(t, put["allowed_hosts"]) != `["api.example.org"]` {
		t.Fatalf("upload: %v", put)
	}
	again := e.expect(tokA, "PUT", "/v1/plugins/kernel?version=1&allow_host=api.example.org&config=mode=fast&timeout=2s&memory_pages=16", kernel, http.StatusOK, "").obj(t)
	if again["created"] != false {
		t.Fatalf("the same upload again: %v", again)
	}
	e.expect(tokA, "PUT", "/v1/plugins/kernel?version=1", kernel, http.StatusConflict, CodeVersionExists)
	e.expect(tokA, "PUT", "/v1/plugins/kernel?version=2", pluginFixture(t, "assemblyscript/text.wasm"), http.StatusCreated, "")

	list := e.expect(tokA, "GET", "/v1/plugins", nil, http.StatusOK, "").obj(t)["plugins"].([]any)
	if len(list) != 2 || list[0].(map[string]any)["version"] != "2" {
		t.Fatalf("list (newest first): %v", list)
	}
	if got := e.expect(tokA, "GET", "/v1/plugins/kernel/versions/1", nil, http.StatusOK, "").obj(t)["sha256"]; got != put["sha256"] {
		t.Fatalf("version 1's hash %v, want %v", got, put["sha256"])
	}
	e.expect(tokB, "GET", "/v1/plugins/kernel/versions/1", nil, http.StatusNotFound, CodePluginNotFound)
	e.expect(tokB, "GET", "/v1/plugins/kernel", nil, http.StatusNotFound, CodePluginNotFound)
	if n := len(e.expect(tokB, "GET", "/v1/plugins", nil, http.StatusOK, "").obj(t)["plugins"].([]any)); n != 0 {
		t.Fatalf("namespace b lists %d plugins", n)
	}

	// Orchestrations of a call the plugin (its newest version, text, has upper); b's cannot.
	for _, tok := range []string{tokA, tokB} {
		e.expect(tok, "PUT", "/v1/modules/guest", goGuest(t), http.StatusCreated, "")
	}
	start := func(tok, id string) map[string]any {
		in := map[string]any{"activity": "kernel.upper", "input": "plugin", "catch": true}
		e.expect(tok, "POST", "/v1/instances", map[string]any{"name": "sc_call", "id": id, "input": in}, http.StatusCreated, "")
		return e.expect(tok, "GET", "/v1/instances/"+id+"/wait?timeout=30s", nil, http.StatusOK, "").obj(t)
	}
	if got := start(tokA, "p1"); got["status"] != "completed" || asJSON(t, got["output"]) != `"PLUGIN"` {
		t.Fatalf("a calling its plugin: %v", got)
	}
	if got := start(tokB, "p1"); got["status"] != "failed" || !strings.Contains(asJSON(t, got["failure"]), "DH-UNREGISTERED-001") {
		t.Fatalf("b calling a's plugin: %v", got)
	}

	e.expect(tokB, "DELETE", "/v1/plugins/kernel", nil, http.StatusNotFound, CodePluginNotFound)
	if n := e.expect(tokA, "DELETE", "/v1/plugins/kernel/versions/2", nil, http.StatusOK, "").obj(t)["deleted"]; n != 1.0 {
		t.Fatalf("deleted %v versions", n)
	}
	if n := e.expect(tokA, "DELETE", "/v1/plugins/kernel", nil, http.StatusOK, "").obj(t)["deleted"]; n != 1.0 {
		t.Fatalf("deleted %v versions", n)
	}
	e.expect(tokA, "GET", "/v1/plugins/kernel", nil, http.StatusNotFound, CodePluginNotFound)
}

// TestPluginUploadErrors: what cannot be a plugin is refused with the reason.
func TestPluginUploadErrors(t *testing.T) {
	e := newEnv(t)
	kernel := pluginFixture(t, "wat/kernel.wasm")
	tests := []struct {
		name, path string
		body       []byte
		status     int
		code       string
	}{
		{"bad name", "/v1/plugins/a.b", kernel, 400, CodeInvalidName},
		{"bad version", "/v1/plugins/k?version=a%20b", kernel, 400, CodeInvalidName},
		{"bad config", "/v1/plugins/k?config=novalue", kernel, 400, CodeBadRequest},
		{"bad timeout", "/v1/plugins/k?timeout=soon", kernel, 400, CodeBadRequest},
		{"bad pages", "/v1/plugins/k?memory_pages=-1", kernel, 400, CodeBadRequest},
		{"bad wasi", "/v1/plugins/k?wasi=yes", kernel, 400, CodeBadRequest},
		{"bad host", "/v1/plugins/k?allow_host=http://x.org", kernel, 400, CodeInvalidPlugin},
		{"empty", "/v1/plugins/k", nil, 400, CodeInvalidPlugin},
		{"orchestration module", "/v1/plugins/k", wat(t, "hello.wasm"), 400, CodeInvalidPlugin},
		{"output limit beyond 31 bits", "/v1/plugins/k?max_output=99999999999", kernel, 400, CodeBadRequest},
		{"output limit beyond the payload limit", "/v1/plugins/k?max_output=999999999", kernel, 400, CodeInvalidPlugin},
		{"memory beyond the host's limit", "/v1/plugins/k?memory_pages=5000", kernel, 400, CodeInvalidPlugin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.expect(tokA, "PUT", tt.path, tt.body, tt.status, tt.code)
		})
	}
	t.Run("too large", func(t *testing.T) {
		small := newEnv(t, WithMaxModuleSize(int64(len(kernel)-1)))
		small.expect(tokA, "PUT", "/v1/plugins/k", kernel, http.StatusRequestEntityTooLarge, CodeTooLarge)
	})
}

// TestPluginsWithoutPluginStore: a server whose store does not keep plugins answers uploads
// 501, and lists none.
func TestPluginsWithoutPluginStore(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "core.db"))
	must(t, err)
	defer st.Close()
	core := conformance.CoreOnly(st)
	h, err := host.New(core)
	must(t, err)
	defer h.Stop(context.Background())
	srv, err := New(h, core, WithTokens(NewToken("a", tokA)))
	must(t, err)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	e := &env{t: t, url: ts.URL}
	e.expect(tokA, "PUT", "/v1/plugins/kernel", pluginFixture(t, "wat/kernel.wasm"), http.StatusNotImplemented, CodeNotImplemented)
	if n := len(e.expect(tokA, "GET", "/v1/plugins", nil, http.StatusOK, "").obj(t)["plugins"].([]any)); n != 0 {
		t.Fatalf("%d plugins listed", n)
	}
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err)
	return string(b)
}

// TestPluginConfigHiddenFromReadTokens: a plugin's config often holds its credentials: a read
// token of the namespace sees its keys, not their values, in the list and the description;
// a write token sees them.
func TestPluginConfigHiddenFromReadTokens(t *testing.T) {
	ro := NewToken("a", tokARead)
	ro.Role = RoleRead
	e := newEnv(t, WithTokens(ro))
	e.expect(tokA, "PUT", "/v1/plugins/kernel?version=1&config=api_key=s3cret", pluginFixture(t, "wat/kernel.wasm"), http.StatusCreated, "")
	for _, path := range []string{"/v1/plugins", "/v1/plugins/kernel", "/v1/plugins/kernel/versions/1"} {
		body := asJSON(t, e.expect(tokARead, "GET", path, nil, http.StatusOK, "").obj(t))
		if strings.Contains(body, "s3cret") || !strings.Contains(body, `"api_key":"`+hiddenConfig+`"`) {
			t.Errorf("GET %s with a read token: %s", path, body)
		}
		if body := asJSON(t, e.expect(tokA, "GET", path, nil, http.StatusOK, "").obj(t)); !strings.Contains(body, `"api_key":"s3cret"`) {
			t.Errorf("GET %s with a write token: %s", path, body)
		}
	}
}
