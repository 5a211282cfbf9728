//go:build wasip1

// Command guest is the guest module of `durohost bench`: the orchestrations its workloads run,
// each as light as the SDK allows so that a workload measures the host, not the guest. Inputs
// are JSON numbers; the activity "noop" (registered by the benchmark) returns its input.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o bench.wasm ./internal/bench/guest
package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	durable "github.com/durohost/durohost/guest-sdk/go"
)

func main() {}

func init() {
	durable.Register("bench_sequence", sequence)
	durable.Register("bench_fanout", fanout)
	durable.Register("bench_one", one)
	durable.Register("bench_timer", timer)
	durable.Register("bench_ticks", ticks)
}

// noop is the input of every activity call: a small JSON value.
var noop = []byte(`"x"`)

// count reads the input: a JSON number (no input: 1).
func count(input []byte) (int, error) {
	s := strings.TrimSpace(string(input))
	if s == "" || s == "null" {
		return 1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, durable.NewError("bad_input", fmt.Sprintf("input must be a non-negative integer, got %q", s))
	}
	return n, nil
}

// sequence calls "noop" n times, one call after the other, and returns n.
func sequence(ctx *durable.Context, input []byte) ([]byte, error) {
	n, err := count(input)
	if err != nil {
		return nil, err
	}
	for range n {
		if _, err := ctx.CallActivity("noop", noop).Get(); err != nil {
			return nil, err
		}
	}
	return []byte(strconv.Itoa(n)), nil
}

// fanout calls "noop" n times in parallel, waits for them all and returns n.
func fanout(ctx *durable.Context, input []byte) ([]byte, error) {
	n, err := count(input)
	if err != nil {
		return nil, err
	}
	futures := make([]*durable.Future[[]byte], n)
	for i := range futures {
		futures[i] = ctx.CallActivity("noop", noop)
	}
	if _, err := durable.Join(futures...); err != nil {
		return nil, err
	}
	return []byte(strconv.Itoa(n)), nil
}

// one calls "noop" once and returns its result.
func one(ctx *durable.Context, input []byte) ([]byte, error) {
	return ctx.CallActivity("noop", noop).Get()
}

// timer waits for a durable timer of input milliseconds.
func timer(ctx *durable.Context, input []byte) ([]byte, error) {
	ms, err := count(input)
	if err != nil {
		return nil, err
	}
	if err := ctx.Sleep(time.Duration(ms) * time.Millisecond); err != nil {
		return nil, err
	}
	return []byte("null"), nil
}

// ticks waits for n durable timers of 0 ms, one after the other: each is one turn of the
// host (fetch, run, commit) with no activity involved.
func ticks(ctx *durable.Context, input []byte) ([]byte, error) {
	n, err := count(input)
	if err != nil {
		return nil, err
	}
	for range n {
		if err := ctx.Sleep(0); err != nil {
			return nil, err
		}
	}
	return []byte(strconv.Itoa(n)), nil
}
