package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/durohost/durohost/guest-sdk/python"
)

// Python projects: a directory with a main.py that registers orchestrations with the durohost
// module (guest-sdk/python). Building one bundles main.py with the Python runtime the binary
// embeds: no toolchain is needed.
func init() {
	registerLanguage(&sourceLanguage{
		name:       "python",
		marker:     "a main.py",
		detect:     hasMainPy,
		build:      buildPython,
		benchGuest: "wasm-examples/python/bench",
	})
}

func hasMainPy(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, python.MainFile))
	return err == nil && st.Mode().IsRegular()
}

// buildPython bundles the project's main.py into a module.
func buildPython(_ *guestBuilder, _ context.Context, dir string) ([]byte, error) {
	path := filepath.Join(dir, python.MainFile)
	script, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the Python project: %v", err)
	}
	mod, err := python.Bundle(script)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return mod, nil
}
