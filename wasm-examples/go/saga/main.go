//go:build wasip1

// Command saga shows the saga pattern: a sequence of steps, each with a compensating action
// that undoes it. When a step fails, the steps already done are undone in reverse order.
//
//	go run ./cmd/durohost run wasm-examples/go/saga --input '{"fail_at": "book_car"}'
package main

import (
	"fmt"
	"slices"
	"time"

	durable "github.com/durohost/durohost/guest-sdk/go"
)

func main() {}

func init() {
	durable.RegisterFunc("saga", saga)
}

// Input is the orchestration's input.
type Input struct {
	// FailAt names the step to fail ("book_flight", "book_hotel" or "book_car"); empty means
	// every step succeeds.
	FailAt string `json:"fail_at"`
}

// Output is the orchestration's output.
type Output struct {
	// Booked lists the steps that succeeded, in order.
	Booked []string `json:"booked"`
	// Compensated lists the compensations that ran, in order (the reverse of Booked).
	Compensated []string `json:"compensated"`
	// Error says why the booking was rolled back; empty when it succeeded.
	Error string `json:"error,omitempty"`
}

// step is one step of the trip booking and the action that undoes it.
type step struct {
	name       string
	compensate string
}

// steps are run in this order; their compensations in the reverse order.
var steps = []step{
	{name: "book_flight", compensate: "cancel_flight"},
	{name: "book_hotel", compensate: "cancel_hotel"},
	{name: "book_car", compensate: "cancel_car"},
}

// Request is the input of each step's activity.
type Request struct {
	Step string `json:"step"`
	// Fail asks the (simulated) booking service to refuse the booking.
	Fail bool `json:"fail,omitempty"`
}

// compensationRetry retries compensations: undoing must eventually succeed, so a transient
// failure of a cancellation is retried, with a durable timer between attempts.
var compensationRetry = durable.RetryPolicy{
	MaxAttempts:        5,
	InitialInterval:    time.Second,
	BackoffCoefficient: 2,
}

// saga books a flight, a hotel and a car. If a step fails, it cancels what it booked, last
// booked first, and reports the failure in its output.
func saga(ctx *durable.Context, in Input) (Output, error) {
	if in.FailAt != "" && !slices.ContainsFunc(steps, func(s step) bool { return s.name == in.FailAt }) {
		return Output{}, durable.NewError("bad_input", fmt.Sprintf("fail_at must be empty or one of book_flight, book_hotel, book_car; got %q", in.FailAt))
	}

	out := Output{Booked: []string{}, Compensated: []string{}}
	var done []step // the steps that succeeded, to compensate on failure
	var failure error
	for _, s := range steps {
		if err := book(ctx, s.name, s.name == in.FailAt); err != nil {
			failure = err
			break
		}
		done = append(done, s)
		out.Booked = append(out.Booked, s.name)
	}
	if failure == nil {
		return out, nil
	}

	// Roll back: undo the completed steps, most recent first. The orchestration's progress
	// is durable, so even if the host stops in the middle of the rollback, it resumes the
	// rollback where it stopped: no compensation is forgotten and none is recorded twice.
	for _, s := range slices.Backward(done) {
		_, err := durable.CallActivity[Request](ctx, "echo", Request{Step: s.compensate},
			durable.WithRetry(compensationRetry)).Get()
		if err != nil {
			// Compensation failed for good: fail the orchestration so that an operator sees it.
			return Output{}, fmt.Errorf("%v; then %s failed: %w", failure, s.compensate, err)
		}
		out.Compensated = append(out.Compensated, s.compensate)
	}
	out.Error = failure.Error()
	return out, nil
}

// book runs one booking step through the built-in "echo" activity. The booking service is
// simulated: echo returns the request, and a request marked Fail is treated as a refusal. A
// refusal, like a real activity failure, is returned as an error. The decision depends only
// on the input, so every replay takes the same path.
func book(ctx *durable.Context, name string, fail bool) error {
	reply, err := durable.CallActivity[Request](ctx, "echo", Request{Step: name, Fail: fail}).Get()
	if err != nil {
		return fmt.Errorf("%s failed: %w", name, err)
	}
	if reply.Fail {
		return fmt.Errorf("%s failed: no availability", name)
	}
	return nil
}
