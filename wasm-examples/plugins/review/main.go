//go:build wasip1

// Command review is an orchestration whose activities are all Extism plugins, uploaded rather
// than compiled into the host: it fetches a document over HTTP with the fetch plugin (from an
// allowed host only), checks that it is JSON with the json plugin, and writes its title in
// upper case, with its number of words, with the text plugin. Every plugin call is an activity:
// recorded in history, retried by the policy below, never run again on replay.
//
// Run it from the repository root with the plugins of wasm-examples/plugins, each registered
// under its file name (durohost run's --plugin, allowed the hosts of --allow-http):
//
//	go run ./cmd/durohost run wasm-examples/plugins/review \
//	    --plugin wasm-examples/plugins/assemblyscript/fetch.wasm \
//	    --plugin wasm-examples/plugins/assemblyscript/json.wasm \
//	    --plugin wasm-examples/plugins/assemblyscript/text.wasm \
//	    --allow-http api.example.org \
//	    --input '{"url": "https://api.example.org/doc.json", "title": "a plugin review"}'
//
// or upload the plugins and the orchestration to a server (durohost plugin push, module push).
package main

import (
	"encoding/json"
	"time"

	durable "github.com/durohost/durohost/guest-sdk/go"
)

func main() {}

func init() {
	durable.RegisterFunc("review", review)
}

// Input is what review reviews: a document at URL, and a title.
type Input struct {
	URL   string `json:"url"`
	Title string `json:"title"`
}

// Output is the review.
type Output struct {
	// Type is the JSON type of the document ("object", "array", ...).
	Type string `json:"type"`
	// Title is the title in upper case, Words its number of words.
	Title string `json:"title"`
	Words int    `json:"words"`
}

// retry retries a plugin call that failed or timed out, three times at most.
var retry = durable.WithRetry(durable.RetryPolicy{MaxAttempts: 3, InitialInterval: 100 * time.Millisecond})

func review(ctx *durable.Context, in Input) (Output, error) {
	// fetch.get returns the response body; a host not allowed, or a status of 400 or more,
	// fails the activity (and, after the retries, the orchestration).
	doc, err := ctx.CallActivity("fetch.get", quote(in.URL), retry).Get()
	if err != nil {
		return Output{}, err
	}
	// json.validate fails on a document that is not one JSON value.
	valid, err := durable.CallActivity[struct {
		Type string `json:"type"`
	}](ctx, "json.validate", json.RawMessage(doc)).Get()
	if err != nil {
		return Output{}, err
	}
	title, err := durable.CallActivity[string](ctx, "text.upper", in.Title).Get()
	if err != nil {
		return Output{}, err
	}
	words, err := durable.CallActivity[struct {
		Words int `json:"words"`
	}](ctx, "text.words", in.Title).Get()
	if err != nil {
		return Output{}, err
	}
	return Output{Type: valid.Type, Title: title, Words: words.Words}, nil
}

// quote returns s as a JSON string, the input the fetch plugin accepts.
func quote(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}
