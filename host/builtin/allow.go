package builtin

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// hostPattern is one parsed entry of Config.AllowHTTP.
type hostPattern struct {
	// host is the lower-case name or canonical IP; for a wildcard, the suffix after "*.".
	host string
	// wildcard: host is a suffix, "*.host".
	wildcard bool
	// port is the only port allowed, or "" for any port.
	port string
}

// allowList is the parsed Config.AllowHTTP.
type allowList []hostPattern

// parseAllowList parses every pattern; the error names each bad one.
func parseAllowList(patterns []string) (allowList, error) {
	var (
		list allowList
		errs []error
	)
	for _, s := range patterns {
		p, err := parsePattern(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		list = append(list, p)
	}
	return list, errors.Join(errs...)
}

// parsePattern parses "host", "*.suffix", "host:port", "[v6]:port" or a bare IPv6 address.
func parsePattern(s string) (hostPattern, error) {
	bad := func(why string) (hostPattern, error) {
		return hostPattern{}, fmt.Errorf("%w: --allow-http %q: %s (want a host name, an IP address or *.suffix, optionally with :port)", ErrInvalidConfig, s, why)
	}
	if s == "" {
		return bad("empty pattern")
	}
	if strings.Contains(s, "://") || strings.ContainsAny(s, "/?#@") {
		return bad("a host, not a URL, is expected")
	}
	host, port := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			if !strings.HasSuffix(s, "]") {
				return bad(err.Error())
			}
			h, p = s[1:len(s)-1], ""
		}
		host, port = h, p
	case strings.Count(s, ":") == 1:
		host, port, _ = strings.Cut(s, ":")
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return bad("the port must be a number between 1 and 65535")
		}
		port = strconv.Itoa(n)
	}
	p := hostPattern{port: port}
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		p.wildcard, host = true, rest
	}
	host = normaliseHost(host)
	switch {
	case host == "":
		return bad("no host")
	case strings.Contains(host, "*"):
		return bad(`a wildcard is only allowed as a leading "*."`)
	case p.wildcard && isIP(host):
		return bad("a wildcard needs a domain name, not an IP address")
	case strings.ContainsAny(host, " \t:") && !isIP(host):
		return bad("not a host name")
	}
	p.host = host
	return p, nil
}

// normaliseHost lower-cases a host name, drops a trailing dot and writes IPs canonically.
func normaliseHost(h string) string {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.String()
	}
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// isIP reports whether h is an IP address.
func isIP(h string) bool {
	_, err := netip.ParseAddr(h)
	return err == nil
}

// allows reports whether the list allows u's host and port.
func (l allowList) allows(u *url.URL) bool {
	host := normaliseHost(u.Hostname())
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	for _, p := range l {
		if p.port != "" && p.port != port {
			continue
		}
		if p.wildcard {
			if strings.HasSuffix(host, "."+p.host) {
				return true
			}
		} else if host == p.host {
			return true
		}
	}
	return false
}
