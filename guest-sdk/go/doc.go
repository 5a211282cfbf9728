// Package durable is the Go SDK for writing durohost orchestrations: durable, replayable
// workflows compiled to WebAssembly (GOOS=wasip1 GOARCH=wasm, reactor mode) and run by the
// durohost host in a deterministic sandbox.
//
// A module is a main package that imports this package and registers its orchestrations in
// init; main is never called. The SDK exports the functions the host calls (durohost_run and
// durohost_abi_version) and talks to the host only through the durohost_v1 ABI (abi/ABI.md).
//
//	package main
//
//	import (
//		"time"
//
//		durable "github.com/durohost/durohost/guest-sdk/go"
//	)
//
//	func main() {}
//
//	func init() {
//		durable.RegisterFunc("approve", approve, durable.AsVersion("1"))
//	}
//
//	// approve asks a reviewer, waits one day for the "decision" event, and files the result.
//	func approve(ctx *durable.Context, doc string) (string, error) {
//		if _, err := durable.CallActivity[string](ctx, "notify", doc).Get(); err != nil {
//			return "", err
//		}
//		decision := durable.WaitForEvent[string](ctx, "decision")
//		if ctx.Select(decision, ctx.Timer(24*time.Hour)) == 1 {
//			return "expired", nil // the event subscription was cancelled
//		}
//		d, err := decision.Get()
//		if err != nil {
//			return "", err
//		}
//		policy := durable.RetryPolicy{MaxAttempts: 5, InitialInterval: time.Second, BackoffCoefficient: 2}
//		return durable.CallActivity[string](ctx, "file", d, durable.WithRetry(policy)).Get()
//	}
//
// Build it with:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o approve.wasm .
//
// # Replay and determinism
//
// The host runs an orchestration again from the start whenever it needs to (after a restart, or
// when it did not keep the instance in memory) and answers the calls it already recorded from
// history. An orchestration must therefore issue the same commands in the same order every
// time it runs with the same history. The sandbox takes care of most sources of difference:
// time.Now, crypto/rand, math/rand and map iteration order are functions of history. Package
// initialisation sees no instance (the clock reads the epoch), and the Go runtime's own random
// state (map iteration order, math/rand's global functions) is the same in every instance of a
// module: for values that must differ between instances use Context.NewUUID or crypto/rand. What is
// left to the author: side effects (I/O, network) belong in activities, and waiting goes
// through futures, never through goroutines, channels or time.Sleep — nothing of the guest
// runs while it waits, and the host may discard it and replay it later.
//
// # Futures
//
// Starting work returns a *Future without waiting: CallActivity, CallSubOrchestration,
// Timer, WaitForEvent and Dequeue. Future.Get waits for one; Context.Select waits for the
// first of several and cancels the others; Context.WaitAny waits for the first without
// cancelling; Context.WaitAll and Join wait for all, in schedule order. Waiting for the first of N futures
// is a single await host call; no goroutine is involved.
//
// # Bytes and JSON
//
// Methods of Context take and return payloads as bytes, which the host never interprets.
// The package-level generic functions of the same names (CallActivity, CallSubOrchestration,
// WaitForEvent, Dequeue, StartOrchestration, ContinueAsNew, SetCustomStatus, and
// RegisterFunc for Register) encode inputs and decode results as JSON.
//
// # Errors
//
// A failed activity or child surfaces as an *Error carrying the ABI failure kind, a stable
// code, a message and details; use errors.As, or errors.Is with ErrCancelled, ErrTimeout or
// an *Error template. An orchestration that returns an error fails (an *Error keeps its kind
// and code; any other error is an application failure); one that panics fails with code
// CodePanic instead of trapping; one that returns the error of Context.ContinueAsNew starts
// its next execution.
package durable
