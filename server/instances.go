package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store"
)

// maxIDLen bounds an instance ID given to the API (its store key adds the namespace, see
// store.Key).
const maxIDLen = 900

func checkID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return errorf(http.StatusBadRequest, CodeInvalidName, "instance ID %q: want 1 to %d bytes", id, maxIDLen)
	}
	if err := abi.CheckName(id); err != nil {
		return errorf(http.StatusBadRequest, CodeInvalidName, "instance ID %q %v (IDs are printable: no control or invisible formatting characters)", id, err)
	}
	return nil
}

// lookup returns an instance of the namespace, a pending one (started, its first turn not
// committed) with StatusPending as the store reports it. 404 instance_not_found otherwise,
// also for an instance of another namespace (the store reports each instance's namespace;
// a key of the default namespace may look like one of ns).
func (s *Server) lookup(ctx context.Context, ns, id string) (*store.Instance, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	in, err := s.st.Instance(ctx, store.Key(ns, id))
	if errors.Is(err, store.ErrNotFound) || err == nil && in.Namespace != ns {
		return nil, errorf(http.StatusNotFound, CodeInstanceNotFound, "no instance %q", id)
	}
	return in, err
}

type startRequest struct {
	Name        string          `json:"name"`
	Version     string          `json:"version,omitempty"`
	ID          string          `json:"id,omitempty"`
	Input       json.RawMessage `json:"input,omitempty"`
	InputBase64 string          `json:"input_base64,omitempty"`
}

// startInstance: POST /v1/instances.
func (s *Server) startInstance(w http.ResponseWriter, r *http.Request, ns string) error {
	var req startRequest
	if err := decodeBody(r, s.cfg.maxBody, &req); err != nil {
		return err
	}
	if req.Name == "" {
		return errorf(http.StatusBadRequest, CodeBadRequest, `"name" (the orchestration to start) is required`)
	}
	input, err := payloadOf("input", req.Input, req.InputBase64)
	if err != nil {
		return err
	}
	if err := s.checkPayload("the input", input); err != nil {
		return err
	}
	if req.ID == "" {
		var b [16]byte
		rand.Read(b[:])
		req.ID = hex.EncodeToString(b[:])
	} else if err := checkID(req.ID); err != nil {
		return err
	}
	ctx := r.Context()
	info, err := s.st.ResolveModule(ctx, ns, store.RegistrationOrchestration, req.Name, req.Version)
	if errors.Is(err, store.ErrNotFound) {
		if req.Version != "" {
			return errorf(http.StatusNotFound, CodeUnknownOrchestration, "no module of namespace %q registers orchestration %q version %q (upload one)", ns, req.Name, req.Version)
		}
		return errorf(http.StatusNotFound, CodeUnknownOrchestration, "no module of namespace %q registers orchestration %q (upload one)", ns, req.Name)
	}
	if err != nil {
		return err
	}
	// The guest knows its orchestration by its own version; a version the registry made up
	// from the hash is not one.
	version := guestVersion(info.Version)
	// The store answers for a pending instance too (host.Client.Start returns
	// ErrInstanceExists for one), so a second start of it is refused whichever server sees it.
	if _, err := s.c.Start(ctx, req.Name, input, host.WithInstanceID(req.ID), host.WithNamespace(ns),
		host.WithOrchestrationVersion(version), host.WithModuleHash(info.Hash)); err != nil {
		if errors.Is(err, host.ErrInstanceExists) {
			return errorf(http.StatusConflict, CodeInstanceExists, "an instance %q exists", req.ID)
		}
		return err
	}
	writeJSON(w, http.StatusCreated, instanceJSON{ID: req.ID, Name: req.Name, Version: version,
		Status: store.StatusPending.String(), ModuleHash: info.Hash, CreatedAt: timePtr(time.Now())})
	return nil
}

// getInstance: GET /v1/instances/{id}.
func (s *Server) getInstance(w http.ResponseWriter, r *http.Request, ns string) error {
	in, err := s.lookup(r.Context(), ns, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, instanceOf(ns, in))
	return nil
}

// parseTimeout reads ?timeout= as a Go duration ("30s") or seconds ("30").
func parseTimeout(s string, def, max time.Duration) (time.Duration, error) {
	if s == "" {
		return min(def, max), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		n, nerr := strconv.ParseFloat(s, 64)
		if nerr != nil {
			return 0, errorf(http.StatusBadRequest, CodeBadRequest, "timeout=%q: want a duration such as 30s", s)
		}
		d = time.Duration(n * float64(time.Second))
	}
	if d < 0 {
		return 0, errorf(http.StatusBadRequest, CodeBadRequest, "timeout=%q is negative", s)
	}
	return min(d, max), nil
}

