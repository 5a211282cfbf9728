package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/durohost/durohost/history"
)

// TestBuildDirUnknownProject checks that a directory no registered language recognises is
// refused with an error that names the directory and what each language looks for.
func TestBuildDirUnknownProject(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a guest"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := (&guestBuilder{cacheDir: t.TempDir()}).buildDir(context.Background(), dir)
	if err == nil {
		t.Fatal("buildDir of a directory without a guest project succeeded")
	}
	want := []string{dir, "holds no guest project"}
	for _, n := range languageNames() {
		want = append(want, languages[n].marker)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

// TestLanguageNamesGoFirst checks the order in which directories are tried: Go first.
func TestLanguageNamesGoFirst(t *testing.T) {
	names := languageNames()
	if len(names) == 0 || names[0] != "go" {
		t.Fatalf("languageNames() = %v, want go first", names)
	}
}

// skipWithoutToolchain skips a test that needs a guest toolchain this machine lacks (the
// committed fixtures let the rest of the suite run with Go alone), unless
// $DUROHOST_REQUIRE_TOOLCHAINS is 1: CI sets it, having installed every toolchain, so that a
// missing one fails the tests instead of silently skipping them.
func skipWithoutToolchain(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("DUROHOST_REQUIRE_TOOLCHAINS") == "1" {
		t.Fatal(msg + " (and $DUROHOST_REQUIRE_TOOLCHAINS is 1)")
	}
	t.Skip(msg)
}

// TestProgressSuggestsRaise: run's progress line for a wait on an event or a queue says how
// to send one from another terminal, quoted for a shell, with the run's --store.
func TestProgressSuggestsRaise(t *testing.T) {
	p := newProgress(io.Discard)
	p.storeArg = " --store " + shellWord("my work.db")
	got := p.describe("order-1", &history.Event{ID: 3, Kind: history.KindEventSubscribed, Name: "approve"})
	if want := `waiting for event "approve" (send it from another terminal: durohost raise order-1 approve 'JSON' --store 'my work.db')`; got != want {
		t.Errorf("event wait:\n got %s\nwant %s", got, want)
	}
	got = p.describe("it's", &history.Event{ID: 4, Kind: history.KindQueueSubscribed, Name: "q"})
	if want := `waiting for a message on queue "q" (send one from another terminal: durohost enqueue 'it'\''s' q 'JSON' --store 'my work.db')`; got != want {
		t.Errorf("queue wait:\n got %s\nwant %s", got, want)
	}
}
