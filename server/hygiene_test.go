package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durohost/durohost/store"
)

// failsafe bounds how long a test waits for an answer the server owes within its (much
// shorter) timeouts: reaching it means the server held the connection.
const failsafe = 20 * time.Second

// rawRequest opens a connection to the env's server and writes head (a request line and
// headers, "\r\n"-separated, without the final blank line) and body.
func (e *env) rawRequest(head string, body []byte) net.Conn {
	e.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	must(e.t, err)
	e.t.Cleanup(func() { conn.Close() })
	_, err = io.WriteString(conn, head+"\r\n\r\n")
	must(e.t, err)
	if len(body) > 0 {
		_, err = conn.Write(body)
		must(e.t, err)
	}
	return conn
}

// readAnswer reads one response from conn, failing the test if none comes before failsafe.
func readAnswer(t *testing.T, conn net.Conn, br *bufio.Reader) reply {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(failsafe))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	must(t, err)
	return reply{resp.StatusCode, data, resp.Header}
}

// expectClosed fails unless the server closes conn (before failsafe).
func expectClosed(t *testing.T, conn net.Conn, br *bufio.Reader) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(failsafe))
	if n, err := br.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("the connection is still open (read %d bytes, %v)", n, err)
	}
}

// shortTimeouts are timeouts a test can wait out.
var shortTimeouts = Timeouts{ReadHeader: 300 * time.Millisecond, Read: 300 * time.Millisecond,
	Write: 500 * time.Millisecond, Idle: 300 * time.Millisecond, Upload: 400 * time.Millisecond}

func TestStalledConnections(t *testing.T) {
	e := newEnvWith(t, envConfig{stopped: true}, WithTimeouts(shortTimeouts))
	e.upload(tokA, "hello", "1", wat(t, "hello.wasm"))
	e.start(tokA, "wat_hello", "p", nil) // pending: the host does not run it
	var reads atomic.Int64
	setBodyHook(t, func() { reads.Add(1) })

	t.Run("no token, body never sent", func(t *testing.T) {
		// Answered at once (no read of the body), then closed.
		conn := e.rawRequest("POST /v1/instances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100", nil)
		br := bufio.NewReader(conn)
		r := readAnswer(t, conn, br)
		if r.status != http.StatusUnauthorized || r.code(t) != CodeUnauthenticated {
			t.Fatalf("status %d, body %s", r.status, r.body)
		}
		expectClosed(t, conn, br)
	})
	t.Run("no token, upload of 64 MiB, one byte sent", func(t *testing.T) {
		conn := e.rawRequest(fmt.Sprintf("PUT /v1/modules/m HTTP/1.1\r\nHost: x\r\nContent-Length: %d", 64<<20), []byte{0})
		br := bufio.NewReader(conn)
		if r := readAnswer(t, conn, br); r.status != http.StatusUnauthorized {
			t.Fatalf("status %d, body %s", r.status, r.body)
		}
		expectClosed(t, conn, br)
	})
	if n := reads.Load(); n != 0 {
		t.Fatalf("the server read %d bodies of unauthenticated requests", n)
	}

	for _, tc := range []struct {
		name, head string
	}{
		{"JSON body never sent", "POST /v1/instances HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tokA + "\r\nContent-Type: application/json\r\nContent-Length: 100"},
		{"event data never sent", "POST /v1/instances/p/events/e HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tokA + "\r\nContent-Length: 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The body does not arrive within the read timeout: 408, or a closed connection.
			conn := e.rawRequest(tc.head, []byte("{"))
			br := bufio.NewReader(conn)
			conn.SetReadDeadline(time.Now().Add(failsafe))
			resp, err := http.ReadResponse(br, nil)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusRequestTimeout:
				default:
					t.Fatalf("status %d", resp.StatusCode)
				}
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("neither answered nor closed: %v", err)
			}
			expectClosed(t, conn, br)
		})
	}

	t.Run("idle keep-alive", func(t *testing.T) {
		conn := e.rawRequest("GET /healthz HTTP/1.1\r\nHost: x", nil)
		br := bufio.NewReader(conn)
		if r := readAnswer(t, conn, br); r.status != http.StatusOK {
			t.Fatalf("status %d", r.status)
		}
		expectClosed(t, conn, br)
	})
	t.Run("headers never finished", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
		must(t, err)
		defer conn.Close()
		_, err = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
		must(t, err)
		expectClosed(t, conn, bufio.NewReader(conn))
	})
}

