package scenarios

import (
	"fmt"
	"strings"

	"github.com/durohost/durohost/history"
)

// Future specs of sc_select and sc_join.
const (
	futFast     = `{"kind":"activity","name":"fast","input":"a"}`
	futHang     = `{"kind":"activity","name":"hang"}`
	futHour     = `{"kind":"timer","ms":3600000}`
	futShort    = `{"kind":"timer","ms":10}`
	futEvent    = `{"kind":"event","name":"approve"}`
	futQueue    = `{"kind":"queue","name":"inbox"}`
	futChild    = `{"kind":"child","name":"sc_info","input":1,"id":"root-kid"}`
	futHoldKid  = `{"kind":"child","name":"sc_hold","input":{"depth":0},"id":"root-kid"}`
	kidInfoJSON = `{"instance_id":"root-kid","parent_id":"root","execution_id":1,"input":1}`
)

// Decision patterns of the futures above.
var futDecision = map[string]string{
	futFast:    `activity_scheduled fast input="a"`,
	futHang:    `activity_scheduled hang`,
	futHour:    `timer_created delay=1h0m0s`,
	futShort:   `timer_created delay=10ms`,
	futEvent:   `event_subscribed approve`,
	futQueue:   `queue_subscribed inbox`,
	futChild:   `sub_orchestration_scheduled sc_info instance=root-kid`,
	futHoldKid: `sub_orchestration_scheduled sc_hold instance=root-kid`,
}

var selectActivities = map[string]Activity{"fast": echo, "hang": hang}

// selectScenario builds a select scenario: the futures in order, the winner's index, the
// input pattern that makes it win, the steps that cause it, and its output.
func selectScenario(name, doc string, futs []string, winner int, input string, steps []Step, output string) Scenario {
	h := []string{`execution_started sc_select`}
	for _, f := range futs {
		h = append(h, futDecision[f])
	}
	h = append(h, input)
	for i := range futs {
		if i != winner {
			h = append(h, fmt.Sprintf("future_cancelled @%d", i+1))
		}
	}
	out := fmt.Sprintf(`{"index":%d,"result":%s}`, winner, output)
	h = append(h, "execution_completed result="+out)
	sc := Scenario{
		Group: "select", Name: name, Doc: doc,
		Orchestration: "sc_select", Input: `{"futures":[` + strings.Join(futs, ",") + `]}`,
		Activities: selectActivities, Steps: steps,
		Want: Want{Status: completed, Output: out, History: h},
	}
	for _, f := range futs {
		switch {
		case f == futChild:
			sc.Want.Instances = append(sc.Want.Instances, InstanceWant{ID: "root-kid", Status: completed, Output: kidInfoJSON})
		case f == futHoldKid && winner != indexOf(futs, f):
			sc.Want.Instances = append(sc.Want.Instances, InstanceWant{ID: "root-kid", Status: cancelled})
		}
	}
	return sc
}

func indexOf(xs []string, x string) int {
	for i, y := range xs {
		if y == x {
			return i
		}
	}
	return -1
}

var (
	raiseApprove  = []Step{{After(history.KindEventSubscribed, "approve", 1), Raise("approve", `"yes"`)}}
	kidSubscribed = Step{AfterIn("root-kid", history.KindEventSubscribed, "release", 1), Raise("approve", `"yes"`)}
)

