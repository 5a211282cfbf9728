package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/modules"
	"github.com/durohost/durohost/host/internal/replay"
	"github.com/durohost/durohost/host/internal/sandbox"
	"github.com/durohost/durohost/host/internal/telemetry"
	"github.com/durohost/durohost/store"
)

func (r *Runtime) orchestrationLoop(ctx, drain context.Context) {
	poll(ctx, r, r.turnSlots, r.wakeTurn, "fetch turn",
		func() (*store.Turn, error) { return r.st.FetchTurn(ctx, r.cfg.LockTimeout, r.known) },
		func(t *store.Turn) { r.processTurn(drain, t) }, nil)
}

// runTurn runs one turn of a locked instance and commits it. ctx ends only when the host
// stops without time to drain: the turn is then abandoned. tt, nil when telemetry is off,
// records what the turn did (see telemetry.go).
func (r *Runtime) runTurn(ctx context.Context, t *store.Turn, tt *telemetry.Turn) {
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopRenew := r.renewTurn(tctx, cancel, t.Token)
	defer stopRenew()

	abandon := func(delay time.Duration, ignoreAttempt bool, why string) {
		r.log.Debug("abandon turn", "instance", t.InstanceID, "why", why, "delay", delay)
		if err := r.st.AbandonTurn(context.WithoutCancel(ctx), t.Token, store.AbandonOptions{Delay: delay, IgnoreAttempt: ignoreAttempt}); err != nil && !errors.Is(err, store.ErrLockLost) {
			r.log.Warn("abandon turn", "instance", t.InstanceID, "err", err)
		}
	}
	// A namespace at its MaxConcurrentTurns waits: its turn goes back to the queue for a
	// moment, uncounted, and the host's workers serve other namespaces meanwhile.
	ns := turnNamespace(t)
	if limit := r.policy(ns).MaxConcurrentTurns; !r.nsTurns.enter(ns, limit) {
		abandon(r.nsTurns.wait(ns), true, fmt.Sprintf("namespace %q runs %d turns, its limit", ns, limit))
		return
	} else {
		defer r.nsTurns.leave(ns, limit)
	}
	consumed := make([]int64, len(t.Messages))
	inputs := make([]history.Event, len(t.Messages))
	for k, m := range t.Messages {
		consumed[k], inputs[k] = m.ID, m.Event
	}
	execution := t.Execution
	if t.Instance == nil {
		execution = 1
	}
	// The live instance is taken first: when the store (a store.HistorySkipper) omitted the
	// history because the cache reported it (r.known), the engine's history is the store's,
	// and it is the only one this turn has. If the entry is gone by now (evicted by another instance's turn) or
	// does not match, the turn must not go on: a cold replay needs the history. It is given
	// back at once without counting the attempt; the next fetch finds no entry, so the store
	// reads the history. (Keeping entries reserved between fetch and take would avoid the
	// refetch, but eviction is rare on the fast path and a reservation must then be released
	// on every path.) From here on, every return that does not run the turn closes inst.
	eng, inst := r.live.take(t, execution)
	tt.SetLive(inst != nil)
	hist := t.History
	if t.HistoryOmitted {
		if eng == nil {
			abandon(0, true, "the live instance is gone and the store omitted the history: fetch it again")
			return
		}
		hist = eng.History()
	}
	closeLive := func() {
		if inst != nil {
			inst.Close()
		}
	}
	// An ended instance takes no more input: consume and drop.
	if t.Instance != nil && t.Instance.Status.Finished() {
		tt.SetOutcome(telemetry.TurnDropped)
		closeLive()
		r.commitDrop(ctx, t, consumed, "the instance has ended", refuseStarts(t, hist))
		return
	}
	start := startEvent(hist, inputs, execution)
	if start == nil {
		tt.SetOutcome(telemetry.TurnDropped)
		closeLive()
		r.commitDrop(ctx, t, consumed, "the instance has not started", nil)
		return
	}
	tt.SetOrchestration(start.Name)
	if start.ModuleHash == "" {
		info, err := r.resolve(tctx, ns, start.Name, start.Version)
		if err == nil {
			start.ModuleHash = info.Hash
			if start.Version == "" && !strings.HasPrefix(info.Version, "sha256:") {
				start.Version = info.Version // the version that runs is recorded
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			closeLive()
			abandon(r.cfg.RetryBase, true, err.Error())
			return
		}
	}
	// The module: the live instance's, or the one its hash names, compiled once (the module
	// manager). ref, when set, is this turn's hold on it, handed to a new instance or given
	// back at the end of the turn.
	var mod *sandbox.Module
	var ref *modules.Ref
	var modErr error
	defer func() {
		if ref != nil {
			ref.Release()
		}
	}()
	switch {
	case inst != nil:
		mod = inst.Module()
	case start.ModuleHash != "":
		ref, modErr = r.mods.AcquireHash(tctx, start.ModuleHash)
		if ref != nil {
			mod = ref.Module()
		}
		if modErr != nil && !permanentModuleError(modErr) {
			r.retryLater(t.InstanceID, modErr, abandon)
			return
		}
	}
	attempts := t.MaxAttempts()
	var failure *abi.Failure
	switch {
	case attempts > r.cfg.MaxAttempts:
		failure = infra(abi.CodePoison, "poison: %s delivered %d times without a successful turn (limit %d)", describeMessages(t.Messages), attempts, r.cfg.MaxAttempts)
	case mod == nil && modErr == nil && r.cfg.FailUnregistered:
		failure = infra(abi.CodeUnregistered, "no module registers orchestration %q (version %q)%s", start.Name, start.Version, inNamespace(ns))
	case mod == nil && modErr == nil:
		if attempts < r.cfg.MaxAttempts {
			closeLive()
			abandon(r.backoff(attempts), false, fmt.Sprintf("no module registers orchestration %q", start.Name))
			return
		}
		failure = infra(abi.CodeUnregistered, "no module registers orchestration %q (version %q) after %d attempts", start.Name, start.Version, attempts)
	case modErr != nil:
		failure = infra(abi.CodeUnregistered, "orchestration %q: module %s cannot run: %v", start.Name, short(start.ModuleHash), modErr)
	}

	if eng == nil {
		var err error
		eng, err = replay.New(replay.Config{InstanceID: t.InstanceID, Namespace: ns, Execution: execution,
			MaxPayload: r.cfg.MaxPayload, MaxEvents: r.cfg.MaxEvents}, t.History)
		if err != nil {
			failure = infra(abi.CodeTrap, "history of %s execution %d is unreadable: %v", t.InstanceID, execution, err)
			eng, _ = replay.New(replay.Config{InstanceID: t.InstanceID, Namespace: ns, Execution: execution}, nil)
		}
	}
	ts, err := eng.BeginTurn(time.Now().UnixNano(), inputs)
	switch {
	case err != nil:
		eng.Fail(err)
	case failure != nil:
		eng.Fail(failure)
	case ts.Run:
		if inst == nil {
			// Turns wait for guest memory rather than exceed the host's budget; parked
			// instances make room first.
			if err := r.sb.Admit(tctx, mod.MemoryEstimate()+turnHeadroom, r.live.evictOne); err != nil {
				abandon(0, true, fmt.Sprintf("turn interrupted while waiting for guest memory: %v", err))
				return
			}
			endInstantiate := tt.Measure(telemetry.PhaseInstantiate)
			inst, err = r.sb.Instantiate(tctx, mod, eng, t.InstanceID, execution)
			endInstantiate()
			if err != nil {
				if tctx.Err() != nil || sandbox.Transient(err) {
					// The host is stopping, lost the lock, or is short of time or memory:
					// not the guest's failure.
					r.retryLater(t.InstanceID, err, abandon)
					return
				}
				eng.Fail(infra(abi.CodeTrap, "instantiate module %s: %v", short(mod.Hash), err))
				break
			}
			inst.SetRelease(ref.Release)
			ref = nil
		} else if err := r.sb.Admit(tctx, turnHeadroom, r.live.evictOne); err != nil {
			inst.Close()
			abandon(0, true, fmt.Sprintf("turn interrupted while waiting for guest memory: %v", err))
			return
		}
		res := inst.Run(tctx)
		if res.State == 0 {
			inst.Close()
			if tctx.Err() == nil && sandbox.Transient(res.Err) {
				r.retryLater(t.InstanceID, res.Err, abandon)
				return
			}
			abandon(0, true, fmt.Sprintf("turn interrupted: %v", res.Err))
			return
		}
		if res.State != sandbox.Suspended {
			inst.Close()
			inst = nil
		}
	}
	for _, d := range ts.Dropped {
		r.log.Debug("input dropped", "instance", t.InstanceID, "kind", d.Event.Kind, "reason", d.Reason)
	}
	c := eng.Commit()
	if inst != nil && (c.State.Status != store.StatusRunning || c.ContinueAsNew) {
		// The execution ended without running its guest (cancelled, failed by the host):
		// its live instance has nothing left to run.
		inst.Close()
		inst = nil
	}
	c.Consumed = consumed
	// The commit that creates the instance records its namespace; the store gives what the
	// turn sends (work items, the instances it starts) the same one.
	c.State.Namespace = ns
	pinStarts(c, mod)
	if t.Instance == nil && len(c.History) == 0 {
		c.Execution = 0
	}
	committed := func() {}
	if inst != nil {
		committed = r.live.commit(t.InstanceID)
	}
	claimed := r.claim(c, ns)
	endCommit := tt.Measure(telemetry.PhaseCommit)
	if err := r.st.CommitTurn(context.WithoutCancel(ctx), t.Token, c); err != nil {
		endCommit()
		tt.CommitFailed(errors.Is(err, store.ErrLockLost))
		r.unclaim(claimed)
		if inst != nil {
			inst.Close()
		}
		committed()
		if !errors.Is(err, store.ErrLockLost) {
			r.log.Warn("commit turn", "instance", t.InstanceID, "err", err)
			abandon(r.cfg.RetryBase, false, err.Error())
		}
		return
	}
	endCommit()
	tt.Committed(inputs, c.History)
	eng.MarkCommitted()
	if inst != nil {
		created := c.Created // set when this commit created the row
		if t.Instance != nil {
			created = t.Instance.CreatedAt
		}
		r.live.put(t.InstanceID, execution, created, eng, inst)
	}
	committed()
	r.afterCommit(ctx, t.InstanceID, c, claimed)
}

// turnHeadroom is the guest memory a turn is admitted with beyond what its guest holds: room
// to grow (see sandbox.Runtime.Admit).
const turnHeadroom = 8 << 20

// permanentModuleError reports whether a module cannot run whatever the retries: its bytes
// are not an acceptable module, are gone, or do not match their hash.
func permanentModuleError(err error) bool {
	return errors.Is(err, sandbox.ErrInvalidModule) || errors.Is(err, store.ErrNotFound) || errors.Is(err, modules.ErrCorrupt)
}

// retryLater gives a turn back after a condition of the host, not of the guest (a budget
// overrun while replaying, a busy or memory-short host): the turn is taken again later and
// the attempt is not counted, so it never becomes the instance's failure. Replay overruns are
// reported as errors: the host is too slow for its ReplayTime.
func (r *Runtime) retryLater(id string, err error, abandon func(time.Duration, bool, string)) {
	delay := r.cfg.RetryBase
	switch {
	case errors.Is(err, sandbox.ErrReplayTimeout), errors.Is(err, sandbox.ErrHostBusy):
		delay = max(delay, time.Second)
		r.log.Error("turn retried: the host could not run it within its budget (raise the replay or turn wall time, or give the host more CPU)", "instance", id, "err", err)
	case errors.Is(err, sandbox.ErrCompileTimeout):
		delay = max(delay, 10*time.Second)
		r.log.Error("turn retried: its module does not compile within the compile budget (raise the compile time)", "instance", id, "err", err)
	case errors.Is(err, sandbox.ErrBusy):
		delay = max(delay, time.Second)
	}
	abandon(delay, true, err.Error())
}

// afterCommit tells observers and waiters about a committed turn of id, and starts what it
// sent: the activities it claimed run here, the rest wake the dispatchers.
func (r *Runtime) afterCommit(ctx context.Context, id string, c *store.Commit, claimed int) {
	if len(c.History) > 0 {
		r.observe(Event{InstanceID: id, Events: c.History})
	}
	// Messages may have arrived for this instance during the turn: with the lock released, a
	// dispatcher can take them now.
	signal(r.wakeTurn)
	if len(c.Messages) > 0 {
		r.wakeForTimers(c.Messages)
	}
	r.runClaimed(ctx, c.Activities, claimed)
	if len(c.Activities) > claimed {
		signal(r.wakeAct)
	}
	r.notify(id)
}

// startEvent finds the execution_started event of the turn's execution: in its history, or
// among the messages (the first turn). It returns a pointer into inputs so that a resolved
// module hash is recorded.
func startEvent(hist, inputs []history.Event, execution uint32) *history.Event {
	if len(hist) > 1 && hist[1].Kind == history.KindExecutionStarted {
		return &hist[1]
	}
	for k := range inputs {
		in := &inputs[k]
		if in.Kind == history.KindExecutionStarted && (in.Execution == 0 || in.Execution == execution) {
			return in
		}
	}
	return nil
}

// refuseStarts answers the starts among the messages to a finished instance that parents sent
// for a child of their own (its ID taken): each parent is told DH-CHILD-002, as the engine
// tells them for a running instance (replay.ChildStartRefused). A duplicate of the instance's
// own start (same parent decision) is only dropped.
func refuseStarts(t *store.Turn, hist []history.Event) []store.Message {
	var own *history.Event
	if len(hist) > 1 && hist[1].Kind == history.KindExecutionStarted {
		own = &hist[1]
	}
	var out []store.Message
	for _, m := range t.Messages {
		ev := m.Event
		if ev.Kind != history.KindExecutionStarted {
			continue
		}
		if own != nil && ev.ParentID == own.ParentID && ev.ParentExecution == own.ParentExecution && ev.ParentRef == own.ParentRef {
			continue
		}
		if own == nil && t.Instance != nil && ev.ParentID == t.Instance.ParentID {
			continue // without the history, a start from the instance's own parent may be its own
		}
		if msg := replay.ChildStartRefused(ev, t.InstanceID); msg != nil {
			out = append(out, *msg)
		}
	}
	return out
}

// commitDrop consumes messages that no execution can take, sending msgs with the commit.
func (r *Runtime) commitDrop(ctx context.Context, t *store.Turn, consumed []int64, why string, msgs []store.Message) {
	c := &store.Commit{Consumed: consumed, Messages: msgs}
	if t.Instance != nil {
		c.Execution, c.State = t.Instance.Execution, t.Instance.InstanceState
	}
	r.log.Debug("messages dropped", "instance", t.InstanceID, "count", len(consumed), "why", why)
	if err := r.st.CommitTurn(context.WithoutCancel(ctx), t.Token, c); err != nil {
		if !errors.Is(err, store.ErrLockLost) {
			r.log.Warn("drop messages", "instance", t.InstanceID, "err", err)
		}
		return
	}
	if len(msgs) > 0 {
		signal(r.wakeTurn)
	}
}

// renewTurn keeps a turn's lock alive while it runs; losing it cancels the turn.
func (r *Runtime) renewTurn(ctx context.Context, lost context.CancelFunc, token string) (stop func()) {
	return keepLock(ctx, lost, r.cfg.LockTimeout/3, func(ctx context.Context) error {
		return r.st.RenewTurn(ctx, token, r.cfg.LockTimeout)
	})
}

func describeMessages(msgs []store.Message) string {
	parts := make([]string, 0, len(msgs))
	for _, m := range msgs {
		s := fmt.Sprintf("message %d (%s", m.ID, m.Event.Kind)
		if m.Event.Name != "" {
			s += " " + m.Event.Name
		}
		if m.Event.Ref != 0 {
			s += fmt.Sprintf(" of event %d", m.Event.Ref)
		}
		parts = append(parts, s+")")
	}
	return strings.Join(parts, ", ")
}

// pinStarts pins the executions this turn starts (children, detached orchestrations, the next
// execution after continue-as-new to another version) to the turn's own module when it
// registers the orchestration: a build's orchestrations run together, whatever was loaded since,
// and a namespaced server needs no registry lookup for them. Others are resolved in the
// registry when their first turn runs.
func pinStarts(c *store.Commit, mod *sandbox.Module) {
	if mod == nil {
		return
	}
	for k := range c.Messages {
		ev := &c.Messages[k].Event
		if ev.Kind == history.KindExecutionStarted && ev.ModuleHash == "" && mod.Has(ev.Name, ev.Version) {
			ev.ModuleHash = mod.Hash
		}
	}
}

// turnNamespace is the namespace of a turn's instance: its row's, or, on its first turn, its
// start message's (see RATIONALE.md, "Why are namespaces data?").
func turnNamespace(t *store.Turn) string {
	if t.Instance != nil {
		return t.Instance.Namespace
	}
	for _, m := range t.Messages {
		if m.Event.Kind == history.KindExecutionStarted {
			return m.Namespace
		}
	}
	return ""
}

// resolve finds the orchestration registration an instance of namespace ns runs: in ns only,
// so that another namespace's registrations are never found (a guest starts a sibling
// orchestration of another module of its namespace by its plain name). Only a host with a
// shared registry (Config.SharedRegistry) then looks in the default namespace "".
func (r *Runtime) resolve(ctx context.Context, ns, name, version string) (*store.ModuleInfo, error) {
	info, err := r.st.ResolveModule(ctx, ns, store.RegistrationOrchestration, name, version)
	if ns != "" && r.cfg.SharedRegistry && errors.Is(err, store.ErrNotFound) {
		return r.st.ResolveModule(ctx, "", store.RegistrationOrchestration, name, version)
	}
	return info, err
}