func TestStalledBodyAnswered408(t *testing.T) {
	e := newEnv(t, WithTimeouts(shortTimeouts))
	conn := e.rawRequest("POST /v1/instances HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tokA+"\r\nContent-Type: application/json\r\nContent-Length: 100", []byte("{"))
	br := bufio.NewReader(conn)
	r := readAnswer(t, conn, br)
	if r.status != http.StatusRequestTimeout || r.code(t) != CodeRequestTimeout {
		t.Fatalf("status %d, body %s", r.status, r.body)
	}
	expectClosed(t, conn, br)
}

func TestLongPollOutlivesTimeouts(t *testing.T) {
	// A long-poll longer than the read and write timeouts is answered: the handler extends
	// its deadlines (without that, the server would cancel the request at the read timeout).
	e := newEnvWith(t, envConfig{stopped: true}, WithTimeouts(shortTimeouts), WithMaxWait(5*time.Second))
	e.upload(tokA, "hello", "1", wat(t, "hello.wasm"))
	e.start(tokA, "wat_hello", "p", nil)
	wait := 4 * (shortTimeouts.Read + shortTimeouts.Write)
	r := e.expect(tokA, "GET", "/v1/instances/p/wait?timeout="+wait.String(), nil, http.StatusOK, "").obj(t)
	if r["status"] != "pending" {
		t.Fatalf("wait: %v", r)
	}
	r = e.expect(tokA, "GET", "/v1/instances/p/custom-status", nil, http.StatusOK, "").obj(t)
	r = e.expect(tokA, "GET", "/v1/instances/p/custom-status?timeout="+wait.String()+"&wait_for_change="+r["etag"].(string), nil, http.StatusOK, "").obj(t)
	if r["status"] != "pending" {
		t.Fatalf("custom status: %v", r)
	}
}

func TestTimeoutsValidated(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		t       Timeouts
		mention string
	}{
		{Timeouts{Read: -time.Second}, "read timeout -1s is negative"},
		{Timeouts{Idle: -time.Second}, "idle timeout"},
		{Timeouts{Read: time.Minute, Write: time.Second}, "shorter than the read timeout"},
	} {
		if _, err := New(e.h, e.st, WithTokens(NewToken("a", "x")), WithTimeouts(tc.t)); err == nil || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%+v: %v, want an error mentioning %q", tc.t, err, tc.mention)
		}
	}
	srv, err := New(e.h, e.st, WithTokens(NewToken("a", "x")), WithTimeouts(Timeouts{Read: 2 * time.Minute, Write: 3 * time.Minute}))
	must(t, err)
	hs := srv.HTTPServer(":1")
	if hs.Addr != ":1" || hs.ReadTimeout != 2*time.Minute || hs.WriteTimeout != 3*time.Minute ||
		hs.ReadHeaderTimeout != DefaultTimeouts.ReadHeader || hs.IdleTimeout != DefaultTimeouts.Idle || hs.MaxHeaderBytes != DefaultMaxHeaderBytes {
		t.Fatalf("HTTPServer: %+v", hs)
	}
}

// failingStore fails the calls the tests choose, with an error whose text must not reach the
// client; it counts its readiness probes.
type failingStore struct {
	store.Store
	fail           error
	panics         bool
	lookups, pings atomic.Int64
}

func (f *failingStore) Instance(ctx context.Context, id string) (*store.Instance, error) {
	f.lookups.Add(1)
	if f.panics {
		panic("the store panicked at /var/secret/state")
	}
	if f.fail != nil {
		return nil, f.fail
	}
	return f.Store.Instance(ctx, id)
}

// pingingStore is a failingStore that implements Ping.
type pingingStore struct{ *failingStore }

func (p pingingStore) Ping(ctx context.Context) error {
	p.pings.Add(1)
	return p.fail
}

// logBuffer is a concurrency-safe buffer for a logger.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func TestInternalErrorsAreGeneric(t *testing.T) {
	e := newEnv(t)
	secret := errors.New("database disk image is malformed at /var/secret/state.db")
	for _, tc := range []struct {
		name  string
		store *failingStore
		want  string // in the log
	}{
		{"error", &failingStore{fail: secret}, "/var/secret/state.db"},
		{"panic", &failingStore{panics: true}, "the store panicked at /var/secret/state"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.store.Store = e.st
			var log logBuffer
			srv, err := New(e.h, tc.store, WithTokens(NewToken("a", tokA)), WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
			must(t, err)
			req, _ := http.NewRequest("GET", "/v1/instances/x", nil)
			req.Header.Set("Authorization", "Bearer "+tokA)
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, req)
			r := reply{w.Code, w.Body.Bytes(), w.Header()}
			if r.status != http.StatusInternalServerError || r.code(t) != CodeInternal {
				t.Fatalf("status %d, body %s", r.status, r.body)
			}
			id := r.header.Get(RequestIDHeader)
			e := r.obj(t)["error"].(map[string]any)
			if len(id) != 16 || e["request_id"] != id || !strings.Contains(e["message"].(string), id) {
				t.Fatalf("request ID %q, error %v", id, e)
			}
			if strings.Contains(string(r.body), "secret") {
				t.Fatalf("the answer shows the internal error: %s", r.body)
			}
			if l := log.String(); !strings.Contains(l, "request_id="+id) || !strings.Contains(l, tc.want) {
				t.Fatalf("the log does not hold the error under the request ID %s:\n%s", id, l)
			}
		})
	}
	// The client's errors keep their messages; every answer has a request ID.
	r := e.expect(tokA, "GET", "/v1/instances/nope", nil, http.StatusNotFound, CodeInstanceNotFound)
	if !strings.Contains(string(r.body), `no instance \"nope\"`) || len(r.header.Get(RequestIDHeader)) != 16 {
		t.Fatalf("404: %s %v", r.body, r.header)
	}
	if a, b := e.call("", "GET", "/healthz", nil).header.Get(RequestIDHeader), r.header.Get(RequestIDHeader); a == b {
		t.Fatalf("two requests have the request ID %s", a)
	}
}

