package runtime

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/replay"
	"github.com/durohost/durohost/host/internal/telemetry"
	"github.com/durohost/durohost/store"
)

func (r *Runtime) activityLoop(ctx, drain context.Context) {
	if r.batcher != nil {
		r.batchActivityLoop(ctx, drain)
		return
	}
	poll(ctx, r, r.actSlots, r.wakeAct, "fetch activity",
		func() (*store.WorkItem, error) { return r.st.FetchActivity(ctx, r.cfg.LockTimeout) },
		func(wi *store.WorkItem) { r.runActivity(drain, wi) },
		func(wi *store.WorkItem) { r.abandonUnstarted(ctx, wi) })
}

// runAttempt runs one work item and commits its result with the item's deletion. Its
// context is cancelled when the lock is lost (the orchestration withdrew the item, the
// instance was deleted) or the host stops without time to drain. a, nil when telemetry is
// off, records how the attempt ended (see telemetry.go). The item's lock is renewed until
// its result is committed: that commit may run the turn that consumes the result (see
// complete), which may take as long as any turn.
func (r *Runtime) runAttempt(ctx context.Context, wi *store.WorkItem, a *telemetry.Activity) {
	fn := r.activityFor(wi.Namespace, wi.Name)
	result := history.Event{Ref: wi.EventID, Execution: wi.Execution}
	if fn == nil {
		a.SetOutcome(telemetry.ActivityUnregistered, nil)
		switch {
		case r.cfg.FailUnregistered:
			result.Kind, result.Failure = history.KindActivityFailed,
				infra(abi.CodeUnregistered, "activity %q is not registered%s: the activities are %s", wi.Name, inNamespace(wi.Namespace), r.activityNames(wi.Namespace))
		case wi.Attempts < r.cfg.MaxAttempts:
			if err := r.st.AbandonActivity(context.WithoutCancel(ctx), wi.Token, r.backoff(wi.Attempts)); err != nil && !errors.Is(err, store.ErrLockLost) {
				r.log.Warn("abandon activity", "name", wi.Name, "err", err)
			}
			return
		default:
			result.Kind, result.Failure = history.KindActivityFailed,
				infra(abi.CodeUnregistered, "no host registers activity %q%s (after %d attempts)", wi.Name, inNamespace(wi.Namespace), wi.Attempts)
		}
	} else {
		actx, cancel := context.WithCancel(context.WithValue(ctx, activityKey{}, ActivityInfo{
			Namespace: wi.Namespace, InstanceID: wi.InstanceID, Name: wi.Name, Attempt: wi.Attempts,
			HTTPHosts: r.policy(wi.Namespace).HTTPHosts,
		}))
		stop := r.renewActivity(ctx, cancel, wi.Token) // renewal outlives actx: until the result commits
		defer stop()
		r.observe(Event{InstanceID: wi.InstanceID, Activity: wi.Name})
		out, err := call(actx, fn, wi.Input)
		lost := actx.Err() != nil && ctx.Err() == nil
		cancel()
		r.observe(Event{InstanceID: wi.InstanceID, Activity: wi.Name, Done: true, Err: err})
		if lost {
			a.SetOutcome(telemetry.ActivityCancelled, err)
			r.log.Debug("activity cancelled", "name", wi.Name, "instance", wi.InstanceID)
			return
		}
		if ctx.Err() != nil {
			// Stopping: leave the item for another worker.
			a.SetOutcome(telemetry.ActivityAbandoned, err)
			if err := r.st.AbandonActivity(context.WithoutCancel(ctx), wi.Token, 0); err != nil && !errors.Is(err, store.ErrLockLost) {
				r.log.Warn("abandon activity", "name", wi.Name, "err", err)
			}
			return
		}
		switch {
		case err != nil:
			result.Kind, result.Failure = history.KindActivityFailed, toFailure(err)
			a.SetOutcome(telemetry.ActivityFailed, err)
		case len(out) > r.maxPayload():
			result.Kind, result.Failure = history.KindActivityFailed, infra(abi.CodePayloadTooLarge,
				"activity %q returned %d bytes, more than the limit of %d", wi.Name, len(out), r.maxPayload())
			a.SetOutcome(telemetry.ActivityFailed, result.Failure)
		default:
			result.Kind, result.Result = history.KindActivityCompleted, out
			a.SetOutcome(telemetry.ActivityCompleted, nil)
		}
	}
	result.Time = time.Now().UnixNano()
	r.complete(ctx, wi, store.Message{InstanceID: wi.InstanceID, Event: result})
}

// maxPayload is the payload limit of the host's engines.
func (r *Runtime) maxPayload() int {
	if r.cfg.MaxPayload > 0 {
		return r.cfg.MaxPayload
	}
	return replay.DefaultMaxPayload
}

// inNamespace names a namespace in a message (nothing for the default one).
// activityNames lists the activities a namespace may call on this host, for messages.
func (r *Runtime) activityNames(ns string) string {
	r.actMu.RLock()
	var names []string
	for name := range r.acts {
		names = append(names, name)
	}
	r.actMu.RUnlock()
	names = slices.DeleteFunc(names, func(name string) bool { return r.activityFor(ns, name) == nil })
	if len(names) == 0 {
		return "none"
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func inNamespace(ns string) string {
	if ns == "" {
		return ""
	}
	return fmt.Sprintf(" for namespace %q", ns)
}

// call runs an activity, turning a panic into a failure.
func call(ctx context.Context, fn ActivityFunc, in []byte) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &abi.Failure{Kind: abi.FailureApplication, Code: "panic", Message: fmt.Sprintf("activity panicked: %v", p), Details: debug.Stack()}
		}
	}()
	return fn(ctx, in)
}

func toFailure(err error) *abi.Failure {
	var f *abi.Failure
	if errors.As(err, &f) {
		return f
	}
	return &abi.Failure{Kind: abi.FailureApplication, Message: err.Error()}
}

// renewActivity keeps a work item's lock; losing it cancels the activity's context.
func (r *Runtime) renewActivity(ctx context.Context, lost context.CancelFunc, token string) (stop func()) {
	return keepLock(ctx, lost, r.cfg.ActivityRenew, func(ctx context.Context) error {
		return r.st.RenewActivity(ctx, token, r.cfg.LockTimeout)
	})
}
