package runtime

import (
	"bytes"
	"container/list"
	"sync"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host/internal/replay"
	"github.com/durohost/durohost/host/internal/sandbox"
)

// liveCache keeps instances parked in await after a committed turn, so that the next turn
// resumes them instead of replaying (the fast path). It is bounded by the guests' memory,
// least recently used first out. An entry is used only by the holder of the instance's lock
// (take happens inside a turn) and only if the store's history is exactly the one the engine
// committed; anything else falls back to a cold replay.
type liveCache struct {
	mu    sync.Mutex
	limit int64
	used  int64
	lru   *list.List // of *liveEntry, front = most recent
	byID  map[string]*list.Element
}

type liveEntry struct {
	id        string
	execution uint32
	eng       *replay.Engine
	inst      *sandbox.Instance
	size      int64
}

func newLiveCache(limit int64) *liveCache {
	return &liveCache{limit: limit, lru: list.New(), byID: map[string]*list.Element{}}
}

// take removes and returns the live instance of id if it continues exactly the given history.
func (c *liveCache) take(id string, execution uint32, hist []history.Event) (*replay.Engine, *sandbox.Instance) {
	if c.limit <= 0 {
		return nil, nil
	}
	c.mu.Lock()
	el, ok := c.byID[id]
	if ok {
		c.remove(el)
	}
	c.mu.Unlock()
	if !ok {
		return nil, nil
	}
	e := el.Value.(*liveEntry)
	if e.execution != execution || !sameHistory(e.eng.History(), hist) || !e.inst.Alive() {
		e.inst.Close()
		return nil, nil
	}
	return e.eng, e.inst
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

// put parks a live instance, evicting the least recently used ones beyond the limit.
func (c *liveCache) put(id string, execution uint32, eng *replay.Engine, inst *sandbox.Instance) {
	if c.limit <= 0 {
		inst.Close()
		return
	}
	e := &liveEntry{id: id, execution: execution, eng: eng, inst: inst, size: int64(inst.MemorySize())}
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
