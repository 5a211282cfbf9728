package server

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

func TestModules(t *testing.T) {
	e := newEnv(t)
	hello := wat(t, "hello.wasm")

	m := e.upload(tokA, "hello", "1.0", hello)
	if m["name"] != "hello" || m["version"] != "1.0" || len(m["hash"].(string)) != 64 || int(m["size"].(float64)) != len(hello) || m["created"] != true {
		t.Fatalf("upload = %v", m)
	}
	hash := m["hash"].(string)
	// The same bytes again: 200, nothing created. Other bytes under the version: 409.
	again := e.expect(tokA, "PUT", "/v1/modules/hello?version=1.0", hello, http.StatusOK, "").obj(t)
	if again["created"] != false {
		t.Fatalf("second upload = %v", again)
	}
	e.expect(tokA, "PUT", "/v1/modules/hello?version=1.0", wat(t, "calls.wasm"), http.StatusConflict, CodeVersionExists)
	// Without a version: the hash names it.
	v2 := e.upload(tokA, "calls", "", wat(t, "calls.wasm"))
	if !strings.HasPrefix(v2["version"].(string), "sha256:") {
		t.Fatalf("version = %v", v2["version"])
	}

	list := e.expect(tokA, "GET", "/v1/modules", nil, http.StatusOK, "").obj(t)["modules"].([]any)
	if len(list) != 2 {
		t.Fatalf("modules = %v", list)
	}
	versions := e.expect(tokA, "GET", "/v1/modules/hello", nil, http.StatusOK, "").obj(t)["modules"].([]any)
	if len(versions) != 1 || versions[0].(map[string]any)["version"] != "1.0" {
		t.Fatalf("versions = %v", versions)
	}
	for _, v := range []string{"1.0", "latest"} {
		meta := e.expect(tokA, "GET", "/v1/modules/hello/versions/"+v, nil, http.StatusOK, "").obj(t)
		imports := meta["imports"].([]any)
		orchs := meta["orchestrations"].([]any)
		if meta["hash"] != hash || meta["uploaded_at"] == nil || !slices.Contains(imports, any("durohost_v1.schedule")) ||
			len(orchs) != 1 || orchs[0].(map[string]any)["name"] != "wat_hello" {
			t.Fatalf("metadata = %v", meta)
		}
	}
	orchs := e.expect(tokA, "GET", "/v1/orchestrations", nil, http.StatusOK, "").obj(t)["orchestrations"].([]any)
	if len(orchs) != 2 {
		t.Fatalf("orchestrations = %v", orchs)
	}
	e.expect(tokA, "GET", "/v1/modules/nope", nil, http.StatusNotFound, CodeModuleNotFound)
	e.expect(tokA, "GET", "/v1/modules/hello/versions/9", nil, http.StatusNotFound, CodeModuleNotFound)

	// An instance pins the module: while it runs (its activity blocks), the version cannot be
	// deleted.
	must(t, e.h.RegisterActivity("greet", e.block))
	id := e.start(tokA, "wat_hello", "pinning", nil)
	e.waitFor(tokA, id, "running", func(m map[string]any) bool { return m["status"] == "running" })
	e.expect(tokA, "DELETE", "/v1/modules/hello/versions/1.0", nil, http.StatusConflict, CodeModulePinned)
	close(e.release)
	if out := e.wait(tokA, id); out["status"] != "completed" || out["output"] != "released" || out["module_hash"] != hash {
		t.Fatalf("instance = %v", out)
	}
	e.expect(tokA, "DELETE", "/v1/modules/hello/versions/1.0", nil, http.StatusNoContent, "")
	e.expect(tokA, "GET", "/v1/modules/hello/versions/1.0", nil, http.StatusNotFound, CodeModuleNotFound)
	e.expect(tokA, "DELETE", "/v1/modules/hello/versions/1.0", nil, http.StatusNotFound, CodeModuleNotFound)
	e.expect(tokA, "POST", "/v1/instances", map[string]any{"name": "wat_hello"}, http.StatusNotFound, CodeUnknownOrchestration)
	// The finished instance keeps its history.
	if k := e.historyKinds(tokA, id); !slices.Contains(k, "activity_completed") {
		t.Fatalf("history kinds = %v", k)
	}
}

