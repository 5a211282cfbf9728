//go:build unix

package scaleout

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store"
)

// job is one instance of the workload: an orchestration of the Go test guest
// (conformance/guests/go) with its input, and what it must produce.
type job struct {
	id    string
	orch  string
	input any
	// n is the number of activities of a sequence or fanout, the milliseconds of a timer.
	n int
	// lateEvent: the event of an "event" job is raised after the kill (else right after the
	// start).
	lateEvent bool
}

// Kinds of jobs, by orchestration of the test guest.
const (
	orchSequence = "sequence" // step(0) .. step(n-1), one after the other
	orchFanout   = "fanout"   // step(0) .. step(n-1) at once
	orchTimer    = "timer"    // a durable timer of n ms
	orchEvent    = "event"    // waits for the external event "approve"
	orchChild    = "child"    // sub-orchestration hello(id): greet(id)
	orchContinue = "continue" // counts 0 to 3 through continue-as-new
)

// workload returns total jobs, the kinds interleaved in proportion to their weights, so that
// every kind is in flight at any moment.
func workload(total int) []job {
	mix := []struct {
		orch   string
		weight int
	}{{orchSequence, 10}, {orchFanout, 6}, {orchTimer, 4}, {orchEvent, 4}, {orchChild, 4}, {orchContinue, 2}}
	// One round of the pattern holds each kind weight times, spread over the round.
	type slot struct {
		at   float64
		orch string
	}
	var pattern []slot
	for _, m := range mix {
		for k := range m.weight {
			pattern = append(pattern, slot{(float64(k) + 0.5) / float64(m.weight), m.orch})
		}
	}
	slices.SortStableFunc(pattern, func(a, b slot) int { return cmp.Compare(a.at, b.at) })
	var jobs []job
	counts := map[string]int{}
	for i := range total {
		m := pattern[i%len(pattern)]
		k := counts[m.orch]
		counts[m.orch]++
		j := job{id: fmt.Sprintf("so-%s-%03d", m.orch, k), orch: m.orch}
		switch m.orch {
		case orchSequence:
			j.n = 8 + k%5
			j.input = j.n
		case orchFanout:
			j.n = 6 + k%5
			j.input = j.n
		case orchTimer:
			j.n = 300 + 70*(k%40)
			j.input = j.n
		case orchEvent:
			j.lateEvent = k%2 == 1
		case orchChild:
			j.input = j.id
		case orchContinue:
			j.input = 0
		}
		jobs = append(jobs, j)
	}
	return jobs
}

// eventData is the data of the event raised for an "event" job, its output.
func (j job) eventData() []byte { return []byte(`{"for":` + strconv.Quote(j.id) + `}`) }

// checkOutput checks the output of a completed job: hosts are the names of the hosts that
// may have run its activities.
func (j job) checkOutput(out []byte, hosts []string) error {
	var want any
	switch j.orch {
	case orchSequence, orchFanout:
		var got []Result
		if err := json.Unmarshal(out, &got); err != nil || len(got) != j.n {
			return fmt.Errorf("output %s is not %d results (%v)", out, j.n, err)
		}
		for i, r := range got {
			if v := fmt.Sprintf("%s/%d", j.id, i); r.Value != v || !slices.Contains(hosts, r.Host) {
				return fmt.Errorf("output %s: result %d is %+v, want value %q from one of %v", out, i, r, v, hosts)
			}
		}
		return nil
	case orchTimer:
		var got struct{ Before, After *int64 }
		if err := json.Unmarshal(out, &got); err != nil || got.Before == nil || got.After == nil {
			return fmt.Errorf("output %s is not {before, after} (%v)", out, err)
		}
		if d := *got.After - *got.Before; d < int64(j.n) {
			return fmt.Errorf("output %s: the timer of %d ms advanced logical time by %d ms", out, j.n, d)
		}
		return nil
	case orchEvent:
		want = json.RawMessage(j.eventData())
	case orchChild:
		var got Result
		if err := json.Unmarshal(out, &got); err != nil {
			return fmt.Errorf("output %s is not a result (%v)", out, err)
		}
		if v := "Hello, " + j.id + "!"; got.Value != v || !slices.Contains(hosts, got.Host) {
			return fmt.Errorf("output %s, want value %q from one of %v", out, v, hosts)
		}
		return nil
	case orchContinue:
		want = 3
	}
	wb, err := json.Marshal(want)
	if err != nil {
		return err
	}
	if !jsonEqual(out, wb) {
		return fmt.Errorf("output %s, want %s", out, wb)
	}
	return nil
}

