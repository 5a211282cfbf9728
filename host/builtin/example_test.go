package builtin_test

import (
	"context"
	"fmt"

	"github.com/durohost/durohost/host/builtin"
)

// Activities returns the activities by name; a host registers each of them.
func ExampleActivities() {
	acts, err := builtin.Activities(builtin.Config{AllowHTTP: []string{"api.example.org"}})
	if err != nil {
		panic(err)
	}
	out, err := acts["echo"](context.Background(), []byte(`{"hello": "world"}`))
	fmt.Println(string(out), err)

	_, err = acts["shell"](context.Background(), []byte(`{"command": "echo hi"}`))
	fmt.Println(err)

	_, err = acts["http"](context.Background(), []byte(`{"url": "https://example.com/"}`))
	fmt.Println(err)
	// Output:
	// {"hello": "world"} <nil>
	// [DH-BUILTIN-003] shell: the shell activity is disabled; start durohost with --enable-shell
	// [DH-BUILTIN-002] http: host "example.com" is not allowed; start durohost with --allow-http example.com (allowed: api.example.org)
}

// Docs is what `durohost activities` prints.
func ExampleDocs() {
	for _, d := range builtin.Docs() {
		fmt.Printf("%s: %s\n", d.Name, d.Example)
	}
	fmt.Print(builtin.Docs()[1])
	// Output:
	// echo: {"hello": "world"}
	// sleep: {"ms": 1500}
	// http: {"method": "POST", "url": "https://api.example.org/orders", "headers": {"Content-Type": "application/json"}, "body": "{\"id\": 42}", "timeout_ms": 5000}
	// shell: {"command": "wc -l", "stdin": "a\nb\n", "env": {"LC_ALL": "C"}, "timeout_ms": 10000, "check": true}
	// sleep
	//     Waits, then returns null. For waits in an orchestration prefer its durable timer: a sleeping activity holds a worker and starts again from zero if the host stops.
	//   Input:
	//     ms  integer  required; milliseconds to wait, 0 to 86400000 (24 h)
	//   Output:
	//     null
	//   Errors:
	//     DH-BUILTIN-001  "ms" is missing or out of range.
	//     context canceled  the orchestration no longer needs the result.
	//   Example input:
	//     {"ms": 1500}
	//   Example output:
	//     null
}
