package scenarios

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/store"
)

// Golden histories: the recorded histories of the scenarios, one file per scenario
// (<Group>.<Name>.json in the golden directory), replayed against the current guest and host
// so that a change to the engine, an SDK or the history format that would break the replay
// of existing instances fails.
//
// Times are kept as they were recorded: replay checks timer fire times against the recorded
// turn times, so the file must stay consistent with itself. Regenerating rewrites a file only
// when its history changed in substance (the decisions in order, the inputs as a multiset:
// kinds, names, payloads, failure codes, references), so an unchanged scenario keeps its file
// byte for byte although times, turn boundaries and the arrival order of parallel
// completions vary from one recording to the next. Module hashes
// are replaced by the module's role ("guest" or "variant"), and the details of panic
// failures (a stack trace of the machine that recorded it) are dropped.

// goldenFile is the JSON form of a golden history file.
type goldenFile struct {
	Scenario      string          `json:"scenario"`
	Doc           string          `json:"doc"`
	Orchestration string          `json:"orchestration"`
	Input         json.RawMessage `json:"input,omitempty"`
	Histories     []goldenHistory `json:"histories"`
}

type goldenHistory struct {
	InstanceID string          `json:"instance_id"`
	Execution  uint32          `json:"execution"`
	Module     string          `json:"module"`
	History    json.RawMessage `json:"history"`
}

// GoldenName returns the file name of a scenario's golden history.
func GoldenName(sc *Scenario) string { return sc.Group + "." + sc.Name + ".json" }

// RunGolden checks the golden histories in dir: every scenario (but NoGolden ones) must have
// a file, and every execution in it must replay against guest (or the variant) without
// divergence. With update it records the scenarios instead (in the live mode) and rewrites
// the files whose histories changed, reporting each one.
func RunGolden(t *testing.T, guest []byte, newStore func(t *testing.T) store.Store, dir string, update bool, opts ...Option) {
	cfg := newConfig(opts)
	keep := cfg.filter
	cfg.filter = func(sc *Scenario) bool { return !sc.NoGolden && (keep == nil || keep(sc)) }
	if update {
		recordGolden(t, cfg, guest, newStore, dir)
		return
	}
	cfg.withCache(t)
	h, err := host.New(newStore(t), cfg.hostOpts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop(context.Background()) })
	var mu sync.Mutex
	names := map[string]bool{}
	forEach(t, cfg, func(t *testing.T, sc *Scenario) {
		mu.Lock()
		names[GoldenName(sc)] = true
		mu.Unlock()
		replayGolden(t, h, cfg, guest, filepath.Join(dir, GoldenName(sc)))
	})
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if keep != nil {
		return // a filtered run does not know every scenario
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") && !names[e.Name()] {
			t.Errorf("%s: no scenario records this golden history (remove it, or restore the scenario)", e.Name())
		}
	}
}

func replayGolden(t *testing.T, h *host.Host, cfg *config, guest []byte, path string) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no golden history %s: record it (see conformance/README.md)", filepath.Base(path))
	}
	if err != nil {
		t.Fatal(err)
	}
	var f goldenFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, gh := range f.Histories {
		events, err := history.UnmarshalHistory(gh.History)
		if err != nil {
			t.Fatalf("%s: %s execution %d: %v", filepath.Base(path), gh.InstanceID, gh.Execution, err)
		}
		wasm := guest
		if gh.Module == "variant" {
			if cfg.variant == nil {
				t.Skip("needs the variant build of the guest (WithVariant)")
			}
			wasm = cfg.variant
		}
		d, err := h.Replay(context.Background(), wasm, gh.InstanceID, gh.Execution, events)
		if err != nil {
			t.Fatalf("%s: %s execution %d: %v", filepath.Base(path), gh.InstanceID, gh.Execution, err)
		}
		if d != nil {
			t.Errorf("%s: %s execution %d no longer replays: %v", filepath.Base(path), gh.InstanceID, gh.Execution, d)
		}
	}
}

func recordGolden(t *testing.T, cfg *config, guest []byte, newStore func(*testing.T) store.Store, dir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg.modes = []Mode{Modes[0]}
	var mu sync.Mutex
	cfg.record = func(sc *Scenario, hs []InstanceHistory) {
		path := filepath.Join(dir, GoldenName(sc))
		data, err := encodeGolden(sc, hs)
		if err != nil {
			t.Errorf("%s: %v", sc.ID(), err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		old, err := os.ReadFile(path)
		if err == nil && sameGolden(old, data) {
			return
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Errorf("%s: %v", sc.ID(), err)
			return
		}
		if old != nil {
			t.Logf("CHANGED golden history %s: a changed history must be a conscious decision (say so in CHANGELOG.md)", path)
		} else {
			t.Logf("new golden history %s", path)
		}
	}
	cfg.withCache(t)
	cfg.warm(t, newStore, guest)
	forEach(t, cfg, func(t *testing.T, sc *Scenario) { runScenario(t, cfg, guest, newStore, sc) })
}

// encodeGolden writes the golden file of a scenario's histories.
func encodeGolden(sc *Scenario, hs []InstanceHistory) ([]byte, error) {
	f := goldenFile{Scenario: sc.ID(), Doc: sc.Doc, Orchestration: sc.Orchestration}
	if json.Valid([]byte(sc.Input)) {
		f.Input = json.RawMessage(sc.Input)
	}
	for _, h := range hs {
		events := slices.Clone(h.Events)
		for i := range events {
			ev := &events[i]
			if ev.ModuleHash != "" {
				ev.ModuleHash = h.Module
			}
			if ev.Failure != nil && ev.Failure.Code == "panic" {
				fc := *ev.Failure
				fc.Details = nil
				ev.Failure = &fc
			}
		}
		b, err := history.MarshalHistory(events)
		if err != nil {
			return nil, err
		}
		f.Histories = append(f.Histories, goldenHistory{InstanceID: h.InstanceID, Execution: h.Execution, Module: h.Module, History: b})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// sameGolden reports whether two golden files hold the same histories, times, turn
// boundaries and the order of inputs aside (as the modes of a run are compared).
func sameGolden(a, b []byte) bool {
	pa, erra := goldenProjection(a)
	pb, errb := goldenProjection(b)
	return erra == nil && errb == nil && pa == pb
}

func goldenProjection(data []byte) (string, error) {
	var f goldenFile
	if err := json.Unmarshal(data, &f); err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\n", f.Scenario, f.Orchestration, f.Input)
	for _, gh := range f.Histories {
		events, err := history.UnmarshalHistory(gh.History)
		if err != nil {
			return "", err
		}
		// As between modes: decisions in order, inputs as a multiset (parallel completions
		// may arrive in another order from one recording to the next).
		decisions, inputs := split(projectExecution(gh.InstanceID, gh.Execution, events))
		slices.Sort(inputs)
		fmt.Fprintf(&b, "%s %d %s\n%s\n--\n%s\n", gh.InstanceID, gh.Execution, gh.Module,
			strings.Join(decisions, "\n"), strings.Join(inputs, "\n"))
	}
	return b.String(), nil
}
