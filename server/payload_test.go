package server

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/durohost/durohost/host"
)

func TestPayloadLimit(t *testing.T) {
	// A payload the host would refuse is refused by the API with 413, naming the limit; one
	// of exactly the limit is accepted. The JSON body limit leaves room for the largest
	// payload in base64.
	const limit = 64 << 10
	e := newEnvWith(t, envConfig{stopped: true, hostOpts: []host.Option{host.WithMaxPayload(limit)}})
	e.upload(tokA, "hello", "1", wat(t, "hello.wasm"))
	jsonString := func(size int) string { return `"` + strings.Repeat("x", size-2) + `"` } // size bytes of JSON
	raw := func(size int) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, size)) }

	e.expect(tokA, "POST", "/v1/instances", `{"name": "wat_hello", "id": "at-limit", "input": `+jsonString(limit)+`}`, http.StatusCreated, "")
	e.expect(tokA, "POST", "/v1/instances", `{"name": "wat_hello", "id": "at-limit-64", "input_base64": "`+raw(limit)+`"}`, http.StatusCreated, "")
	for _, body := range []string{
		`{"name": "wat_hello", "id": "over", "input": ` + jsonString(limit+1) + `}`,
		`{"name": "wat_hello", "id": "over-64", "input_base64": "` + raw(limit+1) + `"}`,
	} {
		r := e.expect(tokA, "POST", "/v1/instances", body, http.StatusRequestEntityTooLarge, CodeTooLarge)
		if !strings.Contains(string(r.body), "the input of 65537 bytes is larger than the payload limit of 65536 bytes") {
			t.Fatalf("413 does not name the limit: %s", r.body)
		}
	}
	// A body larger than the largest payload in base64 and the margin: 413 before decoding.
	huge := `{"name": "wat_hello", "input_base64": "` + raw(limit+bodyMargin) + `"}`
	e.expect(tokA, "POST", "/v1/instances", huge, http.StatusRequestEntityTooLarge, CodeTooLarge)
	for _, id := range []string{"over", "over-64"} {
		e.expect(tokA, "GET", "/v1/instances/"+id, nil, http.StatusNotFound, CodeInstanceNotFound)
	}

	for _, tc := range []struct{ path, what string }{
		{"/v1/instances/at-limit/events/e", "the event data"},
		{"/v1/instances/at-limit/queues/q", "the queue message"},
	} {
		e.expect(tokA, "POST", tc.path, bytes.Repeat([]byte("y"), limit), http.StatusAccepted, "")
		r := e.expect(tokA, "POST", tc.path, bytes.Repeat([]byte("y"), limit+1), http.StatusRequestEntityTooLarge, CodeTooLarge)
		if !strings.Contains(string(r.body), tc.what+" is larger than the payload limit of 65536 bytes") {
			t.Fatalf("%s: 413 does not name the limit: %s", tc.path, r.body)
		}
	}
}
