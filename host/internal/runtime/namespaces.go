package runtime

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Policy is what the runtime applies to the instances of one namespace (see
// host.NamespacePolicy, which the host turns into it).
type Policy struct {
	// Activities, when not nil, lists the only activities the namespace may call; to it,
	// any other is not registered.
	Activities []string
	// HTTPHosts is handed to activities in their ActivityInfo.
	HTTPHosts []string
	// MaxConcurrentTurns bounds the namespace's turns running at once on this host (0: none).
	MaxConcurrentTurns int
	// MaxInstances bounds the namespace's unfinished instances at Start (0: none).
	MaxInstances int
}

// policy returns the policy of a namespace.
func (r *Runtime) policy(ns string) Policy {
	if r.cfg.Policy == nil {
		return Policy{}
	}
	return r.cfg.Policy(ns)
}

// activityFor returns the activity name as the namespace sees it: nil when no host function is
// registered under it or the namespace may not call it.
func (r *Runtime) activityFor(ns, name string) ActivityFunc {
	fn := r.activity(name)
	if fn == nil {
		return nil
	}
	if p := r.policy(ns); p.Activities != nil && !slices.Contains(p.Activities, name) {
		return nil
	}
	return fn
}

// turnGate counts the running turns of each namespace that has a MaxConcurrentTurns. A turn
// refused at the limit goes back to the queue for a while (wait): the while doubles with each
// refusal in a row of the namespace, from namespaceWait up to maxNamespaceWait, so that a
// namespace with many waiting turns does not keep the store busy fetching and giving them back.
type turnGate struct {
	mu      sync.Mutex
	running map[string]int
	refused map[string]int // refusals in a row, by namespace
}

const (
	namespaceWait    = 20 * time.Millisecond
	maxNamespaceWait = time.Second
)

// enter takes a turn slot of namespace ns (limit: its MaxConcurrentTurns, 0 for none); false
// when the namespace is at its limit. A true enter is followed by leave.
func (g *turnGate) enter(ns string, limit int) bool {
	if limit <= 0 {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running[ns] >= limit {
		if g.refused == nil {
			g.refused = map[string]int{}
		}
		g.refused[ns]++
		return false
	}
	if g.running == nil {
		g.running = map[string]int{}
	}
	g.running[ns]++
	delete(g.refused, ns)
	return true
}

// wait is how long a turn of ns refused by enter waits before it is tried again.
func (g *turnGate) wait(ns string) time.Duration {
	g.mu.Lock()
	n := g.refused[ns]
	g.mu.Unlock()
	d := namespaceWait
	for i := 1; i < n && d < maxNamespaceWait; i++ {
		d *= 2
	}
	return min(d, maxNamespaceWait)
}

func (g *turnGate) leave(ns string, limit int) {
	if limit <= 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running[ns]--; g.running[ns] <= 0 {
		delete(g.running, ns)
	}
}

// ActivityInfo describes the activity a context belongs to (see ActivityInfoFrom).
type ActivityInfo struct {
	Namespace  string
	InstanceID string
	Name       string
	Attempt    int
	HTTPHosts  []string
}

type activityKey struct{}

// ActivityInfoFrom returns the ActivityInfo of an activity's context.
func ActivityInfoFrom(ctx context.Context) (ActivityInfo, bool) {
	info, ok := ctx.Value(activityKey{}).(ActivityInfo)
	return info, ok
}
