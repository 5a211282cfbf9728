package durable

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
)

func TestMisusePanics(t *testing.T) {
	tests := []struct {
		name string
		do   func(ctx, other *Context)
		want string
	}{
		{"select a cancelled future", func(ctx, _ *Context) {
			a, b := ctx.Timer(time.Second), ctx.Timer(2*time.Second)
			ctx.Select(a, b)
			ctx.Select(b, ctx.Timer(time.Second))
		}, "Select: future 0 was cancelled"},
		{"wait any on a cancelled future", func(ctx, _ *Context) {
			f := ctx.Timer(time.Second)
			f.Cancel()
			ctx.WaitAny(f)
		}, "WaitAny: future 0 was cancelled"},
		{"select nothing", func(ctx, _ *Context) { ctx.Select() }, "Select with no futures"},
		{"nil future", func(ctx, _ *Context) { ctx.WaitAny(ctx.Timer(0), (*Future[int])(nil)) }, "nil Future"},
		{"nil future get", func(*Context, *Context) { (*Future[int])(nil).Get() }, "Get on a nil Future"},
		{"future of another context", func(ctx, other *Context) {
			ctx.Select(ctx.Timer(time.Second), other.Timer(time.Second))
		}, "future 1 belongs to another Context"},
		{"context after return", func(ctx, _ *Context) {
			ctx.done = true
			ctx.Timer(time.Second)
		}, "Context used after its orchestration returned"},
		{"future after return", func(ctx, _ *Context) {
			f := ctx.Timer(time.Second)
			ctx.done = true
			f.Cancel()
		}, "Context used after its orchestration returned"},
		{"instance ID on an activity", func(ctx, _ *Context) {
			ctx.CallActivity("a", nil, WithInstanceID("x"))
		}, "do not apply to activities"},
		{"retry on a detached orchestration", func(ctx, _ *Context) {
			ctx.StartOrchestration("a", nil, WithRetry(RetryPolicy{}))
		}, "does not apply to detached orchestrations"},
		{"retry with an explicit child ID", func(ctx, _ *Context) {
			ctx.CallSubOrchestration("a", nil, WithRetry(RetryPolicy{}), WithInstanceID("x"))
		}, "needs a derived instance ID"},
		{"empty activity name", func(ctx, _ *Context) { ctx.CallActivity("", nil) }, "activity with an empty name"},
		{"empty event name", func(ctx, _ *Context) { ctx.WaitForEvent("") }, "empty name"},
		{"empty queue name", func(ctx, _ *Context) { ctx.Dequeue("") }, "empty queue name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, _ := newTestContext(t)
			other, _ := newTestContext(t)
			msg := catchPanic(func() { tt.do(ctx, other) })
			if !strings.Contains(msg, tt.want) {
				t.Errorf("panic %q, want it to contain %q", msg, tt.want)
			}
		})
	}
}

func TestFutureGetTwiceAndCancel(t *testing.T) {
	ctx, h := newTestContext(t)
	h.activity = func(string, []byte, int) reply { return ok(`{"n":1}`) }
	type res struct{ N int }
	f := CallActivity[res](ctx, "a", 1)
	for range 2 {
		if v, err := f.Get(); err != nil || v.N != 1 {
			t.Fatalf("Get = %v, %v", v, err)
		}
	}
	f.Cancel() // settled: nothing to do
	if len(h.futures) != 0 {
		t.Errorf("handles left live: %v", h.futures)
	}
	g := ctx.Timer(time.Hour)
	g.Cancel()
	g.Cancel()
	if _, err := g.Get(); !errors.Is(err, ErrCancelled) {
		t.Errorf("cancelled Get: %v", err)
	}
	if err := ctx.WaitAll(f, g); !errors.Is(err, ErrCancelled) {
		t.Errorf("WaitAll: %v", err)
	}
	if d := diffLines(h.calls, []string{"activity a 1", "timer 1h0m0s", "cancel 2"}); d != "" {
		t.Error(d)
	}
}

func TestTypedEvent(t *testing.T) {
	ctx, h := newTestContext(t)
	h.events["e"] = []delivery{{at: time.Second, data: []byte(`{"ok":true}`)}}
	type data struct{ OK bool }
	v, err := WaitForEvent[data](ctx, "e").Get()
	if err != nil || !v.OK {
		t.Errorf("WaitForEvent = %+v, %v", v, err)
	}
}

func TestTypedDecodeError(t *testing.T) {
	ctx, h := newTestContext(t)
	h.activity = func(string, []byte, int) reply { return ok(`"text"`) }
	_, err := CallActivity[int](ctx, "a", nil).Get()
	if !errors.Is(err, &Error{Code: CodeBadPayload}) {
		t.Errorf("err = %v, want bad payload", err)
	}
	h.activity = func(string, []byte, int) reply { return reply{} }
	if v, err := CallActivity[int](ctx, "a", nil).Get(); err != nil || v != 0 {
		t.Errorf("empty result: %v, %v", v, err)
	}
}

