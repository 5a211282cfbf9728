// Package store defines the durable state of durohost: instances, executions, histories,
// orchestration messages, activity work items and the module registry.
//
// The Store interface is the contract every implementation (store/sqlite, store/postgres)
// fulfils; conformance.RunStore checks it. A store knows nothing of WebAssembly: it keeps
// history events (package history) and payloads as opaque data.
//
// Concurrency model (see DESIGN.md §7): an orchestration instance is processed by one turn at a
// time under an instance-level peek-lock (FetchTurn → CommitTurn or AbandonTurn). A turn sees
// the messages that were visible when it was fetched; messages that arrive later stay for the
// next turn. An activity work item is processed under its own peek-lock (FetchActivity →
// CompleteActivity or AbandonActivity). Locks carry a unique token and an expiry; an expired
// lock can be taken by another caller, after which the first holder's token fails with
// ErrLockLost.
package store

import (
	"context"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
)

// Store is the persistence contract of the host. All methods are safe for concurrent use.
// After Close every method returns ErrClosed.
type Store interface {
	// Enqueue adds messages to their instances' queues (in order: within one instance, messages
	// are delivered in the order they were enqueued). A message with a VisibleAt in the future
	// (a timer) is not fetched before then. Messages to instances that do not exist are kept:
	// the first turn of an instance is fetched from its start message. ErrInvalid for a message
	// without InstanceID.
	Enqueue(ctx context.Context, msgs ...Message) error

	// StartInstance enqueues msg, the start message (an execution_started event) of a new
	// instance, unless the instance exists: it has a row, or a start message is queued for it
	// (ErrExists, nothing enqueued). The check and the enqueue are one transaction, so of
	// concurrent starts of one ID exactly one succeeds. With lockFor positive it also locks the
	// instance's first turn and returns it, as EnqueueAndFetch does (nil when not locked);
	// with lockFor 0 the turn is nil. ErrInvalid for a message that is not a start or has no
	// instance ID, or a negative lockFor.
	StartInstance(ctx context.Context, msg Message, lockFor time.Duration, known KnownHistory) (*Turn, error)

	// EnqueueAndFetch enqueues one message and, in the same transaction, fetches the turn of
	// its instance: when the instance (with or without a row) has no live lock and the message
	// is visible at once, it is locked for lockFor and its turn is returned as FetchTurn returns
	// it (all its visible messages, the new one among them; known as in FetchTurn). Otherwise
	// the turn is nil and the message waits in the queue. It lets a host that starts an
	// instance (or signals one it does not run) run the turn at once without a separate
	// fetch. Errors as Enqueue (an error means nothing was enqueued; a turn that was locked but
	// could not be read is not returned and goes back to the dispatchers); ErrInvalid when
	// lockFor is not positive.
	EnqueueAndFetch(ctx context.Context, msg Message, lockFor time.Duration, known KnownHistory) (*Turn, error)

	// FetchTurn locks the next instance that has at least one visible message and no live lock,
	// and returns it with all its visible messages (oldest first, each with its Attempts count
	// incremented; an implementation may cap their number per turn, keeping the oldest, and
	// documents its cap) and the history of its current execution. The lock expires after lockFor.
	//
	// known (nil: the caller holds no history) lets the caller skip the history it already
	// holds: when known(InstanceID) reports ok and the instance's current execution and
	// history length, as they are under the new lock, equal the reported execution and events,
	// the history is not read: Turn.HistoryOmitted is set and Turn.History is nil. In every
	// other case (no instance row, another execution, another length, ok false) the history is
	// read in full, as without known. known is called at most once per call, after the
	// instance is locked and outside any write transaction of the store (it may wait
	// briefly, see RATIONALE.md "Why does FetchTurn skip the histories the host holds?");
	// it must not call the store.
	//
	// Returns ErrNoWork when no instance is ready; ErrInvalid when lockFor is not positive.
	FetchTurn(ctx context.Context, lockFor time.Duration, known KnownHistory) (*Turn, error)

	// RenewTurn extends the lock of a turn to now+lockFor. ErrLockLost if the token is not the
	// live lock of its instance (expired and re-fetched, deleted, already committed).
	RenewTurn(ctx context.Context, token string, lockFor time.Duration) error

	// CommitTurn applies a turn in one transaction: it checks the lock, writes the instance and
	// execution rows, appends History, enqueues Activities and Messages, deletes the Consumed
	// messages and the CancelledActivities work items, starts the next execution when
	// ContinueAsNew is set, and releases the lock. A commit with Execution 0 is consume-only
	// (see Commit.Execution). On any error nothing is changed and the lock is kept.
	// ErrLockLost if the token is not the live lock; ErrDuplicateEvent if an appended event's
	// ID is not the next ID of the execution's history; ErrInvalid for a malformed commit.
	CommitTurn(ctx context.Context, token string, c *Commit) error

	// AbandonTurn releases a turn's lock without changing the instance. Its messages become
	// visible again after opts.Delay. With opts.IgnoreAttempt the fetch does not count toward
	// the messages' Attempts (which never go below zero). ErrLockLost if the token is not live.
	AbandonTurn(ctx context.Context, token string, opts AbandonOptions) error

	// FetchActivity locks the next visible activity work item (oldest first) and increments its
	// Attempts. ErrNoWork when none is ready.
	FetchActivity(ctx context.Context, lockFor time.Duration) (*WorkItem, error)

	// RenewActivity extends a work item's lock. ErrLockLost once the item was deleted (the
	// orchestration cancelled it, or the instance was deleted): that is the signal to cancel
	// the activity.
	RenewActivity(ctx context.Context, token string, lockFor time.Duration) error

	// CompleteActivity deletes the work item and enqueues its result message in one
	// transaction. ErrLockLost (and nothing enqueued) if the item was deleted or re-locked.
	CompleteActivity(ctx context.Context, token string, result Message) error

	// CompleteActivityAndFetch is CompleteActivity followed, in the same transaction, by the
	// FetchTurn of the result's instance: when the instance has a row, no live lock and the
	// result is visible at once, it is locked for lockFor and its turn is returned as
	// FetchTurn returns it (all its visible messages, the result among them; known as in
	// FetchTurn). Otherwise the turn is nil and the result waits in the queue like
	// CompleteActivity's. It lets a host that runs an instance's activity run the turn that
	// consumes its result without a separate fetch. Errors as CompleteActivity; ErrInvalid
	// when lockFor is not positive.
	CompleteActivityAndFetch(ctx context.Context, token string, result Message, lockFor time.Duration, known KnownHistory) (*Turn, error)

	// CompleteActivityWithTurn deletes the work item of token and commits c, a turn of the
	// result's instance computed on the result, in one transaction and without a turn lock.
	// A host that holds an instance's current history (a live instance) runs the turn that
	// consumes an activity's result before anything is written, and so saves the transaction
	// that queues the result and the one that locks the instance. The commit applies only
	// if the instance has a row created at created, no live turn lock, and its current
	// execution is c.Execution with exactly c.History[0].ID-1 events; otherwise it is
	// ErrConflict and nothing is written (the caller then completes the activity as usual).
	// c must append History to an existing execution and consume no message. ErrLockLost
	// (nothing written) if token is not the work item's live lock; ErrInvalid for a malformed
	// commit. Claimed activities of c are claimed as in CommitTurn.
	CompleteActivityWithTurn(ctx context.Context, token string, created time.Time, c *Commit) error

	// AbandonActivity releases a work item's lock; it becomes visible again after delay.
	// ErrLockLost if the token is not live.
	AbandonActivity(ctx context.Context, token string, delay time.Duration) error

	// Instance returns an instance's current state. An instance whose start message is queued
	// but whose first turn has not committed is returned as StatusPending, with the Name,
	// Version, ModuleHash and ParentID of its start message, Execution 0 and CreatedAt the
	// start event's Time. ErrNotFound if it does not exist.
	Instance(ctx context.Context, id string) (*Instance, error)

	// ListInstances returns the instances matching f, ordered by creation time then ID, one
	// page at a time (Page.Next is the token for the next page, empty at the end). Pending
	// instances (see Instance) are listed too when f has no status or names StatusPending,
	// ordered by their start's time; an instance whose first turn commits while a listing
	// pages on may be listed again, as running (its row is ordered by that commit's time).
	ListInstances(ctx context.Context, f Filter) (*Page, error)

	// Executions returns every execution of an instance that was not pruned, oldest first.
	// ErrNotFound if the instance does not exist.
	Executions(ctx context.Context, id string) ([]Execution, error)

	// History returns the events of one execution (0: the current one), in order.
	// ErrNotFound if the instance or execution does not exist.
	History(ctx context.Context, id string, execution uint32) ([]history.Event, error)

	// Children returns the instances whose parent is id (sub-orchestrations; not detached
	// ones), ordered by creation. ErrNotFound if id does not exist.
	Children(ctx context.Context, id string) ([]Instance, error)

	// DeleteInstance deletes an instance with its executions, histories, messages, work items,
	// lock and every descendant (children, recursively). A live turn lock or activity lock on
	// any of them is lost: their commits fail with ErrLockLost. ErrRunning if any of them is
	// running (or pending) and force is false; ErrNotFound if id does not exist.
	DeleteInstance(ctx context.Context, id string, force bool) error

	// DeleteInstances deletes every finished instance matching f (running ones are skipped)
	// with their descendants, and returns how many root instances were deleted. Page fields of
	// f are ignored.
	DeleteInstances(ctx context.Context, f Filter) (int, error)

	// PruneExecutions deletes the executions of an instance (with their histories) that ended
	// before the given time, keeping at least the keepLast most recent ones and never the
	// current one. It returns how many were deleted. ErrNotFound if the instance does not exist.
	PruneExecutions(ctx context.Context, id string, before time.Time, keepLast int) (int, error)

	// QueueDepths counts what is waiting.
	QueueDepths(ctx context.Context) (*Depths, error)

	// PutModule stores module bytes under their sha256 and records name/version metadata
	// (a version may be re-put with the same bytes; different bytes for an existing
	// name/version is ErrInvalid). Returns the hex hash.
	PutModule(ctx context.Context, name, version string, wasm []byte) (string, error)

	// Module returns the bytes of the module with the given hex sha256. ErrNotFound otherwise.
	Module(ctx context.Context, hash string) ([]byte, error)

	// ResolveModule returns the registration of name at version, or the most recently put
	// version when version is empty. ErrNotFound if there is none.
	ResolveModule(ctx context.Context, name, version string) (*ModuleInfo, error)

	// ListModules returns the registrations of name (all names when empty), newest first.
	ListModules(ctx context.Context, name string) ([]ModuleInfo, error)

	// DeleteModule removes the registration name/version, and the bytes when no registration
	// refers to them any more. ErrModulePinned if an instance that is not finished pins its
	// hash; ErrNotFound if there is no such registration.
	DeleteModule(ctx context.Context, name, version string) error

	// Close releases every resource. Further calls return ErrClosed.
	Close() error
}