// waitInstance: GET /v1/instances/{id}/wait?timeout=30s. It answers when the instance has
// ended, or at the timeout with its current state (status not yet final).
func (s *Server) waitInstance(w http.ResponseWriter, r *http.Request, ns string) error {
	id := r.PathValue("id")
	timeout, err := parseTimeout(r.URL.Query().Get("timeout"), 30*time.Second, s.cfg.maxWait)
	if err != nil {
		return err
	}
	if _, err := s.lookup(r.Context(), ns, id); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	in, err := s.c.Wait(ctx, store.Key(ns, id))
	if err != nil {
		if r.Context().Err() != nil {
			return r.Context().Err()
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if in, err = s.lookup(r.Context(), ns, id); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, instanceOf(ns, in))
	return nil
}

type executionJSON struct {
	ID          uint32     `json:"id"`
	Status      string     `json:"status"`
	Events      int        `json:"events"`
	CreatedAt   *time.Time `json:"created_at,omitempty"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
}

// listExecutions: GET /v1/instances/{id}/executions.
func (s *Server) listExecutions(w http.ResponseWriter, r *http.Request, ns string) error {
	id := r.PathValue("id")
	if _, err := s.lookup(r.Context(), ns, id); err != nil {
		return err
	}
	execs, err := s.c.Executions(r.Context(), store.Key(ns, id))
	if errors.Is(err, store.ErrNotFound) {
		execs, err = nil, nil // pending
	}
	if err != nil {
		return err
	}
	out := []executionJSON{}
	for _, e := range execs {
		out = append(out, executionJSON{ID: e.ID, Status: e.Status.String(), Events: e.Events,
			CreatedAt: timePtr(e.CreatedAt), CompletedAt: timePtr(e.CompletedAt)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"executions": out})
	return nil
}

// historyJSON is the document of GET /v1/instances/{id}/history, the form of an exported
// history file: the ID, the ID the host runs the instance under (with the namespace prefix;
// replay needs it: it seeds the guest's randomness and derives child IDs), the execution, and
// the history as history.MarshalHistory writes it.
type historyJSON struct {
	ID         string          `json:"id"`
	Namespace  string          `json:"namespace,omitempty"`
	InstanceID string          `json:"instance_id"`
	Execution  uint32          `json:"execution"`
	Module     string          `json:"module_hash,omitempty"`
	History    json.RawMessage `json:"history"`
}

// getHistory: GET /v1/instances/{id}/history?execution=N (default: the current one).
func (s *Server) getHistory(w http.ResponseWriter, r *http.Request, ns string) error {
	id := r.PathValue("id")
	in, err := s.lookup(r.Context(), ns, id)
	if err != nil {
		return err
	}
	var exec uint64
	if e := r.URL.Query().Get("execution"); e != "" {
		if exec, err = strconv.ParseUint(e, 10, 32); err != nil {
			return errorf(http.StatusBadRequest, CodeBadRequest, "execution=%q: want a number (1 for the first)", e)
		}
	}
	var events []history.Event
	if in.Status != store.StatusPending {
		events, err = s.c.History(r.Context(), in.ID, uint32(exec))
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, CodeExecutionNotFound, "instance %q has no execution %d (it may have been pruned)", id, exec)
		}
		if err != nil {
			return err
		}
	} else if exec > 1 {
		return errorf(http.StatusNotFound, CodeExecutionNotFound, "instance %q has no execution %d", id, exec)
	}
	doc, err := history.MarshalHistory(events)
	if err != nil {
		return err
	}
	if exec == 0 {
		exec = uint64(max(in.Execution, 1))
	}
	out := historyJSON{ID: id, Namespace: ns, InstanceID: in.ID, Execution: uint32(exec), History: doc}
	for _, e := range events {
		if e.Kind == history.KindExecutionStarted {
			out.Module = e.ModuleHash
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// customStatusJSON is the document of GET /v1/instances/{id}/custom-status.
type customStatusJSON struct {
	CustomStatus       json.RawMessage `json:"custom_status"`
	CustomStatusBase64 string          `json:"custom_status_base64,omitempty"`
	// ETag identifies the value: a long-poll gives it back as wait_for_change.
	ETag string `json:"etag"`
	// Status is the instance's: a watcher stops when it is final.
	Status string `json:"status"`
}

// customStatusTag is the etag of a custom status: 32 hex digits of its sha256 (no custom
// status is the empty value's).
func customStatusTag(cs []byte) string {
	sum := sha256.Sum256(cs)
	return hex.EncodeToString(sum[:16])
}

// getCustomStatus: GET /v1/instances/{id}/custom-status[?wait_for_change=ETAG&timeout=30s].
// With wait_for_change it is a long-poll: it answers at once when the custom status's etag
// differs from the one given or the instance has ended, otherwise when either happens or at
// the timeout (capped by the server's maximum wait), always with the current value.
func (s *Server) getCustomStatus(w http.ResponseWriter, r *http.Request, ns string) error {
	id := r.PathValue("id")
	q := r.URL.Query()
	prev, waiting := q.Get("wait_for_change"), q.Has("wait_for_change")
	if !waiting && q.Has("timeout") {
		return errorf(http.StatusBadRequest, CodeBadRequest, "timeout=%q without wait_for_change: give the etag of the value to wait for a change of", q.Get("timeout"))
	}
	timeout, err := parseTimeout(q.Get("timeout"), 30*time.Second, s.cfg.maxWait)
	if err != nil {
		return err
	}
	in, err := s.lookup(r.Context(), ns, id)
	if err != nil {
		return err
	}
	if waiting && customStatusTag(in.CustomStatus) == prev && !in.Status.Finished() {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		for customStatusTag(in.CustomStatus) == prev && !in.Status.Finished() {
			// WaitCustomStatus compares bytes, the loop etags: no custom status and an empty
			// one are different bytes with the same etag.
			got, err := s.c.WaitCustomStatus(ctx, in.ID, in.CustomStatus)
			if err == nil {
				in = got
				continue
			}
			if r.Context().Err() != nil {
				return r.Context().Err()
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			// The timeout: answer the current state (404 if it was deleted meanwhile).
			if in, err = s.lookup(r.Context(), ns, id); err != nil {
				return err
			}
			break
		}
	}
	cs, cs64 := payloadJSON(in.CustomStatus)
	writeJSON(w, http.StatusOK, customStatusJSON{CustomStatus: cs, CustomStatusBase64: cs64,
		ETag: customStatusTag(in.CustomStatus), Status: in.Status.String()})
	return nil
}

// raiseEvent: POST /v1/instances/{id}/events/{event}; the body is the event's data.
func (s *Server) raiseEvent(w http.ResponseWriter, r *http.Request, ns string) error {
	return s.signal(w, r, ns, "the event data", func(ctx context.Context, full string, data []byte) error {
		return s.c.RaiseEvent(ctx, full, r.PathValue("event"), data)
	})
}

// enqueue: POST /v1/instances/{id}/queues/{queue}; the body is the message.
func (s *Server) enqueue(w http.ResponseWriter, r *http.Request, ns string) error {
	return s.signal(w, r, ns, "the queue message", func(ctx context.Context, full string, data []byte) error {
		return s.c.Enqueue(ctx, full, r.PathValue("queue"), data)
	})
}

// signal reads a payload body (what names it in errors) and sends it to an instance.
func (s *Server) signal(w http.ResponseWriter, r *http.Request, ns, what string, send func(context.Context, string, []byte) error) error {
	id := r.PathValue("id")
	if _, err := s.lookup(r.Context(), ns, id); err != nil {
		return err
	}
	data, err := s.payloadBody(r, what)
	if err != nil {
		return err
	}
	if err := send(r.Context(), store.Key(ns, id), data); err != nil {
		if errors.Is(err, host.ErrNotFound) { // deleted since the lookup
			return errorf(http.StatusNotFound, CodeInstanceNotFound, "no instance %q", id)
		}
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id})
	return nil
}

// cancelInstance: POST /v1/instances/{id}/cancel {"reason": "..."}.
func (s *Server) cancelInstance(w http.ResponseWriter, r *http.Request, ns string) error {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := decodeBody(r, s.cfg.maxBody, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, err := s.lookup(r.Context(), ns, id); err != nil {
		return err
	}
	if err := s.c.Cancel(r.Context(), store.Key(ns, id), req.Reason); err != nil {
		if errors.Is(err, host.ErrNotFound) { // deleted since the lookup
			return errorf(http.StatusNotFound, CodeInstanceNotFound, "no instance %q", id)
		}
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id})
	return nil
}

// deleteInstance: DELETE /v1/instances/{id}?force=true. It deletes the instance with its
// sub-orchestrations; a running one only with force.
func (s *Server) deleteInstance(w http.ResponseWriter, r *http.Request, ns string) error {
	id := r.PathValue("id")
	force, err := boolParam(r, "force")
	if err != nil {
		return err
	}
	in, err := s.lookup(r.Context(), ns, id)
	if err != nil {
		return err
	}
	if in.Status == store.StatusPending {
		// The store has no row to delete before the first turn commits one.
		return errorf(http.StatusConflict, CodeInstanceRunning, "instance %q is pending (its first turn has not run yet): cancel it, or delete it once it has run", id)
	}
	err = s.c.Delete(r.Context(), in.ID, force)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, CodeInstanceNotFound, "no instance %q", id)
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// pruneInstance: POST /v1/instances/{id}/prune {"before": RFC 3339, "keep_last": n}.
func (s *Server) pruneInstance(w http.ResponseWriter, r *http.Request, ns string) error {
	var req struct {
		Before   *time.Time `json:"before"`
		KeepLast int        `json:"keep_last"`
	}
	if err := decodeBody(r, s.cfg.maxBody, &req); err != nil {
		return err
	}
	if req.KeepLast < 0 {
		return errorf(http.StatusBadRequest, CodeBadRequest, "keep_last %d is negative", req.KeepLast)
	}
	before := time.Now()
	if req.Before != nil {
		before = *req.Before
	}
	id := r.PathValue("id")
	in, err := s.lookup(r.Context(), ns, id)
	if err != nil {
		return err
	}
	if in.Status == store.StatusPending {
		writeJSON(w, http.StatusOK, map[string]int{"pruned": 0}) // no execution yet
		return nil
	}
	n, err := s.c.Prune(r.Context(), in.ID, before, req.KeepLast)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, CodeInstanceNotFound, "no instance %q", id)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"pruned": n})
	return nil
}

type treeJSON struct {
	instanceJSON
	Children []treeJSON `json:"children,omitempty"`
}

func treeOf(ns string, t *host.Tree) treeJSON {
	out := treeJSON{instanceJSON: instanceOf(ns, &t.Instance)}
	for _, c := range t.Children {
		if c.Instance.Namespace == ns {
			out.Children = append(out.Children, treeOf(ns, c))
		}
	}
	return out
}

// getTree: GET /v1/instances/{id}/tree, the instance with its sub-orchestrations.
func (s *Server) getTree(w http.ResponseWriter, r *http.Request, ns string) error {
	id := r.PathValue("id")
	in, err := s.lookup(r.Context(), ns, id)
	if err != nil {
		return err
	}
	if in.Status == store.StatusPending {
		writeJSON(w, http.StatusOK, treeJSON{instanceJSON: instanceOf(ns, in)})
		return nil
	}
	t, err := s.c.Tree(r.Context(), in.ID)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, CodeInstanceNotFound, "no instance %q", id)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, treeOf(ns, t))
	return nil
}

// filterOf reads the filter parameters of list and purge: status (comma-separated), name,
// prefix (of the ID), created_after, created_before (RFC 3339), page_size, page_token.
func filterOf(r *http.Request, ns string) (store.Filter, error) {
	q := r.URL.Query()
	f := store.Filter{Namespaces: []string{ns}, Name: q.Get("name"), IDPrefix: store.Key(ns, q.Get("prefix")), PageToken: q.Get("page_token")}
	for _, st := range strings.Split(q.Get("status"), ",") {
		if st = strings.TrimSpace(st); st == "" {
			continue
		}
		status, ok := store.ParseStatus(st)
		if !ok || status == store.StatusContinuedAsNew {
			return f, errorf(http.StatusBadRequest, CodeBadRequest, "status=%q: want pending, running, completed, failed or cancelled", st)
		}
		f.Statuses = append(f.Statuses, status)
	}
	for _, p := range []struct {
		key string
		t   *time.Time
	}{{"created_after", &f.CreatedAfter}, {"created_before", &f.CreatedBefore}} {
		if v := q.Get(p.key); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return f, errorf(http.StatusBadRequest, CodeBadRequest, "%s=%q: want an RFC 3339 time", p.key, v)
			}
			*p.t = t
		}
	}
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return f, errorf(http.StatusBadRequest, CodeBadRequest, "page_size=%q: want 1 to 1000", v)
		}
		f.PageSize = n
	}
	return f, nil
}

// listInstances: GET /v1/instances with the filters of filterOf.
func (s *Server) listInstances(w http.ResponseWriter, r *http.Request, ns string) error {
	f, err := filterOf(r, ns)
	if err != nil {
		return err
	}
	page, err := s.c.List(r.Context(), f)
	if errors.Is(err, store.ErrInvalid) {
		return errorf(http.StatusBadRequest, CodeBadRequest, "%v", err)
	}
	if err != nil {
		return err
	}
	out := []instanceJSON{}
	for i := range page.Instances {
		out = append(out, instanceOf(ns, &page.Instances[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"instances": out, "next_page_token": page.Next})
	return nil
}

// purgeInstances: DELETE /v1/instances with the filters of filterOf deletes the finished
// instances that match (running ones are skipped).
func (s *Server) purgeInstances(w http.ResponseWriter, r *http.Request, ns string) error {
	f, err := filterOf(r, ns)
	if err != nil {
		return err
	}
	n, err := s.st.DeleteInstances(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"deleted": n})
	return nil
}

func boolParam(r *http.Request, key string) (bool, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errorf(http.StatusBadRequest, CodeBadRequest, "%s=%q: want true or false", key, v)
	}
	return b, nil
}
