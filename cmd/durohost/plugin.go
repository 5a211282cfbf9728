package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/durohost/durohost/host"
)

// apiPlugin is a plugin version as the API describes it (server/plugins.go).
type apiPlugin struct {
	Name            string            `json:"name"`
	Version         string            `json:"version"`
	Hash            string            `json:"sha256"`
	Size            int64             `json:"size"`
	Functions       []string          `json:"functions"`
	Activities      []string          `json:"activities"`
	AllowedHosts    []string          `json:"allowed_hosts"`
	Config          map[string]string `json:"config"`
	MemoryPages     uint32            `json:"memory_pages"`
	Timeout         string            `json:"timeout"`
	MaxOutput       int               `json:"max_output"`
	MaxHTTPResponse int64             `json:"max_http_response"`
	WASI            bool              `json:"wasi"`
	UploadedAt      string            `json:"uploaded_at"`
	Created         *bool             `json:"created"`
}

// pluginCommand is `durohost plugin push|list|show|rm`: the plugins of your namespace on a
// server, whose functions are activities of its orchestrations.
func pluginCommand() *cli.Command {
	p := &cli.Command{
		Name:     "plugin",
		Usage:    "upload, list, show and delete activity plugins (Extism) on a server",
		Category: "Instances and modules (a local store, or a server with --server and --token)",
		Description: "A plugin is an Extism plugin (a WebAssembly module built with an Extism PDK, or against\n" +
			"Extism's kernel ABI). Each function it exports is the activity NAME.FUNCTION of your\n" +
			"namespace's orchestrations. It runs sandboxed: no WASI unless --wasi, HTTP only to the\n" +
			"--allow-host hosts, within --memory-limit, --timeout and --max-output.",
		Subcommands: []*cli.Command{
			{
				Name: "push", Usage: "upload a plugin (a version of NAME)", ArgsUsage: "FILE.wasm",
				Flags: append(clientFlags(),
					&cli.StringFlag{Name: "name", Usage: "plugin `NAME` (default: the file name without .wasm)"},
					&cli.StringFlag{Name: "version", Usage: "`VERSION` (default: sha256:<digest of the bytes and the settings>)"},
					&cli.StringSliceFlag{Name: "allow-host", Usage: "a `HOST` (or pattern, *.example.org) its HTTP requests may reach; repeat for several (default: none)"},
					&cli.GenericFlag{Name: "config", Value: &repeated{}, Usage: "`KEY=VALUE` the plugin reads with config_get (the value may hold commas); repeat for several"},
					&cli.StringFlag{Name: "memory-limit", Usage: "`SIZE` of each of its memories, e.g. 16MiB (default 16MiB)"},
					&cli.DurationFlag{Name: "timeout", DefaultText: "30s", Usage: "bound of one call (`DURATION`): a call that outlasts it fails with a timeout"},
					&cli.StringFlag{Name: "max-output", Usage: "`SIZE` of one call's output (default: the server's payload limit)"},
					&cli.BoolFlag{Name: "wasi", Usage: "give it WASI preview 1 (clocks, randomness; no files, environment or arguments)"}),
				Action: clientAction(pluginPush),
			},
			{
				Name: "list", Usage: "list the plugins of your namespace (every version, newest first)", Flags: clientFlags(),
				Action: clientAction(func(c *cli.Context, a *apiClient) error {
					if err := args(c, 0, 0, "no argument"); err != nil {
						return err
					}
					var resp struct{ Plugins []apiPlugin }
					data, err := a.call(c.Context, "GET", "/v1/plugins", nil, &resp)
					if err != nil || c.Bool("json") {
						return jsonOr(c, data, err)
					}
					tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "NAME\tVERSION\tHASH\tSIZE\tFUNCTIONS\tUPLOADED")
					for _, p := range resp.Plugins {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", p.Name, p.Version, shortHash(p.Hash), p.Size, strings.Join(p.Functions, ","), when(p.UploadedAt))
					}
					return tw.Flush()
				}),
			},
			{
				Name: "show", Usage: "show a plugin version (default: the newest): its activities and limits", ArgsUsage: "NAME [VERSION]", Flags: clientFlags(),
				Action: clientAction(func(c *cli.Context, a *apiClient) error {
					if err := args(c, 1, 2, "NAME [VERSION]"); err != nil {
						return err
					}
					name, version := c.Args().Get(0), c.Args().Get(1)
					var (
						p    apiPlugin
						data []byte
						err  error
					)
					if version != "" {
						data, err = a.call(c.Context, "GET", "/v1/plugins/"+seg(name)+"/versions/"+seg(version), nil, &p)
					} else {
						var resp struct{ Plugins []json.RawMessage }
						if data, err = a.call(c.Context, "GET", "/v1/plugins/"+seg(name), nil, &resp); err == nil {
							data = resp.Plugins[0] // the server answers 404 rather than no version
							err = json.Unmarshal(data, &p)
						}
					}
					if err != nil || c.Bool("json") {
						return jsonOr(c, data, err)
					}
					printPlugin(c, &p)
					return nil
				}),
			},
			{
				Name: "rm", Usage: "delete a plugin version, or every version; its activities then fail as unregistered", ArgsUsage: "NAME [VERSION]", Flags: clientFlags(),
				Action: clientAction(func(c *cli.Context, a *apiClient) error {
					if err := args(c, 1, 2, "NAME [VERSION]"); err != nil {
						return err
					}
					name, version := c.Args().Get(0), c.Args().Get(1)
					path := "/v1/plugins/" + seg(name)
					if version != "" {
						path += "/versions/" + seg(version)
					}
					var resp struct{ Deleted int }
					data, err := a.call(c.Context, "DELETE", path, nil, &resp)
					if err != nil || c.Bool("json") {
						return jsonOr(c, data, err)
					}
					fmt.Fprintf(c.App.Writer, "deleted %d version(s) of %s\n", resp.Deleted, name)
					return nil
				}),
			},
		},
	}
	for _, sub := range p.Subcommands {
		sub.OnUsageError, sub.HideHelp = usageError, true
		sub.Flags = append(sub.Flags, helpFlag())
	}
	return p
}