func TestReadyIsCheap(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name  string
		store func(*failingStore) store.Store
		calls func(*failingStore) int64
	}{
		{"lookup", func(f *failingStore) store.Store { return f }, func(f *failingStore) int64 { return f.lookups.Load() }},
		{"ping", func(f *failingStore) store.Store { return pingingStore{f} }, func(f *failingStore) int64 { return f.pings.Load() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &failingStore{Store: e.st}
			srv, err := New(e.h, tc.store(f), WithTokens(NewToken("a", tokA)))
			must(t, err)
			srv.readiness.interval = time.Hour
			ready := func() reply {
				w := httptest.NewRecorder()
				srv.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
				return reply{w.Code, w.Body.Bytes(), w.Header()}
			}
			if r := ready(); r.status != http.StatusOK {
				t.Fatalf("status %d, body %s", r.status, r.body)
			}
			// Many calls within the interval ask the store once.
			for range 50 {
				ready()
			}
			if n := tc.calls(f); n != 1 {
				t.Fatalf("the store was asked %d times", n)
			}
			if f.lookups.Load()+f.pings.Load() != tc.calls(f) {
				t.Fatalf("lookups %d, pings %d", f.lookups.Load(), f.pings.Load())
			}
			// A store that fails: 503, without its message.
			f.fail = errors.New("disk on fire at /var/secret")
			srv.readiness.mu.Lock()
			srv.readiness.at = time.Time{}
			srv.readiness.mu.Unlock()
			if r := ready(); r.status != http.StatusServiceUnavailable || r.code(t) != CodeUnavailable || strings.Contains(string(r.body), "secret") {
				t.Fatalf("status %d, body %s", r.status, r.body)
			}
		})
	}
}

func TestReadBody(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 100<<10)
	for _, tc := range []struct {
		name            string
		body            []byte
		declared, limit int64
		wantCap         int // 0: not checked
		tooBig          bool
	}{
		{"empty", nil, 0, 10, 0, false},
		{"declared", long, int64(len(long)), 1 << 20, len(long), false},
		{"undeclared", long, -1, 1 << 20, 0, false},
		{"at the limit", long, -1, int64(len(long)), 0, false},
		{"over the limit", long, -1, int64(len(long)) - 1, 0, true},
		{"declared over the limit", long, int64(len(long)), 1000, 0, true},
		{"more than declared", long, 10, 1 << 20, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readBody(bytes.NewReader(tc.body), tc.declared, tc.limit)
			var tooBig *http.MaxBytesError
			if tc.tooBig != errors.As(err, &tooBig) || (!tc.tooBig && err != nil) {
				t.Fatalf("err %v, want too big %v", err, tc.tooBig)
			}
			if tc.tooBig {
				return
			}
			if !bytes.Equal(got, tc.body) {
				t.Fatalf("read %d bytes, want %d", len(got), len(tc.body))
			}
			if tc.wantCap > 0 && cap(got) != tc.wantCap {
				t.Fatalf("buffer of %d bytes for a body of %d", cap(got), len(got))
			}
		})
	}
}

// setBodyHook sets the hook readBody calls when a body's first bytes arrive, for the test.
func setBodyHook(t *testing.T, fn func()) {
	bodyArrived.Store(&fn)
	t.Cleanup(func() { bodyArrived.Store(nil) })
}

// TestAbandonedLongPollNotAnError: a client that gives up a long-poll (the console leaving a
// page) is not a failure of the server: nothing is logged at error level.
func TestAbandonedLongPollNotAnError(t *testing.T) {
	log := &logBuffer{}
	e := newEnv(t, WithLogger(slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	e.upload(tokA, "guest", "1", goGuest(t))
	ev := e.start(tokA, "event", "ev", nil)
	e.waitFor(tokA, ev, "running", func(m map[string]any) bool { return m["status"] == "running" })
	for _, path := range []string{"/v1/instances/ev/wait?timeout=30s"} {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		req, err := http.NewRequestWithContext(ctx, "GET", e.url+path, nil)
		must(t, err)
		req.Header.Set("Authorization", "Bearer "+tokA)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("GET %s answered %s before the client gave up", path, resp.Status)
		}
		cancel()
	}
	// The handler notices the abandoned request and ends; wait until it said so.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "request abandoned by the client") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(log.String(), "request abandoned by the client") {
		t.Fatalf("the abandoned request was not logged; log:\n%s", log.String())
	}
	if strings.Contains(log.String(), "level=ERROR") {
		t.Fatalf("an abandoned long-poll was logged as an error:\n%s", log.String())
	}
}
