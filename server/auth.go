package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
)

// Token is a bearer token bound to a namespace, kept as the sha256 of its secret: the
// server never holds the secret itself.
type Token struct {
	Namespace string
	Hash      [32]byte
}

// NewToken returns the Token of a secret.
func NewToken(namespace, secret string) Token {
	return Token{Namespace: namespace, Hash: sha256.Sum256([]byte(secret))}
}

// HashedToken returns the Token whose secret has the given hex sha256 (for configuration
// files that do not hold secrets).
func HashedToken(namespace, sha256Hex string) (Token, error) {
	b, err := hex.DecodeString(sha256Hex)
	if err != nil || len(b) != 32 {
		return Token{}, fmt.Errorf("token of namespace %q: %q is not a hex sha256 (64 hex digits)", namespace, sha256Hex)
	}
	t := Token{Namespace: namespace}
	copy(t.Hash[:], b)
	return t, nil
}

// ParseTokens parses "namespace:secret" pairs separated by commas (the form of
// DUROHOST_TOKENS): "team-a:s3cret,team-b:other".
func ParseTokens(s string) ([]Token, error) {
	var out []Token
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		ns, secret, ok := strings.Cut(pair, ":")
		if !ok || secret == "" {
			return nil, fmt.Errorf("token %q: want namespace:token", redact(pair))
		}
		if err := checkNamespace(ns); err != nil {
			return nil, err
		}
		out = append(out, NewToken(ns, secret))
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

// auth resolves the bearer token of a request to its namespace and runs h, writing the
// error h returns. The token is compared by its sha256, looked up in a map: the lookup's
// timing depends on the hash, which says nothing useful about the secret.
func (s *Server) auth(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authz := r.Header.Get("Authorization")
		scheme, secret, _ := strings.Cut(authz, " ")
		if authz == "" || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
			writeError(w, errorf(http.StatusUnauthorized, CodeUnauthenticated, "missing bearer token (send Authorization: Bearer <token>)"))
			return
		}
		ns, ok := s.tokens[sha256.Sum256([]byte(strings.TrimSpace(secret)))]
		if !ok {
			writeError(w, errorf(http.StatusUnauthorized, CodeUnauthenticated, "unknown bearer token"))
			return
		}
		if err := h(w, r, ns); err != nil {
			e := errorOf(err)
			if e.Status >= 500 {
				s.cfg.logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "namespace", ns, "err", err)
			}
			writeError(w, e)
		}
	})
}
