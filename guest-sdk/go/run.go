package durable

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/durohost/durohost/abi"
)

// run is durohost_run: read StartInfo, run the orchestration it names (or describe the
// module), and complete. It never returns without calling complete, unless the host abandons
// the instance inside a host call (cold suspension), in which case it never returns at all.
func run(h host, reg *registry) {
	info, err := readStartInfo(h)
	if err != nil {
		finish(h, failed(abi.FailureInfrastructure, abi.CodeBadMessage, "read start info: "+err.Error()))
		return
	}
	switch info.Mode {
	case abi.ModeRun:
	case abi.ModeDescribe:
		finish(h, abi.Outcome{Kind: abi.OutcomeDescribe, Orchestrations: reg.list()})
		return
	default:
		finish(h, failed(abi.FailureInfrastructure, abi.CodeBadArgument, fmt.Sprintf("unknown start mode %d", info.Mode)))
		return
	}
	r, ok := reg.lookup(info.Name, info.Version)
	if !ok {
		finish(h, failed(abi.FailureInfrastructure, abi.CodeUnknownOrchestration, unknownMessage(info, reg)))
		return
	}
	ctx := newContext(h, info, r.version)
	out := execute(ctx, r.fn, info.Input)
	ctx.done = true
	finish(h, out)
}

// readStartInfo reads the StartInfo, in one start_info call when it fits in a first buffer.
func readStartInfo(h host) (abi.StartInfo, error) {
	var info abi.StartInfo
	buf := make([]byte, resultBufSize)
	n := h.startInfo(buf)
	switch {
	case n < 0:
		return info, fmt.Errorf("start_info returned %d", n)
	case int(n) > len(buf):
		buf = make([]byte, n)
		if m := h.startInfo(buf); m != n {
			return info, fmt.Errorf("start_info size %d, then %d", n, m)
		}
	}
	if err := abi.DecodeStartInfo(buf[:n], &info); err != nil {
		return info, err
	}
	return info, nil
}

// execute runs fn and turns what it returns, or its panic, into an outcome.
func execute(ctx *Context, fn Orchestration, input []byte) (out abi.Outcome) {
	defer func() {
		if r := recover(); r != nil {
			stack, _ := json.Marshal(string(debug.Stack()))
			out = abi.Outcome{Kind: abi.OutcomeFailed, Failure: &abi.Failure{
				Kind: abi.FailureApplication, Code: CodePanic,
				Message: fmt.Sprintf("orchestration %s panicked: %v", describe(ctx.Name(), ctx.Version()), r),
				Details: stack,
			}}
		}
	}()
	output, err := fn(ctx, input)
	return outcomeOf(output, err)
}

func outcomeOf(output []byte, err error) abi.Outcome {
	if err == nil {
		return abi.Outcome{Kind: abi.OutcomeCompleted, Output: output}
	}
	if can, ok := errors.AsType[*continueAsNew](err); ok {
		return abi.Outcome{Kind: abi.OutcomeContinuedAsNew, Input: can.input, Version: can.version}
	}
	if e, ok := errors.AsType[*Error](err); ok {
		f := e.failure()
		if err != error(e) {
			f.Message = err.Error() // keep the context the orchestration wrapped it in
		}
		return abi.Outcome{Kind: abi.OutcomeFailed, Failure: f}
	}
	return failed(abi.FailureApplication, "", err.Error())
}

func failed(kind abi.FailureKind, code, message string) abi.Outcome {
	return abi.Outcome{Kind: abi.OutcomeFailed, Failure: &abi.Failure{Kind: kind, Code: code, Message: message}}
}

func unknownMessage(info abi.StartInfo, reg *registry) string {
	var names []string
	for _, r := range reg.list() {
		names = append(names, describe(r.Name, r.Version))
	}
	registered := "none"
	if len(names) > 0 {
		registered = strings.Join(names, ", ")
	}
	return fmt.Sprintf("the module does not register orchestration %s; it registers: %s",
		describe(info.Name, info.Version), registered)
}

// finish encodes and sends the outcome.
func finish(h host, out abi.Outcome) {
	h.complete(abi.AppendOutcome(nil, &out))
}
