package scenarios

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store"
)

// Option configures RunScenarios and RunGolden.
type Option func(*config)

type config struct {
	variant  []byte
	parallel int
	hostOpts []host.Option
	modes    []Mode
	filter   func(*Scenario) bool
	record   func(*Scenario, []InstanceHistory)
}

// WithVariant gives the variant build of the guest (the same package linked with
// -ldflags=-X=main.variant=b for the Go guest). Scenarios that need it are skipped without.
func WithVariant(wasm []byte) Option { return func(c *config) { c.variant = wasm } }

// WithParallel sets how many scenarios run at once (default 4; each runs its modes at once).
func WithParallel(n int) Option { return func(c *config) { c.parallel = max(n, 1) } }

// WithHostOptions adds options to every host the suite creates (after the suite's own, so
// they win), such as host.WithCompilationCache shared by several test functions.
func WithHostOptions(opts ...host.Option) Option {
	return func(c *config) { c.hostOpts = append(c.hostOpts, opts...) }
}

// WithModes restricts the modes (default: all of Modes).
func WithModes(modes ...Mode) Option { return func(c *config) { c.modes = modes } }

// WithFilter runs only the scenarios for which keep returns true.
func WithFilter(keep func(*Scenario) bool) Option { return func(c *config) { c.filter = keep } }

// Mode is a way of running the host.
type Mode struct {
	Name string
	// Cold disables the live-instance cache: every turn replays from history.
	Cold bool
	// Restart stops the host and starts a new one on the same store after every committed
	// turn (up to the scenario's MaxRestarts), so that state lives only in the store.
	Restart bool
}

// Modes are the modes RunScenarios runs every scenario in. Their histories must agree.
var Modes = []Mode{{Name: "live"}, {Name: "cold", Cold: true}, {Name: "restart", Restart: true}}

func newConfig(opts []Option) *config {
	c := &config{parallel: 4, modes: Modes}
	for _, o := range opts {
		o(c)
	}
	return c
}

// RunScenarios runs every scenario against a guest module that implements the scenario
// orchestrations (README.md), on stores made by newStore (one per run), in every mode, and
// checks that the modes give the same history. Each scenario is the subtest Group/Name, each
// mode a subtest of it.
func RunScenarios(t *testing.T, guest []byte, newStore func(t *testing.T) store.Store, opts ...Option) {
	cfg := newConfig(opts)
	cfg.withCache(t)
	cfg.warm(t, newStore, guest)
	forEach(t, cfg, func(t *testing.T, sc *Scenario) { runScenario(t, cfg, guest, newStore, sc) })
}

// withCache gives the hosts a compilation cache for the duration of the test, so that
// restarted hosts do not compile the modules again (a caller's cache option comes later and
// wins).
func (c *config) withCache(t *testing.T) {
	dir, err := os.MkdirTemp("", "durohost-scenarios-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c.hostOpts = append([]host.Option{host.WithCompilationCache(dir)}, c.hostOpts...)
}

// warm compiles the modules once, before the scenarios' hosts all want them at once.
func (c *config) warm(t *testing.T, newStore func(*testing.T) store.Store, guest []byte) {
	start := time.Now()
	h, err := host.New(newStore(t), c.hostOpts...)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop(context.Background())
	for _, m := range [][]byte{guest, c.variant} {
		if m == nil {
			continue
		}
		if _, err := h.LoadModule(context.Background(), m); err != nil {
			t.Fatalf("load module: %v", err)
		}
	}
	t.Logf("modules compiled in %v", time.Since(start).Round(time.Millisecond))
}

// forEach runs fn for every selected scenario as subtest Group/Name, cfg.parallel at a time.
func forEach(t *testing.T, cfg *config, fn func(*testing.T, *Scenario)) {
	all := Scenarios()
	sem := make(chan struct{}, cfg.parallel)
	var wg sync.WaitGroup
	for i := range all {
		sc := &all[i]
		if cfg.filter != nil && !cfg.filter(sc) {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			t.Run(sc.ID(), func(t *testing.T) { fn(t, sc) })
		})
	}
	wg.Wait()
}

