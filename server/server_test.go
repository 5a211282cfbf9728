package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestHealthAndOpenAPI(t *testing.T) {
	e := newEnv(t)
	e.expect("", "GET", "/healthz", nil, http.StatusOK, "")
	e.expect("", "GET", "/readyz", nil, http.StatusOK, "")
	r := e.expect("", "GET", "/v1/openapi.json", nil, http.StatusOK, "")
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	must(t, json.Unmarshal(r.body, &doc))
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi = %q", doc.OpenAPI)
	}
	// Every endpoint is documented, and every documented endpoint exists.
	documented := 0
	for _, p := range doc.Paths {
		documented += len(p)
	}
	for _, rt := range e.srv.api() {
		if _, ok := doc.Paths[rt.path][strings.ToLower(rt.method)]; !ok {
			t.Errorf("%s %s is not in openapi.json", rt.method, rt.path)
		}
	}
	if want := len(e.srv.api()) + 3; documented != want {
		t.Errorf("openapi.json documents %d operations, the server has %d", documented, want)
	}
	// Unknown endpoints answer a JSON 404 (after authentication).
	e.expect(tokA, "GET", "/v1/nothing", nil, http.StatusNotFound, CodeNotFound)
}

func TestAuth(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, header string
	}{
		{"no header", ""},
		{"unknown token", "Bearer nope"},
		{"basic auth", "Basic " + tokA},
		{"empty bearer", "Bearer "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", e.url+"/v1/instances", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			must(t, err)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatalf("status %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	e.expect(tokA, "GET", "/v1/instances", nil, http.StatusOK, "")
	if _, err := New(e.h, e.st); err == nil {
		t.Fatal("New without tokens succeeded")
	}
	if _, err := New(e.h, e.st, WithTokens(NewToken("a/b", "x"))); err == nil {
		t.Fatal("New with a namespace holding '/' succeeded")
	}
}

func TestParseTokens(t *testing.T) {
	toks, err := ParseTokens(" a:one, b:two:three ,")
	must(t, err)
	if len(toks) != 2 || toks[0] != NewToken("a", "one") || toks[1] != NewToken("b", "two:three") {
		t.Fatalf("tokens = %v", toks)
	}
	for _, bad := range []string{"a", "a:", ":x", "a b:x", "@a:x"} {
		if _, err := ParseTokens(bad); err == nil {
			t.Errorf("ParseTokens(%q) succeeded", bad)
		} else if strings.Contains(err.Error(), "x") && strings.Contains(bad, ":x") && !strings.HasPrefix(bad, ":") && strings.Contains(err.Error(), ":x") {
			t.Errorf("ParseTokens(%q): error %q shows the secret", bad, err)
		}
	}
	h := NewToken("a", "one").Hash
	ht, err := HashedToken("a", strings.ToUpper(hexOf(h[:])))
	if err != nil || ht != NewToken("a", "one") {
		t.Fatalf("HashedToken = %v, %v", ht, err)
	}
	if _, err := HashedToken("a", "abc"); err == nil {
		t.Fatal("HashedToken accepted a short hash")
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
