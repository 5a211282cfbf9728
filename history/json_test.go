package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
)

// t0 is a logical time with nanoseconds: 2023-11-14T22:13:20.123456789Z.
const t0 = int64(1700000000123456789)

// sampleEvents has at least one event of every kind, with the fields that kind uses. Its
// payloads are nil or non-empty, so that a round trip must give equal events.
func sampleEvents() []Event {
	appFailure := &abi.Failure{Kind: abi.FailureApplication, Code: "E1", Message: "boom", Details: []byte(`{"retry":false}`)}
	return []Event{
		{ID: 1, Kind: KindTurnStarted, Time: t0},
		{ID: 2, Kind: KindExecutionStarted, Time: t0, Name: "order", Version: "v2", InstanceID: "i-1",
			Input: []byte(`{"a":1}`), ParentID: "p-1", ParentExecution: 3, ParentRef: 7,
			ModuleHash: "ab12", CustomStatus: []byte(`"busy"`),
			Carried: []Item{{Name: "q", Data: []byte(`[1,2]`), Time: t0 - 5}, {Name: "q", Data: []byte{0, 1, 2}}}},
		{ID: 3, Kind: KindActivityCompleted, Time: t0, Ref: 2, Result: []byte(`42`), Execution: 1},
		{ID: 4, Kind: KindActivityFailed, Time: t0, Ref: 2, Failure: appFailure},
		{ID: 5, Kind: KindTimerFired, Time: t0, Ref: 3, FireAt: t0 + int64(time.Hour)},
		{ID: 6, Kind: KindSubOrchestrationCompleted, Ref: 4, Result: []byte{0xff, 0xfe}},
		{ID: 7, Kind: KindSubOrchestrationFailed, Ref: 4, Failure: &abi.Failure{
			Kind: abi.FailureInfrastructure, Code: abi.CodeCommandMismatch, Message: "nondeterminism"}},
		{ID: 8, Kind: KindEventRaised, Name: "approve", Input: []byte(`true`)},
		{ID: 9, Kind: KindQueueMessage, Name: "jobs", Input: []byte("not json")},
		{ID: 10, Kind: KindCancelRequested, Input: []byte(`"user asked"`)},
		{ID: 11, Kind: KindActivityScheduled, Time: t0, Name: "charge", Input: []byte(`{"cents":100}`)},
		{ID: 12, Kind: KindTimerCreated, Time: t0, FireAt: t0 + 1},
		{ID: 13, Kind: KindEventSubscribed, Name: "approve"},
		{ID: 14, Kind: KindQueueSubscribed, Name: "jobs"},
		{ID: 15, Kind: KindSubOrchestrationScheduled, Name: "child", Version: "v1", InstanceID: "i-1:1:15", Input: []byte(`null`)},
		{ID: 16, Kind: KindOrchestrationStarted, Name: "detached", InstanceID: "d-1"},
		{ID: 17, Kind: KindFutureCancelled, Ref: 12},
		{ID: 18, Kind: KindCustomStatusSet, Result: []byte(`{"step":2}`)},
		{ID: 19, Kind: KindCustomStatusSet, Cleared: true},
		{ID: 20, Kind: KindExecutionCompleted, Result: []byte(`"done"`)},
		{ID: 21, Kind: KindExecutionFailed, Failure: &abi.Failure{Kind: abi.FailureCancelled, Message: "cancelled"}},
		{ID: 22, Kind: KindExecutionFailed, Failure: &abi.Failure{Kind: abi.FailureTimeout, Details: []byte{1}}},
		{ID: 23, Kind: KindExecutionFailed, Failure: &abi.Failure{}},
		{ID: 24, Kind: KindExecutionContinuedAsNew, Version: "v3", Input: []byte(`{"n":2}`)},
		{ID: 25, Kind: KindExecutionCancelled, Input: []byte(`"stop"`)},
		{Kind: KindActivityCompleted, Time: -1, Ref: -2, Execution: 4294967295, ParentExecution: 1},
	}
}

func TestSampleEventsCoverEveryKind(t *testing.T) {
	seen := map[Kind]bool{}
	for _, e := range sampleEvents() {
		seen[e.Kind] = true
	}
	for k := range kindNames {
		if !seen[k] {
			t.Errorf("sampleEvents has no %s event", k)
		}
	}
}

