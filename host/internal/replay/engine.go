// Package replay is the deterministic heart of the host: it turns an execution's history plus
// new messages into new history events and the actions they imply, by answering a guest's ABI
// calls (schedule, await, result, cancel, set_status, complete) from history.
//
// The engine knows nothing of WebAssembly: the sandbox calls its methods from the host
// functions. The same Engine value serves a cold replay (a fresh guest replays the whole
// history, then reaches the new turn) and a live instance kept across turns (the guest stays
// parked in Await; BeginTurn appends the next turn and Await carries on). Both produce the
// same history because every answer is a function of history alone.
//
// History layout (see abi/ABI.md, "Await and suspension"): each turn is a turn_started event,
// then the turn's inputs, then the decisions the guest made during the turn.
package replay

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// Config identifies the execution and sets its limits.
type Config struct {
	InstanceID string
	Execution  uint32
	// Namespace is the namespace the instance belongs to ("": the default one). The explicit
	// instance IDs the orchestration chooses for children and detached orchestrations are
	// scoped to it (see scoped), and the commit's state and start messages carry it; the
	// instance ID itself is never parsed for a namespace.
	Namespace string
	// MaxPayload bounds one payload crossing the ABI (0: DefaultMaxPayload). Negative is an
	// error.
	MaxPayload int
	// MaxEvents bounds the execution's history (0: DefaultMaxEvents): a decision whose event
	// ID would exceed it fails with DH-LIMIT-004, live or on replay. Negative is an error.
	MaxEvents int
}

// Defaults for Config.
const (
	DefaultMaxPayload = 4 << 20
	DefaultMaxEvents  = 100000
)

// turn is a span of history: [start] is turn_started, inputs are [start+1, inputsEnd),
// decisions [inputsEnd, end).
type turn struct {
	start, inputsEnd, end int
	// endedByHost: the turn holds an input after which the host ended the execution itself.
	endedByHost bool
	// activityEnd and droppedChildEnd: the turn holds an input of that hostEndKind; when a
	// recorded history is indexed, whether the host ended the turn depends on its decisions.
	activityEnd, droppedChildEnd bool
}

// hostEndKind says whether an input ends the execution without running the guest.
type hostEndKind uint8

const (
	// endNone: the guest runs on the input.
	endNone hostEndKind = iota
	// endAlways: a cancellation, or the infrastructure failure of a child the execution
	// still waits for.
	endAlways
	// endActivity: the infrastructure failure of an activity the execution still waits for.
	// The host ends the execution on it; in histories recorded before that rule the guest
	// may have gone on, which index recognises by the turn's decisions.
	endActivity
	// endDroppedChild: the infrastructure failure of a child whose future the orchestration
	// cancelled. The guest runs on it (the failure is ignored like any late completion); in
	// histories recorded before that rule the host ended the execution with DH-CHILD-001,
	// which index recognises by the turn's decisions.
	endDroppedChild
)

// now reports whether the host ends the execution when an input of kind k arrives.
func (k hostEndKind) now() bool { return k == endAlways || k == endActivity }

type futureState uint8

const (
	pending futureState = iota
	ready
	released
)

type future struct {
	id    int64
	kind  abi.CommandKind
	name  string
	state futureState
	// doneAt is the history index of the completion (orders wait-for-any answers).
	doneAt     int
	completion abi.Completion
	// bound is the queue or event item given to a subscription and not yet read.
	bound *item
}

// Engine runs one execution. It is not safe for concurrent use: one guest drives it.
type Engine struct {
	cfg   Config
	hist  []history.Event
	turns []turn
	// live is the index of the first turn that history did not record before this engine
	// (or the last Commit) saw it; turns before it are replayed.
	live int
	// recorded is the number of events already durable.
	recorded int
	cur      int   // turn being executed, -1 before Start
	pos      int   // next recorded decision to match in the current turn
	turnTime int64 // base of logical time in the current turn
	slept    int64 // time slept in the current turn

	// Derived from history incrementally (track), so a turn costs no scan of the history.
	completed  map[int64]bool // decisions that have a completion
	openActs   map[int64]bool // activities scheduled and neither completed nor cancelled
	dropped    map[int64]bool // decisions whose futures the orchestration cancelled
	lastStatus int            // index of the last custom_status_set, -1 if none
	endIdx     int            // index of the end event, -1 if none

	// refused holds the answers to the starts of this instance by other parents that
	// BeginTurn refused since the last MarkCommitted (see ChildStartRefused); Commit sends
	// them. They are not history: the refused start is not this instance's input.
	refused []store.Message

	started  *history.Event
	futures  map[int64]*future
	events   map[string]*channel
	queues   map[string]*channel
	status   []byte
	outcome  *history.Event
	terminal bool // an end event is in hist
}

