package builtin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/durohost/durohost/abi"
)

// activities returns the built-in activities for cfg, failing the test on a config error.
func activities(t *testing.T, cfg Config) map[string]ActivityFunc {
	t.Helper()
	acts, err := Activities(cfg)
	if err != nil {
		t.Fatalf("Activities: %v", err)
	}
	return acts
}

// wantError checks err against want: "" means no error; otherwise err must contain want,
// and unwrap to sentinel when it is not nil.
func wantError(t *testing.T, err error, want string, sentinel error) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Fatalf("error %q is not %v", err, sentinel)
	}
}

func TestEcho(t *testing.T) {
	echo := activities(t, Config{})["echo"]
	tests := []struct {
		name, input, want string
	}{
		{"object", `{"a": [1, 2, {"b": null}]}`, ""},
		{"array", `[1,"x"]`, ""},
		{"string", `"hello"`, ""},
		{"number", `-1.5e3`, ""},
		{"null", `null`, ""},
		{"whitespace kept", " {\n\"a\" : 1 }\n", ""},
		{"empty", ``, `[DH-BUILTIN-001] echo: input is not valid JSON`},
		{"truncated", `{"a":`, `echo: input is not valid JSON`},
		{"not JSON", `hello`, `echo: input is not valid JSON`},
		{"two values", `1 2`, `echo: input is not valid JSON`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := echo(context.Background(), []byte(tt.input))
			wantError(t, err, tt.want, ErrInvalidInput)
			if err == nil && string(got) != tt.input {
				t.Fatalf("echo returned %q, want %q", got, tt.input)
			}
		})
	}
}

func TestSleepInput(t *testing.T) {
	sleep := activities(t, Config{})["sleep"]
	tests := []struct {
		name, input, want string
	}{
		{"zero", `{"ms": 0}`, ""},
		{"short", `{"ms": 1}`, ""},
		{"empty input", ``, `[DH-BUILTIN-001] sleep: "ms" is required`},
		{"null", `null`, `sleep: "ms" is required`},
		{"no ms", `{}`, `sleep: "ms" is required`},
		{"negative", `{"ms": -1}`, `sleep: "ms" must be between 0 and 86400000`},
		{"too long", `{"ms": 86400001}`, `sleep: "ms" must be between 0 and 86400000`},
		{"string", `{"ms": "10"}`, `sleep: "ms" must be an integer, not string`},
		{"fraction", `{"ms": 1.5}`, `sleep: "ms" must be an integer, not number 1.5`},
		{"unknown field", `{"ms": 1, "sec": 2}`, `sleep: unknown field "sec" (known fields: ms)`},
		{"not an object", `[1]`, `sleep: input must be a JSON object, not array`},
		{"bad JSON", `{"ms": `, `sleep: input is not valid JSON`},
		{"syntax error", `{"ms" 1}`, `sleep: input is not valid JSON: invalid character '1'`},
		{"trailing data", `{"ms": 1} {}`, `sleep: input is not valid JSON: data after the top-level value`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sleep(context.Background(), []byte(tt.input))
			wantError(t, err, tt.want, ErrInvalidInput)
			if err == nil && string(got) != "null" {
				t.Fatalf("sleep returned %q, want null", got)
			}
		})
	}
}

func TestSleepCancel(t *testing.T) {
	sleep := activities(t, Config{})["sleep"]
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancelled before", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancelled during", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			go cancel()
			return ctx, cancel
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := sleep(ctx, []byte(`{"ms": 86400000}`))
				done <- err
			}()
			select {
			case err := <-done:
				if err != tt.want {
					t.Fatalf("sleep returned %v, want %v", err, tt.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("sleep did not return after its context was done")
			}
		})
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"zero", Config{}, ""},
		{"patterns", Config{AllowHTTP: []string{"a.org", "*.b.org", "c.org:8443", "127.0.0.1", "::1", "[::1]:80"}}, ""},
		{"negative body", Config{MaxBodyBytes: -1}, "MaxBodyBytes must not be negative"},
		{"negative timeout", Config{MaxShellTimeout: -1}, "MaxShellTimeout must not be negative"},
		{"URL pattern", Config{AllowHTTP: []string{"https://a.org"}}, `--allow-http "https://a.org": a host, not a URL, is expected`},
		{"bad wildcard", Config{AllowHTTP: []string{"a.*.org"}}, `a wildcard is only allowed as a leading "*."`},
		{"bare wildcard", Config{AllowHTTP: []string{"*"}}, `--allow-http "*"`},
		{"bad port", Config{AllowHTTP: []string{"a.org:http"}}, "the port must be a number"},
		{"empty", Config{AllowHTTP: []string{""}}, "empty pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acts, err := Activities(tt.cfg)
			wantError(t, err, tt.want, ErrInvalidConfig)
			if err == nil {
				var names []string
				for name := range acts {
					names = append(names, name)
				}
				slices.Sort(names)
				if want := []string{"echo", "http", "shell", "sleep"}; !slices.Equal(names, want) {
					t.Fatalf("activities %v, want %v", names, want)
				}
			}
		})
	}
}

func TestRegisterFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want Config
		err  string
	}{
		{"defaults", nil, Config{MaxBodyBytes: DefaultMaxBodyBytes, MaxHTTPTimeout: DefaultMaxHTTPTimeout,
			MaxOutputBytes: DefaultMaxOutputBytes, MaxShellTimeout: DefaultMaxShellTimeout}, ""},
		{"all", []string{"--allow-http", "a.org", "--allow-http=*.b.org, 127.0.0.1:8080", "--enable-shell",
			"--http-max-body", "100", "--http-max-timeout", "1m", "--shell-max-output", "10", "--shell-max-timeout", "2h"},
			Config{AllowHTTP: []string{"a.org", "*.b.org", "127.0.0.1:8080"}, EnableShell: true, MaxBodyBytes: 100,
				MaxHTTPTimeout: time.Minute, MaxOutputBytes: 10, MaxShellTimeout: 2 * time.Hour}, ""},
		{"bad pattern", []string{"--allow-http", "http://a.org/"}, Config{}, "a host, not a URL, is expected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg Config
			fs := flag.NewFlagSet("durohost", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			cfg.RegisterFlags(fs)
			err := fs.Parse(tt.args)
			wantError(t, err, tt.err, nil)
			if err != nil {
				return
			}
			if !slices.Equal(cfg.AllowHTTP, tt.want.AllowHTTP) {
				t.Fatalf("AllowHTTP %q, want %q", cfg.AllowHTTP, tt.want.AllowHTTP)
			}
			cfg.AllowHTTP, tt.want.AllowHTTP = nil, nil
			if !reflect.DeepEqual(cfg, tt.want) {
				t.Fatalf("config %+v, want %+v", cfg, tt.want)
			}
		})
	}
}

func TestDocs(t *testing.T) {
	acts := activities(t, Config{})
	docs := Docs()
	if len(docs) != len(acts) {
		t.Fatalf("%d docs for %d activities", len(docs), len(acts))
	}
	for _, d := range docs {
		t.Run(d.Name, func(t *testing.T) {
			if _, ok := acts[d.Name]; !ok {
				t.Fatalf("doc for unknown activity %q", d.Name)
			}
			if d.Summary == "" || d.Input == "" || d.Output == "" || d.Errors == "" {
				t.Fatalf("incomplete doc: %+v", d)
			}
			// The example input is accepted and the example output has the documented shape.
			var err error
			out := any(new(json.RawMessage))
			switch d.Name {
			case "echo":
				_, err = echo(context.Background(), []byte(d.Example))
			case "sleep":
				err = new(sleepInput).parse([]byte(d.Example))
			case "http":
				_, err = new(httpInput).parse([]byte(d.Example), DefaultMaxHTTPTimeout)
				out = new(httpOutput)
			case "shell":
				err = new(shellInput).parse([]byte(d.Example), DefaultMaxShellTimeout)
				out = new(shellOutput)
			}
			if err != nil {
				t.Fatalf("example input %s: %v", d.Example, err)
			}
			dec := json.NewDecoder(strings.NewReader(d.ExampleOutput))
			dec.DisallowUnknownFields()
			if err := dec.Decode(out); err != nil {
				t.Fatalf("example output %s: %v", d.ExampleOutput, err)
			}
			s := d.String()
			for _, part := range []string{d.Name + "\n", "Input:", "Output:", "Errors:", "Example input:", d.Example} {
				if !strings.Contains(s, part) {
					t.Fatalf("String() lacks %q:\n%s", part, s)
				}
			}
		})
	}
}

func TestErrorFailure(t *testing.T) {
	_, err := activities(t, Config{})["sleep"](context.Background(), []byte(`{}`))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not an *Error", err)
	}
	f := e.Failure()
	if f.Code != CodeInvalidInput || f.Message != `sleep: "ms" is required` {
		t.Fatalf("failure %+v", f)
	}
	if f.Error() != err.Error() {
		t.Fatalf("failure reads %q, error %q", f.Error(), err.Error())
	}
	var af *abi.Failure
	if !errors.As(fmt.Errorf("run activity: %w", err), &af) || af.Code != CodeInvalidInput || af.Kind != abi.FailureApplication {
		t.Fatalf("errors.As to *abi.Failure: %+v", af)
	}
	for sentinel, code := range codes {
		if !bytes.HasPrefix([]byte(code), []byte("DH-BUILTIN-")) {
			t.Fatalf("%v has code %q", sentinel, code)
		}
	}
}
