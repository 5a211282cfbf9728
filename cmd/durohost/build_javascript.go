package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/durohost/durohost/guest-sdk/javascript"
)

// JavaScript projects: a directory with a main.js that registers orchestrations with
// durohost.register (guest-sdk/javascript). Building one bundles main.js with the JavaScript
// runtime the binary embeds: no toolchain is needed.
func init() {
	registerLanguage(&sourceLanguage{
		name:       "javascript",
		marker:     "a main.js",
		detect:     hasMainJS,
		build:      buildJavaScript,
		benchGuest: "wasm-examples/javascript/bench",
	})
}

func hasMainJS(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, javascript.MainFile))
	return err == nil && st.Mode().IsRegular()
}

// buildJavaScript bundles the project's main.js into a module.
func buildJavaScript(_ *guestBuilder, _ context.Context, dir string) ([]byte, error) {
	path := filepath.Join(dir, javascript.MainFile)
	script, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the JavaScript project: %v", err)
	}
	mod, err := javascript.Bundle(script)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return mod, nil
}
