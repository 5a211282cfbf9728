package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
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
		op, ok := doc.Paths[rt.path][strings.ToLower(rt.method)]
		if !ok {
			t.Errorf("%s %s is not in openapi.json", rt.method, rt.path)
			continue
		}
		// A route that writes documents the 403 of a read token, and only those.
		var o struct{ Responses map[string]json.RawMessage }
		must(t, json.Unmarshal(op, &o))
		if _, forbidden := o.Responses["403"]; forbidden != rt.writes() {
			t.Errorf("%s %s: openapi.json documents 403 %v, the route writes %v", rt.method, rt.path, forbidden, rt.writes())
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
	read := func(ns, secret string) Token {
		tok := NewToken(ns, secret)
		tok.Role = RoleRead
		return tok
	}
	tests := []struct {
		in   string
		want []Token
	}{
		{"", nil},
		{" a:one, b:two ,", []Token{NewToken("a", "one"), NewToken("b", "two")}},
		{"a:one:read", []Token{read("a", "one")}},
		{"a:one:write,a:two:read", []Token{NewToken("a", "one"), read("a", "two")}},
		{"b:two:three:write", []Token{NewToken("b", "two:three")}},
		{"b:two:three:read", []Token{read("b", "two:three")}},
	}
	for _, tc := range tests {
		got, err := ParseTokens(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseTokens(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	bad := []struct {
		in      string
		unknown bool // the error is ErrUnknownRole
	}{
		{"a", false}, {"a:", false}, {":x", false}, {"a b:x", false}, {"@a:x", false}, {"a::read", false},
		{"a:x:admin", true}, {"a:x:", true}, {"a:x:READ", true},
		{"b:two:secretpart", true}, // a secret holding ':' without a role
	}
	for _, tc := range bad {
		_, err := ParseTokens(tc.in)
		switch {
		case err == nil:
			t.Errorf("ParseTokens(%q) succeeded", tc.in)
		case errors.Is(err, ErrUnknownRole) != tc.unknown:
			t.Errorf("ParseTokens(%q): %v; ErrUnknownRole %v, want %v", tc.in, err, errors.Is(err, ErrUnknownRole), tc.unknown)
		case strings.Contains(err.Error(), "secretpart") || strings.Contains(err.Error(), ":x"):
			t.Errorf("ParseTokens(%q): error %q shows the secret", tc.in, err)
		}
	}
	for _, tc := range []struct {
		in   string
		want Role
	}{{"read", RoleRead}, {"write", RoleWrite}} {
		if r, err := ParseRole(tc.in); err != nil || r != tc.want || r.String() != tc.in {
			t.Errorf("ParseRole(%q) = %v, %v", tc.in, r, err)
		}
	}
	if _, err := ParseRole("admin"); !errors.Is(err, ErrUnknownRole) || !strings.Contains(err.Error(), "admin") {
		t.Errorf("ParseRole(admin): %v", err)
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
