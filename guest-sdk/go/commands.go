package durable

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/durohost/durohost/abi"
)

// CallOption configures a call: an activity, a sub-orchestration or a detached orchestration.
// Each option says which calls accept it; passing it to another panics.
type CallOption func(*callOptions)

type callOptions struct {
	retry      *RetryPolicy
	instanceID string
	version    string
}

// WithRetry retries the call according to p (activities and sub-orchestrations with a
// derived instance ID). See RetryPolicy.
func WithRetry(p RetryPolicy) CallOption {
	return func(o *callOptions) { o.retry = &p }
}

// WithInstanceID gives a sub-orchestration or a detached orchestration an explicit instance
// ID. Without it the host derives one from the parent (ABI.md: "<parent>:<execution>:<handle>").
func WithInstanceID(id string) CallOption {
	return func(o *callOptions) { o.instanceID = id }
}

// WithOrchestrationVersion runs a given version of a sub-orchestration or a detached
// orchestration; without it the highest registered version runs.
func WithOrchestrationVersion(version string) CallOption {
	return func(o *callOptions) { o.version = version }
}

func applyCallOptions(what string, opts []CallOption) callOptions {
	var o callOptions
	for _, opt := range opts {
		opt(&o)
	}
	switch what {
	case "activity":
		if o.instanceID != "" || o.version != "" {
			panic("durable: WithInstanceID and WithOrchestrationVersion do not apply to activities")
		}
	case "detached orchestration":
		if o.retry != nil {
			panic("durable: WithRetry does not apply to detached orchestrations")
		}
	case "sub-orchestration":
		if o.retry != nil && o.instanceID != "" {
			panic("durable: WithRetry needs a derived instance ID: every attempt is a new child")
		}
	}
	if o.retry != nil {
		o.retry.validate()
	}
	return o
}

// call schedules cmd, retrying it when the options carry a retry policy.
func (c *Context) call(cmd abi.Command, o callOptions) *Future[[]byte] {
	c.check()
	if cmd.Name == "" {
		panic("durable: " + cmd.Kind.String() + " with an empty name")
	}
	if o.retry == nil {
		return newFuture(c, &handleMachine{ctx: c, h: c.schedule(cmd)}, decodeBytes)
	}
	m := newRetryMachine(c, cmd, *o.retry)
	f := newFuture(c, m, decodeBytes)
	c.drive(f.f)
	return f
}

// CallActivity schedules the activity name with an input and returns the future of its
// result. Options: WithRetry.
func (c *Context) CallActivity(name string, input []byte, opts ...CallOption) *Future[[]byte] {
	o := applyCallOptions("activity", opts)
	return c.call(abi.Command{Kind: abi.CommandActivity, Name: name, Input: input}, o)
}

// CallActivity is Context.CallActivity with the input encoded to JSON and the result decoded
// from JSON into Out (an empty result decodes to the zero Out).
func CallActivity[Out any](c *Context, name string, input any, opts ...CallOption) *Future[Out] {
	b, err := encodeInput("activity "+name, input)
	if err != nil {
		return failedFuture[Out](c, err)
	}
	return typed[Out](c.CallActivity(name, b, opts...))
}

// CallSubOrchestration starts the orchestration name as a child of this one and returns the
// future of its output. A child failing with an infrastructure failure fails with it. Options:
// WithInstanceID, WithOrchestrationVersion, WithRetry (with a derived instance ID only).
func (c *Context) CallSubOrchestration(name string, input []byte, opts ...CallOption) *Future[[]byte] {
	o := applyCallOptions("sub-orchestration", opts)
	return c.call(abi.Command{Kind: abi.CommandSubOrchestration, Name: name, Input: input,
		Version: o.version, InstanceID: o.instanceID}, o)
}

// CallSubOrchestration is Context.CallSubOrchestration with JSON input and output.
func CallSubOrchestration[Out any](c *Context, name string, input any, opts ...CallOption) *Future[Out] {
	b, err := encodeInput("sub-orchestration "+name, input)
	if err != nil {
		return failedFuture[Out](c, err)
	}
	return typed[Out](c.CallSubOrchestration(name, b, opts...))
}

// StartOrchestration starts the orchestration name as a new, independent instance (it does not
// wait for it, and its end does not concern this one) and returns the instance ID. Options:
// WithInstanceID, WithOrchestrationVersion.
func (c *Context) StartOrchestration(name string, input []byte, opts ...CallOption) (string, error) {
	o := applyCallOptions("detached orchestration", opts)
	id, err := c.call(abi.Command{Kind: abi.CommandStartOrchestration, Name: name, Input: input,
		Version: o.version, InstanceID: o.instanceID}, o).Get()
	return string(id), err
}

// StartOrchestration is Context.StartOrchestration with the input encoded to JSON.
func StartOrchestration(c *Context, name string, input any, opts ...CallOption) (string, error) {
	b, err := encodeInput("orchestration "+name, input)
	if err != nil {
		return "", err
	}
	return c.StartOrchestration(name, b, opts...)
}

// Timer starts a durable timer that completes d after the current logical time (a negative
// d counts as 0). Unlike time.Sleep it survives restarts and costs nothing while pending.
func (c *Context) Timer(d time.Duration) *Future[struct{}] {
	c.check()
	h := c.schedule(abi.Command{Kind: abi.CommandTimer, Delay: int64(max(d, 0))})
	return newFuture(c, &handleMachine{ctx: c, h: h}, decodeNothing)
}

// Sleep waits for a durable timer of d. It returns an error only if the host fails the timer
// (for instance when the instance is being cancelled).
func (c *Context) Sleep(d time.Duration) error {
	_, err := c.Timer(d).Get()
	return err
}

// WaitForEvent subscribes to the next external event called name and returns the future of its
// data. Events are positional: each subscription takes the oldest event of that name not yet
// taken, including events raised before the subscription was made. Cancelling the future
// gives an event it received but did not read back to the next subscription.
func (c *Context) WaitForEvent(name string) *Future[[]byte] {
	c.check()
	if name == "" {
		panic("durable: WaitForEvent with an empty name")
	}
	h := c.schedule(abi.Command{Kind: abi.CommandWaitEvent, Name: name})
	return newFuture(c, &handleMachine{ctx: c, h: h}, decodeBytes)
}

// WaitForEvent is Context.WaitForEvent with the data decoded from JSON.
func WaitForEvent[T any](c *Context, name string) *Future[T] {
	return typed[T](c.WaitForEvent(name))
}

// Dequeue takes the next message of the instance's persistent queue called name (FIFO) and
// returns the future of its data. Unconsumed messages survive continue-as-new.
func (c *Context) Dequeue(queue string) *Future[[]byte] {
	c.check()
	if queue == "" {
		panic("durable: Dequeue with an empty queue name")
	}
	h := c.schedule(abi.Command{Kind: abi.CommandDequeue, Name: queue})
	return newFuture(c, &handleMachine{ctx: c, h: h}, decodeBytes)
}

// Dequeue is Context.Dequeue with the message decoded from JSON.
func Dequeue[T any](c *Context, queue string) *Future[T] {
	return typed[T](c.Dequeue(queue))
}

func encodeInput(what string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, &Error{Kind: abi.FailureApplication, Code: CodeBadPayload,
			Message: fmt.Sprintf("encode input of %s: %v", what, err)}
	}
	return b, nil
}
