package conformance

import (
	"errors"
	"testing"
	"time"

	"github.com/durohost/durohost/store"
)

// startCases check StartInstance as the core has it: a start is refused when the instance
// exists, once among concurrent starts, and for bad input. (Its namespace quota is checked
// in the Namespaces group; its LockFor in WithoutDirectDispatch and DirectDispatch.)
func startCases() []storeCase {
	return []storeCase{
		{"start instance refuses an instance that exists", func(t *testing.T, s store.Store) {
			turn, err := s.StartInstance(t.Context(), startMsg("a"), store.StartOptions{})
			must(t, "StartInstance", err)
			if turn != nil {
				t.Fatalf("StartInstance with lockFor 0 returned turn %s", describeTurn(turn))
			}
			if in, err := s.Instance(t.Context(), "a"); err != nil || in.Status != store.StatusPending {
				t.Fatalf("Instance after the start: %v, %v; want pending", in, err)
			}
			_, err = s.StartInstance(t.Context(), startMsg("a"), store.StartOptions{})
			wantErr(t, "second StartInstance while pending", err, store.ErrExists)
			runTurn(t, s, "a", nil)
			_, err = s.StartInstance(t.Context(), startMsg("a"), store.StartOptions{LockFor: longLock})
			wantErr(t, "StartInstance of a running instance", err, store.ErrExists)
			noTurn(t, s, "the refused starts enqueued nothing")
			must(t, "DeleteInstance", s.DeleteInstance(t.Context(), "a", true))
			_, err = s.StartInstance(t.Context(), startMsg("a"), store.StartOptions{})
			must(t, "StartInstance after the delete", err)
		}},
		{"concurrent starts of one instance: exactly one succeeds", func(t *testing.T, s store.Store) {
			const n = 8
			errs := make(chan error, n)
			for range n {
				go func() {
					_, err := s.StartInstance(t.Context(), startMsg("a"), store.StartOptions{LockFor: longLock})
					errs <- err
				}()
			}
			ok := 0
			for range n {
				switch err := <-errs; {
				case err == nil:
					ok++
				case !errors.Is(err, store.ErrExists):
					t.Fatalf("StartInstance: %v, want nil or ErrExists", err)
				}
			}
			if ok != 1 {
				t.Fatalf("%d starts succeeded, want 1", ok)
			}
		}},
		{"start instance rejects bad input", func(t *testing.T, s store.Store) {
			_, err := s.StartInstance(t.Context(), eventMsg("a", "x"), store.StartOptions{})
			wantErr(t, "StartInstance of an event", err, store.ErrInvalid)
			_, err = s.StartInstance(t.Context(), startMsg("a"), store.StartOptions{LockFor: -time.Second})
			wantErr(t, "StartInstance with a negative lock duration", err, store.ErrInvalid)
			_, err = s.StartInstance(t.Context(), startMsg("a"), store.StartOptions{MaxInstances: -1})
			wantErr(t, "StartInstance with a negative quota", err, store.ErrInvalid)
			_, err = s.StartInstance(t.Context(), store.Message{Event: started("orch")}, store.StartOptions{})
			wantErr(t, "StartInstance without an instance", err, store.ErrInvalid)
			noTurn(t, s, "nothing was enqueued")
		}},
	}
}
