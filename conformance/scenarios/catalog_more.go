package scenarios

import (
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
)

func continueScenarios() []Scenario {
	return []Scenario{{
		Group: "continue_as_new", Name: "counter", Doc: "a counter carried over executions by continue-as-new, with its custom status",
		Orchestration: "sc_counter", Input: `{"n":0,"to":3}`,
		Want: Want{Status: completed, Output: `{"n":3,"got":[],"execution":4}`, Executions: 4, CustomStatus: `{"n":3}`, History: []string{
			`execution_started sc_counter input={"n":0,"to":3}`,
			`custom_status_set status={"n":0}`,
			`execution_continued_as_new input={"n":1,"to":3}`,
			`execution_started sc_counter input={"n":1,"to":3} status={"n":0}`,
			`custom_status_set status={"n":1}`,
			`execution_continued_as_new input={"n":2,"to":3}`,
			`execution_started sc_counter input={"n":2,"to":3} status={"n":1}`,
			`custom_status_set status={"n":2}`,
			`execution_continued_as_new input={"n":3,"to":3}`,
			`execution_started sc_counter input={"n":3,"to":3} status={"n":2}`,
			`custom_status_set status={"n":3}`,
			`execution_completed`,
		}},
	}, {
		Group: "continue_as_new", Name: "events_to_latest_execution", Doc: "events raised after continue-as-new reach the new execution",
		Orchestration: "sc_counter", Input: `{"n":0,"to":2,"event":"tick"}`,
		Steps: []Step{
			{After(history.KindEventSubscribed, "tick", 1), Raise("tick", `"t1"`)},
			{After(history.KindEventSubscribed, "tick", 2), Raise("tick", `"t2"`)},
			{After(history.KindEventSubscribed, "tick", 3), Raise("tick", `"t3"`)},
		},
		Want: Want{Status: completed, Output: `{"n":2,"got":["t1","t2","t3"],"execution":3}`, Executions: 3, History: []string{
			`execution_started sc_counter`,
			`custom_status_set`, `event_subscribed tick`, `event_raised tick input="t1"`,
			`execution_continued_as_new input={"n":1,"to":2,"event":"tick","got":["t1"]}`,
			`execution_started sc_counter`,
			`custom_status_set`, `event_subscribed tick`, `event_raised tick input="t2"`,
			`execution_continued_as_new`,
			`execution_started sc_counter`,
			`custom_status_set`, `event_subscribed tick`, `event_raised tick input="t3"`,
			`execution_completed`,
		}},
	}, {
		Group: "continue_as_new", Name: "carries_status_and_queue", Doc: "continue-as-new carries the custom status and the unconsumed queue messages",
		Orchestration: "sc_carry", Input: `{"phase":1}`,
		Steps: []Step{
			{After(history.KindEventSubscribed, "go", 1), Enqueue("q", `"m1"`)},
			{After(history.KindEventSubscribed, "go", 1), Enqueue("q", `"m2"`)},
			{After(history.KindEventSubscribed, "go", 1), Enqueue("q", `"m3"`)},
			{After(history.KindEventSubscribed, "go", 1), Raise("go", `null`)},
		},
		Want: Want{Status: completed, Output: `{"got":["m1","m2","m3"],"status":"\"carried\"","execution":2}`, Executions: 2, CustomStatus: `"carried"`, History: []string{
			`execution_started sc_carry input={"phase":1}`,
			`custom_status_set status="carried"`,
			`event_subscribed go`,
			`queue_message q input="m1"`, `queue_message q input="m2"`, `queue_message q input="m3"`, `event_raised go`,
			`queue_subscribed q`,
			`execution_continued_as_new input={"phase":2,"got":["m1"]}`,
			`execution_started sc_carry status="carried" carried=[q:"m2",q:"m3"]`,
			`queue_subscribed q`, `queue_subscribed q`,
			`execution_completed`,
		}},
	}}
}

