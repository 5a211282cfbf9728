package durable

import (
	"errors"
	"fmt"

	"github.com/durohost/durohost/abi"
)

// Codes the SDK puts in Error.Code for failures it produces itself. Like the host's codes in
// package abi they are stable, so callers and other SDKs can match on them.
const (
	// CodePanic marks the failure of an orchestration that panicked; Error.Details holds the
	// panic's stack trace as a JSON string.
	CodePanic = "panic"
	// CodeAttemptTimeout marks an attempt of an activity or sub-orchestration that exceeded
	// RetryPolicy.AttemptTimeout (failure kind abi.FailureTimeout).
	CodeAttemptTimeout = "attempt_timeout"
	// CodeBadPayload marks a typed helper that could not encode an input or decode a result.
	CodeBadPayload = "bad_payload"
)

// Error is a failure crossing the ABI: the failure of an activity, a sub-orchestration or a
// cancelled future as seen by the orchestration, and the failure an orchestration reports when
// it returns one. Use errors.As to inspect it; return it (or wrap it) from an orchestration to
// fail with a chosen kind, code and details.
type Error struct {
	// Kind classifies the failure (application, infrastructure, cancelled, timeout).
	Kind abi.FailureKind
	// Code is a stable machine-readable code: one of abi's DH-... codes for infrastructure
	// failures, one of this package's Code... constants, or an application's own.
	Code string
	// Message is a human-readable description.
	Message string
	// Details is an opaque payload, JSON by convention.
	Details []byte
}

// NewError returns an application failure with the given code (may be empty) and message.
func NewError(code, message string) *Error {
	return &Error{Kind: abi.FailureApplication, Code: code, Message: message}
}

// Error returns the message, so that an error wrapped into an output or another error reads
// as what happened ("insufficient funds", not "application [x]: insufficient funds"); the
// kind and the code are fields, found with errors.As (or matched with errors.Is). A failure
// without a message reads as its kind and code ("timeout failure [attempt_timeout]").
func (e *Error) Error() string {
	switch {
	case e.Message != "":
		return e.Message
	case e.Code != "":
		return fmt.Sprintf("%s failure [%s]", e.Kind, e.Code)
	}
	return fmt.Sprintf("%s failure", e.Kind)
}

// Is reports whether target is an *Error whose non-zero Kind and non-empty Code both equal
// e's; messages and details are ignored. So errors.Is(err, ErrTimeout) matches every timeout
// and errors.Is(err, &Error{Code: "x"}) every failure with code "x".
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return (t.Kind == 0 || t.Kind == e.Kind) && (t.Code == "" || t.Code == e.Code)
}

// failure converts e to its wire form.
func (e *Error) failure() *abi.Failure {
	return &abi.Failure{Kind: e.Kind, Code: e.Code, Message: e.Message, Details: e.Details}
}

// errorOf converts a wire failure to an *Error.
func errorOf(f *abi.Failure) *Error {
	return &Error{Kind: f.Kind, Code: f.Code, Message: f.Message, Details: f.Details}
}

var (
	// ErrCancelled matches (with errors.Is) every failure of kind cancelled, including the
	// error of a future cancelled by Future.Cancel or by Context.Select.
	ErrCancelled = &Error{Kind: abi.FailureCancelled}
	// ErrTimeout matches every failure of kind timeout, such as an attempt that exceeded
	// RetryPolicy.AttemptTimeout.
	ErrTimeout = &Error{Kind: abi.FailureTimeout}
	// ErrContinueAsNew matches the error returned by Context.ContinueAsNew.
	ErrContinueAsNew = errors.New("durable: continue as new")
)

// continueAsNew is the error Context.ContinueAsNew returns; the run loop turns it into a
// continued_as_new outcome.
type continueAsNew struct {
	input   []byte
	version string
}

func (e *continueAsNew) Error() string        { return ErrContinueAsNew.Error() }
func (e *continueAsNew) Is(target error) bool { return target == ErrContinueAsNew }