// Status is the state of an instance or execution.
type Status uint8

// Statuses. The numeric values are stored; never renumber them.
const (
	// StatusPending: the start message is enqueued but no turn has run yet. It is never
	// stored in an instance row: Instance and ListInstances derive it from the queued start
	// message.
	StatusPending Status = 0
	// StatusRunning: the instance has started and not ended.
	StatusRunning Status = 1
	// StatusCompleted: ended with an output.
	StatusCompleted Status = 2
	// StatusFailed: ended with a failure.
	StatusFailed Status = 3
	// StatusCancelled: ended by a cancellation.
	StatusCancelled Status = 4
	// StatusContinuedAsNew: an execution (never an instance) that ended by continue-as-new.
	StatusContinuedAsNew Status = 5
)

var statusNames = [...]string{"pending", "running", "completed", "failed", "cancelled", "continued_as_new"}

// String returns the lower-case name of the status.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "unknown"
}

// ParseStatus returns the status String names.
func ParseStatus(name string) (Status, bool) {
	for i, n := range statusNames {
		if n == name {
			return Status(i), true
		}
	}
	return 0, false
}

// Finished reports whether the status is terminal for an instance.
func (s Status) Finished() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCancelled
}

// Message is an event travelling to an instance's queue.
type Message struct {
	// ID is assigned by the store on Enqueue; it orders an instance's messages.
	ID         int64
	InstanceID string
	// Event is the input event to deliver (its ID is 0; Event.Execution addresses an
	// execution when non-zero).
	Event history.Event
	// VisibleAt delays delivery until that time (zero: at once).
	VisibleAt time.Time
	// Attempts is how many times the message was fetched in a turn (set by FetchTurn).
	Attempts int
}

