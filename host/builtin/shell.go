package builtin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// shellInput is the input of the shell activity.
type shellInput struct {
	Command   *string           `json:"command"`
	Argv      []string          `json:"argv"`
	Dir       string            `json:"dir"`
	Env       map[string]string `json:"env"`
	Stdin     string            `json:"stdin"`
	TimeoutMS *int64            `json:"timeout_ms"`
	Check     bool              `json:"check"`
}

// shellOutput is the result of the shell activity. For each stream exactly one of the text
// and base64 fields is set.
type shellOutput struct {
	ExitCode     int     `json:"exit_code"`
	Stdout       *string `json:"stdout,omitempty"`
	StdoutBase64 string  `json:"stdout_base64,omitempty"`
	Stderr       *string `json:"stderr,omitempty"`
	StderrBase64 string  `json:"stderr_base64,omitempty"`
	Truncated    bool    `json:"truncated,omitempty"`
}

// shellActivity runs commands when enabled.
type shellActivity struct {
	cfg Config
}

// errShellTimeout is the cause of the context of a command whose "timeout_ms" passed.
var errShellTimeout = errors.New("shell timeout_ms passed")

// waitDelay is how long Wait waits for stdout and stderr to close after the process exits
// or is killed (a background process may hold them open).
const waitDelay = time.Second

// parse decodes and validates the input of shell.
func (in *shellInput) parse(input []byte, maxTimeout time.Duration) error {
	if err := decode("shell", input, in); err != nil {
		return err
	}
	bad := func(format string, args ...any) error {
		return newError("shell", ErrInvalidInput, format, args...)
	}
	switch {
	case in.Command == nil && in.Argv == nil, in.Command != nil && in.Argv != nil:
		return bad(`exactly one of "command" and "argv" is required`)
	case in.Command != nil && strings.TrimSpace(*in.Command) == "":
		return bad(`"command" must not be empty`)
	case in.Argv != nil && (len(in.Argv) == 0 || in.Argv[0] == ""):
		return bad(`"argv" must start with a program name`)
	}
	for k, v := range in.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
			return bad(`"env": %q is not a valid variable (names must be non-empty without "=" or NUL)`, k)
		}
	}
	maxMS := maxTimeout.Milliseconds()
	if in.TimeoutMS == nil {
		ms := min(ShellTimeout.Milliseconds(), maxMS)
		in.TimeoutMS = &ms
	}
	if *in.TimeoutMS < 1 || *in.TimeoutMS > maxMS {
		return bad(`"timeout_ms" must be between 1 and %d (raise the maximum with --shell-max-timeout)`, maxMS)
	}
	return nil
}