func childScenarios() []Scenario {
	info := func(id string, in string) string {
		return `{"instance_id":"` + id + `","parent_id":"root","execution_id":1,"input":` + in + `}`
	}
	return []Scenario{{
		Group: "sub_orchestration", Name: "derived_id", Doc: "a child without an explicit ID gets <parent>:<execution>:<event>",
		Orchestration: "sc_child", Input: `{"name":"sc_info","input":7}`,
		Want: Want{Status: completed, Output: info("root:1:3", "7"), History: []string{
			`execution_started sc_child`,
			`sub_orchestration_scheduled sc_info instance=derived input=7`,
			`sub_orchestration_completed @1 result=` + info("root:1:3", "7"),
			`execution_completed`,
		}, Instances: []InstanceWant{{ID: "root:1:3", Status: completed, History: []string{
			`execution_started sc_info input=7 parent=root`,
			`execution_completed`,
		}}}},
	}, {
		Group: "sub_orchestration", Name: "explicit_id", Doc: "a child with an explicit instance ID",
		Orchestration: "sc_child", Input: `{"name":"sc_info","input":8,"id":"root-kid"}`,
		Want: Want{Status: completed, Output: info("root-kid", "8"), History: []string{
			`execution_started sc_child`,
			`sub_orchestration_scheduled sc_info instance=root-kid input=8`,
			`sub_orchestration_completed @1`,
			`execution_completed`,
		}, Instances: []InstanceWant{{ID: "root-kid", Status: completed}}},
	}, {
		Group: "sub_orchestration", Name: "failure_propagates", Doc: "a child's application failure fails the parent with the same code",
		Orchestration: "sc_child", Input: `{"name":"sc_fail","input":{"code":"E_CHILD","message":"child broke"},"id":"root-kid"}`,
		Want: Want{Status: failed, Failure: appFailure("E_CHILD", "child broke"), History: []string{
			`execution_started sc_child`,
			`sub_orchestration_scheduled sc_fail instance=root-kid`,
			`sub_orchestration_failed @1 failure=application/E_CHILD`,
			`execution_failed failure=application/E_CHILD`,
		}, Instances: []InstanceWant{{ID: "root-kid", Status: failed}}},
	}, {
		Group: "sub_orchestration", Name: "failure_caught", Doc: "a parent can catch a child's application failure",
		Orchestration: "sc_child", Input: `{"name":"sc_fail","input":{"code":"E_CHILD","message":"child broke"},"id":"root-kid","catch":true}`,
		Want: Want{Status: completed, Output: `{"error":{"kind":"application","code":"E_CHILD","message":"child broke"}}`,
			Instances: []InstanceWant{{ID: "root-kid", Status: failed}}},
	}, {
		Group: "sub_orchestration", Name: "cancellation_cascade", Doc: "cancelling a parent cancels its children and grandchildren and withdraws their activities",
		Orchestration: "sc_hold", Input: `{"depth":2,"activity":"hang"}`,
		Activities: map[string]Activity{"hang": hang},
		Steps:      []Step{{AfterIn("root-c-c", history.KindEventSubscribed, "release", 1), Cancel("stop")}},
		Want: Want{Status: cancelled, Failure: failure(abi.FailureCancelled, "", "stop"), History: []string{
			`execution_started sc_hold`,
			`activity_scheduled hang`,
			`sub_orchestration_scheduled sc_hold instance=root-c input={"depth":1,"activity":"hang"}`,
			`event_subscribed release`,
			`cancel_requested reason="stop"`,
			`execution_cancelled reason="stop"`,
		}, Instances: []InstanceWant{
			{ID: "root-c", Status: cancelled, History: []string{
				`execution_started sc_hold parent=root`,
				`activity_scheduled hang`,
				`sub_orchestration_scheduled sc_hold instance=root-c-c`,
				`event_subscribed release`,
				`cancel_requested`,
				`execution_cancelled`,
			}},
			{ID: "root-c-c", Status: cancelled},
		}},
	}, {
		Group: "sub_orchestration", Name: "detached", Doc: "a detached orchestration runs on its own; the parent does not wait for it",
		Orchestration: "sc_detached", Input: `{"name":"sc_info","input":5,"id":"root-free"}`,
		Want: Want{Status: completed, Output: `"root-free"`, History: []string{
			`execution_started sc_detached`,
			`orchestration_started sc_info instance=root-free input=5`,
			`execution_completed result="root-free"`,
		}, Instances: []InstanceWant{{ID: "root-free", Status: completed,
			Output: `{"instance_id":"root-free","parent_id":"","execution_id":1,"input":5}`}}},
	}, {
		Group: "sub_orchestration", Name: "detached_derived_id", Doc: "a detached orchestration without an ID gets a derived one",
		Orchestration: "sc_detached", Input: `{"name":"sc_info","input":6}`,
		Want: Want{Status: completed, Output: `"root:1:3"`, History: []string{
			`execution_started sc_detached`,
			`orchestration_started sc_info instance=derived`,
			`execution_completed result="root:1:3"`,
		}, Instances: []InstanceWant{{ID: "root:1:3", Status: completed}}},
	}}
}