func TestUploadRejects(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name    string
		path    string
		body    []byte
		status  int
		code    string
		mention string
	}{
		{"garbage", "/v1/modules/x", []byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6}, 400, CodeInvalidModule, "not a WebAssembly binary"},
		{"text file", "/v1/modules/x", wat(t, "hello.wat"), 400, CodeInvalidModule, "not a WebAssembly binary"},
		{"truncated module", "/v1/modules/x", wat(t, "hello.wasm")[:40], 400, CodeInvalidModule, ""},
		{"forbidden import", "/v1/modules/x", wat(t, "forbidden.wasm"), 400, CodeInvalidModule, "env.exit"},
		{"no exports", "/v1/modules/x", wat(t, "noexports.wasm"), 400, CodeInvalidModule, "does not export"},
		{"empty body", "/v1/modules/x", nil, 400, CodeInvalidModule, "empty"},
		{"bad name", "/v1/modules/a%20b", wat(t, "hello.wasm"), 400, CodeInvalidName, ""},
		{"bad version", "/v1/modules/x?version=a%2Fb", wat(t, "hello.wasm"), 400, CodeInvalidName, ""},
		{"bad check", "/v1/modules/x?check=lint", wat(t, "hello.wasm"), 400, CodeBadRequest, "replay"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.expect(tokA, "PUT", tc.path, tc.body, tc.status, tc.code)
			if !strings.Contains(string(r.body), tc.mention) {
				t.Fatalf("body %s does not mention %q", r.body, tc.mention)
			}
		})
	}
	if list := e.expect(tokA, "GET", "/v1/modules", nil, http.StatusOK, "").obj(t)["modules"].([]any); len(list) != 0 {
		t.Fatalf("modules after rejected uploads = %v", list)
	}
}

// endless is a body of n bytes that counts what was read from it; producing it costs
// nothing, buffering it would cost n bytes.
type endless struct {
	n    int64
	read atomic.Int64
}

func (r *endless) Read(p []byte) (int, error) {
	left := r.n - r.read.Load()
	if left <= 0 {
		return 0, io.EOF
	}
	k := int64(len(p))
	if k > left {
		k = left
	}
	copy(p, "\x00asm")
	r.read.Add(k)
	return int(k), nil
}

func TestUploadTooLarge(t *testing.T) {
	// The chunked case uses a limit of 8 MiB so that the test does not stream 64 MiB.
	e := newEnv(t)
	small := newEnv(t, WithMaxModuleSize(8<<20))
	const size = 100 << 20
	for _, declared := range []bool{true, false} {
		name := "chunked"
		if declared {
			name = "content-length"
		}
		t.Run(name, func(t *testing.T) {
			body := &endless{n: size}
			url := e.url
			if !declared {
				url = small.url
			}
			req, err := http.NewRequest("PUT", url+"/v1/modules/big", body)
			must(t, err)
			req.Header.Set("Authorization", "Bearer "+tokA)
			if declared {
				req.ContentLength = size
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				// The server may close the connection before the client has sent the body.
				if !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "broken pipe") && !strings.Contains(err.Error(), "connection reset") {
					t.Fatal(err)
				}
				t.Fatalf("no response: %v (read %d bytes)", err, body.read.Load())
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			r := reply{resp.StatusCode, data, resp.Header}
			if r.status != http.StatusRequestEntityTooLarge || r.code(t) != CodeTooLarge {
				t.Fatalf("status %d, body %s", r.status, data)
			}
			// A declared length is refused before the body is read (what the client sent sits in
			// socket buffers); an undeclared one is cut at the limit. Both far short of 100 MiB.
			limit := int64(16 << 20)
			if !declared {
				limit = 8<<20 + 16<<20
			}
			if n := body.read.Load(); n > limit {
				t.Fatalf("the client sent %d bytes, more than %d: the server read the body", n, limit)
			}
		})
	}
}
