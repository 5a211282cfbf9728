package sandbox

import "errors"

var (
	// ErrInvalidModule is returned by Load for bytes that are not an acceptable orchestration
	// module; the message names every problem (forbidden imports, missing exports, ...).
	ErrInvalidModule = errors.New("invalid orchestration module")
	// ErrCompileTimeout is returned by Compile when compiling the module outlasts the compile
	// budget (Config.CompileTimeout): the module is too large for the host, or the host too
	// busy; it is not a verdict on the module's validity.
	ErrCompileTimeout = errors.New("compilation took longer than its budget")
	// ErrBusy is returned by Compile when no compile slot was free within the compile budget:
	// the host is busy compiling other modules; try again later.
	ErrBusy = errors.New("the host is busy compiling other modules")
	// ErrReplayTimeout is Result.Err of a turn whose replay of recorded history outlasted
	// Config.ReplayTimeout: the host's problem, never recorded as the instance's failure.
	ErrReplayTimeout = errors.New("replay took longer than its budget")
	// ErrHostBusy is Result.Err of a turn whose guest reached Config.TurnWallTimeout before
	// using its CPU budget: it was waiting for a busy host, which is not its failure.
	ErrHostBusy = errors.New("turn outlasted its wall-time budget on a busy host")
	// ErrMemoryBudget is Result.Err of a turn whose guest could not grow its memory because
	// the guests of the host together reached Config.GuestMemory: the turn is retried.
	ErrMemoryBudget = errors.New("the host's guest memory budget is spent")
	// ErrClosed is returned after the runtime or the instance was closed.
	ErrClosed = errors.New("sandbox closed")
	// errKilled unwinds a parked guest when its instance is discarded.
	errKilled = errors.New("instance discarded")
)
