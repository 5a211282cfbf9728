package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store"
)

// ErrUnknownRole is returned by ParseRole, ParseTokens and New for a token role other than
// read or write.
var ErrUnknownRole = errors.New("unknown token role")

// Error codes of the API: the "code" of an error response. They are stable; clients test them.
const (
	CodeBadRequest           = "bad_request"            // 400: a malformed parameter or body
	CodeInvalidModule        = "invalid_module"         // 400: the bytes are not an acceptable module
	CodeInvalidName          = "invalid_name"           // 400: an empty, oversized or malformed name or ID
	CodeUnauthenticated      = "unauthenticated"        // 401: no bearer token, or an unknown one
	CodeForbidden            = "forbidden"              // 403: the token's role does not allow the call (a read token on a write)
	CodeNotFound             = "not_found"              // 404: no such endpoint
	CodeInstanceNotFound     = "instance_not_found"     // 404: no such instance in the namespace
	CodeExecutionNotFound    = "execution_not_found"    // 404: no such execution (or pruned)
	CodeModuleNotFound       = "module_not_found"       // 404: no such module or version
	CodeUnknownOrchestration = "unknown_orchestration"  // 404: no module of the namespace registers it
	CodeInstanceExists       = "instance_exists"        // 409: an instance with the ID exists
	CodeInstanceRunning      = "instance_running"       // 409: delete a running instance without force
	CodeVersionExists        = "version_exists"         // 409: the module version exists with other bytes
	CodeModulePinned         = "module_pinned"          // 409: an unfinished instance pins the module
	CodeRequestTimeout       = "request_timeout"        // 408: the body did not arrive in time
	CodeTooLarge             = "too_large"              // 413: the body or a payload is larger than the limit
	CodeUnsupportedMedia     = "unsupported_media_type" // 415: a JSON body was expected
	CodeQuotaExceeded        = "quota_exceeded"         // 429: the namespace's quota refuses the start or upload
	CodeInternal             = "internal"               // 500: see the server's log under the request ID
	CodeNotImplemented       = "not_implemented"        // 501: a feature this build does not have
	CodeUnavailable          = "unavailable"            // 503: the store does not answer, or it is closed
)

// RequestIDHeader is the response header that carries the ID of every request; the server's
// log names failed requests by it.
const RequestIDHeader = "X-Request-ID"

// Error is an error response: an HTTP status, a stable code and a message. A 5xx answer has
// a generic message and the request ID under which the server logged what went wrong: the
// text of an internal error (a path, a query, a driver's message) is not the client's to read.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// RequestID is set on 5xx answers (the X-Request-ID header of every answer holds it too).
	RequestID string `json:"request_id,omitempty"`
}

// Error returns "code: message".
func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// errorOf maps an error of the host or the store to a response. The errors that are the
// client's (4xx) keep their specific messages; others get a generic one (the caller logs err).
func errorOf(err error) *Error {
	var e *Error
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &tooBig):
		return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "the body is larger than the limit of %d bytes", tooBig.Limit)
	case errors.Is(err, host.ErrInvalidModule):
		return errorf(http.StatusBadRequest, CodeInvalidModule, "%v", err)
	case errors.Is(err, host.ErrCompileTimeout):
		return errorf(http.StatusBadRequest, CodeInvalidModule, "%v: the module is too large to compile on this server", err)
	case errors.Is(err, host.ErrBusy):
		return errorf(http.StatusServiceUnavailable, CodeUnavailable, "%v: retry later", err)
	case errors.Is(err, host.ErrTooLarge):
		return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "%v", err)
	case errors.Is(err, host.ErrInvalidName):
		return errorf(http.StatusBadRequest, CodeInvalidName, "%v", err)
	case errors.Is(err, host.ErrInstanceExists):
		return errorf(http.StatusConflict, CodeInstanceExists, "%v", err)
	case errors.Is(err, host.ErrQuota), errors.Is(err, store.ErrQuota):
		return errorf(http.StatusTooManyRequests, CodeQuotaExceeded, "%v", err)
	case errors.Is(err, store.ErrRunning):
		return errorf(http.StatusConflict, CodeInstanceRunning, "%v (cancel it first, or delete with force=true)", err)
	case errors.Is(err, store.ErrModulePinned):
		return errorf(http.StatusConflict, CodeModulePinned, "%v (delete or let finish the instances that use it first)", err)
	case errors.Is(err, history.ErrCorrupt), errors.Is(err, store.ErrCorrupt):
		return errorf(http.StatusInternalServerError, CodeInternal, "internal error: stored data is unreadable")
	case errors.Is(err, store.ErrInvalid):
		return errorf(http.StatusBadRequest, CodeBadRequest, "%v", err)
	case errors.Is(err, store.ErrClosed), errors.Is(err, host.ErrStopped):
		return errorf(http.StatusServiceUnavailable, CodeUnavailable, "the server is stopping: retry later")
	case errors.Is(err, context.Canceled):
		return errorf(http.StatusServiceUnavailable, CodeUnavailable, "request cancelled")
	}
	return errorf(http.StatusInternalServerError, CodeInternal, "internal error")
}

// writeError writes {"error": {"code": ..., "message": ...}}. A 5xx answer gets the request
// ID (set by ServeHTTP) in its body. When an HTTP/1 request declared a body, the connection
// is closed after the answer: the handler may not have read the body (an authentication error
// answers before reading it), and draining a body a client is slow to send, or does not send,
// would hold the answer back until the read timeout.
func writeError(w http.ResponseWriter, r *http.Request, e *Error) {
	switch e.Status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="durohost"`)
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
	}
	if id := w.Header().Get(RequestIDHeader); e.Status >= 500 && e.RequestID == "" && id != "" {
		c := *e
		c.RequestID = id
		c.Message += " (request ID " + id + ")"
		e = &c
	}
	if r != nil && r.ContentLength != 0 && r.ProtoMajor == 1 {
		// (HTTP/2 resets an unread stream; its "Connection: close" would end every stream.)
		w.Header().Set("Connection", "close")
	}
	writeJSON(w, e.Status, map[string]*Error{"error": e})
}

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data, _ = json.Marshal(map[string]*Error{"error": {Code: CodeInternal, Message: "internal error: the answer could not be encoded",
			RequestID: w.Header().Get(RequestIDHeader)}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
}
