package conformance

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/durohost/durohost/store"
)

// gone fails the case unless every id is unknown to Instance.
func gone(t *testing.T, s store.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := s.Instance(t.Context(), id); err == nil {
			t.Fatalf("instance %q still exists, want it deleted", short(id))
		} else {
			wantErr(t, fmt.Sprintf("Instance(%q)", short(id)), err, store.ErrNotFound)
		}
	}
}

// present fails the case unless every id exists.
func present(t *testing.T, s store.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := s.Instance(t.Context(), id); err != nil {
			t.Fatalf("Instance(%q): %v, want it to still exist", short(id), err)
		}
	}
}

// family creates completed instances p (root), c (child of p), g (child of c) and an
// unrelated completed instance d.
func family(t *testing.T, s store.Store) {
	t.Helper()
	create(t, s, "p", store.InstanceState{Status: store.StatusCompleted})
	create(t, s, "c", store.InstanceState{Status: store.StatusCompleted, ParentID: "p"})
	create(t, s, "g", store.InstanceState{Status: store.StatusCompleted, ParentID: "c"})
	create(t, s, "d", store.InstanceState{Status: store.StatusCompleted})
}

func deleteCases() []storeCase {
	return []storeCase{
		{"delete removes the instance with its executions and histories", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			continueAsNew(t, s, "a", true)
			finish(t, s, "a", store.StatusCompleted)
			must(t, "DeleteInstance", s.DeleteInstance(t.Context(), "a", false))
			gone(t, s, "a")
			_, err := s.Executions(t.Context(), "a")
			wantErr(t, "Executions after delete", err, store.ErrNotFound)
			for _, exec := range []uint32{0, 1, 2} {
				_, err := s.History(t.Context(), "a", exec)
				wantErr(t, fmt.Sprintf("History(%d) after delete", exec), err, store.ErrNotFound)
			}
		}},
		{"delete cascades to descendants", func(t *testing.T, s store.Store) {
			family(t, s)
			must(t, "DeleteInstance(p)", s.DeleteInstance(t.Context(), "p", false))
			gone(t, s, "p", "c", "g")
			present(t, s, "d")
		}},
		{"deleting a child leaves its parent", func(t *testing.T, s store.Store) {
			family(t, s)
			must(t, "DeleteInstance(c)", s.DeleteInstance(t.Context(), "c", false))
			gone(t, s, "c", "g")
			present(t, s, "p", "d")
			kids, err := s.Children(t.Context(), "p")
			must(t, "Children(p)", err)
			if len(kids) != 0 {
				t.Fatalf("Children(p) = %d instances after deleting c, want 0", len(kids))
			}
		}},
		{"running instance needs force", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			wantErr(t, "DeleteInstance(running, no force)", s.DeleteInstance(t.Context(), "a", false), store.ErrRunning)
			present(t, s, "a")
			must(t, "DeleteInstance(running, force)", s.DeleteInstance(t.Context(), "a", true))
			gone(t, s, "a")
		}},
		{"running descendant needs force and nothing is deleted without it", func(t *testing.T, s store.Store) {
			create(t, s, "p", store.InstanceState{Status: store.StatusCompleted})
			create(t, s, "c", store.InstanceState{Status: store.StatusCompleted, ParentID: "p"})
			create(t, s, "g", store.InstanceState{Status: store.StatusRunning, ParentID: "c"})
			wantErr(t, "DeleteInstance(p) with a running grandchild", s.DeleteInstance(t.Context(), "p", false), store.ErrRunning)
			present(t, s, "p", "c", "g")
			must(t, "DeleteInstance(p, force)", s.DeleteInstance(t.Context(), "p", true))
			gone(t, s, "p", "c", "g")
		}},
		{"unknown instance is ErrNotFound", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{Status: store.StatusCompleted})
			wantErr(t, "DeleteInstance(nope)", s.DeleteInstance(t.Context(), "nope", false), store.ErrNotFound)
			wantErr(t, "DeleteInstance(nope, force)", s.DeleteInstance(t.Context(), "nope", true), store.ErrNotFound)
			present(t, s, "a")
		}},
		{"second delete is ErrNotFound", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{Status: store.StatusCompleted})
			must(t, "DeleteInstance", s.DeleteInstance(t.Context(), "a", false))
			wantErr(t, "second DeleteInstance", s.DeleteInstance(t.Context(), "a", false), store.ErrNotFound)
		}},
		{"delete removes queued messages and timers", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{Status: store.StatusCompleted})
			enqueue(t, s, eventMsg("a", "late"), timerMsg("a", 1, time.Now().Add(time.Hour)))
			must(t, "DeleteInstance", s.DeleteInstance(t.Context(), "a", false))
			noTurn(t, s, "messages of the deleted instance")
			if d := depths(t, s); d.Messages != 0 || d.DelayedMessages != 0 {
				t.Fatalf("QueueDepths after delete = %+v, want no messages", d)
			}
		}},
		{"stale commit after delete is ErrLockLost and does not recreate the instance", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			enqueue(t, s, eventMsg("a", "x"))
			turn := fetchTurnOf(t, s, "a")
			must(t, "DeleteInstance(force)", s.DeleteInstance(t.Context(), "a", true))
			if d := depths(t, s); d.LockedInstances != 0 {
				t.Fatalf("LockedInstances = %d after delete, want 0", d.LockedInstances)
			}
			c := turnCommit(turn, scheduled("act"))
			c.Activities = []store.WorkItem{activity("a", 1, c.History[len(c.History)-1].ID, "act")}
			c.Messages = []store.Message{startMsg("b"), eventMsg("a", "self")}
			wantErr(t, "CommitTurn after delete", s.CommitTurn(t.Context(), turn.Token, c), store.ErrLockLost)
			wantErr(t, "RenewTurn after delete", s.RenewTurn(t.Context(), turn.Token, longLock), store.ErrLockLost)
			wantErr(t, "AbandonTurn after delete", s.AbandonTurn(t.Context(), turn.Token, store.AbandonOptions{}), store.ErrLockLost)
			gone(t, s, "a")
			noTurn(t, s, "the stale commit enqueued nothing")
			noActivity(t, s, "the stale commit enqueued no activity")
		}},
		{"cascading delete steals the lock of a descendant's turn", func(t *testing.T, s store.Store) {
			create(t, s, "p", store.InstanceState{})
			create(t, s, "c", store.InstanceState{ParentID: "p"})
			enqueue(t, s, eventMsg("c", "y"))
			ct := fetchTurnOf(t, s, "c")
			must(t, "DeleteInstance(p, force)", s.DeleteInstance(t.Context(), "p", true))
			wantErr(t, "CommitTurn of the deleted child", s.CommitTurn(t.Context(), ct.Token, turnCommit(ct)), store.ErrLockLost)
			gone(t, s, "p", "c")
			noTurn(t, s, "nothing left to fetch")
		}},
		{"activity tokens of a deleted instance are lost", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("a"))
			runTurn(t, s, "a", func(_ *store.Turn, c *store.Commit) {
				addDecisions(c, scheduled("x"), scheduled("y"))
				n := c.History[len(c.History)-1].ID
				c.Activities = []store.WorkItem{activity("a", 1, n-1, "x"), activity("a", 1, n, "y")}
			})
			w := fetchActivity(t, s, longLock)
			must(t, "DeleteInstance(force)", s.DeleteInstance(t.Context(), "a", true))
			wantErr(t, "RenewActivity after delete", s.RenewActivity(t.Context(), w.Token, longLock), store.ErrLockLost)
			wantErr(t, "CompleteActivity after delete", s.CompleteActivity(t.Context(), w.Token, completion("a", 1, w.EventID, "r")), store.ErrLockLost)
			wantErr(t, "AbandonActivity after delete", s.AbandonActivity(t.Context(), w.Token, 0), store.ErrLockLost)
			noTurn(t, s, "the failed completion enqueued nothing")
			noActivity(t, s, "the unlocked work item was deleted too")
			if d := depths(t, s); d != (store.Depths{}) {
				t.Fatalf("QueueDepths after delete = %+v, want all zero", d)
			}
		}},
		{"descendants' work items and messages are deleted", func(t *testing.T, s store.Store) {
			create(t, s, "p", store.InstanceState{Status: store.StatusCompleted})
			enqueue(t, s, startMsg("c"))
			runTurn(t, s, "c", func(_ *store.Turn, c *store.Commit) {
				c.State.ParentID = "p"
				c.State.Status = store.StatusCompleted
				addDecisions(c, scheduled("x"))
				c.Activities = []store.WorkItem{activity("c", 1, c.History[len(c.History)-1].ID, "x")}
				c.Messages = []store.Message{timerMsg("c", 1, time.Now().Add(time.Hour))}
			})
			must(t, "DeleteInstance(p)", s.DeleteInstance(t.Context(), "p", false))
			gone(t, s, "c")
			if d := depths(t, s); d != (store.Depths{}) {
				t.Fatalf("QueueDepths after delete = %+v, want all zero", d)
			}
		}},
		{"deleted ID can be started again", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{})
			continueAsNew(t, s, "a", true)
			must(t, "DeleteInstance(force)", s.DeleteInstance(t.Context(), "a", true))
			enqueue(t, s, startMsg("a"))
			turn := fetchTurnOf(t, s, "a")
			if turn.Instance != nil || turn.Execution != 0 || len(turn.History) != 0 {
				t.Fatalf("turn after re-start: Instance=%+v Execution=%d History=%d, want a brand-new instance", turn.Instance, turn.Execution, len(turn.History))
			}
			commitTurn(t, s, turn.Token, turnCommit(turn))
			sameExecutionIDs(t, s, "a", 1)
		}},
	}
}