// KnownHistory tells FetchTurn which history the caller already holds for an instance: the
// execution and the number of its events (ok false: none). See Store.FetchTurn.
type KnownHistory func(instanceID string) (execution uint32, events int, ok bool)

// Turn is a locked instance with its pending messages and current history.
type Turn struct {
	InstanceID  string
	Token       string
	LockedUntil time.Time
	// Instance is nil when the instance has no row yet (its start message is among Messages,
	// or messages arrived for an instance that does not exist).
	Instance *Instance
	// Execution is the current execution ID (0 when Instance is nil).
	Execution uint32
	// Events is the length of the current execution's history under this turn's lock:
	// len(History), or, when HistoryOmitted, the events that FetchTurn's known reported.
	Events int
	// HistoryOmitted: the current execution and history length are the ones FetchTurn's
	// known reported for this instance, so History was not read (it is nil).
	HistoryOmitted bool
	// History is the current execution's history, in order (nil when HistoryOmitted).
	History  []history.Event
	Messages []Message
}

// MaxAttempts returns the largest Attempts among the turn's messages (0 if none).
func (t *Turn) MaxAttempts() int {
	m := 0
	for _, msg := range t.Messages {
		m = max(m, msg.Attempts)
	}
	return m
}

// Commit is the outcome of a turn, applied atomically by CommitTurn.
type Commit struct {
	// State is the instance's new state; the store creates the instance row on the first
	// commit and overwrites these fields afterwards.
	State InstanceState
	// Execution is the execution History is appended to: the current one, or 1 for an
	// instance that has no row yet. 0 makes the commit consume-only: State is ignored, no
	// instance, execution or history row is written (none is created for an instance that
	// has no row), and only Consumed, Activities, Messages and CancelledActivities apply,
	// with the release of the lock (used to drop messages addressed to an instance that does
	// not exist). A consume-only commit with History or ContinueAsNew is ErrInvalid.
	Execution uint32
	// History is appended to the execution's history. Event IDs must continue the existing
	// sequence (1, 2, 3, ...) with no gap.
	History []history.Event
	// ContinueAsNew ends Execution with StatusContinuedAsNew and makes Execution+1 current,
	// with an empty history. The ExecutionStarted message for it travels in Messages.
	ContinueAsNew bool
	// Activities are work items to enqueue. Those with Claim set are locked for the committer
	// in the same transaction, for ClaimFor: on success CommitTurn sets their ID, Token,
	// LockedUntil and Attempts (1), and the committer runs them as if FetchActivity had
	// returned them. A claimed item must be visible at once.
	Activities []WorkItem
	// ClaimFor is how long claimed Activities are locked; it must be positive when any is.
	ClaimFor time.Duration
	// Created is set by a successful CommitTurn that created the instance row (the first
	// commit of an instance) to the row's CreatedAt; it is left alone otherwise.
	Created time.Time
	// Messages are enqueued for this or other instances (timers carry a VisibleAt).
	Messages []Message
	// Consumed are the IDs of messages of this turn to delete.
	Consumed []int64
	// CancelledActivities are work items to delete (lock stealing): their holders' renew and
	// complete calls fail with ErrLockLost.
	CancelledActivities []ActivityRef
}

