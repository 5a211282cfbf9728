package conformance

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/durohost/durohost/store"
)

// Namespaces: the store keeps each instance's namespace as data. It is given by the start
// message (Message.Namespace) and the first commit (InstanceState.Namespace), inherited by
// what a commit sends, reported by Instance, ListInstances and FetchActivity, and never
// parsed from a key.

// nsStart is the start message of instance id of namespace ns (its key is store.Key(ns, id)).
func nsStart(ns, id string) store.Message {
	m := startMsg(store.Key(ns, id))
	m.Namespace = ns
	return m
}

// createIn starts instance id of namespace ns and commits its first turn with state (as
// create does; the namespace is set on the state). It returns the instance.
func createIn(t *testing.T, s store.Store, ns, id string, state store.InstanceState) *store.Instance {
	t.Helper()
	key := store.Key(ns, id)
	if state.Name == "" {
		state.Name = "orch"
	}
	if state.Status == store.StatusPending {
		state.Status = store.StatusRunning
	}
	state.Namespace = ns
	_, err := s.StartInstance(t.Context(), nsStart(ns, id), store.StartOptions{})
	must(t, "StartInstance", err)
	runTurn(t, s, key, func(_ *store.Turn, c *store.Commit) {
		c.State = state
		if state.Status.Finished() {
			addDecisions(c, terminalEvent(state.Status))
		}
	})
	return instance(t, s, key)
}

// wantNamespace fails the case unless instance key reports namespace ns and status st.
func wantNamespace(t *testing.T, s store.Store, key, ns string, st store.Status) {
	t.Helper()
	in := instance(t, s, key)
	if in.Namespace != ns || in.Status != st || in.ID != key {
		t.Fatalf("Instance(%q) = ID %q, namespace %q, status %s; want namespace %q, status %s", key, in.ID, in.Namespace, in.Status, ns, st)
	}
}

// startQuota starts instance id of namespace ns with an instance quota, returning the error.
func startQuota(t *testing.T, s store.Store, ns, id string, quota int) error {
	_, err := s.StartInstance(t.Context(), nsStart(ns, id), store.StartOptions{MaxInstances: quota})
	return err
}

