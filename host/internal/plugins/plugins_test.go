package plugins

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
)

// fixture reads a committed plugin of wasm-examples/plugins (built by its build.sh).
func fixture(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "wasm-examples", "plugins", path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func settings() Settings {
	return Settings{MemoryPages: 64, Timeout: 5 * time.Second, MaxOutput: 64 << 10, MaxHTTPResponse: 1 << 20, MaxVarBytes: 1 << 16}
}

func load(t *testing.T, m *Manager, path string, s Settings) *Plugin {
	t.Helper()
	p, err := m.Load(context.Background(), strings.TrimSuffix(filepath.Base(path), ".wasm"), fixture(t, path), s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

func failureOf(t *testing.T, err error) *abi.Failure {
	t.Helper()
	var f *abi.Failure
	if !errors.As(err, &f) {
		t.Fatalf("error %v (%T) is not an *abi.Failure", err, err)
	}
	return f
}

func TestDescribe(t *testing.T) {
	info, err := Describe(fixture(t, "assemblyscript/text.wasm"), settings())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(info.Functions, ","); got != "greet,upper,words" {
		t.Errorf("functions %s, want greet,upper,words", got)
	}
	if len(info.Hash) != 64 || info.Size == 0 {
		t.Errorf("hash %q size %d", info.Hash, info.Size)
	}
	i32 := []byte{0x7f}
	tests := []struct {
		name string
		wasm []byte
		want string
	}{
		{"not wasm", []byte("not wasm"), "malformed"},
		{"foreign import", module([]imp{{"env", "abort"}}, 0, nil, i32), "imports env.abort, which durohost does not provide"},
		{"unknown kernel function", module([]imp{{KernelModule, "nope"}}, 0, nil, i32), "not a function of Extism's kernel"},
		{"WASI not enabled", module([]imp{{WASIModule, "sched_yield"}}, 0, nil, i32), "WASI is not enabled"},
		{"no function", module(nil, 0, i32, i32), "exports no function"},
		{"memory too large", module(nil, 100, nil, i32), "memory limit is 64 pages"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Describe(tt.wasm, settings())
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Describe: %v, want ErrInvalid with %q", err, tt.want)
			}
		})
	}
	s := settings()
	s.WASI = true
	if _, err := Describe(module([]imp{{WASIModule, "sched_yield"}}, 0, nil, i32), s); err != nil {
		t.Errorf("a WASI import with WASI enabled: %v", err)
	}
}

// imp is a function import of type () -> () for module.
type imp struct{ module, name string }

// module encodes a module with imports, a memory of memPages (none when 0) and one function
// "f" with params and results (i32 only; it returns zeros).
func module(imports []imp, memPages byte, params, results []byte) []byte {
	vec := func(items ...[]byte) []byte {
		out := []byte{byte(len(items))}
		for _, it := range items {
			out = append(out, it...)
		}
		return out
	}
	str := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	section := func(id byte, body []byte) []byte { return append([]byte{id, byte(len(body))}, body...) }
	out := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	out = append(out, section(1, vec(
		[]byte{0x60, 0, 0},
		append(append(append([]byte{0x60, byte(len(params))}, params...), byte(len(results))), results...),
	))...)
	var ims [][]byte
	for _, im := range imports {
		ims = append(ims, append(append(str(im.module), str(im.name)...), 0, 0))
	}
	if len(ims) > 0 {
		out = append(out, section(2, vec(ims...))...)
	}
	out = append(out, section(3, vec([]byte{1}))...)
	if memPages > 0 {
		out = append(out, section(5, vec([]byte{0, memPages}))...)
	}
	out = append(out, section(7, vec(append(str("f"), 0, byte(len(imports)))))...)
	body := []byte{0}
	for range results {
		body = append(body, 0x41, 0)
	}
	body = append(body, 0x0b)
	out = append(out, section(10, vec(append([]byte{byte(len(body))}, body...)))...)
	return out
}

func TestCalls(t *testing.T) {
	m := New(Config{})
	s := settings()
	s.Config = map[string]string{"greeting": "Bonjour"}
	text := load(t, m, "assemblyscript/text.wasm", s)
	json := load(t, m, "assemblyscript/json.wasm", settings())
	kernel := load(t, m, "wat/kernel.wasm", settings())
	tests := []struct {
		name     string
		p        *Plugin
		fn, in   string
		want     string
		code     string
		contains string
	}{
		{name: "upper", p: text, fn: "upper", in: "héllo wörld", want: "HÉLLO WÖRLD"},
		{name: "words", p: text, fn: "words", in: " one two\tthree ", want: `{"words":3}`},
		{name: "config", p: text, fn: "greet", in: "Ada", want: "Bonjour, Ada"},
		{name: "plugin error", p: text, fn: "upper", in: "", code: CodeError, contains: "upper: the input is empty"},
		{name: "json valid", p: json, fn: "validate", in: ` {"a": [1, 2.5e3, "x\n", true, null]} `, want: `{"valid":true,"type":"object"}`},
		{name: "json invalid", p: json, fn: "validate", in: `{"a": [1, 2,]}`, code: CodeError, contains: "invalid JSON at byte 12"},
		{name: "kernel echo", p: kernel, fn: "echo", in: "bytes \x00\xff", want: "bytes \x00\xff"},
		{name: "kernel noop", p: kernel, fn: "noop", in: "x", want: ""},
		{name: "kernel fail", p: kernel, fn: "fail", in: "no way", code: CodeError, contains: "fail: no way"},
		{name: "trap", p: kernel, fn: "trap", code: CodeTrap, contains: `plugin "kernel" function "trap" trapped: wasm error: unreachable`},
		{name: "memory bomb", p: kernel, fn: "grow", code: CodeTrap, contains: "its memory limit is 64 pages"},
		{name: "output too large", p: kernel, fn: "big", code: CodeOutputTooLarge, contains: "set an output of 131072 bytes, more than its output limit of 65536"},
		{name: "no function", p: kernel, fn: "missing", code: CodeNoFunction, contains: `has no function "missing" (it has big, echo, fail, grow, log, noop, spin, trap)`},
		// After the failures, the instances left in the pool still work.
		{name: "echo after failures", p: kernel, fn: "echo", in: "again", want: "again"},
		{name: "upper after failure", p: text, fn: "upper", in: "ok", want: "OK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.p.Call(context.Background(), tt.fn, []byte(tt.in))
			if tt.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if string(out) != tt.want {
					t.Fatalf("output %q, want %q", out, tt.want)
				}
				return
			}
			f := failureOf(t, err)
			if f.Code != tt.code || f.Kind != abi.FailureApplication || !strings.Contains(f.Message, tt.contains) {
				t.Fatalf("failure %v (kind %s), want code %s with %q", f, f.Kind, tt.code, tt.contains)
			}
		})
	}
	if got := m.Compiled(); got != 3 {
		t.Errorf("compiled %d plugins, want 3", got)
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	m := New(Config{})
	s := settings()
	s.Timeout = 100 * time.Millisecond
	kernel := load(t, m, "wat/kernel.wasm", s)
	_, err := kernel.Call(context.Background(), "spin", nil)
	f := failureOf(t, err)
	if f.Kind != abi.FailureTimeout || f.Code != CodeTimeout || !strings.Contains(f.Message, "ran longer than its timeout of 100ms") {
		t.Fatalf("failure %v (kind %s), want a timeout", f, f.Kind)
	}
	// A cancelled activity stops the call and reports the context's error, not a failure.
	s.Timeout = time.Hour
	long := load(t, m, "wat/kernel.wasm", s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := long.Call(ctx, "spin", nil)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled call: %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a cancelled call did not stop within 30s")
	}
	if out, err := long.Call(context.Background(), "echo", []byte("alive")); err != nil || string(out) != "alive" {
		t.Fatalf("after a cancelled call: %q, %v", out, err)
	}
}

