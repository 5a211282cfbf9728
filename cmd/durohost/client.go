package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
)

// Environment variables of the client commands.
const (
	// envServer is the default of --server.
	envServer = "DUROHOST_SERVER"
	// envToken is the default of --token.
	envToken = "DUROHOST_TOKEN"
)

// clientFlags are the flags of every command that talks to a server.
func clientFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "server", Usage: "`URL` of a durohost server (e.g. http://" + defaultListen + "); without it, the instance commands act on the store of --store", EnvVars: []string{envServer}},
		&cli.StringFlag{Name: "token", Usage: "bearer `TOKEN` of your namespace on --server", EnvVars: []string{envToken}},
		&cli.BoolFlag{Name: "json", Usage: "print the API's JSON instead of text"},
	}
}

// instanceFlags are the flags of the commands about instances, which work on a server or, without
// --server, on a store of this machine (client_local.go).
func instanceFlags() []cli.Flag {
	f := storeFlag().(*cli.StringFlag)
	f.Usage = "without --server: the `STORE` of the instances (a SQLite file or a postgres:// URL), as for durohost run (default: $" + envStore + ", else run's default store)"
	return append(clientFlags(), f)
}

// apiClient calls the HTTP API of a server, or answers its requests from a local store.
type apiClient struct {
	base, token string
	http        *http.Client
	// close releases the local store (nil with a server).
	close func() error
}

// newAPIClient returns the client of --server; without it, one that acts on the local store
// when the command has --store (the instance commands), or an error.
func newAPIClient(c *cli.Context) (*apiClient, error) {
	base := strings.TrimRight(c.String("server"), "/")
	if base == "" {
		if !hasFlag(c.Command, "store") {
			hint := ""
			if c.Command.Name == "replay" {
				hint = "; for an instance of a local store, save its history with 'durohost history ID --json > h.json' and give --history h.json"
			}
			return nil, exitWith(exitError, "%s needs a server: give --server URL (or $%s) and --token%s", commandPath(c), envServer, hint)
		}
		l, closeStore, err := openLocalAPI(c)
		if err != nil {
			return nil, exitWith(exitError, "%s: %s", c.Command.FullName(), oneLine(err.Error()))
		}
		return &apiClient{base: "local:", http: &http.Client{Transport: l}, close: closeStore}, nil
	}
	if hasFlag(c.Command, "store") && c.IsSet("store") {
		return nil, exitWith(exitError, "%s: give --server or --store, not both (--store names a store of this machine)", c.Command.FullName())
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, exitWith(exitError, "--server %q: want a URL such as http://127.0.0.1:8233", base)
	}
	return &apiClient{base: base, token: c.String("token"), http: &http.Client{}}, nil
}

// commandPath names the command of c with its parents ("module list").
func commandPath(c *cli.Context) string {
	var names []string
	for _, ctx := range c.Lineage() {
		if ctx.Command != nil && ctx.Command.Name != "" {
			names = append([]string{ctx.Command.Name}, names...)
		}
	}
	return strings.Join(names, " ")
}

// hasFlag reports whether cmd defines the flag called name.
func hasFlag(cmd *cli.Command, name string) bool {
	if cmd == nil {
		return false
	}
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

// apiError is an error response of the server.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// do sends a request and returns the body of a 2xx response; other statuses are *apiError.
func (a *apiClient) do(ctx context.Context, method, path string, body io.Reader, contentType string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && (errors.Is(err, syscall.ECONNREFUSED) || ue.Timeout()) {
			return nil, fmt.Errorf("%s %s: %v (is a durohost serve listening there? without --server, the instance commands act on the local store)", method, a.base+path, ue.Err)
		}
		return nil, fmt.Errorf("%s %s: %v", method, a.base+path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v", method, a.base+path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error *apiError `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error == nil {
			return nil, &apiError{Status: resp.StatusCode, Code: "http_" + fmt.Sprint(resp.StatusCode), Message: strings.TrimSpace(string(data))}
		}
		e.Error.Status = resp.StatusCode
		if resp.StatusCode == http.StatusUnauthorized {
			e.Error.Message += " (give --token or $" + envToken + ")"
		}
		return nil, e.Error
	}
	return data, nil
}

// getJSON sends a request and decodes the response into v (when not nil).
func (a *apiClient) call(ctx context.Context, method, path string, body any, v any) ([]byte, error) {
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd, ct = bytes.NewReader(b), "application/json"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd, ct = bytes.NewReader(data), "application/json"
	}
	data, err := a.do(ctx, method, path, rd, ct)
	if err != nil {
		return nil, err
	}
	if v != nil && len(data) > 0 {
		if err := json.Unmarshal(data, v); err != nil {
			return nil, fmt.Errorf("%s %s: bad response: %v", method, path, err)
		}
	}
	return data, nil
}

// clientAction wraps the action of a client command: it makes the client and turns API
// errors into one-line messages with exit code 1.
func clientAction(fn func(c *cli.Context, a *apiClient) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		a, err := newAPIClient(c)
		if err != nil {
			return err
		}
		if a.close != nil {
			defer a.close()
		}
		if err := fn(c, a); err != nil {
			if _, ok := err.(*exitCodeError); ok {
				return err
			}
			return exitWith(exitError, "%s: %s", c.Command.FullName(), oneLine(err.Error()))
		}
		return nil
	}
}

// printJSON prints a response body as indented JSON.
func printJSON(w io.Writer, data []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(data), "", "  "); err != nil {
		_, err = w.Write(data)
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// args checks the number of positional arguments.
func args(c *cli.Context, min, max int, usage string) error {
	if n := c.NArg(); n < min || n > max {
		return exitWith(exitError, "%s: want %s (see 'durohost %s --help')", c.Command.FullName(), usage, c.Command.FullName())
	}
	return nil
}

// payloadArg returns a payload given as an argument: JSON text, or @FILE, or - for stdin.
func payloadArg(c *cli.Context, s string) ([]byte, error) {
	switch {
	case s == "-":
		return io.ReadAll(c.App.Reader)
	case strings.HasPrefix(s, "@"):
		return os.ReadFile(s[1:])
	}
	return []byte(s), nil
}

func seg(s string) string { return url.PathEscape(s) }

// shortHash is the first 12 hex digits of a hash.
func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// when formats a time of a response for people.
func when(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// subcommand returns the subcommand of cmd that args[2] names, if any.
func subcommand(cmd *cli.Command, args []string) *cli.Command {
	if len(args) < 3 || len(cmd.Subcommands) == 0 {
		return nil
	}
	return cmd.Command(args[2])
}
