//go:build wasip1

package main

// Scenario orchestrations (names "sc_..."): the orchestrations the scenario suite
// (conformance/scenarios) drives by name. Their required behaviour, which every language's
// test guest implements identically, is written in conformance/scenarios/README.md.

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	durable "github.com/durohost/durohost/guest-sdk/go"
)

func init() {
	durable.RegisterFunc("sc_call", scCall)
	durable.RegisterFunc("sc_sequence", scSequence)
	durable.RegisterFunc("sc_fanout", scFanout)
	durable.RegisterFunc("sc_saga", scSaga)
	durable.RegisterFunc("sc_timers", scTimers)
	durable.RegisterFunc("sc_status", scStatus)
	durable.RegisterFunc("sc_fail", scFail)
	durable.RegisterFunc("sc_info", scInfo)
}

// retrySpec is the JSON form of a retry policy in scenario inputs.
type retrySpec struct {
	MaxAttempts  int      `json:"max_attempts"`
	InitialMS    int64    `json:"initial_ms"`
	Coefficient  float64  `json:"coefficient"`
	MaxMS        int64    `json:"max_ms"`
	TimeoutMS    int64    `json:"timeout_ms"`
	NonRetryable []string `json:"non_retryable"`
}

func (r *retrySpec) options() []durable.CallOption {
	if r == nil {
		return nil
	}
	return []durable.CallOption{durable.WithRetry(durable.RetryPolicy{
		MaxAttempts:        r.MaxAttempts,
		InitialInterval:    time.Duration(r.InitialMS) * time.Millisecond,
		BackoffCoefficient: r.Coefficient,
		MaxInterval:        time.Duration(r.MaxMS) * time.Millisecond,
		AttemptTimeout:     time.Duration(r.TimeoutMS) * time.Millisecond,
		NonRetryableCodes:  r.NonRetryable,
	})}
}

