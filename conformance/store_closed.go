package conformance

import (
	"testing"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/store"
)

// closedCall calls one Store method after Close, with tokens that were live before it.
type closedCall struct {
	name string
	call func(t *testing.T, s store.Store, turn *store.Turn, w *store.WorkItem) error
}

// closedCases check that every method of the core returns ErrClosed after Close.
func closedCases() []storeCase { return closedCasesOf(coreClosedCalls) }

// coreClosedCalls call the methods of store.Store.
var coreClosedCalls = []closedCall{
	{"Enqueue", func(t *testing.T, s store.Store, _ *store.Turn, _ *store.WorkItem) error {
		return s.Enqueue(t.Context(), eventMsg("a", "x"))
	}},
	{"FetchTurn", func(t *testing.T, s store.Store, _ *store.Turn, _ *store.WorkItem) error {
		_, err := s.FetchTurn(t.Context(), longLock, nil)
		return err
	}},
	{"RenewTurn", func(t *testing.T, s store.Store, turn *store.Turn, _ *store.WorkItem) error {
		return s.RenewTurn(t.Context(), turn.Token, longLock)
	}},
	{"CommitTurn", func(t *testing.T, s store.Store, turn *store.Turn, _ *store.WorkItem) error {
		return s.CommitTurn(t.Context(), turn.Token, turnCommit(turn))
	}},
	{"AbandonTurn", func(t *testing.T, s store.Store, turn *store.Turn, _ *store.WorkItem) error {
		return s.AbandonTurn(t.Context(), turn.Token, store.AbandonOptions{})
	}},
	{"FetchActivity", func(t *testing.T, s store.Store, _ *store.Turn, _ *store.WorkItem) error {
		_, err := s.FetchActivity(t.Context(), longLock)
		return err
	}},
	{"RenewActivity", func(t *testing.T, s store.Store, _ *store.Turn, w *store.WorkItem) error {
		return s.RenewActivity(t.Context(), w.Token, longLock)
	}},
	{"CompleteActivity", func(t *testing.T, s store.Store, _ *store.Turn, w *store.WorkItem) error {
		return s.CompleteActivity(t.Context(), w.Token, completion("a", 1, w.EventID, "r"))
	}},
	{"StartInstance", func(t *testing.T, s store.Store, _ *store.Turn, _ *store.WorkItem) error {
		_, err := s.StartInstance(t.Context(), startMsg("new"), store.StartOptions{})
		return err
	}},
	{"AbandonActivity", func(t *testing.T, s store.Store, _ *store.Turn, w *store.WorkItem) error {
		return s.AbandonActivity(t.Context(), w.Token, 0)
	}},
	{"Instance", func(t *testing.T, s store.Store, _ *store.Turn, _ *store.WorkItem) error {
		_, err := s.Instance(t.Context(), "a")
		return err
	}},
	{"ListInstances", func(t *testing.T, s store.Store, _ *store.Turn, _ *store.WorkItem) error {
		_, err := s.ListInstances(t.Context(), store.Filter{})
		return err
	}},
	{"Executions", func(t *testing.T, s store.Store, _ *store.Turn, _ *store.WorkItem) error {
		_, err := s.Executions(t.Context(), "a")
		return err
	}},
	{"History", func(t *testing.T, s store.Store, _ *store.Turn, _ *store.WorkItem) error {
		_, err := s.History(t.Context(), "a", 0)
		return err
	}},
	{"Children", func(t *testing.T, s store.Store, _ *store.Turn, _ *store.WorkItem) error {
		_, err := s.Children(t.Context(), "a")
		return err
	}},
	{"DeleteInstance", func(t *testing.T, s store.Store, _ *store.Turn, _ *store.WorkItem) error {
		return s.DeleteInstance(t.Context(), "a", true)
	}},
	{"DeleteInstances", func(t *testing.T, s store.Store, _ *store.Turn, _ *store.WorkItem) error {
		_, err := s.DeleteInstances(t.Context(), store.Filter{})
		return err
	}},
	{"PruneExecutions", func(t *testing.T, s store.Store, _ *store.Turn, _ *store.WorkItem) error {
		_, err := s.PruneExecutions(t.Context(), "a", time.Now(), 0)
		return err
	}},
	{"QueueDepths", func(t *testing.T, s store.Store, _ *store.Turn, _ *store.WorkItem) error {
		_, err := s.QueueDepths(t.Context())
		return err
	}},
	{"PutModule", func(t *testing.T, s store.Store, _ *store.Turn, _ *store.WorkItem) error {
		_, err := s.PutModule(t.Context(), store.ModulePut{Wasm: wasmBytes("2"), Registrations: []store.Registration{orchReg("m", "2")}})
		return err
	}},
	{"Module", func(t *testing.T, s store.Store, _ *store.Turn, _ *store.WorkItem) error {
		_, err := s.Module(t.Context(), hashOf(wasmBytes("1")))
		return err
	}},
	{"ResolveModule", func(t *testing.T, s store.Store, _ *store.Turn, _ *store.WorkItem) error {
		_, err := s.ResolveModule(t.Context(), "", store.RegistrationOrchestration, "m", "")
		return err
	}},
	{"ListModules", func(t *testing.T, s store.Store, _ *store.Turn, _ *store.WorkItem) error {
		_, err := s.ListModules(t.Context(), store.ModuleFilter{})
		return err
	}},
	{"DeleteModule", func(t *testing.T, s store.Store, _ *store.Turn, _ *store.WorkItem) error {
		return s.DeleteModule(t.Context(), "", []store.Registration{orchReg("m", "1")})
	}},
	{"NamespaceUsage", func(t *testing.T, s store.Store, _ *store.Turn, _ *store.WorkItem) error {
		_, err := s.NamespaceUsage(t.Context(), "")
		return err
	}},
	{"Close", func(_ *testing.T, s store.Store, _ *store.Turn, _ *store.WorkItem) error {
		return s.Close()
	}},
}

