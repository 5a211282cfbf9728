// Package history defines the events an orchestration's history is made of.
//
// It is shared by the replay engine and the stores and imports no WebAssembly code. Events are
// stored as deterministic CBOR (Encode/Decode) and shown to people as JSON (MarshalJSON).
//
// A history is the ordered list of events of one execution. Each turn appends a TurnStarted
// marker (carrying the turn's logical time), then the turn's inputs (events that arrived as
// messages), then the decisions the orchestration made during the turn. Event IDs are the
// 1-based positions in the execution's history; a completion refers to the decision that
// scheduled it by that decision's ID (Ref).
package history

import (
	"fmt"
	"time"

	"github.com/durohost/durohost/abi"
)

// Kind is the type of a history event.
type Kind uint8

// Event kinds. The numeric values are stored; never renumber them.
const (
	// KindTurnStarted marks the start of a turn; Time is the turn's logical time.
	KindTurnStarted Kind = 1

	// Inputs: events that reach an instance as messages.

	// KindExecutionStarted starts an execution: Name, Version, Input, ParentID/ParentExecution/
	// ParentRef (sub-orchestrations), ModuleHash, CustomStatus and Carried (continue-as-new).
	KindExecutionStarted Kind = 10
	// KindActivityCompleted completes the activity scheduled by Ref with Result.
	KindActivityCompleted Kind = 11
	// KindActivityFailed fails the activity scheduled by Ref with Failure.
	KindActivityFailed Kind = 12
	// KindTimerFired fires the timer created by Ref.
	KindTimerFired Kind = 13
	// KindSubOrchestrationCompleted completes the child scheduled by Ref with Result.
	KindSubOrchestrationCompleted Kind = 14
	// KindSubOrchestrationFailed fails the child scheduled by Ref with Failure.
	KindSubOrchestrationFailed Kind = 15
	// KindEventRaised is an external event Name with data Input (positional waits).
	KindEventRaised Kind = 16
	// KindQueueMessage is a message Input for the persistent queue Name.
	KindQueueMessage Kind = 17
	// KindCancelRequested asks the instance to stop; Input is the reason.
	KindCancelRequested Kind = 18

	// Decisions: events the orchestration's commands produce.

	// KindActivityScheduled schedules activity Name with Input.
	KindActivityScheduled Kind = 30
	// KindTimerCreated creates a timer firing at FireAt (Unix ns).
	KindTimerCreated Kind = 31
	// KindEventSubscribed records a wait for the external event Name.
	KindEventSubscribed Kind = 32
	// KindQueueSubscribed records a dequeue from the persistent queue Name.
	KindQueueSubscribed Kind = 33
	// KindSubOrchestrationScheduled starts child InstanceID running Name/Version with Input.
	KindSubOrchestrationScheduled Kind = 34
	// KindOrchestrationStarted starts the detached instance InstanceID running Name/Version.
	KindOrchestrationStarted Kind = 35
	// KindFutureCancelled records that the future scheduled by Ref was dropped.
	KindFutureCancelled Kind = 36
	// KindCustomStatusSet sets the custom status to Result (Cleared: reset to none).
	KindCustomStatusSet Kind = 37
	// KindExecutionCompleted ends the execution with output Result.
	KindExecutionCompleted Kind = 40
	// KindExecutionFailed ends the execution with Failure.
	KindExecutionFailed Kind = 41
	// KindExecutionContinuedAsNew ends the execution; the next one starts with Input/Version.
	KindExecutionContinuedAsNew Kind = 42
	// KindExecutionCancelled ends the execution after a cancellation; Input is the reason.
	KindExecutionCancelled Kind = 43
)

var kindNames = map[Kind]string{
	KindTurnStarted:               "turn_started",
	KindExecutionStarted:          "execution_started",
	KindActivityCompleted:         "activity_completed",
	KindActivityFailed:            "activity_failed",
	KindTimerFired:                "timer_fired",
	KindSubOrchestrationCompleted: "sub_orchestration_completed",
	KindSubOrchestrationFailed:    "sub_orchestration_failed",
	KindEventRaised:               "event_raised",
	KindQueueMessage:              "queue_message",
	KindCancelRequested:           "cancel_requested",
	KindActivityScheduled:         "activity_scheduled",
	KindTimerCreated:              "timer_created",
	KindEventSubscribed:           "event_subscribed",
	KindQueueSubscribed:           "queue_subscribed",
	KindSubOrchestrationScheduled: "sub_orchestration_scheduled",
	KindOrchestrationStarted:      "orchestration_started",
	KindFutureCancelled:           "future_cancelled",
	KindCustomStatusSet:           "custom_status_set",
	KindExecutionCompleted:        "execution_completed",
	KindExecutionFailed:           "execution_failed",
	KindExecutionContinuedAsNew:   "execution_continued_as_new",
	KindExecutionCancelled:        "execution_cancelled",
}

