package sqlite

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/durohost/durohost/store"
)

func TestFetchesLast(t *testing.T) {
	f, o := modeFetchTurn|modeRelaxed, modeNoSavepoint
	tests := []struct {
		in, want []reqMode
	}{
		{nil, nil},
		{[]reqMode{f, f}, []reqMode{f, f}},
		{[]reqMode{o, 0}, []reqMode{o, 0}},
		{[]reqMode{f, o, f, 0, o}, []reqMode{o, 0, o, f, f}},
	}
	for _, tt := range tests {
		batch := make([]*request, len(tt.in))
		for i, m := range tt.in {
			batch[i] = &request{mode: m, done: make(chan error, 1)}
		}
		orig := slices.Clone(batch)
		fetchesLast(batch)
		var got []reqMode
		for _, r := range batch {
			got = append(got, r.mode)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("fetchesLast(%v) = %v, want %v", tt.in, got, tt.want)
		}
		// Each kind keeps its order.
		var fetches, others []*request
		for _, r := range orig {
			if r.mode&modeFetchTurn != 0 {
				fetches = append(fetches, r)
			} else {
				others = append(others, r)
			}
		}
		if !slices.Equal(batch, append(others, fetches...)) {
			t.Errorf("fetchesLast(%v) reordered requests of one kind", tt.in)
		}
	}
}

// fetchResult is what a FetchTurn of a batch got: the instance of its turn, or its error.
type fetchResult struct {
	id  string
	err error
}

func (r fetchResult) String() string {
	if r.err != nil {
		if errors.Is(r.err, store.ErrNoWork) {
			return "none"
		}
		return r.err.Error()
	}
	if r.id == "" {
		return "ok"
	}
	return r.id
}

// TestFetchTurnsOfABatch: the FetchTurns of a batch run after its other requests; once one
// finds no turn, the next ones answer ErrNoWork without a query until a request may have
// written.
func TestFetchTurnsOfABatch(t *testing.T) {
	ctx := context.Background()
	fetchReq := func(s *Store) func() fetchResult {
		return func() fetchResult {
			turn, err := s.FetchTurn(ctx, time.Minute, nil)
			if err != nil {
				return fetchResult{err: err}
			}
			return fetchResult{id: turn.InstanceID}
		}
	}
	// writeReq returns a write request fn submitted with mode ("ok" when it succeeds).
	writeReq := func(s *Store, mode reqMode, fn func(*tx) error) func() fetchResult {
		return func() fetchResult { return fetchResult{err: s.w.submit(ctx, fn, mode)} }
	}
	// rawInsert writes without the statements of tx: the writer does not see the write.
	rawInsert := func(id string) func(*tx) error {
		return func(t *tx) error {
			_, err := t.conn.ExecContext(ctx, qInsertMessage, id, encodedStart(id), 0, 0, nil)
			return err
		}
	}
	trackedInsert := func(id string) func(*tx) error {
		return func(t *tx) error {
			_, err := t.exec(qInsertMessage, id, encodedStart(id), 0, 0, nil)
			return err
		}
	}
	tests := []struct {
		name string
		// queued are started before the batch; reqs builds the batch's requests, in order.
		queued []string
		reqs   func(s *Store) []func() fetchResult
		want   []string // each request's fetchResult
		after  string   // what a FetchTurn after the batch gets
	}{
		{
			name:   "a write of the batch runs before its fetches",
			queued: []string{"a"},
			reqs: func(s *Store) []func() fetchResult {
				return []func() fetchResult{fetchReq(s), fetchReq(s), writeReq(s, 0, trackedInsert("c")), fetchReq(s)}
			},
			// c's message was enqueued with ready_at 0: it is the oldest.
			want:  []string{"c", "a", "ok", "none"},
			after: "none",
		},
		{
			name:   "fetches after one that found nothing answer without a query",
			queued: []string{"a", "b"},
			reqs: func(s *Store) []func() fetchResult {
				return []func() fetchResult{fetchReq(s), fetchReq(s), fetchReq(s),
					writeReq(s, modeFetchTurn, rawInsert("c")), fetchReq(s)}
			},
			// The write the writer did not see does not end the answer of the third fetch.
			want:  []string{"a", "b", "none", "ok", "none"},
			after: "c",
		},
		{
			name:   "a write between fetches makes the next one look again",
			queued: []string{"a", "b"},
			reqs: func(s *Store) []func() fetchResult {
				return []func() fetchResult{fetchReq(s), fetchReq(s), fetchReq(s),
					writeReq(s, modeFetchTurn, trackedInsert("c")), fetchReq(s)}
			},
			want:  []string{"a", "b", "none", "ok", "c"},
			after: "none",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t)
			for _, id := range tt.queued {
				if err := s.Enqueue(ctx, startMsg(id)); err != nil {
					t.Fatal(err)
				}
			}
			reqs := tt.reqs(s)
			release := blockWriter(t, s)
			before := s.w.batches.Load()
			got := make([]fetchResult, len(reqs))
			var wg sync.WaitGroup
			for i, req := range reqs {
				wg.Go(func() { got[i] = req() })
				waitQueued(t, s, i+1)
			}
			release()
			wg.Wait()
			for i, want := range tt.want {
				if got[i].String() != want {
					t.Errorf("request %d: got %v, want %s", i, got[i], want)
				}
			}
			if n := s.w.batches.Load() - before; n != 1 {
				t.Errorf("%d transactions for the batch, want 1", n)
			}
			after := fetchResult{}
			if turn, err := s.FetchTurn(ctx, time.Minute, nil); err != nil {
				after.err = err
			} else {
				after.id = turn.InstanceID
			}
			if after.String() != tt.after {
				t.Errorf("FetchTurn after the batch: got %v, want %s", after, tt.after)
			}
		})
	}
}

// encodedStart is the encoded start message of id.
func encodedStart(id string) []byte {
	m := startMsg(id)
	b, err := encodeMessageEvent(&m)
	if err != nil {
		panic(err)
	}
	return b
}
