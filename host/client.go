package host

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/runtime"
	"github.com/durohost/durohost/store"
)

// What a client returns, named in this package so that checking an outcome needs only this
// import: the types are those of packages store and abi (aliases, not copies).
type (
	// Instance is an instance's state, as Client.Status, Wait and List return it.
	Instance = store.Instance
	// Status is an instance's status (Instance.Status).
	Status = store.Status
	// Failure is why an instance failed or was cancelled (Instance.Failure): a kind, a stable
	// code (abi's DH-... codes for the host's failures, or the guest's own) and a message.
	Failure = abi.Failure
	// FailureKind classifies a Failure.
	FailureKind = abi.FailureKind
	// Filter selects the instances Client.List returns.
	Filter = store.Filter
	// Page is a page of Client.List.
	Page = store.Page
	// Execution describes one execution of an instance (Client.Executions).
	Execution = store.Execution
)

// Statuses of an instance (see store.Status).
const (
	StatusPending   = store.StatusPending
	StatusRunning   = store.StatusRunning
	StatusCompleted = store.StatusCompleted
	StatusFailed    = store.StatusFailed
	StatusCancelled = store.StatusCancelled
)

// Kinds of a Failure (see abi.FailureKind).
const (
	FailureApplication    = abi.FailureApplication
	FailureInfrastructure = abi.FailureInfrastructure
	FailureCancelled      = abi.FailureCancelled
	FailureTimeout        = abi.FailureTimeout
)

// Client starts, observes, signals and manages instances. A client made by Host.Client is
// woken by that host's commits; one made by NewClient (another process sharing the store)
// polls with backoff. Safe for concurrent use.
//
// Every method names an instance by its key (see store.Key): its ID in the default namespace
// "", the embedder's and the CLI's; store.Key(ns, id) for an instance started WithNamespace
// (Start returns it).
type Client struct {
	st store.Store
	rt *runtime.Runtime
	// maxPayload bounds an input, event data or queue message (the host's Limits.MaxPayload;
	// the default for a client made by NewClient).
	maxPayload int
}

// NewClient returns a client working directly on a store.
func NewClient(st store.Store) *Client { return &Client{st: st, maxPayload: DefaultLimits.MaxPayload} }

// checkPayload refuses a payload the instance's engine would refuse (ErrTooLarge), so that it
// fails the caller rather than the instance.
func (c *Client) checkPayload(what string, b []byte) error {
	if len(b) > c.maxPayload {
		return fmt.Errorf("%w: %s of %d bytes is more than the limit of %d", ErrTooLarge, what, len(b), c.maxPayload)
	}
	return nil
}

// StartOption configures Client.Start.
type StartOption func(*startOptions)

type startOptions struct {
	id, version, hash, ns string
}

// WithInstanceID sets the new instance's ID (default: a random one). The guest SDK's option
// for a child's ID has the same name and meaning (see RATIONALE.md, "Why these option
// names?").
func WithInstanceID(id string) StartOption { return func(o *startOptions) { o.id = id } }

// WithOrchestrationVersion starts a given version of the orchestration (default: the latest
// loaded), as the guest SDK's option of the same name does for a child.
func WithOrchestrationVersion(v string) StartOption { return func(o *startOptions) { o.version = v } }

// WithVersion is the former name of WithOrchestrationVersion.
//
// Deprecated: use WithOrchestrationVersion; WithVersion read like the guest SDK's option that
// registers an orchestration under a version. It is removed in the next release.
func WithVersion(v string) StartOption { return WithOrchestrationVersion(v) }

// WithNamespace starts the instance in namespace ns (default: "", the embedder's): the
// orchestration is resolved among the registrations of ns only, the instance and everything
// it starts belong to ns, and its key is store.Key(ns, id). A namespace is printable and holds
// no '/'.
func WithNamespace(ns string) StartOption { return func(o *startOptions) { o.ns = ns } }

// WithModuleHash pins the new instance to the module with this hex sha256, which must be in
// the store, instead of resolving the orchestration in the registry (used by callers that keep
// their own registry, see Host.InspectModule). The version, if any, is only recorded.
func WithModuleHash(hash string) StartOption { return func(o *startOptions) { o.hash = hash } }

