package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/sqlite"
)

// pluginFile is the path of a committed plugin of wasm-examples/plugins.
func pluginFile(path string) string {
	return filepath.Join("..", "..", "wasm-examples", "plugins", path)
}

func TestPluginVerbs(t *testing.T) {
	ts := newTestServer(t)
	kernel := pluginFile("wat/kernel.wasm")
	ts.ok(t, "uploaded plugin kernel version 1", "plugin", "push", kernel, "--version", "1", "--allow-host", "api.example.org",
		"--config", "mode=fast", "--memory-limit", "1MiB", "--timeout", "2s", "--max-output", "64KiB")
	ts.ok(t, "activities kernel.big, kernel.echo", "plugin", "push", kernel, "--version", "1", "--allow-host", "api.example.org",
		"--config", "mode=fast", "--memory-limit", "1MiB", "--timeout", "2s", "--max-output", "64KiB")
	ts.ok(t, "already uploaded plugin kernel version 1", "plugin", "push", kernel, "--version", "1", "--allow-host", "api.example.org",
		"--config", "mode=fast", "--memory-limit", "1MiB", "--timeout", "2s", "--max-output", "64KiB")
	ts.fails(t, 1, "version_exists", "plugin", "push", kernel, "--version", "1")
	ts.ok(t, "uploaded plugin up version", "plugin", "push", pluginFile("assemblyscript/text.wasm"), "--name", "up",
		"--config", "greeting=Hello, again", "--config", "x=1")

	list := ts.ok(t, "NAME", "plugin", "list")
	if !strings.Contains(list, "kernel  1") || !strings.Contains(list, "greet,upper,words") {
		t.Errorf("plugin list:\n%s", list)
	}
	show := ts.ok(t, "activities:      kernel.big", "plugin", "show", "kernel")
	for _, want := range []string{"allowed hosts:   api.example.org", "memory limit:    1MiB", "timeout:         2s", "max output:      64KiB", "config:          mode=fast"} {
		if !strings.Contains(show, want) {
			t.Errorf("plugin show: no %q in\n%s", want, show)
		}
	}
	var p apiPlugin
	if err := json.Unmarshal([]byte(ts.ok(t, `"sha256"`, "plugin", "show", "kernel", "1", "--json")), &p); err != nil || p.MemoryPages != 16 {
		t.Errorf("plugin show --json: %+v, %v", p, err)
	}
	if up := ts.ok(t, "config:          greeting=Hello, again\nconfig:          x=1", "plugin", "show", "up"); up == "" {
		t.Error("plugin show up: empty")
	}
	ts.fails(t, 1, "plugin_not_found", "plugin", "show", "nope")
	ts.fails(t, 1, "--config \"x\": want KEY=VALUE", "plugin", "push", kernel, "--config", "x")
	ts.fails(t, 1, "--memory-limit", "plugin", "push", kernel, "--memory-limit", "lots")
	ts.fails(t, 1, "invalid_plugin", "plugin", "push", watFixture("hello.wasm"))
	ts.ok(t, "deleted 1 version(s) of kernel", "plugin", "rm", "kernel", "1")
	ts.ok(t, "deleted 1 version(s) of up", "plugin", "rm", "up")
	ts.fails(t, 1, "plugin_not_found", "plugin", "rm", "up")
}

// TestRegisterPluginFiles: what run --plugin registers: FILE or NAME=FILE, called by the
// orchestrations of the default namespace, allowed only run's --allow-http hosts.
func TestRegisterPluginFiles(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := host.New(st)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	defer h.Stop(ctx)
	infos, err := registerPluginFiles(ctx, h, []string{pluginFile("wat/kernel.wasm"), "up=" + pluginFile("assemblyscript/text.wasm")}, []string{"127.0.0.1:8080", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 || infos[0].Name != "kernel" || infos[1].Name != "up" || strings.Join(infos[1].AllowedHosts, ",") != "127.0.0.1" {
		t.Fatalf("registered %+v", infos)
	}
	if _, err := registerPluginFiles(ctx, h, []string{"missing.wasm"}, nil); err == nil || !strings.Contains(err.Error(), "--plugin missing.wasm") {
		t.Fatalf("a missing file: %v", err)
	}
	if _, err := registerPluginFiles(ctx, h, []string{watFixture("hello.wasm")}, nil); err == nil || !strings.Contains(err.Error(), "invalid plugin") {
		t.Fatalf("an orchestration module: %v", err)
	}
	if _, err := h.LoadModule(ctx, testguest.Build(t, "conformance/guests/go", "")); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	id, err := h.Client().Start(wctx, "sc_call", []byte(`{"activity":"up.upper","input":"run"}`))
	if err != nil {
		t.Fatal(err)
	}
	in, err := h.Client().Wait(wctx, id)
	if err != nil || in.Status != store.StatusCompleted || string(in.Output) != `"RUN"` {
		t.Fatalf("sc_call up.upper: %+v, %v", in, err)
	}
}

// TestReviewExample runs wasm-examples/plugins/review, whose activities are the example
// plugins, with a loopback server as the allowed host: the review, then a URL whose host is
// not allowed, which fails the orchestration with the plugin's code after its retries.
func TestReviewExample(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"doc": [1, 2, 3]}`)
	}))
	defer srv.Close()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := host.New(st)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	defer h.Stop(ctx)
	files := []string{pluginFile("assemblyscript/fetch.wasm"), pluginFile("assemblyscript/json.wasm"), pluginFile("assemblyscript/text.wasm")}
	if _, err := registerPluginFiles(ctx, h, files, []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.LoadModule(ctx, testguest.Build(t, "wasm-examples/plugins/review", "")); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	run := func(url string) *store.Instance {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		in, _ := json.Marshal(map[string]string{"url": url, "title": "a plugin review"})
		id, err := h.Client().Start(wctx, "review", in)
		if err != nil {
			t.Fatal(err)
		}
		inst, err := h.Client().Wait(wctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return inst
	}
	if in := run(srv.URL + "/doc.json"); in.Status != store.StatusCompleted || string(in.Output) != `{"type":"object","title":"A PLUGIN REVIEW","words":3}` {
		t.Fatalf("review: %v %s %+v", in.Status, in.Output, in.Failure)
	}
	forbidden := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	if in := run(forbidden); in.Status != store.StatusFailed || in.Failure.Code != host.CodePluginHTTPForbidden {
		t.Fatalf("review of a host not allowed: %v %+v", in.Status, in.Failure)
	}
}
