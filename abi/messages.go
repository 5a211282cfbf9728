package abi

// CommandKind says what a Command asks the host to do. See ABI.md, "Command".
type CommandKind uint8

// Command kinds. The numeric values are part of the wire format.
const (
	// CommandActivity schedules an activity: Name, Input. Completes with its result or failure.
	CommandActivity CommandKind = 1
	// CommandTimer starts a durable timer firing Delay nanoseconds after the current logical time.
	CommandTimer CommandKind = 2
	// CommandWaitEvent waits for the next external event called Name (positional, FIFO).
	CommandWaitEvent CommandKind = 3
	// CommandDequeue takes the next message from the persistent queue called Name.
	CommandDequeue CommandKind = 4
	// CommandSubOrchestration starts a child orchestration (Name, Version, InstanceID, Input)
	// and completes with its output or failure. An empty InstanceID is derived by the host.
	CommandSubOrchestration CommandKind = 5
	// CommandStartOrchestration starts a detached orchestration. It completes at once, with
	// the new instance's ID as the result.
	CommandStartOrchestration CommandKind = 6
)

var commandKindNames = map[CommandKind]string{
	CommandActivity:           "activity",
	CommandTimer:              "timer",
	CommandWaitEvent:          "wait_event",
	CommandDequeue:            "dequeue",
	CommandSubOrchestration:   "sub_orchestration",
	CommandStartOrchestration: "start_orchestration",
}

// String returns the lower-case name ABI.md uses for the kind.
func (k CommandKind) String() string {
	if s, ok := commandKindNames[k]; ok {
		return s
	}
	return "unknown"
}

// Valid reports whether k is a defined command kind.
func (k CommandKind) Valid() bool { _, ok := commandKindNames[k]; return ok }

// CommandKinds returns every defined command kind with its name.
func CommandKinds() map[CommandKind]string { return copyMap(commandKindNames) }

// Command is what a guest passes to the schedule host function (CBOR, integer keys).
type Command struct {
	Kind       CommandKind `cbor:"1,keyasint"`
	Name       string      `cbor:"2,keyasint,omitempty"`
	Input      []byte      `cbor:"3,keyasint,omitempty"`
	Version    string      `cbor:"4,keyasint,omitempty"`
	InstanceID string      `cbor:"5,keyasint,omitempty"`
	// Delay is the timer duration in nanoseconds (CommandTimer only; never negative).
	Delay int64 `cbor:"6,keyasint,omitempty"`
}

// FailureKind classifies a failure. See ABI.md, "Failure".
type FailureKind uint8

// Failure kinds.
const (
	// FailureApplication is an error returned by user code (an activity or an orchestration).
	FailureApplication FailureKind = 1
	// FailureInfrastructure is an error of the platform: nondeterminism, limits, poison
	// messages, unregistered handlers, a trapped guest. A child failing with it fails its parent.
	FailureInfrastructure FailureKind = 2
	// FailureCancelled means the work was cancelled (instance cancellation).
	FailureCancelled FailureKind = 3
	// FailureTimeout means a deadline passed (used by SDK retry policies).
	FailureTimeout FailureKind = 4
)

var failureKindNames = map[FailureKind]string{
	FailureApplication:    "application",
	FailureInfrastructure: "infrastructure",
	FailureCancelled:      "cancelled",
	FailureTimeout:        "timeout",
}

// String returns the lower-case name ABI.md uses for the kind.
func (k FailureKind) String() string {
	if s, ok := failureKindNames[k]; ok {
		return s
	}
	return "unknown"
}

// FailureKinds returns every defined failure kind with its name.
func FailureKinds() map[FailureKind]string { return copyMap(failureKindNames) }

// Failure describes why an activity, a child or an orchestration failed.
type Failure struct {
	Kind FailureKind `cbor:"1,keyasint" json:"kind"`
	// Code is a stable machine-readable code, e.g. "DH-NONDET-001" (infrastructure) or any
	// string an application chooses. May be empty.
	Code    string `cbor:"2,keyasint,omitempty" json:"code,omitempty"`
	Message string `cbor:"3,keyasint,omitempty" json:"message"`
	// Details is an opaque application payload (JSON by convention).
	Details []byte `cbor:"4,keyasint,omitempty" json:"details,omitempty"`
}

