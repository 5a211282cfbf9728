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
// completions are dropped. A completion for no decision, or for one of another kind, is a
// nondeterminism failure: the caller records it with Fail. When an input ends the execution by
// itself (a cancellation, a child's infrastructure failure) the end is recorded here and Run is
// false.
func (e *Engine) BeginTurn(now int64, inputs []history.Event) (TurnStart, error) {
	var ts TurnStart
	if e.terminal {
		for _, in := range inputs {
			ts.Dropped = append(ts.Dropped, Dropped{in, "the execution has ended"})
		}
		return ts, nil
	}
	started := len(e.turns) > 0
	if !started && !slices.ContainsFunc(inputs, e.startsThis) {
		// Nothing to check a completion against: a message for an instance that does not
		// exist (yet, or any more) fails nothing, it is dropped like any other input.
		for _, in := range inputs {
			ts.Dropped = append(ts.Dropped, Dropped{in, "the instance has not started"})
		}
		return ts, nil
	}
	completed := map[int64]bool{} // completions accepted in this batch
	var accepted []history.Event
	var failErr error
	for _, in := range inputs {
		drop := func(reason string) { ts.Dropped = append(ts.Dropped, Dropped{in, reason}) }
		switch {
		case !in.Kind.IsInput():
			drop(fmt.Sprintf("%s is not an input event", in.Kind))
			continue
		case in.Execution != 0 && in.Execution != e.cfg.Execution:
			drop(fmt.Sprintf("addressed to execution %d, current is %d", in.Execution, e.cfg.Execution))
			continue
		case in.Kind == history.KindExecutionStarted:
			if started {
				drop("duplicate start")
				continue
			}
			started = true
			accepted = slices.Insert(accepted, 0, in) // the start comes first in its turn
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
		e.appendEvent(in)
		if endsByHost(&in) {
			tr.endedByHost = true
		}
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

// startsThis reports whether in is an execution_started for this execution.
func (e *Engine) startsThis(in history.Event) bool {
	return in.Kind == history.KindExecutionStarted && (in.Execution == 0 || in.Execution == e.cfg.Execution)
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

// endByHost records the end of an execution that an input of turn tr decided.
func (e *Engine) endByHost(tr turn) {
	for j := tr.start + 1; j < tr.inputsEnd; j++ {
		in := e.hist[j]
		switch {
		case in.Kind == history.KindCancelRequested:
			e.appendDecision(history.Event{Kind: history.KindExecutionCancelled, Input: in.Input})
			return
		case endsByHost(&in):
			e.appendDecision(history.Event{Kind: history.KindExecutionFailed, Failure: &abi.Failure{
				Kind:    abi.FailureInfrastructure,
				Code:    abi.CodeChildFailed,
				Message: fmt.Sprintf("sub-orchestration of event %d failed: %s", in.Ref, in.Failure.Error()),
				Details: in.Failure.Details,
			}})
			return
		}
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
	st := e.Started()
	if st == nil {
		return c
	}
	c.State = store.InstanceState{
		Name: st.Name, Version: st.Version, ModuleHash: st.ModuleHash, ParentID: st.ParentID,
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
			c.Messages = append(c.Messages, store.Message{InstanceID: ev.InstanceID, Event: start})
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
		c.Messages = append(c.Messages, store.Message{InstanceID: dec.InstanceID, Event: history.Event{
			Kind: history.KindCancelRequested, Input: []byte(reason), Time: dec.Time,
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
		c.Messages = append(c.Messages, store.Message{InstanceID: e.cfg.InstanceID, Event: next})
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
}

// IsTransient reports whether err is a condition of the engine's control flow (suspension,
// host-ended replay) rather than a failure of the execution.
func IsTransient(err error) bool {
	return errors.Is(err, ErrSuspended) || errors.Is(err, ErrEnded)
}
