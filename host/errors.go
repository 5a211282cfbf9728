package host

import (
	"errors"

	"github.com/durohost/durohost/host/internal/sandbox"
	"github.com/durohost/durohost/store"
)

// Sentinel errors of the host API.
var (
	// ErrInstanceExists is returned by Client.Start when an instance with the ID exists.
	ErrInstanceExists = errors.New("instance already exists")
	// ErrNotFound is returned for an instance that does not exist (Client.Status, RaiseEvent,
	// Enqueue, Cancel, ...); it is store.ErrNotFound, so either matches with errors.Is.
	ErrNotFound = store.ErrNotFound
	// ErrUnknownOrchestration is returned by Client.Start when no loaded module registers the
	// orchestration (at the requested version).
	ErrUnknownOrchestration = errors.New("unknown orchestration")
	// ErrInvalidName is returned for a name or instance ID that is empty, longer than 1024
	// bytes, or holds a control or invisible formatting character (see abi.CheckName).
	ErrInvalidName = errors.New("invalid name")
	// ErrQuota is returned when a namespace's quota (NamespacePolicy) refuses a start or an
	// upload.
	ErrQuota = errors.New("namespace quota exceeded")
	// ErrTooLarge is returned by Client.Start, RaiseEvent and Enqueue for a payload larger
	// than the host's Limits.MaxPayload.
	ErrTooLarge = errors.New("payload too large")
	// ErrStarted is returned by Start on a running host, ErrStopped by calls after Stop.
	ErrStarted = errors.New("host already started")
	// ErrStopped is returned after Stop.
	ErrStopped = errors.New("host stopped")
	// ErrInvalidModule is wrapped by LoadModule and InspectModule for bytes that are not an
	// acceptable orchestration module; the message names every problem (forbidden imports,
	// missing exports, ABI version, size).
	ErrInvalidModule = sandbox.ErrInvalidModule
	// ErrCompileTimeout is wrapped by LoadModule, InspectModule and CompileModule when compiling
	// a module outlasts Limits.CompileTime: too large a module for the host (or too busy a
	// host); it does not say the bytes are invalid.
	ErrCompileTimeout = sandbox.ErrCompileTimeout
	// ErrBusy is wrapped by LoadModule, InspectModule, CompileModule and Replayer when no
	// compile slot was free within Limits.CompileTime (the host is busy compiling other
	// modules): try again later.
	ErrBusy = sandbox.ErrBusy
)
