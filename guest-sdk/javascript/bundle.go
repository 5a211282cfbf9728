// Package javascript bundles JavaScript orchestrations into durohost modules: the JavaScript
// runtime (QuickJS built for wasm32-wasi, runtime/quickjs.wasm) with the SDK (durohost.js)
// and the user's script as read-only files of the stream form of the ABI (abi/ABI.md,
// "Bundled files"). Bundling needs no toolchain: it appends one custom section to the
// runtime's bytes.
package javascript

import (
	_ "embed"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/durohost/durohost/abi"
)

// Runtime is the JavaScript runtime module (runtime/build.sh builds it).
//
//go:embed runtime/quickjs.wasm
var Runtime []byte

// SDK is the source of the SDK, evaluated before the user's script.
//
//go:embed durohost.js
var SDK []byte

// FilesSection names the custom section that carries the bundled files.
const FilesSection = abi.StreamFilesSection

// MainFile and SDKFile are the names under which the runtime finds the user's script and the
// SDK.
const (
	MainFile = "main.js"
	SDKFile  = "durohost.js"
)

// ErrBadScript is returned for a script that cannot be bundled.
var ErrBadScript = errors.New("javascript: bad script")

// Bundle returns a module that runs script (the orchestrations, registered with
// durohost.register) on the JavaScript runtime. The same script gives the same bytes.
func Bundle(script []byte) ([]byte, error) {
	if !utf8.Valid(script) {
		return nil, fmt.Errorf("%w: the script is not UTF-8", ErrBadScript)
	}
	return BundleFiles(Runtime, map[string][]byte{SDKFile: SDK, MainFile: script})
}

// BundleFiles returns module with files appended as its StreamFilesSection (the stream form's
// bundled files, read as /durohost/files/<name>). Files are encoded in CBOR's core
// deterministic form, so the result depends on the files only.
func BundleFiles(module []byte, files map[string][]byte) ([]byte, error) {
	out, err := abi.AppendStreamFiles(module, files)
	if err != nil {
		return nil, fmt.Errorf("javascript: %w", err)
	}
	return out, nil
}
