//go:build wasip1

// Command go is the Go test guest of the conformance suite: one orchestration per feature of
// the ABI, driven by name by the host's replay and scenario tests. Build it in reactor mode:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o features.wasm ./conformance/guests/go
//
// Inputs, outputs, activity inputs and results are JSON.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	randv2 "math/rand/v2"
	"strings"
	"time"

	durable "github.com/durohost/durohost/guest-sdk/go"
)

func main() {}

func init() {
	durable.RegisterFunc("hello", hello)
	durable.RegisterFunc("sequence", sequence)
	durable.RegisterFunc("fanout", fanout)
	durable.RegisterFunc("timer", timer)
	durable.RegisterFunc("event", event)
	durable.RegisterFunc("race", race)
	durable.RegisterFunc("queue", queue)
	durable.RegisterFunc("child", child)
	durable.RegisterFunc("child_explicit", childExplicit)
	durable.RegisterFunc("child_named", childNamed)
	durable.RegisterFunc("detached", detached)
	durable.RegisterFunc("continue", continueAsNew)
	durable.RegisterFunc("status", status)
	durable.RegisterFunc("determinism", determinism)
	durable.RegisterFunc("retry", retry)
	durable.RegisterFunc("fail", fail)
	durable.RegisterFunc("activity_fail", activityFail)
	durable.RegisterFunc("info", info)
	durable.RegisterFunc("attempt_timeout", attemptTimeout)
	durable.RegisterFunc("versioned", func(*durable.Context, any) (string, error) { return "v1", nil },
		durable.AsVersion("1"))
	durable.RegisterFunc("versioned", func(*durable.Context, any) (string, error) { return "v2", nil },
		durable.AsVersion("2"))
	durable.RegisterFunc("select_activity", selectActivity)
	durable.RegisterFunc("spin", spin)
	durable.RegisterFunc("slow", slow)
	durable.RegisterFunc("grow", grow)
	durable.RegisterFunc("panic", panicking)
	durable.RegisterFunc("big_output", bigOutput)
}

// hello: activity "greet"(s).
func hello(ctx *durable.Context, s string) (json.RawMessage, error) {
	return durable.CallActivity[json.RawMessage](ctx, "greet", s).Get()
}

