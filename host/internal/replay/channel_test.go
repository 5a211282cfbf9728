package replay_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/replay"
)

// TestExternalEvents checks positional delivery of external events: FIFO, buffered before
// a subscription, several subscriptions served oldest first, and cancelled subscriptions.
func TestExternalEvents(t *testing.T) {
	tests := []struct {
		name    string
		script  func(g *G) string // returns the output
		turns   [][]history.Event // after the start turn
		start   []history.Event   // inputs of the first turn besides the start
		want    string
		wantNew string // kinds recorded by the last turn ("": not checked)
	}{
		{
			name:  "fifo, awaited in any order",
			start: []history.Event{raised("e", "1"), raised("f", "x"), raised("e", "2")},
			turns: [][]history.Event{{raised("e", "3")}},
			script: func(g *G) string {
				w1, w2, w3 := g.Schedule(waitEvent("e")), g.Schedule(waitEvent("e")), g.Schedule(waitEvent("e"))
				return g.Get(w3) + g.Get(w2) + g.Get(w1)
			},
			want: "321",
		},
		{
			name:  "buffered until a subscription",
			turns: [][]history.Event{{raised("e", "early")}, {fired(3)}},
			script: func(g *G) string {
				g.Get(g.Schedule(timer(time.Minute)))
				return g.Call(waitEvent("e"))
			},
			want:    "early",
			wantNew: "turn_started timer_fired event_subscribed execution_completed",
		},
		{
			name:  "subscriptions served oldest first",
			turns: [][]history.Event{{raised("e", "a")}, {raised("e", "b")}},
			script: func(g *G) string {
				w1, w2 := g.Schedule(waitEvent("e")), g.Schedule(waitEvent("e"))
				second := g.Get(w2) // blocks through the turn that gives "a" to w1
				return g.Get(w1) + second
			},
			want: "ab",
		},
		{
			name:  "a cancelled subscription hands its event on",
			turns: [][]history.Event{{raised("e", "a")}},
			script: func(g *G) string {
				w1, w2 := g.Schedule(waitEvent("e")), g.Schedule(waitEvent("e"))
				g.Await(w1)
				g.Cancel(w1) // complete, not read: nothing recorded, "a" goes to w2
				return g.Get(w2)
			},
			want:    "a",
			wantNew: "turn_started event_raised execution_completed",
		},
		{
			name:  "a cancelled pending subscription is recorded and skipped",
			turns: [][]history.Event{{raised("e", "a")}},
			script: func(g *G) string {
				w1, w2 := g.Schedule(waitEvent("e")), g.Schedule(waitEvent("e"))
				g.Cancel(w1)
				return g.Get(w2)
			},
			want: "a",
		},
		{
			name:  "returned events go back in history order",
			start: []history.Event{raised("e", "1"), raised("e", "2")},
			script: func(g *G) string {
				w1, w2, w3 := g.Schedule(waitEvent("e")), g.Schedule(waitEvent("e")), g.Schedule(waitEvent("e"))
				g.Cancel(w2) // "2" goes to the pending w3
				s := g.Get(w3)
				g.Cancel(w1)                       // "1" goes back to the buffer
				g.Cancel(g.Schedule(dequeue("e"))) // a queue of the same name is another channel
				return s + g.Call(waitEvent("e"))
			},
			want: "21",
		},
		{
			name:  "events of other names do not interfere",
			start: []history.Event{raised("f", "x")},
			turns: [][]history.Event{{queued("e", "q"), raised("g", "y")}, {raised("e", "ok")}},
			script: func(g *G) string {
				return g.Call(waitEvent("e"))
			},
			want: "ok",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			modes(t, func(t *testing.T, live bool) {
				x := newInst(t, live, func(g *G) { g.Complete(tc.script(g)) })
				r := x.turn(append([]history.Event{started("orch", "")}, tc.start...)...)
				for _, in := range tc.turns {
					if r.Out.State != Suspended {
						t.Fatalf("script %v (%v) before its last turn", r.Out.State, r.Out.Err)
					}
					r = x.turn(in...)
				}
				if r.Out.State != Completed || string(r.Commit.State.Output) != tc.want {
					t.Fatalf("script %v (%v), output %q; want completed with %q\nhistory: %s", r.Out.State, r.Out.Err, r.Commit.State.Output, tc.want, kinds(x.hist))
				}
				if tc.wantNew != "" && kinds(r.Commit.History) != tc.wantNew {
					t.Errorf("last turn recorded %q, want %q", kinds(r.Commit.History), tc.wantNew)
				}
			})
		})
	}
}