// New loads an execution's recorded history. The history must be empty (a new instance) or
// start with a turn whose first input is execution_started.
func New(cfg Config, recorded []history.Event) (*Engine, error) {
	if cfg.MaxPayload < 0 || cfg.MaxEvents < 0 {
		return nil, fmt.Errorf("%w: negative limit (MaxPayload %d, MaxEvents %d)", ErrConfig, cfg.MaxPayload, cfg.MaxEvents)
	}
	if cfg.MaxPayload == 0 {
		cfg.MaxPayload = DefaultMaxPayload
	}
	if cfg.MaxEvents == 0 {
		cfg.MaxEvents = DefaultMaxEvents
	}
	e := &Engine{
		cfg:     cfg,
		hist:    slices.Clone(recorded),
		cur:     -1,
		futures: map[int64]*future{},
		events:  map[string]*channel{},
		queues:  map[string]*channel{},
	}
	e.resetTracking()
	if err := e.index(); err != nil {
		return nil, err
	}
	e.live = len(e.turns)
	e.recorded = len(e.hist)
	return e, nil
}

// index splits hist into turns and checks its shape.
func (e *Engine) index() error {
	e.turns = e.turns[:0]
	for i := range e.hist {
		ev := &e.hist[i]
		if ev.ID != int64(i+1) {
			return fmt.Errorf("%w: event at position %d has ID %d", ErrCorruptHistory, i+1, ev.ID)
		}
		switch {
		case ev.Kind == history.KindTurnStarted:
			if n := len(e.turns); n > 0 {
				e.turns[n-1].end = i
			}
			e.turns = append(e.turns, turn{start: i, inputsEnd: i + 1, end: i + 1})
		case len(e.turns) == 0:
			return fmt.Errorf("%w: history does not start with turn_started", ErrCorruptHistory)
		case ev.Kind.IsInput():
			t := &e.turns[len(e.turns)-1]
			if t.inputsEnd != i {
				return fmt.Errorf("%w: input event %d (%s) after a decision in its turn", ErrCorruptHistory, ev.ID, ev.Kind)
			}
			t.inputsEnd = i + 1
			switch e.hostEnd(ev) {
			case endAlways:
				t.endedByHost = true
			case endActivity:
				t.activityEnd = true
			case endDroppedChild:
				t.droppedChildEnd = true
			}
		case ev.Kind.IsDecision():
			if ev.Kind.IsTerminal() {
				e.terminal = true
			}
		default:
			return fmt.Errorf("%w: event %d has kind %s", ErrCorruptHistory, ev.ID, ev.Kind)
		}
		if n := len(e.turns); n > 0 {
			e.turns[n-1].end = i + 1
		}
		e.track(i)
	}
	if len(e.turns) > 0 {
		t := e.turns[0]
		if t.inputsEnd == t.start+1 || e.hist[t.start+1].Kind != history.KindExecutionStarted {
			return fmt.Errorf("%w: first turn does not start the execution", ErrCorruptHistory)
		}
	}
	// Turns recorded under earlier rules replay as they ran. An activity's infrastructure
	// failure ended the turn when the turn's only decision is the end, which is what the
	// host records; before, the guest received the failure and may have gone on. A dropped
	// child's infrastructure failure ended it when the only decision is the host's
	// DH-CHILD-001 (a code no guest may report); now the guest goes on.
	for k := range e.turns {
		t := &e.turns[k]
		if t.endedByHost || t.end != t.inputsEnd+1 {
			continue
		}
		last := &e.hist[t.inputsEnd]
		t.endedByHost = t.activityEnd && last.Kind.IsTerminal() ||
			t.droppedChildEnd && last.Kind == history.KindExecutionFailed && last.Failure != nil && last.Failure.Code == abi.CodeChildFailed
	}
	return nil
}