func TestEventRoundTrip(t *testing.T) {
	for _, e := range sampleEvents() {
		t.Run(fmt.Sprintf("%d_%s", e.ID, e.Kind), func(t *testing.T) {
			data, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			var got Event
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatalf("Unmarshal(%s): %v", data, err)
			}
			if !reflect.DeepEqual(got, e) {
				t.Errorf("JSON round trip of %s:\ngot  %+v\nwant %+v", data, got, e)
			}

			cb, err := e.Encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err = Decode(cb)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, e) {
				t.Errorf("CBOR round trip:\ngot  %+v\nwant %+v", got, e)
			}
		})
	}
}

func TestMarshalJSON(t *testing.T) {
	tests := []struct {
		name  string
		event Event
		want  string
	}{
		{"turn", Event{ID: 1, Kind: KindTurnStarted, Time: t0},
			`{"id":1,"kind":"turn_started","time":"2023-11-14T22:13:20.123456789Z"}`},
		{"whole second", Event{Kind: KindTimerCreated, FireAt: 1700000000 * int64(time.Second)},
			`{"kind":"timer_created","fire_at":"2023-11-14T22:13:20Z"}`},
		{"before 1970", Event{Kind: KindTurnStarted, Time: -1},
			`{"kind":"turn_started","time":"1969-12-31T23:59:59.999999999Z"}`},
		{"zero fields omitted", Event{Kind: KindEventSubscribed}, `{"kind":"event_subscribed"}`},
		{"failure", Event{Kind: KindActivityFailed, Ref: 2, Failure: &abi.Failure{
			Kind: abi.FailureApplication, Code: "E1", Message: "m", Details: []byte(`{"x":1}`)}},
			`{"kind":"activity_failed","ref":2,"failure":{"kind":"application","code":"E1","message":"m","details":{"x":1}}}`},
		{"empty failure", Event{Kind: KindExecutionFailed, Failure: &abi.Failure{}},
			`{"kind":"execution_failed","failure":{}}`},
		{"failure binary details", Event{Kind: KindExecutionFailed, Failure: &abi.Failure{Kind: abi.FailureTimeout, Details: []byte{1}}},
			`{"kind":"execution_failed","failure":{"kind":"timeout","details_base64":"AQ=="}}`},
		{"carried", Event{Kind: KindExecutionStarted, Carried: []Item{{Name: "q", Data: []byte(`1`), Time: 1}, {Data: []byte{0}}}},
			`{"kind":"execution_started","carried":[{"name":"q","data":1,"time":"1970-01-01T00:00:00.000000001Z"},{"data_base64":"AA=="}]}`},
		{"all scalar fields", Event{ID: 9, Kind: KindExecutionStarted, Ref: 1, Name: "n", Version: "v", InstanceID: "i",
			ParentID: "p", ParentExecution: 2, ParentRef: 3, ModuleHash: "h", Cleared: true, Execution: 4},
			`{"id":9,"kind":"execution_started","ref":1,"name":"n","version":"v","instance_id":"i","parent_id":"p",` +
				`"parent_execution":2,"parent_ref":3,"module_hash":"h","cleared":true,"execution":4}`},
		{"status", Event{Kind: KindCustomStatusSet, Result: []byte(`"s"`)}, `{"kind":"custom_status_set","result":"s"}`},
		{"carried status", Event{Kind: KindExecutionStarted, CustomStatus: []byte(`{"a":1}`)},
			`{"kind":"execution_started","custom_status":{"a":1}}`},
		{"carried binary status", Event{Kind: KindExecutionStarted, CustomStatus: []byte{9}},
			`{"kind":"execution_started","custom_status_base64":"CQ=="}`},
		{"html in names is escaped, not lost", Event{Kind: KindEventRaised, Name: "<a&b>"},
			`{"kind":"event_raised","name":"\u003ca\u0026b\u003e"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := json.Marshal(tt.event)
			if err != nil {
				t.Fatal(err)
			}
			if string(data) != tt.want {
				t.Errorf("Marshal =\n%s\nwant\n%s", data, tt.want)
			}
			var got Event
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.event) {
				t.Errorf("round trip: got %+v, want %+v", got, tt.event)
			}
		})
	}
}

// TestPayloadForms checks when a payload is embedded as JSON and when it is base64.
func TestPayloadForms(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    string // the payload's part of the JSON, "" when omitted
		decoded []byte // what decoding gives back; the payload itself when nil
	}{
		{"nil", nil, "", nil},
		{"empty is like nil", []byte{}, "", nil},
		{"object", []byte(`{"a":1,"b":[true,null]}`), `"input":{"a":1,"b":[true,null]}`, nil},
		{"array", []byte(`[]`), `"input":[]`, nil},
		{"string", []byte(`"hi"`), `"input":"hi"`, nil},
		{"empty string", []byte(`""`), `"input":""`, nil},
		{"number kept as written", []byte(`1.50e+2`), `"input":1.50e+2`, nil},
		{"null is a payload", []byte(`null`), `"input":null`, nil},
		{"unicode", []byte(`"é\u00e9"`), `"input":"é\u00e9"`, nil},
		{"not json", []byte("hello"), `"input_base64":"aGVsbG8="`, nil},
		{"binary", []byte{0, 0xff}, `"input_base64":"AP8="`, nil},
		{"json with spaces", []byte(`{"a": 1}`), `"input_base64":"eyJhIjogMX0="`, nil},
		{"json with newline", []byte("1\n"), `"input_base64":"MQo="`, nil},
		{"json with html", []byte(`"<b>"`), `"input_base64":"IjxiPiI="`, nil},
		{"json with ampersand", []byte(`"a&b"`), `"input_base64":"ImEmYiI="`, nil},
		{"json with line separator", []byte("\"\u2028\""), `"input_base64":"IuKAqCI="`, nil},
		{"json with invalid utf-8", []byte("\"\xff\""), `"input_base64":"Iv8i"`, nil},
		{"two values", []byte(`1 2`), `"input_base64":"MSAy"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Event{Kind: KindEventRaised, Input: tt.payload}
			data, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			want := `{"kind":"event_raised"}`
			if tt.want != "" {
				want = `{"kind":"event_raised",` + tt.want + `}`
			}
			if string(data) != want {
				t.Errorf("Marshal = %s, want %s", data, want)
			}
			var got Event
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			wantBytes := tt.decoded
			if wantBytes == nil && len(tt.payload) > 0 {
				wantBytes = tt.payload
			}
			if !bytes.Equal(got.Input, wantBytes) || (wantBytes == nil) != (got.Input == nil) {
				t.Errorf("decoded payload %q, want %q", got.Input, wantBytes)
			}

			// Empty and nil are one payload in the CBOR form too.
			a, err := e.Encode()
			if err != nil {
				t.Fatal(err)
			}
			b, err := got.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Errorf("CBOR of the decoded event differs: %x, %x", b, a)
			}
		})
	}
}

