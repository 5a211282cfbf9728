package host

import (
	"log/slog"
	"time"

	"github.com/durohost/durohost/host/internal/sandbox"
)

// Option configures a Host (see New). Options are applied in order and validated by New.
type Option func(*config)

type config struct {
	orchWorkers, actWorkers int
	lockTimeout             time.Duration
	maxAttempts             int
	retryBase               time.Duration
	failUnregistered        bool
	pollMin, pollMax        time.Duration
	activityRenew           time.Duration
	cacheDir                string
	limits                  Limits
	liveCache               int64
	logger                  *slog.Logger
	observe                 func(Event)
	sharedRegistry          bool
	policy                  func(namespace string) NamespacePolicy
}

// Defaults.
const (
	DefaultLiveCacheBytes = 1 << 30
	// MaxModuleSize is the largest module LoadModule accepts, in bytes.
	MaxModuleSize = sandbox.DefaultMaxModuleSize
)

func defaults() config {
	return config{
		orchWorkers: 64, actWorkers: 32, lockTimeout: 30 * time.Second, maxAttempts: 10,
		retryBase: 100 * time.Millisecond, pollMin: time.Millisecond, pollMax: 100 * time.Millisecond,
		liveCache: DefaultLiveCacheBytes,
	}
}

// WithOrchestrationWorkers sets how many turns run at once (default 64: a turn spends most of
// its time waiting for its durable commit, and concurrent turns share commits; each running
// turn may hold a guest being instantiated, so this also bounds that memory).
func WithOrchestrationWorkers(n int) Option { return func(c *config) { c.orchWorkers = n } }

// WithActivityWorkers sets how many activities run at once (default 32).
func WithActivityWorkers(n int) Option { return func(c *config) { c.actWorkers = n } }

// WithLockTimeout sets how long a turn or activity lock lasts before another host may take
// the work (default 30 s); locks are renewed while the work runs.
func WithLockTimeout(d time.Duration) Option { return func(c *config) { c.lockTimeout = d } }

// WithMaxAttempts sets how many times a message is delivered, or an unregistered
// orchestration or activity retried, before the instance fails (default 10).
func WithMaxAttempts(n int) Option { return func(c *config) { c.maxAttempts = n } }

// WithRetryBase sets the first backoff delay for unregistered handlers (default 100 ms,
// doubling up to 30 s): with the default WithMaxAttempts, an activity no host registers fails
// about 51 s after its first try. Hosts that share a store in a rolling deployment need the
// wait (a new activity is called before every host has it); a host alone on its store does not
// (WithFailUnregistered).
func WithRetryBase(d time.Duration) Option { return func(c *config) { c.retryBase = d } }

// WithFailUnregistered makes an activity that no function of this host handles fail at its
// first try, with a failure (DH-UNREGISTERED-001) that lists the activities the host has, and
// likewise an orchestration (a child, a detached one) that no module of the store registers,
// instead of waiting (WithMaxAttempts, WithRetryBase) for another host on the store to
// register it. For a host that is alone on its store and knows every activity and module
// there is (durohost run): a typo then fails at once instead of in a minute.
func WithFailUnregistered() Option { return func(c *config) { c.failUnregistered = true } }

// WithPollInterval bounds the idle polling of the store (default 1 ms to 100 ms).
func WithPollInterval(min, max time.Duration) Option {
	return func(c *config) { c.pollMin, c.pollMax = min, max }
}

// WithActivityRenewInterval sets how often a running activity renews its lock, and so how
// soon it sees a cancellation (default min(lock timeout/3, 1 s)).
func WithActivityRenewInterval(d time.Duration) Option {
	return func(c *config) { c.activityRenew = d }
}

// WithCompilationCache keeps compiled modules in dir across restarts.
func WithCompilationCache(dir string) Option { return func(c *config) { c.cacheDir = dir } }

// WithLimits sets every limit at once (zero fields take their defaults, see Limits).
func WithLimits(l Limits) Option { return func(c *config) { c.limits = l } }

// WithTurnTimeout sets Limits.TurnTime, the time a guest may run in one turn (default 10 s).
func WithTurnTimeout(d time.Duration) Option { return func(c *config) { c.limits.TurnTime = d } }

// WithMemoryLimit sets Limits.MemoryPages, each guest's memory in 64 KiB pages (default
// 4096: 256 MiB).
func WithMemoryLimit(pages uint32) Option { return func(c *config) { c.limits.MemoryPages = pages } }

// WithMaxPayload sets Limits.MaxPayload, the bound of one payload crossing the ABI (default
// 4 MiB).
func WithMaxPayload(n int) Option { return func(c *config) { c.limits.MaxPayload = n } }

// WithMaxHistory sets Limits.MaxEvents, the bound of the events of one execution (default
// 100000).
func WithMaxHistory(n int) Option { return func(c *config) { c.limits.MaxEvents = n } }

// WithLiveCache bounds the memory of instances kept alive between turns (default 1 GiB: about
// 200 Go guests); 0 disables the fast path, so every turn replays from history.
func WithLiveCache(bytes int64) Option { return func(c *config) { c.liveCache = bytes } }

// WithLogger sets the logger of the host and of the guests' replay-safe logs.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithObserver receives progress events (turns committed, activities run).
func WithObserver(fn func(Event)) Option { return func(c *config) { c.observe = fn } }
