//go:build wasip1

package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	randv2 "math/rand/v2"
	"time"

	durable "github.com/durohost/durohost/guest-sdk/go"
)

func init() {
	durable.RegisterFunc("sc_select", scSelect)
	durable.RegisterFunc("sc_join", scJoin)
	durable.RegisterFunc("sc_receive", scReceive)
	durable.RegisterFunc("sc_rebind", scRebind)
	durable.RegisterFunc("sc_child", scChild)
	durable.RegisterFunc("sc_hold", scHold)
	durable.RegisterFunc("sc_detached", scDetached)
	durable.RegisterFunc("sc_counter", scCounter)
	durable.RegisterFunc("sc_carry", scCarry)
	durable.RegisterFunc("sc_random", scRandom)
}

// futureSpec describes one future of sc_select and sc_join.
type futureSpec struct {
	Kind  string          `json:"kind"` // activity, timer, event, queue, child
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
	MS    int64           `json:"ms"`
	ID    string          `json:"id"`
}

// started is a future of any kind with its result as bytes.
type started struct {
	a   durable.Awaitable
	get func() ([]byte, error)
}

func (s futureSpec) start(ctx *durable.Context) started {
	var f *durable.Future[[]byte]
	switch s.Kind {
	case "activity":
		f = ctx.CallActivity(s.Name, input(s.Input))
	case "timer":
		t := ctx.Timer(time.Duration(s.MS) * time.Millisecond)
		return started{t, func() ([]byte, error) { _, err := t.Get(); return nil, err }}
	case "event":
		f = ctx.WaitForEvent(s.Name)
	case "queue":
		f = ctx.Dequeue(s.Name)
	case "child":
		var opts []durable.CallOption
		if s.ID != "" {
			opts = append(opts, durable.WithInstanceID(s.ID))
		}
		f = ctx.CallSubOrchestration(s.Name, input(s.Input), opts...)
	default:
		panic(fmt.Sprintf("unknown future kind %q", s.Kind))
	}
	return started{f, f.Get}
}

func outcome(data []byte, err error) map[string]any {
	if err != nil {
		return map[string]any{"error": describeError(err)}
	}
	return map[string]any{"result": payload(data)}
}

type futuresInput struct {
	Futures []futureSpec `json:"futures"`
}

// sc_select: starts the futures in order, selects one (the others are cancelled) and returns
// {"index": i, "result": ...} or {"index": i, "error": ...}.
func scSelect(ctx *durable.Context, in futuresInput) (map[string]any, error) {
	fs := make([]started, len(in.Futures))
	as := make([]durable.Awaitable, len(in.Futures))
	for i, s := range in.Futures {
		fs[i] = s.start(ctx)
		as[i] = fs[i].a
	}
	i := ctx.Select(as...)
	out := outcome(fs[i].get())
	out["index"] = i
	return out, nil
}

// sc_join: starts the futures in order, waits for all of them and returns their outcomes in
// schedule order.
func scJoin(ctx *durable.Context, in futuresInput) ([]map[string]any, error) {
	fs := make([]started, len(in.Futures))
	as := make([]durable.Awaitable, len(in.Futures))
	for i, s := range in.Futures {
		fs[i] = s.start(ctx)
		as[i] = fs[i].a
	}
	_ = ctx.WaitAll(as...)
	out := make([]map[string]any, len(fs))
	for i, f := range fs {
		out[i] = outcome(f.get())
	}
	return out, nil
}

type receiveInput struct {
	Gate  string `json:"gate"`
	Steps []struct {
		Event     string `json:"event"`
		Queue     string `json:"queue"`
		TimeoutMS int64  `json:"timeout_ms"`
	} `json:"steps"`
}

// sc_receive: waits for the event Gate (when set), then takes, one after the other, the next
// event or queue message of each step, racing it against a timer when the step has a timeout.
// Returns the data taken, "timeout" for a step whose timer won.
func scReceive(ctx *durable.Context, in receiveInput) ([]json.RawMessage, error) {
	if in.Gate != "" {
		if _, err := ctx.WaitForEvent(in.Gate).Get(); err != nil {
			return nil, err
		}
	}
	out := []json.RawMessage{}
	for _, s := range in.Steps {
		var f *durable.Future[[]byte]
		if s.Event != "" {
			f = ctx.WaitForEvent(s.Event)
		} else {
			f = ctx.Dequeue(s.Queue)
		}
		if s.TimeoutMS > 0 {
			t := ctx.Timer(time.Duration(s.TimeoutMS) * time.Millisecond)
			if ctx.Select(f, t) == 1 {
				out = append(out, json.RawMessage(`"timeout"`))
				continue
			}
		}
		data, err := f.Get()
		if err != nil {
			return nil, err
		}
		out = append(out, payload(data))
	}
	return out, nil
}

type rebindInput struct {
	Kind string `json:"kind"` // event or queue
	Name string `json:"name"`
	Gate string `json:"gate"`
}

// sc_rebind: subscribes to Name, waits for the event Gate only, cancels the first
// subscription without reading it, subscribes again and returns what the second one takes.
func scRebind(ctx *durable.Context, in rebindInput) (json.RawMessage, error) {
	sub := func() *durable.Future[[]byte] {
		if in.Kind == "queue" {
			return ctx.Dequeue(in.Name)
		}
		return ctx.WaitForEvent(in.Name)
	}
	first := sub()
	if _, err := ctx.WaitForEvent(in.Gate).Get(); err != nil {
		return nil, err
	}
	first.Cancel()
	data, err := sub().Get()
	if err != nil {
		return nil, err
	}
	return payload(data), nil
}

