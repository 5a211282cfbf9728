// Package builtin provides the built-in activities that make durohost useful without
// writing Go: echo, sleep, http and shell. The CLI (`durohost run`, `durohost serve`)
// registers them on its host; `durohost activities` prints Docs.
//
//	cfg := builtin.Config{AllowHTTP: []string{"api.example.org"}}
//	acts, err := builtin.Activities(cfg) // map name -> func(ctx, input []byte) ([]byte, error)
//
// Activities are where side effects happen (DESIGN.md §6). Inputs and results are JSON.
// Inputs are decoded strictly: an unknown field, a field of the wrong type, a missing
// required field or a value out of range fails with ErrInvalidInput and a message that
// names the field, e.g. `[DH-BUILTIN-001] http: "url" is required`. Empty input counts as
// an object with no fields.
//
// # Activities
//
// echo returns its input, which must be valid JSON, unchanged.
//
//	in:  {"hello": "world"}
//	out: {"hello": "world"}
//
// sleep waits "ms" milliseconds (0 to 86400000) and returns null; it returns ctx.Err() at
// once when the orchestration no longer needs the result.
//
//	in:  {"ms": 1500}
//	out: null
//
// http sends a request to an allowed host and returns the status, the first value of each
// response header and the body (as "body" when it is UTF-8, else as "body_base64"). A 4xx
// or 5xx status is a result; network errors, timeouts, a body larger than the limit and a
// host (or redirect target) outside Config.AllowHTTP are errors.
//
//	in:  {"method": "POST", "url": "https://api.example.org/orders",
//	      "headers": {"Content-Type": "application/json"}, "body": "{\"id\": 42}",
//	      "timeout_ms": 5000}
//	out: {"status": 201, "headers": {"Content-Type": "application/json"}, "body": "..."}
//
// shell runs "command" with /bin/sh -c, or "argv" directly, with optional "dir", "env"
// (added to the host's environment), "stdin" and "timeout_ms", and returns the exit code
// and the captured output (capped; "truncated" says so). A non-zero exit is a result
// unless "check" is true. On timeout or cancellation the command's process group is
// killed with SIGKILL. It runs only when Config.EnableShell is set.
//
//	in:  {"command": "wc -l", "stdin": "a\nb\n", "check": true}
//	out: {"exit_code": 0, "stdout": "2\n", "stderr": ""}
//
// Docs gives the complete reference of each activity: every field, its default and range,
// the result and the errors.
//
// # Always registered
//
// Activities returns all four activities whatever the Config: http with an empty
// allow-list and shell when disabled are registered but fail with an error that says how
// to enable them (CodeHostNotAllowed, CodeShellDisabled). The alternative, leaving shell
// out, would make a call wait and retry for a host that registers it and end in the less
// helpful DH-UNREGISTERED-001. The trade-off: in a deployment of several hosts, shell must
// be enabled on every host that runs activities, or some calls fail.
//
// # Security
//
// The allow-list is checked against the URL's host name before any connection and against
// every redirect before it is followed; the check is by name, so a name that resolves to
// an internal address is reachable if the name is allowed. shell runs arbitrary code with
// the rights of the host's user: enable it only where the orchestrations are trusted.
//
// # Errors
//
// Errors a user must act on are *Error values that carry a stable code (CodeXxx, e.g.
// DH-BUILTIN-002), unwrap to a sentinel (ErrXxx) and convert to the orchestration's
// failure with Failure, or with errors.As to a *abi.Failure, which is how the host finds
// it. Network errors and cancellation wrap the underlying error, so
// errors.Is(err, context.Canceled) holds.
package builtin
