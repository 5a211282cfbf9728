package durable

import (
	"encoding/json"
	"fmt"

	"github.com/durohost/durohost/abi"
)

// Awaitable is any future: a *Future[T] of any T. Context.Select, Context.WaitAny and
// Context.WaitAll accept a mix of them. It is implemented only by this package's futures.
type Awaitable interface {
	core() *future
}

// Future is the pending result of something an orchestration started: an activity, a timer,
// an external event, a queue message, a sub-orchestration. Futures are not goroutines and not
// channels: nothing happens while the orchestration is not waiting, and every wait is one
// await host call (see Context.WaitAny).
//
// Get waits for the result. A Future must be used only with the Context that created it and
// only while its orchestration runs.
type Future[T any] struct {
	f       *future
	kind    resultKind
	decoded bool
	val     T
	err     error
}

// resultKind says how a Future[T] turns its payload into a T.
type resultKind uint8

const (
	resultJSON  resultKind = iota // decode the payload as JSON (the typed helpers)
	resultBytes                   // T is []byte: the payload itself
	resultNone                    // T is struct{}: no payload (timers)
)

// Get waits until the future completes and returns its result, or its failure as an *Error.
// Get may be called again: it returns the same values. A cancelled future returns an error
// matching ErrCancelled.
func (f *Future[T]) Get() (T, error) {
	if f == nil || f.f == nil {
		panic("durable: Get on a nil Future")
	}
	f.f.wait()
	if !f.decoded {
		f.decoded = true
		switch {
		case f.f.err != nil:
			f.err = f.f.err
		case f.kind == resultBytes:
			*any(&f.val).(*[]byte) = f.f.result
		case f.kind == resultJSON:
			f.val, f.err = decodeJSON[T](f.f.result)
		}
	}
	return f.val, f.err
}

// Cancel drops the future: if it has not completed, the host records the cancellation and
// stops the work (an activity is withdrawn, a child cancelled, a timer ignored, an event or
// queue subscription withdrawn). Get then returns an error matching ErrCancelled. Cancelling a
// completed or cancelled future does nothing.
func (f *Future[T]) Cancel() {
	if f == nil || f.f == nil {
		panic("durable: Cancel on a nil Future")
	}
	f.f.cancel()
}

func (f *Future[T]) core() *future {
	if f == nil || f.f == nil {
		panic("durable: nil Future")
	}
	return f.f
}

// futureState is the life cycle of a future.
type futureState uint8

const (
	pending   futureState = iota // waiting for a completion
	settled                      // result or err is set, every handle released
	cancelled                    // cancelled before it settled; err is the cancellation
)

// machine is what a future waits on. A plain command waits on one handle; a retrying call is a
// small state machine that waits on an attempt, its timeout timer, then a backoff timer.
type machine interface {
	// waiting appends the handles the machine currently waits on (at least one while pending).
	waiting(dst []uint32) []uint32
	// ready is called when await reported h complete. The machine reads it and advances, maybe
	// scheduling new commands; done reports that the future settled with result or err.
	ready(h uint32) (done bool, result []byte, err error)
	// cancel cancels every handle the machine holds.
	cancel()
}

// future is the untyped core shared by every Future[T].
type future struct {
	ctx    *Context
	m      machine
	state  futureState
	result []byte
	err    error
	// driven futures are advanced by every await of the Context (see Context.drivers).
	driven bool
	// mark deduplicates futures while an await's handle list is built.
	mark uint64
}

func (f *future) settle(result []byte, err error) {
	f.state, f.result, f.err = settled, result, err
	f.m = nil
	if f.driven {
		f.ctx.undrive(f)
	}
}

func (f *future) wait() {
	if f.state == pending {
		f.ctx.waitAny([]*future{f})
	}
}

func (f *future) cancel() {
	f.ctx.check()
	if f.state != pending {
		return
	}
	f.m.cancel()
	f.settle(nil, &Error{Kind: abi.FailureCancelled, Message: "future cancelled by the orchestration"})
	f.state = cancelled
}

// handleMachine waits on one handle: every ABI command but a retrying call.
type handleMachine struct {
	ctx *Context
	h   uint32
}

func (m *handleMachine) waiting(dst []uint32) []uint32 { return append(dst, m.h) }

func (m *handleMachine) ready(h uint32) (bool, []byte, error) {
	res, err := m.ctx.readResult(h)
	return true, res, err
}

func (m *handleMachine) cancel() { m.ctx.cancelHandle(m.h) }

// handleFuture is a future waiting on one handle, with its core and machine: the future of
// every command but a retrying call, allocated in one piece.
type handleFuture[T any] struct {
	fut  Future[T]
	core future
	hm   handleMachine
}

