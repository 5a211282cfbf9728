package sqlite

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/durohost/durohost/store"
)

// damage runs raw statements on the store's writer connection.
func damage(t *testing.T, s *Store, stmts ...string) {
	t.Helper()
	err := s.w.do(context.Background(), func(tx *tx) error {
		for _, q := range stmts {
			if _, err := tx.exec(q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// wantCorrupt checks that err wraps store.ErrCorrupt and names every part.
func wantCorrupt(t *testing.T, what string, err error, parts ...string) {
	t.Helper()
	if !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("%s: got %v, want ErrCorrupt", what, err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("%s: error %q does not name %q", what, err, p)
		}
	}
}

func TestCorruptRows(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		damage []string
		check  func(t *testing.T, s *Store)
	}{
		{"garbage event blob", []string{`UPDATE history SET data = x'ff00ff' WHERE instance_id = 'a' AND event_id = 2`},
			func(t *testing.T, s *Store) {
				_, err := s.History(ctx, "a", 0)
				wantCorrupt(t, "History", err, `"a"`, "execution 1", "event 2")
				if err := s.Enqueue(ctx, startMsg("a")); err != nil {
					t.Fatal(err)
				}
				_, err = s.FetchTurn(ctx, time.Minute, nil)
				wantCorrupt(t, "FetchTurn", err, `"a"`, "event 2")
			}},
		{"truncated event blob", []string{`UPDATE history SET data = substr(data, 1, 3) WHERE instance_id = 'a' AND event_id = 1`},
			func(t *testing.T, s *Store) {
				_, err := s.History(ctx, "a", 1)
				wantCorrupt(t, "History", err, `"a"`, "event 1")
			}},
		{"event of unknown kind", []string{`UPDATE history SET data = x'a1021863' WHERE instance_id = 'a' AND event_id = 1`},
			func(t *testing.T, s *Store) {
				_, err := s.History(ctx, "a", 1)
				wantCorrupt(t, "History", err, `"a"`, "event 1")
			}},
		{"event stored under another ID", []string{`DELETE FROM history WHERE instance_id = 'a' AND event_id = 1`},
			func(t *testing.T, s *Store) {
				_, err := s.History(ctx, "a", 1)
				wantCorrupt(t, "History", err, `"a"`, "event 2")
			}},
		{"history shorter than the instance row counts", []string{`DELETE FROM history WHERE instance_id = 'a' AND event_id = 2`},
			func(t *testing.T, s *Store) {
				if err := s.Enqueue(ctx, startMsg("a")); err != nil {
					t.Fatal(err)
				}
				_, err := s.FetchTurn(ctx, time.Minute, nil)
				wantCorrupt(t, "FetchTurn", err, `"a"`, "1 events stored", "counts 2")
			}},
		{"garbage failure", []string{`UPDATE instances SET failure = x'ff' WHERE id = 'a'`},
			func(t *testing.T, s *Store) {
				_, err := s.Instance(ctx, "a")
				wantCorrupt(t, "Instance", err, `"a"`, "failure")
				_, err = s.ListInstances(ctx, store.Filter{})
				wantCorrupt(t, "ListInstances", err, `"a"`)
			}},
		{"status out of range", []string{`UPDATE instances SET status = 77 WHERE id = 'a'`},
			func(t *testing.T, s *Store) {
				_, err := s.Instance(ctx, "a")
				wantCorrupt(t, "Instance", err, `"a"`, "status 77")
			}},
		{"text in a time column", []string{`UPDATE instances SET created_at = 'yesterday' WHERE id = 'a'`},
			func(t *testing.T, s *Store) {
				_, err := s.Instance(ctx, "a")
				wantCorrupt(t, "Instance", err, `"a"`, "created_at")
			}},
		{"garbage message", []string{`INSERT INTO messages (instance_id, data, visible_at, ready_at) VALUES ('b', x'00', 0, 0)`},
			func(t *testing.T, s *Store) {
				_, err := s.FetchTurn(ctx, time.Minute, nil)
				wantCorrupt(t, "FetchTurn", err, `"b"`, "message")
				// The bad instance stays locked; the others are served.
				if err := s.Enqueue(ctx, startMsg("c")); err != nil {
					t.Fatal(err)
				}
				if turn := fetch(t, s); turn.InstanceID != "c" {
					t.Fatalf("after a corrupt turn, fetched %q, want c", turn.InstanceID)
				}
			}},
		{"module bytes changed", []string{`UPDATE module_blobs SET data = x'0061736d02'`},
			func(t *testing.T, s *Store) {
				infos, err := s.ListModules(ctx, store.ModuleFilter{})
				if err != nil || len(infos) != 1 {
					t.Fatal(infos, err)
				}
				_, err = s.Module(ctx, infos[0].Hash)
				wantCorrupt(t, "Module", err, infos[0].Hash)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t)
			startInstance(t, s, "a")
			if _, err := s.PutModule(ctx, putOf("m", []byte("\x00asm\x01\x00\x00\x00"))); err != nil {
				t.Fatal(err)
			}
			damage(t, s, tt.damage...)
			tt.check(t, s)
		})
	}
}