// hostEnd says whether the host ends the execution when this input arrives, without running
// the guest: a cancellation, or the infrastructure failure of an activity or a child whose
// future the orchestration has not cancelled (infrastructure failures never reach user code;
// a dropped future's late failure is recorded and ignored like any other completion). It
// depends on the decisions of earlier turns only, so it gives the same answer before and after
// the input is tracked.
func (e *Engine) hostEnd(ev *history.Event) hostEndKind {
	infra := ev.Failure != nil && ev.Failure.Kind == abi.FailureInfrastructure
	dropped := e.dropped[ev.Ref]
	switch {
	case ev.Kind == history.KindCancelRequested:
		return endAlways
	case ev.Kind == history.KindSubOrchestrationFailed && infra && dropped:
		return endDroppedChild
	case ev.Kind == history.KindSubOrchestrationFailed && infra:
		return endAlways
	case ev.Kind == history.KindActivityFailed && infra && !dropped:
		return endActivity
	}
	return endNone
}

// History returns every event of the execution, recorded and new.
func (e *Engine) History() []history.Event { return e.hist }

// Ended reports whether the execution has ended (an end event is in history).
func (e *Engine) Ended() bool { return e.terminal }

// Started returns the execution_started event (nil before the first turn).
func (e *Engine) Started() *history.Event {
	if len(e.turns) == 0 {
		return nil
	}
	return &e.hist[e.turns[0].start+1]
}

// Start positions the engine at the first turn, before the guest runs. It fails when there
// is no turn.
func (e *Engine) Start() error {
	if len(e.turns) == 0 {
		return fmt.Errorf("%w: no turn to run", ErrCorruptHistory)
	}
	if e.cur >= 0 {
		return nil
	}
	return e.enter(0)
}

// StartInfo returns what the guest needs to run (valid after Start).
func (e *Engine) StartInfo() abi.StartInfo {
	s := e.started
	return abi.StartInfo{
		Mode:         abi.ModeRun,
		Name:         s.Name,
		Version:      s.Version,
		InstanceID:   e.cfg.InstanceID,
		ExecutionID:  e.cfg.Execution,
		Input:        s.Input,
		ParentID:     s.ParentID,
		CustomStatus: s.CustomStatus,
		StartTime:    e.hist[e.turns[0].start].Time,
	}
}

// Now returns the logical time in Unix nanoseconds: the later of the current turn's time and
// the logical time at the end of the previous turn, plus the time slept in this turn. It never
// goes back, and a sleep is counted once.
func (e *Engine) Now() int64 { return e.turnTime + e.slept }

// StartTime returns the execution's logical start time (0 before Start).
func (e *Engine) StartTime() int64 {
	if len(e.turns) == 0 {
		return 0
	}
	return e.hist[e.turns[0].start].Time
}

// Sleep advances logical time (WASI nanosleep). Time saturates at the largest int64 rather
// than wrap to the past.
func (e *Engine) Sleep(ns int64) {
	if ns <= 0 {
		return
	}
	if now := e.Now(); now > 0 && ns > math.MaxInt64-now {
		ns = math.MaxInt64 - now
	}
	e.slept += ns
}

// IsReplaying reports whether the guest is executing a turn that history already recorded.
func (e *Engine) IsReplaying() bool { return e.cur < e.live }

// enter makes turn i current and delivers its inputs.
func (e *Engine) enter(i int) error {
	t := e.turns[i]
	base := e.hist[t.start].Time
	if e.cur >= 0 {
		base = max(base, e.Now())
	}
	e.cur = i
	e.turnTime, e.slept = base, 0
	e.pos = t.inputsEnd
	for j := t.start + 1; j < t.inputsEnd; j++ {
		e.deliver(j)
	}
	if t.endedByHost && i < e.live {
		return ErrEnded
	}
	return nil
}

