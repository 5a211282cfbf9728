package durable

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/durohost/durohost/abi"
)

// benchHost is the cheapest host that answers a sequence of activities: every future is
// complete at once with the same result. It measures the SDK's own cost per operation.
type benchHost struct {
	info    []byte
	comp    []byte
	next    int32
	outcome []byte
}

func (h *benchHost) startInfo(buf []byte) int32 {
	if len(h.info) <= len(buf) {
		copy(buf, h.info)
	}
	return int32(len(h.info))
}
func (h *benchHost) schedule([]byte) int32 { h.next++; return h.next }
func (h *benchHost) await([]uint32) int32  { return 0 }
func (h *benchHost) result(_ uint32, buf []byte) int32 {
	if len(h.comp) <= len(buf) {
		copy(buf, h.comp)
	}
	return int32(len(h.comp))
}
func (h *benchHost) cancel(uint32) int32           { return abi.StatusOK }
func (h *benchHost) setStatus([]byte, bool) int32  { return abi.StatusOK }
func (h *benchHost) complete(outcome []byte) int32 { h.outcome = outcome; return abi.StatusOK }
func (h *benchHost) log(int32, []byte)             {}
func (h *benchHost) isReplaying() int32            { return 1 }

// BenchmarkSequenceStep measures one step of a sequence of activities through the typed
// helpers (schedule, await, result, JSON both ways), as a replay makes it. An op is an
// orchestration of 1000 steps; ns/step and allocs/step are per step.
func BenchmarkSequenceStep(b *testing.B) {
	const steps = 1000
	reg := newRegistry()
	reg.add("sequence", typedOrchestration("sequence", func(ctx *Context, n int) (int, error) {
		for i := range n {
			if _, err := CallActivity[any](ctx, "step", i).Get(); err != nil {
				return 0, err
			}
		}
		return n, nil
	}), nil)
	info := abi.AppendStartInfo(nil, &abi.StartInfo{Name: "sequence", InstanceID: "i", ExecutionID: 1, Input: []byte("1000")})
	result := abi.AppendCompletion(nil, &abi.Completion{Result: []byte(`"x"`)})
	want := abi.AppendOutcome(nil, &abi.Outcome{Kind: abi.OutcomeCompleted, Output: []byte("1000")})
	h := &benchHost{}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		*h = benchHost{info: info, comp: result}
		run(h, reg)
		if !bytes.Equal(h.outcome, want) {
			b.Fatalf("outcome %x", h.outcome)
		}
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/steps, "ns/step")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N)/steps, "allocs/step")
}