func selectScenarios() []Scenario {
	s := []Scenario{
		selectScenario("activity_beats_timer", "an activity wins over a timer; the timer is cancelled",
			[]string{futFast, futHour}, 0, `activity_completed @1 result="a"`, nil, `"a"`),
		selectScenario("timer_beats_activity", "a timer wins over an activity; the activity is withdrawn",
			[]string{futHang, futShort}, 1, `timer_fired @2`, nil, `null`),
		selectScenario("event_beats_timer", "an event wins over a timer",
			[]string{futEvent, futHour}, 0, `event_raised approve input="yes"`, raiseApprove, `"yes"`),
		selectScenario("timer_beats_event", "a timer wins over an event; the subscription is withdrawn",
			[]string{futEvent, futShort}, 1, `timer_fired @2`, nil, `null`),
		selectScenario("activity_beats_event", "an activity wins over an event",
			[]string{futFast, futEvent}, 0, `activity_completed @1`, nil, `"a"`),
		selectScenario("event_beats_activity", "an event wins over an activity; the activity is withdrawn",
			[]string{futHang, futEvent}, 1, `event_raised approve`, raiseApprove, `"yes"`),
		selectScenario("queue_beats_timer", "a queue message wins over a timer",
			[]string{futQueue, futHour}, 0, `queue_message inbox input="m"`,
			[]Step{{After(history.KindQueueSubscribed, "inbox", 1), Enqueue("inbox", `"m"`)}}, `"m"`),
		selectScenario("child_beats_timer", "a sub-orchestration wins over a timer",
			[]string{futChild, futHour}, 0, `sub_orchestration_completed @1`, nil, kidInfoJSON),
		selectScenario("child_beats_activity", "a sub-orchestration wins over an activity; the activity is withdrawn",
			[]string{futHang, futChild}, 1, `sub_orchestration_completed @2`, nil, kidInfoJSON),
		selectScenario("event_beats_child", "an event wins over a sub-orchestration; the child is cancelled",
			[]string{futHoldKid, futEvent}, 1, `event_raised approve`, []Step{kidSubscribed}, `"yes"`),
		selectScenario("timer_beats_child", "a timer wins over a sub-orchestration; the child is cancelled",
			[]string{futHoldKid, futShort}, 1, `timer_fired @2`,
			[]Step{{AfterIn("root-kid", history.KindEventSubscribed, "release", 1), OpenGate("unused")}}, `null`),
		selectScenario("activity_beats_child", "an activity wins over a sub-orchestration; the child is cancelled",
			[]string{futHoldKid, `{"kind":"activity","name":"gated","input":"a"}`}, 1, `activity_completed @2`,
			[]Step{{AfterIn("root-kid", history.KindEventSubscribed, "release", 1), OpenGate("g")}}, `"a"`),
		selectScenario("four_way_event_wins", "an event wins over an activity, a timer and a sub-orchestration; all three are cancelled",
			[]string{futHang, futHour, futHoldKid, futEvent}, 3, `event_raised approve`, []Step{kidSubscribed}, `"yes"`),
	}
	// the gated activity of activity_beats_child
	gated := s[11]
	gated.Activities = map[string]Activity{"gated": {Behaviour: Behaviour{Gate: "g"}}}
	gated.Want.History[2] = `activity_scheduled gated input="a"`
	s[11] = gated
	// timer_beats_child races the child's first turn against the timer: its history may or
	// may not show the subscription, so only its end is compared.
	s[10].Steps = nil
	s[10].LooseChildren = true
	s[10].Want.Instances = []InstanceWant{{ID: "root-kid", Status: cancelled}}
	return s
}

func joinScenarios() []Scenario {
	return []Scenario{{
		Group: "join", Name: "mixed_schedule_order", Doc: "an activity, a timer, an event and a sub-orchestration joined: results in schedule order",
		Orchestration: "sc_join", Input: `{"futures":[{"kind":"activity","name":"slow","input":"a"},` + futShort + `,` + futEvent + `,` + futChild + `]}`,
		Activities: map[string]Activity{"slow": {Behaviour: Behaviour{Delay: 50_000_000}}},
		Steps:      raiseApprove,
		Want: Want{Status: completed,
			Output: `[{"result":"a"},{"result":null},{"result":"yes"},{"result":` + kidInfoJSON + `}]`,
			History: []string{
				`execution_started sc_join`,
				`activity_scheduled slow input="a"`,
				`timer_created delay=10ms`,
				`event_subscribed approve`,
				`sub_orchestration_scheduled sc_info instance=root-kid`,
				`{`,
				`activity_completed @1`,
				`timer_fired @2`,
				`event_raised approve input="yes"`,
				`sub_orchestration_completed @4`,
				`}`,
				`execution_completed`,
			},
			Instances: []InstanceWant{{ID: "root-kid", Status: completed, History: []string{
				`execution_started sc_info input=1 parent=root`,
				`execution_completed result=` + kidInfoJSON,
			}}},
		},
	}, {
		Group: "join", Name: "failure_does_not_stop_join", Doc: "a failed future among joined ones: every one is awaited and reported in order",
		Orchestration: "sc_join", Input: `{"futures":[{"kind":"activity","name":"bad"},{"kind":"activity","name":"good","input":2}]}`,
		Activities: map[string]Activity{"bad": failing("E_BAD", "bad"), "good": {Behaviour: Behaviour{Delay: 30_000_000}}},
		Want: Want{Status: completed,
			Output: `[{"error":{"kind":"application","code":"E_BAD","message":"bad"}},{"result":2}]`,
			History: []string{
				`execution_started sc_join`,
				`activity_scheduled bad`,
				`activity_scheduled good input=2`,
				`{`, `activity_failed @1 failure=application/E_BAD`, `activity_completed @2 result=2`, `}`,
				`execution_completed`,
			}},
	}, {
		Group: "join", Name: "children_fanout", Doc: "sub-orchestrations started at once and joined",
		Orchestration: "sc_join", Input: `{"futures":[{"kind":"child","name":"sc_info","input":1,"id":"k1"},{"kind":"child","name":"sc_info","input":2,"id":"k2"},{"kind":"child","name":"sc_info","input":3,"id":"k3"}]}`,
		Want: Want{Status: completed,
			Output: `[{"result":{"instance_id":"k1","parent_id":"root","execution_id":1,"input":1}},{"result":{"instance_id":"k2","parent_id":"root","execution_id":1,"input":2}},{"result":{"instance_id":"k3","parent_id":"root","execution_id":1,"input":3}}]`,
			History: []string{
				`execution_started sc_join`,
				`sub_orchestration_scheduled sc_info instance=k1 input=1`,
				`sub_orchestration_scheduled sc_info instance=k2 input=2`,
				`sub_orchestration_scheduled sc_info instance=k3 input=3`,
				`{`, `sub_orchestration_completed @1`, `sub_orchestration_completed @2`, `sub_orchestration_completed @3`, `}`,
				`execution_completed`,
			},
			Instances: []InstanceWant{{ID: "k1", Status: completed}, {ID: "k2", Status: completed}, {ID: "k3", Status: completed}},
		},
	}}
}

