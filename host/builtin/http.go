package builtin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/durohost/durohost/host"
)

// httpInput is the input of the http activity.
type httpInput struct {
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      string            `json:"body"`
	TimeoutMS *int64            `json:"timeout_ms"`
}

// httpOutput is the result of the http activity. Exactly one of Body and BodyBase64 is set.
type httpOutput struct {
	Status     int               `json:"status"`
	Headers    map[string]string `json:"headers"`
	Body       *string           `json:"body,omitempty"`
	BodyBase64 string            `json:"body_base64,omitempty"`
}

// httpActivity sends requests to allowed hosts.
type httpActivity struct {
	cfg    Config
	allow  allowList
	client *http.Client
	// lists caches the parsed http hosts of namespace policies, by their patterns.
	lists sync.Map
}

// errHTTPTimeout is the cause of the context of a request whose "timeout_ms" passed.
var errHTTPTimeout = errors.New("http timeout_ms passed")

// newHTTPActivity returns the http activity for cfg (normalised) and its allow-list.
func newHTTPActivity(cfg Config, allow allowList) *httpActivity {
	h := &httpActivity{cfg: cfg, allow: allow}
	var client http.Client
	if cfg.HTTPClient != nil {
		client = *cfg.HTTPClient
	}
	next := client.CheckRedirect
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := h.check(req.Context(), req.URL, "redirect to "); err != nil {
			return err
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	h.client = &client
	return h
}

// check returns an *Error unless u is an http(s) URL whose host is allowed: by the
// HTTPHosts of the calling namespace's policy when the host gives one (host.ActivityNamespace),
// by Config.AllowHTTP otherwise. what prefixes the message ("redirect to ").
func (h *httpActivity) check(ctx context.Context, u *url.URL, what string) error {
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	default:
		return newError("http", ErrInvalidInput, "%sscheme %q is not supported; use http or https", what, u.Scheme)
	}
	if u.Hostname() == "" {
		return newError("http", ErrInvalidInput, "%s%q has no host", what, u.Redacted())
	}
	allow, patterns, how := h.allow, h.cfg.AllowHTTP, "start durohost with --allow-http"
	if info, ok := host.ActivityNamespace(ctx); ok && info.HTTPHosts != nil {
		var err error
		if allow, err = h.namespaceList(info.HTTPHosts); err != nil {
			return newError("http", ErrHostNotAllowed, "the http hosts of namespace %q are malformed: %v", info.Namespace, err)
		}
		patterns, how = info.HTTPHosts, fmt.Sprintf("add it to the http hosts of namespace %q:", info.Namespace)
	}
	if !allow.allows(u) {
		host := u.Hostname()
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		return newError("http", ErrHostNotAllowed, "%shost %q is not allowed; %s %s (allowed: %s)",
			what, u.Host, how, host, allowed(patterns))
	}
	return nil
}

// namespaceList returns the parsed allow-list of a namespace's http hosts (parsed once).
func (h *httpActivity) namespaceList(patterns []string) (allowList, error) {
	key := strings.Join(patterns, "\n")
	if l, ok := h.lists.Load(key); ok {
		return l.(allowList), nil
	}
	l, err := parseAllowList(patterns)
	if err != nil {
		return nil, err
	}
	h.lists.Store(key, l)
	return l, nil
}

// allowed lists an allow-list for error messages.
func allowed(patterns []string) string {
	if len(patterns) == 0 {
		return "none"
	}
	return strings.Join(patterns, ", ")
}

// parse decodes and validates the input of http.
func (in *httpInput) parse(input []byte, maxTimeout time.Duration) (*url.URL, error) {
	if err := decode("http", input, in); err != nil {
		return nil, err
	}
	bad := func(format string, args ...any) (*url.URL, error) {
		return nil, newError("http", ErrInvalidInput, format, args...)
	}
	if in.Method == "" {
		in.Method = http.MethodGet
	}
	in.Method = strings.ToUpper(in.Method)
	if !isToken(in.Method) {
		return bad(`"method" %q is not a valid HTTP method`, in.Method)
	}
	if in.URL == "" {
		return bad(`"url" is required`)
	}
	u, err := url.Parse(in.URL)
	if err != nil {
		return bad(`"url" is not a valid URL: %v`, errors.Unwrap(err))
	}
	for k, v := range in.Headers {
		switch {
		case !isToken(k):
			return bad(`"headers": %q is not a valid header name`, k)
		case strings.ContainsAny(v, "\r\n\x00"):
			return bad(`"headers": the value of %q must not contain CR, LF or NUL`, k)
		case strings.EqualFold(k, "Host"):
			return bad(`"headers": Host cannot be set; it is taken from "url"`)
		}
	}
	maxMS := maxTimeout.Milliseconds()
	if in.TimeoutMS == nil {
		ms := min(HTTPTimeout.Milliseconds(), maxMS)
		in.TimeoutMS = &ms
	}
	if *in.TimeoutMS < 1 || *in.TimeoutMS > maxMS {
		return bad(`"timeout_ms" must be between 1 and %d (raise the maximum with --http-max-timeout)`, maxMS)
	}
	return u, nil
}

// isToken reports whether s is an RFC 9110 token (a method or header name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r >= 0x80 || !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

// run is the http activity.
func (h *httpActivity) run(ctx context.Context, input []byte) ([]byte, error) {
	var in httpInput
	u, err := in.parse(input, h.cfg.MaxHTTPTimeout)
	if err != nil {
		return nil, err
	}
	if err := h.check(ctx, u, ""); err != nil {
		return nil, err
	}
	timeout := time.Duration(*in.TimeoutMS) * time.Millisecond
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errHTTPTimeout)
	defer cancel()
	var body io.Reader
	if in.Body != "" {
		body = strings.NewReader(in.Body)
	}
	req, err := http.NewRequestWithContext(ctx, in.Method, u.String(), body)
	if err != nil {
		return nil, newError("http", ErrInvalidInput, "%v", err)
	}
	for k, v := range in.Headers {
		req.Header.Set(k, v)
	}
	fail := func(err error) ([]byte, error) {
		var e *Error
		switch {
		case errors.As(err, &e):
			return nil, e
		case context.Cause(ctx) == errHTTPTimeout:
			return nil, newError("http", ErrTimeout, "%s %s: no complete response within %d ms (\"timeout_ms\")", in.Method, u.Redacted(), *in.TimeoutMS)
		}
		return nil, fmt.Errorf("http: %w", err)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, h.cfg.MaxBodyBytes+1))
	if err != nil {
		return fail(fmt.Errorf("read response body of %s %s: %w", in.Method, u.Redacted(), err))
	}
	if int64(len(data)) > h.cfg.MaxBodyBytes {
		return nil, newError("http", ErrTooLarge, "%s %s: the response body exceeds %d bytes; raise the limit with --http-max-body",
			in.Method, resp.Request.URL.Redacted(), h.cfg.MaxBodyBytes)
	}
	out := httpOutput{Status: resp.StatusCode, Headers: make(map[string]string, len(resp.Header))}
	for k, vs := range resp.Header {
		if len(vs) > 0 {
			out.Headers[k] = vs[0]
		}
	}
	if utf8.Valid(data) {
		s := string(data)
		out.Body = &s
	} else {
		out.BodyBase64 = base64.StdEncoding.EncodeToString(data)
	}
	return json.Marshal(out)
}
