package runtime

import (
	"bytes"
	"container/list"
	"sync"
	"time"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/replay"
	"github.com/durohost/durohost/host/internal/sandbox"
	"github.com/durohost/durohost/store"
)

// liveCache keeps instances parked in await after a committed turn, so that the next turn
// resumes them instead of replaying (the fast path). It is bounded by the guests' memory,
// least recently used first out. An entry is used only by the holder of the instance's lock
// (take happens inside a turn) and only if the store's history is exactly the one the engine
// committed; anything else falls back to a cold replay.
//
// known tells FetchTurn which histories the cache holds, so that the store does not read
// them again (RATIONALE.md, "Why does FetchTurn skip the histories the host holds?"): a
// live turn then costs nothing that grows with the history.
type liveCache struct {
	mu    sync.Mutex
	limit int64
	used  int64
	lru   *list.List // of *liveEntry, front = most recent
	byID  map[string]*list.Element
	// committing holds the instances whose turn is committing a live instance (see
	// committing): closed when it is parked or dropped.
	committing map[string]chan struct{}
	// settled holds the instances whose live instance runs a turn on a result without the
	// lock (takeSettled until doneSettled).
	settled map[string]bool
	// evictions counts the instances evicted (put beyond the limit, evictOne).
	evictions int64
}

type liveEntry struct {
	id        string
	execution uint32
	// events is the length of the committed history the engine holds.
	events int
	// created is the instance's CreatedAt in the store (zero: not known yet, on the turn that
	// created the row). It tells a deleted and recreated instance of the same ID from this one
	// when the history is not read (see known).
	created time.Time
	eng     *replay.Engine
	inst    *sandbox.Instance
	size    int64
}

func newLiveCache(limit int64) *liveCache {
	return &liveCache{limit: limit, lru: list.New(), byID: map[string]*list.Element{}, committing: map[string]chan struct{}{}, settled: map[string]bool{}}
}

// commit marks a turn of id that commits a live instance and will put it. CommitTurn
// releases the instance's lock, so another worker may fetch the next turn of id before put
// has run; until done is called, known(id) waits instead of answering "nothing held",
// which would make that turn read the history and replay cold. The wait is bounded by the
// commit: the other worker can hold the lock only once the commit released it (or the
// committing turn's lock expired, and then its commit fails).
func (c *liveCache) commit(id string) (done func()) {
	if c.limit <= 0 {
		return func() {}
	}
	ch := make(chan struct{})
	c.mu.Lock()
	if _, busy := c.committing[id]; busy {
		c.mu.Unlock()
		return func() {}
	}
	c.committing[id] = ch
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		delete(c.committing, id)
		c.mu.Unlock()
		close(ch)
	}
}

// known is the store.KnownHistory of the cache: the execution and history length of the
// live instance of id. An entry whose instance's creation time is not known yet is not
// reported, so its next turn reads the history and take compares the last event.
func (c *liveCache) known(id string) (execution uint32, events int, ok bool) {
	c.mu.Lock()
	if ch, busy := c.committing[id]; busy {
		c.mu.Unlock()
		<-ch
		c.mu.Lock()
	}
	defer c.mu.Unlock()
	el, ok := c.byID[id]
	if !ok {
		return 0, 0, false
	}
	e := el.Value.(*liveEntry)
	if e.created.IsZero() {
		return 0, 0, false
	}
	return e.execution, e.events, true
}

// take removes and returns the live instance of a turn's instance if it continues exactly the
// store's history of execution. With the history read, the engine's must have its length
// and last event; with the history omitted (the store found the execution and length that
// known reported), the length and the instance's creation time must match.
func (c *liveCache) take(t *store.Turn, execution uint32) (*replay.Engine, *sandbox.Instance) {
	if c.limit <= 0 {
		return nil, nil
	}
	c.mu.Lock()
	el, ok := c.byID[t.InstanceID]
	if ok {
		c.remove(el)
	}
	c.mu.Unlock()
	if !ok {
		return nil, nil
	}
	e := el.Value.(*liveEntry)
	same := e.execution == execution
	switch {
	case !same:
	case t.HistoryOmitted:
		same = t.Instance != nil && e.events == t.Events && e.created.Equal(t.Instance.CreatedAt)
	default:
		same = sameHistory(e.eng.History(), t.History) &&
			(e.created.IsZero() || t.Instance != nil && e.created.Equal(t.Instance.CreatedAt))
	}
	if !same || !e.inst.Alive() {
		e.inst.Close()
		return nil, nil
	}
	return e.eng, e.inst
}

