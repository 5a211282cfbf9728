package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFirstTenMinutes follows docs/first-ten-minutes.md: its shell blocks run as written (by
// sh, with `go run ./cmd/durohost` being the test's binary), in a directory that stands for
// the checkout (a module whose go.mod points the durohost module at this checkout, so that
// the guide's orchestration builds against this SDK, offline), with the default store of a
// data directory of the test's own; outputs are compared with the guide's JSON blocks.
func TestFirstTenMinutes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	u := newUser(t)
	checkout, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	goMod, err := os.ReadFile(filepath.Join(checkout, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mod := regexp.MustCompile(`(?m)^module .*$`).ReplaceAllString(string(goMod), "module guide")
	mod += "\nrequire github.com/durohost/durohost v0.0.0\n\nreplace github.com/durohost/durohost => " + checkout + "\n"
	goSum, err := os.ReadFile(filepath.Join(checkout, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"go.mod": mod, "go.sum": string(goSum)} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	u.env = append(u.env, "GOFLAGS=-mod=mod", "GOPROXY=off")

	var sh []string // the sh blocks, in order
	var outputs []string
	for _, b := range codeBlocks(t, filepath.Join(checkout, "docs", "first-ten-minutes.md")) {
		switch b.lang {
		case "sh":
			sh = append(sh, strings.ReplaceAll(b.text, "go run ./cmd/durohost ", u.bin+" "))
		case "json":
			outputs = append(outputs, strings.TrimSpace(b.text))
		}
	}
	if len(sh) != 10 || len(outputs) != 3 {
		t.Fatalf("the guide has %d shell blocks and %d outputs; this test follows 10 and 3", len(sh), len(outputs))
	}
	// shell starts a block in root; exec makes a one-command block the durohost process itself.
	shell := func(block string) *process {
		t.Helper()
		script := block
		if strings.Count(strings.TrimSpace(block), "\n") == 0 && !strings.Contains(block, ">") {
			script = "exec " + block
		}
		p := &process{cmd: exec.Command("sh", "-c", script), done: make(chan struct{})}
		p.cmd.Dir = root
		p.cmd.Env = append(os.Environ(), u.env...)
		p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			p.err = p.cmd.Wait()
			close(p.done)
		}()
		t.Cleanup(func() {
			p.cmd.Process.Kill()
			<-p.done
		})
		return p
	}
	ok := func(block string) string {
		t.Helper()
		p := shell(block)
		if p.code() != 0 {
			t.Fatalf("%v", p)
		}
		return strings.TrimSpace(p.stdout.String())
	}

	// 1. Write an orchestration.
	ok(sh[0])
	// 2. Run it: it waits for its event.
	ada := shell(sh[1])
	instanceOf(t, ada)
	// 3. Its custom status, from a second terminal, then the event.
	waitFor(t, 60*time.Second, "the custom status the guide shows", func() bool { return ok(sh[2]) == outputs[0] })
	if got := ok(sh[3]); got != `sent event "style" to greet-ada` {
		t.Fatalf("raise printed %q", got)
	}
	sameJSON(t, "greet-ada", finish(t, ada), outputs[1])
	if s := u.run([]string{"status", "greet-ada"}, ""); !strings.Contains(s, "status:         completed") || !strings.Contains(s, `output:         "Hello, Ada!"`) {
		t.Fatalf("status of greet-ada:\n%s", s)
	}
	// 4. Crash it and resume: a second instance gets its event at once, and is killed during
	// its timer.
	grace := shell(sh[4])
	instanceOf(t, grace)
	ok(sh[5])
	waitFor(t, 60*time.Second, "the timer of greet-grace", func() bool { return strings.Contains(grace.stderr.String(), "timer created") })
	grace.cmd.Process.Signal(syscall.SIGKILL)
	<-grace.done
	sameJSON(t, "resumed greet-grace", ok(sh[6]), outputs[2])
	if kinds := timelineKinds(ok(sh[7])); kinds["activity_scheduled"] != 1 || kinds["turn_started"] != 0 {
		t.Fatalf("decisions of greet-grace: %v, want echo scheduled once and no turn markers", kinds)
	}
	// 5. A new build against a recorded history.
	ok(sh[8])
	p := shell(sh[9])
	if p.code() != exitError || !strings.Contains(p.stdout.String(), "diverges: greet-ada execution 1") || !strings.Contains(p.stdout.String(), "DH-NONDET-001") {
		t.Fatalf("replay of the changed build: %v", p)
	}
}
