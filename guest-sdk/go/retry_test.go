package durable

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
)

// failing answers the first n attempts of every activity with a failure, then "ok".
func failing(n int, f *abi.Failure) func(string, []byte, int) reply {
	return func(_ string, _ []byte, attempt int) reply {
		if attempt <= n {
			g := *f
			g.Message = fmt.Sprintf("%s (attempt %d)", f.Message, attempt)
			return reply{fail: &g}
		}
		return ok(`"ok"`)
	}
}

func TestRetry(t *testing.T) {
	policy := RetryPolicy{MaxAttempts: 3, InitialInterval: time.Second, BackoffCoefficient: 2}
	callFlaky := func(p RetryPolicy) Orchestration {
		return func(ctx *Context, _ []byte) ([]byte, error) {
			return ctx.CallActivity("flaky", []byte("null"), WithRetry(p)).Get()
		}
	}
	tests := []struct {
		name      string
		fn        Orchestration
		activity  func(string, []byte, int) reply
		child     func(abi.Command) reply
		wantCalls []string
		want      string
	}{
		{
			name:     "succeeds on the third attempt",
			fn:       callFlaky(policy),
			activity: failing(2, appFailure("E", "flaky")),
			wantCalls: []string{"activity flaky null", "timer 1s", "activity flaky null", "timer 2s",
				"activity flaky null"},
			want: `completed "ok"`,
		},
		{
			name:     "fails with the last attempt's error",
			fn:       callFlaky(policy),
			activity: failing(5, appFailure("E", "flaky")),
			wantCalls: []string{"activity flaky null", "timer 1s", "activity flaky null", "timer 2s",
				"activity flaky null"},
			want: "failed application/E/flaky (attempt 3)",
		},
		{
			name:      "non-retryable code",
			fn:        callFlaky(RetryPolicy{MaxAttempts: 3, NonRetryableCodes: []string{"FATAL"}}),
			activity:  failing(5, appFailure("FATAL", "no")),
			wantCalls: []string{"activity flaky null"},
			want:      "failed application/FATAL/no (attempt 1)",
		},
		{
			name: "infrastructure failures are not retried",
			fn:   callFlaky(policy),
			activity: failing(5, &abi.Failure{Kind: abi.FailureInfrastructure, Code: abi.CodeUnregistered,
				Message: "no worker"}),
			wantCalls: []string{"activity flaky null"},
			want:      "failed infrastructure/DH-UNREGISTERED-001/no worker (attempt 1)",
		},
		{
			name:     "no attempt limit, capped interval",
			fn:       callFlaky(RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 10, MaxInterval: 5 * time.Second}),
			activity: failing(3, appFailure("E", "flaky")),
			wantCalls: []string{"activity flaky null", "timer 1s", "activity flaky null", "timer 5s",
				"activity flaky null", "timer 5s", "activity flaky null"},
			want: `completed "ok"`,
		},
		{
			name: "attempt timeout",
			fn:   callFlaky(RetryPolicy{MaxAttempts: 2, InitialInterval: time.Second, AttemptTimeout: time.Second}),
			activity: func(string, []byte, int) reply {
				return reply{never: true}
			},
			wantCalls: []string{"activity flaky null", "timer 1s", "cancel 1", "timer 1s",
				"activity flaky null", "timer 1s", "cancel 4"},
			want: `failed timeout/attempt_timeout/activity "flaky": attempt 2 timed out after 1s`,
		},
		{
			name: "an attempt within its timeout cancels the timer",
			fn:   callFlaky(RetryPolicy{MaxAttempts: 2, AttemptTimeout: time.Second}),
			activity: func(string, []byte, int) reply {
				return reply{result: []byte("1"), after: 500 * time.Millisecond}
			},
			wantCalls: []string{"activity flaky null", "timer 1s", "cancel 2"},
			want:      "completed 1",
		},
		{
			name: "a slow attempt times out, the next one succeeds",
			fn:   callFlaky(RetryPolicy{MaxAttempts: 2, InitialInterval: time.Second, AttemptTimeout: time.Second}),
			activity: func(_ string, _ []byte, attempt int) reply {
				if attempt == 1 {
					return reply{never: true}
				}
				return ok("2")
			},
			wantCalls: []string{"activity flaky null", "timer 1s", "cancel 1", "timer 1s",
				"activity flaky null", "timer 1s", "cancel 5"},
			want: "completed 2",
		},
		{
			name: "retries progress while the orchestration waits for something else",
			fn: func(ctx *Context, _ []byte) ([]byte, error) {
				f := ctx.CallActivity("flaky", []byte("null"), WithRetry(policy))
				if err := ctx.Sleep(10 * time.Second); err != nil {
					return nil, err
				}
				return f.Get()
			},
			activity:  failing(1, appFailure("E", "flaky")),
			wantCalls: []string{"activity flaky null", "timer 10s", "timer 1s", "activity flaky null"},
			want:      `completed "ok"`,
		},
		{
			name: "select cancels a retrying call in its backoff",
			fn: func(ctx *Context, _ []byte) ([]byte, error) {
				f := ctx.CallActivity("flaky", []byte("null"), WithRetry(policy))
				tm := ctx.Timer(500 * time.Millisecond)
				i := ctx.Select(f, tm)
				_, err := f.Get()
				return []byte(fmt.Sprintf(`"%d %v"`, i, err)), nil
			},
			activity:  failing(1, appFailure("E", "flaky")),
			wantCalls: []string{"activity flaky null", "timer 500ms", "timer 1s", "cancel 3"},
			want:      `completed "1 future cancelled by the orchestration"`,
		},
		{
			name: "sub-orchestration retried",
			fn: func(ctx *Context, _ []byte) ([]byte, error) {
				return ctx.CallSubOrchestration("child", nil, WithRetry(RetryPolicy{MaxAttempts: 2})).Get()
			},
			child: func() func(abi.Command) reply {
				n := 0
				return func(abi.Command) reply {
					if n++; n == 1 {
						return reply{fail: appFailure("", "first")}
					}
					return ok("done")
				}
			}(),
			wantCalls: []string{`sub_orchestration child version="" id="" `, "timer 1s", `sub_orchestration child version="" id="" `},
			want:      "completed done",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHost(t, abi.StartInfo{Name: "o"})
			h.activity, h.child = tt.activity, tt.child
			reg := newRegistry()
			reg.add("o", tt.fn, nil)
			if runFake(h, reg) {
				t.Fatal("suspended")
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

func TestRetryPolicyInterval(t *testing.T) {
	tests := []struct {
		name    string
		p       RetryPolicy
		attempt int
		want    time.Duration
	}{
		{"defaults, first", RetryPolicy{}, 1, time.Second},
		{"defaults, third", RetryPolicy{}, 3, 4 * time.Second},
		{"defaults cap at 100x", RetryPolicy{}, 20, 100 * time.Second},
		{"coefficient 1.5", RetryPolicy{InitialInterval: 100 * time.Millisecond, BackoffCoefficient: 1.5}, 3, 225 * time.Millisecond},
		{"coefficient 1 is constant", RetryPolicy{InitialInterval: time.Minute, BackoffCoefficient: 1}, 9, time.Minute},
		{"max interval", RetryPolicy{InitialInterval: time.Second, MaxInterval: 3 * time.Second}, 3, 3 * time.Second},
		{"huge attempt does not overflow", RetryPolicy{MaxInterval: time.Hour}, 10000, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Interval(tt.attempt); got != tt.want {
				t.Errorf("Interval(%d) = %v, want %v", tt.attempt, got, tt.want)
			}
		})
	}
}

func TestRetryPolicyValidation(t *testing.T) {
	tests := []struct {
		name string
		p    RetryPolicy
		want string
	}{
		{"negative attempts", RetryPolicy{MaxAttempts: -1}, "MaxAttempts is negative"},
		{"negative interval", RetryPolicy{InitialInterval: -1}, "negative duration"},
		{"coefficient below 1", RetryPolicy{BackoffCoefficient: 0.5}, "BackoffCoefficient 0.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, _ := newTestContext(t)
			msg := catchPanic(func() { ctx.CallActivity("a", nil, WithRetry(tt.p)) })
			if !strings.Contains(msg, tt.want) {
				t.Errorf("panic %q, want it to contain %q", msg, tt.want)
			}
		})
	}
}
