package bench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host"
)

// runSequences is W1 (and W6, cold): many instances, each calling "noop" several times in
// sequence. The clock runs from the first start to the last completion.
func runSequences(ctx context.Context, e *env) ([]metric, error) {
	n, steps := e.sizes.seqInstances, e.sizes.seqSteps
	all := ids("seq", n)
	t0 := time.Now()
	if err := e.startAll(ctx, "bench_sequence", "seq", n, []byte(strconv.Itoa(steps))); err != nil {
		return nil, err
	}
	if err := e.tr.wait(ctx, n); err != nil {
		return nil, err
	}
	wall := time.Since(t0)
	if err := e.checkCompleted(ctx, all...); err != nil {
		return nil, err
	}
	acts := e.tr.activityCount()
	step := ms(e.tr.meanLatency(all)) / float64(steps)
	return append([]metric{
		{"instances", float64(n), 0}, {"activities", float64(acts), 0}, {"wall_s", wall.Seconds(), 3},
		{"activities_per_s", float64(acts) / wall.Seconds(), 0},
		{"instances_per_s", float64(n) / wall.Seconds(), 1},
		{"step_ms", step, 3},
	}, e.throughput(wall)...), nil
}

// runFanout is W2: one instance schedules many activities at once and joins them.
func runFanout(ctx context.Context, e *env) ([]metric, error) {
	n := e.sizes.fanout
	t0 := time.Now()
	if err := e.startAll(ctx, "bench_fanout", "fan", 1, []byte(strconv.Itoa(n))); err != nil {
		return nil, err
	}
	if err := e.tr.wait(ctx, 1); err != nil {
		return nil, err
	}
	wall := time.Since(t0)
	if err := e.checkCompleted(ctx, "fan-0"); err != nil {
		return nil, err
	}
	acts := e.tr.activityCount()
	return append([]metric{
		{"activities", float64(acts), 0}, {"wall_s", wall.Seconds(), 3},
		{"activities_per_s", float64(acts) / wall.Seconds(), 0},
	}, e.throughput(wall)...), nil
}

// runLatency is W3: one instance at a time, each started and waited for by the client, as an
// application would; the latency is from Start to Wait returning the result.
func runLatency(ctx context.Context, e *env) ([]metric, error) {
	runs := e.sizes.latencyRuns
	lat := make([]float64, 0, runs)
	t0 := time.Now()
	for i := range runs {
		id := "one-" + strconv.Itoa(i)
		start := time.Now()
		if _, err := e.c.Start(ctx, "bench_one", nil, host.WithInstanceID(id)); err != nil {
			return nil, err
		}
		in, err := e.c.Wait(ctx, id)
		if err != nil {
			return nil, err
		}
		lat = append(lat, ms(time.Since(start)))
		if !in.Status.Finished() {
			return nil, fmt.Errorf("instance %s: status %s", id, in.Status)
		}
	}
	wall := time.Since(t0)
	if err := e.checkCompleted(ctx, ids("one", runs)...); err != nil {
		return nil, err
	}
	slices.Sort(lat)
	return append([]metric{
		{"runs", float64(runs), 0},
		{"p50_ms", percentile(lat, 0.5), 3}, {"p90_ms", percentile(lat, 0.9), 3},
		{"p99_ms", percentile(lat, 0.99), 3},
	}, e.throughput(wall)...), nil
}

// runTimers is W4: many instances each waiting one durable timer. Lateness is how long after
// its due time (the timer's fire_at) the turn that saw it fire started (its turn_started
// time), read from the histories after the run.
func runTimers(ctx context.Context, e *env) ([]metric, error) {
	n, delay := e.sizes.timerInstances, e.sizes.timer
	all := ids("timer", n)
	t0 := time.Now()
	if err := e.startAll(ctx, "bench_timer", "timer", n, []byte(strconv.FormatInt(delay.Milliseconds(), 10))); err != nil {
		return nil, err
	}
	if err := e.tr.wait(ctx, n); err != nil {
		return nil, err
	}
	wall := time.Since(t0)
	if err := e.checkCompleted(ctx, all...); err != nil {
		return nil, err
	}
	ms := e.throughput(wall)
	late := make([]float64, 0, n)
	for _, id := range all {
		h, err := e.c.History(ctx, id, 0)
		if err != nil {
			return nil, err
		}
		l, err := lateness(h)
		if err != nil {
			return nil, fmt.Errorf("instance %s: %w", id, err)
		}
		late = append(late, float64(l)/float64(time.Millisecond))
	}
	slices.Sort(late)
	return append([]metric{
		{"instances", float64(n), 0}, {"timer_ms", float64(delay.Milliseconds()), 0},
		{"wall_s", wall.Seconds(), 3},
		{"late_p50_ms", percentile(late, 0.5), 3}, {"late_p99_ms", percentile(late, 0.99), 3},
	}, ms...), nil
}

// lateness returns how long after its fire_at the timer of a history was seen fired: the
// time of the turn whose inputs hold the timer_fired event.
func lateness(h []history.Event) (time.Duration, error) {
	var fireAt, turn int64
	for _, ev := range h {
		switch ev.Kind {
		case history.KindTurnStarted:
			turn = ev.Time
		case history.KindTimerCreated:
			fireAt = ev.FireAt
		case history.KindTimerFired:
			if fireAt == 0 {
				return 0, fmt.Errorf("timer fired before it was created")
			}
			return time.Duration(turn - fireAt), nil
		}
	}
	return 0, fmt.Errorf("no timer fired in %d events", len(h))
}

// runLongSequence is W5: one instance calling "noop" many times in sequence. Step times are
// the mean time between two turns over the first and the last tenth of the steps, which shows
// whether a step gets slower as the history grows.
func runLongSequence(ctx context.Context, e *env) ([]metric, error) {
	n := e.sizes.longSteps
	e.tr.mu.Lock()
	e.tr.record = "long-0"
	e.tr.mu.Unlock()
	t0 := time.Now()
	if err := e.startAll(ctx, "bench_sequence", "long", 1, []byte(strconv.Itoa(n))); err != nil {
		return nil, err
	}
	if err := e.tr.wait(ctx, 1); err != nil {
		return nil, err
	}
	wall := time.Since(t0)
	if err := e.checkCompleted(ctx, "long-0"); err != nil {
		return nil, err
	}
	e.tr.mu.Lock()
	times := slices.Clone(e.tr.turnTimes)
	e.tr.mu.Unlock()
	tenth := max(1, (len(times)-1)/10)
	stepAt := func(from int) float64 {
		if from < 0 || from+tenth >= len(times) {
			return 0
		}
		return ms(times[from+tenth].Sub(times[from])) / float64(tenth)
	}
	step := ms(wall) / float64(n)
	ms := []metric{
		{"activities", float64(e.tr.activityCount()), 0}, {"wall_s", wall.Seconds(), 3},
		{"step_ms", step, 3},
		{"first_tenth_step_ms", stepAt(0), 3},
		{"last_tenth_step_ms", stepAt(len(times) - 1 - tenth), 3},
	}
	if e.seqStep > 0 {
		ms = append(ms, metric{"vs_W1_step", step / e.seqStep, 2})
	}
	return append(ms, e.throughput(wall)...), nil
}
