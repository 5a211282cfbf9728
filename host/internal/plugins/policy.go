package plugins

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// A host's operator may restrict the HTTP of a namespace (host.NamespacePolicy.HTTPHosts):
// the plugins of that namespace then reach a host only when both their own allowed hosts and
// the namespace's hosts allow it. The namespace's hosts have the built-in http activity's
// form: a host name or IP address, or *.suffix (its subdomains), each optionally with :port.

type policyKey struct{}

// WithHTTPPolicy returns ctx for a Call whose HTTP requests must also match hosts, the HTTP
// hosts of the calling namespace's policy (nil: no such restriction; empty: no HTTP).
func WithHTTPPolicy(ctx context.Context, hosts []string) context.Context {
	if hosts == nil {
		return ctx
	}
	return context.WithValue(ctx, policyKey{}, parsePolicy(hosts))
}

// policy is a parsed list of a namespace's HTTP hosts.
type policy struct {
	raw      []string
	patterns []policyPattern
}

type policyPattern struct {
	host     string // normalised; for a wildcard, the suffix after "*."
	wildcard bool
	port     string // "" for any
}

// parsePolicy parses hosts; an entry it cannot parse matches nothing.
func parsePolicy(hosts []string) *policy {
	p := &policy{raw: hosts}
	for _, s := range hosts {
		host, port := s, ""
		switch {
		case strings.HasPrefix(s, "["):
			if h, pt, err := net.SplitHostPort(s); err == nil {
				host, port = h, pt
			} else {
				host = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
			}
		case strings.Count(s, ":") == 1:
			host, port, _ = strings.Cut(s, ":")
		}
		pp := policyPattern{port: port}
		if rest, ok := strings.CutPrefix(host, "*."); ok {
			pp.wildcard, host = true, rest
		}
		if pp.host = policyHost(host); pp.host != "" {
			p.patterns = append(p.patterns, pp)
		}
	}
	return p
}

// policyHost normalises a host: lower case without a trailing dot, IPs written canonically.
func policyHost(h string) string {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap().String()
	}
	return normHost(h)
}

// allows reports whether the policy allows u's host and port.
func (p *policy) allows(u *url.URL) bool {
	host := policyHost(u.Hostname())
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	for _, pp := range p.patterns {
		switch {
		case pp.port != "" && pp.port != port:
		case pp.wildcard && strings.HasSuffix(host, "."+pp.host):
			return true
		case !pp.wildcard && host == pp.host:
			return true
		}
	}
	return false
}

// policyOf returns the policy WithHTTPPolicy put in ctx (nil: none).
func policyOf(ctx context.Context) *policy {
	p, _ := ctx.Value(policyKey{}).(*policy)
	return p
}
