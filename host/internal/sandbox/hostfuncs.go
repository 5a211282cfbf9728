package sandbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/durohost/durohost/abi"
	"github.com/durohost/durohost/host/internal/replay"
)

// installABI registers the host functions of abi.ImportModule (abi/ABI.md, "Host functions").
// Each is a stack-based Go function: parameters are read from stack, results written back.
// A misuse a correct guest cannot make stops the guest and fails the instance (stop).
func installABI(ctx context.Context, r wazero.Runtime) error {
	b := r.NewHostModuleBuilder(abi.ImportModule)
	funcs := map[string]func(i *Instance, m api.Module, stack []uint64){
		abi.FuncStartInfo:   hostStartInfo,
		abi.FuncSchedule:    hostSchedule,
		abi.FuncAwait:       hostAwait,
		abi.FuncResult:      hostResult,
		abi.FuncCancel:      hostCancel,
		abi.FuncSetStatus:   hostSetStatus,
		abi.FuncComplete:    hostComplete,
		abi.FuncLog:         hostLog,
		abi.FuncIsReplaying: hostIsReplaying,
	}
	for _, s := range abi.HostFunctions {
		fn := funcs[s.Name]
		if fn == nil {
			return fmt.Errorf("no implementation of %s", s.Name)
		}
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
				i, ok := ctx.Value(instanceKey{}).(*Instance)
				if !ok {
					panic(errors.New("durohost host function called outside an instance"))
				}
				if i.dog.stopped.Load() {
					// Stopped by the watchdog (a budget, the host's memory): nothing more
					// is recorded, whatever the guest makes of what it saw.
					panic(errKilled)
				}
				fn(i, m, stack)
				if i.replaying {
					i.checkLive()
				}
			}), valueTypes(s.Params), valueTypes(s.Results)).
			WithName(s.Name).
			Export(s.Name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

func valueTypes(ts []abi.ValueType) []api.ValueType {
	out := make([]api.ValueType, len(ts))
	for k, t := range ts {
		out[k] = api.ValueType(t)
	}
	return out
}

// stop records why the guest must stop and unwinds it.
func (i *Instance) stop(err error) {
	if i.fatal == nil {
		i.fatal = err
	}
	panic(err)
}

func (i *Instance) stopf(code, format string, args ...any) {
	i.stop(&abi.Failure{Kind: abi.FailureInfrastructure, Code: code, Message: fmt.Sprintf(format, args...)})
}

// read copies a guest buffer, checking bounds and the payload limit.
func (i *Instance) read(m api.Module, fn string, ptr, n uint32) []byte {
	limit := uint32(i.rt.cfg.MaxPayload) + 64<<10 // payload plus message framing
	if n > limit {
		i.stopf(abi.CodePayloadTooLarge, "%s: message of %d bytes is more than the limit of %d", fn, n, limit)
	}
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		i.stopf(abi.CodeBadPointer, "%s: buffer (ptr=%d, len=%d) lies outside guest memory of %d bytes", fn, ptr, n, m.Memory().Size())
	}
	return append([]byte(nil), b...)
}

// write implements size-then-read: it writes data when it fits in cap, and returns its length.
func (i *Instance) write(m api.Module, fn string, ptr, capacity uint32, data []byte) (uint32, bool) {
	if uint32(len(data)) > capacity {
		return uint32(len(data)), false
	}
	if !m.Memory().Write(ptr, data) {
		i.stopf(abi.CodeBadPointer, "%s: buffer (ptr=%d, cap=%d) lies outside guest memory of %d bytes", fn, ptr, capacity, m.Memory().Size())
	}
	return uint32(len(data)), true
}

func (i *Instance) engine(fn string) *replay.Engine {
	if i.eng == nil {
		i.stopf(abi.CodeBadArgument, "%s is not allowed while the host asks for a description", fn)
	}
	return i.eng
}

func (i *Instance) check(err error) {
	if err != nil {
		i.stop(err)
	}
}

// The operations below are the host functions' behaviour, shared by the imported form
// (the functions of abi.ImportModule, which read and write guest memory) and the stream form
// (stream.go, which reads and writes CBOR frames).

// startInfoMessage returns the encoded StartInfo message.
func (i *Instance) startInfoMessage() []byte {
	if i.startInfo == nil {
		info := abi.StartInfo{Mode: abi.ModeDescribe}
		if !i.describe {
			info = i.engine(abi.FuncStartInfo).StartInfo()
		}
		b, err := abi.Marshal(info)
		i.check(err)
		i.startInfo = b
	}
	return i.startInfo
}

// scheduleCommand decodes and records a Command and returns its handle.
func (i *Instance) scheduleCommand(data []byte) uint32 {
	eng := i.engine(abi.FuncSchedule)
	var cmd abi.Command
	if err := abi.Unmarshal(data, &cmd); err != nil {
		i.stopf(abi.CodeBadMessage, "schedule: command is not valid CBOR: %v", err)
	}
	h, err := eng.Schedule(cmd)
	i.check(err)
	if h > 1<<31-1 {
		i.stopf(abi.CodeHistoryTooLong, "schedule: handle %d does not fit in an i32", h)
	}
	return uint32(h)
}

// awaitHandles blocks (parks the guest across turns) until one of the futures is complete
// and returns its index.
func (i *Instance) awaitHandles(handles []int64) int {
	eng := i.engine(abi.FuncAwait)
	if len(handles) == 0 || len(handles) > abi.MaxAwaitHandles {
		i.stopf(abi.CodeBadArgument, "await: %d handles (must be 1 to %d)", len(handles), abi.MaxAwaitHandles)
	}
	for {
		idx, err := eng.Await(handles)
		switch {
		case err == nil:
			return idx
		case errors.Is(err, replay.ErrSuspended):
			i.park(Suspended)
		case errors.Is(err, replay.ErrEnded):
			i.park(Ended)
		default:
			i.stop(err)
		}
	}
}

