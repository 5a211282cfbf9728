package telemetry

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// Sources are what the metrics read when they are collected (each may be nil).
type Sources struct {
	// Live returns the live cache's state.
	Live func() LiveStats
	// Modules returns the module cache's state.
	Modules func() ModuleStats
	// Depths counts the store's queued work (store.Store.QueueDepths).
	Depths func(ctx context.Context) (*store.Depths, error)
}

// LiveStats is the state of the live cache (host/internal/runtime).
type LiveStats struct {
	Instances    int
	Bytes, Limit int64
	Evicts       int64
}

// ModuleStats is the state of the module cache (host.ModuleStats).
type ModuleStats struct {
	Loaded, Held int
	Bytes        int64
	Compiles     int64
}

// Metrics are the host's Prometheus metrics. It is a prometheus.Collector.
type Metrics struct {
	src Sources

	turns        *prometheus.CounterVec
	turnSeconds  *prometheus.HistogramVec
	instantiate  *prometheus.HistogramVec
	messageWait  *prometheus.HistogramVec
	timerLate    *prometheus.HistogramVec
	started      *prometheus.CounterVec
	ended        *prometheus.CounterVec
	acts         *prometheus.CounterVec
	actSeconds   *prometheus.HistogramVec
	actRetries   *prometheus.CounterVec
	commitSecs   *prometheus.HistogramVec
	commitEvents *prometheus.HistogramVec
	liveHits     prometheus.Counter
	liveMisses   prometheus.Counter

	liveInstances, liveBytes, liveLimit, liveEvicts *prometheus.Desc
	modLoaded, modHeld, modBytes, modCompiles       *prometheus.Desc
	queue, queueErr                                 *prometheus.Desc
	depthErrors                                     atomic.Int64

	// The store's queue depths, kept for depthTTL: depthMu is held while they are read, so
	// that scrapes at once wait for one query.
	depthMu  sync.Mutex
	depthAt  time.Time
	depthVal *store.Depths
	depthErr error
	now      func() time.Time

	// orchestrations and activities bound the values of the orchestration and activity
	// labels per namespace (guests choose them).
	orchestrations, activities *nameLabels
}

// Histogram buckets, in seconds.
var (
	turnBuckets     = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	activityBuckets = []float64{.0005, .001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}
	waitBuckets     = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}
	eventBuckets    = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}
)

// otherHelp tells, in the help of a metric labelled by guest names, how they are bounded.
var otherHelp = fmt.Sprintf("A namespace's names past its first %d share the label value %s.", MaxNamesPerNamespace, OtherName)

