package conformance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store/sqlite"
)

// rustGuest holds the Rust test guest (conformance/guests/rust): its sources and the modules
// built from them, committed so that the tests need no Rust toolchain; build.sh there rebuilds
// them, and CI checks that they match their sources (.ci/fixtures.d/rust.sh).
const rustGuest = "guests/rust"

func init() {
	registerGuestLanguage("rust", func(t *testing.T) ([]byte, []byte) {
		return readRustGuest(t, "guest.wasm"), readRustGuest(t, "guest-b.wasm")
	})
}

func readRustGuest(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(rustGuest, name))
	if err != nil {
		t.Fatalf("the Rust test guest %s is not built: %v (run %s/build.sh)", name, err, rustGuest)
	}
	return b
}

// parkedCounts is how many instances BenchmarkParkedInstances parks per language: a Go
// instance holds megabytes, a Rust one kilobytes (the goal: 10,000 Rust instances in
// one host under 1 GiB).
var parkedCounts = map[string]int{"go": 500, "rust": 10000}

// BenchmarkParkedInstances parks many instances of the test guest of every language in one
// host (each waits for an event that never comes, held in the live cache) and reports the
// memory of one parked instance (the live cache's accounting and the process's RSS growth)
// and the mean time to instantiate a guest for a first turn (the host's
// instantiate_duration_seconds). It measures once: run it with -benchtime=1x.
//
//	go test ./conformance/ -run '^$' -bench ParkedInstances -benchtime=1x
func BenchmarkParkedInstances(b *testing.B) {
	for _, l := range guestLanguages {
		n, ok := parkedCounts[l.name]
		if !ok {
			continue
		}
		b.Run(l.name, func(b *testing.B) {
			t := &testing.T{}
			guest, _ := l.build(t)
			if t.Failed() {
				b.Fatal("building the guest failed")
			}
			for i := 0; i < b.N; i++ {
				parkInstances(b, guest, n)
			}
		})
	}
}

func parkInstances(b *testing.B, guest []byte, n int) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "parked.db"), sqlite.WithSynchronous(sqlite.SyncOff))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var parked atomic.Int64
	seen := sync.Map{}
	h, err := host.New(st, host.WithCompilationCache(cacheDir), host.WithObserver(func(e host.Event) {
		if len(e.Events) > 0 {
			if _, dup := seen.LoadOrStore(e.InstanceID, true); !dup {
				parked.Add(1)
			}
		}
	}))
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := h.EnableMetrics(reg); err != nil {
		b.Fatal(err)
	}
	if _, err := h.LoadModule(ctx, guest); err != nil {
		b.Fatal(err)
	}
	if err := h.Start(); err != nil {
		b.Fatal(err)
	}
	defer h.Stop(ctx)
	runtime.GC()
	rss0 := processRSS(b)
	input := []byte(`{"steps":[{"event":"never"}]}`)
	b.ResetTimer()
	for i := range n {
		if _, err := h.Client().Start(ctx, "sc_receive", input, host.WithInstanceID(fmt.Sprintf("p%05d", i))); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Minute)
	for parked.Load() < int64(n) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d instances parked after 10 minutes", parked.Load(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.StopTimer()
	runtime.GC()
	rss := processRSS(b)
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var liveN, liveBytes, instSum, instCount float64
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "durohost_live_cache_instances":
				liveN += m.GetGauge().GetValue()
			case "durohost_live_cache_bytes":
				liveBytes += m.GetGauge().GetValue()
			case "durohost_instantiate_duration_seconds":
				instSum += m.GetHistogram().GetSampleSum()
				instCount += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	b.ReportMetric(float64(n), "instances")
	b.ReportMetric(liveN, "live_instances")
	if liveN > 0 {
		b.ReportMetric(liveBytes/liveN/1024, "live_KiB/instance")
	}
	b.ReportMetric(float64(rss-rss0)/float64(n)/1024, "rss_KiB/instance")
	b.ReportMetric(float64(rss)/(1<<20), "rss_MiB")
	if instCount > 0 {
		b.ReportMetric(instSum/instCount*1e6, "instantiate_us")
	}
}

// processRSS returns the resident memory of the process (Linux).
func processRSS(b *testing.B) int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Skip("no VmRSS in /proc/self/status")
	return 0
}

// BenchmarkColdReplay replays one golden history (activity.success: sc_call, two turns)
// against the test guest of every language: each operation instantiates the guest afresh and
// replays the history, the cost of a cold turn without the store.
//
//	go test ./conformance/ -run '^$' -bench ColdReplay
func BenchmarkColdReplay(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "histories", "activity.success.json"))
	if err != nil {
		b.Fatal(err)
	}
	var f struct {
		Histories []struct {
			InstanceID string          `json:"instance_id"`
			Execution  uint32          `json:"execution"`
			History    json.RawMessage `json:"history"`
		} `json:"histories"`
	}
	if err := json.Unmarshal(data, &f); err != nil || len(f.Histories) == 0 {
		b.Fatalf("golden history: %v", err)
	}
	gh := f.Histories[0]
	events, err := history.UnmarshalHistory(gh.History)
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range guestLanguages {
		b.Run(l.name, func(b *testing.B) {
			t := &testing.T{}
			guest, _ := l.build(t)
			if t.Failed() {
				b.Fatal("building the guest failed")
			}
			st, err := sqlite.Open(filepath.Join(b.TempDir(), "replay.db"), sqlite.WithSynchronous(sqlite.SyncOff))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			h, err := host.New(st, host.WithCompilationCache(cacheDir))
			if err != nil {
				b.Fatal(err)
			}
			defer h.Stop(context.Background())
			r, err := h.Replayer(context.Background(), guest)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d, err := r.Replay(context.Background(), gh.InstanceID, gh.Execution, events)
				if err != nil || d != nil {
					b.Fatalf("replay: %v %v", err, d)
				}
			}
		})
	}
}
