// Package python bundles Python orchestrations into durohost modules: the Python runtime
// (CPython 3.11 for wasm32-wasi embedded in a WASI reactor, runtime/python.wasm) with its
// standard library (runtime/stdlib.zip), the SDK (durohost.py) and the user's script as
// read-only files of the stream form of the ABI (abi/ABI.md, "Bundled files"). Bundling needs
// no toolchain: it appends one custom section to the runtime's bytes.
package python

import (
	"archive/zip"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"sync"
	"unicode/utf8"

	"github.com/durohost/durohost/abi"
)

// Runtime is the Python runtime module (runtime/build.sh builds it).
//
//go:embed runtime/python.wasm
var Runtime []byte

// stdlibZip is the standard library the runtime imports from (runtime/build.sh).
//
//go:embed runtime/stdlib.zip
var stdlibZip []byte

// SDK is the source of the SDK module, durohost.py.
//
//go:embed durohost.py
var SDK []byte

// FilesSection names the custom section that carries the bundled files.
const FilesSection = abi.StreamFilesSection

// MainFile is the name under which the runtime finds the user's script; the standard library
// and the SDK are bundled under LibDir.
const (
	MainFile = "main.py"
	LibDir   = "lib"
)

// ErrBadScript is returned for a script that cannot be bundled.
var ErrBadScript = errors.New("python: bad script")

var (
	stdlibOnce  sync.Once
	stdlibFiles map[string][]byte
	stdlibErr   error
)

// stdlib returns the files of the standard library, by path under LibDir.
func stdlib() (map[string][]byte, error) {
	stdlibOnce.Do(func() {
		z, err := zip.NewReader(bytes.NewReader(stdlibZip), int64(len(stdlibZip)))
		if err != nil {
			stdlibErr = fmt.Errorf("python: the embedded standard library: %w", err)
			return
		}
		stdlibFiles = make(map[string][]byte, len(z.File))
		for _, f := range z.File {
			r, err := f.Open()
			if err != nil {
				stdlibErr = fmt.Errorf("python: the embedded standard library: %w", err)
				return
			}
			b, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				stdlibErr = fmt.Errorf("python: the embedded standard library: %s: %w", f.Name, err)
				return
			}
			stdlibFiles[LibDir+"/"+f.Name] = b
		}
	})
	return stdlibFiles, stdlibErr
}

// Bundle returns a module that runs script (orchestrations registered with
// durohost.register or @durohost.orchestration) on the Python runtime. The same script gives
// the same bytes.
func Bundle(script []byte) ([]byte, error) {
	if !utf8.Valid(script) {
		return nil, fmt.Errorf("%w: the script is not UTF-8", ErrBadScript)
	}
	lib, err := stdlib()
	if err != nil {
		return nil, err
	}
	files := make(map[string][]byte, len(lib)+2)
	for k, v := range lib {
		files[k] = v
	}
	files[LibDir+"/durohost.py"] = SDK
	files[MainFile] = script
	return bundleFiles(Runtime, files)
}

// bundleFiles returns module with files appended as its durohost.files section, encoded in
// CBOR's core deterministic form (the result depends on the files only).
func bundleFiles(module []byte, files map[string][]byte) ([]byte, error) {
	out, err := abi.AppendStreamFiles(module, files)
	if err != nil {
		return nil, fmt.Errorf("python: %w", err)
	}
	return out, nil
}