// NewMetrics returns the metrics of a host reading src.
func NewMetrics(src Sources) *Metrics {
	ns := "durohost"
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: name, Help: help, Buckets: buckets}, labels)
	}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, "", name), help, labels, nil)
	}
	return &Metrics{
		src:            src,
		now:            time.Now,
		orchestrations: newNameLabels(MaxNamesPerNamespace),
		activities:     newNameLabels(MaxNamesPerNamespace),
		turns: counter("turns_total", "Turns run by this host, by namespace, outcome (committed, dropped, abandoned, lock_lost, error) and mode (live: resumed a live instance; replay: replayed the history; new: nothing to replay).",
			"namespace", "outcome", "mode"),
		turnSeconds: histogram("turn_duration_seconds", "Wall time of a turn, from taking the instance to the end of its commit.", turnBuckets, "namespace", "outcome"),
		instantiate: histogram("instantiate_duration_seconds", "Time to instantiate a guest for a turn that does not resume a live instance.", turnBuckets, "namespace"),
		messageWait: histogram("message_wait_seconds", "Age of a message when a turn consumes it (from its creation; a timer from when it was due), by kind (activity_completed, timer_fired, event_raised, ...).",
			waitBuckets, "namespace", "kind"),
		timerLate: histogram("timer_lateness_seconds", "How late a durable timer fires: from when it was due to the turn that consumes it.", waitBuckets, "namespace"),
		started:   counter("orchestrations_started_total", "Executions started (first turns: new instances, children, continue-as-new). "+otherHelp, "namespace", "orchestration"),
		ended: counter("orchestrations_completed_total", "Executions ended, by status: completed, failed, cancelled or continued_as_new. "+otherHelp,
			"namespace", "orchestration", "status"),
		acts: counter("activity_executions_total", "Activity attempts run by this host, by outcome (completed, failed, cancelled, abandoned, unregistered). "+otherHelp,
			"namespace", "activity", "outcome"),
		actSeconds: histogram("activity_duration_seconds", "Wall time of an activity attempt.", activityBuckets, "namespace", "activity", "outcome"),
		actRetries: counter("activity_retries_total", "Activity attempts after the first delivery of their work item (the item was abandoned, or its host died).",
			"namespace", "activity"),
		commitSecs: histogram("store_commit_duration_seconds", "Latency of the store's commits, by operation (turn: a turn's commit; activity_turn: an activity result with the turn it made).",
			turnBuckets, "op"),
		commitEvents: histogram("store_commit_events", "History events written by one commit.", eventBuckets, "op"),

		liveInstances: desc("live_cache_instances", "Live instances parked between turns (the fast path)."),
		liveBytes:     desc("live_cache_bytes", "Guest memory of the parked live instances."),
		liveLimit:     desc("live_cache_limit_bytes", "The live cache's bound (host.WithLiveCache)."),
		liveHits: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "live_cache_hits_total",
			Help: "Turns that resumed a live instance."}),
		liveMisses: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "live_cache_misses_total",
			Help: "Turns with a history to replay that found no live instance (or a stale one) and replayed it."}),
		liveEvicts:  desc("live_cache_evictions_total", "Live instances evicted to stay within the bound or to make room for a turn."),
		modLoaded:   desc("modules_loaded", "Compiled modules in memory."),
		modHeld:     desc("modules_held", "Compiled modules held by instances, turns or callers."),
		modBytes:    desc("modules_bytes", "Estimated memory of the compiled modules."),
		modCompiles: desc("module_compilations_total", "Module compilations started."),
		queue: desc("queue_depth", "Work waiting in the store, for every host, by queue (messages, activities) and state (ready, delayed, running). Read from the store at a scrape, at most once a second.",
			"queue", "state"),
		queueErr: desc("queue_depth_errors_total", "Reads of the queue depths (at most one a second, shared by the scrapes) the store did not answer."),
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.turns, m.turnSeconds, m.instantiate, m.messageWait, m.timerLate, m.started, m.ended,
		m.acts, m.actSeconds, m.actRetries, m.commitSecs, m.commitEvents, m.liveHits, m.liveMisses}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
	for _, d := range []*prometheus.Desc{m.liveInstances, m.liveBytes, m.liveLimit, m.liveEvicts,
		m.modLoaded, m.modHeld, m.modBytes, m.modCompiles, m.queue, m.queueErr} {
		ch <- d
	}
}

// depthTimeout bounds the store's answer to QueueDepths during a scrape.
const depthTimeout = 5 * time.Second

// depthTTL is how long the store's queue depths are reused. Every token that may read
// /metrics (a namespace's too, though its scrape then drops them) makes a gather, and the
// depths are counts over the store's queues: without it, a tenant scraping in a loop, or at
// once, ran a store-wide count per request.
const depthTTL = time.Second

