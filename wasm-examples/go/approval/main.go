//go:build wasip1

// Command approval shows human interaction: the orchestration waits for an external event (a
// person's decision) but gives up after a timeout, using a durable timer.
//
//	go run ./cmd/durohost run wasm-examples/go/approval --input '{"request": "new laptop", "timeout_ms": 60000}'
//	durohost raise <instance-id> approval '{"approved": true, "by": "alice"}'
package main

import (
	"time"

	durable "github.com/durohost/durohost/guest-sdk/go"
)

func main() {}

func init() {
	durable.RegisterFunc("approval", approval)
}

// defaultTimeout is how long to wait for a decision when the input does not say.
const defaultTimeout = 60 * time.Second

// Input is the orchestration's input.
type Input struct {
	// Request describes what is to be approved.
	Request string `json:"request"`
	// TimeoutMS is how long to wait for the decision, in milliseconds; 0 or missing means
	// defaultTimeout.
	TimeoutMS int64 `json:"timeout_ms"`
}

// Decision is the data of the "approval" external event.
type Decision struct {
	Approved bool   `json:"approved"`
	By       string `json:"by"`
}

// Output is the orchestration's output.
type Output struct {
	Request string `json:"request"`
	// Status is "approved", "rejected" or "timed out".
	Status string `json:"status"`
	// By is who decided; empty when the request timed out.
	By string `json:"by,omitempty"`
}

// approval waits for the external event "approval" or for the timeout, whichever comes first.
func approval(ctx *durable.Context, in Input) (Output, error) {
	timeout := time.Duration(in.TimeoutMS) * time.Millisecond
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	out := Output{Request: in.Request}

	// The custom status is visible to clients (`durohost status <instance-id>`) while the
	// orchestration runs: a cheap way to say what it is doing.
	if err := durable.SetCustomStatus(ctx, "waiting for approval"); err != nil {
		return out, err
	}

	// Start both waits. Neither blocks: each returns a future.
	//
	// WaitForEvent subscribes to the next event named "approval" raised for this instance
	// (one raised before this line is not lost: it waits in history for a subscriber).
	decision := durable.WaitForEvent[Decision](ctx, "approval")
	// Timer is a durable timer: the host stores when it fires, so it survives restarts, and
	// nothing runs (or is held in memory) while it is pending. Never use time.Sleep to wait.
	timer := ctx.Timer(timeout)

	// Select waits for the first of the two futures to complete and cancels the other one:
	// if the event arrives, the timer is dropped; if the timer fires, the event subscription
	// is withdrawn. It returns the index of the winner: 0 for the event, 1 for the timer. The
	// winner's result and the loser's cancellation are recorded in history, so a replay takes
	// the same branch.
	winner := ctx.Select(decision, timer)

	// Not waiting any more: remove the custom status.
	ctx.ClearCustomStatus()

	if winner == 1 {
		out.Status = "timed out"
		ctx.Logger().Info("no decision", "request", in.Request, "timeout", timeout)
		return out, nil
	}

	// The event won. Get returns its data, decoded from JSON (or an error if the data was not
	// a Decision).
	d, err := decision.Get()
	if err != nil {
		return out, err
	}
	out.By = d.By
	if d.Approved {
		out.Status = "approved"
	} else {
		out.Status = "rejected"
	}
	ctx.Logger().Info("decided", "request", in.Request, "status", out.Status, "by", d.By)
	return out, nil
}
