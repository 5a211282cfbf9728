package replay

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// Dropped is an input BeginTurn did not record, with the reason.
type Dropped struct {
	Event  history.Event
	Reason string
}

// TurnStart tells what BeginTurn did with a turn's inputs.
type TurnStart struct {
	// Run is true when the guest must run (or resume) to make the turn's decisions.
	Run bool
	// Dropped lists inputs that were not recorded (duplicates, other executions).
	Dropped []Dropped
}

// BeginTurn appends a new turn made of the given inputs at logical time now (Unix ns; the turn
// time never goes back). Inputs addressed to another execution, duplicate starts and duplicate
// completions are dropped, and so is a cancellation sent by an orchestration that is not this
// instance's parent. A start of this instance by another parent (the instance ID it chose is
// taken) is refused: the next Commit tells that parent (ChildStartRefused). A completion for no
// decision, or for one of another kind, is a nondeterminism failure: the caller records it with
// Fail. When an input ends the execution by itself (a cancellation, the infrastructure failure
// of an activity or a child) the end is recorded here and Run is false.
func (e *Engine) BeginTurn(now int64, inputs []history.Event) (TurnStart, error) {
	var ts TurnStart
	start, first := e.Started(), -1 // the execution's start; first: its index in inputs
	if start == nil {
		first = e.pickStart(inputs)
		if first >= 0 {
			start = &inputs[first]
		}
	}
	if start == nil {
		// Nothing to check a completion against: a message for an instance that does not
		// exist (yet, or any more) fails nothing, it is dropped like any other input.
		for _, in := range inputs {
			ts.Dropped = append(ts.Dropped, Dropped{in, "the instance has not started"})
		}
		return ts, nil
	}
	if e.terminal {
		for _, in := range inputs {
			if in.Kind == history.KindExecutionStarted && e.refuse(in, start, &ts) {
				continue
			}
			ts.Dropped = append(ts.Dropped, Dropped{in, "the execution has ended"})
		}
		return ts, nil
	}
	completed := map[int64]bool{} // completions accepted in this batch
	var accepted []history.Event
	var failErr error
	for i, in := range inputs {
		drop := func(reason string) { ts.Dropped = append(ts.Dropped, Dropped{in, reason}) }
		switch {
		case !in.Kind.IsInput():
			drop(fmt.Sprintf("%s is not an input event", in.Kind))
			continue
		case in.Execution != 0 && in.Execution != e.cfg.Execution:
			drop(fmt.Sprintf("addressed to execution %d, current is %d", in.Execution, e.cfg.Execution))
			continue
		case in.Kind == history.KindExecutionStarted:
			if i == first {
				accepted = slices.Insert(accepted, 0, in) // the start comes first in its turn
			} else if !e.refuse(in, start, &ts) {
				drop("duplicate start")
			}
			continue
		case in.Kind == history.KindCancelRequested && !sentByParent(in, start):
			drop(fmt.Sprintf("cancel_requested from %s (execution %d, event %d), which is not this instance's parent",
				in.ParentID, in.ParentExecution, in.ParentRef))
			continue
		case in.Kind.IsCompletion():
			if completed[in.Ref] || e.completed[in.Ref] {
				drop(fmt.Sprintf("duplicate completion of event %d", in.Ref))
				continue
			}
			if err := e.checkCompletion(in); err != nil {
				if failErr == nil {
					failErr = err
				}
				drop(err.Error())
				continue
			}
			completed[in.Ref] = true
		}
		accepted = append(accepted, in)
	}
	if len(accepted) == 0 && failErr == nil {
		return ts, nil
	}
	t := now
	if n := len(e.turns); n > 0 {
		t = max(t, e.hist[e.turns[n-1].start].Time)
	}
	e.appendEvent(history.Event{Kind: history.KindTurnStarted, Time: t})
	tr := turn{start: len(e.hist) - 1}
	for _, in := range accepted {
		in.Execution = 0
		if e.hostEnd(&in).now() {
			tr.endedByHost = true
		}
		e.appendEvent(in)
	}
	tr.inputsEnd, tr.end = len(e.hist), len(e.hist)
	e.turns = append(e.turns, tr)
	if failErr != nil {
		return ts, failErr
	}
	if tr.endedByHost {
		e.endByHost(tr)
		return ts, nil
	}
	ts.Run = true
	return ts, nil
}