func runScenario(t *testing.T, cfg *config, guest []byte, newStore func(*testing.T) store.Store, sc *Scenario) {
	if sc.Variant && cfg.variant == nil {
		t.Skip("needs the variant build of the guest (WithVariant)")
	}
	results := make([]*result, len(cfg.modes))
	var wg sync.WaitGroup
	for i, m := range cfg.modes {
		wg.Go(func() {
			t.Run(m.Name, func(t *testing.T) {
				results[i] = runMode(t, cfg, guest, newStore(t), sc, m)
			})
		})
	}
	wg.Wait()
	for i := 1; i < len(results); i++ {
		if results[0] == nil || results[i] == nil {
			continue
		}
		a, b := results[0].projections, results[i].projections
		if sc.LooseChildren {
			a, b = map[string][]projection{"root": a["root"]}, map[string][]projection{"root": b["root"]}
		}
		for _, d := range compareRuns(a, b) {
			t.Errorf("modes %s and %s disagree: %s", cfg.modes[0].Name, cfg.modes[i].Name, d)
		}
	}
	if cfg.record != nil && results[0] != nil && !t.Failed() {
		cfg.record(sc, results[0].histories)
	}
}

// result is what one run of a scenario produced.
type result struct {
	// projections by instance key: "root", then "<parent key>/<k>" for the child started by
	// the parent's k-th decision.
	projections map[string][]projection
	histories   []InstanceHistory
}

// InstanceHistory is the recorded history of one execution of an instance.
type InstanceHistory struct {
	InstanceID string
	Execution  uint32
	// Module is "guest" or "variant": the build the execution is pinned to.
	Module string
	Events []history.Event
}

// run is one run of a scenario in one mode.
type run struct {
	t       *testing.T
	sc      *Scenario
	mode    Mode
	cfg     *config
	guest   []byte
	st      *wrapStore
	h       *host.Host
	commits chan struct{}

	restarts  int
	gateMu    sync.Mutex
	gates     map[string]chan struct{}
	guestHash string
	varHash   string
}

func runMode(t *testing.T, cfg *config, guest []byte, st store.Store, sc *Scenario, m Mode) *result {
	r := &run{
		t: t, sc: sc, mode: m, cfg: cfg, guest: guest,
		st:      &wrapStore{Store: st, poison: sc.PoisonActivity, repin: map[string]string{}, extra: map[string][]byte{}},
		commits: make(chan struct{}, 1),
		gates:   map[string]chan struct{}{},
	}
	r.guestHash = hashOf(guest)
	if cfg.variant != nil {
		r.varHash = hashOf(cfg.variant)
	}
	r.h = r.newHost()
	if _, err := r.h.LoadModule(context.Background(), guest); err != nil {
		t.Fatalf("load guest: %v", err)
	}
	if err := r.h.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		r.openGates()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.h.Stop(ctx)
	}()
	timeout := sc.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	deadline := time.Now().Add(timeout)
	ctx := context.Background()

	steps := sc.Steps
	for len(steps) > 0 && steps[0].When.Before {
		r.do(steps[0].Do, deadline)
		steps = steps[1:]
	}
	if _, err := r.h.Client().Start(ctx, sc.Orchestration, []byte(sc.Input), host.WithInstanceID(RootID)); err != nil {
		t.Fatalf("start %s: %v", sc.Orchestration, err)
	}
	poll := time.Millisecond
	for {
		if time.Now().After(deadline) {
			what := "the instances to end"
			if len(steps) > 0 {
				what = fmt.Sprintf("the condition of step %d (%+v)", len(sc.Steps)-len(steps)+1, steps[0].When)
			}
			t.Fatalf("timed out after %s waiting for %s\n%s", timeout, what, r.describe())
		}
		r.maybeRestart()
		progressed := false
		for len(steps) > 0 && r.holds(steps[0].When) {
			r.do(steps[0].Do, deadline)
			steps, progressed = steps[1:], true
		}
		if len(steps) == 0 && r.finished() {
			break
		}
		if progressed {
			poll = time.Millisecond
			continue
		}
		time.Sleep(poll) // polling the store for a condition, bounded by the deadline
		poll = min(2*poll, 20*time.Millisecond)
	}
	r.drain(deadline)
	res := r.collect()
	r.check(res)
	return res
}

