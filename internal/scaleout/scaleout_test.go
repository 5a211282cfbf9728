//go:build unix

package scaleout

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/internal/testguest"
	"github.com/durohost/durohost/store"
	"github.com/durohost/durohost/store/postgres"
	"github.com/durohost/durohost/store/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The test's configuration.
const (
	// instances is the number of instances the test starts (children aside).
	instances = 300
	// lockTimeout is the hosts' lock timeout: a dead host's work waits at most this long
	// for its locks to expire.
	lockTimeout = 2 * time.Second
	// activityTime is how long each activity works: with hundreds of instances running, a
	// host holds some activity locks at any moment.
	activityTime = 50 * time.Millisecond
	// runningAtDisruption is how many activities the victim must be running when the test
	// decides to disrupt it, so that it still runs some when the SIGSTOP lands a moment
	// later (else the test thaws it and waits again).
	runningAtDisruption = 3
	// wakePollMax is how often, at most, an idle host looks for work nobody announced
	// (expired locks) while the store delivers wake-ups (the runtime's WakePollMax).
	wakePollMax = time.Second
)

// disruption is what happens to one of the hosts in the middle of the run.
type disruption int

const (
	// kill: SIGKILL; the host is gone.
	kill disruption = iota
	// pause: SIGSTOP until the other hosts have taken over what it held, then SIGCONT; the
	// host comes back with stale locks and stale live instances.
	pause
)

// TestNodeLoss runs three host processes (hostproc) on one PostgreSQL database with a mixed
// workload of the Go test guest (sequential activities, fan-out, timers, external events,
// sub-orchestrations, continue-as-new), started by a client of the test on the same store.
// Once a third of the instances have completed, and while it runs activities (and so holds
// their locks), it kills one host: SIGSTOP, to read for sure what it was running, then
// SIGKILL. Then every instance must complete on the two
// others with its right output; every execution's history must be numbered 1..n and hold
// each decision its orchestration makes exactly once; every activity a history scheduled must
// have run (at least once: the runs are counted, duplicates reported); each of the three
// hosts must have committed turns and run activities; and every activity the dead host held
// must have been run again by a survivor, whose result the history records. The test reports
// how long the takeover took (see reportTakeover), the duplicate activity runs and how often
// instances moved between hosts.
func TestNodeLoss(t *testing.T) { runHosts(t, kill) }

// TestPausedHost is TestNodeLoss with a host frozen (SIGSTOP) instead of killed, as a long
// garbage collection or a suspended virtual machine would: once the two others have run again
// every activity it held, it resumes (SIGCONT) and carries on next to them. Its activities
// then finish under locks it lost, and it holds live instances whose histories grew
// elsewhere: the store must refuse its stale completions and commits (the histories record
// the survivors' results of the activities it held), and its live cache must notice the
// longer histories, so that the checks of TestNodeLoss hold as they are.
func TestPausedHost(t *testing.T) { runHosts(t, pause) }