func TestCancelRecordsOnlyPendingFutures(t *testing.T) {
	eng := liveEngine(t, replay.Config{}, started("orch", ""), raised("e", "ready"))
	pending, _ := eng.Schedule(waitEvent("e2"))
	done, _ := eng.Schedule(waitEvent("e"))
	start, _ := eng.Schedule(detached("d", "", ""))
	for _, h := range []int64{pending, done, start} {
		if err := eng.Cancel(h); err != nil {
			t.Fatalf("Cancel(%d): %v", h, err)
		}
	}
	h := eng.History()
	if got, want := kinds(h[len(h)-4:]), "event_subscribed event_subscribed orchestration_started future_cancelled"; got != want {
		t.Fatalf("recorded %q, want %q", got, want)
	}
	if c := h[len(h)-1]; c.Ref != pending {
		t.Errorf("future_cancelled of event %d, want %d", c.Ref, pending)
	}
}

// TestQueuesAndContinueAsNew: unconsumed queue messages (buffered, or given to a
// subscription that did not read them) are carried into the next execution in history order;
// external events are not.
func TestQueuesAndContinueAsNew(t *testing.T) {
	msg := func(name, data string, at int64) history.Event {
		ev := queued(name, data)
		ev.Time = at
		return ev
	}
	modes(t, func(t *testing.T, live bool) {
		x := newInst(t, live, func(g *G) {
			g.Get(g.Schedule(timer(time.Minute)))
			d1 := g.Schedule(dequeue("q"))
			if got := g.Get(d1); got != "m1" {
				t.Errorf("first dequeue %q, want m1", got)
			}
			g.Schedule(dequeue("q"))       // given m2, never read
			d3 := g.Schedule(dequeue("q")) // given m3, then cancelled: m3 goes back
			g.Await(d3)
			g.Cancel(d3)
			g.Schedule(dequeue("empty")) // pending: nothing to carry
			g.SetStatus("st")
			g.ContinueAsNew("next", "")
		})
		x.must(Suspended, started("orch", "in"), msg("q", "m1", 1), msg("q", "m2", 2), raised("e", "ev"))
		r := x.must(Completed, msg("r", "r1", 3), fired(6), msg("q", "m3", 4))

		c := r.Commit
		if !c.ContinueAsNew || c.State.Status != 1 || len(c.Messages) != 1 {
			t.Fatalf("commit: ContinueAsNew %v, status %v, messages %+v", c.ContinueAsNew, c.State.Status, c.Messages)
		}
		m := c.Messages[0]
		next := m.Event
		if m.InstanceID != self || next.Kind != history.KindExecutionStarted || next.Execution != 2 ||
			next.Name != "orch" || string(next.Input) != "next" || string(next.CustomStatus) != "st" {
			t.Fatalf("next start %+v to %q", next, m.InstanceID)
		}
		want := []history.Item{{Name: "q", Data: []byte("m2"), Time: 2}, {Name: "r", Data: []byte("r1"), Time: 3}, {Name: "q", Data: []byte("m3"), Time: 4}}
		if !reflect.DeepEqual(next.Carried, want) {
			t.Fatalf("carried %+v, want %+v", next.Carried, want)
		}

		// The next execution reads the carried messages first, then new ones; the event is gone.
		var got []string
		y := newInst(t, live, func(g *G) {
			got = got[:0]
			if s := g.Info(); string(s.CustomStatus) != "st" || s.ExecutionID != 2 || string(s.Input) != "next" {
				t.Errorf("StartInfo %+v", s)
			}
			for _, q := range []string{"q", "q", "r", "q"} {
				got = append(got, g.Call(dequeue(q)))
			}
			got = append(got, g.Call(waitEvent("e")))
			g.Complete(strings.Join(got, ","))
		})
		y.cfg.Execution = 2
		y.must(Suspended, next, msg("q", "m4", 5))
		r = y.must(Completed, raised("e", "new"))
		if out := string(r.Commit.State.Output); out != "m2,m3,r1,m4,new" {
			t.Errorf("next execution read %q, want m2,m3,r1,m4,new", out)
		}
	})
}
