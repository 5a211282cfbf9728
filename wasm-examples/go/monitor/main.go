//go:build wasip1

// Command monitor shows an eternal orchestration: a loop that runs one round per execution
// and starts the next round with continue-as-new, so that its history never grows.
//
//	go run ./cmd/durohost run wasm-examples/go/monitor --input '{"checks": 5, "interval_ms": 1000}'
package main

import (
	"fmt"
	"time"

	durable "github.com/durohost/durohost/guest-sdk/go"
)

func main() {}

func init() {
	durable.RegisterFunc("monitor", monitor)
}

// Defaults for a missing (or zero) input field.
const (
	defaultChecks   = 5
	defaultInterval = 1000 // milliseconds
)

// Input is the orchestration's input. Each execution passes the next round's input to
// continue-as-new, so the state of the loop lives here and nowhere else.
type Input struct {
	// Checks is the number of rounds; 0 or missing means defaultChecks.
	Checks int `json:"checks"`
	// IntervalMS is the time between two checks, in milliseconds; 0 or missing means
	// defaultInterval.
	IntervalMS int `json:"interval_ms"`
	// Round is the round this execution runs, from 0; a new monitor starts at 0.
	Round int `json:"round"`
}

// Output is the orchestration's output, once every round is done.
type Output struct {
	Rounds int `json:"rounds"`
}

// monitor runs one check per execution: check, report, wait, and continue as new with the
// next round. A `for` loop around the check would work too, but every activity and timer adds
// events to the instance's history, which would then grow without bound for a monitor that
// runs for months. Continue-as-new ends the execution and starts a fresh one of the same
// instance (same instance ID) with an empty history and a new input.
func monitor(ctx *durable.Context, in Input) (Output, error) {
	if in.Checks == 0 {
		in.Checks = defaultChecks
	}
	if in.IntervalMS == 0 {
		in.IntervalMS = defaultInterval
	}
	if in.Checks < 0 || in.IntervalMS < 0 || in.Round < 0 || in.Round >= in.Checks {
		return Output{}, durable.NewError("bad_input",
			fmt.Sprintf("need checks > 0, interval_ms >= 0 and 0 <= round < checks; got %+v", in))
	}

	// The check itself. A real monitor would call an activity that probes a service (the
	// built-in "http" activity, or one of its own); "echo" stands in for it.
	if _, err := durable.CallActivity[any](ctx, "echo", map[string]int{"round": in.Round}).Get(); err != nil {
		return Output{}, err
	}

	// Report progress, e.g. "round 1 of 5 done". Clients see the custom status while the
	// monitor runs, and it carries over to the next execution.
	status := fmt.Sprintf("round %d of %d done", in.Round+1, in.Checks)
	if err := durable.SetCustomStatus(ctx, status); err != nil {
		return Output{}, err
	}
	ctx.Logger().Info("check done", "round", in.Round+1, "of", in.Checks, "execution", ctx.ExecutionID())

	// The last round ends the instance with its output.
	if in.Round+1 == in.Checks {
		return Output{Rounds: in.Checks}, nil
	}

	// Wait for the next round with a durable timer: the instance holds no memory and no
	// thread while it waits, and the wait survives a restart of the host.
	if err := ctx.Sleep(time.Duration(in.IntervalMS) * time.Millisecond); err != nil {
		return Output{}, err
	}

	// Start the next round as a new execution. ContinueAsNew only builds the request: the
	// orchestration must return its error for it to happen.
	next := in
	next.Round++
	return Output{}, durable.ContinueAsNew(ctx, next)
}
