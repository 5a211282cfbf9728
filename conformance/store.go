// Package conformance holds the test suites that every implementation of a durohost contract
// passes. RunStore checks a store against the contract written in the doc comments of
// package store: first its core (store.Store: instance peek-locks and lock tokens, message
// tagging, delayed visibility, atomic commits, activity work items, poison attempt counts,
// executions, deletion, management queries, the module registry and namespaces), then each
// capability the store implements (store.HistorySkipper, store.DirectDispatcher, store.Waker,
// store.Pinger). CoreOnly hides the capabilities of a store, to check what a store with the
// core alone does.
package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// Durations used by the suite. Short locks expire quickly so that expiry can be observed by
// polling with a deadline; long locks never expire during a case.
const (
	longLock  = time.Minute
	shortLock = 40 * time.Millisecond
	waitLimit = 5 * time.Second
	pollEvery = 2 * time.Millisecond
	// clockSlack tolerates stores that keep timestamps with millisecond precision.
	clockSlack = 2 * time.Millisecond
)

// baseTime is the logical time carried by the events the suite writes.
var baseTime = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()

// storeCase is one conformance case: it receives a fresh, empty store.
type storeCase struct {
	name string
	run  func(t *testing.T, s store.Store)
}

// capability is a set of the optional interfaces of package store, as bits.
type capability uint8

// The capabilities a store may have besides the core.
const (
	capKnown  capability = 1 << iota // store.HistorySkipper, reporting true
	capDirect                        // store.DirectDispatcher
	capWaker                         // store.Waker
	capPinger                        // store.Pinger
	capEager                         // store.EagerStarter
	capBatch                         // store.ActivityBatcher
)

// capNames names each capability by its group and its interface.
var capNames = []struct {
	c            capability
	group, iface string
}{
	{capKnown, "KnownHistory", "store.HistorySkipper"},
	{capDirect, "DirectDispatch", "store.DirectDispatcher"},
	{capWaker, "Wakeups", "store.Waker"},
	{capPinger, "Ping", "store.Pinger"},
	{capEager, "EagerStart", "store.EagerStarter"},
	{capBatch, "ActivityBatch", "store.ActivityBatcher"},
}

// capabilitiesOf returns the capabilities of s.
func capabilitiesOf(s store.Store) capability {
	var c capability
	if h, ok := s.(store.HistorySkipper); ok && h.SkipsKnownHistory() {
		c |= capKnown
	}
	if _, ok := s.(store.DirectDispatcher); ok {
		c |= capDirect
	}
	if _, ok := s.(store.Waker); ok {
		c |= capWaker
	}
	if _, ok := s.(store.Pinger); ok {
		c |= capPinger
	}
	if _, ok := s.(store.EagerStarter); ok {
		c |= capEager
	}
	if _, ok := s.(store.ActivityBatcher); ok {
		c |= capBatch
	}
	return c
}

