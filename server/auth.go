package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Role is what a token may do in its namespace.
type Role uint8

// Roles. The zero value is RoleWrite, the default.
const (
	// RoleWrite may call every endpoint of its namespace.
	RoleWrite Role = iota
	// RoleRead may call only the GET endpoints: status, wait, history, custom status, lists,
	// tree, module metadata. Other endpoints answer 403 forbidden.
	RoleRead
)

// String returns "write" or "read".
func (r Role) String() string {
	switch r {
	case RoleWrite:
		return "write"
	case RoleRead:
		return "read"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// ParseRole returns the role named "write" or "read"; ErrUnknownRole otherwise.
func ParseRole(s string) (Role, error) {
	switch s {
	case "write":
		return RoleWrite, nil
	case "read":
		return RoleRead, nil
	}
	return 0, fmt.Errorf("role %q: %w (want read or write)", s, ErrUnknownRole)
}

// Token is a bearer token bound to a namespace, kept as the sha256 of its secret: the
// server never holds the secret itself. Role says what it may do (default RoleWrite).
type Token struct {
	Namespace string
	Hash      [32]byte
	Role      Role
}

// NewToken returns the Token of a secret, with RoleWrite (set Role for another).
func NewToken(namespace, secret string) Token {
	return Token{Namespace: namespace, Hash: sha256.Sum256([]byte(secret))}
}

// HashedToken returns the Token whose secret has the given hex sha256 (for configuration
// files that do not hold secrets), with RoleWrite.
func HashedToken(namespace, sha256Hex string) (Token, error) {
	b, err := hex.DecodeString(sha256Hex)
	if err != nil || len(b) != 32 {
		return Token{}, fmt.Errorf("token of namespace %q: %q is not a hex sha256 (64 hex digits)", namespace, sha256Hex)
	}
	t := Token{Namespace: namespace}
	copy(t.Hash[:], b)
	return t, nil
}

// ParseTokens parses "namespace:secret[:role]" entries separated by commas (the form of
// DUROHOST_TOKENS): "team-a:s3cret,team-a:other:read". The role is "write" (the default) or
// "read". With three or more ':'-separated fields the last one is the role, so a secret that
// holds ':' needs an explicit role ("team-a:pass:word:write"). An unknown role is
// ErrUnknownRole.
func ParseTokens(s string) ([]Token, error) {
	var out []Token
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		ns, secret, ok := strings.Cut(entry, ":")
		if !ok || secret == "" {
			return nil, fmt.Errorf("token %q: want namespace:token or namespace:token:role", redact(entry))
		}
		if err := checkNamespace(ns); err != nil {
			return nil, err
		}
		role := RoleWrite
		if i := strings.LastIndexByte(secret, ':'); i >= 0 {
			var err error
			if role, err = ParseRole(secret[i+1:]); err != nil {
				// The field may be the end of a secret holding ':': it is not shown.
				return nil, fmt.Errorf("token %q: the field after the last ':' is not a role: %w (want read or write; a token holding ':' needs an explicit role: namespace:token:write)", redact(entry), ErrUnknownRole)
			}
			if secret = secret[:i]; secret == "" {
				return nil, fmt.Errorf("token %q: empty token", redact(entry))
			}
		}
		t := NewToken(ns, secret)
		t.Role = role
		out = append(out, t)
	}
	return out, nil
}

// redact keeps the namespace of a "namespace:secret" pair.
func redact(pair string) string {
	if ns, _, ok := strings.Cut(pair, ":"); ok {
		return ns + ":…"
	}
	if len(pair) > 4 {
		return pair[:2] + "…"
	}
	return "…"
}

// checkNamespace accepts 1 to 64 letters, digits, '-', '_' and '.'.
func checkNamespace(ns string) error {
	if !validLabel(ns, 64) {
		return fmt.Errorf("namespace %q: want 1 to 64 letters, digits, '-', '_' or '.'", ns)
	}
	return nil
}

func validLabel(s string, max int) bool {
	if s == "" || len(s) > max || s == "." || s == ".." {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// roleKey carries the role of the request's token in its context (see roleOf).
type roleKey struct{}

// roleOf returns the role of the token that authorized r (RoleWrite outside auth).
func roleOf(r *http.Request) Role {
	role, _ := r.Context().Value(roleKey{}).(Role)
	return role
}

// grant is what a token gives: its namespace and role.
type grant struct {
	ns   string
	role Role
}

// auth resolves the bearer token of a request to its namespace and runs h, writing the
// error h returns. The token is compared by its sha256, looked up in a map: the lookup's
// timing depends on the hash, which says nothing useful about the secret. A route that
// writes (write: every method but GET) refuses a RoleRead token with 403 forbidden. Nothing
// of the body is read before the token is checked. An error of 500 or more is logged with the
// request ID, and answered with a generic message (see errorOf).
func (s *Server) auth(write bool, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authz := r.Header.Get("Authorization")
		scheme, secret, _ := strings.Cut(authz, " ")
		if authz == "" || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
			writeError(w, r, errorf(http.StatusUnauthorized, CodeUnauthenticated, "missing bearer token (send Authorization: Bearer <token>)"))
			return
		}
		g, ok := s.tokens[sha256.Sum256([]byte(strings.TrimSpace(secret)))]
		if !ok {
			writeError(w, r, errorf(http.StatusUnauthorized, CodeUnauthenticated, "unknown bearer token"))
			return
		}
		if write && g.role != RoleWrite {
			writeError(w, r, errorf(http.StatusForbidden, CodeForbidden, "this token of namespace %q has role %s: %s %s needs a token with role write", g.ns, g.role, r.Method, r.URL.Path))
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), roleKey{}, g.role))
		if err := h(w, r, g.ns); err != nil {
			e := errorOf(err)
			switch {
			case r.Context().Err() != nil && errors.Is(err, context.Canceled):
				// The client went away (a long-poll abandoned): not the server's failure.
				s.cfg.logger.Debug("request abandoned by the client", "request_id", w.Header().Get(RequestIDHeader),
					"method", r.Method, "path", r.URL.Path, "namespace", g.ns)
			case e.Status >= 500:
				s.cfg.logger.Error("request failed", "request_id", w.Header().Get(RequestIDHeader), "method", r.Method,
					"path", r.URL.Path, "namespace", g.ns, "status", e.Status, "err", err)
			}
			writeError(w, r, e)
		}
	})
}
