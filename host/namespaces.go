package host

import (
	"context"

	"github.com/durohost/durohost/host/internal/runtime"
)

// NamespacePolicy is what the host lets the instances of one namespace use. The zero value
// allows every registered activity and sets no quota.
type NamespacePolicy struct {
	// Activities, when not nil, lists the only activities the namespace's orchestrations may
	// call: to the namespace, any other activity is not registered (it is retried as an
	// unregistered activity would be, then fails the orchestration).
	Activities []string
	// HTTPHosts, when not nil, replaces the hosts the built-in http activity may contact for
	// this namespace (see ActivityNamespace; the activity asks for them with HTTPHosts).
	HTTPHosts []string
	// MaxInstances bounds the namespace's unfinished instances (pending ones included):
	// Client.Start refuses a start beyond it with ErrQuota (0: no bound). Sub-orchestrations
	// count toward it but are not refused: a parent's children are bounded by its history.
	MaxInstances int
	// MaxModuleBytes bounds the bytes of the distinct modules the namespace has uploaded
	// (0: no bound); enforced where modules are registered for the namespace (the server).
	MaxModuleBytes int64
	// MaxConcurrentTurns bounds the turns of the namespace's instances that run at once on
	// this host (0: no bound): a turn beyond it waits in the queue.
	MaxConcurrentTurns int
}

// WithNamespacePolicy sets the policy of each namespace (policy is called with the namespace;
// "" is the default namespace of the embedder and the CLI). Without it, every namespace may
// use every activity and has no quota.
func WithNamespacePolicy(policy func(namespace string) NamespacePolicy) Option {
	return func(c *config) { c.policy = policy }
}

// ActivityInfo describes the activity a context belongs to (see ActivityNamespace).
type ActivityInfo = runtime.ActivityInfo

// ActivityNamespace returns what the host knows of the activity whose context ctx is: the
// namespace and instance that scheduled it, its name, the delivery attempt (from 1) and the
// HTTPHosts of the namespace's policy (nil: the activity's own configuration). ok is false for
// a context that is not an activity's. An activity that serves several tenants uses it to
// apply their policies.
func ActivityNamespace(ctx context.Context) (ActivityInfo, bool) {
	return runtime.ActivityInfoFrom(ctx)
}

// NamespacePolicy returns the policy of a namespace (the zero policy without
// WithNamespacePolicy): what a caller that registers modules for it (the server) enforces.
func (h *Host) NamespacePolicy(ns string) NamespacePolicy {
	if h.cfg.policy == nil {
		return NamespacePolicy{}
	}
	return h.cfg.policy(ns)
}

// runtimePolicy turns the host's namespace policy into the runtime's.
func runtimePolicy(policy func(string) NamespacePolicy) func(string) runtime.Policy {
	if policy == nil {
		return nil
	}
	return func(ns string) runtime.Policy {
		p := policy(ns)
		return runtime.Policy{Activities: p.Activities, HTTPHosts: p.HTTPHosts,
			MaxConcurrentTurns: p.MaxConcurrentTurns, MaxInstances: p.MaxInstances}
	}
}