// repeated is the value of a flag that may be given several times, each value whole (a
// StringSliceFlag would split it at commas).
type repeated struct{ values []string }

// Set adds one value.
func (r *repeated) Set(v string) error {
	r.values = append(r.values, v)
	return nil
}

// String lists the values.
func (r *repeated) String() string { return strings.Join(r.values, " ") }

// pluginPush uploads a plugin: PUT /v1/plugins/NAME with its settings in the query.
func pluginPush(c *cli.Context, a *apiClient) error {
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
		name = pluginName(file)
	}
	q := url.Values{}
	if v := c.String("version"); v != "" {
		q.Set("version", v)
	}
	for _, h := range c.StringSlice("allow-host") {
		q.Add("allow_host", h)
	}
	for _, kv := range c.Generic("config").(*repeated).values {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return exitWith(exitError, "--config %q: want KEY=VALUE", kv)
		}
		q.Add("config", kv)
	}
	if s := c.String("memory-limit"); s != "" {
		pages, err := pagesOf(s)
		if err != nil {
			return exitWith(exitError, "--memory-limit: %v", err)
		}
		q.Set("memory_pages", strconv.FormatUint(uint64(pages), 10))
	}
	if c.IsSet("timeout") {
		if c.Duration("timeout") <= 0 {
			return exitWith(exitError, "--timeout %s: want a positive duration", c.Duration("timeout"))
		}
		q.Set("timeout", c.Duration("timeout").String())
	}
	if s := c.String("max-output"); s != "" {
		n, err := parseSize(s)
		if err != nil {
			return exitWith(exitError, "--max-output: %v", err)
		}
		q.Set("max_output", strconv.FormatInt(n, 10))
	}
	if c.Bool("wasi") {
		q.Set("wasi", "true")
	}
	path := "/v1/plugins/" + seg(name)
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	data, err := a.do(c.Context, "PUT", path, strings.NewReader(string(wasm)), "application/wasm")
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, data)
	}
	var p apiPlugin
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	what := "uploaded"
	if p.Created != nil && !*p.Created {
		what = "already uploaded"
	}
	fmt.Fprintf(c.App.Writer, "%s plugin %s version %s (sha256 %s): activities %s\n", what, p.Name, p.Version, shortHash(p.Hash), strings.Join(p.Activities, ", "))
	return nil
}

