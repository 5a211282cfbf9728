package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// A sourceLanguage is a guest language whose source directories `durohost run`, `replay` and
// `bench` build into modules. Each language lives in its own file (build.go for Go,
// build_<language>.go for the others) and registers itself in languages from an init
// function.
type sourceLanguage struct {
	// name is the language's name, as --guest takes it ("go", "rust", ...).
	name string
	// marker says in a few words what makes a directory a project of the language ("a
	// Cargo.toml"), for errors that list what a directory may hold.
	marker string
	// detect reports whether dir is a project of the language.
	detect func(dir string) bool
	// build builds the project in dir, caching under b.cacheDir and reporting on b.log.
	build func(b *guestBuilder, ctx context.Context, dir string) ([]byte, error)
	// benchGuest is the benchmark guest's project, relative to the root of a source
	// checkout ("" when the language has none).
	benchGuest string
}

// languages are the registered guest languages, by name.
var languages = map[string]*sourceLanguage{}

// registerLanguage adds l to languages; two languages of one name are a programming error.
func registerLanguage(l *sourceLanguage) {
	if _, dup := languages[l.name]; dup {
		panic("durohost: guest language " + l.name + " registered twice")
	}
	languages[l.name] = l
}

// languageNames returns the names of the registered languages, sorted, Go first.
func languageNames() []string {
	names := make([]string, 0, len(languages))
	for n := range languages {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == "go":
			return -1
		case b == "go":
			return 1
		}
		return strings.Compare(a, b)
	})
	return names
}

// buildDir builds the guest project in dir with the first language (in languageNames order)
// that recognises it.
func (b *guestBuilder) buildDir(ctx context.Context, dir string) ([]byte, error) {
	var markers []string
	for _, n := range languageNames() {
		l := languages[n]
		if l.detect(dir) {
			return l.build(b, ctx, dir)
		}
		markers = append(markers, l.marker)
	}
	return nil, fmt.Errorf("%s is a directory that holds no guest project (%s): give a .wasm file or a guest project directory", dir, strings.Join(markers, ", "))
}

// buildBenchGuest builds the benchmark guest of language name from the source checkout src.
func (b *guestBuilder) buildBenchGuest(ctx context.Context, name, src string) ([]byte, error) {
	l, ok := languages[name]
	if !ok || l.benchGuest == "" {
		return nil, fmt.Errorf("no benchmark guest in language %q (known: %s)", name, strings.Join(benchLanguages(), ", "))
	}
	return l.build(b, ctx, filepath.Join(src, filepath.FromSlash(l.benchGuest)))
}

// benchLanguages returns the languages that have a benchmark guest.
func benchLanguages() []string {
	var names []string
	for _, n := range languageNames() {
		if languages[n].benchGuest != "" {
			names = append(names, n)
		}
	}
	return names
}
