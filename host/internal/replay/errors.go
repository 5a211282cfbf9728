package replay

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
)

var (
	// ErrSuspended is returned by Await when nothing awaited is complete and history holds no
	// more turns: the turn ends here and the guest must be parked or discarded.
	ErrSuspended = errors.New("orchestration suspended")
	// ErrEnded is returned by Await when replay reaches a turn that the host ended on its own
	// (a cancellation, a failed child): the guest has nothing more to do.
	ErrEnded = errors.New("execution ended by the host")
	// ErrCorruptHistory is returned by New when a history is not a well-formed sequence of turns.
	ErrCorruptHistory = errors.New("malformed history")
	// ErrConfig is returned by New when the Config is invalid (a negative limit).
	ErrConfig = errors.New("invalid engine configuration")
)

// NondeterminismError reports that the orchestration code did something other than what its
// history recorded. It names the event index and both sides.
type NondeterminismError struct {
	// Code is one of the abi.CodeXxx nondeterminism codes.
	Code string
	// Index is the ID of the history event concerned (the recorded decision, or the position
	// where a decision was expected).
	Index int64
	// Recorded is what history holds at Index (nil: nothing).
	Recorded *history.Event
	// Got is what the code did now (nil: nothing, e.g. it blocked).
	Got *history.Event
}

func (e *NondeterminismError) Error() string { return "[" + e.Code + "] " + e.message() }

// message is the error without its code, which abi.Failure.Error adds itself.
func (e *NondeterminismError) message() string {
	return fmt.Sprintf("nondeterminism at event %d: history recorded %s, the code now %s",
		e.Index, describe(e.Recorded, "nothing"), describe(e.Got, "made no decision"))
}

// Failure converts the error into the infrastructure failure recorded for the instance; its
// Details hold the structured diff as JSON.
func (e *NondeterminismError) Failure() *abi.Failure {
	details, _ := json.Marshal(struct {
		Index    int64          `json:"index"`
		Recorded *history.Event `json:"recorded,omitempty"`
		Got      *history.Event `json:"got,omitempty"`
	}{e.Index, e.Recorded, e.Got})
	return &abi.Failure{Kind: abi.FailureInfrastructure, Code: e.Code, Message: e.message(), Details: details}
}

func describe(ev *history.Event, none string) string {
	if ev == nil {
		return none
	}
	s := ev.Kind.String()
	if ev.Name != "" {
		s += fmt.Sprintf(" %q", ev.Name)
	}
	if ev.Version != "" {
		s += " version " + ev.Version
	}
	if ev.InstanceID != "" {
		s += " instance " + ev.InstanceID
	}
	if ev.Kind == history.KindTimerCreated {
		s += " firing at " + fmt.Sprint(ev.FireAt)
	}
	if ev.Ref != 0 {
		s += fmt.Sprintf(" of event %d", ev.Ref)
	}
	if len(ev.Input) > 0 {
		s += " with input " + preview(ev.Input)
	}
	if len(ev.Result) > 0 || ev.Kind == history.KindExecutionCompleted {
		s += " with result " + preview(ev.Result)
	}
	if ev.Failure != nil {
		s += " with failure " + preview([]byte(ev.Failure.Error()))
	}
	return s
}

func preview(b []byte) string {
	const max = 64
	if len(b) > max {
		return fmt.Sprintf("%q... (%d bytes)", b[:max], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// failure builds an infrastructure failure with a code.
func failure(code, format string, args ...any) *abi.Failure {
	return &abi.Failure{Kind: abi.FailureInfrastructure, Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsFailure converts any error met while running a guest into the failure recorded for the
// instance: *abi.Failure and *NondeterminismError keep their codes; anything else is a trap.
func AsFailure(err error) *abi.Failure {
	var f *abi.Failure
	if errors.As(err, &f) {
		return f
	}
	var nd *NondeterminismError
	if errors.As(err, &nd) {
		return nd.Failure()
	}
	return failure(abi.CodeTrap, "guest trapped: %v", err)
}