func statusScenarios() []Scenario {
	return []Scenario{{
		Group: "custom_status", Name: "set_and_reset", Doc: "the custom status is set, changed and cleared",
		Orchestration: "sc_status", Input: `["a","b","clear"]`,
		Want: Want{Status: completed, Output: `{"set":false}`, CustomStatus: "<none>", History: []string{
			`execution_started sc_status`,
			`custom_status_set status="a"`,
			`timer_created delay=1ms`, `timer_fired @2`,
			`custom_status_set status="b"`,
			`timer_created delay=1ms`, `timer_fired @4`,
			`custom_status_set cleared`,
			`execution_completed`,
		}},
	}, {
		Group: "custom_status", Name: "final_value", Doc: "the last custom status stays after completion",
		Orchestration: "sc_status", Input: `[{"stage":1},{"stage":2}]`,
		Want: Want{Status: completed, Output: `{"set":true,"status":"{\"stage\":2}"}`, CustomStatus: `{"stage":2}`, History: []string{
			`execution_started sc_status`,
			`custom_status_set status={"stage":1}`,
			`timer_created delay=1ms`, `timer_fired @2`,
			`custom_status_set status={"stage":2}`,
			`execution_completed`,
		}},
	}, {
		Group: "custom_status", Name: "empty", Doc: "an empty custom status is a status, not none",
		Orchestration: "sc_status", Input: `["empty"]`,
		Want: Want{Status: completed, Output: `{"set":true,"status":""}`, History: []string{
			`execution_started sc_status`,
			`custom_status_set status=""`,
			`execution_completed`,
		}},
	}}
}

func determinismScenarios() []Scenario {
	return []Scenario{{
		Group: "determinism", Name: "time_random_uuid", Doc: "time, random numbers and UUIDs are the same on every replay and after a restart",
		Orchestration: "sc_random", Input: `{"ms":10}`,
		Steps: []Step{{After(history.KindTimerCreated, "", 1), Restart()}},
		Want: Want{Status: completed, History: []string{
			`execution_started sc_random`,
			`timer_created delay=10ms`,
			`timer_fired @1`,
			`execution_completed`,
		}},
	}}
}

