package replay

import (
	"slices"

	"github.com/durohost/durohost/abi"
)

// item is an external event or queue message waiting for a subscription.
type item struct {
	idx  int // history index of the event that brought it
	sub  int // order among items brought by one event (carried queue messages)
	name string
	data []byte
	time int64
}

func compareItems(a, b item) int {
	if a.idx != b.idx {
		return a.idx - b.idx
	}
	return a.sub - b.sub
}

// channel pairs external events (or queue messages) of one name with subscriptions, oldest
// with oldest. Everything here is a function of history order, so it replays identically.
type channel struct {
	buffer []item    // arrived, not given to a subscription, in history order
	subs   []*future // pending subscriptions, oldest first
}

func (e *Engine) channel(m map[string]*channel, name string) *channel {
	c, ok := m[name]
	if !ok {
		c = &channel{}
		m[name] = c
	}
	return c
}

// deliver hands an arriving item to the oldest pending subscription, or buffers it.
func (c *channel) deliver(e *Engine, it item) {
	if len(c.subs) > 0 {
		f := c.subs[0]
		c.subs = c.subs[1:]
		bind(f, it, it.idx)
		return
	}
	c.buffer = append(c.buffer, it)
}

// subscribe gives a new subscription the oldest buffered item, or queues it.
func (c *channel) subscribe(e *Engine, f *future) {
	if len(c.buffer) > 0 {
		it := c.buffer[0]
		c.buffer = c.buffer[1:]
		bind(f, it, it.idx)
		return
	}
	c.subs = append(c.subs, f)
}

// cancel withdraws a subscription. An item it was given but did not read goes back to the
// buffer (in history order) and on to the next pending subscription.
func (c *channel) cancel(e *Engine, f *future) {
	if i := slices.Index(c.subs, f); i >= 0 {
		c.subs = slices.Delete(c.subs, i, i+1)
	}
	if f.bound == nil {
		return
	}
	it := *f.bound
	f.bound = nil
	i, _ := slices.BinarySearchFunc(c.buffer, it, compareItems)
	c.buffer = slices.Insert(c.buffer, i, it)
	if len(c.subs) > 0 {
		next := c.subs[0]
		c.subs = c.subs[1:]
		first := c.buffer[0]
		c.buffer = c.buffer[1:]
		bind(next, first, first.idx)
	}
}

func bind(f *future, it item, at int) {
	f.state, f.doneAt = ready, at
	f.completion = abi.Completion{Result: it.data}
	f.bound = &it
}

// unconsumed returns the queue messages not yet read: buffered, or given to a subscription
// that has not read them. Continue-as-new carries them into the next execution.
func (e *Engine) unconsumed() []item {
	var out []item
	for _, c := range e.queues {
		out = append(out, c.buffer...)
	}
	for _, f := range e.futures {
		if f.kind == abi.CommandDequeue && f.bound != nil && f.state == ready {
			out = append(out, *f.bound)
		}
	}
	slices.SortFunc(out, compareItems)
	return out
}