type childInput struct {
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
	ID    string          `json:"id"`
	Catch bool            `json:"catch"`
}

// sc_child: one sub-orchestration; its output, or its failure (propagated, or caught).
func scChild(ctx *durable.Context, in childInput) (any, error) {
	var opts []durable.CallOption
	if in.ID != "" {
		opts = append(opts, durable.WithInstanceID(in.ID))
	}
	res, err := ctx.CallSubOrchestration(in.Name, input(in.Input), opts...).Get()
	switch {
	case err != nil && in.Catch:
		return map[string]any{"error": describeError(err)}, nil
	case err != nil:
		return nil, err
	}
	return payload(res), nil
}

type holdInput struct {
	Depth    int    `json:"depth"`
	Activity string `json:"activity"`
}

// sc_hold: starts the activity (when set) and, when Depth > 0, the child sc_hold with Depth-1
// and instance ID "<own ID>-c", then waits for the event "release" and returns "released".
func scHold(ctx *durable.Context, in holdInput) (string, error) {
	if in.Activity != "" {
		ctx.CallActivity(in.Activity, []byte("null"))
	}
	if in.Depth > 0 {
		durable.CallSubOrchestration[string](ctx, "sc_hold", holdInput{Depth: in.Depth - 1, Activity: in.Activity},
			durable.WithInstanceID(ctx.InstanceID()+"-c"))
	}
	if _, err := ctx.WaitForEvent("release").Get(); err != nil {
		return "", err
	}
	return "released", nil
}

// sc_detached: starts orchestration Name with Input as an independent instance (ID when set)
// and returns its instance ID without waiting for it.
func scDetached(ctx *durable.Context, in childInput) (string, error) {
	var opts []durable.CallOption
	if in.ID != "" {
		opts = append(opts, durable.WithInstanceID(in.ID))
	}
	return ctx.StartOrchestration(in.Name, input(in.Input), opts...)
}

type counterInput struct {
	N     int               `json:"n"`
	To    int               `json:"to"`
	Event string            `json:"event,omitempty"`
	Got   []json.RawMessage `json:"got,omitempty"`
}

// sc_counter: sets the custom status {"n": N}, takes the next event Event (when set), and
// continues as new with N+1 until N reaches To; then returns {"n", "got", "execution"}.
func scCounter(ctx *durable.Context, in counterInput) (map[string]any, error) {
	if err := durable.SetCustomStatus(ctx, map[string]int{"n": in.N}); err != nil {
		return nil, err
	}
	if in.Event != "" {
		data, err := ctx.WaitForEvent(in.Event).Get()
		if err != nil {
			return nil, err
		}
		in.Got = append(in.Got, payload(data))
	}
	if in.N < in.To {
		in.N++
		return nil, durable.ContinueAsNew(ctx, in)
	}
	got := in.Got
	if got == nil {
		got = []json.RawMessage{}
	}
	return map[string]any{"n": in.N, "got": got, "execution": ctx.ExecutionID()}, nil
}

type carryInput struct {
	Phase int               `json:"phase"`
	Got   []json.RawMessage `json:"got,omitempty"`
}

// sc_carry: phase 1 sets the custom status "carried", waits for the event "go", takes one
// message of queue "q" and continues as new; phase 2 takes two more messages of "q" and
// returns {"got": the three messages, "status": the custom status it started with}.
func scCarry(ctx *durable.Context, in carryInput) (map[string]any, error) {
	take := func() error {
		data, err := ctx.Dequeue("q").Get()
		in.Got = append(in.Got, payload(data))
		return err
	}
	if in.Phase <= 1 {
		ctx.SetCustomStatus([]byte(`"carried"`))
		if _, err := ctx.WaitForEvent("go").Get(); err != nil {
			return nil, err
		}
		if err := take(); err != nil {
			return nil, err
		}
		return nil, durable.ContinueAsNew(ctx, carryInput{Phase: 2, Got: in.Got})
	}
	st, _ := ctx.CustomStatus()
	for range 2 {
		if err := take(); err != nil {
			return nil, err
		}
	}
	return map[string]any{"got": in.Got, "status": string(st), "execution": ctx.ExecutionID()}, nil
}

type randomInput struct {
	MS int64 `json:"ms"`
}

// sc_random: a UUID and crypto/rand bytes, before and after a timer of MS milliseconds, and
// whether logical time advanced by at least MS. math/rand is deterministic too, but its
// numbers depend on the Go runtime's own use of its generator, which changes with the code
// of the build: it is checked within a build (the modes), not across builds (the golden
// histories), so its number is used only to check that it replays.
func scRandom(ctx *durable.Context, in randomInput) (map[string]any, error) {
	sample := func() map[string]any {
		var b [8]byte
		_, _ = rand.Read(b[:])
		return map[string]any{"uuid": ctx.NewUUID(), "crypto": hex.EncodeToString(b[:]), "rand_ok": randv2.IntN(1e9) >= 0}
	}
	t0 := time.Now()
	before := sample()
	if err := ctx.Sleep(time.Duration(in.MS) * time.Millisecond); err != nil {
		return nil, err
	}
	after := sample()
	return map[string]any{
		"before":  before,
		"after":   after,
		"time_ok": time.Since(t0) >= time.Duration(in.MS)*time.Millisecond,
	}, nil
}