// run is the shell activity.
func (s *shellActivity) run(ctx context.Context, input []byte) ([]byte, error) {
	if !s.cfg.EnableShell {
		return nil, newError("shell", ErrShellDisabled, "the shell activity is disabled; start durohost with --enable-shell")
	}
	var in shellInput
	if err := in.parse(input, s.cfg.MaxShellTimeout); err != nil {
		return nil, err
	}
	timeout := time.Duration(*in.TimeoutMS) * time.Millisecond
	runCtx, cancel := context.WithTimeoutCause(ctx, timeout, errShellTimeout)
	defer cancel()

	argv := in.Argv
	if in.Command != nil {
		argv = []string{"/bin/sh", "-c", *in.Command}
	}
	cmd := exec.CommandContext(runCtx, argv[0], argv[1:]...)
	cmd.Dir = in.Dir
	if len(in.Env) > 0 {
		keys := make([]string, 0, len(in.Env))
		for k := range in.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		env := os.Environ()
		for _, k := range keys {
			env = append(env, k+"="+in.Env[k])
		}
		cmd.Env = env // later entries win
	}
	if in.Stdin != "" {
		cmd.Stdin = strings.NewReader(in.Stdin)
	}
	stdout := &capWriter{max: s.cfg.MaxOutputBytes}
	stderr := &capWriter{max: s.cfg.MaxOutputBytes}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	killGroupOnCancel(cmd)
	cmd.WaitDelay = waitDelay

	err := cmd.Run()
	if cmd.ProcessState == nil { // it did not start
		if ctx.Err() != nil {
			return nil, fmt.Errorf("shell: %w", ctx.Err())
		}
		return nil, fmt.Errorf("shell: start %s: %w", describeArgv(argv), err)
	}
	out := shellOutput{ExitCode: cmd.ProcessState.ExitCode(), Truncated: stdout.truncated || stderr.truncated}
	out.Stdout, out.StdoutBase64 = text(stdout.Bytes(), stdout.truncated)
	out.Stderr, out.StderrBase64 = text(stderr.Bytes(), stderr.truncated)
	result, merr := json.Marshal(out)
	if merr != nil {
		return nil, fmt.Errorf("shell: encode result: %w", merr)
	}
	var exit *exec.ExitError
	switch {
	case err == nil, errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState.Success():
		// Success; a background process that kept the pipes open is detached.
	case ctx.Err() != nil:
		return nil, fmt.Errorf("shell: %w", ctx.Err())
	case context.Cause(runCtx) == errShellTimeout:
		e := newError("shell", ErrTimeout, "%s did not finish within %d ms (\"timeout_ms\"); its process group was killed", describeArgv(argv), *in.TimeoutMS)
		e.Details = result
		return nil, e
	case errors.As(err, &exit), errors.Is(err, exec.ErrWaitDelay):
		// A non-zero exit, reported in the result.
	default:
		return nil, fmt.Errorf("shell: run %s: %w", describeArgv(argv), err)
	}
	if in.Check && out.ExitCode != 0 {
		msg := fmt.Sprintf("%s exited with code %d", describeArgv(argv), out.ExitCode)
		if tail := lastLine(stderr.Bytes()); tail != "" {
			msg += ": " + tail
		}
		e := newError("shell", ErrCommandFailed, "%s (\"check\" is true)", msg)
		e.Details = result
		return nil, e
	}
	return result, nil
}

// describeArgv names a command for error messages.
func describeArgv(argv []string) string {
	if len(argv) == 3 && argv[0] == "/bin/sh" && argv[1] == "-c" {
		return fmt.Sprintf("command %q", truncate(argv[2], 80))
	}
	return fmt.Sprintf("%q", truncate(strings.Join(argv, " "), 80))
}

// truncate shortens s to at most n bytes plus "...".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// lastLine returns the last non-empty line of b, shortened, for error messages.
func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(strings.ToValidUTF8(string(b), "\uFFFD")), "\n")
	return truncate(strings.TrimSpace(lines[len(lines)-1]), 200)
}

// text returns b as a string when it is UTF-8, else as base64. A truncated b may end in
// the middle of a character; that partial character is dropped.
func text(b []byte, truncated bool) (*string, string) {
	if truncated && !utf8.Valid(b) {
		for i := 1; i < utf8.UTFMax && i <= len(b); i++ {
			if utf8.Valid(b[:len(b)-i]) {
				b = b[:len(b)-i]
				break
			}
		}
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, ""
	}
	return nil, base64.StdEncoding.EncodeToString(b)
}

// capWriter keeps the first max bytes written to it and discards the rest, so that a
// chatty command neither blocks nor exhausts memory. (It must not embed bytes.Buffer, whose
// ReadFrom would let io.Copy bypass the cap.)
type capWriter struct {
	buf       bytes.Buffer
	max       int64
	truncated bool
}

// Write keeps what fits under the cap and always reports success.
func (w *capWriter) Write(p []byte) (int, error) {
	room := w.max - int64(w.buf.Len())
	if int64(len(p)) > room {
		w.truncated = true
		w.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return w.buf.Write(p)
}

// Bytes returns what was kept.
func (w *capWriter) Bytes() []byte { return w.buf.Bytes() }