// runHosts runs the test of TestNodeLoss, the victim disrupted as how says.
func runHosts(t *testing.T, how disruption) {
	if testing.Short() {
		t.Skip("runs three host processes for about ten seconds")
	}
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	st, err := postgres.Open(ctx, url) // creates the schema before the hosts share it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := host.NewClient(st)

	bin := buildHostProc(t)
	module := filepath.Join(t.TempDir(), "guest.wasm")
	if err := os.WriteFile(module, testguest.Build(t, "conformance/guests/go", ""), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	args := []string{"--store", url, "--module", module, "--cache", cache,
		"--lock-timeout", lockTimeout.String(), "--activity-time", activityTime.String()}
	// The first host compiles the module into the cache, which the others then read.
	names := []string{"h1", "h2", "h3"}
	hosts := []*hostProc{startHost(t, bin, names[0], append(args, "--name", names[0])...)}
	waitUntil(t, 3*time.Minute, "host h1 to be ready", hosts, func() (bool, error) { return hosts[0].ready(t), nil })
	for _, n := range names[1:] {
		hosts = append(hosts, startHost(t, bin, n, append(args, "--name", n)...))
	}
	waitUntil(t, 3*time.Minute, "hosts h2 and h3 to be ready", hosts, func() (bool, error) {
		return hosts[1].ready(t) && hosts[2].ready(t), nil
	})
	victim, survivors := hosts[1], []*hostProc{hosts[0], hosts[2]}

	jobs := workload(instances)
	began := time.Now()
	startJobs(t, c, jobs)
	started := time.Now()

	// Disrupt the victim once a third of the instances completed, while it runs activities:
	// it is frozen first, so that what it runs is known for sure (its records do not change
	// while it is stopped); frozen with none running, it is thawed and tried again.
	// inFlight are the activities it had started and not finished when disrupted; its
	// records before cutoff are those it wrote before it was killed or frozen.
	var (
		doneAtDisruption  int
		freezes           int
		inFlight          map[activityKey]Record
		disrupted, cutoff time.Time
		alive, resumed    = survivors, time.Time{}
	)
	for freezes = 1; ; freezes++ {
		waitUntil(t, 2*time.Minute, "a third of the instances to complete, the victim running activities", hosts, func() (bool, error) {
			done, err := progress(ctx, c, jobs)
			if err != nil || done < len(jobs)/3 {
				return false, err
			}
			doneAtDisruption = done
			return len(running(victim.records(t))) >= runningAtDisruption, nil
		})
		disrupted = time.Now()
		victim.freeze(t)
		if inFlight = running(victim.records(t)); len(inFlight) > 0 {
			break
		}
		if freezes == 20 {
			t.Fatalf("the victim, frozen %d times while it seemed to run activities, ran none each time", freezes)
		}
		victim.thaw(t)
	}
	switch how {
	case kill:
		victim.kill(t)
		cutoff = time.Now()
		resumed = cutoff
	case pause:
		waitUntil(t, time.Minute, "the survivors to run again what the frozen host was running", survivors, func() (bool, error) {
			again := map[activityKey]bool{}
			for _, h := range survivors {
				for _, r := range h.records(t) {
					if k, err := keyOf(r); err == nil && r.Kind == RecordStart && r.Time > disrupted.UnixNano() {
						again[k] = true
					}
				}
			}
			for k := range inFlight {
				if !again[k] {
					return false, nil
				}
			}
			return true, nil
		})
		resumed = time.Now()
		cutoff = resumed
		victim.thaw(t)
		alive = hosts
	}
	for _, j := range jobs {
		if j.orch == orchEvent && j.lateEvent {
			if err := c.RaiseEvent(ctx, j.id, "approve", j.eventData()); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitUntil(t, 2*time.Minute, "every instance to complete", alive, func() (bool, error) {
		done, err := progress(ctx, c, jobs)
		return done == len(jobs), err
	})
	finished := time.Now()
	for _, h := range alive {
		h.stop(t, 30*time.Second)
	}

	// The outputs and the histories.
	var acts []scheduled
	for _, j := range jobs {
		in, err := c.Status(ctx, j.id)
		if err != nil {
			t.Fatal(err)
		}
		if err := j.checkOutput(in.Output, names); err != nil {
			t.Errorf("%s (%s): %v", j.id, j.orch, err)
		}
		res, err := checkJob(ctx, c, j)
		if err != nil {
			t.Errorf("%s (%s): %v", j.id, j.orch, err)
		}
		acts = append(acts, res.activities...)
	}

	// What each host did, and the activities: each ran at least once, and returned what the
	// history recorded.
	recs := map[*hostProc][]Record{}
	for _, h := range hosts {
		recs[h] = h.records(t)
	}
	runs := map[activityKey][]run{}
	for _, h := range hosts {
		turns, done, afterTurns, afterDone := 0, 0, 0, 0
		for _, r := range recs[h] {
			after := r.Time > resumed.UnixNano()
			switch r.Kind {
			case RecordTurn:
				turns++
				if after {
					afterTurns++
				}
			case RecordStart, RecordDone:
				k, err := keyOf(r)
				if err != nil {
					t.Fatalf("host %s: %v", h.name, err)
				}
				if r.Kind == RecordDone {
					done++
					if after {
						afterDone++
					}
				}
				runs[k] = append(runs[k], run{h, r})
			}
		}
		if turns == 0 || done == 0 {
			t.Errorf("host %s committed %d turns and completed %d activities: every host must do work", h.name, turns, done)
		}
		t.Logf("host %s: %d turns committed, %d activities completed (%d and %d after the victim was %s)",
			h.name, turns, done, afterTurns, afterDone, map[disruption]string{kill: "killed", pause: "resumed"}[how])
	}
	held := heldLocks(inFlight, recs[victim], acts, cutoff)

	// Duplicate runs: of an activity the victim was running at the disruption, of one it
	// finished but whose completion it did not commit, of one that a frozen victim started
	// once resumed (it had taken it before), or other (a host that lost a lock on a busy
	// machine).
	starts, dupHeld, dupUncommitted, dupResumed := 0, 0, 0, 0
	var dupOther []string
	for _, a := range acts {
		var results [][]byte
		n, victimDone, victimResumed := 0, false, false
		for _, r := range runs[a.key] {
			switch r.rec.Kind {
			case RecordStart:
				n++
				victimResumed = victimResumed || (how == pause && r.host == victim && r.rec.Time >= resumed.UnixNano())
			case RecordDone:
				results = append(results, r.rec.Output)
				victimDone = victimDone || (r.host == victim && r.rec.Time < cutoff.UnixNano())
			}
		}
		if len(results) == 0 {
			t.Errorf("activity %s: no host ran it to completion (%d starts)", a.key, n)
			continue
		}
		if !slices.ContainsFunc(results, func(b []byte) bool { return jsonEqual(b, a.result) }) {
			t.Errorf("activity %s: the history recorded %s, no run returned it (runs returned %q)", a.key, a.result, results)
		}
		starts += n
		if n < 2 {
			continue
		}
		_, wasRunning := inFlight[a.key]
		switch {
		case wasRunning:
			dupHeld += n - 1
		case victimDone:
			dupUncommitted += n - 1
		case victimResumed:
			dupResumed += n - 1
		default:
			var by []string
			for _, r := range runs[a.key] {
				if r.rec.Kind == RecordStart {
					by = append(by, r.host.name)
				}
			}
			dupOther = append(dupOther, fmt.Sprintf("%s by %s", a.key, strings.Join(by, ", ")))
		}
	}
	t.Logf("activities: %d scheduled, %d runs started, %d duplicate runs: %d running on the victim, %d finished by it but not committed, %d started by it once resumed, %d other %v",
		len(acts), starts, starts-len(acts), dupHeld, dupUncommitted, dupResumed, len(dupOther), dupOther)
	what := "killed"
	if how == pause {
		what = fmt.Sprintf("frozen for %s", resumed.Sub(disrupted).Round(time.Millisecond))
	}
	if freezes > 1 {
		what += fmt.Sprintf(" (at freeze %d: it ran no activity at the others)", freezes)
	}
	t.Logf("timeline: %d instances started in %s; victim %s %s %s after the first start with %d of %d completed; all completed %s after the disruption (%s in all)",
		len(jobs), started.Sub(began).Round(time.Millisecond), victim.name, what, disrupted.Sub(began).Round(time.Millisecond),
		doneAtDisruption, len(jobs), finished.Sub(disrupted).Round(time.Millisecond), finished.Sub(began).Round(time.Millisecond))
	reportTakeover(t, how, victim, held, inFlight, recs, runs, acts, disrupted, resumed, finished)
	reportMoves(t, hosts, recs)
	if how == pause {
		reportReturn(t, victim, inFlight, recs, disrupted, resumed)
	}
}

// startJobs starts the instances of jobs, a few at a time, and raises the events of the
// "event" jobs that get theirs at once.
func startJobs(t *testing.T, c *host.Client, jobs []job) {
	t.Helper()
	ctx := context.Background()
	todo := make(chan job)
	errs := make(chan error, len(jobs))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for j := range todo {
				input, err := json.Marshal(j.input)
				if err == nil {
					_, err = c.Start(ctx, j.orch, input, host.WithInstanceID(j.id))
				}
				if err == nil && j.orch == orchEvent && !j.lateEvent {
					err = c.RaiseEvent(ctx, j.id, "approve", j.eventData())
				}
				if err != nil {
					errs <- fmt.Errorf("start %s: %w", j.id, err)
				}
			}
		})
	}
	for _, j := range jobs {
		todo <- j
	}
	close(todo)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// run is one record of an activity run, with its host.
type run struct {
	host *hostProc
	rec  Record
}

// keyOf returns the activity key of a start or done record.
func keyOf(r Record) (activityKey, error) {
	in, err := canonical(r.Input)
	if err != nil {
		return activityKey{}, fmt.Errorf("record %+v: input: %v", r, err)
	}
	return activityKey{r.Instance, r.Activity, in}, nil
}

// running returns the activities a host started and did not finish (done or lost), by
// what its records say.
func running(recs []Record) map[activityKey]Record {
	open := map[activityKey]Record{}
	for _, r := range recs {
		k, err := keyOf(r)
		if err != nil {
			continue
		}
		switch r.Kind {
		case RecordStart:
			open[k] = r
		case RecordDone, RecordLost:
			delete(open, k)
		}
	}
	return open
}

// progress returns how many of the jobs have completed, and an error naming a job that
// failed or was cancelled.
func progress(ctx context.Context, c *host.Client, jobs []job) (int, error) {
	status := map[string]*store.Instance{}
	f := store.Filter{IDPrefix: "so-", PageSize: 1000}
	for {
		p, err := c.List(ctx, f)
		if err != nil {
			return 0, err
		}
		for i := range p.Instances {
			status[p.Instances[i].ID] = &p.Instances[i]
		}
		if p.Next == "" {
			break
		}
		f.PageToken = p.Next
	}
	done := 0
	for _, j := range jobs {
		in := status[j.id]
		switch {
		case in == nil:
		case in.Status == store.StatusCompleted:
			done++
		case in.Status.Finished():
			return 0, fmt.Errorf("instance %s (%s) ended %s: %+v", j.id, j.orch, in.Status, in.Failure)
		}
	}
	return done, nil
}

// heldLocks returns the activities whose locks the victim held when it was disrupted, by the
// record of the run that held each: those it was running (inFlight), and those it had
// finished without committing their completions (the histories recorded another run's
// result). An activity holds its lock until its completion is committed. recs are the
// victim's records; those before cutoff were written before the disruption.
func heldLocks(inFlight map[activityKey]Record, recs []Record, acts []scheduled, cutoff time.Time) map[activityKey]Record {
	recorded := map[activityKey]string{} // the run whose result a history recorded
	for _, a := range acts {
		var res Result
		if json.Unmarshal(a.result, &res) == nil {
			recorded[a.key] = res.Run
		}
	}
	held := maps.Clone(inFlight)
	started := map[string]Record{}
	for _, r := range recs {
		if r.Time >= cutoff.UnixNano() {
			continue
		}
		k, err := keyOf(r)
		switch {
		case err != nil:
		case r.Kind == RecordStart:
			started[r.Run] = r
		case r.Kind == RecordDone && recorded[k] != r.Run:
			held[k] = started[r.Run]
		}
	}
	return held
}

// reportTakeover checks that the activities whose locks the victim held when it was killed
// or frozen were run again by a survivor (for a frozen victim, those it was running, which
// the test waited for; it may commit the others itself once resumed), and that no history
// recorded the result of the victim's run once a survivor had run it again (its lock was
// lost). It reports how long the takeover took after the disruption.
//
// The bound: the victim renewed each lock every lockTimeout/3, the last time at most that
// long before the disruption, so its locks expire between 2/3 lockTimeout and lockTimeout
// after it. A survivor busy with other work fetches an expired item at once, an idle one
// within wakePollMax (expiries are not announced). So an activity is run again at most
// lockTimeout + wakePollMax after the disruption, plus the machine's scheduling delays, and
// its completion is committed activityTime and one turn later.
func reportTakeover(t *testing.T, how disruption, victim *hostProc, held, inFlight map[activityKey]Record,
	recs map[*hostProc][]Record, runs map[activityKey][]run, acts []scheduled, disrupted, resumed, finished time.Time) {
	t.Helper()
	if len(held) == 0 {
		t.Fatalf("the victim held no activity lock when it was disrupted: every activity it was running a moment before had been committed")
	}
	completion, result := map[activityKey]int64{}, map[activityKey][]byte{}
	for _, a := range acts {
		completion[a.key], result[a.key] = a.completedAt, a.result
	}
	var rerun, commit []time.Duration
	firstCommit := finished.Sub(disrupted)
	for k, victimRun := range held {
		var again, committed time.Duration = -1, -1
		var againAt int64
		for _, r := range runs[k] {
			if r.host != victim && r.rec.Kind == RecordStart && r.rec.Time > disrupted.UnixNano() {
				if d := time.Duration(r.rec.Time - disrupted.UnixNano()); again < 0 || d < again {
					again, againAt = d, r.rec.Time
				}
			}
		}
		for h, rs := range recs {
			for _, r := range rs {
				if r.Kind != RecordTurn || r.Instance != k.instance || r.Time <= disrupted.UnixNano() {
					continue
				}
				d := time.Duration(r.Time - disrupted.UnixNano())
				if h != victim {
					firstCommit = min(firstCommit, d)
				}
				if c := completion[k]; r.First <= c && c <= r.Last && (committed < 0 || d < committed) {
					committed = d
				}
			}
		}
		_, wasRunning := inFlight[k]
		if again < 0 {
			if how == kill || wasRunning {
				t.Errorf("activity %s, held by the victim: no survivor ran it again", k)
			}
			continue
		}
		if committed < 0 {
			t.Errorf("activity %s, held by the victim and run again: no host committed its completion", k)
			continue
		}
		// Once a survivor ran it again, the victim's run had lost its lock: its result must
		// not be the one the history recorded.
		var res Result
		if err := json.Unmarshal(result[k], &res); err != nil || (res.Run == victimRun.Run && (how == kill || againAt < resumed.UnixNano())) {
			t.Errorf("activity %s, held by the victim and run again by a survivor: the history recorded %s, the result of the victim's run %s, whose lock had expired (%v)",
				k, result[k], victimRun.Run, err)
		}
		rerun, commit = append(rerun, again), append(commit, committed)
	}
	t.Logf("takeover: the victim held %d activity locks of %d instances when disrupted (%d activities running, %d finished and not committed); first commit by a survivor of one of its instances %s after the disruption; %d held activities run again after %s, their completions (none the victim's result) committed after %s (lock timeout %s, bound lock timeout + idle poll %s = %s)",
		len(held), instancesOf(held), len(inFlight), len(held)-len(inFlight), firstCommit.Round(time.Millisecond),
		len(rerun), spread(rerun), spread(commit), lockTimeout, wakePollMax, lockTimeout+wakePollMax)
}

// instancesOf counts the instances of a set of activities.
func instancesOf(m map[activityKey]Record) int {
	ids := map[string]bool{}
	for k := range m {
		ids[k.instance] = true
	}
	return len(ids)
}

// spread describes durations: min, median, max.
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "(none)"
	}
	slices.Sort(ds)
	r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	return fmt.Sprintf("min %s, median %s, max %s", r(ds[0]), r(ds[len(ds)/2]), r(ds[len(ds)-1]))
}