// sequence: "step"(0) .. "step"(n-1), one after the other.
func sequence(ctx *durable.Context, n int) ([]any, error) {
	out := make([]any, 0, n)
	for i := range n {
		v, err := durable.CallActivity[any](ctx, "step", i).Get()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// fanout: "step"(0) .. "step"(n-1) at once, joined in schedule order.
func fanout(ctx *durable.Context, n int) ([]any, error) {
	fs := make([]*durable.Future[any], n)
	for i := range n {
		fs[i] = durable.CallActivity[any](ctx, "step", i)
	}
	out, err := durable.Join(fs...)
	if out == nil {
		out = []any{}
	}
	return out, err
}

// timer: a durable timer of ms milliseconds, with the logical time around it.
func timer(ctx *durable.Context, ms int) (map[string]int64, error) {
	before := ctx.Now().UnixMilli()
	if err := ctx.Sleep(time.Duration(ms) * time.Millisecond); err != nil {
		return nil, err
	}
	return map[string]int64{"before": before, "after": ctx.Now().UnixMilli()}, nil
}

// event: the data of external event "approve".
func event(ctx *durable.Context, _ any) (json.RawMessage, error) {
	return rawOrNull(ctx.WaitForEvent("approve").Get())
}

// race: event "approve" against a timer of ms milliseconds; the loser is cancelled.
func race(ctx *durable.Context, ms int) (string, error) {
	ev := ctx.WaitForEvent("approve")
	t := ctx.Timer(time.Duration(ms) * time.Millisecond)
	if ctx.Select(ev, t) == 0 {
		data, err := ev.Get()
		if err != nil {
			return "", err
		}
		return "event:" + string(data), nil
	}
	return "timeout", nil
}

// queue: n messages of queue "q", in order.
func queue(ctx *durable.Context, n int) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, 0, n)
	for range n {
		m, err := rawOrNull(ctx.Dequeue("q").Get())
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// child: sub-orchestration "hello"(s) with a derived instance ID.
func child(ctx *durable.Context, s string) (json.RawMessage, error) {
	return durable.CallSubOrchestration[json.RawMessage](ctx, "hello", s).Get()
}

// child_explicit: sub-orchestration "hello"(s) with instance ID "<own ID>-child".
func childExplicit(ctx *durable.Context, s string) (json.RawMessage, error) {
	return durable.CallSubOrchestration[json.RawMessage](ctx, "hello", s,
		durable.WithInstanceID(ctx.InstanceID()+"-child")).Get()
}

// child_named: sub-orchestration "hello"("x") under the instance ID given as input (which the
// host scopes to the parent's namespace).
func childNamed(ctx *durable.Context, id string) (json.RawMessage, error) {
	return durable.CallSubOrchestration[json.RawMessage](ctx, "hello", "x", durable.WithInstanceID(id)).Get()
}

// detached: starts "hello"(s) on its own and returns its instance ID.
func detached(ctx *durable.Context, s string) (string, error) {
	return durable.StartOrchestration(ctx, "hello", s)
}

// continue: counts to 3 through continue-as-new, the count as custom status.
func continueAsNew(ctx *durable.Context, c int) (int, error) {
	if c < 3 {
		if err := durable.SetCustomStatus(ctx, c); err != nil {
			return 0, err
		}
		return 0, durable.ContinueAsNew(ctx, c+1)
	}
	return c, nil
}

// status: custom status "a", then "b", then none.
func status(ctx *durable.Context, _ any) (string, error) {
	if err := durable.SetCustomStatus(ctx, "a"); err != nil {
		return "", err
	}
	if err := ctx.Sleep(time.Millisecond); err != nil {
		return "", err
	}
	if err := durable.SetCustomStatus(ctx, "b"); err != nil {
		return "", err
	}
	if err := ctx.Sleep(time.Millisecond); err != nil {
		return "", err
	}
	ctx.ClearCustomStatus()
	return "done", nil
}

// determinism: everything a guest can observe that the sandbox must make a function of history.
func determinism(ctx *durable.Context, _ any) (map[string]any, error) {
	if err := ctx.Sleep(time.Millisecond); err != nil {
		return nil, err
	}
	now := time.Now().UnixNano()
	r := randv2.IntN(1e9)
	var b [16]byte
	_, _ = rand.Read(b[:])
	m := make(map[string]int, 20)
	for i := range 20 {
		m[fmt.Sprintf("k%02d", i)] = i
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	fmt.Println("now", now, "rand", r, "replaying", ctx.IsReplaying())
	return map[string]any{
		"now":    now,
		"rand":   r,
		"crypto": hex.EncodeToString(b[:]),
		"uuid":   ctx.NewUUID(),
		"map":    keys,
	}, nil
}

// retry: activity "flaky"(null), 3 attempts, 1 s then 2 s apart.
func retry(ctx *durable.Context, _ any) (json.RawMessage, error) {
	return durable.CallActivity[json.RawMessage](ctx, "flaky", nil, durable.WithRetry(durable.RetryPolicy{
		MaxAttempts: 3, InitialInterval: time.Second, BackoffCoefficient: 2,
	})).Get()
}

// fail: fails with the application error "boom".
func fail(*durable.Context, any) (any, error) { return nil, errors.New("boom") }

// activity_fail: propagates the failure of activity "fails"(null).
func activityFail(ctx *durable.Context, _ any) (json.RawMessage, error) {
	return durable.CallActivity[json.RawMessage](ctx, "fails", nil).Get()
}

// info: the instance's metadata, and one log line.
func info(ctx *durable.Context, _ any) (map[string]any, error) {
	ctx.Logger().Info("info orchestration", "instance", ctx.InstanceID(), "execution", ctx.ExecutionID())
	return map[string]any{
		"instance_id":  ctx.InstanceID(),
		"execution_id": ctx.ExecutionID(),
		"name":         ctx.Name(),
		"version":      ctx.Version(),
		"parent_id":    ctx.ParentID(),
		"replaying":    ctx.IsReplaying(),
	}, nil
}

// attempt_timeout: activity "slow"(null), 1 s per attempt, 2 attempts 1 s apart.
func attemptTimeout(ctx *durable.Context, _ any) (json.RawMessage, error) {
	return durable.CallActivity[json.RawMessage](ctx, "slow", nil, durable.WithRetry(durable.RetryPolicy{
		MaxAttempts: 2, InitialInterval: time.Second, AttemptTimeout: time.Second,
	})).Get()
}

// select_activity: activity "a"(null) against a 1 s timer.
func selectActivity(ctx *durable.Context, _ any) (string, error) {
	a := ctx.CallActivity("a", []byte("null"))
	t := ctx.Timer(time.Second)
	if ctx.Select(a, t) == 0 {
		if _, err := a.Get(); err != nil {
			return "", err
		}
		return "activity", nil
	}
	return "timer", nil
}

var sink int

// spin: never returns (the host's turn time budget stops it).
func spin(*durable.Context, any) (any, error) {
	for i := 0; ; i++ {
		sink = i
	}
}

// slow: Turns turns, each spinning Spin iterations before a 1 ms durable timer: a guest that
// costs CPU in every turn, so that replaying its history costs Turns times one live turn.
func slow(ctx *durable.Context, in struct{ Turns, Spin int }) (int, error) {
	total := 0
	for range in.Turns {
		for i := range in.Spin {
			sink = i
			total++
		}
		if err := ctx.Sleep(time.Millisecond); err != nil {
			return 0, err
		}
	}
	return total, nil
}

var hoard [][]byte

// grow: allocates memory until the host's memory limit stops it.
func grow(*durable.Context, any) (any, error) {
	for {
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = 1
		}
		hoard = append(hoard, b)
	}
}

// panic: panics with "kaboom".
func panicking(*durable.Context, any) (any, error) { panic("kaboom") }

// big_output: a string of n bytes.
func bigOutput(_ *durable.Context, n int) (string, error) { return strings.Repeat("x", n), nil }

// rawOrNull returns data as a JSON value, null for an empty payload.
func rawOrNull(data []byte, err error) (json.RawMessage, error) {
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return json.RawMessage("null"), nil
	}
	return json.RawMessage(data), nil
}
