package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/durohost/durohost/history"
	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/server"
)

// historyDoc is an exported history: the document of `durohost history --json` (the
// server's {"id", "instance_id", "execution", "history": {"events": [...]}}), or a bare
// {"events": [...]} as history.MarshalHistory writes it.
type historyDoc struct {
	ID         string
	Namespace  string
	InstanceID string
	Execution  uint32
	Events     []history.Event
}

func parseHistoryDoc(data []byte) (*historyDoc, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("not a history document: %v", err)
	}
	doc := &historyDoc{}
	events := data
	if h, ok := top["history"]; ok {
		events = h
		for k, p := range map[string]*string{"id": &doc.ID, "namespace": &doc.Namespace, "instance_id": &doc.InstanceID} {
			if raw, ok := top[k]; ok {
				if err := json.Unmarshal(raw, p); err != nil {
					return nil, fmt.Errorf("history document: %q: %v", k, err)
				}
			}
		}
		if raw, ok := top["execution"]; ok {
			if err := json.Unmarshal(raw, &doc.Execution); err != nil {
				return nil, fmt.Errorf("history document: \"execution\": %v", err)
			}
		}
	}
	evs, err := history.UnmarshalHistory(events)
	if err != nil {
		return nil, err
	}
	doc.Events = evs
	return doc, nil
}

// describeEvent renders an event on one line: kind, name, IDs, payloads, failure.
func describeEvent(e *history.Event) string {
	parts := []string{e.Kind.String()}
	if e.Name != "" {
		parts = append(parts, strconv.Quote(e.Name))
	}
	if e.Version != "" {
		parts = append(parts, "version "+e.Version)
	}
	if e.InstanceID != "" {
		parts = append(parts, "instance "+e.InstanceID)
	}
	if e.Ref != 0 {
		parts = append(parts, fmt.Sprintf("of #%d", e.Ref))
	}
	if e.FireAt != 0 {
		parts = append(parts, "at "+time.Unix(0, e.FireAt).UTC().Format(time.RFC3339Nano))
	}
	if len(e.Input) > 0 {
		parts = append(parts, "input "+short(e.Input))
	}
	if len(e.Result) > 0 {
		parts = append(parts, "result "+short(e.Result))
	}
	if e.Failure != nil {
		parts = append(parts, "failure "+failure(e.Failure))
	}
	if e.Cleared {
		parts = append(parts, "(cleared)")
	}
	return strings.Join(parts, " ")
}

// printTimeline prints events one a line with their offset from the first.
func printTimeline(w io.Writer, events []history.Event) {
	var t0 int64
	for i, e := range events {
		if i == 0 {
			t0 = e.Time
		}
		off := time.Duration(e.Time - t0)
		fmt.Fprintf(w, "  #%-4d %10s  %s\n", e.ID, "+"+off.Round(time.Millisecond).String(), describeEvent(&e))
	}
}

// printDivergence prints a divergence as a structured diff: event index, what history
// recorded, what the module did now.
func printDivergence(w io.Writer, code string, index int64, message string, recorded, got json.RawMessage) {
	side := func(raw json.RawMessage) string {
		if len(raw) == 0 || string(raw) == "null" {
			return "nothing"
		}
		var e history.Event
		if err := e.UnmarshalJSON(raw); err != nil {
			return string(raw)
		}
		return describeEvent(&e)
	}
	if index > 0 {
		fmt.Fprintf(w, "  first divergence at event #%d [%s]\n", index, code)
	} else {
		fmt.Fprintf(w, "  first divergence [%s]\n", code)
	}
	fmt.Fprintf(w, "  history recorded: %s\n  the module now:   %s\n  %s\n", side(recorded), side(got), message)
}

func replayCommand() *cli.Command {
	return &cli.Command{
		Name:      "replay",
		Usage:     "replay a recorded history against a module build and report the first divergence",
		ArgsUsage: "<module.wasm | guest project directory>",
		Description: `Replays one execution's history against the module, as the host would after a restart,
and prints "compatible" or the first divergence: the event index, what the history recorded
and what the module did now. Exit code 0 when compatible, 1 on a divergence or an error.

The history comes from a file (--history FILE: what 'durohost history --json ID' prints, or
a bare {"events": [...]} document) or from a server (--instance ID with --server/--token).

replay takes no --store: it never reads or writes a store of instances. It replays in a
private throw-away store of its own, removed after, so that checking a build cannot touch
live instances, and it reads histories through the server, whose tokens decide which
namespace's instances a caller may read (a store holds every namespace's).`,
		// The limit flags: give those of the host that recorded the history.
		Flags: append(append(clientFlags(),
			&cli.StringFlag{Name: "history", Usage: "history `FILE` (- for stdin)", TakesFile: true},
			&cli.StringFlag{Name: "instance", Usage: "fetch the history of instance `ID` from the server"},
			&cli.UintFlag{Name: "execution", Usage: "execution `N` (default: the file's, or the instance's current one)"},
			&cli.StringFlag{Name: "id", Usage: "instance `ID` the history was recorded under (default: the file's; it seeds the guest's randomness and derives child IDs)"}),
			limitCLIFlags()...),
		Action: replayAction,
	}
}

