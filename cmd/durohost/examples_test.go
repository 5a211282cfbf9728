package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The example READMEs (wasm-examples/go/*/README.md) are followed as written: their command
// lines are read from the files, run from the repository root as a user would run them
// (`go run ./cmd/durohost` is the test's binary; <instance-id> the ID run printed), with the
// default store (in a temporary $XDG_DATA_HOME), and their outputs compared with what the
// README shows.

// repoRoot is the repository root, relative to this package.
const repoRoot = "../.."

// mdBlock is a fenced code block of a Markdown file.
type mdBlock struct{ lang, text string }

// codeBlocks returns the fenced code blocks of a Markdown file.
func codeBlocks(t *testing.T, path string) []mdBlock {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []mdBlock
	var cur *mdBlock
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			cur = &mdBlock{lang: strings.TrimPrefix(trimmed, "```")}
		case cur != nil && trimmed == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		}
	}
	return out
}

// commandLines returns the durohost command lines of the sh blocks, without "go run
// ./cmd/durohost" (the lines a user types; comments dropped).
func commandLines(blocks []mdBlock) [][]string {
	var out [][]string
	for _, b := range blocks {
		if b.lang != "sh" {
			continue
		}
		for _, line := range strings.Split(b.text, "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "go run ./cmd/durohost "); ok {
				out = append(out, shellWords(rest))
			}
		}
	}
	return out
}

// jsonBlocks returns the json blocks, each one value.
func jsonBlocks(blocks []mdBlock) []string {
	var out []string
	for _, b := range blocks {
		if b.lang == "json" {
			out = append(out, strings.TrimSpace(b.text))
		}
	}
	return out
}

// shellWords splits a command line as a POSIX shell does for words, single and double quotes
// (without expansions), stopping at a comment.
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			j := strings.IndexByte(s[i+1:], '"')
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '#' && !inWord:
			return words
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

func TestShellWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`run a --input '"World"'`, []string{"run", "a", "--input", `"World"`}},
		{`raise <id> approval '{"approved": true}'  # comment`, []string{"raise", "<id>", "approval", `{"approved": true}`}},
		{`x "a b"c`, []string{"x", "a bc"}},
	}
	for _, tt := range tests {
		if got := shellWords(tt.in); strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("shellWords(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// user runs durohost commands as a user of one machine would: from the repository root, with
// the default store of a data directory of their own.
type user struct {
	t   *testing.T
	bin string
	env []string
}

func newUser(t *testing.T) *user {
	bin, err := filepath.Abs(binary(t))
	if err != nil {
		t.Fatal(err)
	}
	return &user{t: t, bin: bin, env: []string{"XDG_DATA_HOME=" + t.TempDir()}}
}

// start starts durohost with args (a command line of a README, <instance-id> replaced by id).
func (u *user) start(args []string, id string) *process {
	u.t.Helper()
	args = substitute(args, id)
	p := &process{cmd: exec.Command(u.bin, args...), done: make(chan struct{})}
	p.cmd.Dir = repoRoot
	p.cmd.Env = append(os.Environ(), u.env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		u.t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	u.t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// run runs durohost with args to its end and returns its stdout; it fails the test unless the
// exit code is 0.
func (u *user) run(args []string, id string) string {
	u.t.Helper()
	p := u.start(args, id)
	if p.code() != 0 {
		u.t.Fatalf("%v", p)
	}
	return p.stdout.String()
}

// substitute replaces the README's placeholders: <instance-id> by id.
func substitute(args []string, id string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.ReplaceAll(a, "<instance-id>", id)
	}
	return out
}

// instanceLine is run's line naming the instance it started.
var instanceLine = regexp.MustCompile(`(?m)^instance (\S+)$`)

// instanceOf waits until run p has printed its instance ID and returns it.
func instanceOf(t *testing.T, p *process) string {
	t.Helper()
	var id string
	waitFor(t, 60*time.Second, "the instance ID of "+strings.Join(p.cmd.Args[1:], " "), func() bool {
		if m := instanceLine.FindStringSubmatch(p.stderr.String()); m != nil {
			id = m[1]
			return true
		}
		select {
		case <-p.done:
			t.Fatalf("run ended before it printed its instance: %v", p)
		default:
		}
		return false
	})
	return id
}

// finish waits for run p to end with exit code 0 and returns its output.
func finish(t *testing.T, p *process) string {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("run did not end: %v", p)
	}
	if p.code() != 0 {
		t.Fatalf("%v", p)
	}
	return strings.TrimSpace(p.stdout.String())
}

// sameJSON fails the test unless got and want are the same JSON value.
func sameJSON(t *testing.T, what, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("%s: %q is not JSON: %v", what, got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: the README's %q is not JSON: %v", what, want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Fatalf("%s: output %s, the README shows %s", what, got, want)
	}
}

// readmeOf returns the command lines and JSON blocks of an example's README.
func readmeOf(t *testing.T, example string) ([][]string, []string) {
	t.Helper()
	blocks := codeBlocks(t, filepath.Join(repoRoot, "wasm-examples", "go", example, "README.md"))
	return commandLines(blocks), jsonBlocks(blocks)
}

// inlineCommand returns the durohost command line of the example's README that is written
// as inline code starting with prefix (`go run ./cmd/durohost ...`).
func inlineCommand(t *testing.T, example, prefix string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "wasm-examples", "go", example, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	// Inline code, outside the fenced blocks, may wrap across lines of the Markdown source.
	var prose []string
	fenced := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			prose = append(prose, line)
		}
	}
	text := strings.Join(strings.Fields(strings.Join(prose, " ")), " ")
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(text, -1) {
		if strings.HasPrefix(m[1], prefix) {
			return shellWords(strings.TrimPrefix(m[1], "go run ./cmd/durohost "))
		}
	}
	t.Fatalf("the README of %s has no `%s...`", example, prefix)
	return nil
}

// timelineKinds counts the event kinds of a `durohost history` timeline.
func timelineKinds(timeline string) map[string]int {
	kinds := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(timeline))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 3 && strings.HasPrefix(f[0], "#") {
			kinds[f[2]]++
		}
	}
	return kinds
}

// TestExampleREADMEs follows the README of every Go example: run it, and from a second
// process raise its event, watch its status, read its history, as the README says.
func TestExampleREADMEs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	for _, name := range []string{"hello", "fanout", "approval", "saga", "monitor", "orders"} {
		prebuild(t, example(name))
	}
	t.Run("hello", func(t *testing.T) {
		t.Parallel()
		u := newUser(t)
		cmds, outs := readmeOf(t, "hello")
		sameJSON(t, "hello", strings.TrimSpace(u.run(cmds[0], "")), outs[0])
	})
	t.Run("fanout", func(t *testing.T) {
		t.Parallel()
		u := newUser(t)
		cmds, outs := readmeOf(t, "fanout")
		p := u.start(cmds[0], "")
		id := instanceOf(t, p)
		sameJSON(t, "fanout", finish(t, p), outs[0])
		// "Look at the recorded history (durohost history <instance-id>): the N activities
		// are all scheduled in one turn, before any of them completes."
		timeline := u.run([]string{"history", id}, "")
		var turn, scheduledIn []int
		for _, line := range strings.Split(timeline, "\n") {
			switch f := strings.Fields(line); {
			case len(f) >= 3 && f[2] == "turn_started":
				turn = append(turn, len(turn))
			case len(f) >= 3 && f[2] == "activity_scheduled":
				scheduledIn = append(scheduledIn, len(turn))
			}
		}
		if len(scheduledIn) != 10 || scheduledIn[0] != scheduledIn[9] {
			t.Fatalf("the 10 activities were not scheduled in one turn:\n%s", timeline)
		}
	})
	t.Run("approval", func(t *testing.T) {
		t.Parallel()
		u := newUser(t)
		cmds, outs := readmeOf(t, "approval")
		if len(cmds) < 2 || cmds[1][0] != "raise" {
			t.Fatalf("the README's second command is not a raise: %q", cmds)
		}
		p := u.start(cmds[0], "")
		id := instanceOf(t, p)
		// "the custom status tells clients what the instance is doing (durohost status
		// <instance-id>)"
		waitFor(t, 30*time.Second, "the custom status", func() bool {
			return strings.Contains(u.run([]string{"status", id}, ""), `custom status:  "waiting for approval"`)
		})
		// From another terminal, raise the event.
		if got, want := strings.TrimSpace(u.run(cmds[1], id)), `sent event "approval" to `+id; got != want {
			t.Fatalf("raise printed %q, want %q", got, want)
		}
		sameJSON(t, "approval", finish(t, p), outs[0])
		// A raise for an instance that does not exist says so.
		r := u.start([]string{"raise", "no-such-instance", "approval", "{}"}, "")
		if r.code() != exitError || !strings.Contains(r.stderr.String(), `no instance "no-such-instance"`) {
			t.Fatalf("raise to a missing instance: %v", r)
		}
		// "Durability: start it with a long timeout, press Ctrl-C, raise the event, then
		// resume with go run ./cmd/durohost run wasm-examples/go/approval --resume
		// <instance-id>."
		resume := inlineCommand(t, "approval", "go run ./cmd/durohost run wasm-examples/go/approval --resume ")
		p = u.start(cmds[0], "")
		id = instanceOf(t, p)
		waitFor(t, 30*time.Second, "the wait for the event", func() bool { return strings.Contains(p.stderr.String(), "timer created") })
		p.cmd.Process.Signal(os.Interrupt)
		if p.code() != exitInterrupted {
			t.Fatalf("Ctrl-C: %v", p)
		}
		u.run(cmds[1], id)
		sameJSON(t, "approval after Ctrl-C and resume", strings.TrimSpace(u.run(resume, id)), outs[0])
	})
	t.Run("saga", func(t *testing.T) {
		t.Parallel()
		u := newUser(t)
		cmds, outs := readmeOf(t, "saga")
		p := u.start(cmds[0], "")
		id := instanceOf(t, p)
		sameJSON(t, "saga", finish(t, p), outs[0])
		// "each booking and each cancellation is an activity, in the order they ran"
		kinds := timelineKinds(u.run([]string{"history", id}, ""))
		if kinds["activity_scheduled"] != 5 || kinds["activity_completed"] != 5 {
			t.Fatalf("history of %s: %v, want 5 activities", id, kinds)
		}
	})
	t.Run("monitor", func(t *testing.T) {
		t.Parallel()
		u := newUser(t)
		cmds, outs := readmeOf(t, "monitor")
		p := u.start(cmds[0], "")
		id := instanceOf(t, p)
		// "durohost status <instance-id> while it runs shows the custom status and the
		// current execution"
		waitFor(t, 30*time.Second, "a later execution with its custom status", func() bool {
			s := u.run([]string{"status", id}, "")
			return strings.Contains(s, "status:         running") && regexp.MustCompile(`execution:\s+[2-5]\n`).MatchString(s) &&
				regexp.MustCompile(`custom status:\s+"round \d of 5 done"`).MatchString(s)
		})
		sameJSON(t, "monitor", finish(t, p), outs[0])
		// "durohost history <instance-id> shows that each execution's history holds one
		// round (an activity, a timer, the continue-as-new)"
		for _, exec := range []string{"1", "4"} {
			kinds := timelineKinds(u.run([]string{"history", id, "--execution", exec}, ""))
			if kinds["activity_scheduled"] != 1 || kinds["timer_created"] != 1 || kinds["execution_continued_as_new"] != 1 {
				t.Fatalf("execution %s of %s: %v, want one activity, one timer, continue-as-new", exec, id, kinds)
			}
		}
	})
	t.Run("orders", func(t *testing.T) {
		t.Parallel()
		u := newUser(t)
		cmds, outs := readmeOf(t, "orders")
		p := u.start(cmds[0], "")
		id := instanceOf(t, p)
		sameJSON(t, "orders", finish(t, p), outs[0])
		// "durohost status <instance-id>-a and durohost history <instance-id>-a show one
		// child; the parent's history shows one start and one completion per child."
		if s := u.run([]string{"status", id + "-a"}, ""); !strings.Contains(s, "orchestration:  process_order") || !strings.Contains(s, "status:         completed") {
			t.Fatalf("status of child a:\n%s", s)
		}
		if kinds := timelineKinds(u.run([]string{"history", id + "-a"}, "")); kinds["activity_scheduled"] != 3 {
			t.Fatalf("history of child a: %v, want its three steps", kinds)
		}
		kinds := timelineKinds(u.run([]string{"history", id}, ""))
		if kinds["sub_orchestration_scheduled"] != 2 || kinds["sub_orchestration_completed"] != 2 {
			t.Fatalf("history of the parent: %v, want two children started and completed", kinds)
		}
	})
}
