//go:build unix

package builtin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// decodeShell decodes a result of the shell activity strictly.
func decodeShell(t *testing.T, data []byte) shellOutput {
	t.Helper()
	var out shellOutput
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return out
}

// str returns *p, or "<nil>".
func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestShellDisabled(t *testing.T) {
	for _, input := range []string{`{"command": "echo hi"}`, `{}`, `not JSON`} {
		_, err := activities(t, Config{})["shell"](context.Background(), []byte(input))
		wantError(t, err, "[DH-BUILTIN-003] shell: the shell activity is disabled; start durohost with --enable-shell", ErrShellDisabled)
	}
}

func TestShell(t *testing.T) {
	dir := t.TempDir()
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		input     string
		maxOutput int64
		exit      int
		stdout    string // "b64:" prefix for stdout_base64
		stderr    string
		truncated bool
		err       string
		is        error
		details   string // expected in the error's Details
	}{
		{name: "command", input: `{"command": "echo hi; echo oops >&2"}`, stdout: "hi\n", stderr: "oops\n"},
		{name: "argv", input: `{"argv": ["printf", "%s|%s", "a b", "$HOME"]}`, stdout: "a b|$HOME"},
		{name: "exit code is a result", input: `{"command": "echo partial; exit 3"}`, exit: 3, stdout: "partial\n"},
		{name: "check success", input: `{"command": "true", "check": true}`},
		{name: "check failure", input: `{"command": "echo first >&2; echo boom >&2; exit 2", "check": true}`, is: ErrCommandFailed,
			err:     `[DH-BUILTIN-006] shell: command "echo first >&2; echo boom >&2; exit 2" exited with code 2: boom ("check" is true)`,
			details: `{"exit_code":2,"stdout":"","stderr":"first\nboom\n"}`},
		{name: "check failure argv", input: `{"argv": ["false"], "check": true}`, is: ErrCommandFailed, err: `shell: "false" exited with code 1 ("check" is true)`},
		{name: "stdin", input: `{"command": "tr a-z A-Z", "stdin": "hello\n"}`, stdout: "HELLO\n"},
		{name: "no stdin", input: `{"command": "cat"}`, stdout: ""},
		{name: "env", input: `{"command": "printf '%s %s' \"$DUROHOST_A\" \"$DUROHOST_B\"", "env": {"DUROHOST_A": "x=1", "DUROHOST_B": ""}}`, stdout: "x=1 "},
		{name: "env keeps PATH", input: `{"argv": ["sh", "-c", "printf %s \"$DUROHOST_A\""], "env": {"DUROHOST_A": "y"}}`, stdout: "y"},
		{name: "dir", input: fmt.Sprintf(`{"command": "pwd -P", "dir": %q}`, dir), stdout: realDir + "\n"},
		{name: "not UTF-8", input: `{"command": "printf '\\377\\376'"}`, stdout: "b64://4="},
		{name: "truncated", input: `{"command": "printf 0123456789abcdef; printf 0123456789abcdef >&2"}`, maxOutput: 10,
			stdout: "0123456789", stderr: "0123456789", truncated: true},
		{name: "truncated mid-character", input: `{"command": "printf 'aaaaaaaaa\\303\\251'"}`, maxOutput: 10,
			stdout: "aaaaaaaaa", truncated: true},
		{name: "killed by a signal", input: `{"command": "kill -9 $$"}`, exit: -1},
		{name: "not found", input: `{"argv": ["durohost-no-such-program"]}`, err: `shell: start "durohost-no-such-program": exec: "durohost-no-such-program": executable file not found`},
		{name: "bad dir", input: fmt.Sprintf(`{"command": "true", "dir": %q}`, filepath.Join(dir, "missing")), err: `shell: start command "true"`},
		{name: "neither", input: `{"dir": "/"}`, is: ErrInvalidInput, err: `[DH-BUILTIN-001] shell: exactly one of "command" and "argv" is required`},
		{name: "both", input: `{"command": "true", "argv": ["true"]}`, is: ErrInvalidInput, err: `shell: exactly one of "command" and "argv" is required`},
		{name: "empty command", input: `{"command": " "}`, is: ErrInvalidInput, err: `shell: "command" must not be empty`},
		{name: "empty argv", input: `{"argv": []}`, is: ErrInvalidInput, err: `shell: "argv" must start with a program name`},
		{name: "argv not strings", input: `{"argv": ["echo", 1]}`, is: ErrInvalidInput, err: `shell: "argv" must be an array of strings, but an element is number`},
		{name: "bad env", input: `{"command": "true", "env": {"A=B": "1"}}`, is: ErrInvalidInput, err: `shell: "env": "A=B" is not a valid variable`},
		{name: "check not bool", input: `{"command": "true", "check": "yes"}`, is: ErrInvalidInput, err: `shell: "check" must be a boolean, not string`},
		{name: "timeout over max", input: `{"command": "true", "timeout_ms": 86400001}`, is: ErrInvalidInput,
			err: `shell: "timeout_ms" must be between 1 and 86400000 (raise the maximum with --shell-max-timeout)`},
		{name: "typo", input: `{"cmd": "true"}`, is: ErrInvalidInput, err: `shell: unknown field "cmd" (known fields: argv, check, command, dir, env, stdin, timeout_ms)`},
		{name: "empty input", input: ``, is: ErrInvalidInput, err: `exactly one of "command" and "argv" is required`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shell := activities(t, Config{EnableShell: true, MaxOutputBytes: tt.maxOutput})["shell"]
			data, err := shell(context.Background(), []byte(tt.input))
			wantError(t, err, tt.err, tt.is)
			if err != nil {
				if tt.details != "" {
					var e *Error
					if !errors.As(err, &e) || string(e.Details) != tt.details {
						t.Fatalf("details of %v: want %s", err, tt.details)
					}
				}
				return
			}
			out := decodeShell(t, data)
			if out.ExitCode != tt.exit {
				t.Fatalf("exit code %d, want %d (%s)", out.ExitCode, tt.exit, data)
			}
			if b64, ok := strings.CutPrefix(tt.stdout, "b64:"); ok {
				if out.StdoutBase64 != b64 || out.Stdout != nil {
					t.Fatalf("result %s, want stdout_base64 %q", data, b64)
				}
			} else if str(out.Stdout) != tt.stdout {
				t.Fatalf("stdout %q, want %q", str(out.Stdout), tt.stdout)
			}
			if str(out.Stderr) != tt.stderr {
				t.Fatalf("stderr %q, want %q", str(out.Stderr), tt.stderr)
			}
			if out.Truncated != tt.truncated {
				t.Fatalf("truncated %v, want %v", out.Truncated, tt.truncated)
			}
		})
	}
}

