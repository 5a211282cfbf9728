package bench

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/durohost/durohost/host"
)

// benchPlugin is the Extism plugin of W1P: wasm-examples/plugins/wat/kernel.wat, whose
// function noop does nothing (.ci/fixtures.d/plugins.sh rebuilds this copy).
//
//go:embed testdata/kernel.wasm
var benchPlugin []byte

// W1P is W1 with its activity an Extism plugin (see RATIONALE.md, "Why are plugin activities
// Extism plugins?"): the guest calls "noop" as in W1, and every host runs it as the function
// noop of the plugin "bench" (RegisterPluginActivity): the input goes into the plugin's
// kernel, the function returns at once, its empty output comes back.
func init() {
	workloads = append(workloads, workload{name: "W1P", title: "W1 with the activity an Extism plugin", run: runPluginSequences})
}

// runPluginSequences makes "noop" the plugin's noop on every host, warms the plugin up
// (one instance of bench_one per host) and runs W1. of_W1 is W1's time per step over this
// one's (1: as fast as W1's native activity), when W1 ran before it.
func runPluginSequences(ctx context.Context, e *env) ([]metric, error) {
	for _, h := range e.hosts {
		if _, err := h.RegisterPlugin(ctx, benchPlugin, host.PluginSpec{Name: "bench"}); err != nil {
			return nil, fmt.Errorf("register the plugin: %w", err)
		}
		if err := h.RegisterPluginActivity("noop", "bench", "noop"); err != nil {
			return nil, err
		}
	}
	if err := e.startAll(ctx, "bench_one", "warmup-plugin", len(e.hosts), nil); err != nil {
		return nil, fmt.Errorf("warm-up with the plugin: %w", err)
	}
	if err := e.tr.wait(ctx, len(e.hosts)); err != nil {
		return nil, fmt.Errorf("warm-up with the plugin: %w", err)
	}
	e.tr.reset()
	e.cpu0, e.srv0 = cpuTime(), e.be.serverCPU(ctx)
	ms, err := runSequences(ctx, e)
	if err != nil {
		return nil, err
	}
	if step := valueOf(ms, "step_ms"); e.seqStep > 0 && step > 0 {
		ms = append(ms, metric{"of_W1", e.seqStep / step, 2})
	}
	return ms, nil
}