// deliver applies the input at history index j.
func (e *Engine) deliver(j int) {
	ev := &e.hist[j]
	switch ev.Kind {
	case history.KindExecutionStarted:
		e.started = ev
		e.status = ev.CustomStatus
		for k, it := range ev.Carried {
			e.channel(e.queues, it.Name).deliver(e, item{idx: j, sub: k, name: it.Name, data: it.Data, time: it.Time})
		}
	case history.KindActivityCompleted, history.KindSubOrchestrationCompleted, history.KindTimerFired:
		e.resolve(ev.Ref, j, abi.Completion{Result: ev.Result})
	case history.KindActivityFailed, history.KindSubOrchestrationFailed:
		e.resolve(ev.Ref, j, abi.Completion{Failure: ev.Failure})
	case history.KindEventRaised:
		e.channel(e.events, ev.Name).deliver(e, item{idx: j, name: ev.Name, data: ev.Input, time: ev.Time})
	case history.KindQueueMessage:
		e.channel(e.queues, ev.Name).deliver(e, item{idx: j, name: ev.Name, data: ev.Input, time: ev.Time})
	}
}

func (e *Engine) resolve(ref int64, at int, c abi.Completion) {
	f, ok := e.futures[ref]
	if !ok || f.state != pending {
		return // cancelled or released: the completion is recorded and ignored
	}
	f.state, f.doneAt, f.completion = ready, at, c
}

// advance moves to the next turn, or reports that the guest must suspend.
func (e *Engine) advance() error {
	if e.cur < e.live {
		if t := e.turns[e.cur]; e.pos < t.end {
			rec := e.hist[e.pos]
			return &NondeterminismError{Code: abi.CodeMissingCommand, Index: rec.ID, Recorded: &rec}
		}
	}
	if e.cur+1 >= len(e.turns) {
		return ErrSuspended
	}
	return e.enter(e.cur + 1)
}

// decide matches a decision against history (replay) or records it (live) and returns its ID.
func (e *Engine) decide(ev history.Event) (int64, error) {
	ev.Time = e.Now()
	if e.cur < e.live {
		t := e.turns[e.cur]
		if e.pos >= t.end {
			got := ev
			return 0, &NondeterminismError{Code: abi.CodeExtraCommand, Index: int64(t.end + 1), Got: &got}
		}
		if err := e.checkEventLimit(e.pos); err != nil {
			return 0, err
		}
		rec := e.hist[e.pos]
		ev.ID = rec.ID
		deriveID(&ev, e.cfg)
		if !matches(&rec, &ev) {
			code := abi.CodeCommandMismatch
			if rec.Kind.IsTerminal() || ev.Kind.IsTerminal() {
				code = abi.CodeOutcomeMismatch
			}
			return 0, &NondeterminismError{Code: code, Index: rec.ID, Recorded: &rec, Got: &ev}
		}
		e.pos++
		return rec.ID, nil
	}
	if err := e.checkEventLimit(len(e.hist)); err != nil {
		return 0, err
	}
	ev.ID = int64(len(e.hist) + 1)
	deriveID(&ev, e.cfg)
	e.hist = append(e.hist, ev)
	e.track(len(e.hist) - 1)
	e.turns[len(e.turns)-1].end = len(e.hist)
	e.pos = len(e.hist)
	if ev.Kind.IsTerminal() {
		e.terminal = true
	}
	return ev.ID, nil
}

// checkEventLimit refuses a decision at history index i (event ID i+1) beyond MaxEvents. The
// check depends on the position alone, so replay refuses the same decision the live run did.
func (e *Engine) checkEventLimit(i int) error {
	if i >= e.cfg.MaxEvents {
		return failure(abi.CodeHistoryTooLong, "history reached its limit of %d events", e.cfg.MaxEvents)
	}
	return nil
}

// deriveID gives a child or detached orchestration without an explicit ID its derived one.
func deriveID(ev *history.Event, cfg Config) {
	if (ev.Kind == history.KindSubOrchestrationScheduled || ev.Kind == history.KindOrchestrationStarted) && ev.InstanceID == "" {
		ev.InstanceID = fmt.Sprintf("%s:%d:%d", cfg.InstanceID, cfg.Execution, ev.ID)
	}
}

// matches compares the identifying fields of a recorded decision and a new one.
func matches(rec, ev *history.Event) bool {
	if rec.Kind != ev.Kind || rec.Name != ev.Name || rec.Version != ev.Version ||
		rec.InstanceID != ev.InstanceID || rec.Ref != ev.Ref || rec.FireAt != ev.FireAt ||
		rec.Cleared != ev.Cleared || !bytes.Equal(rec.Input, ev.Input) || !bytes.Equal(rec.Result, ev.Result) {
		return false
	}
	if (rec.Failure == nil) != (ev.Failure == nil) {
		return false
	}
	if rec.Failure != nil {
		a, b := rec.Failure, ev.Failure
		return a.Kind == b.Kind && a.Code == b.Code && a.Message == b.Message && bytes.Equal(a.Details, b.Details)
	}
	return true
}

