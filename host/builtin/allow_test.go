package builtin

import (
	"net/url"
	"testing"
)

func TestAllowList(t *testing.T) {
	tests := []struct {
		name     string
		patterns []string
		url      string
		want     bool
	}{
		{"empty list", nil, "https://a.org/", false},
		{"exact", []string{"a.org"}, "https://a.org/x", true},
		{"exact any port", []string{"a.org"}, "http://a.org:8080/", true},
		{"case and trailing dot", []string{"A.Org."}, "https://a.ORG./", true},
		{"other host", []string{"a.org"}, "https://b.org/", false},
		{"suffix is not a match", []string{"a.org"}, "https://evila.org/", false},
		{"subdomain is not exact", []string{"a.org"}, "https://www.a.org/", false},
		{"wildcard sub", []string{"*.a.org"}, "https://www.a.org/", true},
		{"wildcard deep", []string{"*.a.org"}, "https://x.y.a.org/", true},
		{"wildcard not apex", []string{"*.a.org"}, "https://a.org/", false},
		{"wildcard not lookalike", []string{"*.a.org"}, "https://evila.org/", false},
		{"port match", []string{"a.org:8443"}, "https://a.org:8443/", true},
		{"port mismatch", []string{"a.org:8443"}, "https://a.org/", false},
		{"default https port", []string{"a.org:443"}, "https://a.org/", true},
		{"default http port", []string{"a.org:80"}, "http://a.org/", true},
		{"default port other scheme", []string{"a.org:80"}, "https://a.org/", false},
		{"wildcard port", []string{"*.a.org:8080"}, "http://b.a.org:8080/", true},
		{"ipv4", []string{"127.0.0.1"}, "http://127.0.0.1:1234/", true},
		{"ipv4 other", []string{"127.0.0.1"}, "http://127.0.0.2/", false},
		{"ipv6 bare", []string{"::1"}, "http://[::1]:8080/", true},
		{"ipv6 long form", []string{"::1"}, "http://[0:0::1]/", true},
		{"ipv6 port", []string{"[::1]:8080"}, "http://[::1]:8080/", true},
		{"ipv6 port mismatch", []string{"[::1]:8080"}, "http://[::1]:9090/", false},
		{"several", []string{"a.org", "*.b.org"}, "https://c.b.org/", true},
		{"userinfo does not fool", []string{"a.org"}, "https://a.org@b.org/", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := parseAllowList(tt.patterns)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if got := list.allows(u); got != tt.want {
				t.Fatalf("%q allows %s: %v, want %v", tt.patterns, tt.url, got, tt.want)
			}
		})
	}
}
