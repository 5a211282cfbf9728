package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/durohost/durohost/host"
	"github.com/durohost/durohost/server"
)

var listening = regexp.MustCompile(`listening on (https?://(?:[0-9.]+|\[[0-9a-f:]*\]):\d+)`)

// loopbackURL is the URL of a server listening on all addresses (http://[::]:port) as a
// client on the machine reaches it.
func loopbackURL(t *testing.T, url string) string {
	t.Helper()
	scheme, addr, _ := strings.Cut(url, "://")
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return scheme + "://127.0.0.1:" + port
}

// startServer runs `durohost serve` as a process on a loopback port picked by the system,
// with env added to the environment, and returns it with its URL.
func startServer(t *testing.T, env []string, args ...string) (*process, string) {
	t.Helper()
	return startServerOn(t, "127.0.0.1:0", env, args...)
}

// startServerOn is startServer listening on listen.
func startServerOn(t *testing.T, listen string, env []string, args ...string) (*process, string) {
	t.Helper()
	p := startProcessEnv(t, env, binary(t), append([]string{"serve", "--listen", listen}, args...)...)
	var url string
	waitFor(t, 30*time.Second, "the server to listen", func() bool {
		select {
		case <-p.done:
			t.Fatalf("serve ended: %v", p)
		default:
		}
		if m := listening.FindStringSubmatch(p.stderr.String()); m != nil {
			url = m[1]
			return true
		}
		return false
	})
	return p, url
}