// jsonEqual reports whether a and b are the same JSON value.
func jsonEqual(a, b []byte) bool {
	ca, erra := canonical(a)
	cb, errb := canonical(b)
	return erra == nil && errb == nil && ca == cb
}

// canonical returns the JSON value of b re-encoded (object keys sorted, no spaces).
func canonical(b []byte) (string, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return "", err
	}
	c, err := json.Marshal(v)
	return string(c), err
}

// activityKey names one activity call of the workload: its instance, name and input
// (canonical JSON). Every call of the workload has its own key.
type activityKey struct{ instance, activity, input string }

func (k activityKey) String() string { return k.instance + " " + k.activity + "(" + k.input + ")" }

// scheduled is an activity a history scheduled: its key, and where the history records its
// completion.
type scheduled struct {
	key activityKey
	// completedAt is the ID of the activity_completed event; result is its result.
	completedAt int64
	result      []byte
}

// checked is what checkJob found in the histories of a job (and of its child).
type checked struct {
	activities []scheduled
}

// checkJob checks the histories of a completed job: each execution's events are numbered 1
// to n, start with a turn and end with the one terminal event; every completion refers to an
// earlier decision of its kind and no decision is completed twice; and the execution holds
// exactly the decisions and completions its orchestration makes, each once (turn markers
// aside, whose number depends on how the work was cut into turns).
func checkJob(ctx context.Context, c *host.Client, j job) (checked, error) {
	var res checked
	execs, err := c.Executions(ctx, j.id)
	if err != nil {
		return res, err
	}
	wantExecs := 1
	if j.orch == orchContinue {
		wantExecs = 4
	}
	if len(execs) != wantExecs {
		return res, fmt.Errorf("%d executions, want %d", len(execs), wantExecs)
	}
	one := map[history.Kind]int{history.KindExecutionStarted: 1, history.KindExecutionCompleted: 1}
	with := func(m map[history.Kind]int, kinds ...history.Kind) map[history.Kind]int {
		m = maps.Clone(m)
		for i := 0; i < len(kinds); i += 2 {
			m[kinds[i]] = int(kinds[i+1])
		}
		return m
	}
	for i, ex := range execs {
		want := one
		switch j.orch {
		case orchSequence, orchFanout:
			want = with(one, history.KindActivityScheduled, history.Kind(j.n), history.KindActivityCompleted, history.Kind(j.n))
		case orchTimer:
			want = with(one, history.KindTimerCreated, 1, history.KindTimerFired, 1)
		case orchEvent:
			want = with(one, history.KindEventSubscribed, 1, history.KindEventRaised, 1)
		case orchChild:
			want = with(one, history.KindSubOrchestrationScheduled, 1, history.KindSubOrchestrationCompleted, 1)
		case orchContinue:
			if i < 3 {
				want = map[history.Kind]int{history.KindExecutionStarted: 1, history.KindCustomStatusSet: 1,
					history.KindExecutionContinuedAsNew: 1}
			}
		}
		evs, err := c.History(ctx, j.id, ex.ID)
		if err != nil {
			return res, err
		}
		acts, err := checkExecution(evs, want)
		if err != nil {
			return res, fmt.Errorf("execution %d: %w", ex.ID, err)
		}
		for _, a := range acts {
			if a.key.activity != "step" {
				return res, fmt.Errorf("execution %d: activity %s, want step", ex.ID, a.key)
			}
			a.key.instance = j.id
			res.activities = append(res.activities, a)
		}
		if j.orch == orchSequence || j.orch == orchFanout {
			var inputs []string
			for _, a := range acts {
				inputs = append(inputs, a.key.input)
			}
			slices.Sort(inputs)
			var want []string
			for k := range j.n {
				want = append(want, strconv.Itoa(k))
			}
			slices.Sort(want)
			if !slices.Equal(inputs, want) {
				return res, fmt.Errorf("execution %d: step inputs %v, want %v", ex.ID, inputs, want)
			}
		}
		if j.orch == orchChild {
			child, err := checkChild(ctx, c, j, evs)
			if err != nil {
				return res, err
			}
			res.activities = append(res.activities, child)
		}
	}
	return res, nil
}

