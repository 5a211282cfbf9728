// Package scenarios is the scenario conformance suite: the semantics of orchestrations,
// written as data, run against a guest module of any language on any store.
//
// A Scenario names an orchestration of the guest, its input, how the activities it calls
// behave (implemented by the suite as native activities), what is injected from outside and
// when (a condition on history, never a delay), and what must come out: the final status, the
// output or failure, and the history. RunScenarios runs every scenario in three modes (live
// instances, a cold replay at every turn, a host restarted between turns) and checks that the
// modes agree. The orchestrations a guest must implement are described in README.md, the
// language-neutral contract of the suite.
package scenarios

import (
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// RootID is the instance ID of the orchestration a scenario starts.
const RootID = "root"

// Scenario is one case of the suite.
type Scenario struct {
	// Group and Name identify the scenario: its subtest is Group/Name and its golden history
	// testdata/histories/<Group>.<Name>.json.
	Group, Name string
	// Doc says in one line what the scenario checks.
	Doc string
	// Orchestration is the name of the guest orchestration started as RootID, with Input
	// (JSON).
	Orchestration string
	Input         string
	// Activities are the native activities registered on every host of the scenario.
	Activities map[string]Activity
	// Steps are injected in order, each when its condition holds.
	Steps []Step
	// PoisonActivity makes every commit that schedules this activity fail (as a host crashing
	// mid-commit would), so the turn is delivered again and again.
	PoisonActivity string
	// Variant marks scenarios that need the variant build of the guest (WithVariant).
	Variant bool
	// LooseChildren compares only the root's history between modes: the children's histories
	// depend on timing (a child cancelled before or after its first turn).
	LooseChildren bool
	// NoGolden keeps the scenario's history out of the golden files (huge histories).
	NoGolden bool
	// MaxRestarts bounds the restarts of the restart mode (0: DefaultMaxRestarts).
	MaxRestarts int
	// Timeout bounds one run of the scenario (0: DefaultTimeout).
	Timeout time.Duration
	// Want is what must come out.
	Want Want
}

// ID returns "Group/Name".
func (s *Scenario) ID() string { return s.Group + "/" + s.Name }

// Defaults.
const (
	DefaultMaxRestarts = 5
	DefaultTimeout     = 2 * time.Minute
)

// Behaviour is what one call of a native activity does. The zero Behaviour returns the
// activity's input.
type Behaviour struct {
	// Result is the JSON result ("" returns the input).
	Result string
	// Empty returns no bytes at all.
	Empty bool
	// Size returns a JSON string of Size bytes (quotes included).
	Size int
	// Fail fails the call with this failure.
	Fail *abi.Failure
	// Panic panics with this message.
	Panic string
	// Delay waits before answering (the call returns early if its context is cancelled).
	Delay time.Duration
	// Gate waits until an OpenGate step opened the gate (or the call is cancelled).
	Gate string
	// Block waits until the call's context is cancelled (the work is withdrawn).
	Block bool
}

// Activity is a native activity of a scenario.
type Activity struct {
	// Behaviour is the default behaviour.
	Behaviour
	// ByInput chooses a behaviour by the call's input (compact JSON).
	ByInput map[string]Behaviour
	// Attempts chooses a behaviour by how many times the root instance has scheduled this
	// activity so far (the first scheduling is Attempts[0]; the last entry repeats). It
	// models "fail N times then succeed" for retry policies, whose attempts are sequential.
	Attempts []Behaviour
}

// Step is an injection: Do runs once When holds (and every earlier step ran).
type Step struct {
	When When
	Do   Action
}

// When is a condition on history (never a time).
type When struct {
	// Before runs the step before the root instance is started.
	Before bool
	// Instance is the instance whose history is looked at ("": RootID).
	Instance string
	// Kind and Name: at least Count events of Kind (with Name, when set) are recorded in the
	// instance's history, all executions together (Count 0 means 1). Kind 0 holds at once.
	Kind  history.Kind
	Name  string
	Count int
}

// ActionKind is what a step does.
type ActionKind uint8

// Actions.
const (
	// ActRaise raises the external event Name with Data.
	ActRaise ActionKind = iota + 1
	// ActEnqueue adds Data to the persistent queue Name.
	ActEnqueue
	// ActCancel cancels the instance with reason Data.
	ActCancel
	// ActInject enqueues Event as a raw message (crafted completions); with RefTo set, its
	// Ref is the ID of the first event of kind RefTo in the current execution.
	ActInject
	// ActOpenGate opens the gate Name of gated activities.
	ActOpenGate
	// ActRestart stops the host and starts a new one on the same store.
	ActRestart
	// ActLoadVariant loads the variant module on the host (new starts may use it).
	ActLoadVariant
	// ActSwapVariant makes, behind the host's back, the store's turns say that instances
	// pinned to the guest module run the variant, and restarts the host: the running
	// instance continues with changed code, as after a careless redeploy (the host checks a
	// module's bytes against its hash, so the bytes themselves cannot be swapped).
	ActSwapVariant
	// ActAwaitDrained waits until no message is waiting in the store (a message to an
	// instance that does not exist was dropped).
	ActAwaitDrained
)

// Action is what a step does; Instance is the target ("": RootID).
type Action struct {
	Kind     ActionKind
	Instance string
	Name     string
	Data     string
	Event    history.Event
	RefTo    history.Kind
}

// Want is the expected end of a scenario.
type Want struct {
	Status store.Status
	// Output is the expected output (JSON, compared as values); "" does not check it.
	Output string
	// Failure is checked when set: kind, code, and Message as a substring.
	Failure *abi.Failure
	// CustomStatus is the expected custom status ("": not checked; "<none>": none).
	CustomStatus string
	// Executions is the expected number of executions (0: not checked).
	Executions int
	// History is the expected history of the root instance, all executions one after the
	// other, without turn_started events, as patterns (see Pattern). Nil: not checked.
	History []string
	// Instances are other instances (children, detached) and their expected ends.
	Instances []InstanceWant
}

// InstanceWant is the expected end of an instance other than the root.
type InstanceWant struct {
	ID     string
	Status store.Status
	// Output is the expected output (JSON); "" does not check it.
	Output string
	// History is the expected history of the instance, as patterns (nil: not checked).
	History []string
}

// Step constructors.

// After holds once count events of kind (named name, when not empty) are in the root's
// history.
func After(kind history.Kind, name string, count int) When {
	return When{Kind: kind, Name: name, Count: count}
}

// AfterIn is After on another instance.
func AfterIn(instance string, kind history.Kind, name string, count int) When {
	return When{Instance: instance, Kind: kind, Name: name, Count: count}
}

// BeforeStart holds before the root instance is started.
func BeforeStart() When { return When{Before: true} }

// Raise raises an event on the root.
func Raise(name, data string) Action { return Action{Kind: ActRaise, Name: name, Data: data} }

// Enqueue adds a message to a queue of the root.
func Enqueue(queue, data string) Action { return Action{Kind: ActEnqueue, Name: queue, Data: data} }

// Cancel cancels the root.
func Cancel(reason string) Action { return Action{Kind: ActCancel, Data: reason} }

// OpenGate opens a gate of gated activities.
func OpenGate(name string) Action { return Action{Kind: ActOpenGate, Name: name} }

// Restart restarts the host.
func Restart() Action { return Action{Kind: ActRestart} }

// Inject enqueues a raw message to the root; refTo, when set, points its Ref at the first
// event of that kind.
func Inject(ev history.Event, refTo history.Kind) Action {
	return Action{Kind: ActInject, Event: ev, RefTo: refTo}
}

// Scenarios returns every scenario of the suite, grouped, in a stable order.
func Scenarios() []Scenario {
	var all []Scenario
	for _, g := range [][]Scenario{
		activityScenarios(), sagaScenarios(), retryScenarios(), timerScenarios(),
		selectScenarios(), joinScenarios(), eventScenarios(), queueScenarios(),
		continueScenarios(), childScenarios(), statusScenarios(), determinismScenarios(),
		cancelScenarios(), runtimeScenarios(), versionScenarios(), nondetScenarios(),
		payloadScenarios(),
	} {
		all = append(all, g...)
	}
	return all
}
