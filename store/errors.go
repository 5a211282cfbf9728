package store

import "errors"

// Sentinel errors returned by Store implementations. Callers test them with errors.Is; the
// conformance suite checks that every implementation returns the documented one.
var (
	// ErrNoWork is returned by FetchTurn and FetchActivity when nothing is ready.
	ErrNoWork = errors.New("no work ready")
	// ErrLockLost is returned when a lock token is unknown, expired, or was taken from its
	// holder (the instance or work item was deleted, or another caller re-locked it).
	ErrLockLost = errors.New("lock lost")
	// ErrNotFound is returned when an instance, execution or module does not exist.
	ErrNotFound = errors.New("not found")
	// ErrRunning is returned when deleting a running instance without force.
	ErrRunning = errors.New("instance still running")
	// ErrDuplicateEvent is returned by CommitTurn when an appended event's ID is already in
	// the execution's history or is not the next ID; the commit changes nothing.
	ErrDuplicateEvent = errors.New("duplicate or out-of-order history event")
	// ErrInvalid is returned for arguments that can never succeed (an empty instance ID, an
	// execution ID of zero where one is required, a negative duration, a claimed work item
	// in a commit to a store that is not a DirectDispatcher).
	ErrInvalid = errors.New("invalid argument")
	// ErrCorrupt is returned when a stored row cannot be decoded; the message names the row.
	ErrCorrupt = errors.New("corrupt store data")
	// ErrModulePinned is returned by DeleteModule when an unfinished instance of the
	// namespace pins the bytes of a registration it would delete.
	ErrModulePinned = errors.New("module pinned by an instance")
	// ErrSchemaTooNew is returned by Open when the database was written by a newer version.
	ErrSchemaTooNew = errors.New("database schema is newer than this build")
	// ErrExists is returned by StartInstance when the instance exists (it has a row, or a
	// start message is queued for it; nothing is enqueued), and by PutModule when a module
	// registration exists with other bytes (nothing is written).
	ErrExists = errors.New("already exists")
	// ErrQuota is returned when a call would take a namespace past a bound its caller gave
	// (StartOptions.MaxInstances, ModulePut.MaxNamespaceBytes); nothing is written.
	ErrQuota = errors.New("namespace quota exceeded")
	// ErrConflict is returned by CompleteActivityWithTurn when the instance changed since the
	// turn was computed (another turn committed or holds the lock); nothing is written.
	ErrConflict = errors.New("instance changed since the turn was computed")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("store closed")
)
