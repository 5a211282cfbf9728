package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/durohost/durohost/history"
)

// Responses of the server, as the client prints them.
type (
	apiModule struct {
		Name           string `json:"name"`
		Version        string `json:"version"`
		Hash           string `json:"hash"`
		Size           int64  `json:"size"`
		UploadedAt     string `json:"uploaded_at"`
		Imports        []string
		Orchestrations []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"orchestrations"`
		Kept []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"kept"`
		Created *bool     `json:"created"`
		Check   *apiCheck `json:"check"`
	}
	apiCheck struct {
		Compatible bool `json:"compatible"`
		Checked    int  `json:"checked"`
		Truncated  bool `json:"truncated"`
		Instances  []struct {
			ID            string        `json:"id"`
			Orchestration string        `json:"orchestration"`
			Execution     uint32        `json:"execution"`
			Compatible    bool          `json:"compatible"`
			Divergence    *apiDivergent `json:"divergence"`
			Error         string        `json:"error"`
		} `json:"instances"`
	}
	apiDivergent struct {
		Code     string          `json:"code"`
		Index    int64           `json:"index"`
		Recorded json.RawMessage `json:"recorded"`
		Got      json.RawMessage `json:"got"`
		Message  string          `json:"message"`
	}
	apiInstance struct {
		ID                 string          `json:"id"`
		Name               string          `json:"name"`
		Version            string          `json:"version"`
		Status             string          `json:"status"`
		Execution          uint32          `json:"execution"`
		Output             json.RawMessage `json:"output"`
		OutputBase64       string          `json:"output_base64"`
		Failure            json.RawMessage `json:"failure"`
		CustomStatus       json.RawMessage `json:"custom_status"`
		CustomStatusBase64 string          `json:"custom_status_base64"`
		CreatedAt          string          `json:"created_at"`
		CompletedAt        string          `json:"completed_at"`
	}
)

func moduleCommand() *cli.Command {
	m := &cli.Command{
		Name:  "module",
		Usage: "upload, list, show and delete modules on a server",
		Subcommands: []*cli.Command{
			{
				Name: "push", Usage: "upload a module (a version of NAME)", ArgsUsage: "FILE.wasm",
				Flags: append(clientFlags(),
					&cli.StringFlag{Name: "name", Usage: "module `NAME` (default: the file name without .wasm)"},
					&cli.StringFlag{Name: "version", Usage: "`VERSION` (default: sha256:<hash prefix>)"},
					&cli.BoolFlag{Name: "check", Usage: "do not upload: replay the open instances against the module and report (exit 1 on a divergence)"}),
				Action: clientAction(modulePush),
			},
			{
				Name: "list", Usage: "list the modules of your namespace", Flags: clientFlags(),
				Action: clientAction(func(c *cli.Context, a *apiClient) error {
					if err := args(c, 0, 0, "no argument"); err != nil {
						return err
					}
					var resp struct{ Modules []apiModule }
					data, err := a.call(c.Context, "GET", "/v1/modules", nil, &resp)
					if err != nil || c.Bool("json") {
						return jsonOr(c, data, err)
					}
					tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "NAME\tVERSION\tHASH\tSIZE\tUPLOADED")
					for _, m := range resp.Modules {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", m.Name, m.Version, shortHash(m.Hash), m.Size, when(m.UploadedAt))
					}
					return tw.Flush()
				}),
			},
			{
				Name: "show", Usage: "show a module version: hash, size, imports, orchestrations", ArgsUsage: "NAME [VERSION]", Flags: clientFlags(),
				Action: clientAction(func(c *cli.Context, a *apiClient) error {
					if err := args(c, 1, 2, "NAME [VERSION]"); err != nil {
						return err
					}
					v := c.Args().Get(1)
					if v == "" {
						v = "latest"
					}
					var m apiModule
					data, err := a.call(c.Context, "GET", "/v1/modules/"+seg(c.Args().First())+"/versions/"+seg(v), nil, &m)
					if err != nil || c.Bool("json") {
						return jsonOr(c, data, err)
					}
					printModule(c, &m)
					return nil
				}),
			},
			{
				Name: "rm", Usage: "delete a module version (refused while an unfinished instance uses it)", ArgsUsage: "NAME VERSION", Flags: clientFlags(),
				Action: clientAction(func(c *cli.Context, a *apiClient) error {
					if err := args(c, 2, 2, "NAME VERSION"); err != nil {
						return err
					}
					if _, err := a.call(c.Context, "DELETE", "/v1/modules/"+seg(c.Args().Get(0))+"/versions/"+seg(c.Args().Get(1)), nil, nil); err != nil {
						return err
					}
					if !c.Bool("json") {
						fmt.Fprintf(c.App.Writer, "deleted %s %s\n", c.Args().Get(0), c.Args().Get(1))
					}
					return nil
				}),
			},
		},
	}
	for _, sub := range m.Subcommands {
		sub.OnUsageError, sub.HideHelp = usageError, true
		sub.Flags = append(sub.Flags, helpFlag())
	}
	return m
}

