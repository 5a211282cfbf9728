package host_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store"
)

// sample sums the values of the series of family name whose labels include want: a
// counter's or gauge's value, a histogram's sample count.
func sample(t *testing.T, g prometheus.Gatherer, name string, want map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	found := false
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue series
				}
			}
			found = true
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				sum += m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				sum += m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum, found
}

// waitSample waits until the series of name with labels reach at least min (a turn's
// metrics are recorded just after waiters are told of its commit).
func waitSample(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string, min float64) float64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, _ := sample(t, g, name, labels)
		if v >= min {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want at least %v", name, labels, v, min)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	must(t, e.h.RegisterActivity("fails", func(context.Context, []byte) ([]byte, error) { return nil, errors.New("no") }))
	reg := prometheus.NewPedanticRegistry()
	must(t, e.h.EnableMetrics(reg))
	if err := e.h.EnableMetrics(prometheus.NewRegistry()); !errors.Is(err, host.ErrAlreadyEnabled) {
		t.Fatalf("second EnableMetrics: %v, want ErrAlreadyEnabled", err)
	}

	if in := e.run("sequence", `3`); in.Status != store.StatusCompleted {
		t.Fatalf("sequence: %v %+v", in.Status, in.Failure)
	}
	if in := e.run("timer", `20`); in.Status != store.StatusCompleted {
		t.Fatalf("timer: %v %+v", in.Status, in.Failure)
	}
	if in := e.run("activity_fail", `null`); in.Status != store.StatusFailed {
		t.Fatalf("activity_fail: %v", in.Status)
	}

	waitSample(t, reg, "durohost_orchestrations_completed_total", map[string]string{"orchestration": "sequence", "status": "completed"}, 1)
	waitSample(t, reg, "durohost_orchestrations_completed_total", map[string]string{"orchestration": "timer", "status": "completed"}, 1)
	waitSample(t, reg, "durohost_orchestrations_completed_total", map[string]string{"orchestration": "activity_fail", "status": "failed"}, 1)
	for _, name := range []string{"sequence", "timer", "activity_fail"} {
		waitSample(t, reg, "durohost_orchestrations_started_total", map[string]string{"orchestration": name, "namespace": ""}, 1)
	}
	waitSample(t, reg, "durohost_activity_executions_total", map[string]string{"activity": "step", "outcome": "completed"}, 3)
	waitSample(t, reg, "durohost_activity_duration_seconds", map[string]string{"activity": "step", "outcome": "completed"}, 3)
	waitSample(t, reg, "durohost_activity_executions_total", map[string]string{"activity": "fails", "outcome": "failed"}, 1)
	waitSample(t, reg, "durohost_timer_lateness_seconds", nil, 1)
	waitSample(t, reg, "durohost_message_wait_seconds", map[string]string{"kind": "timer_fired"}, 1)
	// sequence 3: a first turn and one per result; the others at least two each.
	committed := waitSample(t, reg, "durohost_turns_total", map[string]string{"outcome": "committed"}, 8)
	if h, _ := sample(t, reg, "durohost_turn_duration_seconds", map[string]string{"outcome": "committed"}); h != committed {
		t.Errorf("turn duration histogram counts %v turns, the counter %v", h, committed)
	}
	if v, _ := sample(t, reg, "durohost_turns_total", map[string]string{"mode": "new"}); v < 3 {
		t.Errorf("turns in mode new = %v, want at least 3 (one per instance)", v)
	}
	if v, _ := sample(t, reg, "durohost_live_cache_hits_total", nil); v < 1 {
		t.Errorf("live cache hits = %v, want some (the sequence's turns resume it)", v)
	}
	if v, _ := sample(t, reg, "durohost_store_commit_duration_seconds", nil); v < committed {
		t.Errorf("store commits = %v, want at least the committed turns (%v)", v, committed)
	}
	for _, name := range []string{"durohost_instantiate_duration_seconds", "durohost_live_cache_limit_bytes",
		"durohost_modules_loaded", "durohost_module_compilations_total", "durohost_live_cache_evictions_total"} {
		if _, ok := sample(t, reg, name, nil); !ok {
			t.Errorf("no %s", name)
		}
	}
	if v, ok := sample(t, reg, "durohost_queue_depth", map[string]string{"queue": "messages", "state": "ready"}); !ok || v < 0 {
		t.Errorf("queue depth: %v %v", v, ok)
	}

	// An event waiting: the queue gauges read the store.
	ctx := context.Background()
	id, err := e.c.Start(ctx, "event", nil, host.WithInstanceID("waits"))
	must(t, err)
	waitSample(t, reg, "durohost_orchestrations_started_total", map[string]string{"orchestration": "event"}, 1)
	must(t, e.c.RaiseEvent(ctx, id, "approve", []byte(`1`)))
	waitSample(t, reg, "durohost_message_wait_seconds", map[string]string{"kind": "event_raised"}, 1)
}

func TestMetricsNames(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewPedanticRegistry()
	must(t, e.h.EnableMetrics(reg))
	e.run("hello", `"x"`)
	waitSample(t, reg, "durohost_activity_executions_total", nil, 1)
	mfs, err := reg.Gather() // the pedantic registry checks the descriptions and label sets
	must(t, err)
	for _, mf := range mfs {
		name := mf.GetName()
		if !strings.HasPrefix(name, "durohost_") {
			t.Errorf("%s: not durohost_", name)
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			if !strings.HasSuffix(name, "_total") {
				t.Errorf("counter %s does not end in _total", name)
			}
		case dto.MetricType_HISTOGRAM:
			if !strings.HasSuffix(name, "_seconds") && !strings.HasSuffix(name, "_events") {
				t.Errorf("histogram %s names no unit", name)
			}
		}
	}
}