func TestUnmarshalJSONLenient(t *testing.T) {
	tests := []struct {
		name string
		json string
		want Event
	}{
		{"indented payload is compacted", "{\"kind\": \"event_raised\",\n \"input\": {\n  \"a\": [1, 2]\n }\n}",
			Event{Kind: KindEventRaised, Input: []byte(`{"a":[1,2]}`)}},
		{"time with offset", `{"kind":"turn_started","time":"2023-11-14T23:13:20.123456789+01:00"}`,
			Event{Kind: KindTurnStarted, Time: t0}},
		{"empty base64", `{"kind":"event_raised","input_base64":""}`, Event{Kind: KindEventRaised}},
		{"explicit zero", `{"id":0,"kind":"event_raised","cleared":false,"carried":[]}`, Event{Kind: KindEventRaised}},
		{"html in payload", `{"kind":"event_raised","input":"<b>"}`, Event{Kind: KindEventRaised, Input: []byte(`"<b>"`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Event
			if err := json.Unmarshal([]byte(tt.json), &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestUnmarshalJSONErrors(t *testing.T) {
	tests := []struct{ name, json string }{
		{"not an object", `[]`},
		{"null", `null`},
		{"missing kind", `{"id":1}`},
		{"unknown kind", `{"kind":"activity_exploded"}`},
		{"kind as number", `{"kind":11}`},
		{"unknown key", `{"kind":"turn_started","colour":"red"}`},
		{"key in another case", `{"kind":"turn_started","ID":1}`},
		{"repeated key", `{"kind":"turn_started","id":1,"id":2}`},
		{"payload twice", `{"kind":"event_raised","input":1,"input_base64":"MQ=="}`},
		{"bad base64", `{"kind":"event_raised","input_base64":"***"}`},
		{"base64 without padding", `{"kind":"event_raised","input_base64":"MQ"}`},
		{"base64 not a string", `{"kind":"event_raised","input_base64":1}`},
		{"bad time", `{"kind":"turn_started","time":"yesterday"}`},
		{"time as number", `{"kind":"turn_started","time":1}`},
		{"time out of range", `{"kind":"turn_started","time":"2300-01-01T00:00:00Z"}`},
		{"null string", `{"kind":"event_raised","name":null}`},
		{"id as string", `{"kind":"turn_started","id":"1"}`},
		{"id as float", `{"kind":"turn_started","id":1.5}`},
		{"negative execution", `{"kind":"turn_started","execution":-1}`},
		{"execution overflow", `{"kind":"turn_started","execution":4294967296}`},
		{"cleared as string", `{"kind":"custom_status_set","cleared":"yes"}`},
		{"failure not an object", `{"kind":"execution_failed","failure":"boom"}`},
		{"failure null", `{"kind":"execution_failed","failure":null}`},
		{"failure unknown kind", `{"kind":"execution_failed","failure":{"kind":"oops"}}`},
		{"failure kind as number", `{"kind":"execution_failed","failure":{"kind":1}}`},
		{"failure unknown key", `{"kind":"execution_failed","failure":{"reason":"x"}}`},
		{"failure details twice", `{"kind":"execution_failed","failure":{"details":1,"details_base64":"MQ=="}}`},
		{"carried not an array", `{"kind":"execution_started","carried":{}}`},
		{"carried null", `{"kind":"execution_started","carried":null}`},
		{"carried unknown key", `{"kind":"execution_started","carried":[{"nom":"q"}]}`},
		{"carried bad time", `{"kind":"execution_started","carried":[{"time":"x"}]}`},
		{"trailing data", `{"kind":"turn_started"} {}`},
		{"truncated", `{"kind":"turn_started"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Event
			err := e.UnmarshalJSON([]byte(tt.json))
			if err == nil {
				t.Fatalf("UnmarshalJSON(%s) = %+v, want an error", tt.json, e)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("UnmarshalJSON(%s) = %v, want ErrCorrupt", tt.json, err)
			}
		})
	}
}

func TestMarshalJSONErrors(t *testing.T) {
	tests := []struct {
		name  string
		event Event
	}{
		{"zero kind", Event{}},
		{"unknown kind", Event{Kind: 99}},
		{"unknown failure kind", Event{Kind: KindExecutionFailed, Failure: &abi.Failure{Kind: 9}}},
		{"invalid utf-8 name", Event{Kind: KindEventRaised, Name: "\xff"}},
		{"invalid utf-8 message", Event{Kind: KindExecutionFailed, Failure: &abi.Failure{Message: "\xff"}}},
		{"invalid utf-8 item", Event{Kind: KindExecutionStarted, Carried: []Item{{Name: "\xff"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if data, err := json.Marshal(tt.event); err == nil {
				t.Errorf("Marshal(%+v) = %s, want an error", tt.event, data)
			}
		})
	}
}

func TestMarshalHistory(t *testing.T) {
	events := sampleEvents()
	data, err := MarshalHistory(events)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("{\n  \"events\": [\n    {\n      \"id\": 1,\n")) {
		t.Errorf("MarshalHistory is not indented:\n%s", data)
	}
	got, err := UnmarshalHistory(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, events) {
		t.Errorf("round trip:\ngot  %+v\nwant %+v", got, events)
	}

	for _, empty := range [][]Event{nil, {}} {
		data, err := MarshalHistory(empty)
		if err != nil {
			t.Fatal(err)
		}
		if want := "{\n  \"events\": []\n}\n"; string(data) != want {
			t.Errorf("MarshalHistory(%#v) = %q, want %q", empty, data, want)
		}
		got, err := UnmarshalHistory(data)
		if err != nil || len(got) != 0 {
			t.Errorf("UnmarshalHistory(%s) = %v, %v", data, got, err)
		}
	}

	if _, err := MarshalHistory([]Event{{Kind: 99}}); err == nil {
		t.Error("MarshalHistory of an unknown kind: want an error")
	}
}

func TestUnmarshalHistoryErrors(t *testing.T) {
	tests := []struct{ name, json string }{
		{"empty", ``},
		{"not an object", `[]`},
		{"missing events", `{}`},
		{"null events", `{"events":null}`},
		{"events not an array", `{"events":{}}`},
		{"unknown key", `{"events":[],"version":1}`},
		{"repeated key", `{"events":[],"events":[]}`},
		{"bad event", `{"events":[{"kind":"turn_started"},{"kind":"nope"}]}`},
		{"trailing data", `{"events":[]}x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := UnmarshalHistory([]byte(tt.json))
			if err == nil {
				t.Fatalf("UnmarshalHistory(%s) = %v, want an error", tt.json, events)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("UnmarshalHistory(%s) = %v, want ErrCorrupt", tt.json, err)
			}
		})
	}
}

func TestDecodeCorrupt(t *testing.T) {
	valid, err := (&Event{ID: 1, Kind: KindTurnStarted, Time: t0}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"truncated", valid[:len(valid)-1]},
		{"trailing bytes", append(append([]byte{}, valid...), 0)},
		{"not a map", []byte{0x01}},
		{"no kind", []byte{0xa1, 0x01, 0x01}},                       // {1: 1}
		{"unknown kind", []byte{0xa1, 0x02, 0x18, 0x63}},            // {2: 99}
		{"unknown key", []byte{0xa2, 0x02, 0x01, 0x18, 0x63, 0x01}}, // {2: 1, 99: 1}
		{"duplicate key", []byte{0xa2, 0x02, 0x01, 0x02, 0x01}},     // {2: 1, 2: 1}
		{"wrong type", []byte{0xa1, 0x02, 0x61, 0x61}},              // {2: "a"}
		{"invalid utf-8", []byte{0xa2, 0x02, 0x01, 0x05, 0x61, 0xff}},
		{"kind overflows", []byte{0xa1, 0x02, 0x19, 0x01, 0x00}}, // {2: 256}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Decode(tt.data)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode(%x) = %+v, %v; want ErrCorrupt", tt.data, e, err)
			}
		})
	}
}

// FuzzDecode checks that Decode never panics, and that an event it accepts survives the CBOR
// and the JSON round trips.
func FuzzDecode(f *testing.F) {
	for _, e := range sampleEvents() {
		data, err := e.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{})
	f.Add([]byte{0xbf, 0x02, 0x01, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		canonical, err := e.Encode()
		if err != nil {
			t.Fatalf("Encode of a decoded event: %v", err)
		}
		again, err := Decode(canonical)
		if err != nil {
			t.Fatalf("Decode of Encode: %v", err)
		}
		if b, _ := again.Encode(); !bytes.Equal(b, canonical) {
			t.Fatalf("CBOR round trip changed the event: %x, then %x", canonical, b)
		}

		if e.Failure != nil && e.Failure.Kind != 0 && !knownFailureKind(e.Failure.Kind) {
			return // not representable in JSON (MarshalJSON refuses it)
		}
		j, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("MarshalJSON of a decoded event %+v: %v", e, err)
		}
		var back Event
		if err := json.Unmarshal(j, &back); err != nil {
			t.Fatalf("UnmarshalJSON(%s): %v", j, err)
		}
		// Empty and nil payloads are one payload, so compare the canonical CBOR.
		if b, _ := back.Encode(); !bytes.Equal(b, canonical) {
			t.Fatalf("JSON round trip changed the event:\n%s\n%+v\n%+v", j, e, back)
		}
	})
}