func TestServe(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "serve.json")
	// Namespace a from the file (secret and digest forms, write and read roles), namespace b
	// from the environment.
	if err := os.WriteFile(config, []byte(`{"tokens": [{"namespace": "a", "token": "secret-a"},
		{"namespace": "a", "token_sha256": "`+sha256Hex("secret-a2")+`", "role": "write"},
		{"namespace": "a", "token": "read-a", "role": "read"},
		{"namespace": "a", "token_sha256": "`+sha256Hex("read-a2")+`", "role": "read"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	p, url := startServer(t, []string{envTokens + "=b:secret-b,b:read:b:read"}, "--db", filepath.Join(dir, "s.db"), "--config", config)

	send := func(method, path, token string, body []byte) int {
		req, _ := http.NewRequest(method, url+path, bytes.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	wasm, err := os.ReadFile(watFixture("hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/healthz", "", 200}, {"GET", "/readyz", "", 200}, {"GET", "/v1/openapi.json", "", 200},
		{"GET", "/v1/instances", "", 401}, {"GET", "/v1/instances", "wrong", 401},
		{"GET", "/v1/instances", "secret-a", 200}, {"GET", "/v1/instances", "secret-a2", 200}, {"GET", "/v1/instances", "secret-b", 200},
		{"GET", "/v1/instances", "read-a", 200}, {"GET", "/v1/instances", "read-a2", 200}, {"GET", "/v1/instances", "read:b", 200},
		// Read tokens may not upload; the write token's upload is validated and stored.
		{"PUT", "/v1/modules/hello", "read-a", 403}, {"PUT", "/v1/modules/hello", "read-a2", 403}, {"PUT", "/v1/modules/hello", "read:b", 403},
		{"PUT", "/v1/modules/hello", "secret-a", 201},
	} {
		if got := send(tc.method, tc.path, tc.token, wasm); got != tc.want {
			t.Errorf("%s %s with %q: %d, want %d", tc.method, tc.path, tc.token, got, tc.want)
		}
	}

	if strings.Contains(p.stderr.String(), "warning") {
		t.Errorf("a server on loopback warns: %v", p)
	}
	stopServer(t, p)
}

// stopServer sends SIGTERM: the server stops and the process exits 0.
func stopServer(t *testing.T, p *process) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop on SIGTERM: %v", p)
	}
	if code := p.code(); code != 0 || !strings.Contains(p.stderr.String(), "stopped") {
		t.Fatalf("exit code %d: %v", code, p)
	}
}

func TestServeErrors(t *testing.T) {
	t.Setenv(envTokens, "")
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"tokens": [], "colour": "blue"}`), 0o600)
	empty := filepath.Join(dir, "empty.json")
	os.WriteFile(empty, []byte(`{"tokens": []}`), 0o600)
	both := filepath.Join(dir, "both.json")
	os.WriteFile(both, []byte(`{"tokens": [{"namespace": "a", "token": "x", "token_sha256": "`+sha256Hex("x")+`"}]}`), 0o600)
	badNS := filepath.Join(dir, "ns.json")
	os.WriteFile(badNS, []byte(`{"tokens": [{"namespace": "a/b", "token": "x"}]}`), 0o600)
	badRole := filepath.Join(dir, "role.json")
	os.WriteFile(badRole, []byte(`{"tokens": [{"namespace": "a", "token": "x"}, {"namespace": "a", "token": "y", "role": "admin"}]}`), 0o600)
	twoRoles := filepath.Join(dir, "roles.json")
	os.WriteFile(twoRoles, []byte(`{"tokens": [{"namespace": "a", "token": "x"}, {"namespace": "a", "token": "x", "role": "read"}]}`), 0o600)
	db := filepath.Join(dir, "e.db")
	write := func(name, doc string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	const tok = `"tokens": [{"namespace": "a", "token": "x"}]`
	oldSize := write("old.json", `{`+tok+`, "max_module_size": 1000}`)
	badLimit := write("limit.json", `{`+tok+`, "limits": {"turn_time": "soon"}}`)
	unboundNS := write("unbound.json", `{`+tok+`, "namespaces": {"b": {"max_instances": 1}}}`)
	shell := write("shell.json", `{`+tok+`, "namespaces": {"a": {"activities": ["echo", "shell"]}}}`)
	tlsHalf := write("tls.json", `{`+tok+`, "tls_cert": "cert.pem"}`)
	cert := write("cert.pem", "not a certificate")
	ok := write("ok.json", `{`+tok+`}`)
	twoStores := write("stores.json", `{`+tok+`, "store": "a.db", "db": "b.db"}`)
	badStore := write("badstore.json", `{`+tok+`, "store": "mysql://h/db"}`)
	for _, tc := range []struct {
		args    []string
		mention string
	}{
		{[]string{"serve", "--db", db, "--config", oldSize}, `{"limits": {"max_module_size": 1000}}`},
		{[]string{"serve", "--db", db, "--config", badLimit}, `limits.turn_time "soon": want a duration`},
		{[]string{"serve", "--db", db, "--config", ok, "--max-payload", "4MB"}, `--max-payload "4MB"`},
		{[]string{"serve", "--db", db, "--config", unboundNS}, `namespaces.b: no token is bound to namespace "b"`},
		{[]string{"serve", "--db", db, "--config", shell}, "shell is listed but --enable-shell is not given"},
		{[]string{"serve", "--db", db, "--config", tlsHalf}, "--tls-cert needs --tls-key"},
		{[]string{"serve", "--db", db, "--config", ok, "--tls-key", cert}, "--tls-key needs --tls-cert"},
		{[]string{"serve", "--db", db, "--config", ok, "--tls-key", cert, "--tls-cert", cert}, "cert.pem"},
		{[]string{"serve", "--db", db, "--config", badRole}, `tokens[1]: role "admin"`},
		{[]string{"serve", "--db", db, "--config", twoRoles, "--listen", "127.0.0.1:0"}, "has roles write and read"},
		{[]string{"serve", "--db", db, "--config", filepath.Join(dir, "missing.json")}, "missing.json"},
		{[]string{"serve", "--db", db, "--config", bad}, "colour"},
		{[]string{"serve", "--db", db, "--config", empty}, "no tokens"},
		{[]string{"serve", "--db", db, "--config", both}, "not both"},
		{[]string{"serve", "--db", db, "--config", badNS, "--listen", "127.0.0.1:0"}, "a/b"},
		{[]string{"serve", "--db", db}, "DUROHOST_TOKENS"},
		{[]string{"serve", "extra"}, "unexpected argument"},
		{[]string{"serve", "--config", twoStores}, `"store" and "db" name different stores`},
		{[]string{"serve", "--config", badStore}, "serve: config " + badStore + `: unknown store scheme "mysql"`},
		{[]string{"serve", "--store", "sqlite:", "--config", ok}, "serve: --store: sqlite: needs a file path"},
	} {
		r := runCLI(tc.args...)
		if r.code != exitError || !strings.Contains(r.stderr, tc.mention) {
			t.Errorf("%v: want exit 1 mentioning %q, got %v", tc.args, tc.mention, r)
		}
	}
	// Roles in $DUROHOST_TOKENS: an unknown one is an error that does not show the secret.
	for _, tc := range []struct {
		env, mention string
	}{
		{"a:x:admin", "not a role"},
		{"a:pass:word", "needs an explicit role"},
		{"a::read", "empty token"},
	} {
		t.Setenv(envTokens, tc.env)
		r := runCLI("serve", "--db", db)
		if r.code != exitError || !strings.Contains(r.stderr, envTokens) || !strings.Contains(r.stderr, tc.mention) ||
			strings.Contains(r.stderr, "admin") || strings.Contains(r.stderr, "word") {
			t.Errorf("%s=%s: want exit 1 mentioning %q without the secret, got %v", envTokens, tc.env, tc.mention, r)
		}
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// selfSigned writes a certificate for 127.0.0.1 and its key, PEM files in dir, and returns
// their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "durohost test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	// The flags, and the config file's tls_cert and tls_key.
	config := filepath.Join(dir, "serve.json")
	doc, _ := json.Marshal(map[string]any{"tokens": []map[string]string{{"namespace": "a", "token": "secret-a"}},
		"tls_cert": certFile, "tls_key": keyFile})
	if err := os.WriteFile(config, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"flags":  {"--tls-cert", certFile, "--tls-key", keyFile},
		"config": {"--config", config},
	} {
		t.Run(name, func(t *testing.T) {
			// Listening beyond loopback with TLS: no warning.
			p, url := startServerOn(t, "0.0.0.0:0", []string{envTokens + "=a:secret-a"}, append([]string{"--db", filepath.Join(t.TempDir(), "s.db")}, args...)...)
			if !strings.HasPrefix(url, "https://") {
				t.Fatalf("url %s: %v", url, p)
			}
			url = loopbackURL(t, url)
			req, _ := http.NewRequest("GET", url+"/v1/instances", nil)
			req.Header.Set("Authorization", "Bearer secret-a")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.TLS == nil {
				t.Fatalf("status %d, TLS %v", resp.StatusCode, resp.TLS != nil)
			}
			// Plain HTTP on the TLS port is not served.
			if resp, err := http.Get(strings.Replace(url, "https://", "http://", 1) + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					t.Fatal("plain HTTP answered on the TLS port")
				}
			}
			if strings.Contains(p.stderr.String(), "warning") {
				t.Errorf("a TLS server warns: %v", p)
			}
			stopServer(t, p)
		})
	}
}

