// Package store defines the durable state of durohost: instances, executions, histories,
// orchestration messages, activity work items and the module registry.
//
// A store knows nothing of WebAssembly: it keeps history events (package history) and
// payloads as opaque data. store/sqlite (embedded, the default) and store/postgres (several
// hosts on one database) implement it; conformance.RunStore checks an implementation.
//
// # Writing a store
//
// Start with the core, the Store interface: what a host needs to run orchestrations turn by
// turn. Each method's comment is its contract, down to the sentinel error (errors.go) it
// returns. A store that implements the core alone is a correct store: the host runs every
// orchestration on it, and conformance.RunStore runs the core groups ("Core/...") on it.
// Three things in the core's signatures belong to capabilities, and a core store treats them
// simply: it ignores FetchTurn's known argument (it always reads the history), ignores
// StartOptions.LockFor and StartOptions.Known (StartInstance returns a nil turn), and refuses
// a commit with a claimed work item (WorkItem.Claim) with ErrInvalid. Assert at compile time
// what a store implements: var _ store.Store = (*Store)(nil), and the same for each
// capability it adds.
//
// Then, one at a time, the capabilities: optional interfaces in this package that the host
// type-asserts once and uses when a store has them, falling back on the core when it does not
// (each says what the host does with and without it, and conformance.RunStore runs its group
// only on a store that has it):
//
//   - HistorySkipper: FetchTurn does not read a history the host already holds
//     (group "KnownHistory"). Without it every turn reads its history.
//   - DirectDispatcher: the host hands work to itself in the transaction that makes it ready
//     (claimed activities, a turn locked with the start, the message or the result that makes
//     it ready, a turn committed with an activity's result); group "DirectDispatch". Without
//     it all work goes through the queues and the host's fetches.
//   - Waker: the store tells idle hosts that another one made work ready (group "Wakeups").
//     Without it idle hosts find such work by polling.
//   - Pinger: a cheap liveness check for readiness probes (group "Ping").
//
// See RATIONALE.md, "Why a core store contract and capabilities?".
//
// # Concurrency model
//
// An orchestration instance is processed by one turn at a time under an instance-level
// peek-lock (FetchTurn → CommitTurn or AbandonTurn). A turn sees the messages that were
// visible when it was fetched; messages that arrive later stay for the next turn. An activity
// work item is processed under its own peek-lock (FetchActivity → CompleteActivity or
// AbandonActivity). Locks carry a unique token and an expiry; an expired lock can be taken by
// another caller, after which the first holder's token fails with ErrLockLost.
//
// # Namespaces
//
// Every instance and every registration of the module registry belongs to one namespace,
// kept by the store as data (see RATIONALE.md, "Why are namespaces data?"). The default
// namespace "" is the embedder's and the CLI's; a server gives each tenant its own. An
// instance is still addressed by one string, its key: Key(namespace, id). The store records
// an instance's namespace when the instance is started (Message.Namespace of its start) and
// created (InstanceState.Namespace of its first commit), reports it (Instance, WorkItem),
// filters by it (Filter.Namespaces, ModuleFilter.Namespaces) and never derives it from a key.
// Registry lookups (ResolveModule) never cross namespaces.
package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
)

