package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store/sqlite"
)

// Tokens of the test servers: namespace "a" and namespace "b".
const (
	tokA = "token-of-a"
	tokB = "token-of-b"
)

// cacheDir holds compiled modules for every host of the package's tests.
var cacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "durohost-server-test-")
	if err != nil {
		panic(err)
	}
	cacheDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is a server on a loopback port over a host and an SQLite store.
type env struct {
	t       *testing.T
	url     string
	srv     *Server
	h       *host.Host
	st      *sqlite.Store
	release chan struct{} // closing it lets the blocking activities return
	// block is an activity that returns "released" when release is closed.
	block host.ActivityFunc
	close func() // stops the server and the host, closes the store (once)
}

// envConfig configures newEnvWith.
type envConfig struct {
	db       string        // the database (default: a new one)
	stopped  bool          // do not start the host: no turn runs until e.h.Start()
	hostOpts []host.Option // more options of the host
}

// newEnv is a server over a started host and a new database, with the options.
func newEnv(t *testing.T, opts ...Option) *env { return newEnvWith(t, envConfig{}, opts...) }

func newEnvWith(t *testing.T, ec envConfig, opts ...Option) *env {
	t.Helper()
	if ec.db == "" {
		ec.db = filepath.Join(t.TempDir(), "s.db")
	}
	st, err := sqlite.Open(ec.db)
	must(t, err)
	h, err := host.New(st, append([]host.Option{host.WithCompilationCache(cacheDir), host.WithLockTimeout(5 * time.Second)}, ec.hostOpts...)...)
	must(t, err)
	e := &env{t: t, h: h, st: st, release: make(chan struct{})}
	greet := func(_ context.Context, in []byte) ([]byte, error) {
		var s string
		json.Unmarshal(in, &s)
		return json.Marshal("Hello, " + s + "!")
	}
	// block returns when the test releases it (or the host stops): it keeps instances open.
	e.block = func(ctx context.Context, in []byte) ([]byte, error) {
		select {
		case <-e.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return []byte(`"released"`), nil
	}
	must(t, h.RegisterActivity("greet", greet))
	must(t, h.RegisterActivity("step", func(_ context.Context, in []byte) ([]byte, error) { return []byte(`"step-` + string(in) + `"`), nil }))
	for _, name := range []string{"block", "step_a", "step_b"} {
		must(t, h.RegisterActivity(name, e.block))
	}
	// 5xx answers say nothing of their cause: the server's log does, shown if the test fails
	// (a test's own WithLogger replaces it).
	log := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", log.String())
		}
	})
	opts = append([]Option{WithTokens(NewToken("a", tokA), NewToken("b", tokB)),
		WithLogger(slog.New(slog.NewTextHandler(log, nil)))}, opts...)
	e.srv, err = New(h, st, opts...)
	must(t, err)
	if !ec.stopped {
		must(t, h.Start())
	}
	// The server's own http.Server, with its timeouts (WithTimeouts).
	ts := httptest.NewUnstartedServer(e.srv)
	ts.Config = e.srv.HTTPServer("")
	ts.Start()
	e.url = ts.URL
	e.close = sync.OnceFunc(func() {
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.Stop(ctx)
		st.Close()
	})
	t.Cleanup(e.close)
	return e
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wat returns a WebAssembly fixture of the conformance suite.
func wat(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "conformance", "testdata", "wat", name))
	must(t, err)
	return b
}

func goGuest(t *testing.T) []byte { return testguest.Build(t, "conformance/guests/go", "") }

// reply is a response: its status and body.
type reply struct {
	status int
	body   []byte
	header http.Header
}

// obj decodes the body as a JSON object.
func (r reply) obj(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// code returns the error code of an error response.
func (r reply) code(t *testing.T) string {
	t.Helper()
	e, _ := r.obj(t)["error"].(map[string]any)
	if e == nil {
		t.Fatalf("body %q is not an error", r.body)
	}
	if m, _ := e["message"].(string); m == "" {
		t.Fatalf("error %q has no message", r.body)
	}
	c, _ := e["code"].(string)
	return c
}

// call sends a request with token ("" for none); body is []byte, a string, an io.Reader or
// a value encoded as JSON.
func (e *env) call(token, method, path string, body any) reply {
	e.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd, ct = strings.NewReader(b), "application/json"
	case io.Reader:
		rd = b
	default:
		data, err := json.Marshal(b)
		must(e.t, err)
		rd, ct = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	must(e.t, err)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	must(e.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	must(e.t, err)
	return reply{resp.StatusCode, data, resp.Header}
}

// expect sends a request and checks the status (and, for an error, the code).
func (e *env) expect(token, method, path string, body any, status int, code string) reply {
	e.t.Helper()
	r := e.call(token, method, path, body)
	if r.status != status {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, status, r.body)
	}
	if code != "" {
		if got := r.code(e.t); got != code {
			e.t.Fatalf("%s %s: code %q, want %q; body %s", method, path, got, code, r.body)
		}
	}
	return r
}

// upload puts a module and expects 201.
func (e *env) upload(token, name, version string, wasm []byte) map[string]any {
	e.t.Helper()
	path := "/v1/modules/" + name
	if version != "" {
		path += "?version=" + version
	}
	return e.expect(token, "PUT", path, wasm, http.StatusCreated, "").obj(e.t)
}

// start starts an instance and returns its ID.
func (e *env) start(token, name, id string, input any) string {
	e.t.Helper()
	req := map[string]any{"name": name, "id": id}
	if input != nil {
		req["input"] = input
	}
	r := e.expect(token, "POST", "/v1/instances", req, http.StatusCreated, "").obj(e.t)
	if r["status"] != "pending" {
		e.t.Fatalf("start: %v", r)
	}
	return r["id"].(string)
}

// wait long-polls until the instance has ended and returns it.
func (e *env) wait(token, id string) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		r := e.expect(token, "GET", "/v1/instances/"+id+"/wait?timeout=10s", nil, http.StatusOK, "").obj(e.t)
		switch r["status"] {
		case "completed", "failed", "cancelled":
			return r
		}
	}
	e.t.Fatalf("instance %s did not end", id)
	return nil
}

// waitFor polls the instance until cond holds (bounded by a deadline).
func (e *env) waitFor(token, id, what string, cond func(map[string]any) bool) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := e.call(token, "GET", "/v1/instances/"+id, nil)
		if r.status == http.StatusOK {
			if m := r.obj(e.t); cond(m) {
				return m
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("instance %s: %s never happened (last: %d %s)", id, what, r.status, r.body)
		}
		time.Sleep(5 * time.Millisecond) // polling for a condition, bounded by the deadline
	}
}

// historyKinds returns the kinds of the events of an instance's current execution.
func (e *env) historyKinds(token, id string) []string {
	e.t.Helper()
	r := e.expect(token, "GET", "/v1/instances/"+id+"/history", nil, http.StatusOK, "").obj(e.t)
	var kinds []string
	for _, ev := range r["history"].(map[string]any)["events"].([]any) {
		kinds = append(kinds, ev.(map[string]any)["kind"].(string))
	}
	return kinds
}
