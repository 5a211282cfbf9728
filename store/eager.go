package store

import (
	"fmt"

	"github.com/durohost/durohost/history"
)

// CheckStartWithTurn checks the arguments of EagerStarter.StartWithTurn as every
// implementation must (an error wrapping ErrInvalid naming the problem): msg is a start,
// opts asks for no lock, and c creates execution 1 from event 1, consumes no message, names
// msg's namespace and holds msg's start event. It leaves the checks of keys and of c's
// encoding to the store.
func CheckStartWithTurn(msg Message, opts StartOptions, c *Commit) error {
	switch {
	case msg.Event.Kind != history.KindExecutionStarted:
		return fmt.Errorf("start with turn: a %s event is not a start: %w", msg.Event.Kind, ErrInvalid)
	case opts.LockFor != 0 || opts.Known != nil:
		return fmt.Errorf("start with turn: a lock duration or known history: %w", ErrInvalid)
	case opts.MaxInstances < 0:
		return fmt.Errorf("start with turn: instance quota %d: %w", opts.MaxInstances, ErrInvalid)
	case c == nil:
		return fmt.Errorf("start with turn: nil commit: %w", ErrInvalid)
	case c.Execution != 1 || len(c.History) == 0 || c.History[0].ID != 1:
		return fmt.Errorf("start with turn: the turn must create execution 1 with history from event 1: %w", ErrInvalid)
	case len(c.Consumed) > 0:
		return fmt.Errorf("start with turn: the turn consumes messages: %w", ErrInvalid)
	case c.State.Namespace != msg.Namespace:
		return fmt.Errorf("start with turn: the turn's namespace %q is not the start's %q: %w", c.State.Namespace, msg.Namespace, ErrInvalid)
	}
	for i := range c.History {
		h := &c.History[i]
		if h.Kind == history.KindExecutionStarted && h.Name == msg.Event.Name && string(h.Input) == string(msg.Event.Input) {
			return nil
		}
	}
	return fmt.Errorf("start with turn: the turn's history does not hold the start event: %w", ErrInvalid)
}