// Start enqueues a new instance of the orchestration name with input and returns its key (its
// ID, in the default namespace). The instance is pinned to the module currently registered for
// the orchestration in its namespace. It returns ErrInstanceExists (and the key) when an
// instance with that key exists, ErrUnknownOrchestration when no module of the namespace
// registers name (at version).
func (c *Client) Start(ctx context.Context, name string, input []byte, opts ...StartOption) (string, error) {
	var o startOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := checkName("orchestration name", name); err != nil {
		return "", err
	}
	if err := c.checkPayload("input", input); err != nil {
		return "", err
	}
	if o.ns != "" {
		if err := checkName("namespace", o.ns); err != nil {
			return "", err
		}
		if strings.Contains(o.ns, "/") {
			return "", fmt.Errorf("namespace %q holds '/'", o.ns)
		}
	}
	if o.id == "" {
		var b [16]byte
		rand.Read(b[:])
		o.id = hex.EncodeToString(b[:])
	} else if err := checkName("instance ID", o.id); err != nil {
		return "", err
	}
	mod, err := &store.ModuleInfo{Hash: o.hash}, error(nil)
	if o.hash == "" {
		mod, err = c.st.ResolveModule(ctx, o.ns, store.RegistrationOrchestration, name, o.version)
	}
	if errors.Is(err, store.ErrNotFound) {
		where := ""
		if o.ns != "" {
			where = fmt.Sprintf(" in namespace %q", o.ns)
		}
		if o.version != "" {
			return "", fmt.Errorf("start: orchestration %q version %q%s: %w (load a module that registers it)", name, o.version, where, ErrUnknownOrchestration)
		}
		return "", fmt.Errorf("start: orchestration %q%s: %w (load a module that registers it)", name, where, ErrUnknownOrchestration)
	}
	if err != nil {
		return "", fmt.Errorf("start: %w", err)
	}
	version := o.version
	if version == "" && o.hash == "" && !strings.HasPrefix(mod.Version, "sha256:") {
		// The version the registry chose is the one that runs: recorded, status and lists
		// say it (a version the registry made up from the hash is not the guest's).
		version = mod.Version
	}
	ev := history.Event{Kind: history.KindExecutionStarted, Name: name, Version: version,
		Input: input, ModuleHash: mod.Hash, Time: time.Now().UnixNano()}
	key := store.Key(o.ns, o.id)
	msg := store.Message{InstanceID: key, Namespace: o.ns, Event: ev}
	var err2 error
	if c.rt != nil {
		err2 = c.rt.Start(ctx, msg)
	} else {
		_, err2 = c.st.StartInstance(ctx, msg, store.StartOptions{})
	}
	switch {
	case errors.Is(err2, store.ErrExists):
		return key, fmt.Errorf("start %q: %w", key, ErrInstanceExists)
	case errors.Is(err2, store.ErrQuota):
		return "", fmt.Errorf("start %q: %w: %v", key, ErrQuota, err2)
	case err2 != nil:
		return "", fmt.Errorf("start: %w", err2)
	}
	return key, nil
}

func (c *Client) wake() {
	if c.rt != nil {
		c.rt.Wake()
	}
}

// Status returns an instance's state (ErrNotFound if it does not exist yet).
func (c *Client) Status(ctx context.Context, id string) (*Instance, error) {
	return c.st.Instance(ctx, id)
}

// Wait blocks until the instance has ended (completed, failed or cancelled) or ctx ends, and
// returns its final state. An instance that does not exist yet is waited for.
func (c *Client) Wait(ctx context.Context, id string) (*Instance, error) {
	return c.waitFor(ctx, id, func(in *store.Instance) bool { return in.Status.Finished() })
}

// WaitCustomStatus blocks until the instance's custom status differs from prev (or it ends).
func (c *Client) WaitCustomStatus(ctx context.Context, id string, prev []byte) (*Instance, error) {
	return c.waitFor(ctx, id, func(in *store.Instance) bool {
		return in.Status.Finished() || !bytes.Equal(in.CustomStatus, prev) || (in.CustomStatus == nil) != (prev == nil)
	})
}

func (c *Client) waitFor(ctx context.Context, id string, done func(*store.Instance) bool) (*store.Instance, error) {
	delay := 5 * time.Millisecond
	for {
		in, finished, err := c.waitOnce(ctx, id, done, &delay)
		if finished || err != nil {
			return in, err
		}
	}
}

// waitOnce checks the instance once and waits for its next change, a poll delay or ctx.
func (c *Client) waitOnce(ctx context.Context, id string, done func(*store.Instance) bool, delay *time.Duration) (*store.Instance, bool, error) {
	var changed <-chan struct{}
	if c.rt != nil {
		var unwatch func()
		changed, unwatch = c.rt.Watch(id)
		defer unwatch()
	}
	in, err := c.st.Instance(ctx, id)
	switch {
	case err == nil && done(in):
		return in, true, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return nil, false, err
	}
	t := time.NewTimer(*delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return in, false, ctx.Err()
	case <-changed:
	case <-t.C:
		*delay = min(2**delay, time.Second)
	}
	return nil, false, nil
}

// HistoryOption selects the events Client.History returns.
type HistoryOption func(*historyOptions)

type historyOptions struct{ decisions, noTurns bool }

// DecisionsOnly makes Client.History return only the decisions the orchestration's code made
// (history.Kind.IsDecision: what it scheduled, started, waited for, and how it ended): the
// events a code change can make diverge.
func DecisionsOnly() HistoryOption { return func(o *historyOptions) { o.decisions = true } }

// WithoutTurnMarkers makes Client.History leave out the turn_started events that open each
// turn (the host's bookkeeping: a turn's logical time), keeping inputs and decisions.
func WithoutTurnMarkers() HistoryOption { return func(o *historyOptions) { o.noTurns = true } }

