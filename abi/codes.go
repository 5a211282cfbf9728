package abi

// Stable failure codes the host puts in Failure.Code for infrastructure failures. They are
// part of the ABI: SDKs and users may match on them. See ABI.md, "Failure codes".
const (
	// CodeCommandMismatch: a command differs from the decision history recorded at its place.
	CodeCommandMismatch = "DH-NONDET-001"
	// CodeExtraCommand: the code issued a command where history recorded none.
	CodeExtraCommand = "DH-NONDET-002"
	// CodeMissingCommand: history recorded a decision the code did not make before blocking
	// or ending.
	CodeMissingCommand = "DH-NONDET-003"
	// CodeWrongCompletionKind: a completion refers to a decision of another kind.
	CodeWrongCompletionKind = "DH-NONDET-004"
	// CodeUnknownCompletion: a completion refers to no decision of the execution.
	CodeUnknownCompletion = "DH-NONDET-005"
	// CodeOutcomeMismatch: the code ended the execution differently from the recorded end.
	CodeOutcomeMismatch = "DH-NONDET-006"

	// CodeBadPointer: a (pointer, length) pair lies outside the guest's memory.
	CodeBadPointer = "DH-ABI-001"
	// CodeBadMessage: a CBOR message could not be decoded or has invalid fields.
	CodeBadMessage = "DH-ABI-002"
	// CodeUnknownHandle: a handle names no live future.
	CodeUnknownHandle = "DH-ABI-003"
	// CodeBadArgument: an argument is out of range (empty await, negative delay, ...).
	CodeBadArgument = "DH-ABI-004"
	// CodeAfterComplete: a host function was called after complete.
	CodeAfterComplete = "DH-ABI-005"
	// CodeNoOutcome: durohost_run returned without calling complete.
	CodeNoOutcome = "DH-ABI-006"

	// CodeTurnTimeout: a turn exceeded its wall-time budget (e.g. an infinite loop).
	CodeTurnTimeout = "DH-LIMIT-001"
	// CodeMemoryLimit: the guest tried to grow its memory beyond the limit.
	CodeMemoryLimit = "DH-LIMIT-002"
	// CodePayloadTooLarge: a payload crossing the ABI exceeds the size limit.
	CodePayloadTooLarge = "DH-LIMIT-003"
	// CodeHistoryTooLong: the execution's history exceeds the event limit.
	CodeHistoryTooLong = "DH-LIMIT-004"

	// CodeTrap: the guest trapped (a panic, unreachable, a runtime error).
	CodeTrap = "DH-TRAP-001"
	// CodeUnknownOrchestration: the module does not register the requested orchestration.
	CodeUnknownOrchestration = "DH-GUEST-001"
	// CodePoison: a message was delivered too many times without a successful turn.
	CodePoison = "DH-POISON-001"
	// CodeUnregistered: no host registers the activity or orchestration (after retries).
	CodeUnregistered = "DH-UNREGISTERED-001"
	// CodeChildFailed: a sub-orchestration failed with an infrastructure failure.
	CodeChildFailed = "DH-CHILD-001"
)

// FailureCodes lists every code above, for documentation and the spec test.
var FailureCodes = []string{
	CodeCommandMismatch, CodeExtraCommand, CodeMissingCommand, CodeWrongCompletionKind,
	CodeUnknownCompletion, CodeOutcomeMismatch,
	CodeBadPointer, CodeBadMessage, CodeUnknownHandle, CodeBadArgument, CodeAfterComplete,
	CodeNoOutcome,
	CodeTurnTimeout, CodeMemoryLimit, CodePayloadTooLarge, CodeHistoryTooLong,
	CodeTrap, CodeUnknownOrchestration, CodePoison, CodeUnregistered, CodeChildFailed,
}
