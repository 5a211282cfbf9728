package history

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
	"unicode/utf8"

	"github.com/durohost/durohost/abi"
)

// The JSON form of an event is for people and for exported history files. It round-trips
// exactly: decoding the JSON of an event gives an equal event.
//
//   - Keys are snake_case; fields with a zero value are omitted.
//   - kind is the kind's name ("activity_scheduled"); failure.kind the failure kind's name
//     ("application").
//   - time, fire_at and carried[].time are RFC 3339 timestamps in UTC with nanoseconds.
//   - Payloads (input, result, custom_status, failure.details, carried[].data) are embedded
//     as JSON under the plain key ("input": {"a":1}) when their bytes are compact JSON that
//     JSON encoding leaves unchanged (valid UTF-8, no insignificant whitespace, no <, >, &,
//     U+2028 or U+2029, which encoding/json escapes). Any other payload is base64 (standard
//     encoding, padded) under the key with the suffix _base64 ("input_base64": "AAE=").
//     "input": null is the four bytes null, not an absent payload.
//   - An empty payload and a nil payload are the same: both are omitted and decode as nil.
//     The CBOR form (Encode) does the same, so Encode gives the same bytes either way.
//
// Decoding is strict: unknown kinds, unknown or repeated keys, a payload under both of its
// keys, null for a non-payload field and trailing data are errors wrapping ErrCorrupt.

// eventJSON is the JSON form of Event; its field order is the key order.
type eventJSON struct {
	ID                 int64           `json:"id,omitempty"`
	Kind               string          `json:"kind"`
	Time               string          `json:"time,omitempty"`
	Ref                int64           `json:"ref,omitempty"`
	Name               string          `json:"name,omitempty"`
	Version            string          `json:"version,omitempty"`
	InstanceID         string          `json:"instance_id,omitempty"`
	Input              json.RawMessage `json:"input,omitempty"`
	InputBase64        string          `json:"input_base64,omitempty"`
	Result             json.RawMessage `json:"result,omitempty"`
	ResultBase64       string          `json:"result_base64,omitempty"`
	Failure            *failureJSON    `json:"failure,omitempty"`
	FireAt             string          `json:"fire_at,omitempty"`
	ParentID           string          `json:"parent_id,omitempty"`
	ParentExecution    uint32          `json:"parent_execution,omitempty"`
	ParentRef          int64           `json:"parent_ref,omitempty"`
	ModuleHash         string          `json:"module_hash,omitempty"`
	CustomStatus       json.RawMessage `json:"custom_status,omitempty"`
	CustomStatusBase64 string          `json:"custom_status_base64,omitempty"`
	Carried            []itemJSON      `json:"carried,omitempty"`
	Cleared            bool            `json:"cleared,omitempty"`
	Execution          uint32          `json:"execution,omitempty"`
}

type failureJSON struct {
	Kind          string          `json:"kind,omitempty"`
	Code          string          `json:"code,omitempty"`
	Message       string          `json:"message,omitempty"`
	Details       json.RawMessage `json:"details,omitempty"`
	DetailsBase64 string          `json:"details_base64,omitempty"`
}

