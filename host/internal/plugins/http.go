package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero/api"
)

// A plugin's HTTP requests do not go through Extism's http_request: its client is Go's
// process-wide default one, which follows redirects to any host, uses the environment's
// proxy, pools connections with the rest of the process and dials whatever address a name
// resolves to. Load moves the plugin's imports of http_request and http_status_code to
// hostModule, whose functions check every request and redirect against the plugin's allowed
// hosts before it is sent, dial without a proxy and, unless Settings.PrivateNetwork, refuse
// an address that is not public (loopback, private, link-local...) whatever name led to it.
// See RATIONALE.md, "Why are plugin activities Extism plugins?".

// hostModule is the import module of the host's own versions of kernel functions.
const hostModule = "durohost:plugin/env"

// movedFuncs are the kernel functions Load moves to hostModule: HTTP (see above) and
// output_set, which refuses an output larger than the plugin's limit before the host copies
// it (Extism copies the whole output out of the kernel's memory after the call).
var movedFuncs = map[string]bool{"http_request": true, "http_status_code": true, "output_set": true}

// maxRedirects bounds the redirects one request follows.
const maxRedirects = 10

// callState is the state of one call the host's functions keep, in its context.
type callState struct {
	p      *Plugin
	policy *policy // the namespace's HTTP hosts (WithHTTPPolicy), nil for none
	status int32
	// refused is the request the host refused during the call (a host not allowed, an
	// address not public), if any.
	refused error
	// output is the size of an output the host refused (larger than MaxOutput), if any.
	output uint64
}

type callKey struct{}

// refusedError is a request the plugin may not make.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

// hostFuncs are the functions of hostModule.
func hostFuncs() []extism.HostFunction {
	req := extism.NewHostFunctionWithStack("http_request", httpRequest,
		[]extism.ValueType{extism.ValueTypeI64, extism.ValueTypeI64}, []extism.ValueType{extism.ValueTypeI64})
	req.SetNamespace(hostModule)
	status := extism.NewHostFunctionWithStack("http_status_code", func(ctx context.Context, _ *extism.CurrentPlugin, stack []uint64) {
		var code int32
		if hc, ok := ctx.Value(callKey{}).(*callState); ok {
			code = hc.status
		}
		stack[0] = uint64(uint32(code))
	}, nil, []extism.ValueType{extism.ValueTypeI32})
	status.SetNamespace(hostModule)
	out := extism.NewHostFunctionWithStack("output_set", outputSet,
		[]extism.ValueType{extism.ValueTypeI64, extism.ValueTypeI64}, nil)
	out.SetNamespace(hostModule)
	return []extism.HostFunction{req, status, out}
}

// outputSet is output_set: (offset, length). It refuses a length larger than the plugin's
// output limit (ending the call), and hands the others to the kernel.
func outputSet(ctx context.Context, _ *extism.CurrentPlugin, stack []uint64) {
	hc, ok := ctx.Value(callKey{}).(*callState)
	if !ok {
		panic(errors.New("output_set outside of a call"))
	}
	if n := stack[1]; n > uint64(hc.p.s.MaxOutput) {
		hc.output = n
		panic(fmt.Errorf("an output of %d bytes, more than the plugin's limit of %d", n, hc.p.s.MaxOutput))
	}
	kernel, ok := ctx.Value(extism.PluginCtxKey("extism")).(api.Module)
	if !ok {
		panic(errors.New("output_set: no kernel in the call's context"))
	}
	f := kernel.ExportedFunction("output_set")
	if f == nil {
		panic(errors.New("output_set: the kernel has no output_set"))
	}
	if err := f.CallWithStack(ctx, stack); err != nil {
		panic(err)
	}
}