func TestServePlaintextWarning(t *testing.T) {
	p, url := startServerOn(t, "0.0.0.0:0", []string{envTokens + "=a:secret-a"}, "--db", filepath.Join(t.TempDir(), "s.db"))
	if !strings.HasPrefix(url, "http://") || !strings.Contains(p.stderr.String(), "warning: serving plain HTTP on ") {
		t.Fatalf("no warning: %v", p)
	}
	if resp, err := http.Get(loopbackURL(t, url) + "/healthz"); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	stopServer(t, p)

	for _, tc := range []struct {
		addr string
		tls  bool
		warn bool
	}{
		{"127.0.0.1:8233", false, false}, {"[::1]:8233", false, false}, {"127.0.0.2:1", false, false},
		{"0.0.0.0:8233", false, true}, {"[::]:8233", false, true}, {"10.1.2.3:80", false, true},
		{"0.0.0.0:8233", true, false}, {"10.1.2.3:443", true, false},
	} {
		addr, err := net.ResolveTCPAddr("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := plaintextWarning(addr, tc.tls) != ""; got != tc.warn {
			t.Errorf("%s, TLS %v: warning %v, want %v", tc.addr, tc.tls, got, tc.warn)
		}
	}
}

func TestServeNamespacePolicies(t *testing.T) {
	registered := []string{"echo", "http", "shell", "sleep"}
	tokens, err := server.ParseTokens("a:x,b:y,c:z")
	if err != nil {
		t.Fatal(err)
	}
	parse := func(t *testing.T, doc string) *serveConfig {
		t.Helper()
		path := filepath.Join(t.TempDir(), "c.json")
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := readServeConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cfg := parse(t, `{"namespaces": {
		"a": {"activities": ["echo", "shell", "echo"], "http_hosts": ["api.example.org", "*.svc:8443"],
		      "max_instances": 10, "max_module_bytes": "256MiB", "max_concurrent_turns": 4},
		"b": {"activities": [], "http_hosts": [], "max_module_bytes": 1000}}}`)
	policy, err := cfg.policies(tokens, registered, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ns   string
		want host.NamespacePolicy
	}{
		{"a", host.NamespacePolicy{Activities: []string{"echo", "shell"}, HTTPHosts: []string{"api.example.org", "*.svc:8443"},
			MaxInstances: 10, MaxModuleBytes: 256 << 20, MaxConcurrentTurns: 4}},
		{"b", host.NamespacePolicy{Activities: []string{}, HTTPHosts: []string{}, MaxModuleBytes: 1000}},
		// No policy: every activity but shell, the --allow-http hosts, no quota.
		{"c", host.NamespacePolicy{Activities: []string{"echo", "http", "sleep"}}},
		{"", host.NamespacePolicy{Activities: []string{"echo", "http", "sleep"}}},
	} {
		got := policy(tc.ns)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("namespace %q: policy %+v, want %+v", tc.ns, got, tc.want)
		}
		// nil and empty lists differ: nil is "not restricted", empty "nothing".
		if (got.Activities == nil) != (tc.want.Activities == nil) || (got.HTTPHosts == nil) != (tc.want.HTTPHosts == nil) {
			t.Errorf("namespace %q: nil and empty lists confused: %#v", tc.ns, got)
		}
	}

	for _, tc := range []struct {
		doc     string
		shell   bool
		mention string
	}{
		{`{"namespaces": {"d": {}}}`, false, `namespaces.d: no token is bound to namespace "d"`},
		{`{"namespaces": {"a": {"activities": ["echo", "greet"]}}}`, false, `namespaces.a.activities: no activity "greet" (the activities are echo, http, shell, sleep)`},
		{`{"namespaces": {"a": {"activities": ["shell"]}}}`, false, "shell is listed but --enable-shell is not given"},
		{`{"namespaces": {"a": {"http_hosts": ["http://x.org/"]}}}`, false, "namespaces.a.http_hosts"},
		{`{"namespaces": {"a": {"max_instances": -1}}}`, false, "namespaces.a.max_instances -1 is negative"},
		{`{"namespaces": {"a": {"max_concurrent_turns": -1}}}`, false, "namespaces.a.max_concurrent_turns -1 is negative"},
		{`{"namespaces": {"a": {"max_module_bytes": "1GB"}}}`, false, "namespaces.a.max_module_bytes"},
		{`{"namespaces": {"a": {"max_module_bytes": true}}}`, false, "namespaces.a.max_module_bytes: want a string"},
	} {
		if _, err := parse(t, tc.doc).policies(tokens, registered, tc.shell); err == nil || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: %v, want an error mentioning %q", tc.doc, err, tc.mention)
		}
	}
	// With --enable-shell and no namespace listing it, no namespace may call shell.
	policy, err = parse(t, `{}`).policies(tokens, registered, true)
	if err != nil {
		t.Fatal(err)
	}
	if p := policy("a"); slices.Contains(p.Activities, "shell") || p.Activities == nil {
		t.Fatalf("a namespace without a policy may call shell: %+v", p)
	}
}

