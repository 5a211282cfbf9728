package store

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// The capabilities: optional interfaces that a store implements beside the core (Store). The
// host type-asserts them once, when it is created, and uses what it finds; each says what
// the host does with it and without it. conformance.RunStore runs a capability's group only
// on a store that has it. See RATIONALE.md, "Why a core store contract and capabilities?".

// DirectDispatcher is the capability of a store to hand work to the host that makes it
// ready, in the transaction that makes it ready, instead of through a queue and a later
// fetch (see RATIONALE.md, "Why dispatch directly?"). A store that implements it also
// honours two parts of the core's methods that other stores refuse or ignore:
//
//   - claims in CommitTurn: a work item with WorkItem.Claim is locked for the committer for
//     Commit.ClaimFor (see Commit.Activities), and so in CompleteActivityWithTurn;
//   - StartOptions.LockFor and StartOptions.Known in StartInstance: the new instance's first
//     turn is locked and returned, as EnqueueAndFetch does.
//
// The known arguments of its methods are as FetchTurn's: honoured only by a store that is
// also a HistorySkipper, ignored (the history read in full) by any other.
//
// With it, a host claims the activities it can run when it commits a turn and runs them at
// once; when an activity ends, it runs the turn that consumes the result on the live
// instance and commits it with the completion (CompleteActivityWithTurn), or locks that turn
// in the completion's transaction (CompleteActivityAndFetch); its starts and signals lock the
// turn they make ready (StartInstance with LockFor, EnqueueAndFetch). A sequential step of
// an orchestration then costs one transaction. Without it, the host commits turns without
// claims, completes activities with CompleteActivity, starts instances without LockFor and
// signals them with Enqueue, and its dispatchers fetch every turn and work item (FetchTurn,
// FetchActivity): four transactions per step, no other difference in behaviour.
type DirectDispatcher interface {
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
}

// EagerStarter is the capability of a store to create an instance together with its first
// turn, computed by the host before anything is written (see RATIONALE.md, "Why does a start
// run its first turn before it is written?"). Without it, a start costs a transaction of its
// own (StartInstance) before its first turn's commit; with it, a host that can run the first
// turn at once runs it on the start message in memory and writes both in one transaction, so
// a one-activity orchestration costs two commits instead of three. The start is acknowledged
// only once that transaction committed: a host that dies before it leaves nothing behind.
type EagerStarter interface {
	// StartWithTurn starts a new instance and commits its first turn in one transaction:
	// msg is the start message, checked as StartInstance checks it (ErrExists when the
	// instance has a row or a queued start, ErrQuota beyond opts.MaxInstances of its
	// namespace, ErrInvalid as there; opts.LockFor and opts.Known must be zero), and c the
	// turn the host computed on msg.Event alone: it must create execution 1 (c.Execution 1,
	// History starting at event ID 1 and holding msg.Event), consume no message, and name
	// msg's namespace in c.State.Namespace. The start message is never queued; the instance
	// row is created unlocked, with c.Created set to its creation time, and c's work items
	// and messages are written as CommitTurn writes them, claims included (claimed items as
	// in DirectDispatcher; a store that takes no claims refuses a claimed item with
	// ErrInvalid). Nothing is written when it fails.
	StartWithTurn(ctx context.Context, msg Message, opts StartOptions, c *Commit) error
}

// ActivityBatcher is the capability of a store to lock several activity work items in one
// call. Without it, a host's activity dispatchers fetch one work item per store call
// (FetchActivity); with it, a dispatcher that finds work fetches as many items as the host has
// free activity workers, so that a fan-out of many activities costs a store call per batch,
// not per activity.
type ActivityBatcher interface {
	// FetchActivities locks up to max visible work items for lockFor, the ones FetchActivity
	// would return first, and returns them (in no particular order) as FetchActivity returns
	// one: each with its own token, its Attempts incremented. It returns ErrNoWork when none is visible; ErrInvalid when lockFor or max
	// is not positive. A store may lock fewer than max even when more are visible (it
	// documents its cap).
	FetchActivities(ctx context.Context, lockFor time.Duration, max int) ([]WorkItem, error)
}