// httpRequest is http_request: (request JSON, body) -> response body. It panics (a failed
// host function, which ends the call) on anything it cannot do.
func httpRequest(ctx context.Context, cp *extism.CurrentPlugin, stack []uint64) {
	hc, ok := ctx.Value(callKey{}).(*callState)
	if !ok {
		panic(errors.New("HTTP request outside of a call (a plugin's initialisation cannot make one)"))
	}
	hc.status = 0
	raw, err := cp.ReadBytes(stack[0])
	if err != nil {
		panic(fmt.Errorf("read the HTTP request: %v", err))
	}
	cp.Free(stack[0])
	var r struct {
		URL     string            `json:"url"`
		Method  string            `json:"method"`
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		panic(fmt.Errorf("malformed HTTP request: %v", err))
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		panic(fmt.Errorf("malformed HTTP request URL: %v", err))
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		panic(fmt.Errorf("HTTP request URL %q: the scheme must be http or https", truncated(r.URL)))
	}
	if err := hc.checkURL(u); err != nil {
		hc.refused = err
		panic(err)
	}
	var body io.Reader
	if stack[1] != 0 {
		b, err := cp.ReadBytes(stack[1])
		if err != nil {
			panic(fmt.Errorf("read the HTTP request body: %v", err))
		}
		cp.Free(stack[1])
		body = bytes.NewReader(b)
	}
	method := strings.ToUpper(r.Method)
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		panic(fmt.Errorf("HTTP request: %v", err))
	}
	for k, v := range r.Headers {
		req.Header.Set(k, v)
	}
	resp, err := hc.p.m.client(hc.p.s.PrivateNetwork).Do(req)
	if err != nil {
		var refused *refusedError
		if errors.As(err, &refused) {
			hc.refused = refused
			panic(refused)
		}
		panic(err)
	}
	defer resp.Body.Close()
	hc.status = int32(resp.StatusCode)
	// The body goes into the plugin's memory: one larger than that memory is not read (the
	// response limit is its uploader's choice).
	max, what := hc.p.s.MaxHTTPResponse, "response limit"
	if mem := int64(hc.p.s.MemoryPages) * 65536; mem < max {
		max, what = mem, "memory limit"
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	switch {
	case err != nil:
		panic(fmt.Errorf("read the HTTP response: %v", err))
	case int64(len(data)) > max:
		panic(fmt.Errorf("the HTTP response body is larger than the plugin's %s of %d bytes", what, max))
	case len(data) == 0:
		stack[0] = 0
		return
	}
	off, err := cp.WriteBytes(data)
	if err != nil {
		panic(fmt.Errorf("write the HTTP response to the plugin's memory: %v", err))
	}
	stack[0] = off
}

// normHost is a host name as allowed hosts are matched: lower case, without a trailing dot.
func normHost(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

// checkURL refuses a URL whose host none of the plugin's allowed hosts matches, or that the
// namespace's HTTP hosts do not allow.
func (hc *callState) checkURL(u *url.URL) error {
	host := u.Hostname()
	if !hostAllowed(hc.p.globs, hc.p.hosts, normHost(host)) {
		return &refusedError{fmt.Sprintf("HTTP request to host %q is not allowed", truncated(host))}
	}
	if hc.policy != nil && !hc.policy.allows(u) {
		return &refusedError{fmt.Sprintf("HTTP request to %q is not among the HTTP hosts of the namespace's policy (%s)", truncated(u.Host), hostList(hc.policy.raw))}
	}
	return nil
}

// newHTTPClient returns the client of plugins' requests; private: whether it may connect to
// addresses that are not public.
func newHTTPClient(private bool) *http.Client {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	if !private {
		d.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return &refusedError{fmt.Sprintf("HTTP connection to %q: not an IP address and port", address)}
			}
			if why := notPublic(ap.Addr()); why != "" {
				return &refusedError{fmt.Sprintf("HTTP connection to %s is not allowed: a %s address", ap.Addr(), why)}
			}
			return nil
		}
	}
	t := &http.Transport{
		Proxy:                 nil, // never the environment's proxy: the allowed hosts are what is reached
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{Transport: t, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		hc, ok := req.Context().Value(callKey{}).(*callState)
		if !ok {
			return errors.New("HTTP redirect outside of a call")
		}
		if s := strings.ToLower(req.URL.Scheme); s != "http" && s != "https" {
			return &refusedError{fmt.Sprintf("HTTP redirect to %q: the scheme must be http or https", truncated(req.URL.String()))}
		}
		if err := hc.checkURL(req.URL); err != nil {
			return &refusedError{err.Error() + " (a redirect)"}
		}
		return nil
	}}
}

// nonPublic are the address ranges, beside those netip classifies, that are not public.
var nonPublic = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "\"this network\""},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (carrier-grade NAT)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "protocol assignment"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("64:ff9b::/96"), "NAT64"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "NAT64"},
	{netip.MustParsePrefix("2002::/16"), "6to4"},
	{netip.MustParsePrefix("2001::/32"), "Teredo"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible"},
}

// notPublic says why a is not a public address ("" when it is).
func notPublic(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		return "link-local"
	case a.IsUnspecified():
		return "unspecified"
	case a.IsMulticast(), a.IsInterfaceLocalMulticast():
		return "multicast"
	}
	for _, n := range nonPublic {
		if n.prefix.Contains(a) {
			return n.why
		}
	}
	return ""
}

func truncated(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
