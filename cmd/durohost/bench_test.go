package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBenchW3JSON(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "bench")
	r := runCLI("bench", "--workloads", "w3", "--json", "--scale", "0.04", "--sync", "normal", "--dir", dir)
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	out := lines(r.stdout)
	if len(out) != 2 {
		t.Fatalf("want the FLOOR and W3 lines, got:\n%s", r.stdout)
	}
	for i, want := range []string{"FLOOR", "W3"} {
		var line struct {
			Workload string
			P50      *float64 `json:"p50_ms"`
			Floor    *float64 `json:"turns_per_s"`
			Config   map[string]any
		}
		if err := json.Unmarshal([]byte(out[i]), &line); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i, err, out[i])
		}
		if line.Workload != want || line.Floor == nil || line.Config["sync"] != "normal" {
			t.Errorf("line %d: %s", i, out[i])
		}
		if want == "W3" && (line.P50 == nil || line.Config["orchestration_workers"] == nil) {
			t.Errorf("W3 line lacks p50_ms or the configuration: %s", out[i])
		}
	}
	// --dir is kept, without its databases.
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("--dir: %v", err)
	}
	if dbs, _ := filepath.Glob(filepath.Join(dir, "*.db")); len(dbs) > 0 {
		t.Errorf("databases left in --dir: %v", dbs)
	}
}

func TestBenchErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--workloads", "W1,W9"}, `unknown workload "W9"`},
		{[]string{"--sync", "off"}, "--sync must be full or normal"},
		{[]string{"--activity-workers", "0"}, "at least 1"},
		{[]string{"--source", os.TempDir()}, "is not a source checkout"},
		{[]string{"extra"}, "unexpected argument"},
		{[]string{"--store", "work.db"}, "--store takes a postgres:// URL"},
		{[]string{"--store", "mysql://h/db"}, `unknown store scheme "mysql"`},
		{[]string{"--store", "postgres://h/db", "--sync", "normal"}, "--sync applies to SQLite"},
		{[]string{"--hosts", "1,0"}, "want counts of hosts from 1 to 64"},
		{[]string{"--hosts", "two"}, "want counts of hosts"},
		{[]string{"--hosts", "2", "--workloads", "W3"}, "--hosts applies to W1"},
		{[]string{"--runs", "0"}, "--runs must be from 1 to 100"},
		{[]string{"--guest", "cobol", "--workloads", "W3"}, `no benchmark guest in language "cobol"`},
	}
	for _, tt := range tests {
		r := runCLI(append([]string{"bench"}, tt.args...)...)
		if r.code != exitError || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("bench %v: want exit code 1 and %q, got %v", tt.args, tt.want, r)
		}
	}
}

func TestBenchOutsideCheckout(t *testing.T) {
	t.Parallel()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if findCheckout(wd) == "" {
		t.Fatal("the tests do not run in a source checkout")
	}
	if got := findCheckout(t.TempDir()); got != "" {
		t.Errorf("findCheckout found %s outside a checkout", got)
	}
}

// TestBenchPostgres runs W1 with one and two hosts and W3 on PostgreSQL, at a tiny scale.
func TestBenchPostgres(t *testing.T) {
	db := withPassword(t, pgDatabase(t))
	r := runCLI("bench", "--store", db, "--workloads", "W1,W3", "--hosts", "1,2", "--json", "--scale", "0.04", "--dir", t.TempDir())
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	noPassword(t, "the output", r.stdout+r.stderr)
	out := lines(r.stdout)
	want := []struct {
		workload string
		hosts    float64
	}{{"FLOOR", 0}, {"W1", 1}, {"W1", 2}, {"W3", 1}}
	if len(out) != len(want) {
		t.Fatalf("want %d lines, got:\n%s", len(want), r.stdout)
	}
	for i, w := range want {
		var line struct {
			Workload string
			Rate     *float64 `json:"turns_per_s"`
			Config   map[string]any
		}
		if err := json.Unmarshal([]byte(out[i]), &line); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i, err, out[i])
		}
		if line.Workload != w.workload || line.Rate == nil || line.Config["store"] != "postgres" || line.Config["synchronous_commit"] == nil {
			t.Errorf("line %d: %s", i, out[i])
		}
		if hosts, _ := line.Config["hosts"].(float64); w.hosts > 0 && hosts != w.hosts {
			t.Errorf("line %d has %v hosts, want %v: %s", i, line.Config["hosts"], w.hosts, out[i])
		}
	}
}