func cancelScenarios() []Scenario {
	return []Scenario{{
		Group: "cancel", Name: "with_activities_and_children", Doc: "cancelling a running instance withdraws its activities and cancels its children",
		Orchestration: "sc_hold", Input: `{"depth":1,"activity":"hang"}`,
		Activities: map[string]Activity{"hang": hang},
		Steps:      []Step{{AfterIn("root-c", history.KindEventSubscribed, "release", 1), Cancel("enough")}},
		Want: Want{Status: cancelled, Failure: failure(abi.FailureCancelled, "", "enough"), History: []string{
			`execution_started sc_hold`,
			`activity_scheduled hang`,
			`sub_orchestration_scheduled sc_hold instance=root-c`,
			`event_subscribed release`,
			`cancel_requested reason="enough"`,
			`execution_cancelled reason="enough"`,
		}, Instances: []InstanceWant{{ID: "root-c", Status: cancelled}}},
	}, {
		Group: "cancel", Name: "waiting_on_timer", Doc: "cancelling an instance that waits for a timer",
		Orchestration: "sc_timers", Input: `{"ms":[3600000]}`,
		Steps: []Step{{After(history.KindTimerCreated, "", 1), Cancel("")}},
		Want: Want{Status: cancelled, History: []string{
			`execution_started sc_timers`,
			`timer_created delay=1h0m0s`,
			`cancel_requested reason="cancelled by a client"`,
			`execution_cancelled`,
		}},
	}, {
		Group: "cancel", Name: "completed_instance", Doc: "cancelling a completed instance changes nothing",
		Orchestration: "sc_call", Input: `{"activity":"echo","input":1}`,
		Activities: map[string]Activity{"echo": echo},
		Steps: []Step{{After(history.KindExecutionCompleted, "", 1), Cancel("too late")},
			{When{}, Action{Kind: ActAwaitDrained}}},
		Want: Want{Status: completed, Output: `1`, History: []string{
			`execution_started sc_call`,
			`activity_scheduled echo`,
			`activity_completed @1`,
			`execution_completed result=1`,
		}},
	}}
}

func runtimeScenarios() []Scenario {
	return []Scenario{{
		Group: "runtime", Name: "unregistered_activity", Doc: "an activity no host registers fails with DH-UNREGISTERED-001 after the retries",
		Orchestration: "sc_call", Input: `{"activity":"nobody"}`,
		Want: Want{Status: failed, Failure: failure(abi.FailureInfrastructure, abi.CodeUnregistered, `"nobody"`), History: []string{
			`execution_started sc_call`,
			`activity_scheduled nobody`,
			`activity_failed @1 failure=infrastructure/DH-UNREGISTERED-001`,
			`execution_failed failure=infrastructure/DH-UNREGISTERED-001`,
		}},
	}, {
		Group: "runtime", Name: "unregistered_sub_orchestration", Doc: "a child no module registers fails with DH-UNREGISTERED-001 and its parent with DH-CHILD-001",
		Orchestration: "sc_child", Input: `{"name":"sc_nobody","id":"root-kid","catch":true}`,
		Want: Want{Status: failed, Failure: failure(abi.FailureInfrastructure, abi.CodeChildFailed, abi.CodeUnregistered), History: []string{
			`execution_started sc_child`,
			`sub_orchestration_scheduled sc_nobody instance=root-kid`,
			`sub_orchestration_failed @1 failure=infrastructure/DH-UNREGISTERED-001`,
			`execution_failed failure=infrastructure/DH-CHILD-001`,
		}, Instances: []InstanceWant{{ID: "root-kid", Status: failed, History: []string{
			`execution_started sc_nobody parent=root`,
			`execution_failed failure=infrastructure/DH-UNREGISTERED-001`,
		}}}},
	}, {
		Group: "runtime", Name: "poison", Doc: "a turn that never commits is retried, then the instance fails with DH-POISON-001",
		Orchestration: "sc_call", Input: `{"activity":"poisoned"}`,
		Activities:     map[string]Activity{"poisoned": echo},
		PoisonActivity: "poisoned",
		Want: Want{Status: failed, Failure: failure(abi.FailureInfrastructure, abi.CodePoison, "execution_started"), History: []string{
			`execution_started sc_call`,
			`execution_failed failure=infrastructure/DH-POISON-001`,
		}},
	}, {
		Group: "runtime", Name: "duplicate_completion_dropped", Doc: "a second completion of the same activity is dropped",
		Orchestration: "sc_call", Input: `{"activity":"gated","input":"real"}`,
		Activities: map[string]Activity{"gated": {Behaviour: Behaviour{Gate: "g"}}},
		Steps: []Step{
			{After(history.KindActivityScheduled, "gated", 1), Inject(history.Event{Kind: history.KindActivityCompleted, Result: []byte(`"first"`)}, history.KindActivityScheduled)},
			{After(history.KindExecutionCompleted, "", 1), OpenGate("g")},
			{When{}, Action{Kind: ActAwaitDrained}},
		},
		Want: Want{Status: completed, Output: `"first"`, History: []string{
			`execution_started sc_call`,
			`activity_scheduled gated input="real"`,
			`activity_completed @1 result="first"`,
			`execution_completed result="first"`,
		}},
	}}
}