// reportMoves reports how many instances had turns committed by more than one host, and how
// many turns a host committed on an instance that it had run before and that another host
// had moved on since: the host's live copy of it, if still cached, was stale, which its
// live cache must notice (it compares history lengths).
func reportMoves(t *testing.T, hosts []*hostProc, recs map[*hostProc][]Record) {
	t.Helper()
	type turn struct {
		host string
		at   int64
	}
	by := map[string][]turn{}
	for _, h := range hosts {
		for _, r := range recs[h] {
			if r.Kind == RecordTurn {
				by[r.Instance] = append(by[r.Instance], turn{h.name, r.Time})
			}
		}
	}
	moved, returns := 0, 0
	for _, ts := range by {
		slices.SortFunc(ts, func(a, b turn) int { return cmp.Compare(a.at, b.at) })
		ran := map[string]bool{}
		for i, tn := range ts {
			if i > 0 && ts[i-1].host != tn.host && ran[tn.host] {
				returns++
			}
			ran[tn.host] = true
		}
		if len(ran) > 1 {
			moved++
		}
	}
	var names []string
	for _, h := range hosts {
		names = append(names, h.name)
	}
	t.Logf("instances whose turns more than one host committed: %d of %d (hosts %s); turns of a host back on an instance another host had moved on: %d",
		moved, len(by), strings.Join(names, ", "), returns)
}