// pickStart returns the index in inputs of the start of this execution, or -1: the first
// execution_started addressed to this execution by number (continue-as-new), else the first
// addressed to the current execution (Execution 0).
func (e *Engine) pickStart(inputs []history.Event) int {
	first := -1
	for i, in := range inputs {
		if in.Kind != history.KindExecutionStarted {
			continue
		}
		if in.Execution == e.cfg.Execution {
			return i
		}
		if in.Execution == 0 && first < 0 {
			first = i
		}
	}
	return first
}

// sameParent reports whether two starts come from the same decision of the same parent (or
// both have none): a start delivered twice, as opposed to a second start of the instance ID.
func sameParent(a, b *history.Event) bool {
	return a.ParentID == b.ParentID && a.ParentExecution == b.ParentExecution && a.ParentRef == b.ParentRef
}

// refuse answers a start of this instance other than its own (in; start is the execution's)
// that comes from a parent: the parent is told DH-CHILD-002 by the next Commit, and the start
// is reported dropped. It returns false, doing nothing, for a duplicate of the execution's own
// start and for a start without a parent (a detached start has nobody to tell).
func (e *Engine) refuse(in history.Event, start *history.Event, ts *TurnStart) bool {
	if sameParent(&in, start) {
		return false
	}
	m := ChildStartRefused(in, e.cfg.InstanceID)
	if m == nil {
		return false
	}
	e.refused = append(e.refused, *m)
	ts.Dropped = append(ts.Dropped, Dropped{in, fmt.Sprintf(
		"instance %s exists: the start by %s (execution %d, event %d) is refused with %s",
		e.cfg.InstanceID, in.ParentID, in.ParentExecution, in.ParentRef, abi.CodeInstanceExists)})
	return true
}

// ChildStartRefused returns the message that answers start, an execution_started a parent
// sent to instanceID, when an instance instanceID already exists (running or finished): a
// sub_orchestration_failed for the parent's decision (Ref ParentRef, Execution
// ParentExecution) with the application failure DH-CHILD-002, which the parent's code may
// catch. It returns nil for a start without a parent (a client's or a detached start), which
// has nobody to tell. The engine sends it for the instances it runs; the runtime sends it for a
// finished instance, whose engine it does not run.
func ChildStartRefused(start history.Event, instanceID string) *store.Message {
	if start.Kind != history.KindExecutionStarted || start.ParentID == "" {
		return nil
	}
	return &store.Message{InstanceID: start.ParentID, Event: history.Event{
		Kind: history.KindSubOrchestrationFailed, Ref: start.ParentRef, Execution: start.ParentExecution, Time: start.Time,
		Failure: &abi.Failure{
			Kind: abi.FailureApplication, Code: abi.CodeInstanceExists,
			Message: fmt.Sprintf("sub-orchestration %q: instance %q already exists", start.Name, instanceID),
		},
	}}
}

// sentByParent reports whether a cancellation may stop the execution started by start: a
// client's (no ParentID), or one its parent sent. A parent names itself in ParentID and, when
// set, the execution and decision that started the child in ParentExecution and ParentRef, so
// that a parent can never cancel an instance it did not start (an instance whose ID it chose
// for a child whose start was refused).
func sentByParent(in history.Event, start *history.Event) bool {
	if in.ParentID == "" {
		return true
	}
	return in.ParentID == start.ParentID &&
		(in.ParentExecution == 0 || in.ParentExecution == start.ParentExecution) &&
		(in.ParentRef == 0 || in.ParentRef == start.ParentRef)
}

func (e *Engine) appendEvent(ev history.Event) {
	ev.ID = int64(len(e.hist) + 1)
	e.hist = append(e.hist, ev)
	e.track(len(e.hist) - 1)
}

