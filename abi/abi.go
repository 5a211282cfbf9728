// Package abi holds the constants and message types of the durohost host ABI, version 1.
//
// The normative specification is ABI.md in this directory; a test keeps the two in sync.
// This package is a leaf: it imports only the standard library and fxamacker/cbor, so that
// guest SDKs (compiled to WebAssembly) and the host share one definition of the wire format.
package abi

// Version is the ABI version this package describes. A module reports the version it was
// built against from its ExportABIVersion export; the host refuses any other value.
const Version = 1

// ImportModule is the name of the WebAssembly import module holding the host functions.
// The version is part of the name so that a future, incompatible ABI can be offered by the
// same host side by side.
const ImportModule = "durohost_v1"

// WASIModule is the only other import module a guest may use (WASI preview 1), which the
// host implements deterministically.
const WASIModule = "wasi_snapshot_preview1"

// Names of the host functions in ImportModule. See ABI.md, "Host functions".
const (
	FuncStartInfo   = "start_info"
	FuncSchedule    = "schedule"
	FuncAwait       = "await"
	FuncResult      = "result"
	FuncCancel      = "cancel"
	FuncSetStatus   = "set_status"
	FuncComplete    = "complete"
	FuncLog         = "log"
	FuncIsReplaying = "is_replaying"
)

// Names of the exports a module must (or may) provide. See ABI.md, "Exports".
const (
	ExportMemory     = "memory"
	ExportRun        = "durohost_run"
	ExportABIVersion = "durohost_abi_version"
	// ExportInitialize is optional: the reactor initialiser (WASI reactor convention),
	// called once after instantiation, before anything else.
	ExportInitialize = "_initialize"
)

// ValueType is a WebAssembly value type as used in host function signatures.
type ValueType byte

// WebAssembly value types used by the ABI.
const (
	I32 ValueType = 0x7f
	I64 ValueType = 0x7e
)

// String returns the WebAssembly text name of the type.
func (v ValueType) String() string {
	switch v {
	case I32:
		return "i32"
	case I64:
		return "i64"
	}
	return "unknown"
}

// Signature describes one host function: its parameter and result types.
type Signature struct {
	Name    string
	Params  []ValueType
	Results []ValueType
}

// HostFunctions lists every function of ImportModule with its signature, in the order
// ABI.md documents them. The host exports exactly these; a guest may import any subset.
var HostFunctions = []Signature{
	{FuncStartInfo, []ValueType{I32, I32}, []ValueType{I32}},
	{FuncSchedule, []ValueType{I32, I32}, []ValueType{I32}},
	{FuncAwait, []ValueType{I32, I32}, []ValueType{I32}},
	{FuncResult, []ValueType{I32, I32, I32}, []ValueType{I32}},
	{FuncCancel, []ValueType{I32}, []ValueType{I32}},
	{FuncSetStatus, []ValueType{I32, I32}, []ValueType{I32}},
	{FuncComplete, []ValueType{I32, I32}, []ValueType{I32}},
	{FuncLog, []ValueType{I32, I32, I32}, []ValueType{}},
	{FuncIsReplaying, []ValueType{}, []ValueType{I32}},
}

// Exports lists the functions a module must export with their signatures (memory aside).
var Exports = []Signature{
	{ExportRun, []ValueType{}, []ValueType{}},
	{ExportABIVersion, []ValueType{}, []ValueType{I32}},
}

// Status codes returned by host functions. Non-negative results carry a value (a handle, an
// index, a length); negative results are these codes. Misuse that a correct guest can never
// cause (a pointer outside memory, undecodable CBOR, an unknown handle) is not reported as a
// status: the host stops the guest and fails the instance (see Failure codes in ABI.md).
const (
	// StatusOK is success with no value.
	StatusOK int32 = 0
	// StatusNotReady is returned by result for a handle whose future has not completed.
	StatusNotReady int32 = -1
	// StatusCompleted is reserved: no call succeeds after complete, and a host function
	// called after complete is a fatal misuse (CodeAfterComplete), not a status.
	StatusCompleted int32 = -2
)

// Log levels accepted by the log host function.
const (
	LogDebug int32 = 0
	LogInfo  int32 = 1
	LogWarn  int32 = 2
	LogError int32 = 3
)

// MaxAwaitHandles is the largest number of handles one await call may name.
const MaxAwaitHandles = 4096
