package host_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store/sqlite"
)

// An Extism plugin registered for a namespace: each function it exports is an activity of
// that namespace's orchestrations, "NAME.FUNCTION".
func ExampleHost_RegisterPlugin() {
	st, err := sqlite.Open(sqlite.MemoryPath)
	if err != nil {
		panic(err)
	}
	defer st.Close()
	h, err := host.New(st)
	if err != nil {
		panic(err)
	}
	defer h.Stop(context.Background())
	wasm, err := os.ReadFile("../wasm-examples/plugins/assemblyscript/text.wasm")
	if err != nil {
		panic(err)
	}
	info, err := h.RegisterPlugin(context.Background(), wasm, host.PluginSpec{
		Name: "text", Namespace: "team-a", Timeout: 5 * time.Second,
		Config: map[string]string{"greeting": "Bonjour"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(info.Activities())
	fmt.Println(info.MemoryPages*64, "KiB of memory,", info.Timeout, "per call, HTTP to", len(info.AllowedHosts), "hosts")
	// Output:
	// [text.greet text.upper text.words]
	// 16384 KiB of memory, 5s per call, HTTP to 0 hosts
}