// Store is the core of the persistence contract: what every store implements, and all that
// a host needs to run orchestrations turn by turn. The optional capabilities
// (DirectDispatcher, HistorySkipper, Waker, Pinger) add to it. All methods are safe for
// concurrent use. After Close every method returns ErrClosed.
type Store interface {
	// Enqueue adds messages to their instances' queues (in order: within one instance, messages
	// are delivered in the order they were enqueued). A message with a VisibleAt in the future
	// (a timer) is not fetched before then. Messages to instances that do not exist are kept:
	// the first turn of an instance is fetched from its start message. ErrInvalid for a message
	// without InstanceID.
	Enqueue(ctx context.Context, msgs ...Message) error

	// StartInstance enqueues msg, the start message (an execution_started event) of a new
	// instance of namespace msg.Namespace, unless the instance exists: it has a row, or a
	// start message is queued for it (ErrExists, nothing enqueued). With opts.MaxInstances
	// positive, a namespace that already has that many unfinished instances (pending ones
	// included) refuses the start with ErrQuota (nothing enqueued). The checks and the
	// enqueue are one transaction, so of concurrent starts of one ID exactly one succeeds, and
	// concurrent starts never take a namespace past its quota. ErrInvalid for a message that
	// is not a start, has no instance ID or is not a key of its namespace (see Key), or a
	// negative LockFor or MaxInstances.
	//
	// opts.LockFor and opts.Known belong to DirectDispatcher: a store that implements it
	// also locks the instance's first turn when LockFor is positive and returns it, as
	// EnqueueAndFetch does (nil when not locked; opts.Known as EnqueueAndFetch's known). Any
	// other store ignores them and returns a nil turn, as every store does with LockFor 0.
	StartInstance(ctx context.Context, msg Message, opts StartOptions) (*Turn, error)

	// FetchTurn locks the next instance that has at least one visible message and no live lock,
	// and returns it with all its visible messages (oldest first, each with its Attempts count
	// incremented; an implementation may cap their number per turn, keeping the oldest, and
	// documents its cap) and the history of its current execution. The lock expires after lockFor.
	//
	// known belongs to HistorySkipper: a store that does not implement it ignores known and
	// always reads the history (Turn.HistoryOmitted false). A store that implements it
	// honours known (nil: the caller holds no history), which lets the caller skip the history
	// it already holds: when known(InstanceID) reports ok and the instance's current execution
	// and history length, as they are under the new lock, equal the reported execution and
	// events, the history is not read: Turn.HistoryOmitted is set and Turn.History is nil. In
	// every other case (no instance row, another execution, another length, ok false) the
	// history is read in full, as without known. known is called at most once per call, after
	// the instance is locked and outside any write transaction of the store (it may wait
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
	// (see Commit.Execution). The work items and start messages a commit enqueues belong to
	// the committing instance's namespace, whatever their Namespace fields say (see
	// Commit.Activities and Commit.Messages). The commit that creates the instance row sets
	// c.Created. On any error nothing is changed and the lock is kept.
	//
	// Claimed work items (WorkItem.Claim) belong to DirectDispatcher: a store that implements
	// it locks them for the committer (see Commit.Activities); any other store refuses a
	// commit with a claimed item with ErrInvalid.
	//
	// ErrLockLost if the token is not the live lock; ErrDuplicateEvent if an appended event's
	// ID is not the next ID of the execution's history; ErrInvalid for a malformed commit.
	CommitTurn(ctx context.Context, token string, c *Commit) error

	// AbandonTurn releases a turn's lock without changing the instance. Its messages become
	// visible again after opts.Delay. With opts.IgnoreAttempt the fetch does not count toward
	// the messages' Attempts (which never go below zero). ErrLockLost if the token is not live.
	AbandonTurn(ctx context.Context, token string, opts AbandonOptions) error

	// FetchActivity locks the next visible activity work item (oldest first) and increments its
	// Attempts. The item carries the namespace of the instance that scheduled it. ErrNoWork
	// when none is ready.
	FetchActivity(ctx context.Context, lockFor time.Duration) (*WorkItem, error)

	// RenewActivity extends a work item's lock. ErrLockLost once the item was deleted (the
	// orchestration cancelled it, or the instance was deleted): that is the signal to cancel
	// the activity.
	RenewActivity(ctx context.Context, token string, lockFor time.Duration) error

	// CompleteActivity deletes the work item and enqueues its result message in one
	// transaction. ErrLockLost (and nothing enqueued) if the item was deleted or re-locked.
	CompleteActivity(ctx context.Context, token string, result Message) error

	// AbandonActivity releases a work item's lock; it becomes visible again after delay.
	// ErrLockLost if the token is not live.
	AbandonActivity(ctx context.Context, token string, delay time.Duration) error

	// Instance returns an instance's current state, by its key. An instance whose start
	// message is queued but whose first turn has not committed is returned as StatusPending,
	// with the Namespace of its start message and the Name, Version, ModuleHash and ParentID
	// of its start event, Execution 0 and CreatedAt the start event's Time. ErrNotFound if it
	// does not exist.
	Instance(ctx context.Context, id string) (*Instance, error)

	// ListInstances returns the instances matching f, ordered by creation time then ID, one
	// page at a time (Page.Next is the token for the next page, empty at the end). Pending
	// instances (see Instance) are listed too when f has no status or names StatusPending,
	// ordered by their start's time; an instance whose first turn commits while a listing
	// pages on may be listed again, as running (its row is ordered by that commit's time).
	// With f.Namespaces, only instances of those namespaces are listed.
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
	// f are ignored; with f.Namespaces, only instances of those namespaces are deleted.
	DeleteInstances(ctx context.Context, f Filter) (int, error)

	// PruneExecutions deletes the executions of an instance (with their histories) that ended
	// before the given time, keeping at least the keepLast most recent ones and never the
	// current one. It returns how many were deleted. ErrNotFound if the instance does not exist.
	PruneExecutions(ctx context.Context, id string, before time.Time, keepLast int) (int, error)

	// QueueDepths counts what is waiting.
	QueueDepths(ctx context.Context) (*Depths, error)

	// PutModule stores a module's bytes (once, under their sha256) with its registrations in
	// namespace p.Namespace, in one transaction, and reports what it did (PutResult). The
	// registrations are stored in the order given: a later one of the same name counts as put
	// more recently (see ResolveModule). A registration that exists with the same bytes is
	// left alone (PutResult.Existing). An orchestration registration that exists with other
	// bytes is left unchanged (PutResult.Kept, with the hash it keeps): a version's code is
	// immutable, and new starts of it keep the earlier module. A module registration
	// (RegistrationModule) that exists with other bytes fails the whole put with ErrExists.
	// With p.MaxNamespaceBytes positive, a put that would take the namespace's module bytes
	// (NamespaceUsage) past it fails with ErrQuota; a put that adds no new bytes to the
	// namespace is never refused. On any error nothing is written. ErrInvalid for no bytes, no
	// registration, an unknown kind, an empty name or version, the same registration twice,
	// a namespace holding '/' or a negative MaxNamespaceBytes.
	PutModule(ctx context.Context, p ModulePut) (*PutResult, error)

	// Module returns the bytes of the module with the given hex sha256. ErrNotFound otherwise.
	Module(ctx context.Context, hash string) ([]byte, error)

	// ResolveModule returns the registration of kind, name and version in namespace ns, or,
	// when version is empty, the one of name put most recently. It looks in ns only: a name
	// another namespace registers is ErrNotFound. ErrInvalid for an empty name or an unknown
	// kind.
	ResolveModule(ctx context.Context, ns string, kind RegistrationKind, name, version string) (*ModuleInfo, error)

	// ListModules returns the registrations matching f, newest first (never nil).
	// ErrInvalid for an unknown kind.
	ListModules(ctx context.Context, f ModuleFilter) ([]ModuleInfo, error)

	// DeleteModule removes registrations of namespace ns, in one transaction: when one of
	// them does not exist it is ErrNotFound and nothing is deleted. When a deleted
	// registration's bytes are pinned by an unfinished instance of ns (pending ones included)
	// and no other registration of ns has them, it is ErrModulePinned and nothing is deleted.
	// Instances of other namespaces are not consulted (see RATIONALE.md, "Why are namespaces
	// data?"). The bytes themselves are deleted once no registration of any namespace refers
	// to them. ErrInvalid for no registration, an unknown kind or an empty name or version.
	DeleteModule(ctx context.Context, ns string, regs []Registration) error

	// NamespaceUsage returns what namespace ns holds: its distinct modules and their bytes,
	// and its unfinished instances (pending ones included).
	NamespaceUsage(ctx context.Context, ns string) (*Usage, error)

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
	ID int64
	// InstanceID is the key of the instance (see Key).
	InstanceID string
	// Namespace is, for a start message (an execution_started event), the namespace of the
	// instance it creates: the store keeps it with the queued start, so that a pending
	// instance has its namespace, and returns it with the message. It is ignored for other
	// messages (and is "" when they are fetched), and in a Commit (see Commit.Messages).
	Namespace string
	// Event is the input event to deliver (its ID is 0; Event.Execution addresses an
	// execution when non-zero).
	Event history.Event
	// VisibleAt delays delivery until that time (zero: at once).
	VisibleAt time.Time
	// Attempts is how many times the message was fetched in a turn (set by FetchTurn).
	Attempts int
}

