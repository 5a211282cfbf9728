package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/replay"
	"github.com/durohost/durohost/host/internal/sandbox"
	"github.com/durohost/durohost/host/internal/telemetry"
	"github.com/durohost/durohost/store"
)

// Eager starts, with a store that implements store.EagerStarter (r.eager) and
// store.DirectDispatcher. A start from this process would otherwise cost a transaction that
// queues the start message (and locks its turn), then the first turn's commit. Here the first
// turn runs on the start message before anything is written, and the start is written with
// that turn in one transaction (StartWithTurn): a one-activity orchestration costs two
// commits instead of three, and its start is acknowledged only once both are durable. When
// the first turn cannot run here at once (no free turn slot, the namespace at its turn
// limit, the module not loadable now, the guest failing to instantiate, messages already
// waiting for the instance), nothing is written and the start takes the usual path, where
// retries, poison counts and failures are recorded as for any turn. See RATIONALE.md, "Why
// does a start run its first turn before it is written?".

// startEager tries the eager start of msg. It reports whether the start is settled: committed
// (nil) or refused (store.ErrExists, store.ErrQuota); false means nothing was written and
// the caller starts the instance the usual way.
func (r *Runtime) startEager(ctx context.Context, msg store.Message) (bool, error) {
	if r.eager == nil || r.dispatch == nil || msg.Event.ModuleHash == "" || !msg.VisibleAt.IsZero() {
		return false, nil
	}
	usual := func(why string) (bool, error) {
		r.log.Debug("start takes the usual path", "instance", msg.InstanceID, "why", why)
		return false, nil
	}
	drain := r.drain.Load()
	if drain == nil || !r.enterDirect() {
		return usual("the host is not running")
	}
	defer r.direct.Done()
	select {
	case r.turnSlots <- struct{}{}:
	default:
		return usual("every turn slot is taken")
	}
	defer func() { <-r.turnSlots }()
	ns, id := msg.Namespace, msg.InstanceID
	limit := r.policy(ns).MaxConcurrentTurns
	if !r.nsTurns.enter(ns, limit) {
		return usual("the namespace runs its limit of turns")
	}
	defer r.nsTurns.leave(ns, limit)

	ref, err := r.mods.AcquireHash(ctx, msg.Event.ModuleHash)
	if err != nil || ref == nil {
		if ref != nil {
			ref.Release()
		}
		return usual(fmt.Sprintf("module %s: %v", short(msg.Event.ModuleHash), err))
	}
	defer func() {
		if ref != nil {
			ref.Release()
		}
	}()
	mod := ref.Module()
	eng, err := replay.New(replay.Config{InstanceID: id, Namespace: ns, Execution: 1,
		MaxPayload: r.cfg.MaxPayload, MaxEvents: r.cfg.MaxEvents}, nil)
	if err != nil {
		return usual(err.Error())
	}
	inputs := []history.Event{msg.Event}
	ts, err := eng.BeginTurn(time.Now().UnixNano(), inputs)
	if err != nil || !ts.Run || len(ts.Dropped) > 0 {
		return usual(fmt.Sprintf("the engine does not run the start as is (%v)", err))
	}
	tt, tctx, endTurn := r.eagerTelemetry(ctx, msg)
	defer endTurn()
	if err := r.sb.Admit(tctx, mod.MemoryEstimate()+turnHeadroom, r.live.evictOne); err != nil {
		tt.SetOutcome(telemetry.TurnAbandoned)
		return usual(err.Error())
	}
	endInstantiate := tt.Measure(telemetry.PhaseInstantiate)
	inst, err := r.sb.Instantiate(tctx, mod, eng, id, 1)
	endInstantiate()
	if err != nil {
		tt.SetOutcome(telemetry.TurnAbandoned)
		return usual(err.Error())
	}
	inst.SetRelease(ref.Release)
	ref = nil
	res := inst.Run(tctx)
	if res.State == 0 {
		inst.Close()
		tt.SetOutcome(telemetry.TurnAbandoned)
		return usual(fmt.Sprintf("turn interrupted: %v", res.Err))
	}
	if res.State != sandbox.Suspended {
		inst.Close()
		inst = nil
	}
	c := eng.Commit()
	c.State.Namespace = ns
	pinStarts(c, mod)
	committed := func() {}
	if inst != nil {
		committed = r.live.commit(id)
	}
	claimed := r.claim(c, ns)
	endCommit := tt.Measure(telemetry.PhaseCommit)
	err = r.eager.StartWithTurn(context.WithoutCancel(ctx), msg, store.StartOptions{MaxInstances: r.policy(ns).MaxInstances}, c)
	endCommit()
	if err != nil {
		tt.CommitFailed(false)
		r.unclaim(claimed)
		if inst != nil {
			inst.Close()
		}
		committed()
		switch {
		case errors.Is(err, store.ErrExists), errors.Is(err, store.ErrQuota):
			return true, err
		case !errors.Is(err, store.ErrConflict):
			r.log.Warn("start with turn", "instance", id, "err", err)
		}
		return usual(err.Error())
	}
	tt.Committed(inputs, c.History)
	eng.MarkCommitted()
	if inst != nil {
		r.live.put(id, 1, c.Created, eng, inst)
	}
	committed()
	r.afterCommit(*drain, id, c, claimed)
	return true, nil
}

// eagerTelemetry begins the telemetry of an eager first turn: nil and ctx when telemetry is
// off; end ends it.
func (r *Runtime) eagerTelemetry(ctx context.Context, msg store.Message) (*telemetry.Turn, context.Context, func()) {
	tel := r.tel.Load()
	if tel == nil {
		return nil, ctx, nop
	}
	tt := &telemetry.Turn{InstanceID: msg.InstanceID, Namespace: msg.Namespace, Execution: 1, Fresh: true, Orchestration: msg.Event.Name}
	ctx = tel.TurnStart(ctx, tt)
	return tt, ctx, func() { tel.TurnEnd(ctx, tt) }
}
