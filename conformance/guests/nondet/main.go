//go:build wasip1

// Command nondet is a Go guest built in two variants to test nondeterminism detection: the
// same orchestration names, with code that differs between variant "a" (the default) and
// variant "b", as if the code had been changed and redeployed while instances were running.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o nondet-a.wasm ./conformance/guests/nondet
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -ldflags=-X=main.variant=b -o nondet-b.wasm ./conformance/guests/nondet
package main

import (
	"time"

	durable "github.com/durohost/durohost/guest-sdk/go"
)

// variant is set at link time.
var variant = "a"

func main() {}

func b() bool { return variant == "b" }

func init() {
	// nd_name: the activity's name changes.
	durable.RegisterFunc("nd_name", func(ctx *durable.Context, _ any) (string, error) {
		name := "step_a"
		if b() {
			name = "step_b"
		}
		return durable.CallActivity[string](ctx, name, 1).Get()
	})
	// nd_input: the activity's input changes.
	durable.RegisterFunc("nd_input", func(ctx *durable.Context, _ any) (string, error) {
		in := 1
		if b() {
			in = 2
		}
		return durable.CallActivity[string](ctx, "step", in).Get()
	})
	// nd_kind: a timer instead of an activity.
	durable.RegisterFunc("nd_kind", func(ctx *durable.Context, _ any) (string, error) {
		if b() {
			return "slept", ctx.Sleep(time.Second)
		}
		return durable.CallActivity[string](ctx, "step", 1).Get()
	})
	// nd_await: variant b awaits an extra timer between two activities.
	durable.RegisterFunc("nd_await", func(ctx *durable.Context, _ any) (string, error) {
		if _, err := durable.CallActivity[string](ctx, "step", 1).Get(); err != nil {
			return "", err
		}
		if b() {
			if err := ctx.Sleep(time.Second); err != nil {
				return "", err
			}
		}
		return durable.CallActivity[string](ctx, "step", 2).Get()
	})
	// nd_extra: variant b schedules an extra activity in the first turn.
	durable.RegisterFunc("nd_extra", func(ctx *durable.Context, _ any) (string, error) {
		f := durable.CallActivity[string](ctx, "step", 1)
		if b() {
			durable.CallActivity[string](ctx, "extra", 1)
		}
		return f.Get()
	})
	// nd_missing: variant b no longer schedules the second activity of the first turn.
	durable.RegisterFunc("nd_missing", func(ctx *durable.Context, _ any) (string, error) {
		f := durable.CallActivity[string](ctx, "step", 1)
		if !b() {
			durable.CallActivity[string](ctx, "step", 2)
		}
		return f.Get()
	})
	// nd_output: the orchestration's output changes after the last await.
	durable.RegisterFunc("nd_output", func(ctx *durable.Context, _ any) (string, error) {
		if _, err := durable.CallActivity[string](ctx, "step", 1).Get(); err != nil {
			return "", err
		}
		if b() {
			return "changed", nil
		}
		return "original", nil
	})
}
