package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/conformance"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/sqlite"
)

// pluginFixture reads a committed plugin of wasm-examples/plugins.
func pluginFixture(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "wasm-examples", "plugins", path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func registerPlugin(t *testing.T, h *host.Host, path string, spec host.PluginSpec) *host.PluginInfo {
	t.Helper()
	info, err := h.RegisterPlugin(context.Background(), pluginFixture(t, path), spec)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// call runs the scenario orchestration sc_call (one activity call, its failure caught) and
// returns the instance.
func (e *env) call(activity string, input any, retry map[string]any, opts ...host.StartOption) *store.Instance {
	e.t.Helper()
	in, err := json.Marshal(map[string]any{"activity": activity, "input": input, "retry": retry, "catch": true})
	must(e.t, err)
	return e.run("sc_call", string(in), opts...)
}

// caught is the failure sc_call caught.
type caught struct {
	Error *struct {
		Kind, Code, Message string
	} `json:"error"`
}

// caughtIn reads the failure sc_call caught, if its output is one.
func caughtIn(t *testing.T, out []byte) caught {
	t.Helper()
	var c caught
	if strings.HasPrefix(string(out), `{"error":`) {
		must(t, json.Unmarshal(out, &c))
	}
	return c
}

// TestPluginActivities: plugin functions are activities of orchestrations; their results
// arrive, their failures (the plugin's error, a trap, a memory bomb, an infinite loop, an
// output too large) fail only their attempt, with a code the orchestration sees and its retry
// policy retries, and the host keeps serving.
func TestPluginActivities(t *testing.T) {
	e := newEnv(t)
	registerPlugin(t, e.h, "assemblyscript/text.wasm", host.PluginSpec{Name: "text"})
	registerPlugin(t, e.h, "assemblyscript/json.wasm", host.PluginSpec{Name: "json"})
	kernel := registerPlugin(t, e.h, "wat/kernel.wasm", host.PluginSpec{Name: "kernel", MemoryPages: 32, MaxOutput: 64 << 10})
	registerPlugin(t, e.h, "wat/kernel.wasm", host.PluginSpec{Name: "hasty", Timeout: 300 * time.Millisecond})
	if got := strings.Join(kernel.Activities(), ","); got != "kernel.big,kernel.echo,kernel.fail,kernel.grow,kernel.log,kernel.noop,kernel.spin,kernel.trap" {
		t.Errorf("activities %s", got)
	}
	if kernel.Version == "" || kernel.Stored || kernel.MaxHTTPResponse != host.DefaultPluginHTTPResponse {
		t.Errorf("info %+v: want a content version, in memory, defaults filled in", kernel)
	}
	tests := []struct {
		name     string
		activity string
		input    any
		retry    map[string]any
		want     string // the output, or the caught failure's kind and code
		contains string
	}{
		{name: "text", activity: "text.upper", input: "ada lovelace", want: `"ADA LOVELACE"`},
		{name: "json", activity: "json.validate", input: map[string]any{"a": []int{1, 2}}, want: `{"valid":true,"type":"object"}`},
		{name: "echo", activity: "kernel.echo", input: []string{"x", "y"}, want: `["x","y"]`},
		{name: "plugin error", activity: "kernel.fail", input: "no", want: "application " + host.CodePluginError, contains: `fail: "no"`},
		{name: "trap", activity: "kernel.trap", want: "application " + host.CodePluginTrap, contains: "unreachable"},
		{name: "memory bomb", activity: "kernel.grow", want: "application " + host.CodePluginTrap, contains: "memory limit is 32 pages"},
		{name: "infinite loop", activity: "hasty.spin", want: "timeout " + host.CodePluginTimeout, contains: "timeout of 300ms"},
		{name: "output too large", activity: "kernel.big", want: "application " + host.CodePluginOutputTooLarge, contains: "131072 bytes"},
		{name: "retried", activity: "kernel.fail", input: "again", retry: map[string]any{"max_attempts": 3, "initial_ms": 1},
			want: "application " + host.CodePluginError, contains: `fail: "again"`},
		{name: "timeout retried", activity: "hasty.spin", retry: map[string]any{"max_attempts": 2, "initial_ms": 1},
			want: "timeout " + host.CodePluginTimeout},
		{name: "still serving", activity: "text.upper", input: "ok", want: `"OK"`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("p%d", i)
			in := e.call(tt.activity, tt.input, tt.retry, host.WithInstanceID(id))
			if in.Status != store.StatusCompleted {
				t.Fatalf("instance %s: %v %+v", id, in.Status, in.Failure)
			}
			c := caughtIn(t, in.Output)
			if c.Error == nil {
				if string(in.Output) != tt.want {
					t.Fatalf("output %s, want %s", in.Output, tt.want)
				}
				return
			}
			if got := c.Error.Kind + " " + c.Error.Code; got != tt.want || !strings.Contains(c.Error.Message, tt.contains) {
				t.Fatalf("failure %s %q, want %s with %q", got, c.Error.Message, tt.want, tt.contains)
			}
			if tt.retry != nil {
				hist, err := e.c.History(context.Background(), id, 0)
				must(t, err)
				failed := 0
				for _, ev := range hist {
					if ev.Kind == history.KindActivityFailed {
						failed++
					}
				}
				if want := tt.retry["max_attempts"].(int); failed != want {
					t.Errorf("%d failed attempts in history, want %d", failed, want)
				}
			}
		})
	}
}

// TestPluginCallCancelled: when the orchestration no longer needs an activity (its attempt
// timed out), the plugin's call is stopped, though its own timeout is an hour away.
func TestPluginCallCancelled(t *testing.T) {
	stopped := make(chan error, 1)
	e := newEnv(t, host.WithObserver(func(ev host.Event) {
		if ev.Activity == "kernel.spin" && ev.Done {
			stopped <- ev.Err
		}
	}))
	registerPlugin(t, e.h, "wat/kernel.wasm", host.PluginSpec{Name: "kernel", Timeout: time.Hour})
	in := e.call("kernel.spin", nil, map[string]any{"max_attempts": 1, "timeout_ms": 200})
	c := caughtIn(t, in.Output)
	if c.Error == nil || c.Error.Kind != "timeout" {
		t.Fatalf("sc_call: %s, want the attempt's timeout", in.Output)
	}
	select {
	case err := <-stopped:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the call ended with %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the plugin call still runs 30 s after its activity was cancelled")
	}
}

// TestRegisterPluginActivity: a native activity's name becomes a plugin function's, without
// changing the orchestration that calls it.
func TestRegisterPluginActivity(t *testing.T) {
	e := newEnv(t)
	registerPlugin(t, e.h, "assemblyscript/text.wasm", host.PluginSpec{Name: "text"})
	must(t, e.h.RegisterPluginActivity("step", "text", "upper"))
	if in := e.call("step", "moved", nil); string(in.Output) != `"MOVED"` {
		t.Fatalf("step after the move: %v %s %+v", in.Status, in.Output, in.Failure)
	}
	if err := e.h.RegisterPluginActivity("x", "bad.name", "f"); !errors.Is(err, host.ErrInvalidPlugin) {
		t.Fatalf("a bad plugin name: %v", err)
	}
}

// TestPluginNamespaces: a plugin registered for a namespace is an activity of that namespace
// only: another namespace (the default one included) calling it finds no plugin.
func TestPluginNamespaces(t *testing.T) {
	e := newEnv(t)
	for _, ns := range []string{"team-a", "team-b"} {
		_, err := e.st.PutModule(context.Background(), store.ModulePut{Namespace: ns, Wasm: testguest.Build(t, featuresGuest, ""),
			Registrations: []store.Registration{{Kind: store.RegistrationOrchestration, Name: "sc_call", Version: "sha256:0123456789abcdef"}}})
		must(t, err)
	}
	registerPlugin(t, e.h, "wat/kernel.wasm", host.PluginSpec{Name: "kernel", Namespace: "team-a"})
	in := e.call("kernel.echo", "mine", nil, host.WithNamespace("team-a"), host.WithInstanceID("a1"))
	if in.Status != store.StatusCompleted || string(in.Output) != `"mine"` {
		t.Fatalf("team-a calling its own plugin: %v %s %+v", in.Status, in.Output, in.Failure)
	}
	for _, ns := range []string{"team-b", ""} {
		in := e.call("kernel.echo", "theirs", nil, host.WithNamespace(ns), host.WithInstanceID("b1"))
		if in.Status != store.StatusFailed || in.Failure == nil || in.Failure.Code != abi.CodeUnregistered ||
			!strings.Contains(in.Failure.Message, `no plugin "kernel"`) {
			t.Fatalf("namespace %q calling team-a's plugin: %v %+v, want failed %s", ns, in.Status, in.Failure, abi.CodeUnregistered)
		}
	}
	list, err := e.h.Plugins(context.Background(), "team-b")
	must(t, err)
	if len(list) != 0 {
		t.Errorf("team-b lists %d plugins", len(list))
	}
	if _, err := e.h.Plugin(context.Background(), "team-b", "kernel", ""); !errors.Is(err, host.ErrUnknownPlugin) {
		t.Errorf("team-b's kernel: %v, want ErrUnknownPlugin", err)
	}
}

// TestPluginHTTP: a plugin reaches its allowed hosts only, redirects included.
func TestPluginHTTP(t *testing.T) {
	var redirect string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, redirect, http.StatusFound)
			return
		}
		fmt.Fprint(w, `{"hello":"loopback"}`)
	}))
	defer srv.Close()
	redirect = strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/hello"
	e := newEnv(t)
	registerPlugin(t, e.h, "assemblyscript/fetch.wasm", host.PluginSpec{Name: "fetch", AllowedHosts: []string{"127.0.0.1"}, PrivateNetwork: true})
	tests := []struct {
		url, want string
	}{
		{srv.URL + "/hello", `{"hello":"loopback"}`},
		{redirect, "application " + host.CodePluginHTTPForbidden},
		{srv.URL + "/redirect", "application " + host.CodePluginHTTPForbidden},
	}
	for i, tt := range tests {
		in := e.call("fetch.get", tt.url, nil, host.WithInstanceID(fmt.Sprint("h", i)))
		c := caughtIn(t, in.Output)
		got := string(in.Output)
		if c.Error != nil {
			got = c.Error.Kind + " " + c.Error.Code
		}
		if got != tt.want {
			t.Errorf("get %s: %s, want %s", tt.url, in.Output, tt.want)
		}
	}
}