func eventScenarios() []Scenario {
	afterSub := func(name string, n int) When { return After(history.KindEventSubscribed, name, n) }
	return []Scenario{{
		Group: "event", Name: "after_subscription", Doc: "an event raised while the orchestration waits for it",
		Orchestration: "sc_receive", Input: `{"steps":[{"event":"approve"}]}`,
		Steps: []Step{{afterSub("approve", 1), Raise("approve", `"yes"`)}},
		Want: Want{Status: completed, Output: `["yes"]`, History: []string{
			`execution_started sc_receive`,
			`event_subscribed approve`,
			`event_raised approve input="yes"`,
			`execution_completed result=["yes"]`,
		}},
	}, {
		Group: "event", Name: "before_subscription", Doc: "an event raised before its subscription is buffered and taken later",
		Orchestration: "sc_receive", Input: `{"steps":[{"event":"first"},{"event":"second"}]}`,
		Steps: []Step{{afterSub("first", 1), Raise("second", `2`)}, {afterSub("first", 1), Raise("first", `1`)}},
		Want: Want{Status: completed, Output: `[1,2]`, History: []string{
			`execution_started sc_receive`,
			`event_subscribed first`,
			`event_raised second input=2`,
			`event_raised first input=1`,
			`event_subscribed second`,
			`execution_completed result=[1,2]`,
		}},
	}, {
		Group: "event", Name: "positional_fifo", Doc: "events of one name are taken oldest first, one per subscription",
		Orchestration: "sc_receive", Input: `{"gate":"go","steps":[{"event":"x"},{"event":"x"},{"event":"x"}]}`,
		Steps: []Step{{afterSub("go", 1), Raise("x", `1`)}, {afterSub("go", 1), Raise("x", `2`)},
			{afterSub("go", 1), Raise("x", `3`)}, {afterSub("go", 1), Raise("go", `null`)}},
		Want: Want{Status: completed, Output: `[1,2,3]`, History: []string{
			`execution_started sc_receive`,
			`event_subscribed go`,
			`event_raised x input=1`, `event_raised x input=2`, `event_raised x input=3`, `event_raised go`,
			`event_subscribed x`, `event_subscribed x`, `event_subscribed x`,
			`execution_completed result=[1,2,3]`,
		}},
	}, {
		Group: "event", Name: "duplicates", Doc: "the same event raised twice is delivered twice",
		Orchestration: "sc_receive", Input: `{"gate":"go","steps":[{"event":"x"},{"event":"x"}]}`,
		Steps: []Step{{afterSub("go", 1), Raise("x", `"same"`)}, {afterSub("go", 1), Raise("x", `"same"`)},
			{afterSub("go", 1), Raise("go", `null`)}},
		Want: Want{Status: completed, Output: `["same","same"]`, History: []string{
			`execution_started sc_receive`,
			`event_subscribed go`,
			`event_raised x input="same"`, `event_raised x input="same"`, `event_raised go`,
			`event_subscribed x`, `event_subscribed x`,
			`execution_completed`,
		}},
	}, {
		Group: "event", Name: "unconsumed_extra", Doc: "an event nobody waits for is recorded and left unconsumed",
		Orchestration: "sc_receive", Input: `{"gate":"go","steps":[{"event":"x"}]}`,
		Steps: []Step{{afterSub("go", 1), Raise("x", `1`)}, {afterSub("go", 1), Raise("x", `2`)},
			{afterSub("go", 1), Raise("go", `null`)}},
		Want: Want{Status: completed, Output: `[1]`, History: []string{
			`execution_started sc_receive`,
			`event_subscribed go`,
			`event_raised x input=1`, `event_raised x input=2`, `event_raised go`,
			`event_subscribed x`,
			`execution_completed result=[1]`,
		}},
	}, {
		Group: "event", Name: "after_completion", Doc: "an event for a completed instance is dropped",
		Orchestration: "sc_receive", Input: `{"steps":[{"event":"x"}]}`,
		Steps: []Step{{afterSub("x", 1), Raise("x", `1`)},
			{After(history.KindExecutionCompleted, "", 1), Raise("x", `"late"`)},
			{When{}, Action{Kind: ActAwaitDrained}}},
		Want: Want{Status: completed, Output: `[1]`, History: []string{
			`execution_started sc_receive`,
			`event_subscribed x`,
			`event_raised x input=1`,
			`execution_completed`,
		}},
	}, {
		Group: "event", Name: "cancelled_subscription_does_not_steal", Doc: "a subscription cancelled by a select does not take the next event",
		Orchestration: "sc_receive", Input: `{"steps":[{"event":"x","timeout_ms":10},{"event":"x"}]}`,
		Steps: []Step{{afterSub("x", 2), Raise("x", `"late"`)}},
		Want: Want{Status: completed, Output: `["timeout","late"]`, History: []string{
			`execution_started sc_receive`,
			`event_subscribed x`,
			`timer_created delay=10ms`,
			`timer_fired @2`,
			`future_cancelled @1`,
			`event_subscribed x`,
			`event_raised x input="late"`,
			`execution_completed result=["timeout","late"]`,
		}},
	}, {
		Group: "event", Name: "cancelled_subscription_returns_event", Doc: "an event given to a subscription that is cancelled unread goes to the next subscription",
		Orchestration: "sc_rebind", Input: `{"kind":"event","name":"x","gate":"go"}`,
		Steps: []Step{{afterSub("go", 1), Raise("x", `1`)}, {afterSub("go", 1), Raise("go", `null`)}},
		Want: Want{Status: completed, Output: `1`, History: []string{
			`execution_started sc_rebind`,
			`event_subscribed x`,
			`event_subscribed go`,
			`event_raised x input=1`,
			`event_raised go`,
			`event_subscribed x`,
			`execution_completed result=1`,
		}},
	}}
}