// InstanceState is the part of an instance a turn writes.
type InstanceState struct {
	Name       string
	Version    string
	ModuleHash string
	ParentID   string
	Status     Status
	Output     []byte
	Failure    *abi.Failure
	// CustomStatus is the orchestration's custom status (nil: none).
	CustomStatus []byte
}

// Instance is an orchestration instance as stored.
type Instance struct {
	ID string
	InstanceState
	// Execution is the current execution ID (1 for the first).
	Execution   uint32
	CreatedAt   time.Time
	UpdatedAt   time.Time
	CompletedAt time.Time // zero while not finished
}

// Execution describes one execution of an instance.
type Execution struct {
	ID        uint32
	Status    Status
	Events    int
	CreatedAt time.Time
	// CompletedAt is zero while the execution is current and not finished.
	CompletedAt time.Time
}

// ActivityRef names one activity work item: the ActivityScheduled event that created it.
type ActivityRef struct {
	InstanceID string
	Execution  uint32
	EventID    int64
}

// WorkItem is an activity to run.
type WorkItem struct {
	// ID is assigned by the store.
	ID int64
	ActivityRef
	Name  string
	Input []byte
	// VisibleAt delays the item (zero: at once).
	VisibleAt time.Time
	// Claim, in Commit.Activities, locks the item for the committer (see Commit).
	Claim bool
	// Set by FetchActivity (and by CommitTurn for a claimed item):
	Attempts    int
	Token       string
	LockedUntil time.Time
}

// AbandonOptions tune AbandonTurn.
type AbandonOptions struct {
	// Delay before the messages are visible again.
	Delay time.Duration
	// IgnoreAttempt undoes this fetch's increment of the messages' Attempts.
	IgnoreAttempt bool
}

// Filter selects instances in ListInstances and DeleteInstances. Zero fields match all.
type Filter struct {
	Statuses      []Status
	Name          string
	IDPrefix      string
	CreatedAfter  time.Time // inclusive
	CreatedBefore time.Time // exclusive
	// PageSize limits a page (0: 100; at most 1000). PageToken continues a previous listing.
	PageSize  int
	PageToken string
}

// Page is one page of a listing.
type Page struct {
	Instances []Instance
	// Next is the token of the next page, empty when this is the last.
	Next string
}

// Depths counts queued work.
type Depths struct {
	// Messages visible now, and delayed (timers) for later.
	Messages, DelayedMessages int
	// Activities not locked, and locked (running).
	Activities, LockedActivities int
	// LockedInstances have a live turn lock.
	LockedInstances int
}

// ModuleInfo is one registration in the module registry.
type ModuleInfo struct {
	Name      string
	Version   string
	Hash      string // hex sha256 of the bytes
	Size      int64
	CreatedAt time.Time
}