// Error implements error so that SDKs and the host can return a Failure directly.
func (f *Failure) Error() string {
	if f.Code != "" {
		return "[" + f.Code + "] " + f.Message
	}
	return f.Message
}

// Completion is what the result host function returns for a completed future.
type Completion struct {
	// Result is the payload of a successful completion. For CommandWaitEvent and
	// CommandDequeue it is the event data; for CommandTimer it is empty; for
	// CommandStartOrchestration and CommandSubOrchestration (success) see ABI.md.
	Result []byte `cbor:"1,keyasint,omitempty"`
	// Failure is set when the future failed; Result is then empty.
	Failure *Failure `cbor:"2,keyasint,omitempty"`
}

// OutcomeKind says how an orchestration run ended.
type OutcomeKind uint8

// Outcome kinds.
const (
	OutcomeCompleted      OutcomeKind = 1
	OutcomeFailed         OutcomeKind = 2
	OutcomeContinuedAsNew OutcomeKind = 3
	// OutcomeDescribe answers a StartInfo with Mode ModeDescribe.
	OutcomeDescribe OutcomeKind = 4
)

var outcomeKindNames = map[OutcomeKind]string{
	OutcomeCompleted:      "completed",
	OutcomeFailed:         "failed",
	OutcomeContinuedAsNew: "continued_as_new",
	OutcomeDescribe:       "describe",
}

// String returns the lower-case name ABI.md uses for the kind.
func (k OutcomeKind) String() string {
	if s, ok := outcomeKindNames[k]; ok {
		return s
	}
	return "unknown"
}

// OutcomeKinds returns every defined outcome kind with its name.
func OutcomeKinds() map[OutcomeKind]string { return copyMap(outcomeKindNames) }

// Outcome is what a guest passes to the complete host function.
type Outcome struct {
	Kind    OutcomeKind `cbor:"1,keyasint"`
	Output  []byte      `cbor:"2,keyasint,omitempty"`
	Failure *Failure    `cbor:"3,keyasint,omitempty"`
	// Input and Version start the next execution (OutcomeContinuedAsNew). An empty Version
	// keeps the current one.
	Input   []byte `cbor:"4,keyasint,omitempty"`
	Version string `cbor:"5,keyasint,omitempty"`
	// Orchestrations lists what the module registers (OutcomeDescribe).
	Orchestrations []Registration `cbor:"6,keyasint,omitempty"`
}

// Registration names one orchestration a module implements.
type Registration struct {
	Name    string `cbor:"1,keyasint" json:"name"`
	Version string `cbor:"2,keyasint,omitempty" json:"version,omitempty"`
}

// Mode says why the host called ExportRun.
type Mode uint8

// Modes.
const (
	// ModeRun runs the orchestration StartInfo names.
	ModeRun Mode = 0
	// ModeDescribe asks the guest to complete with OutcomeDescribe and do nothing else.
	ModeDescribe Mode = 1
)

// StartInfo is what the start_info host function returns: everything the guest needs to run.
type StartInfo struct {
	Mode        Mode   `cbor:"1,keyasint,omitempty"`
	Name        string `cbor:"2,keyasint,omitempty"`
	Version     string `cbor:"3,keyasint,omitempty"`
	InstanceID  string `cbor:"4,keyasint,omitempty"`
	ExecutionID uint32 `cbor:"5,keyasint,omitempty"`
	Input       []byte `cbor:"6,keyasint,omitempty"`
	ParentID    string `cbor:"7,keyasint,omitempty"`
	// CustomStatus is the status carried from the previous execution (continue-as-new).
	CustomStatus []byte `cbor:"8,keyasint,omitempty"`
	// StartTime is the logical start time of the execution, Unix nanoseconds.
	StartTime int64 `cbor:"9,keyasint,omitempty"`
}

func copyMap[K comparable](m map[K]string) map[K]string {
	out := make(map[K]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