func bulkDeleteCases() []storeCase {
	deleteAll := func(t *testing.T, s store.Store, f store.Filter, want int) {
		t.Helper()
		n, err := s.DeleteInstances(t.Context(), f)
		must(t, "DeleteInstances", err)
		if n != want {
			t.Fatalf("DeleteInstances(%+v) = %d, want %d", f, n, want)
		}
	}
	mixed := func(t *testing.T, s store.Store) {
		t.Helper()
		create(t, s, "done", store.InstanceState{Status: store.StatusCompleted})
		create(t, s, "bad", store.InstanceState{Status: store.StatusFailed})
		create(t, s, "stopped", store.InstanceState{Status: store.StatusCancelled, Name: "other"})
		create(t, s, "busy", store.InstanceState{Status: store.StatusRunning})
	}
	return []storeCase{
		{"finished instances are deleted and running ones skipped", func(t *testing.T, s store.Store) {
			mixed(t, s)
			deleteAll(t, s, store.Filter{}, 3)
			gone(t, s, "done", "bad", "stopped")
			present(t, s, "busy")
		}},
		{"filter by status", func(t *testing.T, s store.Store) {
			mixed(t, s)
			deleteAll(t, s, store.Filter{Statuses: []store.Status{store.StatusFailed}}, 1)
			gone(t, s, "bad")
			present(t, s, "done", "stopped", "busy")
		}},
		{"a status filter naming running still skips running instances", func(t *testing.T, s store.Store) {
			mixed(t, s)
			deleteAll(t, s, store.Filter{Statuses: []store.Status{store.StatusRunning}}, 0)
			present(t, s, "done", "bad", "stopped", "busy")
		}},
		{"filter by name", func(t *testing.T, s store.Store) {
			mixed(t, s)
			deleteAll(t, s, store.Filter{Name: "other"}, 1)
			gone(t, s, "stopped")
			present(t, s, "done", "bad", "busy")
		}},
		{"filter by ID prefix", func(t *testing.T, s store.Store) {
			mixed(t, s)
			deleteAll(t, s, store.Filter{IDPrefix: "b"}, 1)
			gone(t, s, "bad")
			present(t, s, "done", "stopped", "busy")
		}},
		{"descendants are deleted with their root", func(t *testing.T, s store.Store) {
			create(t, s, "root-1", store.InstanceState{Status: store.StatusCompleted})
			create(t, s, "kid-1", store.InstanceState{Status: store.StatusCompleted, ParentID: "root-1"})
			create(t, s, "kid-2", store.InstanceState{Status: store.StatusFailed, ParentID: "kid-1"})
			deleteAll(t, s, store.Filter{IDPrefix: "root-"}, 1)
			gone(t, s, "root-1", "kid-1", "kid-2")
		}},
		{"finished instance with a running descendant is skipped", func(t *testing.T, s store.Store) {
			create(t, s, "root-1", store.InstanceState{Status: store.StatusCompleted})
			create(t, s, "kid-1", store.InstanceState{Status: store.StatusRunning, ParentID: "root-1"})
			create(t, s, "root-2", store.InstanceState{Status: store.StatusCompleted})
			deleteAll(t, s, store.Filter{IDPrefix: "root-"}, 1)
			present(t, s, "root-1", "kid-1")
			gone(t, s, "root-2")
		}},
		{"page fields are ignored", func(t *testing.T, s store.Store) {
			mixed(t, s)
			deleteAll(t, s, store.Filter{PageSize: 1}, 3)
			present(t, s, "busy")
		}},
		{"no match deletes nothing", func(t *testing.T, s store.Store) {
			mixed(t, s)
			deleteAll(t, s, store.Filter{IDPrefix: "zzz"}, 0)
			present(t, s, "done", "bad", "stopped", "busy")
		}},
	}
}