// Schedule records a command (abi schedule) and returns its handle.
func (e *Engine) Schedule(cmd abi.Command) (int64, error) {
	if e.outcome != nil {
		return 0, failure(abi.CodeAfterComplete, "schedule called after complete")
	}
	if len(cmd.Input) > e.cfg.MaxPayload {
		return 0, failure(abi.CodePayloadTooLarge, "%s %q input is %d bytes, more than the limit of %d", cmd.Kind, cmd.Name, len(cmd.Input), e.cfg.MaxPayload)
	}
	ev := history.Event{Name: cmd.Name, Input: cmd.Input}
	switch cmd.Kind {
	case abi.CommandActivity:
		ev.Kind = history.KindActivityScheduled
	case abi.CommandTimer:
		if cmd.Delay < 0 {
			return 0, failure(abi.CodeBadArgument, "timer delay %d is negative", cmd.Delay)
		}
		now := e.Now()
		if now > 0 && cmd.Delay > math.MaxInt64-now {
			return 0, failure(abi.CodeBadArgument, "timer delay %d from logical time %d overflows the time range", cmd.Delay, now)
		}
		ev.Kind, ev.FireAt = history.KindTimerCreated, now+cmd.Delay
	case abi.CommandWaitEvent:
		ev.Kind = history.KindEventSubscribed
	case abi.CommandDequeue:
		ev.Kind = history.KindQueueSubscribed
	case abi.CommandSubOrchestration, abi.CommandStartOrchestration:
		ev.Kind = history.KindSubOrchestrationScheduled
		if cmd.Kind == abi.CommandStartOrchestration {
			ev.Kind = history.KindOrchestrationStarted
		}
		ev.Version = cmd.Version
		if cmd.InstanceID != "" {
			if err := abi.CheckName(cmd.InstanceID); err != nil {
				return 0, failure(abi.CodeBadArgument, "%s: instance ID %s %v", cmd.Kind, preview([]byte(cmd.InstanceID)), err)
			}
			ev.InstanceID = scoped(e.cfg.Namespace, cmd.InstanceID)
			if err := abi.CheckName(ev.InstanceID); err != nil {
				return 0, failure(abi.CodeBadArgument, "%s: instance ID %s in namespace %q %v", cmd.Kind, preview([]byte(cmd.InstanceID)), e.cfg.Namespace, err)
			}
		}
		if ev.InstanceID == e.cfg.InstanceID {
			return 0, failure(abi.CodeBadArgument, "%s: instance ID %q is the orchestration's own", cmd.Kind, cmd.InstanceID)
		}
	default:
		return 0, failure(abi.CodeBadMessage, "unknown command kind %d", cmd.Kind)
	}
	if cmd.Kind != abi.CommandTimer {
		if cmd.Name == "" {
			return 0, failure(abi.CodeBadArgument, "%s command without a name", cmd.Kind)
		}
		if err := abi.CheckName(cmd.Name); err != nil {
			return 0, failure(abi.CodeBadArgument, "%s name %s %v", cmd.Kind, preview([]byte(cmd.Name)), err)
		}
	}
	if cmd.Kind == abi.CommandTimer && (cmd.Name != "" || len(cmd.Input) > 0) {
		return 0, failure(abi.CodeBadArgument, "timer command with a name or input")
	}
	id, err := e.decide(ev)
	if err != nil {
		return 0, err
	}
	if derived := e.hist[id-1].InstanceID; cmd.InstanceID == "" && derived != "" {
		if err := abi.CheckName(derived); err != nil {
			return 0, failure(abi.CodeBadArgument, "%s: the derived instance ID %s %v (give the orchestration an explicit instance ID)", cmd.Kind, preview([]byte(derived)), err)
		}
	}
	f := &future{id: id, kind: cmd.Kind, name: cmd.Name}
	e.futures[id] = f
	switch cmd.Kind {
	case abi.CommandWaitEvent:
		e.channel(e.events, cmd.Name).subscribe(e, f)
	case abi.CommandDequeue:
		e.channel(e.queues, cmd.Name).subscribe(e, f)
	case abi.CommandStartOrchestration:
		f.state, f.doneAt = ready, int(id-1)
		f.completion.Result = []byte(e.hist[id-1].InstanceID)
	}
	return id, nil
}

