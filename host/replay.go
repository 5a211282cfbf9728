package host

import (
	"context"
	"errors"
	"fmt"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/modules"
	"github.com/durohost/durohost/host/internal/replay"
	"github.com/durohost/durohost/host/internal/sandbox"
)

// Divergence is the first place where a module does something other than what a recorded
// history holds: the structured form of a nondeterminism failure.
type Divergence struct {
	// Code is the failure code: one of the DH-NONDET codes, or the code of another failure
	// the module met while replaying (a trap, an ABI misuse, a limit).
	Code string
	// Index is the ID of the history event concerned (0 when the failure is not tied to one).
	Index int64
	// Recorded is what history holds at Index (nil: nothing).
	Recorded *history.Event
	// Got is what the module did now (nil: nothing, e.g. it blocked).
	Got *history.Event
	// Message says it in words.
	Message string
}

// Error returns "[code] message".
func (d *Divergence) Error() string { return "[" + d.Code + "] " + d.Message }

// Replay runs a module against the recorded history of one execution of an instance, as a
// cold replay does, without a store and without recording anything, and reports the first
// divergence, or nil when the module is compatible with the history. The history may be
// complete or still running. A history whose last turn ends in an infrastructure failure
// recorded by the host (a nondeterminism failure, poison, a limit) is checked up to that
// turn: the guest never made the turn's decisions. A malformed history is an error.
//
// It is what `durohost replay` and the golden histories of the conformance suite use to tell
// whether a new build of a module (or of the host) can continue existing instances.
func (h *Host) Replay(ctx context.Context, wasm []byte, instanceID string, execution uint32, events []history.Event, opts ...ReplayOption) (*Divergence, error) {
	r, err := h.Replayer(ctx, wasm)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.Replay(ctx, instanceID, execution, events, opts...)
}

// ReplayOption configures a replay.
type ReplayOption func(*replayOptions)

type replayOptions struct{ ns string }

// InNamespace replays an instance of namespace ns (instanceID is then its key, store.Key): the
// explicit IDs its code gives children are scoped to ns, as when it ran. Without it, the
// instance is of the default namespace.
func InNamespace(ns string) ReplayOption { return func(o *replayOptions) { o.ns = ns } }

// Replayer holds a compiled module for replaying many histories against it (Host.Replay
// compiles it for each call unless the host holds it already). Close it when done.
type Replayer struct {
	h   *Host
	ref *modules.Ref
}

// Replayer validates and compiles wasm for Replay calls; the module is not kept once the
// Replayer is closed (unless the host holds it for its instances). Errors for unacceptable
// bytes wrap ErrInvalidModule.
func (h *Host) Replayer(ctx context.Context, wasm []byte) (*Replayer, error) {
	ref, err := h.mods.Acquire(ctx, wasm, modules.Transient)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	return &Replayer{h: h, ref: ref}, nil
}

// Close releases the module.
func (r *Replayer) Close() { r.ref.Release() }

// Module describes the Replayer's module (as InspectModule does).
func (r *Replayer) Module() *Module {
	m := r.ref.Module()
	return &Module{Hash: m.Hash, Size: m.Size, Imports: m.Imports, Orchestrations: m.Orchestrations}
}

// Replay is Host.Replay with the Replayer's module.
func (r *Replayer) Replay(ctx context.Context, instanceID string, execution uint32, events []history.Event, opts ...ReplayOption) (*Divergence, error) {
	var o replayOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := checkName("instance ID", instanceID); err != nil {
		return nil, err
	}
	if execution == 0 {
		return nil, fmt.Errorf("replay: execution must be at least 1")
	}
	m := r.ref.Module()
	d, err := r.h.replay(ctx, m, o.ns, instanceID, execution, events)
	if err != nil || d == nil {
		return d, err
	}
	if cut := hostFailureTurn(events); cut >= 0 {
		return r.h.replay(ctx, m, o.ns, instanceID, execution, events[:cut])
	}
	return d, nil
}

func (h *Host) replay(ctx context.Context, m *sandbox.Module, ns, id string, execution uint32, events []history.Event) (*Divergence, error) {
	if len(events) == 0 {
		return nil, nil
	}
	eng, err := replay.New(replay.Config{InstanceID: id, Namespace: ns, Execution: execution,
		MaxPayload: h.cfg.limits.MaxPayload, MaxEvents: h.cfg.limits.MaxEvents}, events)
	if err != nil {
		return nil, fmt.Errorf("replay %s execution %d: %w", id, execution, err)
	}
	inst, err := h.sb.Instantiate(ctx, m, eng, id, execution)
	if err != nil {
		return nil, fmt.Errorf("replay %s execution %d: %w", id, execution, err)
	}
	res := inst.Run(ctx)
	inst.Close()
	switch res.State {
	case sandbox.Completed, sandbox.Suspended, sandbox.Ended:
		return nil, nil
	case sandbox.Failed:
		var nd *replay.NondeterminismError
		if errors.As(res.Err, &nd) {
			return &Divergence{Code: nd.Code, Index: nd.Index, Recorded: nd.Recorded, Got: nd.Got, Message: nd.Failure().Message}, nil
		}
		f := replay.AsFailure(res.Err)
		return &Divergence{Code: f.Code, Message: f.Message}, nil
	}
	return nil, fmt.Errorf("replay %s execution %d: %w", id, execution, res.Err)
}

// hostFailureTurn returns the index of the turn_started of the last turn when that turn ends
// with an infrastructure failure and nothing else decided in it (the host recorded the
// failure instead of the guest's decisions), or -1.
func hostFailureTurn(events []history.Event) int {
	n := len(events)
	if n < 2 {
		return -1
	}
	last := events[n-1]
	if last.Kind != history.KindExecutionFailed || last.Failure == nil || last.Failure.Kind != abi.FailureInfrastructure {
		return -1
	}
	if prev := events[n-2].Kind; prev.IsDecision() {
		return -1
	}
	for i := n - 2; i >= 0; i-- {
		if events[i].Kind == history.KindTurnStarted {
			return i
		}
	}
	return -1
}