// newHost creates a host on the run's store with the scenario's activities.
func (r *run) newHost() *host.Host {
	opts := []host.Option{
		host.WithMaxAttempts(3), host.WithRetryBase(time.Millisecond),
		host.WithPollInterval(time.Millisecond, 25*time.Millisecond),
		host.WithLockTimeout(5 * time.Second), host.WithActivityRenewInterval(20 * time.Millisecond),
		host.WithActivityWorkers(4),
		host.WithObserver(func(ev host.Event) {
			if len(ev.Events) > 0 {
				select {
				case r.commits <- struct{}{}:
				default:
				}
			}
		}),
	}
	opts = append(opts, r.cfg.hostOpts...)
	if r.mode.Cold {
		opts = append(opts, host.WithLiveCache(0))
	}
	h, err := host.New(r.st.withCapabilities(), opts...)
	if err != nil {
		r.t.Fatal(err)
	}
	for name, a := range r.sc.Activities {
		if err := h.RegisterActivity(name, r.activity(name, a)); err != nil {
			r.t.Fatal(err)
		}
	}
	return h
}

// restart stops the host (briefly draining what runs) and starts a new one on the store.
func (r *run) restart() {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	r.h.Stop(ctx)
	cancel()
	r.h = r.newHost()
	if err := r.h.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.restarts++
}

func (r *run) maybeRestart() {
	if !r.mode.Restart {
		return
	}
	limit := r.sc.MaxRestarts
	if limit == 0 {
		limit = DefaultMaxRestarts
	}
	select {
	case <-r.commits:
		if r.restarts < limit {
			r.restart()
		}
	default:
	}
}

func (r *run) gate(name string) chan struct{} {
	r.gateMu.Lock()
	defer r.gateMu.Unlock()
	g, ok := r.gates[name]
	if !ok {
		g = make(chan struct{})
		r.gates[name] = g
	}
	return g
}

func (r *run) openGates() {
	r.gateMu.Lock()
	defer r.gateMu.Unlock()
	for name, g := range r.gates {
		select {
		case <-g:
		default:
			close(g)
		}
		r.gates[name] = g
	}
}