func TestServeConfigLimitsReachHost(t *testing.T) {
	// The config file's limits reach the host; a flag overrides one.
	path := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(path, []byte(`{"limits": {"turn_time": "4s", "max_payload": "1MiB", "max_history": 5000}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := readServeConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	file, err := limitsOfConfig(cfg.Limits)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sessionLimits(t, file, "--max-history", "700")
	if err != nil {
		t.Fatal(err)
	}
	if got.TurnTime != 4*time.Second || got.MaxPayload != 1<<20 || got.MaxEvents != 700 || got.ReplayTime != host.DefaultLimits.ReplayTime {
		t.Fatalf("limits %+v", got)
	}
}

// otlpCollector is an OTLP/HTTP trace collector: it keeps the spans it receives.
type otlpCollector struct {
	url   string
	mu    sync.Mutex
	spans []*tracepb.Span
}

func newOTLPCollector(t *testing.T) *otlpCollector {
	t.Helper()
	c := &otlpCollector{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/v1/traces" {
			http.NotFound(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &req)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				c.spans = append(c.spans, ss.Spans...)
			}
		}
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Write(b)
	}))
	t.Cleanup(ts.Close)
	c.url = ts.URL
	return c
}

// span returns a received span named name, or nil.
func (c *otlpCollector) span(name string) *tracepb.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.spans {
		if s.Name == name {
			return s
		}
	}
	return nil
}

var metricsOn = regexp.MustCompile(`metrics on (http://\S+/metrics)`)

// TestServeObservability: /metrics with its tokens, --metrics-listen without, the console,
// and spans sent to an OTLP collector named by the standard environment, in the trace of the
// start request's traceparent.
func TestServeObservability(t *testing.T) {
	col := newOTLPCollector(t)
	dir := t.TempDir()
	p, url := startServer(t, []string{envTokens + "=a:secret-a,a:read-a:read", envMetricsTokens + "=prom-token",
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + col.url, "OTEL_BSP_SCHEDULE_DELAY=20", "OTEL_TRACES_EXPORTER=", "OTEL_SDK_DISABLED="},
		"--store", filepath.Join(dir, "s.db"), "--metrics-listen", "127.0.0.1:0")
	get := func(url, token string) (int, string) {
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	wasm, err := os.ReadFile(watFixture("hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("PUT", url+"/v1/modules/hello?version=1", bytes.NewReader(wasm))
	req.Header.Set("Authorization", "Bearer secret-a")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %v %v", resp, err)
	}
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ = http.NewRequest("POST", url+"/v1/instances", strings.NewReader(`{"name": "wat_hello", "id": "o1"}`))
	req.Header.Set("Authorization", "Bearer secret-a")
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("start: %v %v", resp, err)
	}

	started := `durohost_orchestrations_started_total{namespace="a",orchestration="wat_hello"} 1`
	waitFor(t, 20*time.Second, "the start in the metrics", func() bool {
		_, body := get(url+"/metrics", "prom-token")
		return strings.Contains(body, started)
	})
	if code, body := get(url+"/metrics", "prom-token"); code != 200 || !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "durohost_live_cache_limit_bytes") {
		t.Errorf("metrics token: %d, no host-wide series:\n%s", code, body)
	}
	if code, body := get(url+"/metrics", "read-a"); code != 200 || !strings.Contains(body, started) || strings.Contains(body, "go_goroutines") {
		t.Errorf("namespace a's read token: %d, want its own series only:\n%s", code, body)
	}
	if code, _ := get(url+"/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("/metrics without a token: %d", code)
	}
	m := metricsOn.FindStringSubmatch(p.stderr.String())
	if m == nil {
		t.Fatalf("serve does not say where --metrics-listen serves: %v", p)
	}
	if code, body := get(m[1], ""); code != 200 || !strings.Contains(body, started) || !strings.Contains(body, "process_cpu_seconds_total") {
		t.Errorf("--metrics-listen: %d\n%s", code, body)
	}
	if code, body := get(url+"/ui/", ""); code != 200 || !strings.Contains(body, "console.js") {
		t.Errorf("/ui/: %d", code)
	}

	waitFor(t, 20*time.Second, "the spans at the collector", func() bool {
		return col.span("POST /v1/instances") != nil && col.span("turn wat_hello") != nil
	})
	turn := col.span("turn wat_hello")
	if got := hex.EncodeToString(turn.TraceId); got != traceID {
		t.Errorf("the turn's trace is %s, want the start request's %s", got, traceID)
	}
	if !bytes.Equal(turn.ParentSpanId, col.span("POST /v1/instances").SpanId) {
		t.Error("the turn's span is not a child of the start request's")
	}
	stopServer(t, p)
}

func TestServeTracingEnvironment(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		on      bool
		wantErr string
	}{
		{env: map[string]string{}, on: false},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, on: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, on: true},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, on: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, on: false},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, on: false},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: "otlp only"},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, wantErr: "want http/protobuf or grpc"},
	} {
		for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER",
			"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_SDK_DISABLED"} {
			t.Setenv(k, tc.env[k])
		}
		tp, err := tracerFromEnv(t.Context())
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: error %v, want %q", tc.env, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%v: %v", tc.env, err)
		case (tp != nil) != tc.on:
			t.Errorf("%v: tracing on %v, want %v", tc.env, tp != nil, tc.on)
		}
		if tp != nil {
			tp.Shutdown(t.Context())
		}
	}
}