func replayAction(c *cli.Context) error {
	if c.NArg() != 1 {
		return exitWith(exitError, "replay: want one module (a .wasm file or a guest project directory) (see 'durohost replay --help')")
	}
	if (c.String("history") == "") == (c.String("instance") == "") {
		return exitWith(exitError, "replay: give --history FILE or --instance ID (with --server), one of them")
	}
	ctx := c.Context
	limits, sources, err := readLimits(c, nil)
	if err != nil {
		return exitWith(exitError, "replay: %v", err)
	}
	var data []byte
	if f := c.String("history"); f != "" {
		if f == "-" {
			data, err = io.ReadAll(c.App.Reader)
		} else {
			data, err = os.ReadFile(f)
		}
	} else {
		var a *apiClient
		if a, err = newAPIClient(c); err != nil {
			return err
		}
		path := "/v1/instances/" + seg(c.String("instance")) + "/history"
		if n := c.Uint("execution"); n > 0 {
			path += "?execution=" + strconv.FormatUint(uint64(n), 10)
		}
		data, err = a.call(ctx, "GET", path, nil, nil)
	}
	if err != nil {
		return exitWith(exitError, "replay: %s", oneLine(err.Error()))
	}
	doc, err := parseHistoryDoc(data)
	if err != nil {
		return exitWith(exitError, "replay: %s", oneLine(err.Error()))
	}
	if id := c.String("id"); id != "" {
		doc.InstanceID = id
	}
	if doc.InstanceID == "" {
		return exitWith(exitError, "replay: the history file does not say which instance it is: give --id (the ID it ran under)")
	}
	if n := c.Uint("execution"); n > 0 {
		doc.Execution = uint32(n)
	}
	if doc.Execution == 0 {
		doc.Execution = 1
	}
	cache, err := cacheDir()
	if err != nil {
		return err
	}
	wasm, err := readModule(ctx, c.Args().First(), &guestBuilder{cacheDir: cache, log: c.App.ErrWriter})
	if err != nil {
		return exitWith(exitError, "replay: %s", err)
	}
	d, err := replayHistory(ctx, cache, wasm, doc, limits)
	if err != nil {
		err = sources.explain(err)
		return exitWith(exitError, "replay: %s", oneLine(err.Error()))
	}
	w := c.App.Writer
	if c.Bool("json") {
		out, _ := json.Marshal(map[string]any{"compatible": d == nil, "instance_id": doc.InstanceID,
			"execution": doc.Execution, "divergence": server.NewDivergenceJSON(d)})
		printJSON(w, out)
	} else if d == nil {
		fmt.Fprintln(w, "compatible")
	} else {
		fmt.Fprintf(w, "diverges: %s execution %d\n", doc.InstanceID, doc.Execution)
		rec, _ := json.Marshal(d.Recorded)
		got, _ := json.Marshal(d.Got)
		printDivergence(w, d.Code, d.Index, d.Message, rec, got)
	}
	if d != nil {
		return exitWith(exitError, "")
	}
	return nil
}

// replayHistory replays doc against wasm with a host of the limits over a throw-away store.
func replayHistory(ctx context.Context, cache string, wasm []byte, doc *historyDoc, limits host.Limits) (*host.Divergence, error) {
	dir, err := os.MkdirTemp("", "durohost-replay-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	st, closeStore, _, err := openStore(ctx, "sqlite:"+filepath.Join(dir, "replay.db"))
	if err != nil {
		return nil, err
	}
	defer closeStore()
	h, err := host.New(st, host.WithCompilationCache(filepath.Join(cache, "wazero")), host.WithLimits(limits))
	if err != nil {
		return nil, err
	}
	defer h.Stop(context.Background())
	d, err := h.Replay(ctx, wasm, doc.InstanceID, doc.Execution, doc.Events, host.InNamespace(doc.Namespace))
	if errors.Is(err, host.ErrInvalidModule) {
		return nil, err
	}
	return d, err
}