// completion returns the encoded Completion of a complete future (ok false: not ready).
func (i *Instance) completion(h int64) ([]byte, bool) {
	c, ok, err := i.engine(abi.FuncResult).Result(h)
	i.check(err)
	if !ok {
		return nil, false
	}
	b, err := abi.Marshal(c)
	i.check(err)
	return b, true
}

// completeWith decodes the Outcome and ends the execution (or, when the host asked for a
// description, takes the registrations).
func (i *Instance) completeWith(data []byte) {
	var o abi.Outcome
	if err := abi.Unmarshal(data, &o); err != nil {
		i.stopf(abi.CodeBadMessage, "complete: outcome is not valid CBOR: %v", err)
	}
	if i.describe {
		if o.Kind == abi.OutcomeFailed && o.Failure != nil {
			i.stopf(abi.CodeBadMessage, "complete: the host asked for a description, the module failed: %s", truncate(o.Failure.Message, 4096))
		}
		if o.Kind != abi.OutcomeDescribe {
			i.stopf(abi.CodeBadMessage, "complete: the host asked for a description, the module answered %s", o.Kind)
		}
		i.registrations = append([]abi.Registration{}, o.Orchestrations...)
		return
	}
	i.check(i.engine(abi.FuncComplete).Complete(o))
}

// logLine logs a guest's line at level (out-of-range levels are info).
func (i *Instance) logLine(level int32, msg []byte) {
	if len(msg) > maxLogLine {
		msg = msg[:maxLogLine]
	}
	if level < abi.LogDebug || level > abi.LogError {
		level = abi.LogInfo
	}
	i.log(level, string(msg))
}

func (i *Instance) isReplaying() bool { return i.eng != nil && i.eng.IsReplaying() }

// start_info(buf, cap) -> len
func hostStartInfo(i *Instance, m api.Module, stack []uint64) {
	n, _ := i.write(m, abi.FuncStartInfo, api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), i.startInfoMessage())
	stack[0] = uint64(n)
}

// schedule(cmd, len) -> handle
func hostSchedule(i *Instance, m api.Module, stack []uint64) {
	i.engine(abi.FuncSchedule)
	data := i.read(m, abi.FuncSchedule, api.DecodeU32(stack[0]), api.DecodeU32(stack[1]))
	stack[0] = uint64(i.scheduleCommand(data))
}

// await(handles, count) -> index
func hostAwait(i *Instance, m api.Module, stack []uint64) {
	i.engine(abi.FuncAwait)
	ptr, count := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	if count == 0 || count > abi.MaxAwaitHandles {
		i.stopf(abi.CodeBadArgument, "await: %d handles (must be 1 to %d)", count, abi.MaxAwaitHandles)
	}
	raw := i.read(m, abi.FuncAwait, ptr, count*4)
	handles := make([]int64, count)
	for k := range handles {
		handles[k] = int64(binary.LittleEndian.Uint32(raw[k*4:]))
	}
	stack[0] = uint64(uint32(i.awaitHandles(handles)))
}

// result(handle, buf, cap) -> len | not_ready
func hostResult(i *Instance, m api.Module, stack []uint64) {
	h := int64(api.DecodeU32(stack[0]))
	b, ok := i.completion(h)
	if !ok {
		stack[0] = api.EncodeI32(abi.StatusNotReady)
		return
	}
	n, written := i.write(m, abi.FuncResult, api.DecodeU32(stack[1]), api.DecodeU32(stack[2]), b)
	if written {
		i.eng.Release(h)
	}
	stack[0] = uint64(n)
}

// cancel(handle) -> status
func hostCancel(i *Instance, _ api.Module, stack []uint64) {
	i.check(i.engine(abi.FuncCancel).Cancel(int64(api.DecodeU32(stack[0]))))
	stack[0] = uint64(uint32(abi.StatusOK))
}

// set_status(buf, len) -> status; len = -1 clears.
func hostSetStatus(i *Instance, m api.Module, stack []uint64) {
	eng := i.engine(abi.FuncSetStatus)
	ptr, n := api.DecodeU32(stack[0]), api.DecodeI32(stack[1])
	switch {
	case n == -1:
		i.check(eng.SetStatus(nil, true))
	case n < -1:
		i.stopf(abi.CodeBadArgument, "set_status: length %d (use -1 to clear)", n)
	default:
		i.check(eng.SetStatus(i.read(m, abi.FuncSetStatus, ptr, uint32(n)), false))
	}
	stack[0] = uint64(uint32(abi.StatusOK))
}

// complete(buf, len) -> status
func hostComplete(i *Instance, m api.Module, stack []uint64) {
	i.completeWith(i.read(m, abi.FuncComplete, api.DecodeU32(stack[0]), api.DecodeU32(stack[1])))
	stack[0] = uint64(uint32(abi.StatusOK))
}

// log(level, buf, len)
func hostLog(i *Instance, m api.Module, stack []uint64) {
	level := api.DecodeI32(stack[0])
	ptr, n := api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	if n > maxLogLine {
		n = maxLogLine
	}
	i.logLine(level, i.read(m, abi.FuncLog, ptr, n))
}

// is_replaying() -> 0 | 1
func hostIsReplaying(i *Instance, _ api.Module, stack []uint64) {
	if i.isReplaying() {
		stack[0] = 1
		return
	}
	stack[0] = 0
}
