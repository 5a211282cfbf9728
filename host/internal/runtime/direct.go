package runtime

import (
	"context"
	"errors"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/sandbox"
	"github.com/durohost/durohost/host/internal/telemetry"
	"github.com/durohost/durohost/store"
)

// Direct dispatch, with a store that implements store.DirectDispatcher (r.dispatch). A
// sequential step of an orchestration (a turn schedules an activity, the activity runs, the
// next turn consumes its result) takes four store transactions when every piece of work goes
// through the queues: commit the turn, fetch the activity, complete it, fetch the next turn.
// When this host can run the activity, the turn's commit claims it (store.WorkItem.Claim:
// locked for this host in the same transaction) and a worker runs it at once. When the
// activity is done, its result is committed together with the next turn, run on the live
// instance before anything is written (turnOnResult, CompleteActivityWithTurn): one
// transaction per step, and no polling. Without a live instance, the completion locks the
// instance and returns the next turn in the same transaction (CompleteActivityAndFetch);
// while the instance awaits other activities too, the result waits in the queue so that one
// turn takes many (fanIn). Starts and signals from this process lock the turn they make ready
// the same way (Submit, Start).
// Locks, attempt counts and the queues stay as they were: a claimed activity or a directly
// fetched turn that this host does not finish is taken over by any host once its lock
// expires. See RATIONALE.md, "Why dispatch directly?".
//
// With a store that has only the core, none of this happens: commits claim nothing, results
// are completed with CompleteActivity, starts and signals only enqueue, and the dispatchers
// fetch every turn and work item (they are woken at once by this host's own work).

// claim marks for claiming the activities of c, a commit of an instance of namespace ns,
// that this host can run now, taking a worker slot for each, and returns how many it marked.
// (The commit's work items do not carry the namespace yet: the store gives them the
// instance's.)
func (r *Runtime) claim(c *store.Commit, ns string) int {
	if r.dispatch == nil || r.stopping.Load() {
		return 0
	}
	n := 0
	for i := range c.Activities {
		a := &c.Activities[i]
		if !a.VisibleAt.IsZero() || r.activityFor(ns, a.Name) == nil {
			continue
		}
		select {
		case r.actSlots <- struct{}{}:
		default:
			return n // every worker is busy: the rest go through the queue
		}
		a.Claim, c.ClaimFor = true, r.cfg.LockTimeout
		n++
	}
	return n
}

// unclaim gives back the slots of a commit that failed.
func (r *Runtime) unclaim(n int) {
	for range n {
		<-r.actSlots
	}
}

// runClaimed runs the activities a committed turn claimed, each in its own goroutine holding
// the slot claim took.
func (r *Runtime) runClaimed(ctx context.Context, acts []store.WorkItem, n int) {
	if n == 0 {
		return
	}
	for i := range acts {
		if !acts[i].Claim {
			continue
		}
		wi := acts[i]
		r.direct.Add(1)
		go func() {
			defer r.direct.Done()
			defer func() { <-r.actSlots }()
			r.runActivity(ctx, &wi)
		}()
	}
}

// complete commits an activity's result. When a turn slot is free it also runs the turn that
// consumes the result here: on the live instance, committed with the completion in one
// transaction (turnOnResult), or else locked in the completion's transaction and run as
// any turn. Otherwise (or when the instance is locked elsewhere) the result waits in the
// queue for a dispatcher.
func (r *Runtime) complete(ctx context.Context, wi *store.WorkItem, msg store.Message) {
	cctx := context.WithoutCancel(ctx)
	if r.dispatch != nil && !r.stopping.Load() && ctx.Err() == nil {
		select {
		case r.turnSlots <- struct{}{}:
			if r.live.fanIn(wi.InstanceID) {
				<-r.turnSlots
				r.completed(wi, r.st.CompleteActivity(cctx, wi.Token, msg))
				return
			}
			if r.turnOnResult(ctx, wi, msg) {
				<-r.turnSlots
				return
			}
			if r.waker != nil && !r.live.holds(wi.InstanceID) {
				// Another host may hold the instance live (this one ran an activity it
				// fetched from the queue): the result is queued, and the store wakes the
				// hosts; taking the turn here would replay the instance cold and move it.
				<-r.turnSlots
				r.completed(wi, r.st.CompleteActivity(cctx, wi.Token, msg))
				return
			}
			turn, err := r.dispatch.CompleteActivityAndFetch(cctx, wi.Token, msg, r.cfg.LockTimeout, r.known)
			if turn != nil {
				r.processTurn(ctx, turn)
			}
			<-r.turnSlots
			r.completed(wi, err)
			return
		default:
		}
	}
	r.completed(wi, r.st.CompleteActivity(cctx, wi.Token, msg))
}

// completed logs a failed completion and wakes a dispatcher for the result.
func (r *Runtime) completed(wi *store.WorkItem, err error) {
	if err != nil {
		if !errors.Is(err, store.ErrLockLost) {
			r.log.Warn("complete activity", "name", wi.Name, "err", err)
		}
		return
	}
	signal(r.wakeTurn)
}

