package builtin

import (
	"fmt"
	"strings"
)

// Doc documents one built-in activity, for `durohost activities`.
type Doc struct {
	// Name is the name the activity is registered under.
	Name string
	// Summary says in a sentence or two what the activity does and when it is enabled.
	Summary string
	// Input describes the input JSON: one line per field with its type, default and range.
	Input string
	// Output describes the result JSON.
	Output string
	// Errors lists the errors the activity returns.
	Errors string
	// Example is an example input (valid JSON accepted by the activity).
	Example string
	// ExampleOutput is a result the example input could produce.
	ExampleOutput string
}

// String formats the doc as a text block for a terminal.
func (d Doc) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n    %s\n", d.Name, indent(d.Summary))
	for _, s := range []struct{ title, body string }{
		{"Input", d.Input},
		{"Output", d.Output},
		{"Errors", d.Errors},
		{"Example input", d.Example},
		{"Example output", d.ExampleOutput},
	} {
		fmt.Fprintf(&b, "  %s:\n    %s\n", s.title, indent(s.body))
	}
	return b.String()
}

// indent indents the lines after the first of s by four spaces (the first is indented by
// the caller).
func indent(s string) string {
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ")
}

// Docs documents every built-in activity, in the order echo, sleep, http, shell. Every
// activity also fails with CodeInvalidInput (ErrInvalidInput) for input that is not the
// described JSON object, has an unknown field, or a field of the wrong type or out of
// range; the message names the field.
func Docs() []Doc {
	return []Doc{
		{
			Name:          "echo",
			Summary:       "Returns its input unchanged. Useful to test a deployment or to pass a value through an activity.",
			Input:         "Any JSON value.",
			Output:        "The input, byte for byte.",
			Errors:        "DH-BUILTIN-001  the input is not valid JSON.",
			Example:       `{"hello": "world"}`,
			ExampleOutput: `{"hello": "world"}`,
		},
		{
			Name: "sleep",
			Summary: "Waits, then returns null. For waits in an orchestration prefer its durable timer: a sleeping " +
				"activity holds a worker and starts again from zero if the host stops.",
			Input:  `ms  integer  required; milliseconds to wait, 0 to 86400000 (24 h)`,
			Output: `null`,
			Errors: "DH-BUILTIN-001  \"ms\" is missing or out of range.\n" +
				"context canceled  the orchestration no longer needs the result.",
			Example:       `{"ms": 1500}`,
			ExampleOutput: `null`,
		},
		{
			Name: "http",
			Summary: "Sends an HTTP request and returns the response. Only hosts allowed with --allow-http " +
				"(exact names or IPs, *.suffix wildcards, optional :port) may be contacted, also through " +
				"redirects (followed, at most 10). A 4xx or 5xx status is a result, not an error.",
			Input: "method      string   HTTP method, default \"GET\" (upper-cased)\n" +
				"url         string   required; an http:// or https:// URL whose host is allowed\n" +
				"headers     object   request headers, {\"Name\": \"value\"}; Host cannot be set\n" +
				"body        string   request body, default empty\n" +
				"timeout_ms  integer  time for the whole exchange, default 30000, at most --http-max-timeout (default 10 min)",
			Output: "status       integer  the response status code\n" +
				"headers      object   response headers, {\"Name\": \"first value\"}, names in canonical form (Content-Type)\n" +
				"body         string   the response body when it is valid UTF-8\n" +
				"body_base64  string   the response body in standard base64, instead of body, when it is not",
			Errors: "DH-BUILTIN-001  bad input (missing url, unsupported scheme, bad header, ...).\n" +
				"DH-BUILTIN-002  the host, or a redirect's host, is not allowed; start durohost with --allow-http HOST.\n" +
				"DH-BUILTIN-004  the body exceeds --http-max-body (default 10 MiB).\n" +
				"DH-BUILTIN-005  no complete response within timeout_ms.\n" +
				"other           network errors (DNS, connection, TLS) and cancellation, with Go's message.",
			Example:       `{"method": "POST", "url": "https://api.example.org/orders", "headers": {"Content-Type": "application/json"}, "body": "{\"id\": 42}", "timeout_ms": 5000}`,
			ExampleOutput: `{"status": 201, "headers": {"Content-Type": "application/json"}, "body": "{\"id\": 42, \"state\": \"new\"}"}`,
		},
		{
			Name: "shell",
			Summary: "Runs a command and returns its exit code and output. Disabled unless durohost is started " +
				"with --enable-shell (it runs arbitrary code as the host's user). On timeout or " +
				"cancellation the command's whole process group is killed. A non-zero exit is a result, " +
				"not an error, unless check is true.",
			Input: "command     string   a command line run with /bin/sh -c (exactly one of command and argv)\n" +
				"argv        array    a program and its arguments, run directly, e.g. [\"git\", \"status\"]\n" +
				"dir         string   working directory, default the host's\n" +
				"env         object   variables added to (overriding) the host's environment, {\"NAME\": \"value\"}\n" +
				"stdin       string   standard input, default empty\n" +
				"timeout_ms  integer  default 600000 (10 min), at most --shell-max-timeout (default 24 h)\n" +
				"check       boolean  fail when the exit code is not 0, default false",
			Output: "exit_code      integer  the exit code; -1 if the command was killed by a signal\n" +
				"stdout         string   standard output when it is valid UTF-8\n" +
				"stdout_base64  string   standard output in standard base64, instead of stdout, when it is not\n" +
				"stderr         string   standard error (likewise stderr_base64)\n" +
				"truncated      boolean  present and true when stdout or stderr exceeded --shell-max-output (default 1 MiB each) and was cut",
			Errors: "DH-BUILTIN-001  bad input (neither or both of command and argv, bad env, ...).\n" +
				"DH-BUILTIN-003  the shell activity is disabled; start durohost with --enable-shell.\n" +
				"DH-BUILTIN-005  the command did not finish within timeout_ms (details: the output so far).\n" +
				"DH-BUILTIN-006  check is true and the exit code is not 0 (details: the output).\n" +
				"other           the program could not be started (not found, bad dir), or cancellation.",
			Example:       `{"command": "wc -l", "stdin": "a\nb\n", "env": {"LC_ALL": "C"}, "timeout_ms": 10000, "check": true}`,
			ExampleOutput: `{"exit_code": 0, "stdout": "2\n", "stderr": ""}`,
		},
	}
}