// list returns one page of ListInstances.
func list(t *testing.T, s store.Store, f store.Filter) *store.Page {
	t.Helper()
	p, err := s.ListInstances(t.Context(), f)
	must(t, "ListInstances", err)
	if p == nil {
		t.Fatal("ListInstances returned a nil page and no error")
	}
	return p
}

// listAll follows every page of ListInstances and returns the IDs in order.
func listAll(t *testing.T, s store.Store, f store.Filter) []string {
	t.Helper()
	var ids []string
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("ListInstances: more than 1000 pages, the page token does not advance")
		}
		p := list(t, s, f)
		if f.PageSize > 0 && len(p.Instances) > f.PageSize {
			t.Fatalf("page %d has %d instances, more than PageSize %d", pages, len(p.Instances), f.PageSize)
		}
		for _, inst := range p.Instances {
			ids = append(ids, inst.ID)
		}
		if p.Next == "" {
			return ids
		}
		if p.Next == f.PageToken {
			t.Fatalf("page %d returns its own token %q as Next", pages, p.Next)
		}
		f.PageToken = p.Next
	}
}

// createMany creates n instances named prefix0..prefix(n-1); every odd one is completed.
func createMany(t *testing.T, s store.Store, prefix string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		id := fmt.Sprintf("%s%02d", prefix, i)
		st := store.StatusRunning
		if i%2 == 1 {
			st = store.StatusCompleted
		}
		create(t, s, id, store.InstanceState{Status: st})
		ids = append(ids, id)
	}
	return ids
}