// turnOnResult runs the turn that consumes an activity's result on the live instance of its
// orchestration, before anything is written, and commits that turn with the completion in one
// transaction (store.DirectDispatcher.CompleteActivityWithTurn): the step costs one
// transaction. It needs no turn lock: the store commits only if no lock is held and the
// history is still the one the live instance holds (ErrConflict otherwise, and nothing is
// written). It reports whether the completion is settled (committed, or the work item is
// gone); false: nothing was written, the caller completes the activity the usual way.
//
// Only a first attempt takes this path: the result is not queued before the turn runs, so
// a turn that crashed the process would leave no attempt count behind, and an activity whose
// turn keeps crashing its host must reach the poison limit through the queue.
func (r *Runtime) turnOnResult(ctx context.Context, wi *store.WorkItem, msg store.Message) bool {
	if wi.Attempts != 1 {
		return false
	}
	limit := r.policy(wi.Namespace).MaxConcurrentTurns
	if !r.nsTurns.enter(wi.Namespace, limit) {
		return false
	}
	defer r.nsTurns.leave(wi.Namespace, limit)
	e := r.live.takeSettled(wi.InstanceID, wi.Execution)
	if e == nil {
		return false
	}
	defer r.live.doneSettled(wi.InstanceID)
	eng, inst := e.eng, e.inst
	tt, ctx, endTurn := r.resultTurn(ctx, wi, e.execution, eng.History())
	defer endTurn()
	mod := inst.Module()
	ts, err := eng.BeginTurn(time.Now().UnixNano(), []history.Event{msg.Event})
	if err != nil || len(ts.Dropped) > 0 {
		// A result the engine does not take as is: let the queue path record it.
		inst.Close()
		return false
	}
	if ts.Run {
		res := inst.Run(ctx)
		if res.State == 0 {
			inst.Close()
			return false
		}
		if res.State != sandbox.Suspended {
			inst.Close()
			inst = nil
		}
	}
	c := eng.Commit()
	pinStarts(c, mod)
	committed := func() {}
	if inst != nil {
		committed = r.live.commit(wi.InstanceID)
	}
	claimed := r.claim(c, wi.Namespace)
	endCommit := tt.Measure(telemetry.PhaseCommit)
	if err := r.dispatch.CompleteActivityWithTurn(context.WithoutCancel(ctx), wi.Token, e.created, c); err != nil {
		endCommit()
		tt.CommitFailed(errors.Is(err, store.ErrLockLost))
		r.unclaim(claimed)
		if inst != nil {
			inst.Close()
		}
		committed()
		if errors.Is(err, store.ErrLockLost) {
			return true // the work item was withdrawn or deleted: its result goes nowhere
		}
		if !errors.Is(err, store.ErrConflict) {
			r.log.Warn("complete activity with turn", "name", wi.Name, "instance", wi.InstanceID, "err", err)
		}
		return false
	}
	endCommit()
	tt.Committed([]history.Event{msg.Event}, c.History)
	eng.MarkCommitted()
	if inst != nil {
		r.live.put(wi.InstanceID, e.execution, e.created, eng, inst)
	}
	// Settled before the activities it claimed start: the result of one that ends at once
	// must find the instance in the live cache, not in the middle of this turn (fanIn would
	// send it through the queue).
	r.live.doneSettled(wi.InstanceID)
	committed()
	r.afterCommit(ctx, wi.InstanceID, c, claimed)
	return true
}

// Submit enqueues msg. With a store.DirectDispatcher, while the runtime runs and a turn slot
// is free, the same transaction locks the instance's turn (EnqueueAndFetch), which then runs
// in the background: a signal does not wait for a dispatcher to notice and fetch it.
func (r *Runtime) Submit(ctx context.Context, msg store.Message) error {
	return r.submit(ctx, func(lockFor time.Duration) (*store.Turn, error) {
		if lockFor == 0 {
			return nil, r.st.Enqueue(ctx, msg)
		}
		return r.dispatch.EnqueueAndFetch(ctx, msg, lockFor, r.known)
	})
}

// Start is Submit for the start message of a new instance (store.Store.StartInstance, with
// StartOptions.LockFor when the turn may run here): store.ErrExists when the instance exists.
// With a store.EagerStarter, the first turn runs before the start is written, and both are
// written together (startEager, eager.go).
func (r *Runtime) Start(ctx context.Context, msg store.Message) error {
	r.started(ctx, msg.InstanceID)
	if settled, err := r.startEager(ctx, msg); settled {
		return err
	}
	return r.submit(ctx, func(lockFor time.Duration) (*store.Turn, error) {
		opts := store.StartOptions{MaxInstances: r.policy(msg.Namespace).MaxInstances}
		if lockFor > 0 {
			opts.LockFor, opts.Known = lockFor, r.known
		}
		return r.st.StartInstance(ctx, msg, opts)
	})
}

// submit runs put, which enqueues a message and, with a positive lock duration (only with a
// store.DirectDispatcher), may return the turn it made ready, locked; the turn then runs in
// the background.
func (r *Runtime) submit(ctx context.Context, put func(lockFor time.Duration) (*store.Turn, error)) error {
	queue := func() error { // enqueue only, for the dispatchers
		if _, err := put(0); err != nil {
			return err
		}
		r.Wake()
		return nil
	}
	drain := r.drain.Load()
	if drain == nil || r.dispatch == nil || !r.enterDirect() {
		return queue()
	}
	select {
	case r.turnSlots <- struct{}{}:
	default:
		r.direct.Done()
		return queue()
	}
	turn, err := put(r.cfg.LockTimeout)
	if err != nil || turn == nil {
		<-r.turnSlots
		r.direct.Done()
		if err == nil {
			signal(r.wakeTurn)
		}
		return err
	}
	go func() {
		defer r.direct.Done()
		defer func() { <-r.turnSlots }()
		r.processTurn(*drain, turn)
	}()
	return nil
}

// enterDirect counts a turn a caller from outside the runtime is about to run (Submit,
// Start), unless Run is stopping: Run waits for the counted ones, and an Add must not follow
// that wait. The caller calls r.direct.Done when it ends (or does not run the turn after all).
func (r *Runtime) enterDirect() bool {
	r.acceptMu.Lock()
	defer r.acceptMu.Unlock()
	if !r.accepting || r.stopping.Load() {
		return false
	}
	r.direct.Add(1)
	return true
}