// takeSettled removes and returns the live instance of id at execution for a turn that runs
// without the instance's lock (direct.go): only one whose instance row's creation time is
// known (the store checks it with the history's length when that turn commits) and that is
// alive, and not while a turn of id is committing. Nil otherwise, leaving the cache as it was.
func (c *liveCache) takeSettled(id string, execution uint32) *liveEntry {
	if c.limit <= 0 {
		return nil
	}
	c.mu.Lock()
	el, ok := c.byID[id]
	_, busy := c.committing[id]
	if !ok || busy {
		c.mu.Unlock()
		return nil
	}
	e := el.Value.(*liveEntry)
	if e.created.IsZero() || e.execution != execution {
		c.mu.Unlock()
		return nil
	}
	c.remove(el)
	alive := e.inst.Alive()
	if alive {
		c.settled[id] = true
	}
	c.mu.Unlock()
	if !alive {
		e.inst.Close()
		return nil
	}
	return e
}

// doneSettled ends what takeSettled began for id.
func (c *liveCache) doneSettled(id string) {
	c.mu.Lock()
	delete(c.settled, id)
	c.mu.Unlock()
}

// fanIn reports whether a result for id should wait in the queue rather than run a turn of
// its own: while a turn of the live instance commits or runs on another result (the turn
// after will take it, on the live instance, instead of a cold replay now), or when the live
// instance awaits other activities too (results of a fan-out are cheaper taken many to a
// turn).
func (c *liveCache) fanIn(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, busy := c.committing[id]; busy || c.settled[id] {
		return true
	}
	el, ok := c.byID[id]
	return ok && el.Value.(*liveEntry).eng.OpenActivities() > 1
}

// sameHistory compares lengths and the last event: histories are append-only, so a store
// history of the same length ending with the same event is the one the engine committed.
func sameHistory(a, b []history.Event) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 {
		return true
	}
	x, _ := a[len(a)-1].Encode()
	y, _ := b[len(b)-1].Encode()
	return bytes.Equal(x, y)
}

// put parks a live instance whose engine's history is committed (created: the instance's
// CreatedAt, zero when not known), evicting the least recently used ones beyond the limit.
func (c *liveCache) put(id string, execution uint32, created time.Time, eng *replay.Engine, inst *sandbox.Instance) {
	if c.limit <= 0 {
		inst.Close()
		return
	}
	e := &liveEntry{id: id, execution: execution, events: len(eng.History()), created: created,
		eng: eng, inst: inst, size: int64(inst.MemorySize())}
	var evicted []*liveEntry
	c.mu.Lock()
	if el, ok := c.byID[id]; ok {
		evicted = append(evicted, el.Value.(*liveEntry))
		c.remove(el)
	}
	c.byID[id] = c.lru.PushFront(e)
	c.used += e.size
	for c.used > c.limit && c.lru.Len() > 0 {
		el := c.lru.Back()
		evicted = append(evicted, el.Value.(*liveEntry))
		c.remove(el)
		c.evictions++
	}
	c.mu.Unlock()
	for _, x := range evicted {
		x.inst.Close()
	}
}

func (c *liveCache) remove(el *list.Element) {
	e := el.Value.(*liveEntry)
	c.lru.Remove(el)
	delete(c.byID, e.id)
	c.used -= e.size
}

// holds reports whether the cache holds a live instance of id (parked, or committing).
func (c *liveCache) holds(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, parked := c.byID[id]
	_, committing := c.committing[id]
	return parked || committing || c.settled[id]
}

// evictOne discards the least recently used parked instance (to make room for a turn in the
// guest memory budget); false when none is parked.
func (c *liveCache) evictOne() bool {
	c.mu.Lock()
	el := c.lru.Back()
	if el == nil {
		c.mu.Unlock()
		return false
	}
	e := el.Value.(*liveEntry)
	c.remove(el)
	c.evictions++
	c.mu.Unlock()
	e.inst.Close()
	return true
}

// clear discards every live instance.
func (c *liveCache) clear() {
	c.mu.Lock()
	var all []*liveEntry
	for el := c.lru.Front(); el != nil; el = el.Next() {
		all = append(all, el.Value.(*liveEntry))
	}
	c.lru.Init()
	c.byID = map[string]*list.Element{}
	c.used = 0
	c.mu.Unlock()
	for _, e := range all {
		e.inst.Close()
	}
}

// Len returns the number of parked instances.
func (c *liveCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