// activity implements a scenario activity.
func (r *run) activity(name string, a Activity) host.ActivityFunc {
	return func(ctx context.Context, in []byte) ([]byte, error) {
		b := a.Behaviour
		if x, ok := a.ByInput[payloadText(in)]; ok {
			b = x
		} else if len(a.Attempts) > 0 {
			n := r.count(RootID, history.KindActivityScheduled, name)
			b = a.Attempts[min(max(n-1, 0), len(a.Attempts)-1)]
		}
		if b.Delay > 0 {
			t := time.NewTimer(b.Delay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if b.Gate != "" {
			select {
			case <-r.gate(b.Gate):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		switch {
		case b.Block:
			<-ctx.Done()
			return nil, ctx.Err()
		case b.Panic != "":
			panic(b.Panic)
		case b.Fail != nil:
			f := *b.Fail
			return nil, &f
		case b.Empty:
			return nil, nil
		case b.Size > 0:
			return []byte(`"` + strings.Repeat("x", max(b.Size-2, 0)) + `"`), nil
		case b.Result != "":
			return []byte(b.Result), nil
		}
		return in, nil
	}
}

// execution is the history of one execution.
type execution struct {
	id     uint32
	events []history.Event
}

// events returns the history of every execution of an instance (nil if it does not exist).
func (r *run) events(id string) []execution {
	ctx := context.Background()
	execs, err := r.st.Executions(ctx, id)
	if err != nil {
		return nil
	}
	out := make([]execution, 0, len(execs))
	for _, x := range execs {
		evs, err := r.st.History(ctx, id, x.ID)
		if err != nil {
			return nil
		}
		out = append(out, execution{x.ID, evs})
	}
	return out
}

func (r *run) count(id string, kind history.Kind, name string) int {
	n := 0
	for _, x := range r.events(id) {
		for _, ev := range x.events {
			if ev.Kind == kind && (name == "" || ev.Name == name) {
				n++
			}
		}
	}
	return n
}

func (r *run) holds(w When) bool {
	if w.Kind == 0 {
		return true
	}
	id := w.Instance
	if id == "" {
		id = RootID
	}
	return r.count(id, w.Kind, w.Name) >= max(w.Count, 1)
}

// finished reports whether the root and every instance the scenario expects have ended.
func (r *run) finished() bool {
	ids := []string{RootID}
	for _, w := range r.sc.Want.Instances {
		ids = append(ids, w.ID)
	}
	for _, id := range ids {
		in, err := r.st.Instance(context.Background(), id)
		if err != nil || !in.Status.Finished() {
			return false
		}
	}
	return true
}

// drain waits until the store holds no work that could still change a history.
func (r *run) drain(deadline time.Time) {
	for {
		d, err := r.st.QueueDepths(context.Background())
		if err != nil {
			r.t.Fatal(err)
		}
		if d.Messages == 0 && d.Activities == 0 && d.LockedActivities == 0 && d.LockedInstances == 0 {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the store never drained: %+v\n%s", d, r.describe())
		}
		time.Sleep(2 * time.Millisecond) // polling the store, bounded by the deadline
	}
}

func (r *run) target(a Action) string {
	if a.Instance != "" {
		return a.Instance
	}
	return RootID
}

func (r *run) do(a Action, deadline time.Time) {
	ctx := context.Background()
	c := r.h.Client()
	var err error
	switch a.Kind {
	case ActRaise:
		err = c.RaiseEvent(ctx, r.target(a), a.Name, []byte(a.Data))
	case ActEnqueue:
		err = c.Enqueue(ctx, r.target(a), a.Name, []byte(a.Data))
	case ActCancel:
		err = c.Cancel(ctx, r.target(a), a.Data)
	case ActInject:
		ev := a.Event
		if a.RefTo != 0 {
			evs := r.events(r.target(a))
			if len(evs) == 0 {
				r.t.Fatalf("inject: %s has no history", r.target(a))
			}
			for _, e := range evs[len(evs)-1].events {
				if e.Kind == a.RefTo {
					ev.Ref = e.ID
					break
				}
			}
		}
		ev.Time = time.Now().UnixNano()
		err = r.st.Enqueue(ctx, store.Message{InstanceID: r.target(a), Event: ev})
	case ActOpenGate:
		g := r.gate(a.Name)
		r.gateMu.Lock()
		select {
		case <-g:
		default:
			close(g)
		}
		r.gateMu.Unlock()
	case ActRestart:
		r.restart()
	case ActLoadVariant:
		_, err = r.h.LoadModule(ctx, r.cfg.variant)
	case ActSwapVariant:
		r.st.mu.Lock()
		r.st.repin[r.guestHash] = hashOf(r.cfg.variant)
		r.st.extra[hashOf(r.cfg.variant)] = r.cfg.variant
		r.st.mu.Unlock()
		r.restart()
	case ActAwaitDrained:
		r.drain(deadline)
	default:
		r.t.Fatalf("unknown action %d", a.Kind)
	}
	if err != nil {
		r.t.Fatalf("step %+v: %v", a, err)
	}
}

// collect reads the histories of the root and of every instance it started, recursively.
func (r *run) collect() *result {
	res := &result{projections: map[string][]projection{}}
	var visit func(id, key string, depth int)
	visit = func(id, key string, depth int) {
		if _, ok := res.projections[key]; ok || depth > 8 {
			return
		}
		execs := r.events(id)
		if execs == nil {
			return
		}
		var all []projection
		type child struct{ id, key string }
		var kids []child
		for _, x := range execs {
			exec, evs := x.id, x.events
			all = append(all, projectExecution(id, exec, evs)...)
			mod := "guest"
			for _, ev := range evs {
				if ev.Kind == history.KindExecutionStarted && ev.ModuleHash == r.varHash && r.varHash != "" {
					mod = "variant"
				}
			}
			res.histories = append(res.histories, InstanceHistory{InstanceID: id, Execution: exec, Module: mod, Events: evs})
			k := 0
			for _, ev := range evs {
				if ev.Kind.IsDecision() {
					k++
				}
				if ev.Kind == history.KindSubOrchestrationScheduled || ev.Kind == history.KindOrchestrationStarted {
					kids = append(kids, child{ev.InstanceID, fmt.Sprintf("%s/%d.%d", key, exec, k)})
				}
			}
		}
		res.projections[key] = all
		for _, c := range kids {
			visit(c.id, c.key, depth+1)
		}
	}
	visit(RootID, "root", 0)
	return res
}

// check compares a run with the scenario's expectations.
func (r *run) check(res *result) {
	t := r.t
	w := r.sc.Want
	in, err := r.st.Instance(context.Background(), RootID)
	if err != nil {
		t.Fatalf("root instance: %v", err)
	}
	checkInstance(t, RootID, in, w.Status, w.Output, res.projections["root"], w.History)
	if w.Failure != nil {
		f := in.Failure
		if f == nil || f.Kind != w.Failure.Kind || f.Code != w.Failure.Code || !strings.Contains(f.Message, w.Failure.Message) {
			t.Errorf("failure %+v, want kind %s, code %q, message containing %q", f, w.Failure.Kind, w.Failure.Code, w.Failure.Message)
		}
	}
	switch w.CustomStatus {
	case "":
	case "<none>":
		if in.CustomStatus != nil {
			t.Errorf("custom status %q, want none", in.CustomStatus)
		}
	default:
		if in.CustomStatus == nil || !jsonEqual(in.CustomStatus, []byte(w.CustomStatus)) && string(in.CustomStatus) != w.CustomStatus {
			t.Errorf("custom status %q, want %s", in.CustomStatus, w.CustomStatus)
		}
	}
	if w.Executions > 0 && int(in.Execution) != w.Executions {
		t.Errorf("%d executions, want %d", in.Execution, w.Executions)
	}
	for _, iw := range w.Instances {
		other, err := r.st.Instance(context.Background(), iw.ID)
		if err != nil {
			t.Errorf("instance %s: %v", iw.ID, err)
			continue
		}
		var proj []projection
		for _, x := range r.events(iw.ID) {
			proj = append(proj, projectExecution(iw.ID, x.id, x.events)...)
		}
		checkInstance(t, iw.ID, other, iw.Status, iw.Output, proj, iw.History)
	}
}

func checkInstance(t *testing.T, id string, in *store.Instance, status store.Status, output string, proj []projection, want []string) {
	t.Helper()
	if in.Status != status {
		t.Errorf("%s: status %v (output %s, failure %+v), want %v", id, in.Status, in.Output, in.Failure, status)
	}
	if output != "" && !jsonEqual(in.Output, []byte(output)) {
		t.Errorf("%s: output %s, want %s", id, preview(in.Output), output)
	}
	if want == nil {
		return
	}
	items, err := parsePatterns(want)
	if err != nil {
		t.Fatalf("%s: bad expected history: %v", id, err)
	}
	if err := matchHistory(items, proj); err != nil {
		t.Errorf("%s: history: %v\nexpected:\n  %s\ngot:\n%s", id, err, strings.Join(want, "\n  "), lines(proj))
	}
}

func preview(b []byte) string {
	if len(b) > 300 {
		return fmt.Sprintf("%s... (%d bytes)", b[:300], len(b))
	}
	return string(b)
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// describe summarises the run's instances for a failure message.
func (r *run) describe() string {
	var b strings.Builder
	res := r.collect()
	for key, proj := range res.projections {
		fmt.Fprintf(&b, "%s:\n%s", key, lines(proj))
	}
	if in, err := r.st.Instance(context.Background(), RootID); err == nil {
		fmt.Fprintf(&b, "root: %v output %s failure %+v\n", in.Status, preview(in.Output), in.Failure)
	}
	if d, err := r.st.QueueDepths(context.Background()); err == nil {
		fmt.Fprintf(&b, "depths: %+v\n", *d)
	}
	return b.String()
}

var hashes sync.Map // of hashKey → string

type hashKey struct {
	p *byte
	n int
}

// hashOf returns the hex sha256 of a module, computed once per byte slice (the suite never
// changes the modules it is given).
func hashOf(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	k := hashKey{&b[0], len(b)}
	if h, ok := hashes.Load(k); ok {
		return h.(string)
	}
	s := sha256.Sum256(b)
	h := hex.EncodeToString(s[:])
	hashes.Store(k, h)
	return h
}

// wrapStore is the run's view of the store: it can fail the commits that schedule a poisoned
// activity and serve other bytes for a module hash (ActSwapVariant). It has the capabilities
// of the store it wraps (withCapabilities), so that the host runs as it would on that store.
type wrapStore struct {
	store.Store
	poison string
	mu     sync.Mutex
	// repin makes the histories of turns say that instances pinned to a hash run another
	// (ActSwapVariant); extra serves the bytes of hashes the store does not hold.
	repin map[string]string
	extra map[string][]byte
}

var errInjected = errors.New("injected commit failure")

func (w *wrapStore) CommitTurn(ctx context.Context, token string, c *store.Commit) error {
	if w.poison != "" {
		for _, a := range c.Activities {
			if a.Name == w.poison {
				return errInjected
			}
		}
	}
	return w.Store.CommitTurn(ctx, token, c)
}

func (w *wrapStore) Module(ctx context.Context, hash string) ([]byte, error) {
	w.mu.Lock()
	b, ok := w.extra[hash]
	w.mu.Unlock()
	if ok {
		return b, nil
	}
	return w.Store.Module(ctx, hash)
}

// repinned rewrites the module hash of a turn's execution_started (in its history, or among
// its messages on the first turn) as repin says: the host then runs the execution on other
// code, as after a careless redeploy that replaced a module's bytes (the host checks bytes
// against their hash, so the bytes of a hash cannot be swapped).
func (w *wrapStore) repinned(t *store.Turn, err error) (*store.Turn, error) {
	if t == nil {
		return t, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	fix := func(ev *history.Event) {
		if to, ok := w.repin[ev.ModuleHash]; ok && ev.Kind == history.KindExecutionStarted {
			ev.ModuleHash = to
		}
	}
	for i := range t.History {
		fix(&t.History[i])
	}
	for i := range t.Messages {
		fix(&t.Messages[i].Event)
	}
	return t, err
}

func (w *wrapStore) FetchTurn(ctx context.Context, lockFor time.Duration, known store.KnownHistory) (*store.Turn, error) {
	return w.repinned(w.Store.FetchTurn(ctx, lockFor, known))
}

func (w *wrapStore) StartInstance(ctx context.Context, msg store.Message, opts store.StartOptions) (*store.Turn, error) {
	return w.repinned(w.Store.StartInstance(ctx, msg, opts))
}

// SkipsKnownHistory forwards the wrapped store's store.HistorySkipper.
func (w *wrapStore) SkipsKnownHistory() bool {
	h, ok := w.Store.(store.HistorySkipper)
	return ok && h.SkipsKnownHistory()
}

// Wakeups forwards the wrapped store's store.Waker (errors.ErrUnsupported without one).
func (w *wrapStore) Wakeups(ctx context.Context) (<-chan store.Wake, error) {
	if k, ok := w.Store.(store.Waker); ok {
		return k.Wakeups(ctx)
	}
	return nil, fmt.Errorf("scenario store: %w", errors.ErrUnsupported)
}

// withCapabilities returns w as the host sees it: a store.DirectDispatcher when the wrapped
// store is one.
func (w *wrapStore) withCapabilities() store.Store {
	if d, ok := w.Store.(store.DirectDispatcher); ok {
		return wrapDirect{w, d}
	}
	return w
}

// wrapDirect is a wrapStore of a store.DirectDispatcher, which it forwards.
type wrapDirect struct {
	*wrapStore
	d store.DirectDispatcher
}

func (w wrapDirect) EnqueueAndFetch(ctx context.Context, msg store.Message, lockFor time.Duration, known store.KnownHistory) (*store.Turn, error) {
	return w.repinned(w.d.EnqueueAndFetch(ctx, msg, lockFor, known))
}

func (w wrapDirect) CompleteActivityAndFetch(ctx context.Context, token string, result store.Message, lockFor time.Duration, known store.KnownHistory) (*store.Turn, error) {
	return w.repinned(w.d.CompleteActivityAndFetch(ctx, token, result, lockFor, known))
}

func (w wrapDirect) CompleteActivityWithTurn(ctx context.Context, token string, created time.Time, c *store.Commit) error {
	return w.d.CompleteActivityWithTurn(ctx, token, created, c)
}
