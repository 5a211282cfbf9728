package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/durohost/durohost/internal/testguest"
)

// TestRunPlugin: durohost run --plugin registers a plugin's functions as activities before the
// host starts, so that an orchestration calls them (run fails unregistered activities at
// once); NAME=FILE names the plugin; a bad plugin file is refused naming it.
func TestRunPlugin(t *testing.T) {
	t.Parallel()
	guest := writeFile(t, "guest.wasm", testguest.Build(t, "conformance/guests/go", ""))
	kernel := pluginFile("wat/kernel.wasm")
	tests := []struct {
		name   string
		plugin string
		input  string
		code   int
		out    string // stdout (the output), or a part of stderr when the run fails
	}{
		{"file name", kernel, `{"activity":"kernel.echo","input":["x",1]}`, exitOK, `["x",1]`},
		{"named", "k=" + kernel, `{"activity":"k.echo","input":"y"}`, exitOK, `"y"`},
		{"plugin failure caught", kernel, `{"activity":"kernel.fail","input":"no","catch":true}`, exitOK, `DH-PLUGIN-`},
		{"not registered without the plugin", "", `{"activity":"kernel.echo","input":1}`, exitError, `activity "kernel.echo" is not registered`},
		{"not a plugin", watFixture("hello.wasm"), `null`, exitError, "hello.wasm"},
		{"missing file", filepath.Join(t.TempDir(), "nope.wasm"), `null`, exitError, "nope.wasm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"run", guest, "--orchestration", "sc_call", "--input", tt.input,
				"--store", filepath.Join(t.TempDir(), "p.db"), "--quiet"}
			if tt.plugin != "" {
				args = append(args, "--plugin", tt.plugin)
			}
			r := runCLI(args...)
			got := r.stdout
			if tt.code != exitOK {
				got = r.stderr
			}
			if r.code != tt.code || !strings.Contains(got, tt.out) {
				t.Fatalf("run %v: want exit %d and %q, got %v", args[1:], tt.code, tt.out, r)
			}
		})
	}
}
