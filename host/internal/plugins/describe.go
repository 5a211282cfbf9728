package plugins

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/durohost/durohost/host/internal/wasmopt"
)

// Import modules a plugin may import from.
const (
	// KernelModule is Extism's kernel and host functions.
	KernelModule = "extism:host/env"
	// WASIModule is WASI preview 1, provided only to plugins whose Settings.WASI is set.
	WASIModule = "wasi_snapshot_preview1"
)

// kernelFuncs are the functions of KernelModule an Extism host provides (go-sdk v1.7).
var kernelFuncs = []string{
	"alloc", "free", "length", "length_unsafe", "load_u8", "load_u64", "store_u8", "store_u64",
	"input_length", "input_offset", "input_load_u8", "input_load_u64", "input_set",
	"output_set", "output_length", "output_offset", "reset", "error_set", "error_get",
	"memory_bytes", "config_get", "var_get", "var_set", "http_request", "http_status_code",
	"http_headers", "get_log_level", "log_trace", "log_debug", "log_info", "log_warn", "log_error",
}

// Info describes a plugin's bytes.
type Info struct {
	// Hash is the hex sha256 of the bytes.
	Hash string
	Size int
	// Functions are the functions an activity may call, sorted: the exported functions that
	// take nothing and return an i32 (the Extism convention: 0 for success) or nothing.
	Functions []string
	// Imports lists the functions the plugin imports, as "module.name".
	Imports []string
}

// Describe checks that wasm is a plugin the host can run with settings s (its imports are
// all provided, its memory starts within s.MemoryPages, it exports at least one callable
// function) and describes it. Errors wrap ErrInvalid and name every problem.
func Describe(wasm []byte, s Settings) (*Info, error) {
	sum := sha256.Sum256(wasm)
	info := &Info{Hash: hex.EncodeToString(sum[:]), Size: len(wasm)}
	m, err := wasmopt.ParseChecked(wasm, wasmopt.Limits{MaxMemoryPages: s.MemoryPages})
	if err != nil {
		if errors.Is(err, wasmopt.ErrLimit) && strings.Contains(err.Error(), "memory") {
			return nil, fmt.Errorf("%w: %v (the plugin's memory limit is %d pages)", ErrInvalid, err, s.MemoryPages)
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var problems []string
	for _, im := range m.Imports {
		name := im.Module + "." + im.Name
		if im.Kind != wasmopt.KindFunc {
			problems = append(problems, fmt.Sprintf("imports the %s %s (a plugin imports functions only)", im.Kind, name))
			continue
		}
		info.Imports = append(info.Imports, name)
		switch {
		case im.Module == KernelModule && slices.Contains(kernelFuncs, im.Name):
		case im.Module == KernelModule:
			problems = append(problems, fmt.Sprintf("imports %s, which is not a function of Extism's kernel", name))
		case im.Module == WASIModule && !s.WASI:
			problems = append(problems, fmt.Sprintf("imports %s but WASI is not enabled for it", name))
		case im.Module == WASIModule:
		default:
			problems = append(problems, fmt.Sprintf("imports %s, which durohost does not provide (only %s, and %s with WASI enabled)", name, KernelModule, WASIModule))
		}
	}
	for _, e := range m.ExportedFuncs() {
		if callable(e) {
			info.Functions = append(info.Functions, e.Name)
		}
	}
	slices.Sort(info.Functions)
	if len(info.Functions) == 0 {
		problems = append(problems, "exports no function that an activity can call (a function that takes nothing and returns an i32 or nothing)")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	return info, nil
}

// callable reports whether an export is a plugin function: () -> i32 or () -> (), and not a
// runtime's initialiser.
func callable(e wasmopt.FuncExport) bool {
	switch e.Name {
	case "_start", "_initialize", "hs_init", "hs_exit", "__wasm_call_ctors":
		return false
	}
	if len(e.Type.Params) != 0 || len(e.Type.Results) > 1 {
		return false
	}
	return len(e.Type.Results) == 0 || e.Type.Results[0] == wasmopt.ValueI32
}
