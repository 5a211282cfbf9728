package builtin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"time"
)

// Defaults applied by Activities to the zero fields of a Config.
const (
	// DefaultMaxBodyBytes caps an HTTP response body: 10 MiB.
	DefaultMaxBodyBytes int64 = 10 << 20
	// DefaultMaxHTTPTimeout is the largest "timeout_ms" the http activity accepts: 10 minutes.
	DefaultMaxHTTPTimeout = 10 * time.Minute
	// DefaultMaxOutputBytes caps each of a command's stdout and stderr: 1 MiB.
	DefaultMaxOutputBytes int64 = 1 << 20
	// DefaultMaxShellTimeout is the largest "timeout_ms" the shell activity accepts: 24 hours.
	DefaultMaxShellTimeout = 24 * time.Hour
)

// Fixed limits and defaults of the activities' inputs.
const (
	// MaxSleep is the longest "ms" the sleep activity accepts: 24 hours.
	MaxSleep = 24 * time.Hour
	// HTTPTimeout is the http activity's "timeout_ms" when the input omits it: 30 seconds.
	HTTPTimeout = 30 * time.Second
	// ShellTimeout is the shell activity's "timeout_ms" when the input omits it: 10 minutes.
	ShellTimeout = 10 * time.Minute
)

// Config says which built-in activities may do what. The zero Config is usable: http may
// contact no host, shell is disabled, and the limits take their defaults. Activities
// validates it and normalises the zero fields; the CLI sets it with RegisterFlags.
type Config struct {
	// AllowHTTP lists the hosts the http activity may contact (and be redirected to). Each
	// entry is an exact host name or IP address ("api.example.org", "127.0.0.1", "::1") or a
	// wildcard "*.example.org" that matches every name ending in ".example.org" (not
	// "example.org" itself), optionally followed by ":port" to allow that port only
	// ("api.example.org:8443", "[::1]:8080"). Matching is by name, case-insensitive, before any
	// DNS lookup. No entry allows every host.
	AllowHTTP []string
	// EnableShell lets the shell activity run commands. Without it the activity is still
	// registered but fails with ErrShellDisabled.
	EnableShell bool
	// MaxBodyBytes caps the HTTP response body the http activity reads; a larger body fails
	// with ErrTooLarge. 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxHTTPTimeout is the largest "timeout_ms" the http activity accepts. 0 means
	// DefaultMaxHTTPTimeout.
	MaxHTTPTimeout time.Duration
	// MaxOutputBytes caps each of stdout and stderr captured by the shell activity; beyond
	// it output is discarded and the result says "truncated". 0 means DefaultMaxOutputBytes.
	MaxOutputBytes int64
	// MaxShellTimeout is the largest "timeout_ms" the shell activity accepts. 0 means
	// DefaultMaxShellTimeout.
	MaxShellTimeout time.Duration
	// HTTPClient sends the http activity's requests (tests use it to reach an httptest
	// server). nil means a client with http.DefaultTransport. The activity uses a copy whose
	// CheckRedirect also enforces AllowHTTP before calling the client's own CheckRedirect;
	// the client's Timeout, if any, still applies.
	HTTPClient *http.Client
}

// ActivityFunc is the signature of an activity: it receives the input (JSON) and returns
// the result (JSON). ctx is cancelled when the orchestration no longer needs the result.
// It is an alias so that the functions returned by Activities can be registered on any
// host API that uses the same signature.
type ActivityFunc = func(ctx context.Context, input []byte) ([]byte, error)

// Activities validates cfg and returns the built-in activities by name: "echo", "sleep",
// "http" and "shell". Every activity is always present, so that a call fails with an error
// that says how to enable it (ErrHostNotAllowed, ErrShellDisabled) rather than waiting for a
// host that registers it. Docs describes them. The error wraps ErrInvalidConfig.
func Activities(cfg Config) (map[string]ActivityFunc, error) {
	cfg, allow, err := cfg.normalise()
	if err != nil {
		return nil, err
	}
	h := newHTTPActivity(cfg, allow)
	s := &shellActivity{cfg: cfg}
	return map[string]ActivityFunc{
		"echo":  echo,
		"sleep": sleep,
		"http":  h.run,
		"shell": s.run,
	}, nil
}