// scheduled schedules cmd and returns its future.
func scheduled[T any](c *Context, cmd *abi.Command, kind resultKind) *Future[T] {
	h := c.schedule(cmd)
	x := &handleFuture[T]{hm: handleMachine{ctx: c, h: h}}
	x.core = future{ctx: c, m: &x.hm}
	x.fut = Future[T]{f: &x.core, kind: kind}
	return &x.fut
}

// failedFuture returns a future that settled with err without scheduling anything (a typed
// helper whose input could not be encoded).
func failedFuture[T any](ctx *Context, err error) *Future[T] {
	return &Future[T]{f: &future{ctx: ctx, state: settled, err: err}}
}

// decodeJSON decodes a JSON payload; an empty payload is the zero T.
func decodeJSON[T any](b []byte) (T, error) {
	var v T
	if len(b) == 0 {
		return v, nil
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, &Error{Kind: abi.FailureApplication, Code: CodeBadPayload,
			Message: fmt.Sprintf("decode result as %T: %v", v, err)}
	}
	return v, nil
}

// cores validates the futures given to a wait and returns their cores.
func (c *Context) cores(op string, fs []Awaitable, allowCancelled bool) []*future {
	c.check()
	if len(fs) == 0 {
		panic("durable: " + op + " with no futures")
	}
	out := make([]*future, len(fs))
	for i, a := range fs {
		if a == nil {
			panic(fmt.Sprintf("durable: %s: future %d is nil", op, i))
		}
		f := a.core()
		if f.ctx != c {
			panic(fmt.Sprintf("durable: %s: future %d belongs to another Context", op, i))
		}
		if f.state == cancelled && !allowCancelled {
			panic(fmt.Sprintf("durable: %s: future %d was cancelled (a Select loser?) and its handle released", op, i))
		}
		out[i] = f
	}
	return out
}

// Select waits until one of the futures completes, cancels all the others (see Future.Cancel)
// and returns the index of the winner, whose result Get then returns. When several have
// completed, the one that completed first in history wins, so the choice is deterministic; a
// future whose result was already read wins before any other. Select panics when given no
// future, or a future that was cancelled (e.g. a loser of an earlier Select).
func (c *Context) Select(futures ...Awaitable) int {
	fs := c.cores("Select", futures, false)
	i := c.waitAny(fs)
	for j, f := range fs {
		if j != i && f != fs[i] {
			f.cancel()
		}
	}
	return i
}

// WaitAny is Select without cancelling: it waits until one of the futures completes and
// returns its index; the others keep running and can be waited for again.
func (c *Context) WaitAny(futures ...Awaitable) int {
	return c.waitAny(c.cores("WaitAny", futures, false))
}

// WaitAll waits until every future completes and returns the first error in argument order,
// or nil. Every future is awaited even when an earlier one failed.
func (c *Context) WaitAll(futures ...Awaitable) error {
	var first error
	for _, f := range c.cores("WaitAll", futures, true) {
		f.wait()
		if f.err != nil && first == nil {
			first = f.err
		}
	}
	return first
}

// Join waits until every future completes and returns their results in argument (schedule)
// order, with the zero T for those that failed, and the first error in that order. Every future
// is awaited even when an earlier one failed.
func Join[T any](futures ...*Future[T]) ([]T, error) {
	out := make([]T, len(futures))
	var first error
	for i, f := range futures {
		v, err := f.Get()
		out[i] = v
		if err != nil && first == nil {
			first = err
		}
	}
	return out, first
}

// waitAny blocks in one await until one of fs settles and returns its index. Futures already
// settled win at once, first in argument order. The handles of the Context's driven futures
// (retrying calls) are awaited too, so that their retries progress while the orchestration
// waits for something else.
func (c *Context) waitAny(fs []*future) int {
	for {
		for i, f := range fs {
			if f.state != pending {
				return i
			}
		}
		c.epoch++
		c.handles, c.owners = c.handles[:0], c.owners[:0]
		add := func(f *future) {
			if f.mark == c.epoch {
				return
			}
			f.mark = c.epoch
			n := len(c.handles)
			c.handles = f.m.waiting(c.handles)
			for range len(c.handles) - n {
				c.owners = append(c.owners, f)
			}
		}
		for _, f := range fs {
			add(f)
		}
		for _, f := range c.drivers {
			add(f)
		}
		if len(c.handles) == 0 {
			panic("durable: internal error: pending futures wait on no handle")
		}
		if len(c.handles) > abi.MaxAwaitHandles {
			panic(fmt.Sprintf("durable: waiting on %d handles at once; the ABI allows %d", len(c.handles), abi.MaxAwaitHandles))
		}
		i := c.h.await(c.handles)
		if i < 0 || int(i) >= len(c.handles) {
			panic(fmt.Sprintf("durable: await of %d handles returned %d", len(c.handles), i))
		}
		f, h := c.owners[i], c.handles[i]
		if done, res, err := f.m.ready(h); done {
			f.settle(res, err)
		}
	}
}
