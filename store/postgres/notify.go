package postgres

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/durohost/durohost/store"
)

// Wakeups returns a channel that receives the kinds of work that became visible at once in
// the store's database and schema, whichever store value, of whichever process, made it
// visible (see store.Waker for which calls announce what). Each store sends its
// announcements with PostgreSQL's NOTIFY, from a goroutine of its own and at most once per
// WithNotifyInterval (kinds announced meanwhile are sent together), so that no commit waits
// for them; each store listens on one connection (LISTEN) for all its subscribers. After
// that connection is lost and established again, every kind is announced once, since
// announcements may have been missed meanwhile.
//
// The call returns once the store listens. The channel is closed when ctx ends or the store
// is closed. store.ErrClosed after Close.
func (s *Store) Wakeups(ctx context.Context) (<-chan store.Wake, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	return s.notes.subscribe(ctx)
}

// SkipsKnownHistory reports that the store honours the known arguments of FetchTurn,
// EnqueueAndFetch, CompleteActivityAndFetch and StartOptions.Known (store.HistorySkipper).
func (s *Store) SkipsKnownHistory() bool { return true }

// notifier sends the store's notifications (coalesced, at most one per interval, from its
// own goroutine, so that no commit waits for them) and delivers the database's to the
// subscribers, from one listening connection.
type notifier struct {
	s       *Store
	pending atomic.Uint32 // kinds to announce (store.Wake)
	kick    chan struct{} // wakes the sender
	quit    chan struct{}
	done    sync.WaitGroup

	mu        sync.Mutex
	subs      map[*subscriber]struct{}
	listening bool
	ready     chan error // the listener's first LISTEN, once
}

// subscriber is one channel of Wakeups.
type subscriber struct {
	c chan store.Wake
}

func newNotifier(s *Store) *notifier {
	n := &notifier{s: s, kick: make(chan struct{}, 1), quit: make(chan struct{}), subs: map[*subscriber]struct{}{}}
	if s.cfg.notify {
		n.done.Add(1)
		go n.send()
	}
	return n
}

// wake announces w (nothing when w is zero or the store sends no notifications).
func (n *notifier) wake(w store.Wake) {
	if w == 0 || !n.s.cfg.notify {
		return
	}
	n.pending.Or(uint32(w))
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// send runs pg_notify for the pending kinds, at most once per interval, on the fetch pool
// (synchronous_commit off: a notification lost in a crash costs nothing).
func (n *notifier) send() {
	defer n.done.Done()
	var last time.Time
	for {
		select {
		case <-n.kick:
		case <-n.quit:
			return
		}
		if wait := time.Until(last.Add(n.s.cfg.notifyInterval)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-n.quit:
				t.Stop()
				return
			}
		}
		w := n.pending.Swap(0)
		if w == 0 {
			continue
		}
		last = time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		// An error loses one announcement, which the receivers' polling makes up for.
		_, _ = n.s.fetch.Exec(ctx, "SELECT pg_notify($1, $2)", n.s.channel, strconv.Itoa(int(w)))
		cancel()
	}
}

// subscribe adds a subscriber until ctx ends, starting the listener at the first one.
func (n *notifier) subscribe(ctx context.Context) (<-chan store.Wake, error) {
	n.mu.Lock()
	select {
	case <-n.quit:
		n.mu.Unlock()
		return nil, store.ErrClosed
	default:
	}
	if !n.listening {
		n.listening = true
		n.ready = make(chan error, 1)
		n.done.Add(1)
		go n.listen(n.ready)
	}
	ready := n.ready
	n.mu.Unlock()
	// Wait for the first LISTEN (its outcome stays in ready for the next subscribers).
	select {
	case err := <-ready:
		ready <- err
		if err != nil {
			return nil, err
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-n.quit:
		return nil, store.ErrClosed
	}
	sub := &subscriber{c: make(chan store.Wake, 1)}
	n.mu.Lock()
	select {
	case <-n.quit:
		n.mu.Unlock()
		return nil, store.ErrClosed
	default:
	}
	n.subs[sub] = struct{}{}
	n.mu.Unlock()
	context.AfterFunc(ctx, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if _, ok := n.subs[sub]; ok {
			delete(n.subs, sub)
			close(sub.c)
		}
	})
	return sub.c, nil
}

// deliver hands w to every subscriber, merged with any value it has not received yet.
func (n *notifier) deliver(w store.Wake) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for sub := range n.subs {
		select {
		case old := <-sub.c:
			w |= old
		default:
		}
		sub.c <- w // never blocks: the channel has room for one, and only deliver sends
	}
}

// listen keeps a connection listening on the store's channel until the store closes,
// reconnecting when it is lost. ready receives the outcome of the first LISTEN; after a
// reconnection every kind is delivered, since notifications may have been missed.
func (n *notifier) listen(ready chan error) {
	defer n.done.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-n.quit
		cancel()
	}()
	first, backoff := true, 10*time.Millisecond
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, n.s.connCfg)
		if err == nil {
			if _, err = conn.Exec(ctx, "LISTEN "+pgx.Identifier{n.s.channel}.Sanitize()); err != nil {
				conn.Close(context.Background())
			}
		}
		if first {
			first = false
			if err != nil {
				err = fmt.Errorf("notifications: listen: %w", err)
			}
			ready <- err
			if err != nil {
				n.mu.Lock()
				n.listening = false // the next subscriber tries again
				n.mu.Unlock()
				return
			}
		} else if err == nil {
			n.deliver(store.WakeTurns | store.WakeActivities)
		}
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 10 * time.Millisecond
		for {
			note, err := conn.WaitForNotification(ctx)
			if err != nil {
				break
			}
			if w, err := strconv.Atoi(note.Payload); err == nil && w > 0 && w < 256 {
				n.deliver(store.Wake(w))
			}
		}
		conn.Close(context.Background())
	}
}

// close stops the sender and the listener and closes the subscribers' channels.
func (n *notifier) close() {
	n.mu.Lock()
	close(n.quit)
	for sub := range n.subs {
		delete(n.subs, sub)
		close(sub.c)
	}
	n.mu.Unlock()
	n.done.Wait()
}
