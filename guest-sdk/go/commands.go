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
	if len(opts) == 0 {
		return callOptions{} // the common case, without the allocation of o below
	}
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

// call schedules cmd, retrying it when the options carry a retry policy, and returns its
// future.
func call[T any](c *Context, cmd *abi.Command, o callOptions, kind resultKind) *Future[T] {
	c.check()
	if cmd.Name == "" {
		panic("durable: " + cmd.Kind.String() + " with an empty name")
	}
	if o.retry == nil {
		return scheduled[T](c, cmd, kind)
	}
	f := &Future[T]{f: &future{ctx: c, m: newRetryMachine(c, *cmd, *o.retry)}, kind: kind}
	c.drive(f.f)
	return f
}

func callActivity[T any](c *Context, name string, input []byte, opts []CallOption, kind resultKind) *Future[T] {
	o := applyCallOptions("activity", opts)
	return call[T](c, &abi.Command{Kind: abi.CommandActivity, Name: name, Input: input}, o, kind)
}

// CallActivity schedules the activity name with an input and returns the future of its
// result. Options: WithRetry.
func (c *Context) CallActivity(name string, input []byte, opts ...CallOption) *Future[[]byte] {
	return callActivity[[]byte](c, name, input, opts, resultBytes)
}

// CallActivity is Context.CallActivity with the input encoded to JSON and the result decoded
// from JSON into Out (an empty result decodes to the zero Out).
func CallActivity[Out any](c *Context, name string, input any, opts ...CallOption) *Future[Out] {
	b, err := encodeInput("activity", name, input)
	if err != nil {
		return failedFuture[Out](c, err)
	}
	return callActivity[Out](c, name, b, opts, resultJSON)
}

func callSubOrchestration[T any](c *Context, name string, input []byte, opts []CallOption, kind resultKind) *Future[T] {
	o := applyCallOptions("sub-orchestration", opts)
	return call[T](c, &abi.Command{Kind: abi.CommandSubOrchestration, Name: name, Input: input,
		Version: o.version, InstanceID: o.instanceID}, o, kind)
}

// CallSubOrchestration starts the orchestration name as a child of this one and returns the
// future of its output. A child failing with an infrastructure failure fails with it. Options:
// WithInstanceID, WithOrchestrationVersion, WithRetry (with a derived instance ID only).
func (c *Context) CallSubOrchestration(name string, input []byte, opts ...CallOption) *Future[[]byte] {
	return callSubOrchestration[[]byte](c, name, input, opts, resultBytes)
}

// CallSubOrchestration is Context.CallSubOrchestration with JSON input and output.
func CallSubOrchestration[Out any](c *Context, name string, input any, opts ...CallOption) *Future[Out] {
	b, err := encodeInput("sub-orchestration", name, input)
	if err != nil {
		return failedFuture[Out](c, err)
	}
	return callSubOrchestration[Out](c, name, b, opts, resultJSON)
}

// StartOrchestration starts the orchestration name as a new, independent instance (it does not
// wait for it, and its end does not concern this one) and returns the instance ID. Options:
// WithInstanceID, WithOrchestrationVersion.
func (c *Context) StartOrchestration(name string, input []byte, opts ...CallOption) (string, error) {
	o := applyCallOptions("detached orchestration", opts)
	id, err := call[[]byte](c, &abi.Command{Kind: abi.CommandStartOrchestration, Name: name, Input: input,
		Version: o.version, InstanceID: o.instanceID}, o, resultBytes).Get()
	return string(id), err
}

// StartOrchestration is Context.StartOrchestration with the input encoded to JSON.
func StartOrchestration(c *Context, name string, input any, opts ...CallOption) (string, error) {
	b, err := encodeInput("orchestration", name, input)
	if err != nil {
		return "", err
	}
	return c.StartOrchestration(name, b, opts...)
}

// Timer starts a durable timer that completes d after the current logical time (a negative
// d counts as 0). Unlike time.Sleep it survives restarts and costs nothing while pending.
func (c *Context) Timer(d time.Duration) *Future[struct{}] {
	c.check()
	return scheduled[struct{}](c, &abi.Command{Kind: abi.CommandTimer, Delay: int64(max(d, 0))}, resultNone)
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
	return waitForEvent[[]byte](c, name, resultBytes)
}

func waitForEvent[T any](c *Context, name string, kind resultKind) *Future[T] {
	c.check()
	if name == "" {
		panic("durable: WaitForEvent with an empty name")
	}
	return scheduled[T](c, &abi.Command{Kind: abi.CommandWaitEvent, Name: name}, kind)
}

// WaitForEvent is Context.WaitForEvent with the data decoded from JSON.
func WaitForEvent[T any](c *Context, name string) *Future[T] {
	return waitForEvent[T](c, name, resultJSON)
}

// Dequeue takes the next message of the instance's persistent queue called name (FIFO) and
// returns the future of its data. Unconsumed messages survive continue-as-new.
func (c *Context) Dequeue(queue string) *Future[[]byte] {
	return dequeue[[]byte](c, queue, resultBytes)
}

func dequeue[T any](c *Context, queue string, kind resultKind) *Future[T] {
	c.check()
	if queue == "" {
		panic("durable: Dequeue with an empty queue name")
	}
	return scheduled[T](c, &abi.Command{Kind: abi.CommandDequeue, Name: queue}, kind)
}

// Dequeue is Context.Dequeue with the message decoded from JSON.
func Dequeue[T any](c *Context, queue string) *Future[T] {
	return dequeue[T](c, queue, resultJSON)
}

// encodeInput encodes the input of the call of name, a what ("activity", ...), to JSON.
func encodeInput(what, name string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, &Error{Kind: abi.FailureApplication, Code: CodeBadPayload,
			Message: fmt.Sprintf("encode input of %s %s: %v", what, name, err)}
	}
	return b, nil
}
