package host_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store/sqlite"
)

// ExampleHost_EnableMetrics counts the executions of "wat_hello" (which calls the activity
// "greet") in a Prometheus registry; serve the registry with promhttp, or with
// server.WithMetrics.
func ExampleHost_EnableMetrics() {
	dir, _ := os.MkdirTemp("", "durohost-example-")
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(filepath.Join(dir, "example.db"))
	if err != nil {
		panic(err)
	}
	defer st.Close()
	h, err := host.New(st)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	defer h.Stop(ctx)
	reg := prometheus.NewRegistry()
	if err := h.EnableMetrics(reg); err != nil {
		panic(err)
	}

	host.RegisterActivityFunc(h, "greet", func(ctx context.Context, name string) (string, error) {
		return "Hello, " + name + "!", nil
	})
	if _, err := h.LoadModuleFile(ctx, filepath.Join("..", "conformance", "testdata", "wat", "hello.wasm")); err != nil {
		panic(err)
	}
	if err := h.Start(); err != nil {
		panic(err)
	}
	id, err := h.Client().Start(ctx, "wat_hello", nil)
	if err != nil {
		panic(err)
	}
	if _, err := h.Client().Wait(ctx, id); err != nil {
		panic(err)
	}
	h.Stop(ctx) // a turn's metrics are recorded as it ends: stopping waits for every turn

	mfs, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if name := mf.GetName(); name == "durohost_orchestrations_completed_total" || name == "durohost_activity_executions_total" {
			for _, m := range mf.GetMetric() {
				var labels []string
				for _, l := range m.GetLabel() {
					labels = append(labels, l.GetName()+"="+l.GetValue())
				}
				fmt.Println(name, strings.Join(labels, " "), m.GetCounter().GetValue())
			}
		}
	}
	// Output:
	// durohost_activity_executions_total activity=greet namespace= outcome=completed 1
	// durohost_orchestrations_completed_total namespace= orchestration=wat_hello status=completed 1
}