func (e *Engine) future(h int64) (*future, error) {
	f, ok := e.futures[h]
	if !ok || f.state == released {
		return nil, failure(abi.CodeUnknownHandle, "handle %d names no live future", h)
	}
	return f, nil
}

// Await blocks (from the guest's point of view) until one of the handles' futures is complete
// and returns its index in handles: among complete ones, the one completed first in history.
// It returns ErrSuspended when the turn must end, ErrEnded when replay reached an end decided
// by the host, or a failure.
func (e *Engine) Await(handles []int64) (int, error) {
	if e.outcome != nil {
		return 0, failure(abi.CodeAfterComplete, "await called after complete")
	}
	if len(handles) == 0 || len(handles) > abi.MaxAwaitHandles {
		return 0, failure(abi.CodeBadArgument, "await of %d handles (must be 1 to %d)", len(handles), abi.MaxAwaitHandles)
	}
	fs := make([]*future, len(handles))
	for i, h := range handles {
		f, err := e.future(h)
		if err != nil {
			return 0, err
		}
		fs[i] = f
	}
	for {
		best := -1
		for i, f := range fs {
			if f.state == ready && (best < 0 || f.doneAt < fs[best].doneAt) {
				best = i
			}
		}
		if best >= 0 {
			return best, nil
		}
		if err := e.advance(); err != nil {
			return 0, err
		}
	}
}

// Result returns the completion of a complete future and releases its handle. ok is false
// (and nothing is released) when the future is not complete.
func (e *Engine) Result(h int64) (c abi.Completion, ok bool, err error) {
	if e.outcome != nil {
		return c, false, failure(abi.CodeAfterComplete, "result called after complete")
	}
	f, err := e.future(h)
	if err != nil {
		return c, false, err
	}
	if f.state != ready {
		return c, false, nil
	}
	return f.completion, true, nil
}

// Release frees a handle whose result was read.
func (e *Engine) Release(h int64) {
	if f, ok := e.futures[h]; ok {
		f.state, f.bound = released, nil
		delete(e.futures, h)
	}
}

// Cancel drops a future: a pending one is recorded as future_cancelled and its work stopped.
func (e *Engine) Cancel(h int64) error {
	if e.outcome != nil {
		return failure(abi.CodeAfterComplete, "cancel called after complete")
	}
	f, err := e.future(h)
	if err != nil {
		return err
	}
	if f.state == pending {
		if _, err := e.decide(history.Event{Kind: history.KindFutureCancelled, Ref: h}); err != nil {
			return err
		}
	}
	switch f.kind {
	case abi.CommandWaitEvent:
		e.channel(e.events, f.name).cancel(e, f)
	case abi.CommandDequeue:
		e.channel(e.queues, f.name).cancel(e, f)
	}
	f.state = released
	delete(e.futures, h)
	return nil
}

// SetStatus sets (or, with clear, clears) the custom status.
func (e *Engine) SetStatus(data []byte, clear bool) error {
	if e.outcome != nil {
		return failure(abi.CodeAfterComplete, "set_status called after complete")
	}
	if len(data) > e.cfg.MaxPayload {
		return failure(abi.CodePayloadTooLarge, "custom status is %d bytes, more than the limit of %d", len(data), e.cfg.MaxPayload)
	}
	ev := history.Event{Kind: history.KindCustomStatusSet, Result: data, Cleared: clear}
	if clear {
		ev.Result = nil
	}
	if _, err := e.decide(ev); err != nil {
		return err
	}
	if clear {
		e.status = nil
	} else {
		e.status = slices.Clone(data)
		if e.status == nil {
			e.status = []byte{}
		}
	}
	return nil
}

// CustomStatus returns the current custom status (nil: none).
func (e *Engine) CustomStatus() []byte { return e.status }

