package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store"
)

// The client commands without --server act on a store of this machine (--store, with run's
// default), in the default namespace that durohost run starts its instances in: a raise
// from a second terminal lands in the store, where the running host finds it at its next
// poll. See RATIONALE.md, "Why do the client commands act on the local store?".
//
// localAPI answers the HTTP requests of the client commands (client_commands.go) itself,
// with the documents of the server's API for the routes the instance commands use, so that
// each command has one implementation and prints the same with and without a server.

// localAPI is an http.RoundTripper that answers requests from a store.
type localAPI struct {
	st        store.Store
	c         *host.Client
	storeName string
	mux       *http.ServeMux
}

// localError is an error answer of localAPI: the server's status and code.
type localError struct {
	status int
	code   string
	msg    string
}

func (e *localError) Error() string { return e.msg }

func localErrorf(status int, code, format string, args ...any) *localError {
	return &localError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// openLocalAPI opens the store of --store (or its default) for the client commands. A SQLite
// file must exist: a command that reads instances never creates an empty store.
func openLocalAPI(c *cli.Context) (*localAPI, func() error, error) {
	name, source, err := storeName(c, "", "")
	if err != nil {
		return nil, nil, err
	}
	spec, err := parseStore(name)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", source, err)
	}
	if spec.kind == kindSQLite {
		if _, err := os.Stat(spec.path); errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("no store at %s (%s): 'durohost run' creates it when it first runs; give the --store that run used, or --server for a server", spec.path, source)
		}
	}
	st, closeStore, display, err := spec.open(c.Context)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", source, err)
	}
	l := &localAPI{st: st, c: host.NewClient(st), storeName: display, mux: http.NewServeMux()}
	l.routes()
	return l, closeStore, nil
}

func (l *localAPI) routes() {
	handle := func(pattern string, fn func(w http.ResponseWriter, r *http.Request) error) {
		l.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := fn(w, r); err != nil {
				l.writeError(w, err)
			}
		})
	}
	handle("POST /v1/instances", l.start)
	handle("GET /v1/instances", l.list)
	handle("GET /v1/instances/{id}", l.get)
	handle("DELETE /v1/instances/{id}", l.delete)
	handle("GET /v1/instances/{id}/wait", l.wait)
	handle("GET /v1/instances/{id}/custom-status", l.customStatus)
	handle("GET /v1/instances/{id}/history", l.history)
	handle("POST /v1/instances/{id}/events/{name}", l.signal)
	handle("POST /v1/instances/{id}/queues/{name}", l.signal)
	handle("POST /v1/instances/{id}/cancel", l.cancel)
	handle("POST /v1/instances/{id}/prune", l.prune)
	handle("/", func(w http.ResponseWriter, r *http.Request) error {
		return localErrorf(http.StatusNotImplemented, "needs_server", "%s needs a server: give --server URL (or $%s) and --token", r.URL.Path, envServer)
	})
}

// RoundTrip implements http.RoundTripper: it answers req from the store.
func (l *localAPI) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := &localResponse{header: http.Header{}, status: http.StatusOK}
	l.mux.ServeHTTP(rec, req)
	if req.Body != nil {
		req.Body.Close()
	}
	return &http.Response{StatusCode: rec.status, Status: http.StatusText(rec.status), Header: rec.header,
		Body: io.NopCloser(&rec.body), ContentLength: int64(rec.body.Len()), Request: req,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
}

// localResponse is the http.ResponseWriter of a local request.
type localResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (r *localResponse) Header() http.Header { return r.header }
func (r *localResponse) Write(p []byte) (int, error) {
	r.wrote = true
	return r.body.Write(p)
}
func (r *localResponse) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}

func (l *localAPI) writeError(w http.ResponseWriter, err error) {
	var le *localError
	switch {
	case errors.As(err, &le):
	case errors.Is(err, host.ErrInvalidName):
		le = &localError{status: http.StatusBadRequest, code: "invalid_name", msg: err.Error()}
	case errors.Is(err, host.ErrTooLarge):
		le = &localError{status: http.StatusRequestEntityTooLarge, code: "too_large", msg: err.Error()}
	default:
		le = &localError{status: http.StatusInternalServerError, code: "internal", msg: err.Error()}
	}
	localJSON(w, le.status, map[string]any{"error": map[string]string{"code": le.code, "message": le.msg}})
}

