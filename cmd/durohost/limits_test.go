package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/durohost/durohost/host"
)

// sessionLimits opens a session with the flags in args (and the limits of a config file) and
// returns its host's limits.
func sessionLimits(t *testing.T, file map[string]string, args ...string) (host.Limits, error) {
	t.Helper()
	var got host.Limits
	app := &cli.App{
		Name: "limits-test", Writer: io.Discard, ErrWriter: io.Discard, HideHelp: true,
		ExitErrHandler: func(*cli.Context, error) {},
		Flags:          append([]cli.Flag{storeFlag(), lockFlag()}, activityFlags()...),
		Action: func(c *cli.Context) error {
			s, err := openSessionWith(c, io.Discard, sessionOptions{limits: file})
			if err != nil {
				return err
			}
			defer s.close(context.Background())
			got = s.h.Limits()
			return nil
		},
	}
	err := app.Run(append([]string{"limits-test", "--db", filepath.Join(t.TempDir(), "l.db")}, args...))
	return got, err
}

func TestLimitFlagsCoverLimits(t *testing.T) {
	// Every field of host.Limits has exactly one flag.
	var l host.Limits
	base := reflect.ValueOf(&l).Pointer()
	flags := map[uintptr]string{}
	for _, f := range limitFlags {
		off := reflect.ValueOf(f.field(&l)).Pointer() - base
		if other, ok := flags[off]; ok {
			t.Errorf("--%s and --%s set the same field", f.name, other)
		}
		flags[off] = f.name
	}
	typ := reflect.TypeOf(l)
	for i := range typ.NumField() {
		if _, ok := flags[typ.Field(i).Offset]; !ok {
			t.Errorf("host.Limits.%s has no flag", typ.Field(i).Name)
		}
	}
}

func TestLimitFlagsReachHost(t *testing.T) {
	got, err := sessionLimits(t, map[string]string{"turn-time": "20s", "max-history": "500", "disk-cache": "1GiB"},
		"--turn-time", "3s", "--turn-wall-time", "9s", "--replay-time", "2m", "--instantiate-time", "5s",
		"--compile-time", "90s", "--compile-concurrency", "2", "--memory-limit", "128MiB", "--guest-memory", "1GiB",
		"--max-payload", "1MiB", "--max-module-size", "16777216", "--max-registrations", "10", "--module-cache", "64mib")
	if err != nil {
		t.Fatal(err)
	}
	want := host.Limits{
		TurnTime: 3 * time.Second, TurnWallTime: 9 * time.Second, ReplayTime: 2 * time.Minute, InstantiateTime: 5 * time.Second,
		CompileTime: 90 * time.Second, CompileConcurrency: 2, MemoryPages: 2048, GuestMemory: 1 << 30,
		MaxPayload: 1 << 20, MaxEvents: 500, MaxModuleSize: 16 << 20, MaxRegistrations: 10,
		ModuleCache: 64 << 20, DiskCache: 1 << 30,
	}
	if got != want {
		t.Fatalf("limits\n got %+v\nwant %+v", got, want)
	}
	// Nothing given: the host's defaults.
	got, err = sessionLimits(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got != host.DefaultLimits {
		t.Fatalf("limits %+v, want the defaults %+v", got, host.DefaultLimits)
	}
}

func TestLimitFlagErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    map[string]string
		args    []string
		mention []string
	}{
		{"not a duration", nil, []string{"--turn-time", "ten"}, []string{`--turn-time "ten"`, "want a duration"}},
		{"decimal unit", nil, []string{"--max-payload", "4MB"}, []string{`--max-payload "4MB"`, "MiB"}},
		{"negative size", nil, []string{"--module-cache", "-1"}, []string{`--module-cache "-1"`}},
		{"not a count", nil, []string{"--max-history", "1e5"}, []string{`--max-history "1e5"`, "whole number"}},
		{"partial page", nil, []string{"--memory-limit", "100000"}, []string{"--memory-limit", "64KiB pages"}},
		{"negative duration", nil, []string{"--replay-time", "-1s"}, []string{"--replay-time:", "negative"}},
		{"negative count", nil, []string{"--compile-concurrency", "-2"}, []string{"--compile-concurrency:", "negative"}},
		{"too many pages", nil, []string{"--memory-limit", "8GiB"}, []string{"--memory-limit:", "65536"}},
		{"module too large", nil, []string{"--max-module-size", "1GiB"}, []string{"--max-module-size:", "module size"}},
		{"wall time below turn time", nil, []string{"--turn-wall-time", "1s"}, []string{"--turn-wall-time and --turn-time (default)", "shorter"}},
		{"guest memory below one guest", nil, []string{"--guest-memory", "1MiB"}, []string{"--guest-memory and --memory-limit (default)", "cannot hold"}},
		{"from the config file", map[string]string{"turn-time": "-5s"}, nil, []string{"limits.turn_time in the config file", "negative"}},
		{"flag over file", map[string]string{"turn-time": "-5s"}, []string{"--turn-time", "-3s"}, []string{"--turn-time:", "-3s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sessionLimits(t, tt.file, tt.args...)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Fatalf("error %q does not mention %q", err, m)
				}
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"1048576", 1 << 20, true}, {"64KiB", 64 << 10, true}, {"4MiB", 4 << 20, true},
		{"2gib", 2 << 30, true}, {"1TiB", 1 << 40, true},
		{"", 0, false}, {"MiB", 0, false}, {"4MB", 0, false}, {"4M", 0, false}, {"1.5GiB", 0, false},
		{"-1", 0, false}, {" 4MiB", 0, false}, {"4 MiB", 0, false}, {"99999999999TiB", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if tt.ok && tt.want > 0 {
			if back, _ := parseSize(formatSize(tt.want)); back != tt.want {
				t.Errorf("formatSize(%d) = %q reads back as %d", tt.want, formatSize(tt.want), back)
			}
		}
	}
}

func TestLimitsOfConfig(t *testing.T) {
	tests := []struct {
		doc     string
		want    map[string]string
		mention string
	}{
		{`{"turn_time": "3s", "max_payload": "1MiB", "max_history": 500, "module_cache": 1048576}`,
			map[string]string{"turn-time": "3s", "max-payload": "1MiB", "max-history": "500", "module-cache": "1048576"}, ""},
		{`{"turn-time": "3s"}`, nil, "limits.turn-time: unknown limit (known: turn_time"},
		{`{"colour": 1}`, nil, "limits.colour: unknown limit"},
		{`{"turn_time": 3}`, nil, `limits.turn_time "3": want a duration`},
		{`{"max_payload": true}`, nil, "limits.max_payload: want a string"},
		{`{"memory_limit": "100KiB"}`, nil, "limits.memory_limit"},
	}
	for _, tt := range tests {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(tt.doc), &raw); err != nil {
			t.Fatal(err)
		}
		got, err := limitsOfConfig(raw)
		if tt.mention != "" {
			if err == nil || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("%s: %v, want an error mentioning %q", tt.doc, err, tt.mention)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %v, %v; want %v", tt.doc, got, err, tt.want)
		}
	}
}

func TestReplayLimitFlags(t *testing.T) {
	// replay builds its host with the limit flags.
	history := filepath.Join(t.TempDir(), "h.json")
	if err := os.WriteFile(history, []byte(`{"events": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI("replay", watFixture("hello.wasm"), "--history", history, "--id", "x", "--max-history", "-1")
	if r.code != exitError || !strings.Contains(r.stderr, "--max-history:") || !strings.Contains(r.stderr, "negative") {
		t.Fatalf("want an error naming --max-history, got %v", r)
	}
}