// checkCompletion verifies that a completion refers to a decision of the matching kind.
func (e *Engine) checkCompletion(in history.Event) error {
	got := in
	if in.Ref < 1 || in.Ref > int64(len(e.hist)) || !e.hist[in.Ref-1].Kind.IsDecision() {
		return &NondeterminismError{Code: abi.CodeUnknownCompletion, Index: in.Ref, Got: &got}
	}
	rec := e.hist[in.Ref-1]
	want := map[history.Kind]history.Kind{
		history.KindActivityCompleted:         history.KindActivityScheduled,
		history.KindActivityFailed:            history.KindActivityScheduled,
		history.KindTimerFired:                history.KindTimerCreated,
		history.KindSubOrchestrationCompleted: history.KindSubOrchestrationScheduled,
		history.KindSubOrchestrationFailed:    history.KindSubOrchestrationScheduled,
	}[in.Kind]
	if rec.Kind != want {
		return &NondeterminismError{Code: abi.CodeWrongCompletionKind, Index: rec.ID, Recorded: &rec, Got: &got}
	}
	return nil
}

// endByHost records the end of an execution that an input of turn tr decided: the first
// input of the turn that ends it.
func (e *Engine) endByHost(tr turn) {
	for j := tr.start + 1; j < tr.inputsEnd; j++ {
		in := e.hist[j]
		if !e.hostEnd(&in).now() {
			continue
		}
		switch in.Kind {
		case history.KindCancelRequested:
			e.appendDecision(history.Event{Kind: history.KindExecutionCancelled, Input: in.Input})
		case history.KindSubOrchestrationFailed:
			e.appendDecision(history.Event{Kind: history.KindExecutionFailed, Failure: &abi.Failure{
				Kind:    abi.FailureInfrastructure,
				Code:    abi.CodeChildFailed,
				Message: fmt.Sprintf("sub-orchestration of event %d failed: %s", in.Ref, in.Failure.Error()),
				Details: in.Failure.Details,
			}})
		case history.KindActivityFailed:
			// The root cause stays visible: the activity's own code and details, and a
			// message naming the activity and the decision that scheduled it.
			e.appendDecision(history.Event{Kind: history.KindExecutionFailed, Failure: &abi.Failure{
				Kind:    abi.FailureInfrastructure,
				Code:    in.Failure.Code,
				Message: fmt.Sprintf("activity %q (event %d) failed: %s", e.hist[in.Ref-1].Name, in.Ref, in.Failure.Message),
				Details: in.Failure.Details,
			}})
		}
		return
	}
}

// appendDecision records a decision the host makes on the guest's behalf at the live edge, at
// the turn's logical time. Not Now(): the time the guest slept is not a function of history
// here (a cold engine has replayed nothing when BeginTurn ends the execution, a live one has
// replayed everything), and Fail discards the guest's decisions of the turn anyway.
func (e *Engine) appendDecision(ev history.Event) {
	ev.Time = e.lastTurnTime()
	e.appendEvent(ev)
	e.turns[len(e.turns)-1].end = len(e.hist)
	if ev.Kind.IsTerminal() {
		e.terminal = true
	}
}

func (e *Engine) lastTurnTime() int64 {
	if n := len(e.turns); n > 0 {
		return e.hist[e.turns[n-1].start].Time
	}
	return 0
}

// Fail ends the execution with an infrastructure failure caused by err (a trap, an ABI misuse,
// nondeterminism, a limit). The decisions the guest made in the live turn are discarded: only
// the turn's inputs and the failure are recorded.
func (e *Engine) Fail(err error) {
	if e.terminal && e.recorded == len(e.hist) {
		return
	}
	if n := len(e.turns); n > e.live {
		t := &e.turns[e.live]
		e.hist = e.hist[:t.inputsEnd]
		e.turns = e.turns[:e.live+1]
		t.end = t.inputsEnd
	} else if len(e.hist) > e.recorded {
		e.hist = e.hist[:e.recorded]
	}
	e.retrack()
	e.terminal = e.endIdx >= 0
	e.outcome = nil
	if len(e.turns) == 0 {
		return
	}
	e.appendDecision(history.Event{Kind: history.KindExecutionFailed, Failure: AsFailure(err)})
	e.outcome = &e.hist[len(e.hist)-1]
}