// normalise checks c, fills in its defaults and parses the allow-list.
func (c Config) normalise() (Config, allowList, error) {
	var errs []error
	check := func(name string, negative bool) {
		if negative {
			errs = append(errs, fmt.Errorf("%w: %s must not be negative", ErrInvalidConfig, name))
		}
	}
	check("MaxBodyBytes", c.MaxBodyBytes < 0)
	check("MaxHTTPTimeout", c.MaxHTTPTimeout < 0)
	check("MaxOutputBytes", c.MaxOutputBytes < 0)
	check("MaxShellTimeout", c.MaxShellTimeout < 0)
	allow, err := parseAllowList(c.AllowHTTP)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return c, nil, errors.Join(errs...)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxHTTPTimeout == 0 {
		c.MaxHTTPTimeout = DefaultMaxHTTPTimeout
	}
	if c.MaxOutputBytes == 0 {
		c.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if c.MaxShellTimeout == 0 {
		c.MaxShellTimeout = DefaultMaxShellTimeout
	}
	c.AllowHTTP = append([]string(nil), c.AllowHTTP...)
	return c, allow, nil
}

// RegisterFlags defines on fs the command-line flags that set c, with the names the
// activities' error messages point to:
//
//	--allow-http HOST            add HOST to AllowHTTP (repeatable; commas separate several)
//	--enable-shell               set EnableShell
//	--http-max-body BYTES        set MaxBodyBytes
//	--http-max-timeout DURATION  set MaxHTTPTimeout
//	--shell-max-output BYTES     set MaxOutputBytes
//	--shell-max-timeout DURATION set MaxShellTimeout
//
// A malformed --allow-http pattern is reported when the flags are parsed.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Func("allow-http", "let the http activity contact `HOST`: a name, an IP, or *.suffix, optionally with :port (repeatable; commas separate several)", func(s string) error {
		for _, p := range strings.Split(s, ",") {
			p = strings.TrimSpace(p)
			if _, err := parsePattern(p); err != nil {
				return err
			}
			c.AllowHTTP = append(c.AllowHTTP, p)
		}
		return nil
	})
	fs.BoolVar(&c.EnableShell, "enable-shell", c.EnableShell, "let the shell activity run commands (arbitrary code on this machine)")
	fs.Int64Var(&c.MaxBodyBytes, "http-max-body", orDefault(c.MaxBodyBytes, DefaultMaxBodyBytes), "largest HTTP response body, in `bytes`, the http activity reads")
	fs.DurationVar(&c.MaxHTTPTimeout, "http-max-timeout", orDefault(c.MaxHTTPTimeout, DefaultMaxHTTPTimeout), "largest timeout_ms the http activity accepts")
	fs.Int64Var(&c.MaxOutputBytes, "shell-max-output", orDefault(c.MaxOutputBytes, DefaultMaxOutputBytes), "largest stdout and stderr, in `bytes`, the shell activity captures")
	fs.DurationVar(&c.MaxShellTimeout, "shell-max-timeout", orDefault(c.MaxShellTimeout, DefaultMaxShellTimeout), "largest timeout_ms the shell activity accepts")
}

// orDefault returns v, or def when v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// echo returns its input, which must be JSON, unchanged.
func echo(_ context.Context, input []byte) ([]byte, error) {
	if !json.Valid(input) {
		return nil, newError("echo", ErrInvalidInput, "input is not valid JSON")
	}
	return input, nil
}

// sleepInput is the input of the sleep activity.
type sleepInput struct {
	MS *int64 `json:"ms"`
}

// parse decodes and validates the input of sleep.
func (in *sleepInput) parse(input []byte) error {
	if err := decode("sleep", input, in); err != nil {
		return err
	}
	if in.MS == nil {
		return newError("sleep", ErrInvalidInput, `"ms" is required`)
	}
	if *in.MS < 0 || *in.MS > MaxSleep.Milliseconds() {
		return newError("sleep", ErrInvalidInput, `"ms" must be between 0 and %d`, MaxSleep.Milliseconds())
	}
	return nil
}

// sleep waits the input's "ms" milliseconds, or until ctx is done, and returns null.
func sleep(ctx context.Context, input []byte) ([]byte, error) {
	var in sleepInput
	if err := in.parse(input); err != nil {
		return nil, err
	}
	t := time.NewTimer(time.Duration(*in.MS) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return []byte("null"), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// decode decodes input, a single JSON object (empty input counts as null, i.e. no fields),
// into the struct v, rejecting unknown fields. Errors name the activity and the field.
func decode(activity string, input []byte, v any) error {
	if len(bytes.TrimSpace(input)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(input))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		var extra json.RawMessage
		if dec.Decode(&extra) != io.EOF {
			return newError(activity, ErrInvalidInput, "input is not valid JSON: data after the top-level value")
		}
		return nil
	}
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return newError(activity, ErrInvalidInput, "input is not valid JSON: %s (at byte %d)", syntax.Error(), syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return newError(activity, ErrInvalidInput, "input is not valid JSON: unexpected end of input")
	case errors.As(err, &typ):
		got := typ.Value
		if typ.Field == "" {
			return newError(activity, ErrInvalidInput, "input must be %s, not %s", describeType(typ.Type), got)
		}
		if ft := fieldType(v, typ.Field); ft != nil && ft != typ.Type && (ft.Kind() == reflect.Map || ft.Kind() == reflect.Slice) {
			return newError(activity, ErrInvalidInput, "%q must be %s, but an element is %s", typ.Field, describeType(ft), got)
		}
		return newError(activity, ErrInvalidInput, "%q must be %s, not %s", typ.Field, describeType(typ.Type), got)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return newError(activity, ErrInvalidInput, "unknown field %s (known fields: %s)", field, strings.Join(fieldNames(v), ", "))
	}
	return newError(activity, ErrInvalidInput, "input is not valid: %v", err)
}

// describeType names a Go type the way a JSON user would ("an integer", "an object").
func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return describeType(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(describeType(t.Elem()), "an "), "a ") + "s"
	case reflect.Map:
		return "an object of " + strings.TrimPrefix(strings.TrimPrefix(describeType(t.Elem()), "an "), "a ") + "s"
	case reflect.Struct:
		return "a JSON object"
	}
	return t.String()
}

// fieldType returns the type of the field of the struct *v whose JSON name is name, or nil.
func fieldType(v any, name string) reflect.Type {
	t := reflect.TypeOf(v).Elem()
	for i := range t.NumField() {
		if n, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); n == name {
			return t.Field(i).Type
		}
	}
	return nil
}

// fieldNames lists the JSON names of the fields of the struct *v, sorted.
func fieldNames(v any) []string {
	t := reflect.TypeOf(v).Elem()
	var names []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}