// creationOrder returns ids sorted as ListInstances must return them.
func creationOrder(t *testing.T, s store.Store, ids []string) []string {
	t.Helper()
	insts := make([]*store.Instance, len(ids))
	for i, id := range ids {
		insts[i] = instance(t, s, id)
	}
	slices.SortFunc(insts, func(a, b *store.Instance) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	out := make([]string, len(insts))
	for i, inst := range insts {
		out[i] = inst.ID
	}
	return out
}

func queryCases() []storeCase {
	return []storeCase{
		{"empty store lists nothing", func(t *testing.T, s store.Store) {
			p := list(t, s, store.Filter{})
			if len(p.Instances) != 0 || p.Next != "" {
				t.Fatalf("ListInstances on an empty store = %d instances, Next %q; want none, \"\"", len(p.Instances), p.Next)
			}
		}},
		{"instances are listed by creation time then ID", func(t *testing.T, s store.Store) {
			ids := createMany(t, s, "i", 8)
			sameStrings(t, "ListInstances", listAll(t, s, store.Filter{}), creationOrder(t, s, ids))
		}},
		{"listed instances carry their state", func(t *testing.T, s store.Store) {
			want := create(t, s, "a", store.InstanceState{Name: "n", Version: "v9", ModuleHash: "h", CustomStatus: []byte("cs")})
			p := list(t, s, store.Filter{})
			if len(p.Instances) != 1 {
				t.Fatalf("ListInstances = %d instances, want 1", len(p.Instances))
			}
			got := p.Instances[0]
			sameState(t, "listed instance", &got, want.InstanceState)
			if got.ID != "a" || got.Execution != 1 || !got.CreatedAt.Equal(want.CreatedAt) {
				t.Fatalf("listed instance ID=%q Execution=%d CreatedAt=%v, want a, 1, %v", got.ID, got.Execution, got.CreatedAt, want.CreatedAt)
			}
		}},
		{"filter by statuses", func(t *testing.T, s store.Store) {
			create(t, s, "r", store.InstanceState{})
			create(t, s, "c", store.InstanceState{Status: store.StatusCompleted})
			create(t, s, "f", store.InstanceState{Status: store.StatusFailed})
			create(t, s, "x", store.InstanceState{Status: store.StatusCancelled})
			got := listAll(t, s, store.Filter{Statuses: []store.Status{store.StatusFailed, store.StatusRunning}})
			sameStrings(t, "failed or running", got, creationOrder(t, s, []string{"r", "f"}))
			got = listAll(t, s, store.Filter{Statuses: []store.Status{store.StatusCompleted}})
			sameStrings(t, "completed", got, []string{"c"})
		}},
		{"filter by name", func(t *testing.T, s store.Store) {
			create(t, s, "a", store.InstanceState{Name: "alpha"})
			create(t, s, "b", store.InstanceState{Name: "beta"})
			create(t, s, "c", store.InstanceState{Name: "alphabet"})
			sameStrings(t, "name alpha", listAll(t, s, store.Filter{Name: "alpha"}), []string{"a"})
		}},
		{"filter by ID prefix", func(t *testing.T, s store.Store) {
			for _, id := range []string{"order-1", "order-2", "ord", "invoice-1"} {
				create(t, s, id, store.InstanceState{})
			}
			sameStrings(t, "prefix order-", listAll(t, s, store.Filter{IDPrefix: "order-"}), creationOrder(t, s, []string{"order-1", "order-2"}))
		}},
		{"ID prefix matches wildcard characters literally", func(t *testing.T, s store.Store) {
			for _, id := range []string{"a%b", "a_c", "axb", "abc", `a\d`, "A%b"} {
				create(t, s, id, store.InstanceState{})
			}
			sameStrings(t, "prefix a%", listAll(t, s, store.Filter{IDPrefix: "a%"}), []string{"a%b"})
			sameStrings(t, "prefix a_", listAll(t, s, store.Filter{IDPrefix: "a_"}), []string{"a_c"})
			sameStrings(t, `prefix a\`, listAll(t, s, store.Filter{IDPrefix: `a\`}), []string{`a\d`})
		}},
		{"filter by creation range", func(t *testing.T, s store.Store) {
			var insts []*store.Instance
			for i := range 3 {
				if i > 0 {
					waitPast(insts[i-1].CreatedAt.Add(5 * time.Millisecond))
				}
				insts = append(insts, create(t, s, fmt.Sprint("i", i), store.InstanceState{}))
			}
			for i := 1; i < 3; i++ {
				if !insts[i].CreatedAt.After(insts[i-1].CreatedAt) {
					t.Fatalf("instance %d created at %v, not after instance %d at %v", i, insts[i].CreatedAt, i-1, insts[i-1].CreatedAt)
				}
			}
			sameStrings(t, "created in [i1, i2)", listAll(t, s, store.Filter{CreatedAfter: insts[1].CreatedAt, CreatedBefore: insts[2].CreatedAt}), []string{"i1"})
			sameStrings(t, "created at or after i1", listAll(t, s, store.Filter{CreatedAfter: insts[1].CreatedAt}), []string{"i1", "i2"})
			sameStrings(t, "created before i1", listAll(t, s, store.Filter{CreatedBefore: insts[1].CreatedAt}), []string{"i0"})
		}},
		{"pagination returns every instance once", func(t *testing.T, s store.Store) {
			ids := createMany(t, s, "i", 23)
			first := list(t, s, store.Filter{PageSize: 5})
			if len(first.Instances) != 5 || first.Next == "" {
				t.Fatalf("first page: %d instances, Next %q; want 5 and a token", len(first.Instances), first.Next)
			}
			sameStrings(t, "all pages", listAll(t, s, store.Filter{PageSize: 5}), creationOrder(t, s, ids))
		}},
		{"pagination with a filter", func(t *testing.T, s store.Store) {
			ids := createMany(t, s, "i", 14)
			var done []string
			for i, id := range ids {
				if i%2 == 1 {
					done = append(done, id)
				}
			}
			f := store.Filter{Statuses: []store.Status{store.StatusCompleted}, PageSize: 3}
			sameStrings(t, "completed, 3 per page", listAll(t, s, f), creationOrder(t, s, done))
		}},
		{"pagination has no gaps when instances are added between pages", func(t *testing.T, s store.Store) {
			ids := createMany(t, s, "i", 6)
			p := list(t, s, store.Filter{PageSize: 4})
			got := []string{}
			for _, inst := range p.Instances {
				got = append(got, inst.ID)
			}
			create(t, s, "z-late", store.InstanceState{})
			rest := listAll(t, s, store.Filter{PageSize: 4, PageToken: p.Next})
			got = append(got, rest...)
			sameStrings(t, "pages", got, creationOrder(t, s, append(ids, "z-late")))
		}},
		{"page size zero means up to 100", func(t *testing.T, s store.Store) {
			ids := createMany(t, s, "i", 12)
			p := list(t, s, store.Filter{})
			if len(p.Instances) != len(ids) || p.Next != "" {
				t.Fatalf("ListInstances with PageSize 0: %d instances, Next %q; want %d, \"\"", len(p.Instances), p.Next, len(ids))
			}
		}},
		{"exact page boundary ends cleanly", func(t *testing.T, s store.Store) {
			ids := createMany(t, s, "i", 6)
			sameStrings(t, "two full pages", listAll(t, s, store.Filter{PageSize: 3}), creationOrder(t, s, ids))
		}},
		{"malformed page token is ErrInvalid", func(t *testing.T, s store.Store) {
			createMany(t, s, "i", 2)
			_, err := s.ListInstances(t.Context(), store.Filter{PageToken: "not a token \x00\xff"})
			wantErr(t, "ListInstances with a garbage token", err, store.ErrInvalid)
		}},
		{"Children lists sub-orchestrations in creation order", func(t *testing.T, s store.Store) {
			create(t, s, "p", store.InstanceState{})
			create(t, s, "c2", store.InstanceState{ParentID: "p"})
			create(t, s, "c1", store.InstanceState{ParentID: "p"})
			create(t, s, "detached", store.InstanceState{})
			create(t, s, "grandchild", store.InstanceState{ParentID: "c1"})
			create(t, s, "c3", store.InstanceState{ParentID: "p", Status: store.StatusCompleted})
			kids, err := s.Children(t.Context(), "p")
			must(t, "Children(p)", err)
			var got []string
			for _, k := range kids {
				got = append(got, k.ID)
				if k.ParentID != "p" {
					t.Fatalf("child %q has ParentID %q", k.ID, k.ParentID)
				}
			}
			sameStrings(t, "Children(p)", got, creationOrder(t, s, []string{"c2", "c1", "c3"}))
		}},
		{"Children of an instance without any is empty", func(t *testing.T, s store.Store) {
			create(t, s, "p", store.InstanceState{})
			kids, err := s.Children(t.Context(), "p")
			must(t, "Children(p)", err)
			if len(kids) != 0 {
				t.Fatalf("Children(p) = %d instances, want 0", len(kids))
			}
		}},
		{"Children of an unknown instance is ErrNotFound", func(t *testing.T, s store.Store) {
			_, err := s.Children(t.Context(), "nope")
			wantErr(t, "Children(nope)", err, store.ErrNotFound)
		}},
	}
}
