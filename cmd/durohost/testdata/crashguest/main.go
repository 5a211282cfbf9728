//go:build wasip1

// Command crashguest is the workload of the CLI's crash tests: a long run of sequential
// activities and durable timers whose every step is visible to the test. Each step calls the
// built-in http activity on the test's server (which counts the calls, proving that every
// activity ran at least once), every third step also calls echo, and every twentieth step
// sleeps on a durable timer.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o crash.wasm ./cmd/durohost/testdata/crashguest
package main

import (
	"fmt"
	"strconv"
	"time"

	durable "github.com/durohost/durohost/guest-sdk/go"
)

func main() {}

func init() {
	durable.RegisterFunc("crash", crash)
}

// Input is the orchestration's input.
type Input struct {
	// Steps is the number of steps.
	Steps int `json:"steps"`
	// URL is the test server; step i requests URL/<instance>/<i>, which answers 2*i.
	URL string `json:"url"`
	// TimerMS is the duration of the timer of every twentieth step.
	TimerMS int `json:"timer_ms"`
}

// Output is the orchestration's output.
type Output struct {
	Steps int `json:"steps"`
	// Sum is the sum of the server's answers: steps*(steps-1).
	Sum int `json:"sum"`
}

type response struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
}

func crash(ctx *durable.Context, in Input) (Output, error) {
	out := Output{Steps: in.Steps}
	for i := range in.Steps {
		resp, err := durable.CallActivity[response](ctx, "http", map[string]string{
			"method": "GET",
			"url":    fmt.Sprintf("%s/%s/%d", in.URL, ctx.InstanceID(), i),
		}).Get()
		if err != nil {
			return out, err
		}
		n, err := strconv.Atoi(resp.Body)
		if resp.Status != 200 || err != nil {
			return out, durable.NewError("bad_response", fmt.Sprintf("step %d: status %d, body %q", i, resp.Status, resp.Body))
		}
		out.Sum += n
		if i%3 == 0 {
			if _, err := durable.CallActivity[int](ctx, "echo", i).Get(); err != nil {
				return out, err
			}
		}
		if i%20 == 19 {
			if err := ctx.Sleep(time.Duration(in.TimerMS) * time.Millisecond); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}