type itemJSON struct {
	Name       string          `json:"name,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
	DataBase64 string          `json:"data_base64,omitempty"`
	Time       string          `json:"time,omitempty"`
}

// MarshalJSON returns the JSON form of e (see the comment at the top of json.go). It fails
// for an unknown kind or failure kind and for a string that is not valid UTF-8, which JSON
// could not carry exactly.
func (e Event) MarshalJSON() ([]byte, error) {
	if !e.Kind.Valid() {
		return nil, fmt.Errorf("event %d: unknown event kind %d", e.ID, e.Kind)
	}
	for _, s := range []string{e.Name, e.Version, e.InstanceID, e.ParentID, e.ModuleHash} {
		if !utf8.ValidString(s) {
			return nil, fmt.Errorf("event %d: string %q is not valid UTF-8", e.ID, s)
		}
	}
	j := eventJSON{
		ID:              e.ID,
		Kind:            e.Kind.String(),
		Time:            formatTime(e.Time),
		Ref:             e.Ref,
		Name:            e.Name,
		Version:         e.Version,
		InstanceID:      e.InstanceID,
		FireAt:          formatTime(e.FireAt),
		ParentID:        e.ParentID,
		ParentExecution: e.ParentExecution,
		ParentRef:       e.ParentRef,
		ModuleHash:      e.ModuleHash,
		Cleared:         e.Cleared,
		Execution:       e.Execution,
	}
	j.Input, j.InputBase64 = encodePayload(e.Input)
	j.Result, j.ResultBase64 = encodePayload(e.Result)
	j.CustomStatus, j.CustomStatusBase64 = encodePayload(e.CustomStatus)
	if f := e.Failure; f != nil {
		j.Failure = &failureJSON{Code: f.Code, Message: f.Message}
		if f.Kind != 0 {
			name, ok := abi.FailureKinds()[f.Kind]
			if !ok {
				return nil, fmt.Errorf("event %d: unknown failure kind %d", e.ID, f.Kind)
			}
			j.Failure.Kind = name
		}
		if !utf8.ValidString(f.Code) || !utf8.ValidString(f.Message) {
			return nil, fmt.Errorf("event %d: failure text is not valid UTF-8", e.ID)
		}
		j.Failure.Details, j.Failure.DetailsBase64 = encodePayload(f.Details)
	}
	for _, it := range e.Carried {
		if !utf8.ValidString(it.Name) {
			return nil, fmt.Errorf("event %d: carried item name %q is not valid UTF-8", e.ID, it.Name)
		}
		ij := itemJSON{Name: it.Name, Time: formatTime(it.Time)}
		ij.Data, ij.DataBase64 = encodePayload(it.Data)
		j.Carried = append(j.Carried, ij)
	}
	return json.Marshal(j)
}

// UnmarshalJSON parses the JSON form of an event (see the comment at the top of json.go).
// Errors wrap ErrCorrupt.
func (e *Event) UnmarshalJSON(data []byte) error {
	var ev Event
	var kind string
	var input, result, status payload
	var failure *abi.Failure
	err := decodeObject(data, map[string]func(json.RawMessage) error{
		"id":            intField(&ev.ID),
		"kind":          stringField(&kind),
		"time":          timeField(&ev.Time),
		"ref":           intField(&ev.Ref),
		"name":          stringField(&ev.Name),
		"version":       stringField(&ev.Version),
		"instance_id":   stringField(&ev.InstanceID),
		"input":         input.raw,
		"input_base64":  input.base64,
		"result":        result.raw,
		"result_base64": result.base64,
		"failure": func(raw json.RawMessage) error {
			f, err := decodeFailure(raw)
			failure = f
			return err
		},
		"fire_at":              timeField(&ev.FireAt),
		"parent_id":            stringField(&ev.ParentID),
		"parent_execution":     uintField(&ev.ParentExecution),
		"parent_ref":           intField(&ev.ParentRef),
		"module_hash":          stringField(&ev.ModuleHash),
		"custom_status":        status.raw,
		"custom_status_base64": status.base64,
		"carried": func(raw json.RawMessage) error {
			items, err := decodeItems(raw)
			ev.Carried = items
			return err
		},
		"cleared":   boolField(&ev.Cleared),
		"execution": uintField(&ev.Execution),
	})
	if err == nil {
		ev.Input, err = input.value("input")
	}
	if err == nil {
		ev.Result, err = result.value("result")
	}
	if err == nil {
		ev.CustomStatus, err = status.value("custom_status")
	}
	if err == nil {
		var ok bool
		if ev.Kind, ok = ParseKind(kind); !ok {
			err = fmt.Errorf("unknown event kind %q", kind)
		}
	}
	if err != nil {
		return fmt.Errorf("%w: json: %v", ErrCorrupt, err)
	}
	ev.Failure = failure
	*e = ev
	return nil
}

func decodeFailure(raw json.RawMessage) (*abi.Failure, error) {
	var f abi.Failure
	var kind string
	var details payload
	err := decodeObject(raw, map[string]func(json.RawMessage) error{
		"kind":           stringField(&kind),
		"code":           stringField(&f.Code),
		"message":        stringField(&f.Message),
		"details":        details.raw,
		"details_base64": details.base64,
	})
	if err == nil {
		f.Details, err = details.value("failure details")
	}
	if err != nil {
		return nil, fmt.Errorf("failure: %v", err)
	}
	if kind != "" {
		found := false
		for k, name := range abi.FailureKinds() {
			if name == kind {
				f.Kind, found = k, true
			}
		}
		if !found {
			return nil, fmt.Errorf("failure: unknown failure kind %q", kind)
		}
	}
	return &f, nil
}

func decodeItems(raw json.RawMessage) ([]Item, error) {
	var raws []json.RawMessage
	if err := strictUnmarshal(raw, &raws); err != nil {
		return nil, fmt.Errorf("carried: %v", err)
	}
	var items []Item
	for i, r := range raws {
		var it Item
		var data payload
		err := decodeObject(r, map[string]func(json.RawMessage) error{
			"name":        stringField(&it.Name),
			"data":        data.raw,
			"data_base64": data.base64,
			"time":        timeField(&it.Time),
		})
		if err == nil {
			it.Data, err = data.value("data")
		}
		if err != nil {
			return nil, fmt.Errorf("carried[%d]: %v", i, err)
		}
		items = append(items, it)
	}
	return items, nil
}

// historyJSON is the document MarshalHistory writes.
type historyJSON struct {
	Events []Event `json:"events"`
}

// MarshalHistory returns the JSON document {"events": [...]} of a history, indented for
// people to read. A nil or empty history gives "events": [].
func MarshalHistory(events []Event) ([]byte, error) {
	if events == nil {
		events = []Event{}
	}
	data, err := json.MarshalIndent(historyJSON{Events: events}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal history: %w", err)
	}
	return append(data, '\n'), nil
}

// UnmarshalHistory parses a document written by MarshalHistory. The document must hold
// exactly the key "events"; errors wrap ErrCorrupt.
func UnmarshalHistory(data []byte) ([]Event, error) {
	var raws []json.RawMessage
	err := decodeObject(data, map[string]func(json.RawMessage) error{
		"events": func(raw json.RawMessage) error { return strictUnmarshal(raw, &raws) },
	})
	if err == nil && raws == nil {
		err = errors.New(`missing "events"`)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: json history: %v", ErrCorrupt, err)
	}
	events := make([]Event, 0, len(raws))
	for i, raw := range raws {
		var e Event
		if err := e.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		events = append(events, e)
	}
	return events, nil
}

// encodePayload returns the JSON form of a payload: the bytes themselves when they survive
// JSON encoding unchanged, otherwise their base64.
func encodePayload(b []byte) (json.RawMessage, string) {
	if len(b) == 0 {
		return nil, ""
	}
	if embeddable(b) {
		return json.RawMessage(b), ""
	}
	return nil, base64.StdEncoding.EncodeToString(b)
}

// embeddable reports whether b is JSON that encoding/json copies unchanged into a document
// and that Compact restores from the document however it was indented.
func embeddable(b []byte) bool {
	if !utf8.Valid(b) || !json.Valid(b) || bytes.ContainsAny(b, "<>&\u2028\u2029") {
		return false
	}
	var c bytes.Buffer
	if err := json.Compact(&c, b); err != nil {
		return false
	}
	return bytes.Equal(c.Bytes(), b)
}

// payload collects the two keys of one payload while an object is decoded.
type payload struct {
	set  int // keys seen
	data []byte
}

func (p *payload) raw(raw json.RawMessage) error {
	var c bytes.Buffer
	if err := json.Compact(&c, raw); err != nil {
		return err
	}
	p.set++
	p.data = c.Bytes()
	return nil
}

func (p *payload) base64(raw json.RawMessage) error {
	var s string
	if err := stringField(&s)(raw); err != nil {
		return err
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return err
	}
	p.set++
	p.data = b
	return nil
}

// value returns the payload, nil when it is absent or empty.
func (p *payload) value(name string) ([]byte, error) {
	if p.set > 1 {
		return nil, fmt.Errorf("%s given both as JSON and as base64", name)
	}
	if len(p.data) == 0 {
		return nil, nil
	}
	return p.data, nil
}

// decodeObject decodes the JSON object data, calling the function of each key with the key's
// value. Unknown and repeated keys and trailing data are errors.
func decodeObject(data []byte, fields map[string]func(json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil {
		return err
	} else if tok != json.Delim('{') {
		return fmt.Errorf("want an object, got %v", tok)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("want a key, got %v", tok)
		}
		if seen[key] {
			return fmt.Errorf("key %q repeated", key)
		}
		seen[key] = true
		set, known := fields[key]
		if !known {
			return fmt.Errorf("unknown key %q", key)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("%s: %v", key, err)
		}
		if err := set(raw); err != nil {
			return fmt.Errorf("%s: %v", key, err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after object")
	}
	return nil
}

// strictUnmarshal decodes a non-null JSON value into v.
func strictUnmarshal(raw json.RawMessage, v any) error {
	if string(raw) == "null" {
		return errors.New("null is not allowed")
	}
	return json.Unmarshal(raw, v)
}

func stringField(p *string) func(json.RawMessage) error {
	return func(raw json.RawMessage) error { return strictUnmarshal(raw, p) }
}

func intField(p *int64) func(json.RawMessage) error {
	return func(raw json.RawMessage) error { return strictUnmarshal(raw, p) }
}

func uintField(p *uint32) func(json.RawMessage) error {
	return func(raw json.RawMessage) error { return strictUnmarshal(raw, p) }
}

func boolField(p *bool) func(json.RawMessage) error {
	return func(raw json.RawMessage) error { return strictUnmarshal(raw, p) }
}

func timeField(p *int64) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		var s string
		if err := strictUnmarshal(raw, &s); err != nil {
			return err
		}
		ns, err := parseTime(s)
		*p = ns
		return err
	}
}

// Unix nanoseconds cover the times from minTime to maxTime.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// formatTime returns Unix nanoseconds as RFC 3339 in UTC, "" for 0.
func formatTime(ns int64) string {
	if ns == 0 {
		return ""
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// parseTime parses an RFC 3339 time into Unix nanoseconds.
func parseTime(s string) (int64, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, err
	}
	if t.Before(minTime) || t.After(maxTime) {
		return 0, fmt.Errorf("time %s is out of the range of Unix nanoseconds", s)
	}
	return t.UnixNano(), nil
}