// gone reports whether the process pid no longer runs (it does not exist or is a zombie
// waiting for a parent that may never reap it).
func gone(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	// The state follows the command name in parentheses: "pid (comm) S ...".
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runAsync runs the activity in a goroutine and returns a function that waits for its
// result, failing the test if it does not come within a deadline.
func runAsync(t *testing.T, fn ActivityFunc, ctx context.Context, input string) func() ([]byte, error) {
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		data, err := fn(ctx, []byte(input))
		done <- result{data, err}
	}()
	return func() ([]byte, error) {
		t.Helper()
		select {
		case r := <-done:
			return r.data, r.err
		case <-time.After(10 * time.Second):
			t.Fatal("the shell activity did not return; was its process group killed?")
			return nil, nil
		}
	}
}

// backgroundPID is a command that starts a long sleep in the background, writes its PID to
// the file $PIDFILE (atomically) and waits for it: the sleep holds stdout open, so the
// activity returns only once the whole process group is dead.
const backgroundPID = `sleep 60 & echo $! > "$PIDFILE.tmp" && mv "$PIDFILE.tmp" "$PIDFILE"; echo started; wait`

// readPID waits for the file written by backgroundPID and returns the PID in it.
func readPID(t *testing.T, file string) int {
	t.Helper()
	var pid int
	waitFor(t, "the PID file", func() bool {
		data, err := os.ReadFile(file)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(data)))
		return err == nil
	})
	return pid
}

func TestShellTimeoutKillsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	shell := activities(t, Config{EnableShell: true})["shell"]
	input := fmt.Sprintf(`{"command": %q, "env": {"PIDFILE": %q}, "timeout_ms": 1000}`, backgroundPID, pidFile)
	wait := runAsync(t, shell, context.Background(), input)
	pid := readPID(t, pidFile)
	_, err := wait()
	wantError(t, err, `[DH-BUILTIN-005] shell: command "sleep 60 & echo`, ErrTimeout)
	wantError(t, err, `did not finish within 1000 ms ("timeout_ms"); its process group was killed`, ErrTimeout)
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(string(e.Details), `"stdout":"started\n"`) {
		t.Fatalf("the details of %v lack the output so far", err)
	}
	waitFor(t, "the background sleep to die", func() bool { return gone(pid) })
}

func TestShellCancelKillsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	shell := activities(t, Config{EnableShell: true})["shell"]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	input := fmt.Sprintf(`{"command": %q, "env": {"PIDFILE": %q}}`, backgroundPID, pidFile)
	wait := runAsync(t, shell, ctx, input)
	pid := readPID(t, pidFile)
	cancel()
	_, err := wait()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	waitFor(t, "the background sleep to die", func() bool { return gone(pid) })
}

func TestShellCancelledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := activities(t, Config{EnableShell: true})["shell"](ctx, []byte(`{"command": "true"}`))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}