func TestServeMetricsTokens(t *testing.T) {
	digest := sha256Hex("from-digest")
	for _, tc := range []struct {
		file, env string
		want      []string // secrets
		wantErr   string
	}{
		{file: `{}`, env: "", want: nil},
		{file: `{"metrics_tokens": [{"token": "a"}, {"token_sha256": "` + digest + `"}]}`, env: " b , c", want: []string{"a", "from-digest", "b", "c"}},
		{file: `{"metrics_tokens": [{"token": "a", "token_sha256": "` + digest + `"}]}`, wantErr: "not both"},
		{file: `{"metrics_tokens": [{"token_sha256": "xyz"}]}`, wantErr: "not a hex sha256"},
		{file: `{"metrics_tokens": [{}]}`, wantErr: "no token"},
		{file: `{}`, env: "team-a:secret", wantErr: "bound to no namespace"},
	} {
		path := filepath.Join(t.TempDir(), "serve.json")
		if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := readServeConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := cfg.metricsTokens(tc.env)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s %q: error %v, want %q", tc.file, tc.env, err, tc.wantErr)
			}
			continue
		}
		var want [][32]byte
		for _, s := range tc.want {
			want = append(want, sha256.Sum256([]byte(s)))
		}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s %q: %x %v, want %x", tc.file, tc.env, got, err, want)
		}
	}
}
