package durable_test

import (
	"errors"
	"time"

	"github.com/durohost/durohost/abi"
	durable "github.com/durohost/durohost/guest-sdk/go"
)

// An orchestration that fans out one activity per item and joins the results.
func ExampleRegisterFunc() {
	durable.RegisterFunc("resize_all", func(ctx *durable.Context, images []string) ([]string, error) {
		fs := make([]*durable.Future[string], len(images))
		for i, img := range images {
			fs[i] = durable.CallActivity[string](ctx, "resize", img)
		}
		return durable.Join(fs...) // results in schedule order
	})
}

// Two versions of one orchestration in one module: a start request that names no version runs
// the highest.
func ExampleAsVersion() {
	durable.Register("report", func(*durable.Context, []byte) ([]byte, error) {
		return []byte(`"v1"`), nil
	}, durable.AsVersion("1"))
	durable.Register("report", func(*durable.Context, []byte) ([]byte, error) {
		return []byte(`"v2"`), nil
	}, durable.AsVersion("2"))
}

// Wait for an event for at most a minute: the loser of Select is cancelled.
func ExampleContext_Select() {
	durable.Register("wait_approval", func(ctx *durable.Context, _ []byte) ([]byte, error) {
		approval := ctx.WaitForEvent("approve")
		if ctx.Select(approval, ctx.Timer(time.Minute)) == 1 {
			return []byte(`"timed out"`), nil
		}
		return approval.Get()
	})
}

// Retry an activity with exponential backoff and a deadline per attempt, and tell a timeout
// from an activity failure.
func ExampleWithRetry() {
	durable.RegisterFunc("charge", func(ctx *durable.Context, amount int) (string, error) {
		receipt, err := durable.CallActivity[string](ctx, "charge_card", amount, durable.WithRetry(durable.RetryPolicy{
			MaxAttempts:        4,
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			AttemptTimeout:     30 * time.Second,
			NonRetryableCodes:  []string{"card_declined"},
		})).Get()
		var failure *durable.Error
		switch {
		case errors.Is(err, durable.ErrTimeout):
			return "", durable.NewError("payment_timeout", "the payment service did not answer")
		case errors.As(err, &failure) && failure.Kind == abi.FailureApplication:
			return "", failure
		}
		return receipt, err
	})
}

// A long-running counter that keeps its history short with continue-as-new.
func ExampleContext_ContinueAsNew() {
	durable.RegisterFunc("counter", func(ctx *durable.Context, n int) (int, error) {
		for range 100 {
			if _, err := ctx.Dequeue("increments").Get(); err != nil {
				return n, err
			}
			n++
		}
		if err := durable.SetCustomStatus(ctx, n); err != nil {
			return n, err
		}
		return 0, durable.ContinueAsNew(ctx, n)
	})
}
