//go:build wasip1

package durable

import (
	"unsafe"

	"github.com/durohost/durohost/abi"
)

// The durohost_v1 imports (ABI.md, "Host functions"). Pointers are passed as unsafe.Pointer so
// that the slices they point into stay alive for the duration of the call.

//go:wasmimport durohost_v1 start_info
func hostStartInfo(buf unsafe.Pointer, capacity int32) int32

//go:wasmimport durohost_v1 schedule
func hostSchedule(cmd unsafe.Pointer, n int32) int32

//go:wasmimport durohost_v1 await
func hostAwait(handles unsafe.Pointer, count int32) int32

//go:wasmimport durohost_v1 result
func hostResult(handle uint32, buf unsafe.Pointer, capacity int32) int32

//go:wasmimport durohost_v1 cancel
func hostCancel(handle uint32) int32

//go:wasmimport durohost_v1 set_status
func hostSetStatus(buf unsafe.Pointer, n int32) int32

//go:wasmimport durohost_v1 complete
func hostComplete(buf unsafe.Pointer, n int32) int32

//go:wasmimport durohost_v1 log
func hostLog(level int32, buf unsafe.Pointer, n int32)

//go:wasmimport durohost_v1 is_replaying
func hostIsReplaying() int32

// ptr returns the address of b's first element, or nil for an empty slice.
func ptr[T any](b []T) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.SliceData(b))
}

// wasmHost implements host with the real imports.
type wasmHost struct{}

func (wasmHost) startInfo(buf []byte) int32 { return hostStartInfo(ptr(buf), int32(len(buf))) }
func (wasmHost) schedule(cmd []byte) int32  { return hostSchedule(ptr(cmd), int32(len(cmd))) }
func (wasmHost) await(handles []uint32) int32 {
	// Wasm memory is little-endian, so a []uint32 is already the u32 array the ABI expects.
	return hostAwait(ptr(handles), int32(len(handles)))
}
func (wasmHost) result(handle uint32, buf []byte) int32 {
	return hostResult(handle, ptr(buf), int32(len(buf)))
}
func (wasmHost) cancel(handle uint32) int32 { return hostCancel(handle) }
func (wasmHost) setStatus(status []byte, clear bool) int32 {
	if clear {
		return hostSetStatus(nil, -1)
	}
	return hostSetStatus(ptr(status), int32(len(status)))
}
func (wasmHost) complete(outcome []byte) int32 {
	return hostComplete(ptr(outcome), int32(len(outcome)))
}
func (wasmHost) log(level int32, msg []byte) { hostLog(level, ptr(msg), int32(len(msg))) }
func (wasmHost) isReplaying() int32          { return hostIsReplaying() }

// durohostRun is the durohost_run export: it runs the orchestration the host's StartInfo names
// (or answers a describe request) and returns after calling complete.
//
//go:wasmexport durohost_run
func durohostRun() { run(wasmHost{}, registrations) }

// durohostABIVersion is the durohost_abi_version export.
//
//go:wasmexport durohost_abi_version
func durohostABIVersion() int32 { return abi.Version }