func versionScenarios() []Scenario {
	return []Scenario{{
		Group: "versioning", Name: "pinned_on_replay", Doc: "a running instance keeps the module it started with after a new build is loaded",
		Orchestration: "sc_versioned", Input: `null`, Variant: true,
		Steps: []Step{
			{After(history.KindEventSubscribed, "go", 1), Action{Kind: ActLoadVariant}},
			{After(history.KindEventSubscribed, "go", 1), Restart()},
			{After(history.KindEventSubscribed, "go", 1), Raise("go", `"x"`)},
		},
		Want: Want{Status: completed, Output: `"v1-a:x"`, History: []string{
			`execution_started sc_versioned`,
			`event_subscribed go`,
			`event_raised go input="x"`,
			`execution_completed result="v1-a:x"`,
		}},
	}, {
		Group: "versioning", Name: "upgrade_through_continue_as_new", Doc: "continue-as-new to a new version runs the new build",
		Orchestration: "sc_versioned", Input: `null`, Variant: true,
		Steps: []Step{
			{After(history.KindEventSubscribed, "go", 1), Action{Kind: ActLoadVariant}},
			{After(history.KindEventSubscribed, "go", 1), Raise("go", `"upgrade"`)},
		},
		Want: Want{Status: completed, Output: `"v2-b:from-v1"`, Executions: 2, History: []string{
			`execution_started sc_versioned`,
			`event_subscribed go`,
			`event_raised go input="upgrade"`,
			`execution_continued_as_new version=2 input="from-v1"`,
			`execution_started sc_versioned version=2 input="from-v1"`,
			`execution_completed result="v2-b:from-v1"`,
		}},
	}}
}

func nondetScenarios() []Scenario {
	changed := func(change, code, mention string) Scenario {
		return Scenario{
			Group: "nondeterminism", Name: "code_changed_" + change, Doc: "the code changed between turns (" + change + "): the instance fails with " + code,
			Orchestration: "sc_nd", Input: `"` + change + `"`, Variant: true,
			Activities: map[string]Activity{"nd_step": {ByInput: map[string]Behaviour{"1": {Gate: "g"}, "2": {Block: true}}}},
			Steps: []Step{
				{After(history.KindActivityScheduled, "nd_step", 2), Action{Kind: ActSwapVariant}},
				{After(history.KindActivityScheduled, "nd_step", 2), OpenGate("g")},
			},
			Want: Want{Status: failed, Failure: failure(abi.FailureInfrastructure, code, mention), History: []string{
				`execution_started sc_nd`,
				`activity_scheduled nd_step input=1`,
				`activity_scheduled nd_step input=2`,
				`activity_completed @1 result=1`,
				`execution_failed failure=infrastructure/` + code,
			}},
		}
	}
	injected := func(name, doc string, ev history.Event, refTo history.Kind, code string) Scenario {
		return Scenario{
			Group: "nondeterminism", Name: name, Doc: doc,
			Orchestration: "sc_call", Input: `{"activity":"hang"}`,
			Activities: map[string]Activity{"hang": hang},
			Steps:      []Step{{After(history.KindActivityScheduled, "hang", 1), Inject(ev, refTo)}},
			Want: Want{Status: failed, Failure: failure(abi.FailureInfrastructure, code, ""), History: []string{
				`execution_started sc_call`,
				`activity_scheduled hang`,
				`execution_failed failure=infrastructure/` + code,
			}},
		}
	}
	return []Scenario{
		changed("name", abi.CodeCommandMismatch, `"nd_other"`),
		changed("input", abi.CodeCommandMismatch, `"99"`),
		changed("kind", abi.CodeCommandMismatch, "timer_created"),
		changed("extra", abi.CodeExtraCommand, "activity_scheduled"),
		changed("missing", abi.CodeMissingCommand, "made no decision"),
		injected("completion_of_wrong_kind", "a timer completion for an activity fails the instance with DH-NONDET-004",
			history.Event{Kind: history.KindTimerFired}, history.KindActivityScheduled, abi.CodeWrongCompletionKind),
		injected("completion_for_unknown_decision", "a completion for no decision fails the instance with DH-NONDET-005",
			history.Event{Kind: history.KindActivityCompleted, Ref: 99, Result: []byte(`1`)}, 0, abi.CodeUnknownCompletion),
	}
}

