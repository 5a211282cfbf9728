// Command durohost runs durable orchestrations compiled to WebAssembly.
//
//	durohost run wasm-examples/go/hello --input '"World"'
//
// See `durohost --help` and `durohost <command> --help`.
package main

import "os"

func main() { os.Exit(run(os.Args, os.Stdout, os.Stderr)) }
