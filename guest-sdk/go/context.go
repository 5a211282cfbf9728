package durable

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/durohost/durohost/abi"
)

// Context is an orchestration's view of its execution: its metadata, and the only way to
// start work, wait, set a custom status and log. It is valid only while the Orchestration it
// was passed to runs; using it afterwards panics. It is not safe for use by several goroutines
// (an orchestration has no reason to start any: nothing runs while it waits).
type Context struct {
	h       host
	info    abi.StartInfo
	version string
	status  []byte
	logger  *slog.Logger
	done    bool

	// drivers are the pending futures that must advance on every await (retrying calls).
	drivers []*future
	// scratch of waitAny
	epoch   uint64
	handles []uint32
	owners  []*future
	// cmd holds the encoding of the command being scheduled, res the completion being read:
	// both are reused, so that an operation costs no allocation for its messages.
	cmd []byte
	res []byte
}

// Sizes of Context.res: the first result buffer, and the largest one kept for the next
// results (a larger completion is read into a buffer of its own).
const (
	resultBufSize    = 1 << 10
	maxResultBufSize = 64 << 10
)

func newContext(h host, info abi.StartInfo, version string) *Context {
	c := &Context{h: h, info: info, version: version, status: info.CustomStatus}
	c.logger = slog.New(newLogHandler(c))
	return c
}

// check panics when the Context is used after its orchestration returned.
func (c *Context) check() {
	if c == nil {
		panic("durable: nil Context")
	}
	if c.done {
		panic("durable: Context used after its orchestration returned")
	}
}

// InstanceID returns the ID of the orchestration instance.
func (c *Context) InstanceID() string { return c.info.InstanceID }

// ExecutionID returns the number of the execution: 1 for the first, incremented by every
// continue-as-new.
func (c *Context) ExecutionID() uint32 { return c.info.ExecutionID }

// Name returns the orchestration's registered name.
func (c *Context) Name() string { return c.info.Name }

// Version returns the registered version that runs (the highest one when the start request
// named none), or "" for an unversioned orchestration.
func (c *Context) Version() string { return c.version }

// ParentID returns the instance ID of the parent orchestration, or "" when the instance is
// not a sub-orchestration.
func (c *Context) ParentID() string { return c.info.ParentID }

// StartTime returns the logical time at which the execution started.
func (c *Context) StartTime() time.Time { return time.Unix(0, c.info.StartTime) }

// IsReplaying reports whether the orchestration is re-executing a part that history already
// recorded. Code needs it rarely: the logger, stdout and stderr already drop output while
// replaying.
func (c *Context) IsReplaying() bool {
	c.check()
	return c.h.isReplaying() != 0
}

// Now returns the logical time: time.Now, which the host makes a function of history (the
// time of the turn being executed), so it is the same on every replay.
func (c *Context) Now() time.Time { return time.Now() }

// NewUUID returns a random RFC 4122 version 4 UUID in its canonical text form. It reads
// crypto/rand, which the host seeds per execution, so replay returns the same UUIDs in the
// same order.
func (c *Context) NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// Logger returns a replay-safe logger: its records go to the host's log function, and are
// dropped (without being formatted) while the orchestration replays.
func (c *Context) Logger() *slog.Logger { return c.logger }

// CustomStatus returns the instance's custom status and whether one is set. A new execution
// starts with the status its previous execution left (continue-as-new).
func (c *Context) CustomStatus() ([]byte, bool) {
	return slices.Clone(c.status), c.status != nil
}

// SetCustomStatus sets the instance's custom status, visible to clients; the host records it
// in history. A nil status sets an empty one; use ClearCustomStatus to remove it.
func (c *Context) SetCustomStatus(status []byte) {
	c.check()
	if status == nil {
		status = []byte{}
	}
	c.status = slices.Clone(status)
	c.h.setStatus(status, false)
}

// ClearCustomStatus removes the instance's custom status.
func (c *Context) ClearCustomStatus() {
	c.check()
	c.status = nil
	c.h.setStatus(nil, true)
}

