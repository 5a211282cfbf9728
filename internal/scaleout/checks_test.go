//go:build unix

package scaleout

import (
	"bytes"
	"strings"
	"testing"

	"github.com/durohost/durohost/history"
)

// TestCheckExecution checks the history checks of the node-loss test on histories made by
// hand: each fault it must find is found.
func TestCheckExecution(t *testing.T) {
	ev := func(kind history.Kind, ref int64, name, input string) history.Event {
		return history.Event{Kind: kind, Ref: ref, Name: name, Input: []byte(input), Result: []byte(`"r"`)}
	}
	number := func(evs ...history.Event) []history.Event {
		for i := range evs {
			evs[i].ID = int64(i + 1)
		}
		return evs
	}
	turn := ev(history.KindTurnStarted, 0, "", "")
	start := ev(history.KindExecutionStarted, 0, "sequence", "2")
	step0 := ev(history.KindActivityScheduled, 0, "step", "0")
	step1 := ev(history.KindActivityScheduled, 0, "step", "1")
	done := ev(history.KindExecutionCompleted, 0, "", "")
	two := map[history.Kind]int{history.KindExecutionStarted: 1, history.KindActivityScheduled: 2,
		history.KindActivityCompleted: 2, history.KindExecutionCompleted: 1}
	good := number(turn, start, step0, turn, ev(history.KindActivityCompleted, 3, "", ""), step1,
		turn, ev(history.KindActivityCompleted, 6, "", ""), done)
	gap := number(turn, start, step0, turn, ev(history.KindActivityCompleted, 3, "", ""), step1,
		turn, ev(history.KindActivityCompleted, 6, "", ""), done)
	gap[8].ID = 10
	tests := []struct {
		name string
		evs  []history.Event
		want string // a part of the error; "" for none
	}{
		{"good", good, ""},
		{"IDs with a gap", gap, "event 9 has ID 10"},
		{"no turn first", number(start, step0, ev(history.KindActivityCompleted, 2, "", ""), step1,
			ev(history.KindActivityCompleted, 4, "", ""), done), "does not start with a turn"},
		{"decision twice", number(turn, start, step0, step0, turn, ev(history.KindActivityCompleted, 3, "", ""),
			ev(history.KindActivityCompleted, 4, "", ""), done), "scheduled twice"},
		{"completed twice", number(turn, start, step0, step1, turn, ev(history.KindActivityCompleted, 3, "", ""),
			ev(history.KindActivityCompleted, 3, "", ""), done), "completed twice"},
		{"completion of the wrong kind", number(turn, start, step0, step1, turn, ev(history.KindTimerFired, 3, "", ""),
			ev(history.KindActivityCompleted, 4, "", ""), done), "refers to event 3"},
		{"completion of a later event", number(turn, start, ev(history.KindActivityCompleted, 5, "", ""), step0, step1,
			ev(history.KindActivityCompleted, 4, "", ""), done), "refers to event 5"},
		{"no end", number(turn, start, step0, step1, turn, ev(history.KindActivityCompleted, 3, "", ""),
			ev(history.KindActivityCompleted, 4, "", "")), "does not end"},
		{"end in the middle", number(turn, start, step0, step1, done, turn, ev(history.KindActivityCompleted, 3, "", ""),
			ev(history.KindActivityCompleted, 4, "", ""), done), "is not the last"},
		{"a decision too many", number(turn, start, step0, step1, ev(history.KindTimerCreated, 0, "", ""), turn,
			ev(history.KindActivityCompleted, 3, "", ""), ev(history.KindActivityCompleted, 4, "", ""), done), "want"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acts, err := checkExecution(tt.evs, two)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			case tt.want == "" && (len(acts) != 2 || acts[0].completedAt != 5 || acts[1].key.input != "1"):
				t.Fatalf("activities %+v, want step(0) completed by event 5 and step(1)", acts)
			}
		})
	}
}

// TestReadRecords checks that a line cut short at the end of a host's output is ignored and
// that any other line that is not a record is an error.
func TestReadRecords(t *testing.T) {
	var b bytes.Buffer
	rec := NewRecorder(&b)
	for _, r := range []Record{{Kind: RecordReady, Time: 1}, {Kind: RecordStart, Time: 2, Instance: "i", Activity: "step", Input: []byte("0")}} {
		if err := rec.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := ReadRecords(strings.NewReader(b.String() + `{"kind":"do`))
	if err != nil || len(recs) != 2 || recs[1].Instance != "i" || string(recs[1].Input) != "0" {
		t.Fatalf("ReadRecords: %+v, %v; want the two whole records", recs, err)
	}
	if _, err := ReadRecords(strings.NewReader("not a record\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("ReadRecords of a bad line: %v, want an error naming line 1", err)
	}
}
