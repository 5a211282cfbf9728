package builtin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// testBodyCap is the MaxBodyBytes of the http tests.
const testBodyCap = 100

// newTestServer starts a loopback server for the http tests, closed when the test ends.
func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Add("X-Multi", "first")
		w.Header().Add("X-Multi", "second")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "%s %s x-req=%s body=%s", r.Method, r.Host, r.Header.Get("X-Req"), body)
	})
	mux.HandleFunc("/status/404", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusNotFound)
	})
	mux.HandleFunc("/status/500", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "broken", http.StatusInternalServerError)
	})
	mux.HandleFunc("/binary", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte{0xff, 0xfe, 0x00, 'a'})
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/exact", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", testBodyCap)))
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", testBodyCap+1)))
	})
	mux.HandleFunc("/redirect/ok", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/hello", http.StatusFound)
	})
	mux.HandleFunc("/redirect/evil", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://evil.example/steal", http.StatusFound)
	})
	mux.HandleFunc("/redirect/ftp", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "ftp://127.0.0.1/file", http.StatusFound)
	})
	mux.HandleFunc("/redirect/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/redirect/loop", http.StatusFound)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // until the client gives up
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// loopbackClient returns a client that connects to srv whatever the URL's host, so that
// host names can be tested while only 127.0.0.1 is contacted.
func loopbackClient(srv *httptest.Server) *http.Client {
	addr := srv.Listener.Addr().String()
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
}

// decodeHTTP decodes a result of the http activity strictly.
func decodeHTTP(t *testing.T, data []byte) httpOutput {
	t.Helper()
	var out httpOutput
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	if out.Body != nil && out.BodyBase64 != "" {
		t.Fatalf("both body and body_base64 in %s", data)
	}
	return out
}

