//go:build wasip1

// Command hello is the first durohost example: an orchestration that calls one activity three
// times, one call after the other, and returns what it got back.
//
// Run it from the repository root:
//
//	go run ./cmd/durohost run wasm-examples/go/hello --input '"World"'
//
// Build the module by hand (the -buildmode=c-shared flag makes a WebAssembly reactor, the kind
// of module the host runs):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o hello.wasm ./wasm-examples/go/hello
package main

import (
	"fmt"
	"strings"

	durable "github.com/durohost/durohost/guest-sdk/go"
)

// main is never called: the host loads the module as a reactor, which runs the init functions
// (and so the registrations below) and then calls the orchestrations it is asked to run. The Go
// toolchain still wants a main function in a main package.
func main() {}

// init registers the module's orchestrations. The name "hello" is what `durohost run` and
// clients use to start it. RegisterFunc decodes the JSON input into the function's input type
// (here a string) and encodes its result as JSON.
func init() {
	durable.RegisterFunc("hello", hello)
}

// hello greets name in three languages. Each greeting goes through the built-in activity
// "echo", which returns its input unchanged: a stand-in for real work such as sending an email
// or calling an API, which in durohost always happens in an activity, never in the
// orchestration itself.
//
// The host records every activity result in the instance's history. If the process stops
// half-way (try Ctrl-C), the orchestration is run again from the start on resume; the calls
// that already completed are answered from history instead of being run again, and the
// orchestration carries on from where it stopped. That is why the code must do the same thing
// every time it runs: it is a plain function that calls activities, not a script that talks to
// the outside world.
func hello(ctx *durable.Context, name string) (string, error) {
	// An orchestration started without input gets the zero value of its input type.
	if name == "" {
		name = "World"
	}

	greetings := []string{"Hello, %s!", "Bonjour, %s!", "Hola, %s!"}
	replies := make([]string, 0, len(greetings))
	for _, g := range greetings {
		// CallActivity schedules the activity and returns a future right away; Get waits for
		// its result. Waiting here, before the next call, makes the three calls run in
		// sequence (see the fanout example for calls that run in parallel).
		//
		// The type parameter [string] says how to decode the activity's JSON result.
		reply, err := durable.CallActivity[string](ctx, "echo", fmt.Sprintf(g, name)).Get()
		if err != nil {
			// The activity failed (the error is a *durable.Error). Returning the error fails
			// the orchestration with it.
			return "", err
		}
		replies = append(replies, reply)
	}

	// Log through the context's logger: its records are dropped while the orchestration
	// replays, so each line appears once however many times the code runs.
	ctx.Logger().Info("greeted", "name", name, "greetings", len(replies))

	// The returned value becomes the orchestration's output, encoded as JSON.
	return strings.Join(replies, " "), nil
}