// SetCustomStatus sets the instance's custom status to the JSON encoding of v.
func SetCustomStatus(c *Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode custom status: %w", err)
	}
	c.SetCustomStatus(b)
	return nil
}

// ContinueAsNew returns an error that, returned by the orchestration, ends this execution and
// starts a new one of the same instance with input; the custom status and the unconsumed queue
// messages carry over. Nothing happens until the orchestration returns it.
func (c *Context) ContinueAsNew(input []byte) error {
	return &continueAsNew{input: slices.Clone(input)}
}

// ContinueAsNewVersion is ContinueAsNew, with the next execution running version (an empty
// version keeps the current one).
func (c *Context) ContinueAsNewVersion(input []byte, version string) error {
	return &continueAsNew{input: slices.Clone(input), version: version}
}

// ContinueAsNew is Context.ContinueAsNew with the input encoded to JSON. An input that does
// not encode is an *Error of code CodeBadPayload (the orchestration fails with it).
func ContinueAsNew(c *Context, input any) error {
	return ContinueAsNewVersion(c, input, "")
}

// ContinueAsNewVersion is Context.ContinueAsNewVersion with the input encoded to JSON: the
// next execution runs version (an empty version keeps the current one).
func ContinueAsNewVersion(c *Context, input any, version string) error {
	b, err := json.Marshal(input)
	if err != nil {
		return &Error{Kind: abi.FailureApplication, Code: CodeBadPayload,
			Message: fmt.Sprintf("encode the continue-as-new input: %v", err)}
	}
	return c.ContinueAsNewVersion(b, version)
}

// schedule records a command and returns its handle.
func (c *Context) schedule(cmd *abi.Command) uint32 {
	c.check()
	c.cmd = abi.AppendCommand(c.cmd[:0], cmd)
	h := c.h.schedule(c.cmd)
	if h <= 0 {
		panic(fmt.Sprintf("durable: schedule %s %q returned %d", cmd.Kind, cmd.Name, h))
	}
	return uint32(h)
}

// readResult reads and releases the completion of a handle that await reported complete.
// Most completions fit in the reused buffer and take one result call; a larger one takes a
// second call with a buffer of its size (ABI.md, size-then-read).
func (c *Context) readResult(h uint32) ([]byte, error) {
	if c.res == nil {
		c.res = make([]byte, resultBufSize)
	}
	buf := c.res
	n := c.h.result(h, buf)
	switch {
	case n == abi.StatusNotReady:
		panic(fmt.Sprintf("durable: result of handle %d not ready after await reported it", h))
	case n < 0:
		panic(fmt.Sprintf("durable: result of handle %d returned %d", h, n))
	case int(n) > len(buf):
		buf = make([]byte, n)
		if m := c.h.result(h, buf); m != n {
			panic(fmt.Sprintf("durable: result of handle %d: size %d, then %d", h, n, m))
		}
		if n <= maxResultBufSize {
			c.res = buf
		}
	}
	var comp abi.Completion
	if n > 0 {
		// The decoded result does not share buf, which the next result overwrites.
		if err := abi.DecodeCompletion(buf[:n], &comp); err != nil {
			panic(fmt.Sprintf("durable: decode completion of handle %d: %v", h, err))
		}
	}
	if comp.Failure != nil {
		return nil, errorOf(comp.Failure)
	}
	return comp.Result, nil
}

func (c *Context) cancelHandle(h uint32) {
	if st := c.h.cancel(h); st != abi.StatusOK {
		panic(fmt.Sprintf("durable: cancel handle %d returned %d", h, st))
	}
}

// drive makes f advance on every await until it settles.
func (c *Context) drive(f *future) {
	f.driven = true
	c.drivers = append(c.drivers, f)
}

func (c *Context) undrive(f *future) {
	f.driven = false
	if i := slices.Index(c.drivers, f); i >= 0 {
		c.drivers = slices.Delete(c.drivers, i, i+1)
	}
}