// KnownHistory tells FetchTurn which history the caller already holds for an instance: the
// execution and the number of its events (ok false: none). Only a store that implements
// HistorySkipper calls it; see Store.FetchTurn.
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
	// Activities are work items to enqueue. They belong to the committing instance's
	// namespace (its row's; for the commit that creates the row, State.Namespace; "" for a
	// consume-only commit of an instance without a row): on success the store sets their
	// Namespace to it, whatever it was.
	//
	// Claims belong to DirectDispatcher. In a store that implements it, those with Claim set
	// are locked for the committer in the same transaction, for ClaimFor: on success
	// CommitTurn also sets their ID, Token, LockedUntil and Attempts (1), and the committer
	// runs them as if FetchActivity had returned them. A claimed item must be visible at
	// once. Any other store refuses a commit with a claimed item with ErrInvalid.
	Activities []WorkItem
	// ClaimFor is how long claimed Activities are locked; it must be positive when any is.
	ClaimFor time.Duration
	// Created is set by a successful CommitTurn that created the instance row (the first
	// commit of an instance) to the row's CreatedAt; it is left alone otherwise. (The host
	// keeps it with a live instance: it tells a deleted and recreated instance of the same ID
	// from the one it holds.)
	Created time.Time
	// Messages are enqueued for this or other instances (timers carry a VisibleAt). A start
	// message (a sub-orchestration, a detached orchestration, the next execution) creates an
	// instance of the committing instance's namespace (as for Activities): a commit cannot
	// start an instance in another namespace.
	Messages []Message
	// Consumed are the IDs of messages of this turn to delete.
	Consumed []int64
	// CancelledActivities are work items to delete (lock stealing): their holders' renew and
	// complete calls fail with ErrLockLost.
	CancelledActivities []ActivityRef
}

