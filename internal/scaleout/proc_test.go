//go:build unix

package scaleout

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/durohost/durohost/internal/testguest"
)

// buildHostProc compiles the command hostproc into a temporary directory.
func buildHostProc(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hostproc")
	cmd := exec.Command("go", "build", "-o", bin, "./internal/scaleout/hostproc")
	cmd.Dir = testguest.Root()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build hostproc: %v\n%s", err, out)
	}
	return bin
}

// hostProc is a running host process. Its standard output (its records) and standard error
// go to files; its standard input is a pipe that the test holds, so that the process ends
// when the test binary does, however it ends.
type hostProc struct {
	name            string
	cmd             *exec.Cmd
	outPath, errLog string
	stdin           io.WriteCloser
	done            chan struct{} // closed when the process has exited
}

// startHost starts the host process bin with args; it is killed when the test ends.
func startHost(t *testing.T, bin, name string, args ...string) *hostProc {
	t.Helper()
	dir := t.TempDir()
	p := &hostProc{name: name, cmd: exec.Command(bin, args...), done: make(chan struct{}),
		outPath: filepath.Join(dir, "records"), errLog: filepath.Join(dir, "stderr")}
	out, err := os.Create(p.outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	errf, err := os.Create(p.errLog)
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	p.cmd.Stdout, p.cmd.Stderr = out, errf
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start host %s: %v", name, err)
	}
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// exited reports whether the process has exited.
func (p *hostProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// records returns what the process has written so far.
func (p *hostProc) records(t *testing.T) []Record {
	t.Helper()
	b, err := os.ReadFile(p.outPath)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := ReadRecords(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("host %s: %v", p.name, err)
	}
	return recs
}

// ready reports whether the process has written its ready record.
func (p *hostProc) ready(t *testing.T) bool {
	for _, r := range p.records(t) {
		if r.Kind == RecordReady {
			return true
		}
	}
	return false
}

// String describes the process and the end of its standard error.
func (p *hostProc) String() string {
	b, _ := os.ReadFile(p.errLog)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	state := "running"
	if p.exited() {
		state = p.cmd.ProcessState.String()
	}
	return fmt.Sprintf("host %s (pid %d, %s), stderr:\n%s", p.name, p.cmd.Process.Pid, state, b)
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *hostProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill host %s: %v", p.name, err)
	}
	<-p.done
}

// stop asks the process to stop (SIGTERM) and waits for it to exit, at most timeout; it
// fails the test unless the process exits with status 0.
func (p *hostProc) stop(t *testing.T, timeout time.Duration) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("stop host %s: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("host %s did not stop within %s after SIGTERM\n%s", p.name, timeout, p)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("host %s exited with status %d after SIGTERM\n%s", p.name, code, p)
	}
}

// waitUntil calls cond until it reports true, failing the test when it returns an error or
// timeout passes, or when one of the hosts exits.
func waitUntil(t *testing.T, timeout time.Duration, what string, hosts []*hostProc, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		for _, h := range hosts {
			if h.exited() {
				t.Fatalf("waiting for %s: %s exited", what, h)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeze stops the process (SIGSTOP) and waits until it is stopped: it writes nothing more
// until thaw.
func (p *hostProc) freeze(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("freeze host %s: %v", p.name, err)
	}
	// The goroutine of startHost waits for the exit; this waits for the stop alone.
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(p.cmd.Process.Pid, &ws, syscall.WUNTRACED, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || !ws.Stopped() {
			t.Fatalf("freeze host %s: wait for the stop: %v (status %v)", p.name, err, ws)
		}
		return
	}
}

// thaw resumes a frozen process (SIGCONT).
func (p *hostProc) thaw(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("thaw host %s: %v", p.name, err)
	}
}