func TestHTTP(t *testing.T) {
	srv := newTestServer(t)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	base := srv.URL
	req := func(fields string) string { return fmt.Sprintf(`{%s}`, fields) }
	get := func(path string) string { return req(fmt.Sprintf(`"url": %q`, base+path)) }
	loop := loopbackClient(srv)

	tests := []struct {
		name   string
		cfg    Config
		input  string
		status int
		body   string // the expected body; "b64:" prefix for body_base64
		header map[string]string
		err    string
		is     error
	}{
		{name: "GET", input: get("/hello"), status: 201,
			body:   fmt.Sprintf("GET 127.0.0.1:%d x-req= body=", port),
			header: map[string]string{"X-Multi": "first", "Content-Type": "text/plain; charset=utf-8"}},
		{name: "POST with headers and body", input: req(fmt.Sprintf(`"method": "post", "url": %q, "headers": {"X-Req": "v1"}, "body": "payload", "timeout_ms": 5000`, base+"/hello")),
			status: 201, body: fmt.Sprintf("POST 127.0.0.1:%d x-req=v1 body=payload", port)},
		{name: "404 is a result", input: get("/status/404"), status: 404, body: "nope\n"},
		{name: "500 is a result", input: get("/status/500"), status: 500, body: "broken\n"},
		{name: "empty body", input: get("/empty"), status: 204, body: ""},
		{name: "not UTF-8", input: get("/binary"), status: 200, body: "b64://4AYQ=="},
		{name: "body at the cap", input: get("/exact"), status: 200, body: strings.Repeat("x", testBodyCap)},
		{name: "body over the cap", input: get("/big"), is: ErrTooLarge,
			err: fmt.Sprintf("[DH-BUILTIN-004] http: GET %s/big: the response body exceeds 100 bytes; raise the limit with --http-max-body", base)},
		{name: "redirect to allowed", input: get("/redirect/ok"), status: 201,
			body: fmt.Sprintf("GET 127.0.0.1:%d x-req= body=", port)},
		{name: "redirect to disallowed", input: get("/redirect/evil"), is: ErrHostNotAllowed,
			err: `[DH-BUILTIN-002] http: redirect to host "evil.example" is not allowed; start durohost with --allow-http evil.example (allowed: 127.0.0.1)`},
		{name: "redirect to other scheme", input: get("/redirect/ftp"), is: ErrInvalidInput,
			err: `http: redirect to scheme "ftp" is not supported`},
		{name: "redirect loop", input: get("/redirect/loop"), err: "stopped after 10 redirects"},
		{name: "disallowed host", input: req(`"url": "http://example.com/"`), is: ErrHostNotAllowed,
			err: `[DH-BUILTIN-002] http: host "example.com" is not allowed; start durohost with --allow-http example.com (allowed: 127.0.0.1)`},
		{name: "empty allow-list", cfg: Config{}, input: get("/hello"), is: ErrHostNotAllowed,
			err: fmt.Sprintf(`host "127.0.0.1:%d" is not allowed; start durohost with --allow-http 127.0.0.1 (allowed: none)`, port)},
		{name: "other port", cfg: Config{AllowHTTP: []string{"127.0.0.1:1"}}, input: get("/hello"), is: ErrHostNotAllowed,
			err: "is not allowed"},
		{name: "exact port", cfg: Config{AllowHTTP: []string{fmt.Sprintf("127.0.0.1:%d", port)}}, input: get("/hello"), status: 201,
			body: fmt.Sprintf("GET 127.0.0.1:%d x-req= body=", port)},
		{name: "wildcard", cfg: Config{AllowHTTP: []string{"*.example.org"}, HTTPClient: loop},
			input: req(`"url": "http://api.example.org/hello"`), status: 201, body: "GET api.example.org x-req= body="},
		{name: "wildcard redirect to disallowed", cfg: Config{AllowHTTP: []string{"*.example.org"}, HTTPClient: loop},
			input: req(`"url": "http://api.example.org/redirect/evil"`), is: ErrHostNotAllowed, err: `redirect to host "evil.example"`},
		{name: "wildcard not apex", cfg: Config{AllowHTTP: []string{"*.example.org"}, HTTPClient: loop},
			input: req(`"url": "http://example.org/hello"`), is: ErrHostNotAllowed, err: "--allow-http example.org"},
		{name: "timeout", input: req(fmt.Sprintf(`"url": %q, "timeout_ms": 50`, base+"/slow")), is: ErrTimeout,
			err: fmt.Sprintf(`[DH-BUILTIN-005] http: GET %s/slow: no complete response within 50 ms ("timeout_ms")`, base)},
		{name: "no url", input: `{}`, is: ErrInvalidInput, err: `[DH-BUILTIN-001] http: "url" is required`},
		{name: "empty input", input: ``, is: ErrInvalidInput, err: `http: "url" is required`},
		{name: "bad url", input: req(`"url": "http://a b/"`), is: ErrInvalidInput, err: `http: "url" is not a valid URL`},
		{name: "no scheme", input: req(`"url": "127.0.0.1/x"`), is: ErrInvalidInput, err: `http: scheme "" is not supported; use http or https`},
		{name: "file scheme", input: req(`"url": "file:///etc/passwd"`), is: ErrInvalidInput, err: `http: scheme "file" is not supported`},
		{name: "no host", input: req(`"url": "http:///x"`), is: ErrInvalidInput, err: `has no host`},
		{name: "bad method", input: req(`"method": "GE T", "url": "http://127.0.0.1/"`), is: ErrInvalidInput, err: `http: "method" "GE T" is not a valid HTTP method`},
		{name: "Host header", input: req(`"url": "http://127.0.0.1/", "headers": {"host": "evil.example"}`), is: ErrInvalidInput, err: `http: "headers": Host cannot be set`},
		{name: "bad header name", input: req(`"url": "http://127.0.0.1/", "headers": {"X Y": "1"}`), is: ErrInvalidInput, err: `http: "headers": "X Y" is not a valid header name`},
		{name: "header injection", input: req(`"url": "http://127.0.0.1/", "headers": {"X": "1\r\nY: 2"}`), is: ErrInvalidInput, err: `must not contain CR, LF or NUL`},
		{name: "headers not strings", input: req(`"url": "http://127.0.0.1/", "headers": {"X": 1}`), is: ErrInvalidInput, err: `http: "headers" must be an object of strings, but an element is number`},
		{name: "zero timeout", input: req(`"url": "http://127.0.0.1/", "timeout_ms": 0`), is: ErrInvalidInput, err: `http: "timeout_ms" must be between 1 and 600000 (raise the maximum with --http-max-timeout)`},
		{name: "timeout over max", cfg: Config{AllowHTTP: []string{"127.0.0.1"}, MaxHTTPTimeout: time.Second},
			input: req(`"url": "http://127.0.0.1/", "timeout_ms": 1001`), is: ErrInvalidInput, err: `"timeout_ms" must be between 1 and 1000`},
		{name: "typo", input: req(`"url": "http://127.0.0.1/", "timeout": 5`), is: ErrInvalidInput,
			err: `http: unknown field "timeout" (known fields: body, headers, method, timeout_ms, url)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if cfg.AllowHTTP == nil && cfg.HTTPClient == nil && !strings.HasPrefix(tt.name, "empty allow-list") {
				cfg.AllowHTTP = []string{"127.0.0.1"}
			}
			cfg.MaxBodyBytes = testBodyCap
			data, err := activities(t, cfg)["http"](context.Background(), []byte(tt.input))
			wantError(t, err, tt.err, tt.is)
			if err != nil {
				return
			}
			out := decodeHTTP(t, data)
			if out.Status != tt.status {
				t.Fatalf("status %d, want %d", out.Status, tt.status)
			}
			if b64, ok := strings.CutPrefix(tt.body, "b64:"); ok {
				if out.BodyBase64 != b64 {
					t.Fatalf("body_base64 %q, want %q", out.BodyBase64, b64)
				}
			} else if out.Body == nil || *out.Body != tt.body {
				t.Fatalf("body %s, want %q", data, tt.body)
			}
			for k, v := range tt.header {
				if out.Headers[k] != v {
					t.Fatalf("header %s: %q, want %q (headers %v)", k, out.Headers[k], v, out.Headers)
				}
			}
		})
	}
}

func TestHTTPCancel(t *testing.T) {
	srv := newTestServer(t)
	http := activities(t, Config{AllowHTTP: []string{"127.0.0.1"}})["http"]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := http(ctx, []byte(fmt.Sprintf(`{"url": %q}`, srv.URL+"/slow")))
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
		var e *Error
		if errors.As(err, &e) {
			t.Fatalf("cancellation reported as %v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("http did not return after its context was cancelled")
	}
}

func TestHTTPNetworkError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	_, err := activities(t, Config{AllowHTTP: []string{"127.0.0.1"}})["http"](context.Background(), []byte(fmt.Sprintf(`{"url": %q}`, url)))
	if err == nil || !strings.HasPrefix(err.Error(), "http: ") {
		t.Fatalf("error %v, want a network error", err)
	}
	var e *Error
	if errors.As(err, &e) {
		t.Fatalf("network error reported as %v", e)
	}
}

// TestHTTPClientRedirectPolicy checks that a client's own CheckRedirect still runs after
// the allow-list check.
func TestHTTPClientRedirectPolicy(t *testing.T) {
	srv := newTestServer(t)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	data, err := activities(t, Config{AllowHTTP: []string{"127.0.0.1"}, HTTPClient: client})["http"](
		context.Background(), []byte(fmt.Sprintf(`{"url": %q}`, srv.URL+"/redirect/ok")))
	if err != nil {
		t.Fatal(err)
	}
	if out := decodeHTTP(t, data); out.Status != http.StatusFound || out.Headers["Location"] != "/hello" {
		t.Fatalf("result %s, want the redirect itself", data)
	}
}