// Complete ends the execution with the guest's outcome.
func (e *Engine) Complete(o abi.Outcome) error {
	if e.outcome != nil {
		return failure(abi.CodeAfterComplete, "complete called twice")
	}
	var ev history.Event
	switch o.Kind {
	case abi.OutcomeCompleted:
		if len(o.Output) > e.cfg.MaxPayload {
			return failure(abi.CodePayloadTooLarge, "output is %d bytes, more than the limit of %d", len(o.Output), e.cfg.MaxPayload)
		}
		ev = history.Event{Kind: history.KindExecutionCompleted, Result: o.Output}
	case abi.OutcomeFailed:
		if o.Failure == nil {
			return failure(abi.CodeBadMessage, "failed outcome without a failure")
		}
		if n := len(o.Failure.Message) + len(o.Failure.Details); n > e.cfg.MaxPayload {
			return failure(abi.CodePayloadTooLarge, "failure is %d bytes, more than the limit of %d", n, e.cfg.MaxPayload)
		}
		if err := abi.CheckReported(o.Failure); err != nil {
			return failure(abi.CodeBadArgument, "failed outcome: %v", err)
		}
		ev = history.Event{Kind: history.KindExecutionFailed, Failure: o.Failure}
	case abi.OutcomeContinuedAsNew:
		if len(o.Input) > e.cfg.MaxPayload {
			return failure(abi.CodePayloadTooLarge, "continue-as-new input is %d bytes, more than the limit of %d", len(o.Input), e.cfg.MaxPayload)
		}
		ev = history.Event{Kind: history.KindExecutionContinuedAsNew, Input: o.Input, Version: o.Version}
	default:
		return failure(abi.CodeBadMessage, "outcome kind %d is not allowed here", o.Kind)
	}
	if _, err := e.decide(ev); err != nil {
		return err
	}
	e.outcome = &e.hist[len(e.hist)-1]
	if e.cur < e.live {
		// Replay reached the recorded end: point at the recorded event.
		e.outcome = &e.hist[e.pos-1]
	}
	return nil
}

// Outcome returns the end event the guest decided (nil while it runs).
func (e *Engine) Outcome() *history.Event { return e.outcome }

// Unmatched returns the recorded decisions of the current turn that the guest has not made
// (they are a nondeterminism error if the guest ended here). The end the host decided in a
// turn (ErrEnded) is not the guest's to make.
func (e *Engine) Unmatched() error {
	if e.cur >= 0 && e.cur < e.live {
		if t := e.turns[e.cur]; e.pos < t.end && !t.endedByHost {
			rec := e.hist[e.pos]
			return &NondeterminismError{Code: abi.CodeMissingCommand, Index: rec.ID, Recorded: &rec}
		}
	}
	return nil
}

// OpenActivities returns how many activities the execution has scheduled that have neither
// completed nor been cancelled (in the history so far).
func (e *Engine) OpenActivities() int { return len(e.openActs) }

// track updates what is derived from history for the event at index i.
func (e *Engine) track(i int) {
	ev := &e.hist[i]
	switch {
	case ev.Kind == history.KindActivityScheduled:
		e.openActs[ev.ID] = true
	case ev.Kind == history.KindFutureCancelled:
		delete(e.openActs, ev.Ref)
		e.dropped[ev.Ref] = true
	}
	switch {
	case ev.Kind.IsCompletion():
		e.completed[ev.Ref] = true
		delete(e.openActs, ev.Ref)
	case ev.Kind == history.KindCustomStatusSet:
		e.lastStatus = i
	case ev.Kind.IsTerminal():
		e.endIdx = i
	}
}

// resetTracking empties what track derives.
func (e *Engine) resetTracking() {
	e.completed, e.openActs, e.dropped = map[int64]bool{}, map[int64]bool{}, map[int64]bool{}
	e.lastStatus, e.endIdx = -1, -1
}

// retrack recomputes what track derives, from the whole history (after a truncation).
func (e *Engine) retrack() {
	e.resetTracking()
	for i := range e.hist {
		e.track(i)
	}
}

// scoped keeps an instance ID an orchestration chooses for a child or detached orchestration
// inside the orchestration's namespace ns: an ID that already starts with "<ns>/" is taken as
// the key it is, any other becomes store.Key(ns, id) ("<ns>/<id>"; in the default namespace ""
// IDs are used as given). Guests of one namespace (a tenant of a server) can then never
// address another namespace's instances. Derived IDs start with the orchestration's own key
// and are scoped already.
func scoped(ns, id string) string {
	if id == "" || ns == "" || strings.HasPrefix(id, ns+"/") {
		return id
	}
	return store.Key(ns, id)
}
