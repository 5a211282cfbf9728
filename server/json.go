package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/store"
)

// Payloads are opaque bytes (JSON by convention). In responses a payload is embedded as JSON
// under its key ("output": {...}) when it is valid compact JSON, otherwise it is base64 under
// the key with the suffix _base64, as in the JSON form of histories. Requests accept either.

// payloadJSON returns the embedded or base64 form of b.
func payloadJSON(b []byte) (json.RawMessage, string) {
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

// payloadOf returns the bytes of a request payload given as JSON or base64 (not both).
func payloadOf(what string, raw json.RawMessage, b64 string) ([]byte, error) {
	switch {
	case raw != nil && b64 != "":
		return nil, errorf(http.StatusBadRequest, CodeBadRequest, "give %s or %s_base64, not both", what, what)
	case b64 != "":
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, CodeBadRequest, "%s_base64: %v", what, err)
		}
		return b, nil
	}
	return raw, nil
}

// failureJSON is an abi.Failure in responses.
type failureJSON struct {
	Kind          string          `json:"kind"`
	Code          string          `json:"code,omitempty"`
	Message       string          `json:"message"`
	Details       json.RawMessage `json:"details,omitempty"`
	DetailsBase64 string          `json:"details_base64,omitempty"`
}

func failureOf(f *abi.Failure) *failureJSON {
	if f == nil {
		return nil
	}
	d, d64 := payloadJSON(f.Details)
	return &failureJSON{Kind: f.Kind.String(), Code: f.Code, Message: f.Message, Details: d, DetailsBase64: d64}
}

// instanceJSON is an instance in responses.
type instanceJSON struct {
	ID                 string          `json:"id"`
	Name               string          `json:"name,omitempty"`
	Version            string          `json:"version,omitempty"`
	Status             string          `json:"status"`
	Execution          uint32          `json:"execution,omitempty"`
	ModuleHash         string          `json:"module_hash,omitempty"`
	ParentID           string          `json:"parent_id,omitempty"`
	Output             json.RawMessage `json:"output,omitempty"`
	OutputBase64       string          `json:"output_base64,omitempty"`
	Failure            *failureJSON    `json:"failure,omitempty"`
	CustomStatus       json.RawMessage `json:"custom_status,omitempty"`
	CustomStatusBase64 string          `json:"custom_status_base64,omitempty"`
	CreatedAt          *time.Time      `json:"created_at,omitempty"`
	UpdatedAt          *time.Time      `json:"updated_at,omitempty"`
	CompletedAt        *time.Time      `json:"completed_at,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// instanceOf converts an instance of namespace ns: its ID and its parent's are the IDs
// within ns (store.LocalID of their keys).
func instanceOf(ns string, in *store.Instance) instanceJSON {
	out, out64 := payloadJSON(in.Output)
	cs, cs64 := payloadJSON(in.CustomStatus)
	parent := ""
	if in.ParentID != "" {
		parent = store.LocalID(ns, in.ParentID)
	}
	return instanceJSON{
		ID: store.LocalID(ns, in.ID), Name: in.Name, Version: in.Version, Status: in.Status.String(),
		Execution: in.Execution, ModuleHash: in.ModuleHash, ParentID: parent,
		Output: out, OutputBase64: out64, Failure: failureOf(in.Failure),
		CustomStatus: cs, CustomStatusBase64: cs64,
		CreatedAt: timePtr(in.CreatedAt), UpdatedAt: timePtr(in.UpdatedAt), CompletedAt: timePtr(in.CompletedAt),
	}
}

// decodeBody reads a JSON request body of at most limit bytes into v, strictly: unknown
// fields and trailing data are errors. An empty body leaves v unchanged.
func decodeBody(r *http.Request, limit int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "Content-Type %q: the body must be application/json", ct)
		}
	}
	data, err := readRequestBody(r, "the body", limit)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, CodeBadRequest, "malformed JSON body: %v", err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, CodeBadRequest, "malformed JSON body: data after the JSON value")
	}
	return nil
}

// payloadBody reads a raw body that is a payload (what: "event data", "the queue message"):
// more than the host's Limits().MaxPayload is 413 too_large, refused as it arrives.
func (s *Server) payloadBody(r *http.Request, what string) ([]byte, error) {
	data, err := readRequestBody(r, what, int64(s.h.Limits().MaxPayload))
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Status == http.StatusRequestEntityTooLarge {
			return nil, payloadTooLarge(what, -1, s.h.Limits().MaxPayload)
		}
		return nil, err
	}
	if len(data) == 0 {
		return nil, nil
	}
	return data, nil
}

// checkPayload refuses a payload (what: "the input") larger than the host's
// Limits().MaxPayload with 413 too_large: the host would accept the request and then fail
// the instance when the guest read it.
func (s *Server) checkPayload(what string, b []byte) error {
	if max := s.h.Limits().MaxPayload; len(b) > max {
		return payloadTooLarge(what, len(b), max)
	}
	return nil
}

// payloadTooLarge is the 413 of a payload of size bytes (-1: not known, it was not read to
// its end) over the limit.
func payloadTooLarge(what string, size, limit int) *Error {
	if size < 0 {
		return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "%s is larger than the payload limit of %d bytes (the host's max payload)", what, limit)
	}
	return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "%s of %d bytes is larger than the payload limit of %d bytes (the host's max payload)", what, size, limit)
}