// InstanceState is the part of an instance a turn writes.
type InstanceState struct {
	// Namespace is the instance's namespace. The commit that creates the instance's row
	// writes it; it never changes afterwards (later commits' value is ignored).
	Namespace  string
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
	// ID is the instance's key (see Key); Namespace (in InstanceState) is its namespace.
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
	// Namespace is the namespace of the instance that scheduled the item, as the store
	// recorded it (see Commit.Activities); set by FetchActivity and on claimed items.
	Namespace string
	Name      string
	Input     []byte
	// VisibleAt delays the item (zero: at once).
	VisibleAt time.Time
	// Claim, in Commit.Activities, locks the item for the committer (see Commit.Activities:
	// only a DirectDispatcher accepts it).
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
	// Namespaces, when not empty, selects the instances (pending ones too) of these
	// namespaces only; empty selects every namespace.
	Namespaces []string
	Statuses   []Status
	Name       string
	// IDPrefix selects keys (see Key) starting with these bytes.
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

// RegistrationKind says what a registration of the module registry names. The values are
// stored; never renumber them.
type RegistrationKind uint8

// Registration kinds.
const (
	// RegistrationOrchestration is an orchestration the module registers, at its own version
	// (one without a version is registered under "sha256:" and the first 16 hex digits of the
	// module's hash). Starts and sub-orchestrations resolve these.
	RegistrationOrchestration RegistrationKind = 1
	// RegistrationModule is a name and version an uploader gave the module itself (the
	// server's module names).
	RegistrationModule RegistrationKind = 2
)

// String returns "orchestration" or "module".
func (k RegistrationKind) String() string {
	switch k {
	case RegistrationOrchestration:
		return "orchestration"
	case RegistrationModule:
		return "module"
	}
	return fmt.Sprintf("RegistrationKind(%d)", uint8(k))
}

// Valid reports whether k is a defined kind.
func (k RegistrationKind) Valid() bool {
	return k == RegistrationOrchestration || k == RegistrationModule
}

// Registration names a module in the registry: a name and version of a kind, within the
// namespace of the call.
type Registration struct {
	Kind    RegistrationKind
	Name    string
	Version string
}

// ModulePut is what Store.PutModule stores.
type ModulePut struct {
	// Namespace is the namespace of the registrations ("": the default one).
	Namespace string
	// Wasm is the module's bytes.
	Wasm []byte
	// Registrations are the names the bytes are registered under (at least one), in the
	// order they are put.
	Registrations []Registration
	// MaxNamespaceBytes, when positive, bounds the namespace's module bytes after the put
	// (Usage.ModuleBytes): ErrQuota, and nothing written, beyond it.
	MaxNamespaceBytes int64
}

// PutResult reports what Store.PutModule did.
type PutResult struct {
	// Hash is the hex sha256 of the bytes.
	Hash string
	// Created are the registrations this put created.
	Created []Registration
	// Existing are the registrations that already named the same bytes.
	Existing []Registration
	// Kept are the orchestration registrations that already named other bytes, as they stay
	// (with the hash they keep).
	Kept []ModuleInfo
}

// ModuleFilter selects registrations in Store.ListModules. Zero fields match all.
type ModuleFilter struct {
	// Namespaces, when not empty, selects registrations of these namespaces only.
	Namespaces []string
	// Kind selects one kind (0: both).
	Kind RegistrationKind
	// Name selects one name ("": any).
	Name string
	// Hash selects the registrations of one module's bytes ("": any).
	Hash string
}

// ModuleInfo is one registration in the module registry.
type ModuleInfo struct {
	Namespace string
	Kind      RegistrationKind
	Name      string
	Version   string
	Hash      string // hex sha256 of the bytes
	Size      int64
	CreatedAt time.Time
}

// Usage is what one namespace holds (Store.NamespaceUsage).
type Usage struct {
	// ModuleBytes is the size of the distinct modules (by hash) registered in the namespace.
	ModuleBytes int64
	// Modules counts those distinct modules.
	Modules int
	// Instances counts the namespace's unfinished instances, pending ones included.
	Instances int
}

// StartOptions tune Store.StartInstance.
type StartOptions struct {
	// LockFor, when positive, asks a store that implements DirectDispatcher to also lock the
	// new instance's first turn for that long and return it. Other stores ignore it (a
	// negative LockFor is ErrInvalid in every store).
	LockFor time.Duration
	// Known is as EnqueueAndFetch's known (nil: the caller holds no history), used with
	// LockFor only.
	Known KnownHistory
	// MaxInstances, when positive, bounds the unfinished instances (pending ones included) of
	// the message's namespace: a start beyond it is ErrQuota.
	MaxInstances int
}

// Key returns the key under which the store keeps instance id of namespace ns: id itself in
// the default namespace "", ns+"/"+id in any other. A namespace never holds '/', so keys of
// two namespaces other than "" never collide; the default namespace's IDs are not prefixed,
// so an embedder that also serves namespaces keeps IDs of the form "<namespace>/..." out of
// its own. The key carries the namespace only so that keys stay unique strings: the
// namespace itself is data (Instance.Namespace), never parsed from a key.
func Key(ns, id string) string {
	if ns == "" {
		return id
	}
	return ns + "/" + id
}

// LocalID returns the ID within namespace ns of the instance whose key is key: key without
// the prefix ns+"/" (key itself for ns "", or when key lacks the prefix). ns is the
// instance's namespace as the store reports it: LocalID never finds a namespace in a key.
func LocalID(ns, key string) string {
	if ns == "" {
		return key
	}
	if rest, ok := strings.CutPrefix(key, ns+"/"); ok {
		return rest
	}
	return key
}
