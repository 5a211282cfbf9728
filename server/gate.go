package server

import (
	"net/http"
	"slices"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store"
)

// replaySupported reports whether uploads may ask for ?check=replay.
const replaySupported = true

// checkJSON is the result of the upload gate (?check=replay): the open instances of the
// orchestrations the new module registers, replayed against it.
type checkJSON struct {
	// Compatible is true when every instance checked is compatible.
	Compatible bool `json:"compatible"`
	Checked    int  `json:"checked"`
	// Truncated is true when there were more open instances than the sample checked.
	Truncated bool            `json:"truncated,omitempty"`
	Instances []instanceCheck `json:"instances"`
}

type instanceCheck struct {
	ID            string          `json:"id"`
	Orchestration string          `json:"orchestration"`
	Execution     uint32          `json:"execution"`
	Compatible    bool            `json:"compatible"`
	Divergence    *DivergenceJSON `json:"divergence,omitempty"`
	// Error is set when the instance could not be checked (its history is unreadable).
	Error string `json:"error,omitempty"`
}

// DivergenceJSON is the JSON form of a host.Divergence: the first place where a module does
// something other than what a history recorded. Recorded and Got are events in the JSON
// form of histories (kind, name, input, ...).
type DivergenceJSON struct {
	Code     string         `json:"code"`
	Index    int64          `json:"index,omitempty"`
	Recorded *history.Event `json:"recorded,omitempty"`
	Got      *history.Event `json:"got,omitempty"`
	Message  string         `json:"message"`
}

// NewDivergenceJSON converts a divergence (nil gives nil).
func NewDivergenceJSON(d *host.Divergence) *DivergenceJSON {
	if d == nil {
		return nil
	}
	return &DivergenceJSON{Code: d.Code, Index: d.Index, Recorded: d.Recorded, Got: d.Got, Message: d.Message}
}

// checkReplay replays the current execution of the namespace's running instances of every
// orchestration the module registers (at most the replay sample) against it. It changes
// nothing.
func (s *Server) checkReplay(w http.ResponseWriter, r *http.Request, ns string, m *host.Module, rp *host.Replayer) (*checkJSON, error) {
	ctx := r.Context()
	out := &checkJSON{Compatible: true, Instances: []instanceCheck{}}
	var names []string
	for _, reg := range m.Orchestrations {
		if !slices.Contains(names, reg.Name) {
			names = append(names, reg.Name)
		}
	}
	for _, name := range names {
		f := store.Filter{Namespaces: []string{ns}, Name: name, Statuses: []store.Status{store.StatusRunning}, PageSize: 1000}
		for {
			page, err := s.c.List(ctx, f)
			if err != nil {
				return nil, err
			}
			for _, in := range page.Instances {
				if out.Checked >= s.cfg.replaySample {
					out.Truncated = true
					return out, nil
				}
				out.Checked++
				c := instanceCheck{ID: store.LocalID(ns, in.ID), Orchestration: name, Execution: in.Execution, Compatible: true}
				events, err := s.c.History(ctx, in.ID, in.Execution)
				var d *host.Divergence
				if err == nil {
					d, err = rp.Replay(ctx, in.ID, in.Execution, events, host.InNamespace(ns))
				}
				switch {
				case ctx.Err() != nil:
					return nil, ctx.Err()
				case err != nil:
					// The cause is the host's to read (its log, under the request's ID).
					id := w.Header().Get(RequestIDHeader)
					s.cfg.logger.Error("replay check failed", "request_id", id, "instance", in.ID, "err", err)
					c.Compatible, c.Error = false, "the instance could not be checked (see the server's log under request ID "+id+")"
				case d != nil:
					c.Compatible, c.Divergence = false, NewDivergenceJSON(d)
				}
				out.Compatible = out.Compatible && c.Compatible
				out.Instances = append(out.Instances, c)
			}
			if page.Next == "" {
				break
			}
			f.PageToken = page.Next
		}
	}
	return out, nil
}
