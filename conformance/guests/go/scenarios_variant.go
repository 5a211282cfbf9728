//go:build wasip1

package main

import (
	"time"

	durable "github.com/durohost/durohost/guest-sdk/go"
)

// variant is set at link time: the scenario suite builds this guest a second time with
// -ldflags=-X=main.variant=b to play a redeployed, changed version of the code. Only the
// orchestrations of this file depend on it.
var variant = "a"

func init() {
	durable.RegisterFunc("sc_versioned", scVersionedV1, durable.AsVersion("1"))
	if variant == "b" {
		durable.RegisterFunc("sc_versioned", scVersionedV2, durable.AsVersion("2"))
	}
	durable.RegisterFunc("sc_nd", scNondet)
}

// sc_versioned version 1: waits for the event "go"; "upgrade" continues as new on version 2
// with input "from-v1"; anything else returns "v1-<variant>:<data>".
func scVersionedV1(ctx *durable.Context, _ any) (string, error) {
	data, err := durable.WaitForEvent[string](ctx, "go").Get()
	if err != nil {
		return "", err
	}
	if data == "upgrade" && variant == "a" {
		return "", ctx.ContinueAsNewVersion([]byte(`"from-v1"`), "2")
	}
	return "v1-" + variant + ":" + data, nil
}

// sc_versioned version 2 (variant b only): returns "v2-<variant>:<input>".
func scVersionedV2(ctx *durable.Context, in string) (string, error) {
	return "v2-" + variant + ":" + in, nil
}

// sc_nd: variant a calls activity "nd_step" with 1 and 2 at once and returns the sum of
// their results. Variant b changes its first turn according to the input: "name" calls
// "nd_other" instead of the first step, "input" passes 99 instead of 1, "kind" starts a
// timer instead, "extra" calls a third step, "missing" calls only the first one.
func scNondet(ctx *durable.Context, change string) (int, error) {
	var fs []*durable.Future[int]
	switch {
	case variant != "b":
		fs = append(fs, durable.CallActivity[int](ctx, "nd_step", 1), durable.CallActivity[int](ctx, "nd_step", 2))
	case change == "name":
		fs = append(fs, durable.CallActivity[int](ctx, "nd_other", 1), durable.CallActivity[int](ctx, "nd_step", 2))
	case change == "input":
		fs = append(fs, durable.CallActivity[int](ctx, "nd_step", 99), durable.CallActivity[int](ctx, "nd_step", 2))
	case change == "kind":
		if err := ctx.Sleep(time.Millisecond); err != nil {
			return 0, err
		}
		fs = append(fs, durable.CallActivity[int](ctx, "nd_step", 2))
	case change == "extra":
		fs = append(fs, durable.CallActivity[int](ctx, "nd_step", 1), durable.CallActivity[int](ctx, "nd_step", 2),
			durable.CallActivity[int](ctx, "nd_step", 3))
	case change == "missing":
		fs = append(fs, durable.CallActivity[int](ctx, "nd_step", 1))
	}
	res, err := durable.Join(fs...)
	sum := 0
	for _, r := range res {
		sum += r
	}
	return sum, err
}