func queueScenarios() []Scenario {
	afterSub := func(name string, n int) When { return After(history.KindEventSubscribed, name, n) }
	afterQ := func(name string, n int) When { return After(history.KindQueueSubscribed, name, n) }
	return []Scenario{{
		Group: "queue", Name: "buffered_before_dequeue", Doc: "messages enqueued before any dequeue are buffered, then taken in order",
		Orchestration: "sc_receive", Input: `{"gate":"go","steps":[{"queue":"q"},{"queue":"q"},{"queue":"q"}]}`,
		Steps: []Step{{afterSub("go", 1), Enqueue("q", `1`)}, {afterSub("go", 1), Enqueue("q", `2`)},
			{afterSub("go", 1), Enqueue("q", `3`)}, {afterSub("go", 1), Raise("go", `null`)}},
		Want: Want{Status: completed, Output: `[1,2,3]`, History: []string{
			`execution_started sc_receive`,
			`event_subscribed go`,
			`queue_message q input=1`, `queue_message q input=2`, `queue_message q input=3`, `event_raised go`,
			`queue_subscribed q`, `queue_subscribed q`, `queue_subscribed q`,
			`execution_completed result=[1,2,3]`,
		}},
	}, {
		Group: "queue", Name: "fifo_while_waiting", Doc: "messages enqueued while the orchestration waits are taken one by one, in order",
		Orchestration: "sc_receive", Input: `{"steps":[{"queue":"q"},{"queue":"q"},{"queue":"q"}]}`,
		Steps: []Step{{afterQ("q", 1), Enqueue("q", `"a"`)}, {afterQ("q", 2), Enqueue("q", `"b"`)}, {afterQ("q", 3), Enqueue("q", `"c"`)}},
		Want: Want{Status: completed, Output: `["a","b","c"]`, History: []string{
			`execution_started sc_receive`,
			`queue_subscribed q`, `queue_message q input="a"`,
			`queue_subscribed q`, `queue_message q input="b"`,
			`queue_subscribed q`, `queue_message q input="c"`,
			`execution_completed`,
		}},
	}, {
		Group: "queue", Name: "independent_queues", Doc: "each queue is its own FIFO",
		Orchestration: "sc_receive", Input: `{"gate":"go","steps":[{"queue":"a"},{"queue":"b"},{"queue":"b"}]}`,
		Steps: []Step{{afterSub("go", 1), Enqueue("b", `"b1"`)}, {afterSub("go", 1), Enqueue("a", `"a1"`)},
			{afterSub("go", 1), Enqueue("b", `"b2"`)}, {afterSub("go", 1), Raise("go", `null`)}},
		Want: Want{Status: completed, Output: `["a1","b1","b2"]`, History: []string{
			`execution_started sc_receive`,
			`event_subscribed go`,
			`queue_message b input="b1"`, `queue_message a input="a1"`, `queue_message b input="b2"`, `event_raised go`,
			`queue_subscribed a`, `queue_subscribed b`, `queue_subscribed b`,
			`execution_completed`,
		}},
	}, {
		Group: "queue", Name: "events_and_queues_apart", Doc: "an event and a queue of the same name do not mix",
		Orchestration: "sc_receive", Input: `{"gate":"go","steps":[{"queue":"x"},{"event":"x"}]}`,
		Steps: []Step{{afterSub("go", 1), Raise("x", `"event"`)}, {afterSub("go", 1), Enqueue("x", `"message"`)},
			{afterSub("go", 1), Raise("go", `null`)}},
		Want: Want{Status: completed, Output: `["message","event"]`, History: []string{
			`execution_started sc_receive`,
			`event_subscribed go`,
			`event_raised x`, `queue_message x`, `event_raised go`,
			`queue_subscribed x`, `event_subscribed x`,
			`execution_completed`,
		}},
	}, {
		Group: "queue", Name: "survives_select_cancellation", Doc: "a dequeue cancelled by a select takes nothing; the next dequeue gets the message",
		Orchestration: "sc_receive", Input: `{"steps":[{"queue":"q","timeout_ms":10},{"queue":"q"}]}`,
		Steps: []Step{{afterQ("q", 2), Enqueue("q", `"m"`)}},
		Want: Want{Status: completed, Output: `["timeout","m"]`, History: []string{
			`execution_started sc_receive`,
			`queue_subscribed q`,
			`timer_created delay=10ms`,
			`timer_fired @2`,
			`future_cancelled @1`,
			`queue_subscribed q`,
			`queue_message q input="m"`,
			`execution_completed`,
		}},
	}, {
		Group: "queue", Name: "cancelled_dequeue_returns_message", Doc: "a message given to a dequeue that is cancelled unread goes back to the queue",
		Orchestration: "sc_rebind", Input: `{"kind":"queue","name":"q","gate":"go"}`,
		Steps: []Step{{afterSub("go", 1), Enqueue("q", `"m1"`)}, {afterSub("go", 1), Raise("go", `null`)}},
		Want: Want{Status: completed, Output: `"m1"`, History: []string{
			`execution_started sc_rebind`,
			`queue_subscribed q`,
			`event_subscribed go`,
			`queue_message q input="m1"`,
			`event_raised go`,
			`queue_subscribed q`,
			`execution_completed result="m1"`,
		}},
	}, {
		// A client is told ErrNotFound for an instance that does not exist; a message can still
		// reach the store first (sent through the store, or by a client that checked just
		// before the instance was deleted and started again).
		Group: "queue", Name: "dropped_before_instance_exists", Doc: "a message stored for an instance that does not exist yet is dropped",
		Orchestration: "sc_receive", Input: `{"steps":[{"queue":"q","timeout_ms":20}]}`,
		Steps: []Step{
			{BeforeStart(), Inject(history.Event{Kind: history.KindQueueMessage, Name: "q", Input: []byte(`"early"`)}, 0)},
			{BeforeStart(), Action{Kind: ActAwaitDrained}},
		},
		Want: Want{Status: completed, Output: `["timeout"]`, History: []string{
			`execution_started sc_receive`,
			`queue_subscribed q`,
			`timer_created delay=20ms`,
			`timer_fired @2`,
			`future_cancelled @1`,
			`execution_completed`,
		}},
	}}
}