// Pending returns the decisions of the execution whose futures are still open (scheduled, not
// completed, not cancelled): what must be withdrawn when the execution ends.
func (e *Engine) Pending() []history.Event {
	closed := map[int64]bool{}
	for _, ev := range e.hist {
		if ev.Kind.IsCompletion() || ev.Kind == history.KindFutureCancelled {
			closed[ev.Ref] = true
		}
	}
	var out []history.Event
	for _, ev := range e.hist {
		switch ev.Kind {
		case history.KindActivityScheduled, history.KindTimerCreated, history.KindSubOrchestrationScheduled:
			if !closed[ev.ID] {
				out = append(out, ev)
			}
		}
	}
	return out
}

// Commit returns what the turn changes, as a store commit (the caller adds the consumed
// messages): the new events since the last MarkCommitted, the actions they imply, and the
// instance's new state. Everything is derived from history.
func (e *Engine) Commit() *store.Commit {
	c := &store.Commit{Execution: e.cfg.Execution, History: slices.Clone(e.hist[e.recorded:])}
	c.Messages = slices.Clone(e.refused)
	st := e.Started()
	if st == nil {
		return c
	}
	c.State = store.InstanceState{
		Namespace: e.cfg.Namespace, Name: st.Name, Version: st.Version, ModuleHash: st.ModuleHash, ParentID: st.ParentID,
		Status: store.StatusRunning, CustomStatus: st.CustomStatus,
	}
	if e.lastStatus >= 0 {
		ev := e.hist[e.lastStatus]
		c.State.CustomStatus = ev.Result
		if ev.Cleared {
			c.State.CustomStatus = nil
		} else if ev.Result == nil {
			c.State.CustomStatus = []byte{}
		}
	}
	if e.endIdx >= 0 {
		setEndState(&c.State, e.hist[e.endIdx])
	}
	self := e.cfg.InstanceID
	for _, ev := range c.History {
		switch ev.Kind {
		case history.KindActivityScheduled:
			c.Activities = append(c.Activities, store.WorkItem{
				ActivityRef: store.ActivityRef{InstanceID: self, Execution: e.cfg.Execution, EventID: ev.ID},
				Name:        ev.Name, Input: ev.Input,
			})
		case history.KindTimerCreated:
			c.Messages = append(c.Messages, store.Message{
				InstanceID: self, VisibleAt: time.Unix(0, ev.FireAt),
				Event: history.Event{Kind: history.KindTimerFired, Ref: ev.ID, FireAt: ev.FireAt, Time: ev.FireAt, Execution: e.cfg.Execution},
			})
		case history.KindSubOrchestrationScheduled, history.KindOrchestrationStarted:
			start := history.Event{Kind: history.KindExecutionStarted, Name: ev.Name, Version: ev.Version, Input: ev.Input, Time: ev.Time}
			if ev.Kind == history.KindSubOrchestrationScheduled {
				start.ParentID, start.ParentExecution, start.ParentRef = self, e.cfg.Execution, ev.ID
			}
			c.Messages = append(c.Messages, store.Message{InstanceID: ev.InstanceID, Namespace: e.cfg.Namespace, Event: start})
		case history.KindFutureCancelled:
			e.withdraw(c, e.hist[ev.Ref-1], "dropped by the orchestration")
		case history.KindExecutionCompleted, history.KindExecutionFailed, history.KindExecutionCancelled, history.KindExecutionContinuedAsNew:
			e.end(c, st, ev)
		}
	}
	return c
}