// directClosedCalls call the methods of store.DirectDispatcher.
var directClosedCalls = []closedCall{
	{"EnqueueAndFetch", func(t *testing.T, s store.Store, _ *store.Turn, _ *store.WorkItem) error {
		_, err := dispatcher(s).EnqueueAndFetch(t.Context(), eventMsg("a", "x"), longLock, nil)
		return err
	}},
	{"CompleteActivityAndFetch", func(t *testing.T, s store.Store, _ *store.Turn, w *store.WorkItem) error {
		_, err := dispatcher(s).CompleteActivityAndFetch(t.Context(), w.Token, completion("a", 1, w.EventID, "r"), longLock, nil)
		return err
	}},
	{"CompleteActivityWithTurn", func(t *testing.T, s store.Store, _ *store.Turn, w *store.WorkItem) error {
		c := &store.Commit{Execution: 1, History: numbered(100, history.Event{Kind: history.KindTurnStarted, Time: baseTime})}
		return dispatcher(s).CompleteActivityWithTurn(t.Context(), w.Token, time.Now(), c)
	}},
}

// closedCasesOf makes a case of each call: it runs after Close and must return ErrClosed.
func closedCasesOf(calls []closedCall) []storeCase {
	var cases []storeCase
	for _, c := range calls {
		cases = append(cases, storeCase{c.name + " after Close is ErrClosed", func(t *testing.T, s store.Store) {
			putModule(t, s, "m", "1", wasmBytes("1"))
			withActivities(t, s, "a", "x")
			enqueue(t, s, eventMsg("a", "m"))
			turn := fetchTurnOf(t, s, "a")
			w := fetchActivity(t, s, longLock)
			must(t, "Close", s.Close())
			wantErr(t, c.name+" after Close", c.call(t, s, turn, w), store.ErrClosed)
		}})
	}
	return cases
}