// reportReturn reports what a frozen victim did once resumed: the activities it was running
// that it finished anyway (the survivors had run them again: the store must refuse their
// completions) or stopped on losing their locks, and its turns, in particular those of
// instances that it had run before the freeze and that the survivors moved on meanwhile (its
// live copies of them were stale).
func reportReturn(t *testing.T, victim *hostProc, inFlight map[activityKey]Record, recs map[*hostProc][]Record, frozen, resumed time.Time) {
	t.Helper()
	before, during := map[string]bool{}, map[string]bool{}
	for h, rs := range recs {
		for _, r := range rs {
			switch {
			case r.Kind != RecordTurn:
			case h == victim && r.Time < frozen.UnixNano():
				before[r.Instance] = true
			case h != victim && r.Time > frozen.UnixNano() && r.Time < resumed.UnixNano():
				during[r.Instance] = true
			}
		}
	}
	finished, lost, turns, stale := 0, 0, 0, map[string]bool{}
	for _, r := range recs[victim] {
		if r.Time < resumed.UnixNano() {
			continue
		}
		k, _ := keyOf(r)
		_, wasHeld := inFlight[k]
		switch {
		case r.Kind == RecordDone && wasHeld:
			finished++
		case r.Kind == RecordLost && wasHeld:
			lost++
		case r.Kind == RecordTurn:
			turns++
			if before[r.Instance] && during[r.Instance] {
				stale[r.Instance] = true
			}
		}
	}
	t.Logf("the victim, resumed: of the %d activities it was running, finished %d (completions the survivors had committed already, to be refused or dropped) and stopped %d on losing their locks; committed %d turns, of %d instances that had moved on while it was frozen",
		len(inFlight), finished, lost, turns, len(stale))
}