// String lists the interfaces of c ("none" for none).
func (c capability) String() string {
	var names []string
	for _, n := range capNames {
		if c&n.c != 0 {
			names = append(names, n.iface)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// storeGroup is a group of cases that run on every store that has the capabilities needs and
// none of lacks.
type storeGroup struct {
	name         string
	needs, lacks capability
	cases        func() []storeCase
}

// storeGroups are the groups of RunStore, core ones first.
var storeGroups = []storeGroup{
	{name: "Core/Atomicity", cases: atomicityCases},
	{name: "Core/Locking", cases: lockingCases},
	{name: "Core/LockExpiry", cases: expiryCases},
	{name: "Core/Queue", cases: queueCases},
	{name: "Core/Poison", cases: poisonCases},
	{name: "Core/Commit", cases: commitCases},
	{name: "Core/Start", cases: startCases},
	{name: "Core/MultiExecution", cases: executionCases},
	{name: "Core/Activities", cases: activityCases},
	{name: "Core/Cancellation", cases: cancellationCases},
	{name: "Core/Delete", cases: deleteCases},
	{name: "Core/Prune", cases: pruneCases},
	{name: "Core/BulkDelete", cases: bulkDeleteCases},
	{name: "Core/Queries", cases: queryCases},
	{name: "Core/Modules", cases: moduleCases},
	{name: "Core/Namespaces", cases: namespaceCases},
	{name: "Core/BadInput", cases: badInputCases},
	{name: "Core/Closed", cases: closedCases},
	{name: "Core/Hammer", cases: hammerCases},
	// What a store without a capability does with the parts of the core's signatures that
	// belong to it.
	{name: "Core/WithoutKnownHistory", lacks: capKnown, cases: withoutKnownCases},
	{name: "Core/WithoutDirectDispatch", lacks: capDirect, cases: withoutDirectCases},
	// The capabilities.
	{name: "KnownHistory", needs: capKnown, cases: knownCases},
	{name: "DirectDispatch", needs: capDirect, cases: directCases},
	{name: "DirectDispatch/KnownHistory", needs: capDirect | capKnown, cases: directKnownCases},
	{name: "Wakeups", needs: capWaker, cases: wakeCases},
	{name: "Ping", needs: capPinger, cases: pingCases},
	{name: "EagerStart", needs: capEager | capDirect, cases: eagerCases},
	{name: "ActivityBatch", needs: capBatch, cases: batchCases},
}

// RunStore runs the store conformance suite. Every case runs as a subtest, grouped by
// feature, on a fresh store returned by open: the core groups ("Core/...") on every store,
// and each capability's group ("KnownHistory", "DirectDispatch", "Wakeups", "Ping",
// "EagerStart", "ActivityBatch") only on
// a store that implements it (the others are skipped, saying why). open must return an empty
// store and register its cleanup with t.Cleanup; because some cases close the store
// themselves, that cleanup must accept store.ErrClosed from a second Close. Every store open
// returns must have the capabilities of the first, which the subtest "Capabilities" reports.
func RunStore(t *testing.T, open func(t *testing.T) store.Store) {
	var caps capability
	if !t.Run("Capabilities", func(t *testing.T) {
		s := open(t)
		if s == nil {
			t.Fatal("open returned a nil store")
		}
		caps = capabilitiesOf(s)
		t.Logf("the store implements the core and: %s", caps)
	}) {
		return
	}
	for _, g := range storeGroups {
		t.Run(g.name, func(t *testing.T) {
			if missing := g.needs &^ caps; missing != 0 {
				t.Skipf("the store does not implement %s", missing)
			}
			if present := g.lacks & caps; present != 0 {
				t.Skipf("the store implements %s", present)
			}
			for _, c := range g.cases() {
				t.Run(c.name, func(t *testing.T) {
					s := open(t)
					if s == nil {
						t.Fatal("open returned a nil store")
					}
					if got := capabilitiesOf(s); got != caps {
						t.Fatalf("open returned a store implementing %s, the first one %s", got, caps)
					}
					c.run(t, s)
				})
			}
		})
	}
}

// --- errors -------------------------------------------------------------------------------

// must fails the case when err is not nil.
func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
}

// wantErr fails the case unless errors.Is(err, want).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// --- events and messages ------------------------------------------------------------------

// started is the ExecutionStarted event of an orchestration called name.
func started(name string) history.Event {
	return history.Event{
		Kind:    history.KindExecutionStarted,
		Time:    baseTime,
		Name:    name,
		Version: "v1",
		Input:   []byte(`{"start":true}`),
	}
}

// raised is an external event carrying data.
func raised(data string) history.Event {
	return history.Event{Kind: history.KindEventRaised, Time: baseTime, Name: "ping", Input: []byte(data)}
}

// startMsg is the start message of instance id.
func startMsg(id string) store.Message {
	return store.Message{InstanceID: id, Event: started("orch")}
}

// notCreated fails unless instance id has no row: Instance reports it pending (its start
// message is still queued) or not found.
func notCreated(t *testing.T, s store.Store, id, when string) {
	t.Helper()
	in, err := s.Instance(t.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		t.Fatalf("Instance(%q) %s: %v", id, when, err)
	case in.Status != store.StatusPending:
		t.Fatalf("Instance(%q) %s: status %s, want pending or ErrNotFound", id, when, in.Status)
	}
}

// eventMsg is an external event for instance id carrying data.
func eventMsg(id, data string) store.Message {
	return store.Message{InstanceID: id, Event: raised(data)}
}

// timerMsg is a TimerFired message for instance id that becomes visible at at.
func timerMsg(id string, ref int64, at time.Time) store.Message {
	return store.Message{
		InstanceID: id,
		Event:      history.Event{Kind: history.KindTimerFired, Time: at.UnixNano(), Ref: ref},
		VisibleAt:  at,
	}
}

// decision returns a decision event of kind k.
func decision(k history.Kind, name string) history.Event {
	return history.Event{Kind: k, Time: baseTime, Name: name}
}

// scheduled returns an ActivityScheduled event for activity name.
func scheduled(name string) history.Event {
	return history.Event{Kind: history.KindActivityScheduled, Time: baseTime, Name: name, Input: []byte(name + "-input")}
}

// numbered returns copies of evs with consecutive IDs starting after after.
func numbered(after int, evs ...history.Event) []history.Event {
	out := make([]history.Event, len(evs))
	for i, e := range evs {
		e.ID = int64(after + i + 1)
		out[i] = e
	}
	return out
}

// turnCommit builds the commit of an ordinary turn: a TurnStarted marker, the turn's messages
// as input events, then decisions, consuming every message of the turn. The state is the
// instance's current state (or a running "orch" for a new instance).
func turnCommit(turn *store.Turn, decisions ...history.Event) *store.Commit {
	exec := turn.Execution
	if exec == 0 {
		exec = 1
	}
	evs := []history.Event{{Kind: history.KindTurnStarted, Time: baseTime}}
	consumed := []int64{}
	for _, m := range turn.Messages {
		e := m.Event
		e.ID = 0
		evs = append(evs, e)
		consumed = append(consumed, m.ID)
	}
	evs = append(evs, decisions...)
	state := store.InstanceState{Name: "orch", Version: "v1", Status: store.StatusRunning}
	if turn.Instance != nil {
		state = turn.Instance.InstanceState
	}
	return &store.Commit{
		State:     state,
		Execution: exec,
		History:   numbered(turn.Events, evs...),
		Consumed:  consumed,
	}
}

// addDecisions appends evs to the commit's history, numbered after its last event.
func addDecisions(c *store.Commit, evs ...history.Event) {
	after := 0
	if n := len(c.History); n > 0 {
		after = int(c.History[n-1].ID)
	}
	c.History = append(c.History, numbered(after, evs...)...)
}

// activity is a work item for the ActivityScheduled event eventID of instance id.
func activity(id string, exec uint32, eventID int64, name string) store.WorkItem {
	return store.WorkItem{
		ActivityRef: store.ActivityRef{InstanceID: id, Execution: exec, EventID: eventID},
		Name:        name,
		Input:       []byte(name + "-input"),
	}
}

// completion is the result message of the activity scheduled by eventID.
func completion(id string, exec uint32, eventID int64, result string) store.Message {
	return store.Message{InstanceID: id, Event: history.Event{
		Kind: history.KindActivityCompleted, Time: baseTime, Ref: eventID,
		Result: []byte(result), Execution: exec,
	}}
}

// --- store operations that must succeed -----------------------------------------------------

func enqueue(t *testing.T, s store.Store, msgs ...store.Message) {
	t.Helper()
	must(t, "Enqueue", s.Enqueue(t.Context(), msgs...))
}

// fetchTurn fetches a turn and fails the case if there is none.
func fetchTurn(t *testing.T, s store.Store, lockFor time.Duration) *store.Turn {
	t.Helper()
	return fetchTurnKnown(t, s, lockFor, nil)
}

// fetchTurnKnown fetches a turn with a KnownHistory and fails the case if there is none or
// if its history fields are inconsistent (see checkTurnHistory).
func fetchTurnKnown(t *testing.T, s store.Store, lockFor time.Duration, known store.KnownHistory) *store.Turn {
	t.Helper()
	turn, err := s.FetchTurn(t.Context(), lockFor, known)
	must(t, "FetchTurn", err)
	if turn == nil {
		t.Fatal("FetchTurn returned a nil turn and no error")
	}
	checkTurnHistory(t, turn)
	return turn
}

// checkTurnHistory fails the case unless Events is the history's length (or, with
// HistoryOmitted, History is nil) and a turn without an instance has no history.
func checkTurnHistory(t *testing.T, turn *store.Turn) {
	t.Helper()
	switch {
	case turn.HistoryOmitted && turn.History != nil:
		t.Fatalf("turn of %q: HistoryOmitted with %d history events, want nil History", short(turn.InstanceID), len(turn.History))
	case !turn.HistoryOmitted && turn.Events != len(turn.History):
		t.Fatalf("turn of %q: Events=%d with %d history events", short(turn.InstanceID), turn.Events, len(turn.History))
	case turn.Instance == nil && (turn.HistoryOmitted || turn.Events != 0 || turn.Execution != 0):
		t.Fatalf("turn of %q without an instance: HistoryOmitted=%v Events=%d Execution=%d, want false, 0, 0",
			short(turn.InstanceID), turn.HistoryOmitted, turn.Events, turn.Execution)
	}
}

// fetchTurnOf fetches a turn and fails the case unless it is instance id's.
func fetchTurnOf(t *testing.T, s store.Store, id string) *store.Turn {
	t.Helper()
	turn := fetchTurn(t, s, longLock)
	if turn.InstanceID != id {
		t.Fatalf("FetchTurn: got instance %q, want %q", short(turn.InstanceID), short(id))
	}
	return turn
}

// noTurn fails the case unless FetchTurn returns ErrNoWork.
func noTurn(t *testing.T, s store.Store, what string) {
	t.Helper()
	turn, err := s.FetchTurn(t.Context(), longLock, nil)
	if !errors.Is(err, store.ErrNoWork) {
		t.Fatalf("%s: FetchTurn got (%s, %v), want ErrNoWork", what, describeTurn(turn), err)
	}
}

func commitTurn(t *testing.T, s store.Store, token string, c *store.Commit) {
	t.Helper()
	must(t, "CommitTurn", s.CommitTurn(t.Context(), token, c))
}

// runTurn fetches the turn of id, builds an ordinary commit (see turnCommit), lets edit
// change it (edit may be nil) and commits it. It returns the turn.
func runTurn(t *testing.T, s store.Store, id string, edit func(turn *store.Turn, c *store.Commit)) *store.Turn {
	t.Helper()
	turn := fetchTurnOf(t, s, id)
	c := turnCommit(turn)
	if edit != nil {
		edit(turn, c)
	}
	commitTurn(t, s, turn.Token, c)
	return turn
}

// create starts instance id: it enqueues a start message and commits the first turn with
// state (Name defaults to "orch", a zero Status to running). The store must hold no other
// ready instance.
func create(t *testing.T, s store.Store, id string, state store.InstanceState) *store.Instance {
	t.Helper()
	if state.Name == "" {
		state.Name = "orch"
	}
	if state.Status == store.StatusPending {
		state.Status = store.StatusRunning
	}
	enqueue(t, s, startMsg(id))
	runTurn(t, s, id, func(_ *store.Turn, c *store.Commit) {
		c.State = state
		if state.Status.Finished() {
			addDecisions(c, terminalEvent(state.Status))
		}
	})
	return instance(t, s, id)
}

// terminalEvent is the history event that ends an execution with status st.
func terminalEvent(st store.Status) history.Event {
	switch st {
	case store.StatusFailed:
		return decision(history.KindExecutionFailed, "")
	case store.StatusCancelled:
		return decision(history.KindExecutionCancelled, "")
	default:
		return decision(history.KindExecutionCompleted, "")
	}
}

// finish ends running instance id with status st (through a turn fed by an event message).
func finish(t *testing.T, s store.Store, id string, st store.Status) {
	t.Helper()
	enqueue(t, s, eventMsg(id, "finish"))
	runTurn(t, s, id, func(_ *store.Turn, c *store.Commit) {
		c.State.Status = st
		c.State.Output = []byte(`"done"`)
		addDecisions(c, terminalEvent(st))
	})
}

// continueAsNew commits a turn of id that continues as new, then (when start is true) runs
// the first turn of the new execution.
func continueAsNew(t *testing.T, s store.Store, id string, start bool) {
	t.Helper()
	enqueue(t, s, eventMsg(id, "continue"))
	runTurn(t, s, id, func(_ *store.Turn, c *store.Commit) {
		addDecisions(c, decision(history.KindExecutionContinuedAsNew, ""))
		c.ContinueAsNew = true
		c.Messages = []store.Message{startMsg(id)}
	})
	if start {
		runTurn(t, s, id, nil)
	}
}

func instance(t *testing.T, s store.Store, id string) *store.Instance {
	t.Helper()
	inst, err := s.Instance(t.Context(), id)
	must(t, "Instance", err)
	if inst == nil {
		t.Fatal("Instance returned nil and no error")
	}
	return inst
}

func historyOf(t *testing.T, s store.Store, id string, exec uint32) []history.Event {
	t.Helper()
	evs, err := s.History(t.Context(), id, exec)
	must(t, fmt.Sprintf("History(%d)", exec), err)
	return evs
}

func executions(t *testing.T, s store.Store, id string) []store.Execution {
	t.Helper()
	ex, err := s.Executions(t.Context(), id)
	must(t, "Executions", err)
	return ex
}

func depths(t *testing.T, s store.Store) store.Depths {
	t.Helper()
	d, err := s.QueueDepths(t.Context())
	must(t, "QueueDepths", err)
	if d == nil {
		t.Fatal("QueueDepths returned nil and no error")
	}
	return *d
}

func fetchActivity(t *testing.T, s store.Store, lockFor time.Duration) *store.WorkItem {
	t.Helper()
	w, err := s.FetchActivity(t.Context(), lockFor)
	must(t, "FetchActivity", err)
	if w == nil {
		t.Fatal("FetchActivity returned nil and no error")
	}
	return w
}

// noActivity fails the case unless FetchActivity returns ErrNoWork.
func noActivity(t *testing.T, s store.Store, what string) {
	t.Helper()
	w, err := s.FetchActivity(t.Context(), longLock)
	if !errors.Is(err, store.ErrNoWork) {
		got := "nil"
		if w != nil {
			got = fmt.Sprintf("work item %d (%s, event %d)", w.ID, w.Name, w.EventID)
		}
		t.Fatalf("%s: FetchActivity got (%s, %v), want ErrNoWork", what, got, err)
	}
}

// --- waiting with a deadline --------------------------------------------------------------

// waitTurn polls FetchTurn until it returns a turn of id, failing after waitLimit. A turn of
// another instance fails the case.
func waitTurn(t *testing.T, s store.Store, id string, lockFor time.Duration) *store.Turn {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		turn, err := s.FetchTurn(t.Context(), lockFor, nil)
		switch {
		case err == nil:
			checkTurnHistory(t, turn)
			if turn.InstanceID != id {
				t.Fatalf("waiting for %q: FetchTurn returned instance %q", short(id), short(turn.InstanceID))
			}
			return turn
		case !errors.Is(err, store.ErrNoWork):
			t.Fatalf("waiting for %q: FetchTurn: %v", short(id), err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("FetchTurn did not return instance %q within %v", short(id), waitLimit)
		}
		time.Sleep(pollEvery)
	}
}

// waitActivity polls FetchActivity until it returns a work item, failing after waitLimit.
func waitActivity(t *testing.T, s store.Store, lockFor time.Duration) *store.WorkItem {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		w, err := s.FetchActivity(t.Context(), lockFor)
		switch {
		case err == nil:
			return w
		case !errors.Is(err, store.ErrNoWork):
			t.Fatalf("FetchActivity: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("FetchActivity returned no work item within %v", waitLimit)
		}
		time.Sleep(pollEvery)
	}
}

// holdNoTurn polls FetchTurn until the clock passes until, failing if it ever returns a turn.
func holdNoTurn(t *testing.T, s store.Store, until time.Time, what string) {
	t.Helper()
	for time.Now().Before(until) {
		noTurn(t, s, what)
		time.Sleep(pollEvery)
	}
}

// holdNoActivity polls FetchActivity until the clock passes until, failing if it ever
// returns a work item.
func holdNoActivity(t *testing.T, s store.Store, until time.Time, what string) {
	t.Helper()
	for time.Now().Before(until) {
		noActivity(t, s, what)
		time.Sleep(pollEvery)
	}
}

// --- comparisons --------------------------------------------------------------------------

// sameEvents compares events by their stored (CBOR) form.
func sameEvents(t *testing.T, what string, got, want []history.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d events %s, want %d events %s", what, len(got), describeEvents(got), len(want), describeEvents(want))
	}
	for i := range got {
		g, err := got[i].Encode()
		must(t, "encode event", err)
		w, err := want[i].Encode()
		must(t, "encode event", err)
		if !bytes.Equal(g, w) {
			t.Fatalf("%s: event %d: got %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

// sameState compares the state fields of an instance with want.
func sameState(t *testing.T, what string, got *store.Instance, want store.InstanceState) {
	t.Helper()
	g := got.InstanceState
	switch {
	case g.Name != want.Name, g.Version != want.Version, g.ModuleHash != want.ModuleHash,
		g.ParentID != want.ParentID, g.Status != want.Status,
		!bytes.Equal(g.Output, want.Output), !bytes.Equal(g.CustomStatus, want.CustomStatus),
		!sameFailure(g.Failure, want.Failure):
		t.Fatalf("%s: got state %s, want %s", what, describeState(g), describeState(want))
	}
}

func sameFailure(a, b *abi.Failure) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Kind == b.Kind && a.Code == b.Code && a.Message == b.Message && bytes.Equal(a.Details, b.Details)
}

// toEvents returns the events of msgs.
func toEvents(msgs ...store.Message) []history.Event {
	evs := make([]history.Event, len(msgs))
	for i, m := range msgs {
		evs[i] = m.Event
	}
	return evs
}

// messageIDs returns the IDs of msgs.
func messageIDs(msgs []store.Message) []int64 {
	ids := make([]int64, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	return ids
}

// payloads returns the Input of each message's event, as strings.
func payloads(msgs []store.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Event.Input)
	}
	return out
}

// sameStrings compares two string slices.
func sameStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

// --- descriptions for failure messages ----------------------------------------------------

// short abbreviates long IDs in failure messages.
func short(s string) string {
	if len(s) > 60 {
		return fmt.Sprintf("%s...(%d bytes)", s[:40], len(s))
	}
	return s
}

func describeTurn(turn *store.Turn) string {
	if turn == nil {
		return "nil"
	}
	return fmt.Sprintf("turn of %q with %d messages %q", short(turn.InstanceID), len(turn.Messages), payloads(turn.Messages))
}

func describeEvents(evs []history.Event) string {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, e := range evs {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d:%s", e.ID, e.Kind)
	}
	b.WriteByte(']')
	return b.String()
}

func describeState(s store.InstanceState) string {
	return fmt.Sprintf("{name=%q version=%q module=%q parent=%q status=%s output=%q custom=%q failure=%+v}",
		s.Name, s.Version, s.ModuleHash, s.ParentID, s.Status, s.Output, s.CustomStatus, s.Failure)
}