func TestErrorIs(t *testing.T) {
	e := &Error{Kind: abi.FailureTimeout, Code: CodeAttemptTimeout, Message: "m"}
	tests := []struct {
		target error
		want   bool
	}{
		{ErrTimeout, true},
		{ErrCancelled, false},
		{&Error{Code: CodeAttemptTimeout}, true},
		{&Error{Kind: abi.FailureTimeout, Code: "other"}, false},
		{ErrContinueAsNew, false},
	}
	for _, tt := range tests {
		if got := errors.Is(e, tt.target); got != tt.want {
			t.Errorf("errors.Is(%v, %v) = %v, want %v", e, tt.target, got, tt.want)
		}
	}
	ctx, _ := newTestContext(t)
	if err := ctx.ContinueAsNew(nil); !errors.Is(err, ErrContinueAsNew) || errors.Is(err, ErrCancelled) {
		t.Errorf("ContinueAsNew error %v does not match ErrContinueAsNew", err)
	}
}

// TestErrorMessage: an *Error reads as its message, wrapped or not, and keeps its kind and
// code for errors.As.
func TestErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"message", NewError("insufficient_funds", "insufficient funds"), "insufficient funds"},
		{"wrapped", fmt.Errorf("charge: %w", NewError("insufficient_funds", "insufficient funds")), "charge: insufficient funds"},
		{"no message", &Error{Kind: abi.FailureTimeout, Code: CodeAttemptTimeout}, "timeout failure [attempt_timeout]"},
		{"nothing", &Error{Kind: abi.FailureCancelled}, "cancelled failure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
			e, ok := errors.AsType[*Error](tt.err)
			if !ok || e.Kind == 0 {
				t.Fatalf("errors.As finds no *Error with a kind in %v", tt.err)
			}
		})
	}
}

func TestLogger(t *testing.T) {
	ctx, h := newTestContext(t)
	h.replayUntil = 1 // replaying until the first command
	log := ctx.Logger().With("k", "v")
	log.Info("dropped while replaying")
	ctx.Timer(0)
	log.Debug("d")
	log.Info("hello", "n", 1)
	log.WithGroup("g").Warn("w", "x", true)
	log.Log(context.Background(), slog.LevelError+4, "e")
	ctx.done = true
	log.Info("dropped after return")
	want := []string{
		"timer 0s",
		"log 0 msg=d k=v",
		"log 1 msg=hello k=v n=1",
		"log 2 msg=w k=v g.x=true",
		"log 3 msg=e k=v",
	}
	if d := diffLines(h.calls, want); d != "" {
		t.Error(d)
	}
}

func TestNewUUID(t *testing.T) {
	ctx, _ := newTestContext(t)
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 100 {
		u := ctx.NewUUID()
		if !re.MatchString(u) {
			t.Fatalf("NewUUID() = %q, not an RFC 4122 v4 UUID", u)
		}
		if seen[u] {
			t.Fatalf("NewUUID() repeated %q", u)
		}
		seen[u] = true
	}
}

// countingHost counts the result calls of a fake host.
type countingHost struct {
	*fakeHost
	results int
}

func (h *countingHost) result(handle uint32, buf []byte) int32 {
	h.results++
	return h.fakeHost.result(handle, buf)
}

// TestResultSizes reads results smaller and larger than the Context's reused result buffer:
// one that fits takes one result call, a larger one two; a result read earlier is not
// overwritten by the next.
func TestResultSizes(t *testing.T) {
	h := newFakeHost(t, abi.StartInfo{Name: "test"})
	h.activity = func(_ string, input []byte, _ int) reply {
		n, _ := strconv.Atoi(string(input))
		return reply{result: bytes.Repeat([]byte{'a' + byte(n%26)}, n)}
	}
	ch := &countingHost{fakeHost: h}
	ctx := newContext(ch, h.info, "")
	sizes := []int{0, 1, resultBufSize - 8, resultBufSize, 3 * resultBufSize, maxResultBufSize + 1, 5}
	var got [][]byte
	for _, n := range sizes {
		before := ch.results
		b, err := ctx.CallActivity("size", []byte(strconv.Itoa(n))).Get()
		if err != nil {
			t.Fatalf("size %d: %v", n, err)
		}
		got = append(got, b)
		enc := len(abi.AppendCompletion(nil, &abi.Completion{Result: b}))
		want := 1 // no result here fits in a buffer grown by an earlier one but not in the first
		if enc > resultBufSize {
			want = 2
		}
		if calls := ch.results - before; calls != want {
			t.Errorf("size %d (%d bytes encoded): %d result calls, want %d", n, enc, calls, want)
		}
	}
	for i, n := range sizes {
		if want := bytes.Repeat([]byte{'a' + byte(n%26)}, n); !bytes.Equal(got[i], want) {
			t.Errorf("result %d of size %d was overwritten: %.20q...", i, n, got[i])
		}
	}
}