// errorJSON is how scenario orchestrations report a caught failure.
type errorJSON struct {
	Kind    string `json:"kind"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
}

func describeError(err error) errorJSON {
	if e, ok := errors.AsType[*durable.Error](err); ok {
		return errorJSON{Kind: e.Kind.String(), Code: e.Code, Message: e.Message}
	}
	return errorJSON{Kind: "application", Message: err.Error()}
}

// payload returns data as a JSON value: null for an empty payload.
func payload(data []byte) json.RawMessage {
	if len(data) == 0 {
		return json.RawMessage("null")
	}
	return json.RawMessage(data)
}

// input returns a JSON value as an activity input: null when absent.
func input(v json.RawMessage) []byte {
	if len(v) == 0 {
		return []byte("null")
	}
	return v
}

type callInput struct {
	Activity string          `json:"activity"`
	Input    json.RawMessage `json:"input"`
	Retry    *retrySpec      `json:"retry"`
	Catch    bool            `json:"catch"`
	Len      bool            `json:"len"`
}

// sc_call: one activity call.
func scCall(ctx *durable.Context, in callInput) (any, error) {
	res, err := ctx.CallActivity(in.Activity, input(in.Input), in.Retry.options()...).Get()
	switch {
	case err != nil && in.Catch:
		return map[string]any{"error": describeError(err)}, nil
	case err != nil:
		return nil, err
	case in.Len:
		return map[string]int{"len": len(res)}, nil
	}
	return payload(res), nil
}

type sequenceInput struct {
	Activity string `json:"activity"`
	Count    int    `json:"count"`
	Batch    int    `json:"batch"`
}

// sc_sequence: Count calls of one activity with the inputs 0..Count-1, Batch at a time (all
// of a batch at once, joined, before the next batch; default 1: one after the other).
// Returns {"count": Count, "last": the result of the last call}.
func scSequence(ctx *durable.Context, in sequenceInput) (any, error) {
	batch := max(in.Batch, 1)
	var last []byte
	for i := 0; i < in.Count; i += batch {
		var fs []*durable.Future[[]byte]
		for j := i; j < min(i+batch, in.Count); j++ {
			fs = append(fs, ctx.CallActivity(in.Activity, []byte(fmt.Sprint(j))))
		}
		res, err := durable.Join(fs...)
		if err != nil {
			return nil, err
		}
		last = res[len(res)-1]
	}
	return map[string]any{"count": in.Count, "last": payload(last)}, nil
}

type fanoutInput struct {
	Activity string            `json:"activity"`
	Inputs   []json.RawMessage `json:"inputs"`
	Catch    bool              `json:"catch"`
}

// sc_fanout: one call per input, all at once, joined in schedule order.
func scFanout(ctx *durable.Context, in fanoutInput) (any, error) {
	fs := make([]*durable.Future[[]byte], len(in.Inputs))
	for i, x := range in.Inputs {
		fs[i] = ctx.CallActivity(in.Activity, input(x))
	}
	res, err := durable.Join(fs...)
	out := make([]json.RawMessage, len(res))
	for i, r := range res {
		out[i] = payload(r)
	}
	switch {
	case err != nil && in.Catch:
		return map[string]any{"results": out, "error": describeError(err)}, nil
	case err != nil:
		return nil, err
	}
	return out, nil
}

type sagaInput struct {
	Steps []string `json:"steps"`
}

// sc_saga: each step's activity in order; when one fails, the compensations of the completed
// steps ("undo_<step>") in reverse order, then the failure.
func scSaga(ctx *durable.Context, in sagaInput) ([]string, error) {
	var done []string
	for _, s := range in.Steps {
		if _, err := ctx.CallActivity(s, []byte("null")).Get(); err != nil {
			var compensated, failed []string
			for i := len(done) - 1; i >= 0; i-- {
				undo := "undo_" + done[i]
				if _, cerr := ctx.CallActivity(undo, []byte("null")).Get(); cerr != nil {
					failed = append(failed, undo)
					continue
				}
				compensated = append(compensated, undo)
			}
			return nil, durable.NewError("saga_failed", fmt.Sprintf("step %s failed (%s); compensated %v; compensations failed %v",
				s, describeError(err).Message, compensated, failed))
		}
		done = append(done, s)
	}
	return done, nil
}

type timersInput struct {
	MS       []int64 `json:"ms"`
	Parallel bool    `json:"parallel"`
}

// sc_timers: timers one after the other, or all at once.
func scTimers(ctx *durable.Context, in timersInput) (map[string]any, error) {
	start := ctx.Now()
	var want time.Duration
	if in.Parallel {
		fs := make([]durable.Awaitable, len(in.MS))
		for i, ms := range in.MS {
			fs[i] = ctx.Timer(time.Duration(ms) * time.Millisecond)
			want = max(want, time.Duration(ms)*time.Millisecond)
		}
		if len(fs) > 0 {
			if err := ctx.WaitAll(fs...); err != nil {
				return nil, err
			}
		}
	} else {
		for _, ms := range in.MS {
			if err := ctx.Sleep(time.Duration(ms) * time.Millisecond); err != nil {
				return nil, err
			}
			want += time.Duration(ms) * time.Millisecond
		}
	}
	return map[string]any{"fired": len(in.MS), "elapsed_ok": ctx.Now().Sub(start) >= want}, nil
}

// sc_status: for each step, "clear" clears the custom status, "empty" sets an empty one,
// anything else sets it to the step's JSON; a 1 ms timer separates steps. Returns the status
// read back at the end: {"set": false} or {"set": true, "status": "<its bytes as text>"}.
func scStatus(ctx *durable.Context, steps []json.RawMessage) (map[string]any, error) {
	for i, s := range steps {
		if i > 0 {
			if err := ctx.Sleep(time.Millisecond); err != nil {
				return nil, err
			}
		}
		switch string(s) {
		case `"clear"`:
			ctx.ClearCustomStatus()
		case `"empty"`:
			ctx.SetCustomStatus([]byte{})
		default:
			ctx.SetCustomStatus(s)
		}
	}
	st, ok := ctx.CustomStatus()
	if !ok {
		return map[string]any{"set": false}, nil
	}
	return map[string]any{"set": true, "status": string(st)}, nil
}

type failInput struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// sc_fail: fails with an application failure of the given code and message.
func scFail(_ *durable.Context, in failInput) (any, error) {
	return nil, durable.NewError(in.Code, in.Message)
}

// sc_info: the instance's identity.
func scInfo(ctx *durable.Context, in json.RawMessage) (map[string]any, error) {
	return map[string]any{
		"instance_id":  ctx.InstanceID(),
		"parent_id":    ctx.ParentID(),
		"execution_id": ctx.ExecutionID(),
		"input":        payload(in),
	}, nil
}
