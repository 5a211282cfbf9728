package builtin

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/durohost/durohost/abi"
)

// Stable codes carried by the errors of the built-in activities (see Error). They follow the
// style of the codes in package abi; orchestrations and operators may match on them.
const (
	// CodeInvalidInput: the input is not valid JSON, has an unknown field, or a field is
	// missing, of the wrong type or out of range. Fix the caller; retrying will not help.
	CodeInvalidInput = "DH-BUILTIN-001"
	// CodeHostNotAllowed: the http activity was asked to contact, or was redirected to, a
	// host that is not on the allow-list (--allow-http).
	CodeHostNotAllowed = "DH-BUILTIN-002"
	// CodeShellDisabled: the shell activity was called on a host started without
	// --enable-shell.
	CodeShellDisabled = "DH-BUILTIN-003"
	// CodeTooLarge: an HTTP response body exceeded the configured limit (--http-max-body).
	CodeTooLarge = "DH-BUILTIN-004"
	// CodeTimeout: the request or command exceeded its "timeout_ms".
	CodeTimeout = "DH-BUILTIN-005"
	// CodeCommandFailed: a shell command run with "check": true exited with a non-zero code.
	CodeCommandFailed = "DH-BUILTIN-006"
)

var (
	// ErrInvalidInput is the sentinel of errors with CodeInvalidInput.
	ErrInvalidInput = errors.New("invalid input")
	// ErrHostNotAllowed is the sentinel of errors with CodeHostNotAllowed.
	ErrHostNotAllowed = errors.New("host not allowed")
	// ErrShellDisabled is the sentinel of errors with CodeShellDisabled.
	ErrShellDisabled = errors.New("shell activity disabled")
	// ErrTooLarge is the sentinel of errors with CodeTooLarge.
	ErrTooLarge = errors.New("response too large")
	// ErrTimeout is the sentinel of errors with CodeTimeout.
	ErrTimeout = errors.New("timed out")
	// ErrCommandFailed is the sentinel of errors with CodeCommandFailed.
	ErrCommandFailed = errors.New("command failed")
	// ErrInvalidConfig is returned by Activities (and by the flags of RegisterFlags) for a
	// Config that cannot be used, e.g. a malformed allow-list pattern.
	ErrInvalidConfig = errors.New("invalid built-in activity configuration")
)

// codes maps each sentinel to its stable code.
var codes = map[error]string{
	ErrInvalidInput:   CodeInvalidInput,
	ErrHostNotAllowed: CodeHostNotAllowed,
	ErrShellDisabled:  CodeShellDisabled,
	ErrTooLarge:       CodeTooLarge,
	ErrTimeout:        CodeTimeout,
	ErrCommandFailed:  CodeCommandFailed,
}

// Error is the error a built-in activity returns for a failure a user has to act on. It
// reads "[CODE] activity: message", unwraps to one of the ErrXxx sentinels (match it with
// errors.Is) and converts to the failure the orchestration sees with Failure (also through
// errors.As with a *abi.Failure target). Network errors
// and cancellation are not Errors: they wrap the underlying error (e.g. context.Canceled).
type Error struct {
	// Activity is the name of the activity that failed ("http", "shell", ...).
	Activity string
	// Code is the stable code, one of the CodeXxx constants.
	Code string
	// Message says what went wrong and what to do, without the activity name or code.
	Message string
	// Details is optional JSON with more context (e.g. the output of a failed command).
	Details json.RawMessage
	// Err is the sentinel, one of the ErrXxx variables.
	Err error
}

// newError returns an *Error for activity with the code of sentinel.
func newError(activity string, sentinel error, format string, args ...any) *Error {
	return &Error{Activity: activity, Code: codes[sentinel], Message: fmt.Sprintf(format, args...), Err: sentinel}
}

// Error returns "[CODE] activity: message".
func (e *Error) Error() string {
	return "[" + e.Code + "] " + e.Activity + ": " + e.Message
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

// As lets errors.As(err, &f) with f a *abi.Failure find the failure of an *Error (as
// returned by Failure), so that a host that looks for an *abi.Failure in an activity's
// error keeps the stable code and the details.
func (e *Error) As(target any) bool {
	if f, ok := target.(**abi.Failure); ok {
		*f = e.Failure()
		return true
	}
	return false
}

// Failure converts the error into the application failure recorded for the activity: Code
// is kept, Message is "activity: message" and Details is carried over.
func (e *Error) Failure() *abi.Failure {
	return &abi.Failure{
		Kind:    abi.FailureApplication,
		Code:    e.Code,
		Message: e.Activity + ": " + e.Message,
		Details: e.Details,
	}
}
