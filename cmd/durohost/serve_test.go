package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var listening = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

// startServer runs `durohost serve` as a process on a loopback port picked by the system,
// with env added to the environment, and returns it with its URL.
func startServer(t *testing.T, env []string, args ...string) (*process, string) {
	t.Helper()
	p := startProcessEnv(t, env, binary(t), append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	var url string
	waitFor(t, 30*time.Second, "the server to listen", func() bool {
		select {
		case <-p.done:
			t.Fatalf("serve ended: %v", p)
		default:
		}
		if m := listening.FindStringSubmatch(p.stderr.String()); m != nil {
			url = m[1]
			return true
		}
		return false
	})
	return p, url
}

func TestServe(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "serve.json")
	// Namespace a from the file (secret and digest forms, write and read roles), namespace b
	// from the environment.
	if err := os.WriteFile(config, []byte(`{"tokens": [{"namespace": "a", "token": "secret-a"},
		{"namespace": "a", "token_sha256": "`+sha256Hex("secret-a2")+`", "role": "write"},
		{"namespace": "a", "token": "read-a", "role": "read"},
		{"namespace": "a", "token_sha256": "`+sha256Hex("read-a2")+`", "role": "read"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	p, url := startServer(t, []string{envTokens + "=b:secret-b,b:read:b:read"}, "--db", filepath.Join(dir, "s.db"), "--config", config)

	send := func(method, path, token string, body []byte) int {
		req, _ := http.NewRequest(method, url+path, bytes.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	wasm, err := os.ReadFile(watFixture("hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/healthz", "", 200}, {"GET", "/readyz", "", 200}, {"GET", "/v1/openapi.json", "", 200},
		{"GET", "/v1/instances", "", 401}, {"GET", "/v1/instances", "wrong", 401},
		{"GET", "/v1/instances", "secret-a", 200}, {"GET", "/v1/instances", "secret-a2", 200}, {"GET", "/v1/instances", "secret-b", 200},
		{"GET", "/v1/instances", "read-a", 200}, {"GET", "/v1/instances", "read-a2", 200}, {"GET", "/v1/instances", "read:b", 200},
		// Read tokens may not upload; the write token's upload is validated and stored.
		{"PUT", "/v1/modules/hello", "read-a", 403}, {"PUT", "/v1/modules/hello", "read-a2", 403}, {"PUT", "/v1/modules/hello", "read:b", 403},
		{"PUT", "/v1/modules/hello", "secret-a", 201},
	} {
		if got := send(tc.method, tc.path, tc.token, wasm); got != tc.want {
			t.Errorf("%s %s with %q: %d, want %d", tc.method, tc.path, tc.token, got, tc.want)
		}
	}

	// SIGTERM: the server stops and the process exits 0.
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop on SIGTERM: %v", p)
	}
	if code := p.code(); code != 0 || !strings.Contains(p.stderr.String(), "stopped") {
		t.Fatalf("exit code %d: %v", code, p)
	}
}

func TestServeErrors(t *testing.T) {
	t.Setenv(envTokens, "")
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"tokens": [], "colour": "blue"}`), 0o600)
	empty := filepath.Join(dir, "empty.json")
	os.WriteFile(empty, []byte(`{"tokens": []}`), 0o600)
	both := filepath.Join(dir, "both.json")
	os.WriteFile(both, []byte(`{"tokens": [{"namespace": "a", "token": "x", "token_sha256": "`+sha256Hex("x")+`"}]}`), 0o600)
	badNS := filepath.Join(dir, "ns.json")
	os.WriteFile(badNS, []byte(`{"tokens": [{"namespace": "a/b", "token": "x"}]}`), 0o600)
	badRole := filepath.Join(dir, "role.json")
	os.WriteFile(badRole, []byte(`{"tokens": [{"namespace": "a", "token": "x"}, {"namespace": "a", "token": "y", "role": "admin"}]}`), 0o600)
	twoRoles := filepath.Join(dir, "roles.json")
	os.WriteFile(twoRoles, []byte(`{"tokens": [{"namespace": "a", "token": "x"}, {"namespace": "a", "token": "x", "role": "read"}]}`), 0o600)
	db := filepath.Join(dir, "e.db")
	for _, tc := range []struct {
		args    []string
		mention string
	}{
		{[]string{"serve", "--db", db, "--config", badRole}, `tokens[1]: role "admin"`},
		{[]string{"serve", "--db", db, "--config", twoRoles, "--listen", "127.0.0.1:0"}, "has roles write and read"},
		{[]string{"serve", "--db", db, "--config", filepath.Join(dir, "missing.json")}, "missing.json"},
		{[]string{"serve", "--db", db, "--config", bad}, "colour"},
		{[]string{"serve", "--db", db, "--config", empty}, "no tokens"},
		{[]string{"serve", "--db", db, "--config", both}, "not both"},
		{[]string{"serve", "--db", db, "--config", badNS, "--listen", "127.0.0.1:0"}, "a/b"},
		{[]string{"serve", "--db", db}, "DUROHOST_TOKENS"},
		{[]string{"serve", "extra"}, "unexpected argument"},
	} {
		r := runCLI(tc.args...)
		if r.code != exitError || !strings.Contains(r.stderr, tc.mention) {
			t.Errorf("%v: want exit 1 mentioning %q, got %v", tc.args, tc.mention, r)
		}
	}
	// Roles in $DUROHOST_TOKENS: an unknown one is an error that does not show the secret.
	for _, tc := range []struct {
		env, mention string
	}{
		{"a:x:admin", "not a role"},
		{"a:pass:word", "needs an explicit role"},
		{"a::read", "empty token"},
	} {
		t.Setenv(envTokens, tc.env)
		r := runCLI("serve", "--db", db)
		if r.code != exitError || !strings.Contains(r.stderr, envTokens) || !strings.Contains(r.stderr, tc.mention) ||
			strings.Contains(r.stderr, "admin") || strings.Contains(r.stderr, "word") {
			t.Errorf("%s=%s: want exit 1 mentioning %q without the secret, got %v", envTokens, tc.env, tc.mention, r)
		}
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