func localJSON(w http.ResponseWriter, status int, v any) {
	data, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
}

// lookup returns an instance of the default namespace (a pending one too).
func (l *localAPI) lookup(ctx context.Context, id string) (*store.Instance, error) {
	if err := abi.CheckName(id); err != nil {
		return nil, localErrorf(http.StatusBadRequest, "invalid_name", "instance ID %q %v", id, err)
	}
	in, err := l.st.Instance(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && in.Namespace != "" {
		return nil, localErrorf(http.StatusNotFound, "instance_not_found", "no instance %q in store %s (give the --store that durohost run used, or --server for a server)", id, l.storeName)
	}
	return in, err
}

// localInstance is an instance as the server's API answers it (server's instanceJSON).
type localInstance struct {
	ID                 string          `json:"id"`
	Name               string          `json:"name,omitempty"`
	Version            string          `json:"version,omitempty"`
	Status             string          `json:"status"`
	Execution          uint32          `json:"execution,omitempty"`
	ModuleHash         string          `json:"module_hash,omitempty"`
	ParentID           string          `json:"parent_id,omitempty"`
	Output             json.RawMessage `json:"output,omitempty"`
	OutputBase64       string          `json:"output_base64,omitempty"`
	Failure            *localFailure   `json:"failure,omitempty"`
	CustomStatus       json.RawMessage `json:"custom_status,omitempty"`
	CustomStatusBase64 string          `json:"custom_status_base64,omitempty"`
	CreatedAt          *time.Time      `json:"created_at,omitempty"`
	UpdatedAt          *time.Time      `json:"updated_at,omitempty"`
	CompletedAt        *time.Time      `json:"completed_at,omitempty"`
}

// localFailure is a failure as the server's API answers it.
type localFailure struct {
	Kind          string          `json:"kind"`
	Code          string          `json:"code,omitempty"`
	Message       string          `json:"message"`
	Details       json.RawMessage `json:"details,omitempty"`
	DetailsBase64 string          `json:"details_base64,omitempty"`
}

// payloadForm returns a payload embedded as JSON when it is compact JSON, else in base64.
func payloadForm(b []byte) (json.RawMessage, string) {
	if len(b) == 0 {
		return nil, ""
	}
	if json.Valid(b) {
		var buf bytes.Buffer
		if json.Compact(&buf, b) == nil && bytes.Equal(buf.Bytes(), b) {
			return json.RawMessage(b), ""
		}
	}
	return nil, base64.StdEncoding.EncodeToString(b)
}

func localTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func localInstanceOf(in *store.Instance) localInstance {
	out, out64 := payloadForm(in.Output)
	cs, cs64 := payloadForm(in.CustomStatus)
	li := localInstance{ID: in.ID, Name: in.Name, Version: in.Version, Status: in.Status.String(),
		Execution: in.Execution, ModuleHash: in.ModuleHash, ParentID: in.ParentID,
		Output: out, OutputBase64: out64, CustomStatus: cs, CustomStatusBase64: cs64,
		CreatedAt: localTime(in.CreatedAt), UpdatedAt: localTime(in.UpdatedAt), CompletedAt: localTime(in.CompletedAt)}
	if f := in.Failure; f != nil {
		d, d64 := payloadForm(f.Details)
		li.Failure = &localFailure{Kind: f.Kind.String(), Code: f.Code, Message: f.Message, Details: d, DetailsBase64: d64}
	}
	return li
}

// readJSONBody decodes a JSON request body strictly into v (an empty body leaves v as is).
func readJSONBody(r *http.Request, v any) error {
	data, err := io.ReadAll(r.Body)
	if err != nil || len(bytes.TrimSpace(data)) == 0 {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return localErrorf(http.StatusBadRequest, "bad_request", "malformed JSON body: %v", err)
	}
	return nil
}

// waitTimeout reads ?timeout= (a duration; default 30 s).
func waitTimeout(r *http.Request) (time.Duration, error) {
	s := r.URL.Query().Get("timeout")
	if s == "" {
		return 30 * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, localErrorf(http.StatusBadRequest, "bad_request", "timeout=%q: want a duration such as 30s", s)
	}
	return d, nil
}

func (l *localAPI) start(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name    string          `json:"name"`
		Version string          `json:"version,omitempty"`
		ID      string          `json:"id,omitempty"`
		Input   json.RawMessage `json:"input,omitempty"`
	}
	if err := readJSONBody(r, &req); err != nil {
		return err
	}
	opts := []host.StartOption{host.WithOrchestrationVersion(req.Version)}
	if req.ID != "" {
		opts = append(opts, host.WithInstanceID(req.ID))
	}
	id, err := l.c.Start(r.Context(), req.Name, req.Input, opts...)
	switch {
	case errors.Is(err, host.ErrInstanceExists):
		return localErrorf(http.StatusConflict, "instance_exists", "an instance %q exists in store %s", id, l.storeName)
	case errors.Is(err, host.ErrUnknownOrchestration):
		return localErrorf(http.StatusNotFound, "unknown_orchestration", "no module in store %s registers orchestration %q: durohost run loads the module of its first argument", l.storeName, req.Name)
	case err != nil:
		return err
	}
	in, err := l.lookup(r.Context(), id)
	if err != nil {
		return err
	}
	localJSON(w, http.StatusCreated, localInstanceOf(in))
	return nil
}

