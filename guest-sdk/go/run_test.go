package durable

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
)

func ok(v string) reply { return reply{result: []byte(v)} }

func appFailure(code, msg string) *abi.Failure {
	return &abi.Failure{Kind: abi.FailureApplication, Code: code, Message: msg}
}

// echoActivities answers every activity with its input, after a latency taken from the
// input when it is a number (so fan-outs complete out of order).
func echoActivities(name string, input []byte, _ int) reply {
	var n int
	if json.Unmarshal(input, &n) == nil {
		return reply{result: []byte(fmt.Sprintf(`"%s-%d"`, name, n)), after: time.Duration(10-n) * time.Second}
	}
	return reply{result: input}
}

// TestRun drives orchestrations through run against the fake host: the commands they issue,
// in order, and how they end.
func TestRun(t *testing.T) {
	tests := []struct {
		name      string
		fn        Orchestration
		input     string
		setup     func(h *fakeHost)
		wantCalls []string
		want      string
		suspend   bool
	}{
		{
			name: "typed activity",
			fn: typedOrchestration("o", func(ctx *Context, s string) (string, error) {
				return CallActivity[string](ctx, "greet", s).Get()
			}),
			input:     `"world"`,
			setup:     func(h *fakeHost) { h.activity = echoActivities },
			wantCalls: []string{`activity greet "world"`},
			want:      `completed "world"`,
		},
		{
			name: "sequence",
			fn: typedOrchestration("o", func(ctx *Context, n int) ([]string, error) {
				var out []string
				for i := range n {
					v, err := CallActivity[string](ctx, "step", i).Get()
					if err != nil {
						return nil, err
					}
					out = append(out, v)
				}
				return out, nil
			}),
			input:     `3`,
			setup:     func(h *fakeHost) { h.activity = echoActivities },
			wantCalls: []string{"activity step 0", "activity step 1", "activity step 2"},
			want:      `completed ["step-0","step-1","step-2"]`,
		},
		{
			name: "join keeps schedule order when completions come in reverse",
			fn: typedOrchestration("o", func(ctx *Context, n int) ([]string, error) {
				var fs []*Future[string]
				for i := range n {
					fs = append(fs, CallActivity[string](ctx, "step", i))
				}
				return Join(fs...)
			}),
			input:     `3`,
			setup:     func(h *fakeHost) { h.activity = echoActivities },
			wantCalls: []string{"activity step 0", "activity step 1", "activity step 2"},
			want:      `completed ["step-0","step-1","step-2"]`,
		},
		{
			name: "join reports the first error in schedule order and awaits all",
			fn: func(ctx *Context, _ []byte) ([]byte, error) {
				a := ctx.CallActivity("a", nil)
				b := ctx.CallActivity("b", nil)
				c := ctx.CallActivity("c", nil)
				_, err := Join(a, b, c)
				if _, cerr := c.Get(); !errors.Is(cerr, &Error{Code: "E_C"}) {
					return nil, fmt.Errorf("c: %v, want E_C", cerr)
				}
				return nil, err
			},
			setup: func(h *fakeHost) {
				h.activity = func(name string, _ []byte, _ int) reply {
					switch name {
					case "a":
						return reply{result: []byte("1"), after: 3 * time.Second}
					case "b":
						return reply{fail: appFailure("E_B", "b failed"), after: 2 * time.Second}
					}
					return reply{fail: appFailure("E_C", "c failed"), after: time.Second}
				}
			},
			wantCalls: []string{"activity a ", "activity b ", "activity c "},
			want:      "failed application/E_B/b failed",
		},
		{
			name: "timer",
			fn: func(ctx *Context, _ []byte) ([]byte, error) {
				if err := ctx.Sleep(1500 * time.Millisecond); err != nil {
					return nil, err
				}
				_, err := ctx.Timer(-time.Second).Get()
				return []byte(`"slept"`), err
			},
			wantCalls: []string{"timer 1.5s", "timer 0s"},
			want:      `completed "slept"`,
		},
		{
			name: "select: the event wins, the timer is cancelled",
			fn:   raceOrchestration,
			setup: func(h *fakeHost) {
				h.events["approve"] = []delivery{{at: time.Second, data: []byte(`"yes"`)}}
			},
			wantCalls: []string{"wait_event approve", "timer 5s", "cancel 2"},
			want:      `completed "event:\"yes\""`,
		},
		{
			name: "select: the timer wins, the subscription is cancelled",
			fn:   raceOrchestration,
			setup: func(h *fakeHost) {
				h.events["approve"] = []delivery{{at: time.Minute, data: []byte(`"late"`)}}
			},
			wantCalls: []string{"wait_event approve", "timer 5s", "cancel 1"},
			want:      `completed "timeout"`,
		},
		{
			name: "select: ties go to the first scheduled",
			fn: func(ctx *Context, _ []byte) ([]byte, error) {
				a, b := ctx.Timer(time.Second), ctx.Timer(time.Second)
				return []byte(fmt.Sprint(ctx.Select(b, a))), nil
			},
			wantCalls: []string{"timer 1s", "timer 1s"},
			want:      `completed 1`,
		},
		{
			name: "wait any does not cancel",
			fn: func(ctx *Context, _ []byte) ([]byte, error) {
				ev := ctx.WaitForEvent("approve")
				t := ctx.Timer(time.Second)
				first := ctx.WaitAny(ev, t)
				data, err := ev.Get()
				return []byte(fmt.Sprintf(`[%d,%s]`, first, data)), err
			},
			setup: func(h *fakeHost) {
				h.events["approve"] = []delivery{{at: time.Minute, data: []byte(`"late"`)}}
			},
			wantCalls: []string{"wait_event approve", "timer 1s"},
			want:      `completed [1,"late"]`,
		},
		{
			name: "an event that never comes suspends",
			fn: func(ctx *Context, _ []byte) ([]byte, error) {
				return ctx.WaitForEvent("approve").Get()
			},
			wantCalls: []string{"wait_event approve"},
			suspend:   true,
			want:      "<none>",
		},
		{
			name: "dequeue in order",
			fn: typedOrchestration("o", func(ctx *Context, n int) ([]json.RawMessage, error) {
				var out []json.RawMessage
				for range n {
					m, err := Dequeue[json.RawMessage](ctx, "q").Get()
					if err != nil {
						return nil, err
					}
					out = append(out, m)
				}
				return out, nil
			}),
			input: `2`,
			setup: func(h *fakeHost) {
				h.queues["q"] = [][]byte{[]byte(`{"m":1}`), []byte(`{"m":2}`), []byte(`3`)}
			},
			wantCalls: []string{"dequeue q", "dequeue q"},
			want:      `completed [{"m":1},{"m":2}]`,
		},
		{
			name: "sub-orchestrations: derived and explicit IDs, versions",
			fn: func(ctx *Context, _ []byte) ([]byte, error) {
				a := CallSubOrchestration[string](ctx, "hello", "a")
				b := CallSubOrchestration[string](ctx, "hello", "b", WithInstanceID(ctx.InstanceID()+"-child"), WithOrchestrationVersion("2"))
				out, err := Join(a, b)
				return []byte(strings.Join(out, ",")), err
			},
			setup: func(h *fakeHost) {
				h.child = func(cmd abi.Command) reply { return reply{result: []byte(`"hi ` + cmd.InstanceID + `"`)} }
			},
			wantCalls: []string{
				`sub_orchestration hello version="" id="" "a"`,
				`sub_orchestration hello version="2" id="inst-child" "b"`,
			},
			want: `completed hi ,hi inst-child`,
		},
		{
			name: "a child's infrastructure failure keeps its kind",
			fn: func(ctx *Context, _ []byte) ([]byte, error) {
				_, err := ctx.CallSubOrchestration("hello", nil).Get()
				return nil, fmt.Errorf("child: %w", err)
			},
			setup: func(h *fakeHost) {
				h.child = func(abi.Command) reply {
					return reply{fail: &abi.Failure{Kind: abi.FailureInfrastructure, Code: abi.CodeChildFailed, Message: "trap"}}
				}
			},
			wantCalls: []string{`sub_orchestration hello version="" id="" `},
			want:      "failed infrastructure/DH-CHILD-001/child: trap",
		},
		{
			name: "detached orchestration",
			fn: func(ctx *Context, _ []byte) ([]byte, error) {
				id, err := StartOrchestration(ctx, "hello", "x")
				if err != nil {
					return nil, err
				}
				id2, err := ctx.StartOrchestration("hello", nil, WithInstanceID("fixed"))
				return []byte(id + " " + id2), err
			},
			wantCalls: []string{
				`start_orchestration hello version="" id="" "x"`,
				`start_orchestration hello version="" id="fixed" `,
			},
			want: `completed inst:1:1 fixed`,
		},
		{
			name: "continue as new",
			fn: typedOrchestration("o", func(ctx *Context, c int) (int, error) {
				if err := SetCustomStatus(ctx, c); err != nil {
					return 0, err
				}
				return 0, ContinueAsNew(ctx, c+1)
			}),
			input:     `1`,
			wantCalls: []string{"status 1"},
			want:      `continued_as_new 2 version=""`,
		},
		{
			name: "continue as new with a version, JSON",
			fn: typedOrchestration("o", func(ctx *Context, c int) (int, error) {
				return 0, ContinueAsNewVersion(ctx, map[string]int{"n": c + 1}, "2")
			}),
			input: `1`,
			want:  `continued_as_new {"n":2} version="2"`,
		},
		{
			name: "continue as new with an input that does not encode",
			fn: typedOrchestration("o", func(ctx *Context, c int) (int, error) {
				return 0, ContinueAsNew(ctx, func() {})
			}),
			input: `1`,
			want:  "failed application/bad_payload/encode the continue-as-new input: json: unsupported type: func()",
		},
		{
			name: "continue as new with a version, wrapped",
			fn: func(ctx *Context, _ []byte) ([]byte, error) {
				return nil, fmt.Errorf("upgrade: %w", ctx.ContinueAsNewVersion([]byte("in"), "3"))
			},
			want: `continued_as_new in version="3"`,
		},
		{
			name: "custom status",
			fn: func(ctx *Context, _ []byte) ([]byte, error) {
				s0, ok0 := ctx.CustomStatus()
				ctx.SetCustomStatus([]byte(`"a"`))
				s1, _ := ctx.CustomStatus()
				ctx.SetCustomStatus(nil)
				_, ok2 := ctx.CustomStatus()
				ctx.ClearCustomStatus()
				_, ok3 := ctx.CustomStatus()
				return []byte(fmt.Sprintf("%s %v %s %v %v", s0, ok0, s1, ok2, ok3)), nil
			},
			setup:     func(h *fakeHost) { h.info.CustomStatus = []byte("carried") },
			wantCalls: []string{`status "a"`, "status ", "status clear"},
			want:      `completed carried true "a" true false`,
		},
		{
			name:  "a plain error fails with an application failure",
			fn:    func(*Context, []byte) ([]byte, error) { return nil, errors.New("boom") },
			want:  "failed application//boom",
			input: "",
		},
		{
			name: "an activity failure propagates as is",
			fn: func(ctx *Context, _ []byte) ([]byte, error) {
				return ctx.CallActivity("fails", []byte("null")).Get()
			},
			setup: func(h *fakeHost) {
				h.activity = func(string, []byte, int) reply {
					return reply{fail: &abi.Failure{Kind: abi.FailureApplication, Code: "E", Message: "nope", Details: []byte(`{"x":1}`)}}
				}
			},
			wantCalls: []string{"activity fails null"},
			want:      "failed application/E/nope",
		},
		{
			name: "a panic fails the execution",
			fn:   func(*Context, []byte) ([]byte, error) { panic("kaboom") },
			want: "failed application/panic/orchestration o panicked: kaboom",
		},
		{
			name: "a typed input that does not decode",
			fn: typedOrchestration("o", func(_ *Context, n int) (int, error) {
				return n, nil
			}),
			input: `"text"`,
			want:  "failed application/bad_payload/decode input of o as int: json: cannot unmarshal string into Go value of type int",
		},
		{
			name: "an unencodable activity input fails the future, schedules nothing",
			fn: func(ctx *Context, _ []byte) ([]byte, error) {
				_, err := CallActivity[int](ctx, "a", func() {}).Get()
				return nil, err
			},
			want: "failed application/bad_payload/encode input of activity a: json: unsupported type: func()",
		},
		{
			name: "metadata",
			fn: func(ctx *Context, _ []byte) ([]byte, error) {
				return []byte(fmt.Sprintf("%s %d %s %q %s %d %v", ctx.InstanceID(), ctx.ExecutionID(), ctx.Name(),
					ctx.Version(), ctx.ParentID(), ctx.StartTime().UnixNano(), ctx.IsReplaying())), nil
			},
			setup: func(h *fakeHost) {
				h.info.InstanceID, h.info.ExecutionID, h.info.ParentID, h.info.StartTime = "i7", 4, "p", 42
			},
			want: `completed i7 4 o "" p 42 false`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHost(t, abi.StartInfo{Name: "o", Input: []byte(tt.input)})
			if tt.setup != nil {
				tt.setup(h)
			}
			reg := newRegistry()
			reg.add("o", tt.fn, nil)
			if got := runFake(h, reg); got != tt.suspend {
				t.Errorf("suspended = %v, want %v", got, tt.suspend)
			}
			if d := diffLines(h.calls, tt.wantCalls); d != "" {
				t.Errorf("calls:\n%s", d)
			}
			if got := outcomeString(h.outcome); got != tt.want {
				t.Errorf("outcome:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func raceOrchestration(ctx *Context, _ []byte) ([]byte, error) {
	ev := ctx.WaitForEvent("approve")
	t := ctx.Timer(5 * time.Second)
	if ctx.Select(ev, t) == 0 {
		data, err := ev.Get()
		return []byte(`"event:` + strings.ReplaceAll(string(data), `"`, `\"`) + `"`), err
	}
	if _, err := ev.Get(); !errors.Is(err, ErrCancelled) {
		return nil, fmt.Errorf("loser: %v, want cancelled", err)
	}
	return []byte(`"timeout"`), nil
}

func TestRunModes(t *testing.T) {
	noop := func(*Context, []byte) ([]byte, error) { return nil, nil }
	version := func(v string) Orchestration {
		return func(*Context, []byte) ([]byte, error) { return []byte(v), nil }
	}
	tests := []struct {
		name string
		info abi.StartInfo
		want string
	}{
		{"describe", abi.StartInfo{Mode: abi.ModeDescribe}, "describe a b b@1 b@1.9 b@1.10"},
		{"highest version", abi.StartInfo{Name: "b"}, "completed 1.10"},
		{"exact version", abi.StartInfo{Name: "b", Version: "1.9"}, "completed 1.9"},
		{"unversioned", abi.StartInfo{Name: "b", Version: ""}, "completed 1.10"},
		{"unknown name", abi.StartInfo{Name: "zz"}, "failed infrastructure/DH-GUEST-001/the module does not register orchestration zz; it registers: a, b, b@1, b@1.9, b@1.10"},
		{"unknown version", abi.StartInfo{Name: "a", Version: "2"}, "failed infrastructure/DH-GUEST-001/the module does not register orchestration a@2; it registers: a, b, b@1, b@1.9, b@1.10"},
		{"unknown mode", abi.StartInfo{Mode: 7}, "failed infrastructure/DH-ABI-004/unknown start mode 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := newRegistry()
			reg.add("b", version("1.9"), []RegisterOption{AsVersion("1.9")})
			reg.add("a", noop, nil)
			reg.add("b", version("1.10"), []RegisterOption{AsVersion("1.10")})
			reg.add("b", version(""), nil)
			reg.add("b", version("1"), []RegisterOption{WithVersion("1")}) // the deprecated name of AsVersion
			h := newFakeHost(t, tt.info)
			runFake(h, reg)
			if got := outcomeString(h.outcome); got != tt.want {
				t.Errorf("outcome:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1", "1", 0},
		{"1", "2", -1},
		{"10", "9", 1},
		{"1.10", "1.9", 1},
		{"1.2", "1.2.0", -1},
		{"", "1", -1},
		{"01", "1", 0},
		{"2", "1.99", 1},
		{"1.a", "1.b", -1},
		{"1.10a", "1.9a", -1}, // not decimal: lexical
		{"beta", "alpha", 1},
		{"99999999999999999999999", "99999999999999999999998", 1},
	}
	for _, tt := range tests {
		t.Run(tt.a+"_vs_"+tt.b, func(t *testing.T) {
			if got := compareVersions(tt.a, tt.b); got != tt.want {
				t.Errorf("compareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := compareVersions(tt.b, tt.a); got != -tt.want {
				t.Errorf("compareVersions(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}

func TestRegisterMisuse(t *testing.T) {
	noop := func(*Context, []byte) ([]byte, error) { return nil, nil }
	tests := []struct {
		name string
		do   func(r *registry)
		want string
	}{
		{"empty name", func(r *registry) { r.add("", noop, nil) }, "empty name"},
		{"nil function", func(r *registry) { r.add("x", nil, nil) }, "nil function"},
		{"duplicate", func(r *registry) {
			r.add("x", noop, []RegisterOption{AsVersion("1")})
			r.add("x", noop, []RegisterOption{AsVersion("1")})
		}, "x@1 registered twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := catchPanic(func() { tt.do(newRegistry()) })
			if !strings.Contains(msg, tt.want) {
				t.Errorf("panic %q, want it to contain %q", msg, tt.want)
			}
		})
	}
}

// catchPanic runs f and returns its panic message ("" when it does not panic).
func catchPanic(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

func TestOutcomeOf(t *testing.T) {
	inner := &Error{Kind: abi.FailureInfrastructure, Code: abi.CodeChildFailed, Message: "trap", Details: []byte(`1`)}
	tests := []struct {
		name string
		err  error
		want abi.Outcome
	}{
		{"nil", nil, abi.Outcome{Kind: abi.OutcomeCompleted, Output: []byte("out")}},
		{"plain", errors.New("x"), abi.Outcome{Kind: abi.OutcomeFailed, Failure: &abi.Failure{Kind: abi.FailureApplication, Message: "x"}}},
		{"error as is", inner, abi.Outcome{Kind: abi.OutcomeFailed, Failure: &abi.Failure{Kind: abi.FailureInfrastructure, Code: abi.CodeChildFailed, Message: "trap", Details: []byte(`1`)}}},
		{"wrapped error", fmt.Errorf("step 2: %w", inner), abi.Outcome{Kind: abi.OutcomeFailed, Failure: &abi.Failure{Kind: abi.FailureInfrastructure, Code: abi.CodeChildFailed, Message: "step 2: trap", Details: []byte(`1`)}}},
		{"continue as new", &continueAsNew{input: []byte("i"), version: "2"}, abi.Outcome{Kind: abi.OutcomeContinuedAsNew, Input: []byte("i"), Version: "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := abi.Marshal(outcomeOf([]byte("out"), tt.err))
			want, _ := abi.Marshal(tt.want)
			if string(got) != string(want) {
				t.Errorf("outcome = %x, want %x", got, want)
			}
		})
	}
}

// badStartInfo is a host whose start_info answers bytes that are not a StartInfo.
type badStartInfo struct{ *fakeHost }

func (badStartInfo) startInfo(buf []byte) int32 {
	copy(buf, []byte{0xff})
	return 1
}

func TestRunBadStartInfo(t *testing.T) {
	h := newFakeHost(t, abi.StartInfo{})
	run(badStartInfo{h}, newRegistry())
	if got := outcomeString(h.outcome); !strings.HasPrefix(got, "failed infrastructure/DH-ABI-002/read start info:") {
		t.Errorf("outcome = %s", got)
	}
}