// depths returns the store's queue depths, read at most once per depthTTL; scrapes at once
// share one read.
func (m *Metrics) depths() (*store.Depths, error) {
	m.depthMu.Lock()
	defer m.depthMu.Unlock()
	if now := m.now(); m.depthAt.IsZero() || now.Sub(m.depthAt) >= depthTTL || now.Before(m.depthAt) {
		ctx, cancel := context.WithTimeout(context.Background(), depthTimeout)
		m.depthVal, m.depthErr = m.src.Depths(ctx)
		cancel()
		m.depthAt = m.now()
		if m.depthErr != nil {
			m.depthErrors.Add(1)
		}
	}
	return m.depthVal, m.depthErr
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	count := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	if m.src.Live != nil {
		s := m.src.Live()
		gauge(m.liveInstances, float64(s.Instances))
		gauge(m.liveBytes, float64(s.Bytes))
		gauge(m.liveLimit, float64(s.Limit))
		count(m.liveEvicts, float64(s.Evicts))
	}
	if m.src.Modules != nil {
		s := m.src.Modules()
		gauge(m.modLoaded, float64(s.Loaded))
		gauge(m.modHeld, float64(s.Held))
		gauge(m.modBytes, float64(s.Bytes))
		count(m.modCompiles, float64(s.Compiles))
	}
	if m.src.Depths != nil {
		if d, err := m.depths(); err == nil {
			gauge(m.queue, float64(d.Messages), "messages", "ready")
			gauge(m.queue, float64(d.DelayedMessages), "messages", "delayed")
			gauge(m.queue, float64(d.Activities), "activities", "ready")
			gauge(m.queue, float64(d.LockedActivities), "activities", "running")
			gauge(m.queue, float64(d.LockedInstances), "instances", "locked")
		}
		count(m.queueErr, float64(m.depthErrors.Load()))
	}
}

// mode is the mode label of a turn.
func mode(t *Turn) string {
	switch {
	case t.Live:
		return "live"
	case t.Fresh:
		return "new"
	}
	return "replay"
}

func (m *Metrics) turn(t *Turn, d time.Duration) {
	m.turns.WithLabelValues(t.Namespace, string(t.Outcome), mode(t)).Inc()
	switch {
	case t.Live:
		m.liveHits.Inc()
	case !t.Fresh && t.Outcome != TurnDropped:
		m.liveMisses.Inc()
	}
	m.turnSeconds.WithLabelValues(t.Namespace, string(t.Outcome)).Observe(d.Seconds())
	if t.Instantiate > 0 {
		m.instantiate.WithLabelValues(t.Namespace).Observe(t.Instantiate.Seconds())
	}
	if t.Commit > 0 {
		op := "turn"
		if t.OnResult {
			op = "activity_turn"
		}
		m.commit(op, t.Commit, len(t.Events))
	}
	if t.Outcome != TurnCommitted {
		return
	}
	start := t.Start.UnixNano()
	for k := range t.Inputs {
		in := &t.Inputs[k]
		if in.Time > 0 {
			m.messageWait.WithLabelValues(t.Namespace, in.Kind.String()).Observe(max(0, float64(start-in.Time)/1e9))
		}
		switch in.Kind {
		case history.KindTimerFired:
			if in.FireAt > 0 {
				m.timerLate.WithLabelValues(t.Namespace).Observe(max(0, float64(start-in.FireAt)/1e9))
			}
		case history.KindExecutionStarted:
			m.started.WithLabelValues(t.Namespace, m.orchestrations.value(t.Namespace, in.Name)).Inc()
		}
	}
	for k := range t.Events {
		if ev := &t.Events[k]; ev.Kind.IsTerminal() {
			m.ended.WithLabelValues(t.Namespace, m.orchestrations.value(t.Namespace, t.Orchestration), endStatus(ev.Kind)).Inc()
		}
	}
}

// endStatus is the status label of an execution's terminal event.
func endStatus(k history.Kind) string {
	switch k {
	case history.KindExecutionCompleted:
		return "completed"
	case history.KindExecutionFailed:
		return "failed"
	case history.KindExecutionContinuedAsNew:
		return "continued_as_new"
	case history.KindExecutionCancelled:
		return "cancelled"
	}
	return k.String()
}

func (m *Metrics) activity(a *Activity, d time.Duration) {
	name := m.activities.value(a.Namespace, a.Name)
	m.acts.WithLabelValues(a.Namespace, name, string(a.Outcome)).Inc()
	if a.Outcome != ActivityUnregistered {
		m.actSeconds.WithLabelValues(a.Namespace, name, string(a.Outcome)).Observe(d.Seconds())
	}
	if a.Attempt > 1 {
		m.actRetries.WithLabelValues(a.Namespace, name).Inc()
	}
}

func (m *Metrics) commit(op string, d time.Duration, events int) {
	m.commitSecs.WithLabelValues(op).Observe(d.Seconds())
	m.commitEvents.WithLabelValues(op).Observe(float64(events))
}