func (l *localAPI) get(w http.ResponseWriter, r *http.Request) error {
	in, err := l.lookup(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	localJSON(w, http.StatusOK, localInstanceOf(in))
	return nil
}

func (l *localAPI) wait(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	timeout, err := waitTimeout(r)
	if err != nil {
		return err
	}
	in, err := l.lookup(r.Context(), id)
	if err != nil {
		return err
	}
	if !in.Status.Finished() {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		got, err := l.c.Wait(ctx, id)
		switch {
		case err == nil:
			in = got
		case r.Context().Err() != nil:
			return r.Context().Err()
		case !errors.Is(err, context.DeadlineExceeded):
			return err
		default:
			if in, err = l.lookup(r.Context(), id); err != nil {
				return err
			}
		}
	}
	localJSON(w, http.StatusOK, localInstanceOf(in))
	return nil
}

// customStatusETag is the server's etag of a custom status: 32 hex digits of its sha256.
func customStatusETag(cs []byte) string {
	sum := sha256.Sum256(cs)
	return hex.EncodeToString(sum[:16])
}

func (l *localAPI) customStatus(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	q := r.URL.Query()
	prev, waiting := q.Get("wait_for_change"), q.Has("wait_for_change")
	timeout, err := waitTimeout(r)
	if err != nil {
		return err
	}
	in, err := l.lookup(r.Context(), id)
	if err != nil {
		return err
	}
	if waiting && customStatusETag(in.CustomStatus) == prev && !in.Status.Finished() {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		for customStatusETag(in.CustomStatus) == prev && !in.Status.Finished() {
			got, err := l.c.WaitCustomStatus(ctx, id, in.CustomStatus)
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
			if in, err = l.lookup(r.Context(), id); err != nil {
				return err
			}
			break
		}
	}
	cs, cs64 := payloadForm(in.CustomStatus)
	localJSON(w, http.StatusOK, struct {
		CustomStatus       json.RawMessage `json:"custom_status"`
		CustomStatusBase64 string          `json:"custom_status_base64,omitempty"`
		ETag               string          `json:"etag"`
		Status             string          `json:"status"`
	}{cs, cs64, customStatusETag(in.CustomStatus), in.Status.String()})
	return nil
}

func (l *localAPI) history(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	in, err := l.lookup(r.Context(), id)
	if err != nil {
		return err
	}
	var exec uint64
	if e := r.URL.Query().Get("execution"); e != "" {
		if exec, err = strconv.ParseUint(e, 10, 32); err != nil {
			return localErrorf(http.StatusBadRequest, "bad_request", "execution=%q: want a number (1 for the first)", e)
		}
	}
	var events []history.Event
	if in.Status != store.StatusPending {
		events, err = l.c.History(r.Context(), id, uint32(exec))
		if errors.Is(err, store.ErrNotFound) {
			return localErrorf(http.StatusNotFound, "execution_not_found", "instance %q has no execution %d (it may have been pruned)", id, exec)
		}
		if err != nil {
			return err
		}
	} else if exec > 1 {
		return localErrorf(http.StatusNotFound, "execution_not_found", "instance %q has no execution %d", id, exec)
	}
	doc, err := history.MarshalHistory(events)
	if err != nil {
		return err
	}
	if exec == 0 {
		exec = uint64(max(in.Execution, 1))
	}
	out := struct {
		ID         string          `json:"id"`
		InstanceID string          `json:"instance_id"`
		Execution  uint32          `json:"execution"`
		Module     string          `json:"module_hash,omitempty"`
		History    json.RawMessage `json:"history"`
	}{ID: id, InstanceID: id, Execution: uint32(exec), History: doc}
	for _, e := range events {
		if e.Kind == history.KindExecutionStarted {
			out.Module = e.ModuleHash
		}
	}
	localJSON(w, http.StatusOK, out)
	return nil
}

// signal raises an event (.../events/{name}) or enqueues a message (.../queues/{name}).
func (l *localAPI) signal(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := l.lookup(r.Context(), id); err != nil {
		return err
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if len(data) == 0 {
		data = nil
	}
	send := l.c.RaiseEvent
	if strings.Contains(r.URL.Path, "/queues/") {
		send = l.c.Enqueue
	}
	if err := send(r.Context(), id, r.PathValue("name"), data); err != nil {
		if errors.Is(err, host.ErrNotFound) {
			return localErrorf(http.StatusNotFound, "instance_not_found", "no instance %q in store %s", id, l.storeName)
		}
		return err
	}
	localJSON(w, http.StatusAccepted, map[string]string{"id": id})
	return nil
}

func (l *localAPI) cancel(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := readJSONBody(r, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, err := l.lookup(r.Context(), id); err != nil {
		return err
	}
	if err := l.c.Cancel(r.Context(), id, req.Reason); err != nil {
		if errors.Is(err, host.ErrNotFound) {
			return localErrorf(http.StatusNotFound, "instance_not_found", "no instance %q in store %s", id, l.storeName)
		}
		return err
	}
	localJSON(w, http.StatusAccepted, map[string]string{"id": id})
	return nil
}

func (l *localAPI) delete(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	force := r.URL.Query().Get("force") == "true"
	in, err := l.lookup(r.Context(), id)
	if err != nil {
		return err
	}
	if in.Status == store.StatusPending {
		return localErrorf(http.StatusConflict, "instance_running", "instance %q is pending (its first turn has not run yet): cancel it, or delete it once it has run", id)
	}
	err = l.c.Delete(r.Context(), id, force)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return localErrorf(http.StatusNotFound, "instance_not_found", "no instance %q in store %s", id, l.storeName)
	case errors.Is(err, store.ErrRunning):
		return localErrorf(http.StatusConflict, "instance_running", "instance %q is running: give --force to delete it anyway", id)
	case err != nil:
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (l *localAPI) prune(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Before   *time.Time `json:"before"`
		KeepLast int        `json:"keep_last"`
	}
	if err := readJSONBody(r, &req); err != nil {
		return err
	}
	if req.KeepLast < 0 {
		return localErrorf(http.StatusBadRequest, "bad_request", "keep_last %d is negative", req.KeepLast)
	}
	before := time.Now()
	if req.Before != nil {
		before = *req.Before
	}
	id := r.PathValue("id")
	in, err := l.lookup(r.Context(), id)
	if err != nil {
		return err
	}
	n := 0
	if in.Status != store.StatusPending {
		if n, err = l.c.Prune(r.Context(), id, before, req.KeepLast); err != nil {
			return err
		}
	}
	localJSON(w, http.StatusOK, map[string]int{"pruned": n})
	return nil
}

func (l *localAPI) list(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.Filter{Namespaces: []string{""}, Name: q.Get("name"), IDPrefix: q.Get("prefix"), PageToken: q.Get("page_token")}
	for _, s := range strings.Split(q.Get("status"), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		status, ok := store.ParseStatus(s)
		if !ok || status == store.StatusContinuedAsNew {
			return localErrorf(http.StatusBadRequest, "bad_request", "status=%q: want pending, running, completed, failed or cancelled", s)
		}
		f.Statuses = append(f.Statuses, status)
	}
	page, err := l.c.List(r.Context(), f)
	if err != nil {
		return err
	}
	out := []localInstance{}
	for i := range page.Instances {
		out = append(out, localInstanceOf(&page.Instances[i]))
	}
	localJSON(w, http.StatusOK, map[string]any{"instances": out, "next_page_token": page.Next})
	return nil
}
