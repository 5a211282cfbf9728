package conformance

import (
	"context"
	"fmt"
	"time"

	"github.com/durohost/durohost/store"
)

// CoreOnly returns a store that has the core of s and none of its capabilities: its method
// set is store.Store's, and it treats the parts of the core's signatures that belong to
// capabilities as a store written with the core alone does. FetchTurn ignores known (it
// passes nil to s), StartInstance ignores StartOptions.LockFor and Known and returns a nil
// turn, and CommitTurn refuses a commit with a claimed work item with store.ErrInvalid.
//
// RunStore(t, open) with open returning CoreOnly(s) runs the core groups and those that
// check a store without capabilities ("Core/Without..."), and a host built on CoreOnly(s)
// runs on its fallbacks (no claims or direct turns, every history read, polling), as it
// would on such a store.
func CoreOnly(s store.Store) store.Store { return coreOnly{s} }

// coreOnly embeds the interface, not s: only the core's methods are promoted.
type coreOnly struct{ store.Store }

func (c coreOnly) FetchTurn(ctx context.Context, lockFor time.Duration, _ store.KnownHistory) (*store.Turn, error) {
	return c.Store.FetchTurn(ctx, lockFor, nil)
}

func (c coreOnly) StartInstance(ctx context.Context, msg store.Message, opts store.StartOptions) (*store.Turn, error) {
	if opts.LockFor > 0 {
		opts.LockFor, opts.Known = 0, nil
	}
	return c.Store.StartInstance(ctx, msg, opts) // a nil turn with LockFor 0
}

func (c coreOnly) CommitTurn(ctx context.Context, token string, cm *store.Commit) error {
	if cm != nil {
		for _, a := range cm.Activities {
			if a.Claim {
				return fmt.Errorf("%w: work item of event %d of %q is claimed, and only a store.DirectDispatcher takes claims",
					store.ErrInvalid, a.EventID, a.InstanceID)
			}
		}
	}
	return c.Store.CommitTurn(ctx, token, cm)
}
