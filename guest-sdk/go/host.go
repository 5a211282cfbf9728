package durable

// host is the durohost_v1 import module seen from Go: one method per host function of
// ABI.md, "Host functions", with (pointer, length) pairs as slices. The wasip1 build binds it
// to the real imports (host_wasip1.go); the tests bind it to a fake. Keeping the SDK behind this
// interface is what lets futures, select, retries and the run loop be tested natively.
type host interface {
	// startInfo is start_info(buf, cap): size-then-read of the CBOR StartInfo.
	startInfo(buf []byte) int32
	// schedule is schedule(cmd, len): records a CBOR Command, returns its handle (> 0).
	schedule(cmd []byte) int32
	// await is await(handles, count): the index of the first complete future.
	await(handles []uint32) int32
	// result is result(handle, buf, cap): size-then-read of a CBOR Completion; writing it
	// releases the handle. Returns abi.StatusNotReady for a future that is not complete.
	result(handle uint32, buf []byte) int32
	// cancel is cancel(handle).
	cancel(handle uint32) int32
	// setStatus is set_status(buf, len); clear passes len = -1.
	setStatus(status []byte, clear bool) int32
	// complete is complete(buf, len) with a CBOR Outcome.
	complete(outcome []byte) int32
	// log is log(level, buf, len).
	log(level int32, msg []byte)
	// isReplaying is is_replaying().
	isReplaying() int32
}