// checkChild checks the history of the child of a "child" job (whose parent history is evs)
// and returns its activity.
func checkChild(ctx context.Context, c *host.Client, j job, evs []history.Event) (scheduled, error) {
	var id string
	for _, e := range evs {
		if e.Kind == history.KindSubOrchestrationScheduled {
			id = e.InstanceID
		}
	}
	in, err := c.Status(ctx, id)
	if err != nil {
		return scheduled{}, fmt.Errorf("child %q: %w", id, err)
	}
	if in.Status != store.StatusCompleted || in.ParentID != j.id {
		return scheduled{}, fmt.Errorf("child %q: status %s, parent %q", id, in.Status, in.ParentID)
	}
	cevs, err := c.History(ctx, id, 0)
	if err != nil {
		return scheduled{}, fmt.Errorf("child %q: %w", id, err)
	}
	acts, err := checkExecution(cevs, map[history.Kind]int{history.KindExecutionStarted: 1,
		history.KindActivityScheduled: 1, history.KindActivityCompleted: 1, history.KindExecutionCompleted: 1})
	if err != nil {
		return scheduled{}, fmt.Errorf("child %q: %w", id, err)
	}
	a := acts[0]
	if want := (activityKey{"", "greet", strconv.Quote(j.id)}); a.key != want {
		return scheduled{}, fmt.Errorf("child %q: activity %s, want %s", id, a.key, want)
	}
	a.key.instance = id
	return a, nil
}

// checkExecution checks the events of one execution (see checkJob) against the number of
// events of each kind it must hold (turn markers aside), and returns its activities.
func checkExecution(evs []history.Event, want map[history.Kind]int) ([]scheduled, error) {
	if len(evs) == 0 || evs[0].Kind != history.KindTurnStarted {
		return nil, fmt.Errorf("the history does not start with a turn: %v", kinds(evs))
	}
	got := map[history.Kind]int{}
	byID := map[int64]history.Event{}
	completed := map[int64]int64{} // decision ID -> completion ID
	var acts []scheduled
	for i, e := range evs {
		if e.ID != int64(i+1) {
			return nil, fmt.Errorf("event %d has ID %d: %v", i+1, e.ID, kinds(evs))
		}
		byID[e.ID] = e
		if e.Kind.IsTerminal() && i != len(evs)-1 {
			return nil, fmt.Errorf("terminal event %d (%s) is not the last: %v", e.ID, e.Kind, kinds(evs))
		}
		if e.Kind != history.KindTurnStarted {
			got[e.Kind]++
		}
		if e.Kind.IsCompletion() {
			d, ok := byID[e.Ref]
			if !ok || d.Kind != decisionOf(e.Kind) {
				return nil, fmt.Errorf("event %d (%s) refers to event %d (%s)", e.ID, e.Kind, e.Ref, d.Kind)
			}
			if prev, dup := completed[e.Ref]; dup {
				return nil, fmt.Errorf("decision %d completed twice: events %d and %d", e.Ref, prev, e.ID)
			}
			completed[e.Ref] = e.ID
		}
	}
	if !evs[len(evs)-1].Kind.IsTerminal() {
		return nil, fmt.Errorf("the history does not end: %v", kinds(evs))
	}
	if !maps.Equal(got, want) {
		return nil, fmt.Errorf("events %v, want %v (turn markers aside): %v", got, want, kinds(evs))
	}
	seen := map[activityKey]int64{}
	for _, e := range evs {
		if e.Kind != history.KindActivityScheduled {
			continue
		}
		in, err := canonical(e.Input)
		if err != nil {
			return nil, fmt.Errorf("event %d: activity input %q: %v", e.ID, e.Input, err)
		}
		k := activityKey{activity: e.Name, input: in}
		if prev, dup := seen[k]; dup {
			return nil, fmt.Errorf("activity %s scheduled twice: events %d and %d", k, prev, e.ID)
		}
		seen[k] = e.ID
		c := byID[completed[e.ID]]
		acts = append(acts, scheduled{key: k, completedAt: c.ID, result: c.Result})
	}
	return acts, nil
}

// decisionOf returns the kind of decision a completion kind completes.
func decisionOf(k history.Kind) history.Kind {
	switch k {
	case history.KindActivityCompleted, history.KindActivityFailed:
		return history.KindActivityScheduled
	case history.KindTimerFired:
		return history.KindTimerCreated
	default:
		return history.KindSubOrchestrationScheduled
	}
}

// kinds lists the kinds of evs, for messages.
func kinds(evs []history.Event) string {
	var b bytes.Buffer
	for i, e := range evs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(e.Kind.String())
	}
	return b.String()
}