func knownFailureKind(k abi.FailureKind) bool {
	_, ok := abi.FailureKinds()[k]
	return ok
}

func ExampleMarshalHistory() {
	events := []Event{
		{ID: 1, Kind: KindTurnStarted, Time: t0},
		{ID: 2, Kind: KindActivityScheduled, Time: t0, Name: "charge", Input: []byte(`{"cents":100}`)},
		{ID: 3, Kind: KindActivityFailed, Ref: 2, Failure: &abi.Failure{
			Kind: abi.FailureApplication, Message: "card declined", Details: []byte{0x01}}},
	}
	data, err := MarshalHistory(events)
	if err != nil {
		panic(err)
	}
	fmt.Print(string(data))
	// Output:
	// {
	//   "events": [
	//     {
	//       "id": 1,
	//       "kind": "turn_started",
	//       "time": "2023-11-14T22:13:20.123456789Z"
	//     },
	//     {
	//       "id": 2,
	//       "kind": "activity_scheduled",
	//       "time": "2023-11-14T22:13:20.123456789Z",
	//       "name": "charge",
	//       "input": {
	//         "cents": 100
	//       }
	//     },
	//     {
	//       "id": 3,
	//       "kind": "activity_failed",
	//       "ref": 2,
	//       "failure": {
	//         "kind": "application",
	//         "message": "card declined",
	//         "details_base64": "AQ=="
	//       }
	//     }
	//   ]
	// }
}
