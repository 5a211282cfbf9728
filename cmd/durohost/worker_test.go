package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/durohost/durohost/host"
)

// TestWorkerPolicies: a worker's host applies serve's namespace policies from the config file
// (and serve's default to the namespaces it does not list), and lets the default namespace of
// run call every activity.
func TestWorkerPolicies(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "serve.json")
	if err := os.WriteFile(config, []byte(`{"namespaces": {"a": {"activities": ["echo"], "max_concurrent_turns": 2}},
		"limits": {"max_history": "500"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var policies map[string]host.NamespacePolicy
	var limits host.Limits
	app := &cli.App{Name: "t", Writer: io.Discard, ErrWriter: io.Discard, HideHelp: true,
		ExitErrHandler: func(*cli.Context, error) {},
		Flags:          workerCommand().Flags,
		Action: func(c *cli.Context) error {
			cfg, err := readServeConfig(c.String("config"))
			if err != nil {
				return err
			}
			so, err := workerSessionOptions(c, cfg, nil) // no tokens: the namespaces are not checked against them
			if err != nil {
				return err
			}
			s, err := openSessionWith(c, io.Discard, so)
			if err != nil {
				return err
			}
			defer s.close(context.Background())
			policies = map[string]host.NamespacePolicy{}
			for _, ns := range []string{"", "a", "b"} {
				policies[ns] = s.h.NamespacePolicy(ns)
			}
			limits = s.h.Limits()
			return nil
		}}
	if err := app.Run([]string{"t", "--store", filepath.Join(dir, "w.db"), "--config", config, "--enable-shell"}); err != nil {
		t.Fatal(err)
	}
	if p := policies[""]; p.Activities != nil {
		t.Errorf("the default namespace is limited to %v", p.Activities)
	}
	if p := policies["a"]; !slices.Equal(p.Activities, []string{"echo"}) || p.MaxConcurrentTurns != 2 {
		t.Errorf("namespace a: %+v, want the config file's policy", p)
	}
	if p := policies["b"]; p.Activities == nil || slices.Contains(p.Activities, "shell") || !slices.Contains(p.Activities, "http") {
		t.Errorf("namespace b: %+v, want every activity but shell", p)
	}
	if limits.MaxEvents != 500 {
		t.Errorf("max history %d, want the config file's 500", limits.MaxEvents)
	}
}

// TestWorkerMetrics: durohost worker --metrics-listen serves the host's metrics without a
// token on that address.
func TestWorkerMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "w.db")
	p := startProcessEnv(t, nil, binary(t), "worker", "--store", db, "--metrics-listen", "127.0.0.1:0", "--quiet")
	addr := regexp.MustCompile(`metrics on (http://\S+/metrics)`)
	var url string
	waitFor(t, 30*time.Second, "the worker's metrics address", func() bool {
		select {
		case <-p.done:
			t.Fatalf("worker ended: %v", p)
		default:
		}
		if m := addr.FindStringSubmatch(p.stderr.String()); m != nil {
			url = m[1]
			return true
		}
		return false
	})
	waitFor(t, 30*time.Second, "durohost's series on the worker's /metrics", func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && strings.Contains(string(b), "durohost_live_cache_hits_total")
	})
}
