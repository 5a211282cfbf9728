package durable

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
)

// fakeHost implements host as ABI.md describes it, over a scripted world with a logical
// clock: every command gets a completion time when it is scheduled, and await returns the
// awaited future that completes first (ties in schedule order) and advances the clock to it,
// like a host answering from history. When nothing awaited can ever complete, await panics
// with suspended, which stands for the host abandoning the instance (cold suspension).
//
// It fails the test on every ABI misuse: an unknown or released handle, an await of no or too
// many handles, reading a future that is not complete, any call after complete.
type fakeHost struct {
	t    *testing.T
	info abi.StartInfo

	// Scripts. activity answers an activity's attempt (1 for the first call of that name);
	// child answers a sub-orchestration. Nil scripts never complete.
	activity func(name string, input []byte, attempt int) reply
	child    func(cmd abi.Command) reply
	events   map[string][]delivery // per event name, in order of arrival
	queues   map[string][][]byte
	// replayUntil makes is_replaying return 1 while fewer commands were scheduled.
	replayUntil int

	now      time.Duration
	futures  map[uint32]*fakeFuture
	next     uint32
	attempts map[string]int

	// Recorded.
	calls     []string // one line per schedule, cancel, set_status and log call
	outcome   *abi.Outcome
	finished  bool
	suspended bool
}

// reply is a scripted completion: after a delay, a result or a failure; never for work that
// does not complete.
type reply struct {
	result []byte
	fail   *abi.Failure
	after  time.Duration
	never  bool
}

// delivery is an external event arriving at a logical time.
type delivery struct {
	at   time.Duration
	data []byte
}

type fakeFuture struct {
	cmd   abi.Command
	at    time.Duration // completion time, valid when !never
	never bool
	comp  abi.Completion
	event *delivery // the event a wait_event subscription took
}

func newFakeHost(t *testing.T, info abi.StartInfo) *fakeHost {
	if info.InstanceID == "" {
		info.InstanceID = "inst"
	}
	if info.ExecutionID == 0 {
		info.ExecutionID = 1
	}
	return &fakeHost{t: t, info: info, futures: map[uint32]*fakeFuture{}, attempts: map[string]int{},
		events: map[string][]delivery{}, queues: map[string][][]byte{}}
}

func (h *fakeHost) misuse(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	h.t.Errorf("ABI misuse: %s", msg)
	panic("ABI misuse: " + msg)
}

func (h *fakeHost) live() {
	if h.finished {
		h.misuse("host call after complete")
	}
}

func (h *fakeHost) startInfo(buf []byte) int32 {
	h.live()
	b, err := abi.Marshal(h.info)
	if err != nil {
		h.t.Fatal(err)
	}
	if len(b) <= len(buf) {
		copy(buf, b)
	}
	return int32(len(b))
}

func (h *fakeHost) schedule(b []byte) int32 {
	h.live()
	var cmd abi.Command
	if err := abi.Unmarshal(b, &cmd); err != nil {
		h.misuse("bad command: %v", err)
	}
	h.next++
	handle := h.next
	f := &fakeFuture{cmd: cmd}
	var r reply
	switch cmd.Kind {
	case abi.CommandActivity:
		h.attempts[cmd.Name]++
		r = reply{never: true}
		if h.activity != nil {
			r = h.activity(cmd.Name, cmd.Input, h.attempts[cmd.Name])
		}
		h.record("activity %s %s", cmd.Name, cmd.Input)
	case abi.CommandTimer:
		if cmd.Delay < 0 {
			h.misuse("negative delay")
		}
		r = reply{after: time.Duration(cmd.Delay)}
		h.record("timer %v", time.Duration(cmd.Delay))
	case abi.CommandWaitEvent:
		r = reply{never: true}
		if evs := h.events[cmd.Name]; len(evs) > 0 {
			ev := evs[0]
			h.events[cmd.Name] = evs[1:]
			f.event = &ev
			r = reply{result: ev.data, after: max(ev.at-h.now, 0)}
		}
		h.record("wait_event %s", cmd.Name)
	case abi.CommandDequeue:
		r = reply{never: true}
		if q := h.queues[cmd.Name]; len(q) > 0 {
			h.queues[cmd.Name] = q[1:]
			r = reply{result: q[0]}
		}
		h.record("dequeue %s", cmd.Name)
	case abi.CommandSubOrchestration:
		r = reply{never: true}
		if h.child != nil {
			r = h.child(cmd)
		}
		h.record("sub_orchestration %s version=%q id=%q %s", cmd.Name, cmd.Version, cmd.InstanceID, cmd.Input)
	case abi.CommandStartOrchestration:
		id := cmd.InstanceID
		if id == "" {
			id = fmt.Sprintf("%s:%d:%d", h.info.InstanceID, h.info.ExecutionID, handle)
		}
		r = reply{result: []byte(id)}
		h.record("start_orchestration %s version=%q id=%q %s", cmd.Name, cmd.Version, cmd.InstanceID, cmd.Input)
	default:
		h.misuse("unknown command kind %d", cmd.Kind)
	}
	f.at, f.never = h.now+r.after, r.never
	f.comp = abi.Completion{Result: r.result, Failure: r.fail}
	h.futures[handle] = f
	return int32(handle)
}