func TestHTTP(t *testing.T) {
	var target string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hello":
			fmt.Fprint(w, "hello from loopback")
		case "/missing":
			http.Error(w, "no such page", http.StatusNotFound)
		case "/redirect":
			http.Redirect(w, r, target, http.StatusFound)
		case "/huge":
			w.Write(bytes.Repeat([]byte("x"), 64*65536+1))
		}
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(interface{ String() string }).String()
	_, port, _ = strings.Cut(port, ":")
	// A redirect from the allowed 127.0.0.1 to localhost, which is not allowed.
	target = "http://localhost:" + port + "/hello"
	m := New(Config{})
	s := settings()
	s.AllowedHosts = []string{"127.0.0.1"}
	s.PrivateNetwork = true
	fetch := load(t, m, "assemblyscript/fetch.wasm", s)
	none := load(t, m, "assemblyscript/fetch.wasm", settings())
	// Allowed host names are matched without case and trailing dot.
	s.AllowedHosts = []string{"LocalHost."}
	named := load(t, m, "assemblyscript/fetch.wasm", s)
	s.AllowedHosts = []string{"127.0.0.1", "localhost"}
	both := load(t, m, "assemblyscript/fetch.wasm", s)
	// Without PrivateNetwork, an allowed host is refused at a loopback address, be it an IP
	// literal or a name resolving to one (as a name a plugin's author controls may).
	s.AllowedHosts = []string{"127.0.0.1", "localhost"}
	s.PrivateNetwork = false
	public := load(t, m, "assemblyscript/fetch.wasm", s)
	s.AllowedHosts = []string{"127.0.0.1"}
	s.PrivateNetwork = true
	s.MaxHTTPResponse = 4
	small := load(t, m, "assemblyscript/fetch.wasm", s)
	s.MaxHTTPResponse = 1 << 40 // more than its memory of 64 pages
	unbounded := load(t, m, "assemblyscript/fetch.wasm", s)
	tests := []struct {
		name     string
		p        *Plugin
		url      string
		policy   []string // the namespace's HTTP hosts
		want     string
		code     string
		contains string
	}{
		{name: "allowed", p: fetch, url: srv.URL + "/hello", want: "hello from loopback"},
		{name: "namespace policy allows", p: fetch, url: srv.URL + "/hello", policy: []string{"example.org", "127.0.0.1:" + port}, want: "hello from loopback"},
		{name: "namespace policy: other host", p: fetch, url: srv.URL + "/hello", policy: []string{"*.example.org"}, code: CodeHTTPForbidden, contains: "is not among the HTTP hosts of the namespace's policy (*.example.org)"},
		{name: "namespace policy: other port", p: fetch, url: srv.URL + "/hello", policy: []string{"127.0.0.1:1"}, code: CodeHTTPForbidden, contains: "not among the HTTP hosts of the namespace's policy"},
		{name: "namespace policy: none", p: fetch, url: srv.URL + "/hello", policy: []string{}, code: CodeHTTPForbidden, contains: "policy (none)"},
		{name: "namespace policy: redirect", p: both, url: srv.URL + "/redirect", policy: []string{"127.0.0.1"}, code: CodeHTTPForbidden, contains: "not among the HTTP hosts of the namespace's policy (127.0.0.1) (a redirect)"},
		{name: "status", p: fetch, url: srv.URL + "/missing", code: CodeError, contains: "status 404: no such page"},
		{name: "forbidden host", p: fetch, url: "http://localhost:" + port + "/hello", code: CodeHTTPForbidden, contains: "is not allowed; its allowed hosts: 127.0.0.1"},
		{name: "forbidden redirect", p: fetch, url: srv.URL + "/redirect", code: CodeHTTPForbidden, contains: `host "localhost" is not allowed (a redirect)`},
		{name: "no hosts", p: none, url: srv.URL + "/hello", code: CodeHTTPForbidden, contains: "its allowed hosts: none"},
		{name: "allowed after forbidden", p: fetch, url: srv.URL + "/hello", want: "hello from loopback"},
		{name: "case and trailing dot", p: named, url: "http://LOCALHOST:" + port + "/hello", want: "hello from loopback"},
		{name: "not public: IP literal", p: public, url: srv.URL + "/hello", code: CodeHTTPForbidden, contains: "HTTP connection to 127.0.0.1 is not allowed: a loopback address"},
		{name: "not public: name", p: public, url: "http://localhost:" + port + "/hello", code: CodeHTTPForbidden, contains: "is not allowed: a loopback address"},
		{name: "long URL, forbidden", p: fetch, url: "http://" + strings.Repeat("a", maxErrorMessage) + ".org/", code: CodeHTTPForbidden, contains: "is not allowed"},
		{name: "long URL, refused", p: fetch, url: "http://127.0.0.1:1/" + strings.Repeat("a", maxErrorMessage), code: CodeHostCall, contains: "a host function failed"},
		{name: "scheme", p: fetch, url: "file:///etc/passwd", code: CodeHostCall, contains: "the scheme must be http or https"},
		{name: "response too large", p: small, url: srv.URL + "/hello", code: CodeHostCall, contains: "larger than the plugin's response limit of 4 bytes"},
		{name: "response larger than memory", p: unbounded, url: srv.URL + "/huge", code: CodeHostCall, contains: "larger than the plugin's memory limit of 4194304 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.policy != nil {
				ctx = WithHTTPPolicy(ctx, tt.policy)
			}
			out, err := tt.p.Call(ctx, "get", []byte(tt.url))
			if tt.code == "" {
				if err != nil || string(out) != tt.want {
					t.Fatalf("got %q, %v; want %q", out, err, tt.want)
				}
				return
			}
			f := failureOf(t, err)
			if f.Code != tt.code || !strings.Contains(f.Message, tt.contains) {
				t.Fatalf("failure %s %s, want code %s with %q", f.Code, truncated(f.Message), tt.code, tt.contains)
			}
			if len(f.Message) > maxErrorMessage+len("…") {
				t.Fatalf("a failure message of %d bytes, more than %d", len(f.Message), maxErrorMessage)
			}
		})
	}
}

