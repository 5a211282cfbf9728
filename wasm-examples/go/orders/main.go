//go:build wasip1

// Command orders shows sub-orchestrations: a parent orchestration, "orders", starts one child
// orchestration, "process_order", per order, runs them in parallel and collects their results.
//
//	go run ./cmd/durohost run wasm-examples/go/orders --input '{"orders": [{"id": "a", "qty": 2}, {"id": "b", "qty": 1}]}'
package main

import (
	"fmt"

	durable "github.com/durohost/durohost/guest-sdk/go"
)

func main() {}

// init registers both orchestrations: a module can hold as many as it likes, and a parent
// can start any orchestration registered with the host, its own module's included.
func init() {
	durable.RegisterFunc("orders", orders)
	durable.RegisterFunc("process_order", processOrder)
}

// Order is one order, the input of process_order.
type Order struct {
	ID  string `json:"id"`
	Qty int    `json:"qty"`
}

// Input is the input of orders.
type Input struct {
	// Orders are the orders to process; missing or empty means defaultOrders.
	Orders []Order `json:"orders"`
}

// defaultOrders are processed when the input has none.
var defaultOrders = []Order{{ID: "a", Qty: 2}, {ID: "b", Qty: 1}}

// Result is the output of process_order.
type Result struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// Output is the output of orders.
type Output struct {
	// Results holds one result per order, in input order.
	Results []Result `json:"results"`
}

// orders starts one process_order child per order, all at once, and waits for all of them.
func orders(ctx *durable.Context, in Input) (Output, error) {
	list := in.Orders
	if len(list) == 0 {
		list = defaultOrders
	}

	seen := make(map[string]bool, len(list))
	children := make([]*durable.Future[Result], len(list))
	for i, o := range list {
		// Each child gets an explicit instance ID, "<parent>-<order id>", so operators can
		// find it (`durohost status <parent>-a`); IDs must therefore be unique and non-empty.
		if o.ID == "" || seen[o.ID] {
			return Output{}, durable.NewError("bad_input", fmt.Sprintf("order %d: id %q is empty or repeated", i, o.ID))
		}
		seen[o.ID] = true

		// CallSubOrchestration starts the child and returns a future of its output without
		// waiting, so all children run in parallel. A child is a full orchestration with its
		// own instance and history: it can be large, long-running and retried on its own,
		// while the parent's history holds just one start and one result per child.
		children[i] = durable.CallSubOrchestration[Result](ctx, "process_order", o,
			durable.WithInstanceID(ctx.InstanceID()+"-"+o.ID))
	}

	// Wait for every child; results come back in the order the children were started. If a
	// child fails, Join still waits for the others and returns the first failure, which
	// fails this orchestration too.
	results, err := durable.Join(children...)
	if err != nil {
		return Output{}, err
	}
	return Output{Results: results}, nil
}

// Step is the input of each step's activity.
type Step struct {
	Step  string `json:"step"`
	Order string `json:"order"`
	Qty   int    `json:"qty"`
}

// processOrder reserves stock, charges the customer and ships one order, in that order. The
// built-in "echo" activity stands in for the services that would do each step.
func processOrder(ctx *durable.Context, o Order) (Result, error) {
	if o.Qty <= 0 {
		return Result{}, durable.NewError("bad_input", fmt.Sprintf("order %s: qty must be positive, got %d", o.ID, o.Qty))
	}
	for _, step := range []string{"reserve", "charge", "ship"} {
		if _, err := durable.CallActivity[Step](ctx, "echo", Step{Step: step, Order: o.ID, Qty: o.Qty}).Get(); err != nil {
			return Result{}, fmt.Errorf("order %s: %s: %w", o.ID, step, err)
		}
		// ParentID says which instance started this one.
		ctx.Logger().Info("order step done", "order", o.ID, "step", step, "parent", ctx.ParentID())
	}
	return Result{ID: o.ID, Status: "shipped"}, nil
}