func (h *fakeHost) future(handle uint32) *fakeFuture {
	f, ok := h.futures[handle]
	if !ok {
		h.misuse("handle %d names no live future", handle)
	}
	return f
}

func (h *fakeHost) complete1(f *fakeFuture) bool { return !f.never && f.at <= h.now }

func (h *fakeHost) await(handles []uint32) int32 {
	h.live()
	if len(handles) == 0 || len(handles) > abi.MaxAwaitHandles {
		h.misuse("await of %d handles", len(handles))
	}
	best := -1
	for i, hd := range handles {
		f := h.future(hd)
		if f.never {
			continue
		}
		if best < 0 || f.at < h.futures[handles[best]].at ||
			(f.at == h.futures[handles[best]].at && hd < handles[best]) {
			best = i
		}
	}
	if best < 0 {
		// Cold suspension: the call never returns and no Go code of the guest runs again
		// (not even a recover), which runtime.Goexit models.
		h.suspended = true
		runtime.Goexit()
	}
	h.now = max(h.now, h.futures[handles[best]].at)
	return int32(best)
}

func (h *fakeHost) result(handle uint32, buf []byte) int32 {
	h.live()
	f := h.future(handle)
	if !h.complete1(f) {
		return abi.StatusNotReady
	}
	b, err := abi.Marshal(f.comp)
	if err != nil {
		h.t.Fatal(err)
	}
	if len(b) <= len(buf) {
		copy(buf, b)
		delete(h.futures, handle)
	}
	return int32(len(b))
}

func (h *fakeHost) cancel(handle uint32) int32 {
	h.live()
	f := h.future(handle)
	delete(h.futures, handle)
	if h.complete1(f) {
		return abi.StatusOK // simply released
	}
	if f.event != nil { // give the event back to the next subscription
		h.events[f.cmd.Name] = append([]delivery{*f.event}, h.events[f.cmd.Name]...)
	}
	h.record("cancel %d", handle)
	return abi.StatusOK
}

func (h *fakeHost) setStatus(status []byte, clear bool) int32 {
	h.live()
	if clear {
		h.record("status clear")
	} else {
		h.record("status %s", status)
	}
	return abi.StatusOK
}

func (h *fakeHost) complete(b []byte) int32 {
	h.live()
	var out abi.Outcome
	if err := abi.Unmarshal(b, &out); err != nil {
		h.misuse("bad outcome: %v", err)
	}
	h.outcome, h.finished = &out, true
	return abi.StatusOK
}

func (h *fakeHost) log(level int32, msg []byte) {
	h.live()
	h.record("log %d %s", level, msg)
}

func (h *fakeHost) isReplaying() int32 {
	h.live()
	if int(h.next) < h.replayUntil {
		return 1
	}
	return 0
}

func (h *fakeHost) record(format string, args ...any) {
	h.calls = append(h.calls, fmt.Sprintf(format, args...))
}

// runFake runs the module's registry against h, on its own goroutine so that a suspension
// can end it, and reports whether the guest suspended.
func runFake(h *fakeHost, reg *registry) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(h, reg)
	}()
	<-done
	if !h.finished && !h.suspended {
		h.t.Errorf("durohost_run returned without calling complete")
	}
	return h.suspended
}

// newTestContext returns a Context bound to a fake host, for tests that drive the API
// directly rather than through run.
func newTestContext(t *testing.T) (*Context, *fakeHost) {
	h := newFakeHost(t, abi.StartInfo{Name: "test"})
	return newContext(h, h.info, ""), h
}

// failureString is a compact form of a failure for comparisons.
func failureString(f *abi.Failure) string {
	if f == nil {
		return ""
	}
	return fmt.Sprintf("%s/%s/%s", f.Kind, f.Code, f.Message)
}

// outcomeString is a compact form of an outcome for comparisons.
func outcomeString(o *abi.Outcome) string {
	if o == nil {
		return "<none>"
	}
	switch o.Kind {
	case abi.OutcomeCompleted:
		return "completed " + string(o.Output)
	case abi.OutcomeFailed:
		return "failed " + failureString(o.Failure)
	case abi.OutcomeContinuedAsNew:
		return fmt.Sprintf("continued_as_new %s version=%q", o.Input, o.Version)
	case abi.OutcomeDescribe:
		var regs []string
		for _, r := range o.Orchestrations {
			regs = append(regs, describe(r.Name, r.Version))
		}
		return "describe " + strings.Join(regs, " ")
	}
	return "unknown"
}

func diffLines(got, want []string) string {
	if slices.Equal(got, want) {
		return ""
	}
	return fmt.Sprintf("got:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
}