var kindByName = func() map[string]Kind {
	m := make(map[string]Kind, len(kindNames))
	for k, n := range kindNames {
		m[n] = k
	}
	return m
}()

// String returns the snake_case name of the kind, as used in JSON.
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind returns the kind named s (as String prints it).
func ParseKind(s string) (Kind, bool) { k, ok := kindByName[s]; return k, ok }

// Valid reports whether k is a defined kind.
func (k Kind) Valid() bool { _, ok := kindNames[k]; return ok }

// IsInput reports whether events of this kind arrive as messages (rather than being decided
// by the orchestration or marking a turn).
func (k Kind) IsInput() bool { return k >= 10 && k < 30 }

// IsDecision reports whether events of this kind are produced by the orchestration's commands
// or its end.
func (k Kind) IsDecision() bool { return k >= 30 }

// IsTerminal reports whether the kind ends an execution.
func (k Kind) IsTerminal() bool { return k >= 40 && k <= 43 }

// IsCompletion reports whether the kind completes a decision named by Ref.
func (k Kind) IsCompletion() bool {
	switch k {
	case KindActivityCompleted, KindActivityFailed, KindTimerFired,
		KindSubOrchestrationCompleted, KindSubOrchestrationFailed:
		return true
	}
	return false
}

// Item is a queued message carried into the next execution by continue-as-new.
type Item struct {
	Name string `cbor:"1,keyasint"`
	Data []byte `cbor:"2,keyasint,omitempty"`
	// Time is when the message was first received, Unix ns.
	Time int64 `cbor:"3,keyasint,omitempty"`
}

// Event is one entry of a history. Which fields are set depends on Kind (see the constants).
type Event struct {
	// ID is the event's 1-based position in its execution's history (0 for an event still
	// travelling as a message).
	ID   int64 `cbor:"1,keyasint,omitempty"`
	Kind Kind  `cbor:"2,keyasint"`
	// Time is Unix nanoseconds: the logical time of a turn or decision, or when an input
	// message was created.
	Time int64 `cbor:"3,keyasint,omitempty"`
	// Ref is the ID of the decision a completion or cancellation refers to.
	Ref        int64        `cbor:"4,keyasint,omitempty"`
	Name       string       `cbor:"5,keyasint,omitempty"`
	Version    string       `cbor:"6,keyasint,omitempty"`
	InstanceID string       `cbor:"7,keyasint,omitempty"`
	Input      []byte       `cbor:"8,keyasint,omitempty"`
	Result     []byte       `cbor:"9,keyasint,omitempty"`
	Failure    *abi.Failure `cbor:"10,keyasint,omitempty"`
	FireAt     int64        `cbor:"11,keyasint,omitempty"`
	// ParentID, ParentExecution and ParentRef identify the decision of the parent that started
	// this execution (ExecutionStarted of a sub-orchestration).
	ParentID        string `cbor:"12,keyasint,omitempty"`
	ParentExecution uint32 `cbor:"13,keyasint,omitempty"`
	ParentRef       int64  `cbor:"14,keyasint,omitempty"`
	// ModuleHash is the sha256 (hex) of the module the execution is pinned to.
	ModuleHash string `cbor:"15,keyasint,omitempty"`
	// CustomStatus is the status carried into a new execution.
	CustomStatus []byte `cbor:"16,keyasint,omitempty"`
	// Carried are the unconsumed queue messages carried into a new execution.
	Carried []Item `cbor:"17,keyasint,omitempty"`
	// Cleared marks a CustomStatusSet that resets the status to none.
	Cleared bool `cbor:"18,keyasint,omitempty"`
	// Execution is the execution an input message is addressed to (0: the current one). It
	// lets a completion for an older execution be recognised and dropped.
	Execution uint32 `cbor:"19,keyasint,omitempty"`
}

// Timestamp returns Time as a time.Time (UTC).
func (e *Event) Timestamp() time.Time { return time.Unix(0, e.Time).UTC() }

// Encode returns the deterministic CBOR form of e, the form stores keep.
func (e *Event) Encode() ([]byte, error) { return abi.Marshal(e) }

// Decode parses the CBOR form of an event and checks that its kind is known.
func Decode(data []byte) (Event, error) {
	var e Event
	if err := abi.Unmarshal(data, &e); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if !e.Kind.Valid() {
		return Event{}, fmt.Errorf("%w: unknown event kind %d", ErrCorrupt, e.Kind)
	}
	return e, nil
}