func payloadScenarios() []Scenario {
	steps := []string{`execution_started sc_sequence`}
	for b := 0; b < 1000; b += 50 {
		for i := b; i < b+50; i++ {
			steps = append(steps, `activity_scheduled step input=`+itoa(i))
		}
		steps = append(steps, "{")
		for i := b; i < b+50; i++ {
			steps = append(steps, `activity_completed @`+itoa(i+1)+` result=`+itoa(i))
		}
		steps = append(steps, "}")
	}
	steps = append(steps, `execution_completed result={"count":1000,"last":999}`)
	seq := []string{`execution_started sc_sequence`}
	for i := range 100 {
		seq = append(seq, `activity_scheduled step input=`+itoa(i), `activity_completed @`+itoa(i+1)+` result=`+itoa(i))
	}
	seq = append(seq, `execution_completed result={"count":100,"last":99}`)
	return []Scenario{{
		Group: "payload", Name: "result_1mb", Doc: "an activity result of 1 MiB passes",
		Orchestration: "sc_call", Input: `{"activity":"big","len":true}`, NoGolden: true,
		Activities: map[string]Activity{"big": {Behaviour: Behaviour{Size: 1 << 20}}},
		Want: Want{Status: completed, Output: `{"len":1048576}`, History: []string{
			`execution_started sc_call`,
			`activity_scheduled big`,
			`activity_completed @1 result=<1048576-bytes>`,
			`execution_completed result={"len":1048576}`,
		}},
	}, {
		Group: "payload", Name: "result_10mb_rejected", Doc: "an activity result of 10 MiB fails the activity with DH-LIMIT-003",
		Orchestration: "sc_call", Input: `{"activity":"huge"}`,
		Activities: map[string]Activity{"huge": {Behaviour: Behaviour{Size: 10 << 20}}},
		Want: Want{Status: failed, Failure: failure(abi.FailureInfrastructure, abi.CodePayloadTooLarge, "more than the limit"), History: []string{
			`execution_started sc_call`,
			`activity_scheduled huge`,
			`activity_failed @1 failure=infrastructure/DH-LIMIT-003`,
			`execution_failed failure=infrastructure/DH-LIMIT-003`,
		}},
	}, {
		Group: "scale", Name: "steps_1000", Doc: "an orchestration of 1000 activities, 50 at a time (a history of 3000 events)",
		Orchestration: "sc_sequence", Input: `{"activity":"step","count":1000,"batch":50}`, NoGolden: true,
		Activities: map[string]Activity{"step": echo}, Timeout: 5 * time.Minute,
		Want: Want{Status: completed, Output: `{"count":1000,"last":999}`, History: steps},
	}, {
		Group: "scale", Name: "sequential_100", Doc: "an orchestration of 100 activities one after the other (100 turns)",
		Orchestration: "sc_sequence", Input: `{"activity":"step","count":100}`, NoGolden: true,
		Activities: map[string]Activity{"step": echo}, Timeout: 5 * time.Minute,
		Want: Want{Status: completed, Output: `{"count":100,"last":99}`, History: seq},
	}}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}
