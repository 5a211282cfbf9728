// Package csdk carries the sources of the C guest SDK (../durohost.h and ../durohost.c, see
// ../README.md), so that the durohost command builds C guest projects with the SDK it was
// built with, wherever it runs. Go refuses .c files in a package directory without cgo, and
// go:embed reaches no parent directory, so the sources are copied into sources.go by
// `go generate` (gen.go); TestSourcesMatch fails when the copy is stale.
package csdk

//go:generate go run gen.go