// withdraw stops the work of an open decision: an activity's work item is deleted, a child
// is cancelled. Timers and subscriptions need nothing: their completions are ignored.
func (e *Engine) withdraw(c *store.Commit, dec history.Event, reason string) {
	switch dec.Kind {
	case history.KindActivityScheduled:
		c.CancelledActivities = append(c.CancelledActivities, store.ActivityRef{InstanceID: e.cfg.InstanceID, Execution: e.cfg.Execution, EventID: dec.ID})
	case history.KindSubOrchestrationScheduled:
		// The parent names itself and the decision that started the child: the instance
		// drops the request unless it is that child (see sentByParent).
		c.Messages = append(c.Messages, store.Message{InstanceID: dec.InstanceID, Event: history.Event{
			Kind: history.KindCancelRequested, Input: []byte(reason), Time: dec.Time,
			ParentID: e.cfg.InstanceID, ParentExecution: e.cfg.Execution, ParentRef: dec.ID,
		}})
	}
}

// end fills the commit for an execution's end event.
func (e *Engine) end(c *store.Commit, st *history.Event, ev history.Event) {
	for _, p := range e.Pending() {
		e.withdraw(c, p, "the parent orchestration ended")
	}
	var toParent *history.Event
	switch ev.Kind {
	case history.KindExecutionCompleted:
		toParent = &history.Event{Kind: history.KindSubOrchestrationCompleted, Result: ev.Result}
	case history.KindExecutionFailed, history.KindExecutionCancelled:
		toParent = &history.Event{Kind: history.KindSubOrchestrationFailed, Failure: c.State.Failure}
	case history.KindExecutionContinuedAsNew:
		c.ContinueAsNew = true
		next := history.Event{
			Kind: history.KindExecutionStarted, Name: st.Name, Version: st.Version, Input: ev.Input, Time: ev.Time,
			ParentID: st.ParentID, ParentExecution: st.ParentExecution, ParentRef: st.ParentRef,
			CustomStatus: c.State.CustomStatus, Execution: e.cfg.Execution + 1,
		}
		if ev.Version != "" && ev.Version != st.Version {
			next.Version = ev.Version
		} else {
			next.ModuleHash = st.ModuleHash
		}
		for _, it := range e.carried() {
			next.Carried = append(next.Carried, history.Item{Name: it.name, Data: it.data, Time: it.time})
		}
		c.Messages = append(c.Messages, store.Message{InstanceID: e.cfg.InstanceID, Namespace: e.cfg.Namespace, Event: next})
	}
	if toParent != nil && st.ParentID != "" {
		toParent.Ref, toParent.Execution, toParent.Time = st.ParentRef, st.ParentExecution, ev.Time
		c.Messages = append(c.Messages, store.Message{InstanceID: st.ParentID, Event: *toParent})
	}
}

// setEndState sets the instance state an end event implies.
func setEndState(st *store.InstanceState, ev history.Event) {
	switch ev.Kind {
	case history.KindExecutionCompleted:
		st.Status, st.Output = store.StatusCompleted, ev.Result
	case history.KindExecutionFailed:
		st.Status, st.Failure = store.StatusFailed, ev.Failure
	case history.KindExecutionCancelled:
		st.Status = store.StatusCancelled
		st.Failure = &abi.Failure{Kind: abi.FailureCancelled, Message: "cancelled: " + string(ev.Input)}
	case history.KindExecutionContinuedAsNew:
		st.Status = store.StatusRunning
	}
}

// carried returns the queue messages the execution did not consume. A continue-as-new is
// always decided by the guest in the live turn, so the guest's queue state is current.
func (e *Engine) carried() []item { return e.unconsumed() }

// MarkCommitted records that everything in History is now durable: the next BeginTurn starts
// a turn that is live, and Commit reports only what comes after.
func (e *Engine) MarkCommitted() {
	e.recorded = len(e.hist)
	e.live = len(e.turns)
	e.refused = nil
}

// IsTransient reports whether err is a condition of the engine's control flow (suspension,
// host-ended replay) rather than a failure of the execution.
func IsTransient(err error) bool {
	return errors.Is(err, ErrSuspended) || errors.Is(err, ErrEnded)
}
