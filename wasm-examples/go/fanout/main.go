//go:build wasip1

// Command fanout shows fan-out/fan-in: an orchestration starts many activities at once, lets
// them run in parallel, then waits for all of them and combines their results.
//
//	go run ./cmd/durohost run wasm-examples/go/fanout --input '{"items": 10}'
package main

import (
	"fmt"

	durable "github.com/durohost/durohost/guest-sdk/go"
)

func main() {}

func init() {
	durable.RegisterFunc("fanout", fanout)
}

// defaultItems is the number of activities started when the input does not say.
const defaultItems = 10

// maxItems bounds the fan-out: every activity adds events to the instance's history, and a
// history has a size limit. Larger batches are split into sub-orchestrations (see the orders
// example) or processed in rounds with continue-as-new (see the monitor example).
const maxItems = 1000

// Input is the orchestration's input.
type Input struct {
	// Items is the number of activities to fan out; 0 or missing means defaultItems.
	Items int `json:"items"`
}

// Work is the input of each activity, which the built-in "echo" activity sends back as its
// result. A real activity would compute the square itself; echo keeps the example runnable
// without writing any activity code.
type Work struct {
	Item   int `json:"item"`
	Square int `json:"square"`
}

// Output is the orchestration's output.
type Output struct {
	Count        int `json:"count"`
	SumOfSquares int `json:"sum_of_squares"`
}

// fanout calls "echo" once for each item 1..n, all at once, then adds up the squares.
func fanout(ctx *durable.Context, in Input) (Output, error) {
	n := in.Items
	if n == 0 {
		n = defaultItems
	}
	if n < 0 || n > maxItems {
		// A *durable.Error with a code of our choosing fails the orchestration with that code.
		return Output{}, durable.NewError("bad_input", fmt.Sprintf("items must be between 1 and %d, got %d", maxItems, n))
	}

	// Fan out: CallActivity only schedules the activity and returns a future; it does not
	// wait. The host starts all n activities when the orchestration next waits, and its
	// activity workers run them in parallel.
	futures := make([]*durable.Future[Work], n)
	for i := range n {
		item := i + 1
		futures[i] = durable.CallActivity[Work](ctx, "echo", Work{Item: item, Square: item * item})
	}

	// Fan in: Join waits for every future and returns the results in the order the futures
	// were created (not the order the activities finished in), so the code stays deterministic
	// however the activities are scheduled. It returns the first error, if any.
	results, err := durable.Join(futures...)
	if err != nil {
		return Output{}, err
	}

	out := Output{Count: len(results)}
	for _, r := range results {
		out.SumOfSquares += r.Square
	}
	return out, nil
}