// TestPluginNamespaceHTTPPolicy: the HTTP hosts of a namespace's policy bound its plugins'
// requests as they bound the built-in http activity's, whatever the plugin allows.
func TestPluginNamespaceHTTPPolicy(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"hello":"loopback"}`)
	}))
	defer srv.Close()
	e := newEnv(t, host.WithNamespacePolicy(func(ns string) host.NamespacePolicy {
		if ns == "fenced" {
			return host.NamespacePolicy{HTTPHosts: []string{"api.example.org"}}
		}
		return host.NamespacePolicy{}
	}))
	for _, ns := range []string{"fenced", "open"} {
		_, err := e.st.PutModule(context.Background(), store.ModulePut{Namespace: ns, Wasm: testguest.Build(t, featuresGuest, ""),
			Registrations: []store.Registration{{Kind: store.RegistrationOrchestration, Name: "sc_call", Version: "sha256:0123456789abcdef"}}})
		must(t, err)
		registerPlugin(t, e.h, "assemblyscript/fetch.wasm", host.PluginSpec{Name: "fetch", Namespace: ns, AllowedHosts: []string{"127.0.0.1"}, PrivateNetwork: true})
	}
	in := e.call("fetch.get", srv.URL, nil, host.WithNamespace("open"), host.WithInstanceID("o1"))
	if string(in.Output) != `{"hello":"loopback"}` {
		t.Fatalf("a namespace without HTTP hosts: %s", in.Output)
	}
	in = e.call("fetch.get", srv.URL, nil, host.WithNamespace("fenced"), host.WithInstanceID("f1"))
	if c := caughtIn(t, in.Output); c.Error == nil || c.Error.Code != host.CodePluginHTTPForbidden || !strings.Contains(c.Error.Message, "api.example.org") {
		t.Fatalf("a namespace whose HTTP hosts do not hold the plugin's: %s, want %s", in.Output, host.CodePluginHTTPForbidden)
	}
}

// TestPluginStore: PutPlugin keeps a plugin in the store, where another host on the store
// finds it (SyncPlugins); versions are immutable; a deleted plugin is no longer called.
func TestPluginStore(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.st.PutModule(ctx, store.ModulePut{Namespace: "ops", Wasm: testguest.Build(t, featuresGuest, ""),
		Registrations: []store.Registration{{Kind: store.RegistrationOrchestration, Name: "sc_call", Version: "sha256:0123456789abcdef"}}})
	must(t, err)
	wasm := pluginFixture(t, "wat/kernel.wasm")
	info, created, err := e.h.PutPlugin(ctx, wasm, host.PluginSpec{Name: "kernel", Version: "1", Namespace: "ops"}, 0)
	if err != nil || !created || !info.Stored || info.Version != "1" {
		t.Fatalf("PutPlugin: %+v %v %v", info, created, err)
	}
	if _, created, err := e.h.PutPlugin(ctx, wasm, host.PluginSpec{Name: "kernel", Version: "1", Namespace: "ops"}, 0); err != nil || created {
		t.Fatalf("the same put again: created %v, %v", created, err)
	}
	if _, _, err := e.h.PutPlugin(ctx, wasm, host.PluginSpec{Name: "kernel", Version: "1", Namespace: "ops", Timeout: time.Second}, 0); !errors.Is(err, host.ErrPluginExists) {
		t.Fatalf("version 1 with other settings: %v, want ErrPluginExists", err)
	}
	// A namespace's upload cannot reach the network of the host's own machines.
	if _, _, err := e.h.PutPlugin(ctx, wasm, host.PluginSpec{Name: "kernel", Version: "2", Namespace: "ops", PrivateNetwork: true}, 0); !errors.Is(err, host.ErrInvalidPlugin) || !strings.Contains(err.Error(), "PrivateNetwork") {
		t.Fatalf("a stored plugin with PrivateNetwork: %v, want ErrInvalidPlugin", err)
	}
	text := pluginFixture(t, "assemblyscript/text.wasm")
	if _, _, err := e.h.PutPlugin(ctx, text, host.PluginSpec{Name: "text", Namespace: "ops"}, int64(len(wasm)+len(text))-1); !errors.Is(err, host.ErrQuota) {
		t.Fatalf("a put past the namespace's bound: %v, want ErrQuota", err)
	}

	// A second host on the same store learns the plugin's activities from the store.
	h2, err := host.New(e.st)
	must(t, err)
	defer h2.Stop(ctx)
	must(t, h2.SyncPlugins(ctx))
	list, err := h2.Plugins(ctx, "ops")
	if err != nil || len(list) != 1 || list[0].Name != "kernel" || !list[0].Stored || list[0].Timeout != host.DefaultPluginTimeout {
		t.Fatalf("h2's plugins of ops: %+v, %v", list, err)
	}
	must(t, e.h.Stop(ctx))
	must(t, h2.Start())
	run := func(id string) *store.Instance {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		in, err := json.Marshal(map[string]any{"activity": "kernel.echo", "input": id, "catch": true})
		must(t, err)
		key, err := h2.Client().Start(cctx, "sc_call", in, host.WithNamespace("ops"), host.WithInstanceID(id))
		must(t, err)
		inst, err := h2.Client().Wait(cctx, key)
		must(t, err)
		return inst
	}
	if in := run("s1"); in.Status != store.StatusCompleted || string(in.Output) != `"s1"` {
		t.Fatalf("h2 calling the stored plugin: %v %s %+v", in.Status, in.Output, in.Failure)
	}
	if n, err := h2.DeletePlugin(ctx, "ops", "kernel", ""); err != nil || n != 1 {
		t.Fatalf("DeletePlugin: %d, %v", n, err)
	}
	if in := run("s2"); in.Status != store.StatusFailed || in.Failure.Code != abi.CodeUnregistered {
		t.Fatalf("calling a deleted plugin: %v %+v", in.Status, in.Failure)
	}
	if _, err := h2.DeletePlugin(ctx, "ops", "kernel", ""); !errors.Is(err, host.ErrUnknownPlugin) {
		t.Fatalf("delete again: %v, want ErrUnknownPlugin", err)
	}
}

// TestPluginsWithoutPluginStore: over a store that does not keep plugins, plugins live in the
// host's memory; PutPlugin says the store cannot keep them.
func TestPluginsWithoutPluginStore(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "core.db"))
	must(t, err)
	defer st.Close()
	h, err := host.New(conformance.CoreOnly(st))
	must(t, err)
	ctx := context.Background()
	defer h.Stop(ctx)
	wasm := pluginFixture(t, "wat/kernel.wasm")
	if _, _, err := h.PutPlugin(ctx, wasm, host.PluginSpec{Name: "kernel"}, 0); !errors.Is(err, host.ErrNoPluginStore) {
		t.Fatalf("PutPlugin: %v, want ErrNoPluginStore", err)
	}
	registerPlugin(t, h, "wat/kernel.wasm", host.PluginSpec{Name: "kernel"})
	must(t, h.SyncPlugins(ctx))
	list, err := h.Plugins(ctx, "")
	if err != nil || len(list) != 1 || list[0].Stored {
		t.Fatalf("Plugins: %+v, %v", list, err)
	}
	if n, err := h.DeletePlugin(ctx, "", "kernel", ""); err != nil || n != 1 {
		t.Fatalf("DeletePlugin: %d, %v", n, err)
	}
}

// TestRegisterPluginInvalid: what cannot make a plugin is refused with the reason.
func TestRegisterPluginInvalid(t *testing.T) {
	e := newEnv(t)
	kernel := pluginFixture(t, "wat/kernel.wasm")
	tests := []struct {
		name string
		wasm []byte
		spec host.PluginSpec
		want string
	}{
		{"bad name", kernel, host.PluginSpec{Name: "a.b"}, "plugin name"},
		{"no name", kernel, host.PluginSpec{}, "plugin name"},
		{"bad host", kernel, host.PluginSpec{Name: "k", AllowedHosts: []string{"https://x.org/"}}, "no scheme, port or path"},
		{"memory", kernel, host.PluginSpec{Name: "k", MemoryPages: 70000}, "more than the host's limit of 4096 pages"},
		{"memory beyond the host's limit", kernel, host.PluginSpec{Name: "k", MemoryPages: 4097}, "more than the host's limit of 4096 pages"},
		{"not a plugin", []byte("\x00asm\x01\x00\x00\x00"), host.PluginSpec{Name: "k"}, "exports no function"},
		{"orchestration module", pluginFixture(t, "../../conformance/testdata/wat/hello.wasm"), host.PluginSpec{Name: "k"}, "which durohost does not provide"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.h.RegisterPlugin(context.Background(), tt.wasm, tt.spec)
			if !errors.Is(err, host.ErrInvalidPlugin) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("RegisterPlugin: %v, want ErrInvalidPlugin with %q", err, tt.want)
			}
		})
	}
	small, err := host.New(e.st, host.WithLimits(host.Limits{MaxModuleSize: 100}))
	must(t, err)
	defer small.Stop(context.Background())
	if _, err := small.RegisterPlugin(context.Background(), kernel, host.PluginSpec{Name: "k"}); !errors.Is(err, host.ErrInvalidPlugin) || !strings.Contains(err.Error(), "module size limit of 100") {
		t.Fatalf("a plugin larger than the host's module size limit: %v", err)
	}
	// A start function that never ends is stopped at the host's InstantiateTime when the
	// plugin's timeout is longer: (module (func $forever (loop $l (br $l))) (start $forever)
	// (func (export "f") (result i32) (i32.const 0))).
	startLoop := []byte{
		0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x60,
		0x00, 0x00, 0x60, 0x00, 0x01, 0x7f, 0x03, 0x03, 0x02, 0x00, 0x01, 0x07,
		0x05, 0x01, 0x01, 0x66, 0x00, 0x01, 0x08, 0x01, 0x00, 0x0a, 0x0e, 0x02,
		0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, 0x04, 0x00, 0x41, 0x00,
		0x0b,
	}
	quick, err := host.New(e.st, host.WithLimits(host.Limits{InstantiateTime: 200 * time.Millisecond}))
	must(t, err)
	defer quick.Stop(context.Background())
	if _, err := quick.RegisterPlugin(context.Background(), startLoop, host.PluginSpec{Name: "loop", Timeout: time.Hour}); !errors.Is(err, host.ErrInvalidPlugin) ||
		!strings.Contains(err.Error(), "instantiation time limit of 200ms") {
		t.Fatalf("a start function that never ends, with a timeout of an hour: %v", err)
	}
	// The default memory of a plugin is at most the host's.
	tiny, err := host.New(e.st, host.WithLimits(host.Limits{MemoryPages: 64}))
	must(t, err)
	defer tiny.Stop(context.Background())
	if info, err := tiny.RegisterPlugin(context.Background(), kernel, host.PluginSpec{Name: "k"}); err != nil || info.MemoryPages != 64 {
		t.Fatalf("a plugin's default memory on a host limited to 64 pages: %+v, %v", info, err)
	}
	registerPlugin(t, e.h, "wat/kernel.wasm", host.PluginSpec{Name: "k", Version: "1"})
	if _, err := e.h.RegisterPlugin(context.Background(), kernel, host.PluginSpec{Name: "k", Version: "1", Timeout: time.Second}); !errors.Is(err, host.ErrPluginExists) {
		t.Fatalf("version 1 again with other settings: %v, want ErrPluginExists", err)
	}
}

// TestPluginCannotReplaceHostActivity: a plugin whose NAME.FUNCTION is an activity the host
// registered itself is refused, naming the activity, and the host's activity keeps answering:
// a tenant's plugin must not take over an activity of every namespace.
func TestPluginCannotReplaceHostActivity(t *testing.T) {
	e := newEnv(t)
	must(t, e.h.RegisterActivity("kernel.echo", func(_ context.Context, in []byte) ([]byte, error) {
		return []byte(`"native"`), nil
	}))
	_, err := e.h.RegisterPlugin(context.Background(), pluginFixture(t, "wat/kernel.wasm"), host.PluginSpec{Name: "kernel"})
	if !errors.Is(err, host.ErrInvalidPlugin) || !strings.Contains(err.Error(), `"kernel.echo"`) {
		t.Fatalf("RegisterPlugin over a host activity: %v, want ErrInvalidPlugin naming kernel.echo", err)
	}
	in := e.call("kernel.echo", "x", nil)
	if string(in.Output) != `"native"` {
		t.Fatalf("kernel.echo answered %s, want the host's activity", in.Output)
	}
}
