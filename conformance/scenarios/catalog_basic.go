package scenarios

import (
	"fmt"
	"strings"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// Behaviour and failure shorthands for the scenario tables.

func appFailure(code, msg string) *abi.Failure {
	return &abi.Failure{Kind: abi.FailureApplication, Code: code, Message: msg}
}

func failure(kind abi.FailureKind, code, msg string) *abi.Failure {
	return &abi.Failure{Kind: kind, Code: code, Message: msg}
}

var (
	echo    = Activity{}
	hang    = Activity{Behaviour: Behaviour{Block: true}}
	failing = func(code, msg string) Activity { return Activity{Behaviour: Behaviour{Fail: appFailure(code, msg)}} }
)

const completed, failed, cancelled = store.StatusCompleted, store.StatusFailed, store.StatusCancelled

func activityScenarios() []Scenario {
	return []Scenario{{
		Group: "activity", Name: "success", Doc: "an activity's result is the orchestration's output",
		Orchestration: "sc_call", Input: `{"activity":"echo","input":"hello"}`,
		Activities: map[string]Activity{"echo": echo},
		Want: Want{Status: completed, Output: `"hello"`, History: []string{
			`execution_started sc_call input={"activity":"echo","input":"hello"}`,
			`activity_scheduled echo input="hello"`,
			`activity_completed @1 result="hello"`,
			`execution_completed result="hello"`,
		}},
	}, {
		Group: "activity", Name: "failure_propagates", Doc: "an activity's failure fails the orchestration with the same kind, code and message",
		Orchestration: "sc_call", Input: `{"activity":"broken"}`,
		Activities: map[string]Activity{"broken": failing("E_BROKEN", "it broke")},
		Want: Want{Status: failed, Failure: appFailure("E_BROKEN", "it broke"), History: []string{
			`execution_started sc_call`,
			`activity_scheduled broken input=null`,
			`activity_failed @1 failure=application/E_BROKEN`,
			`execution_failed failure=application/E_BROKEN`,
		}},
	}, {
		Group: "activity", Name: "failure_caught", Doc: "an orchestration can catch an activity's failure and complete",
		Orchestration: "sc_call", Input: `{"activity":"broken","catch":true}`,
		Activities: map[string]Activity{"broken": failing("E_BROKEN", "it broke")},
		Want: Want{Status: completed, Output: `{"error":{"kind":"application","code":"E_BROKEN","message":"it broke"}}`, History: []string{
			`execution_started sc_call`,
			`activity_scheduled broken`,
			`activity_failed @1 failure=application/E_BROKEN`,
			`execution_completed`,
		}},
	}, {
		Group: "activity", Name: "panic", Doc: "a panicking activity fails with code panic",
		Orchestration: "sc_call", Input: `{"activity":"bomb","catch":true}`,
		Activities: map[string]Activity{"bomb": {Behaviour: Behaviour{Panic: "boom!"}}},
		Want: Want{Status: completed, Output: `{"error":{"kind":"application","code":"panic","message":"activity panicked: boom!"}}`, History: []string{
			`execution_started sc_call`,
			`activity_scheduled bomb`,
			`activity_failed @1 failure=application/panic`,
			`execution_completed`,
		}},
	}, {
		Group: "activity", Name: "empty_result", Doc: "an activity may return no bytes",
		Orchestration: "sc_call", Input: `{"activity":"void"}`,
		Activities: map[string]Activity{"void": {Behaviour: Behaviour{Empty: true}}},
		Want: Want{Status: completed, Output: `null`, History: []string{
			`execution_started sc_call`,
			`activity_scheduled void input=null`,
			`activity_completed @1`,
			`execution_completed result=null`,
		}},
	}, {
		Group: "activity", Name: "sequence", Doc: "activities called one after the other",
		Orchestration: "sc_sequence", Input: `{"activity":"echo","count":3}`,
		Activities: map[string]Activity{"echo": echo},
		Want: Want{Status: completed, Output: `{"count":3,"last":2}`, History: []string{
			`execution_started sc_sequence`,
			`activity_scheduled echo input=0`,
			`activity_completed @1 result=0`,
			`activity_scheduled echo input=1`,
			`activity_completed @2 result=1`,
			`activity_scheduled echo input=2`,
			`activity_completed @3 result=2`,
			`execution_completed result={"count":3,"last":2}`,
		}},
	}, {
		Group: "activity", Name: "fanout_schedule_order", Doc: "parallel activities complete in any order; results come in schedule order",
		Orchestration: "sc_fanout", Input: `{"activity":"slow","inputs":[1,2,3]}`,
		Activities: map[string]Activity{"slow": {ByInput: map[string]Behaviour{
			"1": {Delay: 60 * time.Millisecond}, "2": {Delay: 30 * time.Millisecond}, "3": {}}}},
		Want: Want{Status: completed, Output: `[1,2,3]`, History: []string{
			`execution_started sc_fanout`,
			`activity_scheduled slow input=1`,
			`activity_scheduled slow input=2`,
			`activity_scheduled slow input=3`,
			`{`,
			`activity_completed @1 result=1`,
			`activity_completed @2 result=2`,
			`activity_completed @3 result=3`,
			`}`,
			`execution_completed result=[1,2,3]`,
		}},
	}, {
		Group: "activity", Name: "fanout_one_fails", Doc: "a failure among parallel activities: every one is awaited, the first failure in schedule order is reported",
		Orchestration: "sc_fanout", Input: `{"activity":"mixed","inputs":[1,2,3],"catch":true}`,
		Activities: map[string]Activity{"mixed": {ByInput: map[string]Behaviour{
			"2": {Fail: appFailure("E2", "two failed")}, "3": {Fail: appFailure("E3", "three failed")}}}},
		Want: Want{Status: completed, Output: `{"results":[1,null,null],"error":{"kind":"application","code":"E2","message":"two failed"}}`, History: []string{
			`execution_started sc_fanout`,
			`activity_scheduled mixed input=1`,
			`activity_scheduled mixed input=2`,
			`activity_scheduled mixed input=3`,
			`{`,
			`activity_completed @1 result=1`,
			`activity_failed @2 failure=application/E2`,
			`activity_failed @3 failure=application/E3`,
			`}`,
			`execution_completed`,
		}},
	}, {
		Group: "activity", Name: "fanout_empty", Doc: "joining no futures completes at once",
		Orchestration: "sc_fanout", Input: `{"activity":"echo","inputs":[]}`,
		Want: Want{Status: completed, Output: `[]`, History: []string{
			`execution_started sc_fanout`,
			`execution_completed result=[]`,
		}},
	}}
}

func sagaScenarios() []Scenario {
	acts := func(fail ...string) map[string]Activity {
		m := map[string]Activity{}
		for _, s := range []string{"reserve", "charge", "ship", "undo_reserve", "undo_charge", "undo_ship"} {
			m[s] = echo
		}
		for _, f := range fail {
			m[f] = failing("E_"+strings.ToUpper(f), f+" is out of order")
		}
		return m
	}
	return []Scenario{{
		Group: "saga", Name: "all_succeed", Doc: "a saga whose steps all succeed compensates nothing",
		Orchestration: "sc_saga", Input: `{"steps":["reserve","charge","ship"]}`, Activities: acts(),
		Want: Want{Status: completed, Output: `["reserve","charge","ship"]`, History: []string{
			`execution_started sc_saga`,
			`activity_scheduled reserve`, `activity_completed @1`,
			`activity_scheduled charge`, `activity_completed @2`,
			`activity_scheduled ship`, `activity_completed @3`,
			`execution_completed`,
		}},
	}, {
		Group: "saga", Name: "compensate_in_reverse", Doc: "a failed step compensates the completed steps in reverse order, then fails",
		Orchestration: "sc_saga", Input: `{"steps":["reserve","charge","ship"]}`, Activities: acts("ship"),
		Want: Want{Status: failed, Failure: appFailure("saga_failed", "step ship failed (ship is out of order); compensated [undo_charge undo_reserve]; compensations failed []"), History: []string{
			`execution_started sc_saga`,
			`activity_scheduled reserve`, `activity_completed @1`,
			`activity_scheduled charge`, `activity_completed @2`,
			`activity_scheduled ship`, `activity_failed @3 failure=application/E_SHIP`,
			`activity_scheduled undo_charge`, `activity_completed @4`,
			`activity_scheduled undo_reserve`, `activity_completed @5`,
			`execution_failed failure=application/saga_failed`,
		}},
	}, {
		Group: "saga", Name: "compensation_fails", Doc: "a failing compensation is reported and the others still run",
		Orchestration: "sc_saga", Input: `{"steps":["reserve","charge","ship"]}`, Activities: acts("ship", "undo_charge"),
		Want: Want{Status: failed, Failure: appFailure("saga_failed", "compensated [undo_reserve]; compensations failed [undo_charge]"), History: []string{
			`execution_started sc_saga`,
			`activity_scheduled reserve`, `activity_completed @1`,
			`activity_scheduled charge`, `activity_completed @2`,
			`activity_scheduled ship`, `activity_failed @3`,
			`activity_scheduled undo_charge`, `activity_failed @4 failure=application/E_UNDO_CHARGE`,
			`activity_scheduled undo_reserve`, `activity_completed @5`,
			`execution_failed failure=application/saga_failed`,
		}},
	}, {
		Group: "saga", Name: "first_step_fails", Doc: "a saga failing at its first step has nothing to compensate",
		Orchestration: "sc_saga", Input: `{"steps":["reserve","charge"]}`, Activities: acts("reserve"),
		Want: Want{Status: failed, Failure: appFailure("saga_failed", "compensated []; compensations failed []"), History: []string{
			`execution_started sc_saga`,
			`activity_scheduled reserve`, `activity_failed @1`,
			`execution_failed failure=application/saga_failed`,
		}},
	}}
}

// flaky fails n times with E_FLAKY, then returns "done".
func flaky(n int) Activity {
	var a Activity
	for range n {
		a.Attempts = append(a.Attempts, Behaviour{Fail: appFailure("E_FLAKY", "not this time")})
	}
	a.Attempts = append(a.Attempts, Behaviour{Result: `"done"`})
	return a
}

// retryHistory is the history of sc_call retrying "flaky" with the given backoff delays
// before the last attempt, which ends with last.
func retryHistory(delays []string, last string) []string {
	h := []string{`execution_started sc_call`}
	d := 0
	for _, delay := range delays {
		h = append(h, `activity_scheduled flaky`, fmt.Sprintf(`activity_failed @%d failure=application/E_FLAKY`, d+1),
			`timer_created delay=`+delay, fmt.Sprintf(`timer_fired @%d`, d+2))
		d += 2
	}
	return append(h, `activity_scheduled flaky`, fmt.Sprintf(last, d+1))
}

func retryScenarios() []Scenario {
	return []Scenario{{
		Group: "retry", Name: "fixed_then_success", Doc: "a fixed interval retry succeeds at the third attempt",
		Orchestration: "sc_call", Input: `{"activity":"flaky","retry":{"max_attempts":5,"initial_ms":10,"coefficient":1}}`,
		Activities: map[string]Activity{"flaky": flaky(2)},
		Want: Want{Status: completed, Output: `"done"`, History: append(retryHistory([]string{"10ms", "10ms"}, `activity_completed @%d result="done"`),
			`execution_completed result="done"`)},
	}, {
		Group: "retry", Name: "exponential", Doc: "an exponential backoff doubles the wait between attempts",
		Orchestration: "sc_call", Input: `{"activity":"flaky","retry":{"max_attempts":5,"initial_ms":10,"coefficient":2}}`,
		Activities: map[string]Activity{"flaky": flaky(3)},
		Want: Want{Status: completed, Output: `"done"`, History: append(retryHistory([]string{"10ms", "20ms", "40ms"}, `activity_completed @%d`),
			`execution_completed`)},
	}, {
		Group: "retry", Name: "max_interval", Doc: "the wait between attempts is capped by the maximum interval",
		Orchestration: "sc_call", Input: `{"activity":"flaky","retry":{"max_attempts":5,"initial_ms":10,"coefficient":3,"max_ms":20}}`,
		Activities: map[string]Activity{"flaky": flaky(3)},
		Want: Want{Status: completed, History: append(retryHistory([]string{"10ms", "20ms", "20ms"}, `activity_completed @%d`),
			`execution_completed`)},
	}, {
		Group: "retry", Name: "max_attempts_exhausted", Doc: "the last attempt's failure is the call's failure",
		Orchestration: "sc_call", Input: `{"activity":"flaky","retry":{"max_attempts":3,"initial_ms":10,"coefficient":1}}`,
		Activities: map[string]Activity{"flaky": flaky(5)},
		Want: Want{Status: failed, Failure: appFailure("E_FLAKY", "not this time"), History: append(retryHistory([]string{"10ms", "10ms"}, `activity_failed @%d failure=application/E_FLAKY`),
			`execution_failed failure=application/E_FLAKY`)},
	}, {
		Group: "retry", Name: "non_retryable", Doc: "a failure whose code is non-retryable ends the retries at once",
		Orchestration: "sc_call", Input: `{"activity":"fatal","retry":{"max_attempts":5,"initial_ms":10,"non_retryable":["E_FATAL"]}}`,
		Activities: map[string]Activity{"fatal": failing("E_FATAL", "give up")},
		Want: Want{Status: failed, Failure: appFailure("E_FATAL", "give up"), History: []string{
			`execution_started sc_call`,
			`activity_scheduled fatal`,
			`activity_failed @1 failure=application/E_FATAL`,
			`execution_failed failure=application/E_FATAL`,
		}},
	}, {
		Group: "retry", Name: "attempt_timeout", Doc: "an attempt exceeding its timeout is cancelled and retried; the last timeout fails the call",
		Orchestration: "sc_call", Input: `{"activity":"hang","retry":{"max_attempts":2,"initial_ms":10,"timeout_ms":20}}`,
		Activities: map[string]Activity{"hang": hang},
		Want: Want{Status: failed, Failure: failure(abi.FailureTimeout, "attempt_timeout", "attempt 2 timed out"), History: []string{
			`execution_started sc_call`,
			`activity_scheduled hang`,
			`timer_created delay=20ms`,
			`timer_fired @2`,
			`future_cancelled @1`,
			`timer_created delay=10ms`,
			`timer_fired @4`,
			`activity_scheduled hang`,
			`timer_created delay=20ms`,
			`timer_fired @6`,
			`future_cancelled @5`,
			`execution_failed failure=timeout/attempt_timeout`,
		}},
	}, {
		Group: "retry", Name: "attempt_timeout_then_success", Doc: "an attempt that timed out is followed by one that succeeds; its timeout timer is cancelled",
		Orchestration: "sc_call", Input: `{"activity":"slowpoke","retry":{"max_attempts":3,"initial_ms":10,"timeout_ms":5000}}`,
		Activities: map[string]Activity{"slowpoke": {Attempts: []Behaviour{{Block: true}, {Result: `"late"`}}}},
		Want: Want{Status: completed, Output: `"late"`, History: []string{
			`execution_started sc_call`,
			`activity_scheduled slowpoke`,
			`timer_created delay=5s`,
			`timer_fired @2`,
			`future_cancelled @1`,
			`timer_created delay=10ms`,
			`timer_fired @4`,
			`activity_scheduled slowpoke`,
			`timer_created delay=5s`,
			`activity_completed @5 result="late"`,
			`future_cancelled @6`,
			`execution_completed result="late"`,
		}},
	}}
}

func timerScenarios() []Scenario {
	many := []string{`execution_started sc_timers`}
	var ms []string
	for i := range 25 {
		ms = append(ms, fmt.Sprint(10+2*i))
		many = append(many, fmt.Sprintf("timer_created delay=%dms", 10+2*i))
	}
	many = append(many, "{")
	for i := range 25 {
		many = append(many, fmt.Sprintf("timer_fired @%d", i+1))
	}
	many = append(many, "}", `execution_completed result={"fired":25,"elapsed_ok":true}`)
	return []Scenario{{
		Group: "timer", Name: "zero", Doc: "a timer of zero fires",
		Orchestration: "sc_timers", Input: `{"ms":[0]}`,
		Want: Want{Status: completed, Output: `{"fired":1,"elapsed_ok":true}`, History: []string{
			`execution_started sc_timers`,
			`timer_created delay=0s`,
			`timer_fired @1`,
			`execution_completed`,
		}},
	}, {
		Group: "timer", Name: "chained", Doc: "timers one after the other; logical time advances by at least their sum",
		Orchestration: "sc_timers", Input: `{"ms":[10,20,30]}`,
		Want: Want{Status: completed, Output: `{"fired":3,"elapsed_ok":true}`, History: []string{
			`execution_started sc_timers`,
			`timer_created delay=10ms`, `timer_fired @1`,
			`timer_created delay=20ms`, `timer_fired @2`,
			`timer_created delay=30ms`, `timer_fired @3`,
			`execution_completed`,
		}},
	}, {
		Group: "timer", Name: "many_parallel", Doc: "25 timers at once all fire",
		Orchestration: "sc_timers", Input: `{"ms":[` + strings.Join(ms, ",") + `],"parallel":true}`,
		Want: Want{Status: completed, Output: `{"fired":25,"elapsed_ok":true}`, History: many},
	}, {
		Group: "timer", Name: "same_fire_time", Doc: "timers firing at the same time all fire",
		Orchestration: "sc_timers", Input: `{"ms":[20,20,20],"parallel":true}`,
		Want: Want{Status: completed, Output: `{"fired":3,"elapsed_ok":true}`, History: []string{
			`execution_started sc_timers`,
			`timer_created delay=20ms`, `timer_created delay=20ms`, `timer_created delay=20ms`,
			`{`, `timer_fired @1`, `timer_fired @2`, `timer_fired @3`, `}`,
			`execution_completed`,
		}},
	}, {
		Group: "timer", Name: "survives_restart", Doc: "a pending timer fires after the host restarted",
		Orchestration: "sc_timers", Input: `{"ms":[50]}`,
		Steps: []Step{{After(history.KindTimerCreated, "", 1), Restart()}},
		Want: Want{Status: completed, Output: `{"fired":1,"elapsed_ok":true}`, History: []string{
			`execution_started sc_timers`,
			`timer_created delay=50ms`,
			`timer_fired @1`,
			`execution_completed`,
		}},
	}}
}