func TestCheckHosts(t *testing.T) {
	tests := []struct {
		hosts []string
		want  string
	}{
		{[]string{"api.example.org", "*.example.org", "127.0.0.1"}, ""},
		{[]string{""}, "empty"},
		{[]string{"https://x.org"}, "no scheme, port or path"},
		{[]string{"x.org:443"}, "no scheme, port or path"},
		{[]string{"[a"}, "not a valid pattern"},
	}
	for _, tt := range tests {
		err := CheckHosts(tt.hosts)
		if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CheckHosts(%q) = %v, want %q", tt.hosts, err, tt.want)
		}
	}
}

// TestConcurrentCalls runs calls in parallel on one plugin: each takes an instance of its own.
func TestConcurrentCalls(t *testing.T) {
	m := New(Config{MaxIdle: 4})
	p := load(t, m, "wat/kernel.wasm", settings())
	var wg sync.WaitGroup
	errs := make(chan error, 8*50)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				in := fmt.Sprintf("g%d-%d", g, i)
				out, err := p.Call(context.Background(), "echo", []byte(in))
				if err != nil || string(out) != in {
					errs <- fmt.Errorf("echo %s: %q, %v", in, out, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := p.Idle(); n < 1 || n > 4 {
		t.Errorf("%d idle instances, want 1 to 4", n)
	}
}

func TestClosed(t *testing.T) {
	m := New(Config{})
	p, err := m.Load(context.Background(), "kernel", fixture(t, "wat/kernel.wasm"), settings())
	if err != nil {
		t.Fatal(err)
	}
	p.Close(context.Background())
	if _, err := p.Call(context.Background(), "echo", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Close: %v, want ErrClosed", err)
	}
	if got := m.Compiled(); got != 0 {
		t.Errorf("%d compilations left after the only plugin closed", got)
	}
	m.Close()
	if _, err := m.Load(context.Background(), "kernel", fixture(t, "wat/kernel.wasm"), settings()); !errors.Is(err, ErrClosed) {
		t.Fatalf("load after Close: %v, want ErrClosed", err)
	}
}

func BenchmarkCall(b *testing.B) {
	m := New(Config{})
	p, err := m.Load(context.Background(), "kernel", fixture(b, "wat/kernel.wasm"), settings())
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	in := []byte(`"x"`)
	for b.Loop() {
		if _, err := p.Call(context.Background(), "noop", in); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLogs: a plugin's logs reach the manager's logger, with the plugin's name.
func TestLogs(t *testing.T) {
	var buf syncBuffer
	m := New(Config{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	p := load(t, m, "wat/kernel.wasm", settings())
	if _, err := p.Call(context.Background(), "log", []byte("hello from the plugin")); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); !strings.Contains(got, `level=INFO msg="hello from the plugin" plugin=kernel source=plugin`) {
		t.Fatalf("log: %q", got)
	}
	// A message larger than maxLogLine is cut.
	buf.Reset()
	if _, err := p.Call(context.Background(), "log", bytes.Repeat([]byte("x"), maxLogLine+1000)); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); !strings.Contains(got, "="+strings.Repeat("x", maxLogLine)+"… plugin=kernel") || len(got) > maxLogLine+200 {
		t.Fatalf("a log of %d bytes: %d bytes logged, ending %q", maxLogLine+1000, len(got), got[max(0, len(got)-60):])
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startLoop is (module (func $forever (loop $l (br $l))) (start $forever)
// (func (export "f") (result i32) (i32.const 0))): its instantiation never ends.
var startLoop = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x60,
	0x00, 0x00, 0x60, 0x00, 0x01, 0x7f, 0x03, 0x03, 0x02, 0x00, 0x01, 0x07,
	0x05, 0x01, 0x01, 0x66, 0x00, 0x01, 0x08, 0x01, 0x00, 0x0a, 0x0e, 0x02,
	0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, 0x04, 0x00, 0x41, 0x00,
	0x0b,
}

// TestStartLoop: a plugin whose start function never ends is refused when it is loaded,
// after its timeout.
func TestStartLoop(t *testing.T) {
	s := settings()
	s.Timeout = 200 * time.Millisecond
	_, err := New(Config{}).Load(context.Background(), "loop", startLoop, s)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "its initialisation ran longer than its timeout of 200ms") {
		t.Fatalf("Load: %v", err)
	}
	// The host's bound applies when the plugin's timeout, its uploader's choice, is longer.
	s.Timeout, s.InstantiateTimeout = time.Hour, 200*time.Millisecond
	_, err = New(Config{}).Load(context.Background(), "loop", startLoop, s)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "ran longer than the host's instantiation time limit of 200ms") {
		t.Fatalf("Load with a timeout of an hour: %v", err)
	}
}

// TestCloseDuringCall closes a plugin while a call runs: the call ends as it would have, and
// the compilation is released after it.
func TestCloseDuringCall(t *testing.T) {
	m := New(Config{})
	s := settings()
	s.Timeout = 200 * time.Millisecond
	p, err := m.Load(context.Background(), "kernel", fixture(t, "wat/kernel.wasm"), s)
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		close(started)
		_, err := p.Call(context.Background(), "spin", nil)
		done <- err
	}()
	<-started
	deadline := time.Now().Add(10 * time.Second)
	for p.Idle() != 0 && time.Now().Before(deadline) {
		runtime.Gosched() // wait until the call took the pooled instance
	}
	p.Close(context.Background())
	if err := <-done; failureOf(t, err).Code != CodeTimeout {
		t.Fatalf("call: %v, want a timeout", err)
	}
	if got := m.Compiled(); got != 0 {
		t.Errorf("%d compilations left after the call of a closed plugin ended", got)
	}
}

// TestCompileSlots: with one compile slot taken, a load waits for it as long as its context
// allows; loads of the same bytes share one compilation.
func TestCompileSlots(t *testing.T) {
	m := New(Config{CompileConcurrency: 1})
	m.slots <- struct{}{} // the only slot, taken
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := m.Load(ctx, "kernel", fixture(t, "wat/kernel.wasm"), settings()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a load without a slot: %v, want context.DeadlineExceeded", err)
	}
	if n := m.Compiled(); n != 0 {
		t.Fatalf("%d compilations left by a load that gave up", n)
	}
	<-m.slots
	var wg sync.WaitGroup
	ps := make([]*Plugin, 4)
	for i := range ps {
		wg.Go(func() {
			p, err := m.Load(context.Background(), "kernel", fixture(t, "wat/kernel.wasm"), settings())
			if err != nil {
				t.Error(err)
				return
			}
			ps[i] = p
		})
	}
	wg.Wait()
	if n, c := m.Compiled(), m.compilations.Load(); n != 1 || c != 1 {
		t.Errorf("%d compilations held, %d made for four loads of the same plugin, want 1", n, c)
	}
	for _, p := range ps {
		if p != nil {
			p.Close(context.Background())
		}
	}
	if n := m.Compiled(); n != 0 {
		t.Errorf("%d compilations after the plugins closed", n)
	}
}

// sleepWasm is a WASI plugin whose function sleep asks poll_oneoff for a relative clock
// subscription of 2^62 ns (146 years), built with wat2wasm from:
//
//	(module
//	  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
//	  (memory 1)
//	  (data (i32.const 24) "\00\00\00\00\00\00\00\40") ;; the subscription's timeout
//	  (func (export "sleep") (result i32)
//	    (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
//	    (i32.const 0)))
var sleepWasm = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0d, 0x02, 0x60,
	0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x01, 0x7f, 0x02,
	0x26, 0x01, 0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70,
	0x73, 0x68, 0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65, 0x77,
	0x31, 0x0b, 0x70, 0x6f, 0x6c, 0x6c, 0x5f, 0x6f, 0x6e, 0x65, 0x6f, 0x66,
	0x66, 0x00, 0x00, 0x03, 0x02, 0x01, 0x01, 0x05, 0x03, 0x01, 0x00, 0x01,
	0x07, 0x09, 0x01, 0x05, 0x73, 0x6c, 0x65, 0x65, 0x70, 0x00, 0x01, 0x0a,
	0x13, 0x01, 0x11, 0x00, 0x41, 0x00, 0x41, 0xc0, 0x00, 0x41, 0x01, 0x41,
	0x80, 0x01, 0x10, 0x00, 0x1a, 0x41, 0x00, 0x0b, 0x0b, 0x0e, 0x01, 0x00,
	0x41, 0x18, 0x0b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40,
}

// TestWASISleep: a WASI plugin's sleep (poll_oneoff) ends with its call's timeout and with
// the activity's cancellation; wazero's sleep is time.Sleep, which neither ends.
func TestWASISleep(t *testing.T) {
	m := New(Config{})
	s := settings()
	s.WASI = true
	s.Timeout = 100 * time.Millisecond
	p, err := m.Load(context.Background(), "sleep", sleepWasm, s)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	call := func(ctx context.Context) error {
		done := make(chan error, 1)
		go func() {
			_, err := p.Call(ctx, "sleep", nil)
			done <- err
		}()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("a sleeping call did not stop within 30s")
			return nil
		}
	}
	if f := failureOf(t, call(context.Background())); f.Code != CodeTimeout {
		t.Fatalf("a sleep past the timeout: %v, want %s", f, CodeTimeout)
	}
	s.Timeout = time.Hour
	long, err := m.Load(context.Background(), "sleep", sleepWasm, s)
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close(context.Background())
	p = long
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if err := call(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled sleep: %v, want context.Canceled", err)
	}
}

// Reset empties the buffer.
func (b *syncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// TestLargeError: the message of a plugin's error is cut at maxErrorMessage (it is recorded
// in the orchestration's history).
func TestLargeError(t *testing.T) {
	p := load(t, New(Config{}), "wat/kernel.wasm", settings())
	_, err := p.Call(context.Background(), "fail", bytes.Repeat([]byte("x"), maxErrorMessage+1000))
	f := failureOf(t, err)
	if f.Code != CodeError || len(f.Message) != maxErrorMessage+len("…") || !strings.HasPrefix(f.Message, "fail: xxx") {
		t.Fatalf("failure %s of %d bytes, want %s of %d", f.Code, len(f.Message), CodeError, maxErrorMessage+len("…"))
	}
}

// TestIdleMemory: the idle instances of all plugins hold at most Config.IdleMemory, each
// counted at twice its memory limit; an instance beyond it is closed after its call.
func TestIdleMemory(t *testing.T) {
	s := settings() // 64 pages: an idle instance counts 8 MiB
	m := New(Config{IdleMemory: 8 << 20})
	a := load(t, m, "wat/kernel.wasm", s)
	b := load(t, m, "assemblyscript/text.wasm", s)
	if a.Idle() != 1 || b.Idle() != 0 {
		t.Fatalf("idle instances %d and %d, want 1 and 0 (room for one)", a.Idle(), b.Idle())
	}
	if out, err := b.Call(context.Background(), "upper", []byte("x")); err != nil || string(out) != "X" {
		t.Fatalf("a call without a pooled instance: %q, %v", out, err)
	}
	if b.Idle() != 0 {
		t.Fatalf("%d idle instances of b past the bound", b.Idle())
	}
	a.Close(context.Background())
	if _, err := b.Call(context.Background(), "upper", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if b.Idle() != 1 {
		t.Fatalf("%d idle instances of b once a's was closed, want 1", b.Idle())
	}
}

// exportsWasm is a module exporting a function () -> i32 under each of names.
func exportsWasm(names ...string) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	section := func(id byte, body []byte) {
		b = append(appendUleb(append(b, id), uint64(len(body))), body...)
	}
	section(1, []byte{1, 0x60, 0, 1, 0x7f}) // one type: () -> i32
	funcs, exports, code := appendUleb(nil, uint64(len(names))), appendUleb(nil, uint64(len(names))), appendUleb(nil, uint64(len(names)))
	for i, n := range names {
		funcs = append(funcs, 0)
		exports = append(appendUleb(exports, uint64(len(n))), n...)
		exports = appendUleb(append(exports, 0), uint64(i))
		code = append(code, 4, 0, 0x41, 0, 0x0b) // i32.const 0
	}
	section(3, funcs)
	section(7, exports)
	section(10, code)
	return b
}

// TestFunctionNames: a function whose activity name could not be an activity's (control or
// invisible characters, too long) is refused, naming it.
func TestFunctionNames(t *testing.T) {
	m := New(Config{})
	if p, err := m.Load(context.Background(), "fine", exportsWasm("ok", "também"), settings()); err != nil {
		t.Fatal(err)
	} else {
		p.Close(context.Background())
	}
	tests := []struct{ name, want string }{
		{"evil\u202egnp.exe", `function "evil\u202egnp.exe" holds the invisible or control character U+202E`},
		{"line\nbreak", `holds the invisible or control character U+000A`},
		{"", `function "" `},
		{strings.Repeat("x", 1100), "more than 1024"},
	}
	for _, tt := range tests {
		_, err := m.Load(context.Background(), "p", exportsWasm("ok", tt.name), settings())
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("a function named %q: %v, want ErrInvalid with %q", truncated(tt.name), err, tt.want)
		}
	}
}

// TestNotPublic: the addresses a plugin without PrivateNetwork may not connect to.
func TestNotPublic(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1": "loopback", "::1": "loopback", "::ffff:127.0.0.1": "loopback",
		"10.1.2.3": "private", "172.16.0.1": "private", "192.168.1.1": "private", "fd00::1": "private",
		"169.254.169.254": "link-local", "fe80::1": "link-local",
		"0.0.0.0": "unspecified", "::": "unspecified", "0.1.2.3": `"this network"`,
		"100.64.0.1": "shared (carrier-grade NAT)", "239.1.2.3": "multicast", "ff0e::1": "multicast", "224.0.0.1": "link-local",
		"64:ff9b::7f00:1": "NAT64", "2002:7f00:1::": "6to4", "fec0::1": "site-local", "::7f00:1": "IPv4-compatible",
		"8.8.8.8": "", "2001:4860:4860::8888": "", "93.184.216.34": "",
	} {
		if got := notPublic(netip.MustParseAddr(addr)); got != want {
			t.Errorf("notPublic(%s) = %q, want %q", addr, got, want)
		}
	}
}