// History returns the events of one execution (0: the current one), every event unless
// options select some (DecisionsOnly, WithoutTurnMarkers). Events keep their IDs, so a
// selection has gaps; replay needs the whole history.
func (c *Client) History(ctx context.Context, id string, execution uint32, opts ...HistoryOption) ([]history.Event, error) {
	evs, err := c.st.History(ctx, id, execution)
	if err != nil || len(opts) == 0 {
		return evs, err
	}
	var o historyOptions
	for _, opt := range opts {
		opt(&o)
	}
	out := evs[:0:0]
	for _, e := range evs {
		switch {
		case o.decisions && !e.Kind.IsDecision():
		case o.noTurns && e.Kind == history.KindTurnStarted:
		default:
			out = append(out, e)
		}
	}
	return out, nil
}

// Executions lists an instance's executions.
func (c *Client) Executions(ctx context.Context, id string) ([]Execution, error) {
	return c.st.Executions(ctx, id)
}

// RaiseEvent sends the external event name with data to the instance's current execution.
// It returns ErrNotFound when no instance id exists (a pending one, started but not yet run,
// exists). An event for an instance that has ended is dropped, as is one that arrives after
// the instance was deleted between the check and the send.
func (c *Client) RaiseEvent(ctx context.Context, id, name string, data []byte) error {
	return c.send(ctx, id, "event name", history.Event{Kind: history.KindEventRaised, Name: name, Input: data})
}

// Enqueue adds data to the instance's persistent queue. It returns ErrNotFound when no
// instance id exists; messages for an instance that has ended are dropped.
func (c *Client) Enqueue(ctx context.Context, id, queue string, data []byte) error {
	return c.send(ctx, id, "queue name", history.Event{Kind: history.KindQueueMessage, Name: queue, Input: data})
}

// Cancel asks the instance to stop: it ends as cancelled, its running activities are
// withdrawn (their contexts cancelled) and its children cancelled. It returns ErrNotFound when
// no instance id exists; cancelling an instance that has ended does nothing.
func (c *Client) Cancel(ctx context.Context, id, reason string) error {
	if reason == "" {
		reason = "cancelled by a client"
	}
	ev := history.Event{Kind: history.KindCancelRequested, Input: []byte(reason)}
	return c.send(ctx, id, "", ev)
}

func (c *Client) send(ctx context.Context, id, what string, ev history.Event) error {
	if err := checkName("instance ID", id); err != nil {
		return err
	}
	if what != "" {
		if err := checkName(what, ev.Name); err != nil {
			return err
		}
	}
	if err := c.checkPayload("data", ev.Input); err != nil {
		return err
	}
	// The store drops a message for an instance it does not have: tell the caller, whose typo
	// would otherwise vanish.
	if _, err := c.st.Instance(ctx, id); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("instance %q: %w", truncate(id, 64), ErrNotFound)
	} else if err != nil {
		return err
	}
	ev.Time = time.Now().UnixNano()
	return c.submit(ctx, store.Message{InstanceID: id, Event: ev})
}

// submit enqueues a message; a running host of this client also takes the turn it makes
// ready, in the same transaction, and runs it at once (see runtime.Runtime.Submit).
func (c *Client) submit(ctx context.Context, msg store.Message) error {
	if c.rt != nil {
		return c.rt.Submit(ctx, msg)
	}
	return c.st.Enqueue(ctx, msg)
}

// List returns instances matching f, a page at a time (f.Namespaces selects namespaces).
func (c *Client) List(ctx context.Context, f Filter) (*Page, error) {
	return c.st.ListInstances(ctx, f)
}

// Delete deletes an instance and its descendants (running ones only with force).
func (c *Client) Delete(ctx context.Context, id string, force bool) error {
	return c.st.DeleteInstance(ctx, id, force)
}

// Prune deletes old executions of an instance (never the current one).
func (c *Client) Prune(ctx context.Context, id string, before time.Time, keepLast int) (int, error) {
	return c.st.PruneExecutions(ctx, id, before, keepLast)
}

// Tree is an instance with its sub-orchestrations.
type Tree struct {
	Instance store.Instance
	Children []*Tree
}

// Tree returns the instance and its descendants.
func (c *Client) Tree(ctx context.Context, id string) (*Tree, error) {
	in, err := c.st.Instance(ctx, id)
	if err != nil {
		return nil, err
	}
	return c.tree(ctx, *in, 0)
}

func (c *Client) tree(ctx context.Context, in store.Instance, depth int) (*Tree, error) {
	t := &Tree{Instance: in}
	if depth > 64 {
		return t, nil
	}
	kids, err := c.st.Children(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	for _, k := range kids {
		sub, err := c.tree(ctx, k, depth+1)
		if err != nil {
			return nil, err
		}
		t.Children = append(t.Children, sub)
	}
	return t, nil
}