func namespaceCases() []storeCase {
	return []storeCase{
		{"a started instance reports its namespace while pending and once running", func(t *testing.T, s store.Store) {
			_, err := s.StartInstance(t.Context(), nsStart("team-a", "x"), store.StartOptions{})
			must(t, "StartInstance", err)
			wantNamespace(t, s, "team-a/x", "team-a", store.StatusPending)
			runTurn(t, s, "team-a/x", func(_ *store.Turn, c *store.Commit) { c.State.Namespace = "team-a" })
			wantNamespace(t, s, "team-a/x", "team-a", store.StatusRunning)
		}},
		{"FetchTurn returns a start with its namespace, other messages without", func(t *testing.T, s store.Store) {
			enqueue(t, s, nsStart("ns", "x"), eventMsg("ns/x", "e"))
			turn := fetchTurnOf(t, s, "ns/x")
			if len(turn.Messages) != 2 || turn.Messages[0].Namespace != "ns" || turn.Messages[1].Namespace != "" {
				t.Fatalf("turn messages %+v: want the start with namespace ns and the event with none", turn.Messages)
			}
		}},
		{"the namespace is not derived from the key", func(t *testing.T, s store.Store) {
			// A key of the default namespace may look like a namespaced one.
			create(t, s, "lookalike/x", store.InstanceState{})
			wantNamespace(t, s, "lookalike/x", "", store.StatusRunning)
			if got := listAll(t, s, store.Filter{Namespaces: []string{"lookalike"}}); len(got) != 0 {
				t.Fatalf("namespace lookalike lists %q, want nothing", got)
			}
		}},
		{"the first commit's namespace is kept by later commits", func(t *testing.T, s store.Store) {
			createIn(t, s, "ns", "x", store.InstanceState{})
			enqueue(t, s, eventMsg("ns/x", "e"))
			runTurn(t, s, "ns/x", func(_ *store.Turn, c *store.Commit) { c.State.Namespace = "other" })
			wantNamespace(t, s, "ns/x", "ns", store.StatusRunning)
			finish(t, s, "ns/x", store.StatusCompleted)
			wantNamespace(t, s, "ns/x", "ns", store.StatusCompleted)
		}},
		{"a first commit whose key is not of its namespace is ErrInvalid", func(t *testing.T, s store.Store) {
			enqueue(t, s, startMsg("x"))
			turn := fetchTurnOf(t, s, "x")
			c := turnCommit(turn)
			c.State.Namespace = "ns"
			wantErr(t, "CommitTurn of key x in namespace ns", s.CommitTurn(t.Context(), turn.Token, c), store.ErrInvalid)
			c.State.Namespace = "a/b"
			wantErr(t, "CommitTurn in namespace a/b", s.CommitTurn(t.Context(), turn.Token, c), store.ErrInvalid)
			notCreated(t, s, "x", "after the refused commits")
		}},
		{"work items carry the namespace of their instance", func(t *testing.T, s store.Store) {
			_, err := s.StartInstance(t.Context(), nsStart("ns", "x"), store.StartOptions{})
			must(t, "StartInstance", err)
			runTurn(t, s, "ns/x", func(_ *store.Turn, c *store.Commit) {
				c.State.Namespace = "ns"
				addDecisions(c, scheduled("queued"))
				q := activity("ns/x", 1, c.History[len(c.History)-1].ID, "queued")
				q.Namespace = "forged" // the store records the instance's namespace
				c.Activities = []store.WorkItem{q}
			})
			w := fetchActivity(t, s, longLock)
			if w.Name != "queued" || w.Namespace != "ns" {
				t.Fatalf("FetchActivity = %s of namespace %q, want queued of namespace ns", w.Name, w.Namespace)
			}
		}},
		{"instances a commit starts are of the committing instance's namespace", func(t *testing.T, s store.Store) {
			createIn(t, s, "ns", "p", store.InstanceState{})
			enqueue(t, s, eventMsg("ns/p", "spawn"))
			runTurn(t, s, "ns/p", func(_ *store.Turn, c *store.Commit) {
				child := startMsg("ns/p:1:3")
				child.Namespace = "" // ignored in a commit
				detached := startMsg("ns/detached")
				detached.Namespace = "elsewhere"
				c.Messages = []store.Message{child, detached}
			})
			wantNamespace(t, s, "ns/p:1:3", "ns", store.StatusPending)
			wantNamespace(t, s, "ns/detached", "ns", store.StatusPending)
			sameStrings(t, "pending of ns", listAll(t, s, store.Filter{Namespaces: []string{"ns"}, Statuses: []store.Status{store.StatusPending}}),
				creationOrder(t, s, []string{"ns/p:1:3", "ns/detached"}))
		}},
		{"a commit cannot start an instance outside its namespace", func(t *testing.T, s store.Store) {
			createIn(t, s, "ns", "p", store.InstanceState{})
			enqueue(t, s, eventMsg("ns/p", "spawn"))
			turn := fetchTurnOf(t, s, "ns/p")
			c := turnCommit(turn)
			c.Messages = []store.Message{startMsg("other/x")}
			wantErr(t, "CommitTurn starting other/x", s.CommitTurn(t.Context(), turn.Token, c), store.ErrInvalid)
			notCreated(t, s, "other/x", "after the refused commit")
			if _, err := s.Instance(t.Context(), "other/x"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Instance(other/x) after the refused commit: %v, want ErrNotFound", err)
			}
		}},
		{"a start whose key is not of its namespace is ErrInvalid", func(t *testing.T, s store.Store) {
			bad := []store.Message{
				{InstanceID: "x", Namespace: "ns", Event: started("orch")},
				{InstanceID: "ns/", Namespace: "ns", Event: started("orch")},
				{InstanceID: "other/x", Namespace: "ns", Event: started("orch")},
				{InstanceID: "a/b/x", Namespace: "a/b", Event: started("orch")},
			}
			for _, m := range bad {
				what := fmt.Sprintf("start of %q in namespace %q", m.InstanceID, m.Namespace)
				_, err := s.StartInstance(t.Context(), m, store.StartOptions{})
				wantErr(t, "StartInstance: "+what, err, store.ErrInvalid)
				wantErr(t, "Enqueue: "+what, s.Enqueue(t.Context(), m), store.ErrInvalid)
				if d, ok := s.(store.DirectDispatcher); ok {
					_, err = d.EnqueueAndFetch(t.Context(), m, longLock, nil)
					wantErr(t, "EnqueueAndFetch: "+what, err, store.ErrInvalid)
				}
			}
			noTurn(t, s, "nothing was enqueued")
		}},
		{"ListInstances filters by namespace, pending instances too", func(t *testing.T, s store.Store) {
			createIn(t, s, "a", "1", store.InstanceState{})
			createIn(t, s, "b", "1", store.InstanceState{})
			create(t, s, "plain", store.InstanceState{Status: store.StatusCompleted})
			createIn(t, s, "a", "2", store.InstanceState{Status: store.StatusCompleted})
			for _, m := range []store.Message{nsStart("a", "pending"), nsStart("b", "pending"), startMsg("pending")} {
				_, err := s.StartInstance(t.Context(), m, store.StartOptions{})
				must(t, "StartInstance", err)
			}
			all := []string{"a/1", "b/1", "plain", "a/2", "a/pending", "b/pending", "pending"}
			tests := []struct {
				name string
				f    store.Filter
				want []string
			}{
				{"every namespace", store.Filter{}, all},
				{"a", store.Filter{Namespaces: []string{"a"}}, []string{"a/1", "a/2", "a/pending"}},
				{"the default namespace", store.Filter{Namespaces: []string{""}}, []string{"plain", "pending"}},
				{"a and b", store.Filter{Namespaces: []string{"a", "b"}}, []string{"a/1", "b/1", "a/2", "a/pending", "b/pending"}},
				{"pending of b", store.Filter{Namespaces: []string{"b"}, Statuses: []store.Status{store.StatusPending}}, []string{"b/pending"}},
				{"completed of a", store.Filter{Namespaces: []string{"a"}, Statuses: []store.Status{store.StatusCompleted}}, []string{"a/2"}},
				{"a, paged by one", store.Filter{Namespaces: []string{"a"}, PageSize: 1}, []string{"a/1", "a/2", "a/pending"}},
				{"unknown namespace", store.Filter{Namespaces: []string{"zz"}}, nil},
			}
			for _, tt := range tests {
				sameStrings(t, "ListInstances "+tt.name, listAll(t, s, tt.f), creationOrder(t, s, tt.want))
			}
			page := list(t, s, store.Filter{Namespaces: []string{"b"}})
			for _, in := range page.Instances {
				if in.Namespace != "b" {
					t.Fatalf("instance %q listed in namespace b reports namespace %q", in.ID, in.Namespace)
				}
			}
		}},
		{"DeleteInstances deletes only the namespaces asked for", func(t *testing.T, s store.Store) {
			createIn(t, s, "a", "done", store.InstanceState{Status: store.StatusCompleted})
			createIn(t, s, "b", "done", store.InstanceState{Status: store.StatusCompleted})
			create(t, s, "done", store.InstanceState{Status: store.StatusCompleted})
			createIn(t, s, "a", "running", store.InstanceState{})
			n, err := s.DeleteInstances(t.Context(), store.Filter{Namespaces: []string{"a"}})
			must(t, "DeleteInstances(a)", err)
			if n != 1 {
				t.Fatalf("DeleteInstances(a) = %d, want 1", n)
			}
			gone(t, s, "a/done")
			present(t, s, "b/done", "done", "a/running")
			n, err = s.DeleteInstances(t.Context(), store.Filter{Namespaces: []string{""}})
			must(t, "DeleteInstances(default)", err)
			if n != 1 {
				t.Fatalf("DeleteInstances(default) = %d, want 1", n)
			}
			gone(t, s, "done")
			present(t, s, "b/done")
		}},
		{"resolution never crosses namespaces", func(t *testing.T, s store.Store) {
			putIn(t, s, "a", wasmBytes("a"), orchReg("only-a", "1"), moduleReg("pkg", "1"))
			putIn(t, s, "", wasmBytes("default"), orchReg("only-default", "1"))
			putIn(t, s, "b", wasmBytes("b"), orchReg("shared-name", "1"))
			putIn(t, s, "a", wasmBytes("a2"), orchReg("shared-name", "2"))
			for _, ns := range []string{"b", "", "a/"} {
				unresolved(t, s, ns, store.RegistrationOrchestration, "only-a", "")
				unresolved(t, s, ns, store.RegistrationOrchestration, "only-a", "1")
				unresolved(t, s, ns, store.RegistrationModule, "pkg", "1")
			}
			unresolved(t, s, "a", store.RegistrationOrchestration, "only-default", "")
			unresolved(t, s, "a", store.RegistrationOrchestration, "b/shared-name", "")
			unresolved(t, s, "", store.RegistrationOrchestration, "a/only-a", "")
			if got := resolveIn(t, s, "a", store.RegistrationOrchestration, "shared-name", ""); got.Namespace != "a" || got.Version != "2" {
				t.Fatalf("a's shared-name = %+v, want a's own version 2", got)
			}
			if got := resolveIn(t, s, "b", store.RegistrationOrchestration, "shared-name", ""); got.Namespace != "b" || got.Version != "1" {
				t.Fatalf("b's shared-name = %+v, want b's own version 1", got)
			}
			unresolved(t, s, "b", store.RegistrationOrchestration, "shared-name", "2")
		}},
		{"the instance quota counts unfinished instances, pending ones included", func(t *testing.T, s store.Store) {
			createIn(t, s, "ns", "running", store.InstanceState{})
			createIn(t, s, "ns", "done", store.InstanceState{Status: store.StatusCompleted})
			createIn(t, s, "other", "running", store.InstanceState{})
			must(t, "start of pending", startQuota(t, s, "ns", "pending", 2))
			wantErr(t, "start past the quota", startQuota(t, s, "ns", "refused", 2), store.ErrQuota)
			gone(t, s, "ns/refused")
			must(t, "start in another namespace", startQuota(t, s, "other", "more", 2))
			must(t, "start with a larger quota", startQuota(t, s, "ns", "third", 3))
			wantErr(t, "start of an existing instance at the quota", startQuota(t, s, "ns", "running", 3), store.ErrExists)
			// Pending instances that start running still count.
			for _, in := range [][2]string{{"ns", "pending"}, {"other", "more"}, {"ns", "third"}} {
				runTurn(t, s, store.Key(in[0], in[1]), func(_ *store.Turn, c *store.Commit) { c.State.Namespace = in[0] })
			}
			wantErr(t, "start past the quota, every instance running", startQuota(t, s, "ns", "refused", 3), store.ErrQuota)
			finish(t, s, "ns/running", store.StatusCompleted)
			must(t, "start once one has finished", startQuota(t, s, "ns", "fourth", 3))
			if u, err := s.NamespaceUsage(t.Context(), "ns"); err != nil || u.Instances != 3 {
				t.Fatalf("NamespaceUsage(ns) = %+v, %v; want 3 instances", u, err)
			}
		}},
		{"concurrent starts at the quota never exceed it", func(t *testing.T, s store.Store) {
			const quota, n = 3, 12
			var (
				wg     sync.WaitGroup
				mu     sync.Mutex
				ok     int
				failed []error
			)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := startQuota(t, s, "ns", fmt.Sprintf("i%d", i), quota)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						ok++
					case !errors.Is(err, store.ErrQuota):
						failed = append(failed, err)
					}
				}()
			}
			wg.Wait()
			if len(failed) > 0 || ok != quota {
				t.Fatalf("%d starts succeeded (errors %v), want exactly %d", ok, failed, quota)
			}
			if got := listAll(t, s, store.Filter{Namespaces: []string{"ns"}}); len(got) != quota {
				t.Fatalf("namespace ns lists %d instances, want %d", len(got), quota)
			}
		}},
	}
}