// HistorySkipper is the capability of a store to leave unread the histories that the host
// already holds (see RATIONALE.md, "Why does FetchTurn skip the histories the host holds?").
// A store whose SkipsKnownHistory reports true honours the known argument of FetchTurn as
// that method describes, and, if it is a DirectDispatcher too, the known arguments of
// EnqueueAndFetch and CompleteActivityAndFetch and StartOptions.Known.
//
// With it, a host passes the histories of its live instances (parked after their last turn)
// as known, and a turn of a live instance costs nothing that grows with its history. Without
// it (or when SkipsKnownHistory reports false) the host passes nil: every turn reads its
// history, and a live instance resumes only when that history ends where the instance's does.
type HistorySkipper interface {
	// SkipsKnownHistory reports whether the store honours known arguments; its answer does
	// not change while the store is open. A store of its own returns true: the answer exists
	// so that a type that wraps a store it does not know can forward that store's capability.
	SkipsKnownHistory() bool
}

// Wake says which kinds of work a wake-up announces, as bits.
type Wake uint8

// Kinds of work a wake-up announces.
const (
	// WakeTurns: a message became visible (an instance's turn may be ready: FetchTurn).
	WakeTurns Wake = 1 << iota
	// WakeActivities: a work item became visible (FetchActivity).
	WakeActivities
)

// String names the kinds of w, "turns|activities" for both ("none" for none).
func (w Wake) String() string {
	var parts []string
	if w&WakeTurns != 0 {
		parts = append(parts, "turns")
	}
	if w&WakeActivities != 0 {
		parts = append(parts, "activities")
	}
	if rest := w &^ (WakeTurns | WakeActivities); rest != 0 {
		parts = append(parts, "Wake("+strconv.Itoa(int(rest))+")")
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "|")
}

// Waker is the capability of a store to tell an idle host that work became ready, made
// ready by any host, process or store value that shares the store's data (PostgreSQL's
// LISTEN/NOTIFY, for example).
//
// With it, a host's idle dispatchers wait for a wake-up as well as for their poll timer, and
// poll less often (at least once a second by default, instead of every 100 ms): work that
// another host makes ready is taken at once, and idle hosts cost the store less. Without it,
// they find that work by polling. A host polls in both cases, since work that becomes visible
// with time (a timer coming due, a delay passing, a lock expiring) is announced by no one.
type Waker interface {
	// Wakeups returns a channel that receives, after work became visible at once, the kinds
	// of that work:
	//
	//   - WakeTurns after a message is enqueued visible at once (Enqueue, StartInstance, the
	//     Messages of a commit, an activity's result), after AbandonTurn with no delay, and
	//     after a commit that releases an instance whose queue holds visible messages;
	//   - WakeActivities after a work item is enqueued visible at once and not claimed (the
	//     Activities of a commit), and after AbandonActivity with no delay.
	//
	// Wake-ups are hints. They may be coalesced (a receiver that is slow gets one value
	// holding every kind announced meanwhile) and spurious (the work may be taken by the time
	// it is fetched, and a store may announce kinds it is unsure of, e.g. after a lost
	// connection); work made visible by this store value is announced too. The call returns
	// once the store listens: work made visible after it returns is announced. The channel is
	// closed when ctx ends or the store is closed.
	//
	// ErrClosed after Close. An error wrapping errors.ErrUnsupported says that the store
	// cannot deliver wake-ups after all (a wrapper of a store that has none): the host then
	// only polls. After any other error the host polls and asks again later.
	Wakeups(ctx context.Context) (<-chan Wake, error)
}

// Pinger is the capability of a store to answer a cheap liveness check, for a readiness
// probe that calls it often. Ping returns nil when the store answers; ErrClosed after Close.
// Without it, the server's readiness probe looks up an instance that does not exist instead.
type Pinger interface {
	Ping(ctx context.Context) error
}