func printPlugin(c *cli.Context, p *apiPlugin) {
	w := c.App.Writer
	fmt.Fprintf(w, "name:            %s\nversion:         %s\nsha256:          %s\nsize:            %d bytes\n", p.Name, p.Version, p.Hash, p.Size)
	if p.UploadedAt != "" {
		fmt.Fprintf(w, "uploaded:        %s\n", when(p.UploadedAt))
	}
	fmt.Fprintf(w, "activities:      %s\n", strings.Join(p.Activities, ", "))
	hosts := "none"
	if len(p.AllowedHosts) > 0 {
		hosts = strings.Join(p.AllowedHosts, ", ")
	}
	fmt.Fprintf(w, "allowed hosts:   %s\n", hosts)
	fmt.Fprintf(w, "memory limit:    %s\ntimeout:         %s\nmax output:      %s\n", formatSize(int64(p.MemoryPages)*65536), p.Timeout, formatSize(int64(p.MaxOutput)))
	if p.WASI {
		fmt.Fprintln(w, "wasi:            yes")
	}
	for _, k := range slices.Sorted(maps.Keys(p.Config)) {
		fmt.Fprintf(w, "config:          %s=%s\n", k, p.Config[k])
	}
}

// pagesOf converts a memory size to 64 KiB pages, rounding up.
func pagesOf(s string) (uint32, error) {
	n, err := parseSize(s)
	if err != nil {
		return 0, err
	}
	pages := (n + 65535) / 65536
	if pages < 1 || pages > 65536 {
		return 0, fmt.Errorf("size %q: want 64KiB to 4GiB", s)
	}
	return uint32(pages), nil
}

// pluginName is the default name of a plugin file: its base name without the extension.
func pluginName(file string) string {
	return strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
}

// registerPluginFiles registers plugin files with a local host (`durohost run --plugin`),
// in the default namespace, in memory: each of files is FILE.wasm (named after the file) or
// NAME=FILE.wasm, and its functions become the activities NAME.FUNCTION. Their HTTP requests
// may reach the hosts of allowHosts (run's --allow-http; a port there is dropped: Extism
// matches host names) and no other host; as the operator chose those hosts, they may be at
// private or loopback addresses (PluginSpec.PrivateNetwork). It returns what it registered, or an error naming
// the file.
func registerPluginFiles(ctx context.Context, h *host.Host, files []string, allowHosts []string) ([]*host.PluginInfo, error) {
	var hosts []string
	for _, a := range allowHosts {
		if name, _, err := net.SplitHostPort(a); err == nil {
			a = name
		}
		if !slices.Contains(hosts, a) {
			hosts = append(hosts, a)
		}
	}
	allowHosts = hosts
	var out []*host.PluginInfo
	for _, f := range files {
		name, file, ok := strings.Cut(f, "=")
		if !ok {
			name, file = pluginName(f), f
		}
		info, err := h.RegisterPluginFile(ctx, file, host.PluginSpec{Name: name, AllowedHosts: allowHosts, PrivateNetwork: true})
		if err != nil {
			return out, fmt.Errorf("--plugin %s: %w", f, err)
		}
		out = append(out, info)
	}
	return out, nil
}