// jsonOr prints data as JSON (when there is no error) and returns err.
func jsonOr(c *cli.Context, data []byte, err error) error {
	if err != nil {
		return err
	}
	return printJSON(c.App.Writer, data)
}

func modulePush(c *cli.Context, a *apiClient) error {
	if err := args(c, 1, 1, "FILE.wasm"); err != nil {
		return err
	}
	file := c.Args().First()
	wasm, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	name := c.String("name")
	if name == "" {
		base := file[strings.LastIndexAny(file, `/\`)+1:]
		name = strings.TrimSuffix(base, ".wasm")
	}
	q := url.Values{}
	if v := c.String("version"); v != "" {
		q.Set("version", v)
	}
	if c.Bool("check") {
		q.Set("check", "replay")
	}
	path := "/v1/modules/" + seg(name)
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	data, err := a.do(c.Context, "PUT", path, strings.NewReader(string(wasm)), "application/wasm")
	if err != nil {
		return err
	}
	var m apiModule
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	if c.Bool("json") {
		if err := printJSON(c.App.Writer, data); err != nil {
			return err
		}
	} else if m.Check == nil {
		what := "uploaded"
		if m.Created != nil && !*m.Created {
			what = "already uploaded"
		}
		fmt.Fprintf(c.App.Writer, "%s %s %s\n", what, m.Name, m.Version)
		printModule(c, &m)
	} else {
		printCheck(c, m.Check)
	}
	if m.Check != nil && !m.Check.Compatible {
		return exitWith(exitError, "")
	}
	return nil
}

func printModule(c *cli.Context, m *apiModule) {
	w := c.App.Writer
	fmt.Fprintf(w, "name:            %s\nversion:         %s\nhash:            %s\nsize:            %d bytes\n", m.Name, m.Version, m.Hash, m.Size)
	if m.UploadedAt != "" {
		fmt.Fprintf(w, "uploaded:        %s\n", when(m.UploadedAt))
	}
	var orchs []string
	for _, o := range m.Orchestrations {
		if o.Version != "" {
			orchs = append(orchs, o.Name+"@"+o.Version)
		} else {
			orchs = append(orchs, o.Name)
		}
	}
	fmt.Fprintf(w, "orchestrations:  %s\n", strings.Join(orchs, ", "))
	if len(m.Imports) > 0 {
		fmt.Fprintf(w, "imports:         %s\n", strings.Join(m.Imports, ", "))
	}
	for _, k := range m.Kept {
		fmt.Fprintf(w, "warning: %s version %s was already registered with other bytes: new starts keep the earlier module\n", k.Name, k.Version)
	}
}

func printCheck(c *cli.Context, ch *apiCheck) {
	w := c.App.Writer
	for _, in := range ch.Instances {
		switch {
		case in.Compatible:
			fmt.Fprintf(w, "%s (%s, execution %d): compatible\n", in.ID, in.Orchestration, in.Execution)
		case in.Divergence != nil:
			fmt.Fprintf(w, "%s (%s, execution %d): diverges\n", in.ID, in.Orchestration, in.Execution)
			printDivergence(w, in.Divergence.Code, in.Divergence.Index, in.Divergence.Message, in.Divergence.Recorded, in.Divergence.Got)
		default:
			fmt.Fprintf(w, "%s (%s, execution %d): cannot check: %s\n", in.ID, in.Orchestration, in.Execution, in.Error)
		}
	}
	verdict := "compatible"
	if !ch.Compatible {
		verdict = "incompatible"
	}
	more := ""
	if ch.Truncated {
		more = " (a sample: there are more)"
	}
	fmt.Fprintf(w, "%s: %d open instances checked%s\n", verdict, ch.Checked, more)
}

func startCommand() *cli.Command {
	return &cli.Command{
		Name: "start", Usage: "start an instance of an orchestration", ArgsUsage: "ORCHESTRATION",
		Description: `Starts an instance on the server of --server, or without it in the store of --store (the
default namespace, where durohost run registers the orchestrations of its modules): there
the instance waits until a host on that store runs it (a durohost run, or durohost worker
--store ...).`,
		Flags: append(instanceFlags(),
			&cli.StringFlag{Name: "input", Usage: "input `JSON` (@FILE reads a file, - stdin)"},
			&cli.StringFlag{Name: "id", Usage: "instance `ID` (default: a random one)"},
			&cli.StringFlag{Name: "version", Usage: "orchestration `VERSION` (default: the latest upload)"}),
		Action: clientAction(func(c *cli.Context, a *apiClient) error {
			if err := args(c, 1, 1, "ORCHESTRATION"); err != nil {
				return err
			}
			req := map[string]any{"name": c.Args().First()}
			if s := c.String("input"); s != "" {
				in, err := payloadArg(c, s)
				if err != nil {
					return err
				}
				if !json.Valid(in) {
					return exitWith(exitError, "start: --input is not JSON: %s", short(in))
				}
				req["input"] = json.RawMessage(in)
			}
			for _, k := range []string{"id", "version"} {
				if v := c.String(k); v != "" {
					req[k] = v
				}
			}
			var in apiInstance
			data, err := a.call(c.Context, "POST", "/v1/instances", req, &in)
			if err != nil || c.Bool("json") {
				return jsonOr(c, data, err)
			}
			fmt.Fprintln(c.App.Writer, in.ID)
			return nil
		}),
	}
}

// instanceCommand is a command about one instance: ID is its first argument.
func instanceCommand(name, usage, argsUsage string, flags []cli.Flag, min, max int, fn func(c *cli.Context, a *apiClient, id string) error) *cli.Command {
	return &cli.Command{
		Name: name, Usage: usage, ArgsUsage: argsUsage, Flags: append(instanceFlags(), flags...),
		Action: clientAction(func(c *cli.Context, a *apiClient) error {
			if err := args(c, min, max, argsUsage); err != nil {
				return err
			}
			return fn(c, a, c.Args().First())
		}),
	}
}

func statusCommand() *cli.Command {
	return instanceCommand("status", "show an instance's status", "ID", nil, 1, 1, func(c *cli.Context, a *apiClient, id string) error {
		var in apiInstance
		data, err := a.call(c.Context, "GET", "/v1/instances/"+seg(id), nil, &in)
		if err != nil || c.Bool("json") {
			return jsonOr(c, data, err)
		}
		printInstance(c, &in)
		return nil
	})
}

func printInstance(c *cli.Context, in *apiInstance) {
	w := c.App.Writer
	fmt.Fprintf(w, "id:             %s\norchestration:  %s\nstatus:         %s\n", in.ID, strings.TrimSuffix(in.Name+"@"+in.Version, "@"), in.Status)
	if in.Execution > 1 {
		fmt.Fprintf(w, "execution:      %d\n", in.Execution)
	}
	if in.CreatedAt != "" {
		fmt.Fprintf(w, "created:        %s\n", when(in.CreatedAt))
	}
	if in.CompletedAt != "" {
		fmt.Fprintf(w, "completed:      %s\n", when(in.CompletedAt))
	}
	if len(in.CustomStatus) > 0 || in.CustomStatusBase64 != "" {
		fmt.Fprintf(w, "custom status:  %s\n", rawOr(in.CustomStatus, in.CustomStatusBase64))
	}
	if len(in.Output) > 0 || in.OutputBase64 != "" {
		fmt.Fprintf(w, "output:         %s\n", rawOr(in.Output, in.OutputBase64))
	}
	if len(in.Failure) > 0 {
		var f struct{ Kind, Code, Message string }
		json.Unmarshal(in.Failure, &f)
		fmt.Fprintf(w, "failure:        %s\n", strings.TrimSpace(fmt.Sprintf("%s [%s] %s", f.Kind, f.Code, f.Message)))
	}
}

func rawOr(raw json.RawMessage, b64 string) string {
	if len(raw) > 0 {
		return string(raw)
	}
	return "base64:" + b64
}

func waitCommand() *cli.Command {
	flags := []cli.Flag{&cli.DurationFlag{Name: "timeout", Usage: "give up after `DURATION` (0: wait for ever)"}}
	return instanceCommand("wait", "wait for an instance to end and print its output (exit 1 if it failed or was cancelled, 2 on --timeout)", "ID", flags, 1, 1,
		func(c *cli.Context, a *apiClient, id string) error {
			var deadline time.Time
			if d := c.Duration("timeout"); d > 0 {
				deadline = time.Now().Add(d)
			}
			for {
				poll := 60 * time.Second
				if !deadline.IsZero() {
					poll = min(poll, time.Until(deadline))
				}
				var in apiInstance
				data, err := a.call(c.Context, "GET", "/v1/instances/"+seg(id)+"/wait?timeout="+poll.Round(time.Millisecond).String(), nil, &in)
				if err != nil {
					return err
				}
				finished := in.Status == "completed" || in.Status == "failed" || in.Status == "cancelled"
				if finished || (!deadline.IsZero() && !time.Now().Before(deadline)) {
					if c.Bool("json") {
						printJSON(c.App.Writer, data)
					} else if in.Status == "completed" {
						fmt.Fprintln(c.App.Writer, rawOr(in.Output, in.OutputBase64))
					} else {
						printInstance(c, &in)
					}
					switch {
					case !finished:
						return exitWith(exitTimeout, "wait: %s is still %s after %s", id, in.Status, c.Duration("timeout"))
					case in.Status != "completed":
						return exitWith(exitError, "")
					}
					return nil
				}
			}
		})
}

// apiCustomStatus is the document of GET /v1/instances/{id}/custom-status.
type apiCustomStatus struct {
	CustomStatus       json.RawMessage `json:"custom_status"`
	CustomStatusBase64 string          `json:"custom_status_base64"`
	ETag               string          `json:"etag"`
	Status             string          `json:"status"`
}

func customStatusCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.BoolFlag{Name: "watch", Usage: "print the value, then each new one as it changes, until the instance ends"},
		&cli.DurationFlag{Name: "timeout", Usage: "with --watch: stop after `DURATION` (exit 2; 0: watch for ever)"},
	}
	return instanceCommand("custom-status", "print an instance's custom status (null: none); with --watch, each change until it ends", "ID", flags, 1, 1,
		func(c *cli.Context, a *apiClient, id string) error {
			path := "/v1/instances/" + seg(id) + "/custom-status"
			var deadline time.Time
			if d := c.Duration("timeout"); d > 0 {
				if !c.Bool("watch") {
					return exitWith(exitError, "custom-status: --timeout goes with --watch")
				}
				deadline = time.Now().Add(d)
			}
			q, last := "", ""
			for {
				var cs apiCustomStatus
				data, err := a.call(c.Context, "GET", path+q, nil, &cs)
				if err != nil {
					return err
				}
				if q == "" || cs.ETag != last {
					printCustomStatus(c, data, &cs)
				}
				last = cs.ETag
				finished := cs.Status == "completed" || cs.Status == "failed" || cs.Status == "cancelled"
				if !c.Bool("watch") || finished {
					return nil
				}
				// Long-poll for the next value, a minute at a time.
				poll := 60 * time.Second
				if !deadline.IsZero() {
					if poll = min(poll, time.Until(deadline)); poll <= 0 {
						return exitWith(exitTimeout, "custom-status: %s is still %s after %s", id, cs.Status, c.Duration("timeout"))
					}
				}
				q = "?wait_for_change=" + url.QueryEscape(last) + "&timeout=" + poll.Round(time.Millisecond).String()
			}
		})
}

// printCustomStatus prints a custom status: the value, or with --json the server's document
// (one line each under --watch).
func printCustomStatus(c *cli.Context, data []byte, cs *apiCustomStatus) {
	w := c.App.Writer
	switch {
	case c.Bool("json") && c.Bool("watch"):
		var buf bytes.Buffer
		if json.Compact(&buf, data) != nil {
			buf.Reset()
			buf.Write(bytes.TrimSpace(data))
		}
		fmt.Fprintln(w, buf.String())
	case c.Bool("json"):
		printJSON(w, data)
	case len(cs.CustomStatus) == 0 && cs.CustomStatusBase64 == "":
		fmt.Fprintln(w, "null")
	default:
		fmt.Fprintln(w, rawOr(cs.CustomStatus, cs.CustomStatusBase64))
	}
}

func historyCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.UintFlag{Name: "execution", Usage: "execution `N` (default: the current one)"},
		&cli.BoolFlag{Name: "decisions", Usage: "print only the decisions the code made (what it scheduled, waited for, and how it ended), without turn markers and inputs"},
	}
	return instanceCommand("history", "print an instance's history (a timeline, or with --json the file `durohost replay --history` reads)", "ID", flags, 1, 1,
		func(c *cli.Context, a *apiClient, id string) error {
			if c.Bool("decisions") && c.Bool("json") {
				return exitWith(exitError, "history: --decisions is for reading; --json writes the whole history, which replay needs")
			}
			path := "/v1/instances/" + seg(id) + "/history"
			if n := c.Uint("execution"); n > 0 {
				path += "?execution=" + strconv.FormatUint(uint64(n), 10)
			}
			data, err := a.call(c.Context, "GET", path, nil, nil)
			if err != nil || c.Bool("json") {
				return jsonOr(c, data, err)
			}
			doc, err := parseHistoryDoc(data)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "%s, execution %d\n", id, doc.Execution)
			if c.Bool("decisions") {
				doc.Events = slices.DeleteFunc(doc.Events, func(e history.Event) bool { return !e.Kind.IsDecision() })
			}
			printTimeline(c.App.Writer, doc.Events)
			return nil
		})
}

func signalCommand(name, usage, what, segment string) *cli.Command {
	flags := []cli.Flag{&cli.BoolFlag{Name: "raw", Usage: "send DATA as it is, without checking that it is JSON (the SDKs' typed helpers decode JSON)"}}
	return instanceCommand(name, usage, "ID "+what+" [DATA]", flags, 2, 3, func(c *cli.Context, a *apiClient, id string) error {
		var data []byte
		if c.NArg() == 3 {
			var err error
			if data, err = payloadArg(c, c.Args().Get(2)); err != nil {
				return err
			}
			// A shell eats quotes: refuse what the orchestration's JSON decoding would fail on.
			if !c.Bool("raw") && len(data) > 0 && !json.Valid(data) {
				return exitWith(exitError, "%s: DATA is not JSON: %s (a JSON string needs its quotes: '\"text\"'; --raw sends it as it is)", name, shortText(data))
			}
		}
		if _, err := a.do(c.Context, "POST", "/v1/instances/"+seg(id)+"/"+segment+"/"+seg(c.Args().Get(1)), strings.NewReader(string(data)), "application/json"); err != nil {
			return err
		}
		if !c.Bool("json") {
			fmt.Fprintf(c.App.Writer, "sent %s %q to %s\n", strings.TrimSuffix(segment, "s"), c.Args().Get(1), id)
		}
		return nil
	})
}

func cancelCommand() *cli.Command {
	flags := []cli.Flag{&cli.StringFlag{Name: "reason", Usage: "why (recorded in the history)"}}
	return instanceCommand("cancel", "cancel an instance (its activities are withdrawn, its children cancelled)", "ID", flags, 1, 1,
		func(c *cli.Context, a *apiClient, id string) error {
			if _, err := a.call(c.Context, "POST", "/v1/instances/"+seg(id)+"/cancel", map[string]string{"reason": c.String("reason")}, nil); err != nil {
				return err
			}
			if !c.Bool("json") {
				fmt.Fprintf(c.App.Writer, "cancellation of %s requested\n", id)
			}
			return nil
		})
}

func rmCommand() *cli.Command {
	flags := []cli.Flag{&cli.BoolFlag{Name: "force", Usage: "delete even if running"}}
	return instanceCommand("rm", "delete instances with their sub-orchestrations (running ones only with --force)", "ID...", flags, 1, 1<<20,
		func(c *cli.Context, a *apiClient, _ string) error {
			for _, id := range c.Args().Slice() {
				path := "/v1/instances/" + seg(id)
				if c.Bool("force") {
					path += "?force=true"
				}
				if _, err := a.call(c.Context, "DELETE", path, nil, nil); err != nil {
					return fmt.Errorf("%s: %w", id, err)
				}
				if !c.Bool("json") {
					fmt.Fprintf(c.App.Writer, "deleted %s\n", id)
				}
			}
			return nil
		})
}

func pruneCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.IntFlag{Name: "keep-last", Usage: "keep the `N` most recent executions (the current one counts)"},
		&cli.DurationFlag{Name: "older-than", Usage: "prune only executions that ended more than `DURATION` ago"},
	}
	return instanceCommand("prune", "delete old executions of an instance (never the current one)", "ID", flags, 1, 1,
		func(c *cli.Context, a *apiClient, id string) error {
			req := map[string]any{"keep_last": c.Int("keep-last"), "before": time.Now().Add(-c.Duration("older-than")).UTC()}
			var resp struct{ Pruned int }
			data, err := a.call(c.Context, "POST", "/v1/instances/"+seg(id)+"/prune", req, &resp)
			if err != nil || c.Bool("json") {
				return jsonOr(c, data, err)
			}
			fmt.Fprintf(c.App.Writer, "pruned %d executions of %s\n", resp.Pruned, id)
			return nil
		})
}

func listCommand() *cli.Command {
	return &cli.Command{
		Name: "list", Usage: "list the instances of your namespace (or of the local store)",
		Flags: append(instanceFlags(),
			&cli.StringFlag{Name: "status", Usage: "only these `STATUSES` (comma-separated: pending, running, completed, failed, cancelled)"},
			&cli.StringFlag{Name: "name", Usage: "only instances of `ORCHESTRATION`"},
			&cli.StringFlag{Name: "prefix", Usage: "only IDs starting with `PREFIX`"},
			&cli.IntFlag{Name: "limit", Usage: "print at most `N` instances (0: all)"}),
		Action: clientAction(func(c *cli.Context, a *apiClient) error {
			if err := args(c, 0, 0, "no argument"); err != nil {
				return err
			}
			q := url.Values{}
			for _, k := range []string{"status", "name", "prefix"} {
				if v := c.String(k); v != "" {
					q.Set(k, v)
				}
			}
			var all []json.RawMessage
			var rows []apiInstance
			limit := c.Int("limit")
			for {
				var page struct {
					Instances []json.RawMessage `json:"instances"`
					Next      string            `json:"next_page_token"`
				}
				if _, err := a.call(c.Context, "GET", "/v1/instances?"+q.Encode(), nil, &page); err != nil {
					return err
				}
				for _, raw := range page.Instances {
					if limit > 0 && len(all) >= limit {
						break
					}
					var in apiInstance
					json.Unmarshal(raw, &in)
					all, rows = append(all, raw), append(rows, in)
				}
				if page.Next == "" || (limit > 0 && len(all) >= limit) {
					break
				}
				q.Set("page_token", page.Next)
			}
			if c.Bool("json") {
				if all == nil {
					all = []json.RawMessage{}
				}
				data, _ := json.Marshal(map[string]any{"instances": all})
				return printJSON(c.App.Writer, data)
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tORCHESTRATION\tCREATED")
			for _, in := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", in.ID, in.Status, in.Name, when(in.CreatedAt))
			}
			return tw.Flush()
		}),
	}
}

// clientCommands are the commands that talk to a server.
func clientCommands() []*cli.Command {
	cmds := []*cli.Command{
		moduleCommand(), startCommand(), statusCommand(), waitCommand(), customStatusCommand(), historyCommand(),
		signalCommand("raise", "raise an external event on an instance", "EVENT", "events"),
		signalCommand("enqueue", "add a message to an instance's persistent queue", "QUEUE", "queues"),
		cancelCommand(), listCommand(), rmCommand(), pruneCommand(),
	}
	for _, c := range cmds {
		c.Category = "Instances and modules (a local store, or a server with --server and --token)"
	}
	return cmds
}
