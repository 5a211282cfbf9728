package abi

import (
	"fmt"
	"strings"
)

// Stable failure codes the host (and, for the DH-ABI and DH-GUEST codes, an SDK) puts in
// Failure.Code. They are part of the ABI: SDKs and users may match on them. See ABI.md,
// "Failure codes".
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
	// CodeInstanceExists: the instance ID chosen for a sub-orchestration names an instance
	// that already exists. An application failure: the parent's code sees it and may catch it.
	CodeInstanceExists = "DH-CHILD-002"
)

// FailureCodes lists every code above, for documentation and the spec test.
var FailureCodes = []string{
	CodeCommandMismatch, CodeExtraCommand, CodeMissingCommand, CodeWrongCompletionKind,
	CodeUnknownCompletion, CodeOutcomeMismatch,
	CodeBadPointer, CodeBadMessage, CodeUnknownHandle, CodeBadArgument, CodeAfterComplete,
	CodeNoOutcome,
	CodeTurnTimeout, CodeMemoryLimit, CodePayloadTooLarge, CodeHistoryTooLong,
	CodeTrap, CodeUnknownOrchestration, CodePoison, CodeUnregistered, CodeChildFailed,
	CodeInstanceExists,
}

// hostOnlyFamilies are the prefixes of the code families only the host reports.
var hostOnlyFamilies = []string{"DH-NONDET-", "DH-LIMIT-", "DH-POISON-", "DH-UNREGISTERED-", "DH-TRAP-"}

// sdkFamilies are the prefixes of the codes an SDK reports about itself, as infrastructure
// failures: a malformed message or argument it met, an orchestration its module lacks.
var sdkFamilies = []string{"DH-ABI-", "DH-GUEST-"}

// HostOnly reports whether code is reserved to the host: a code of the DH-NONDET, DH-LIMIT,
// DH-POISON, DH-UNREGISTERED or DH-TRAP families, or DH-CHILD-001. A guest never reports one
// (see CheckReported). Codes are compared exactly.
func HostOnly(code string) bool {
	if code == CodeChildFailed {
		return true
	}
	return hasPrefix(code, hostOnlyFamilies)
}

// CheckReported reports whether a guest may end its execution with the failure f (complete
// with a failed outcome): f's code must not be reserved to the host (HostOnly), and an
// infrastructure failure must carry a code of the DH-ABI or DH-GUEST families, which an SDK
// reports about itself. Application, cancelled and timeout failures may carry any other code,
// including those the host delivers to user code (DH-CHILD-002), so that an orchestration
// can fail with a failure it received. The error names the offending code. See ABI.md,
// "Failure codes".
func CheckReported(f *Failure) error {
	switch {
	case HostOnly(f.Code):
		return fmt.Errorf("failure code %s is reserved to the host", f.Code)
	case f.Kind == FailureInfrastructure && !hasPrefix(f.Code, sdkFamilies):
		if f.Code == "" {
			return fmt.Errorf("an infrastructure failure without a code: a guest reports infrastructure failures only with DH-ABI or DH-GUEST codes")
		}
		return fmt.Errorf("infrastructure failure code %q: a guest reports infrastructure failures only with DH-ABI or DH-GUEST codes", f.Code)
	}
	return nil
}

func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
