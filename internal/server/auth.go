package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
)

// errUnauthorized is a request without an accepted API token.
var errUnauthorized = errors.New("unauthorized")

// tokenHashes holds the SHA-256 of each accepted API token: the tokens
// themselves are not kept in memory past New.
type tokenHashes [][sha256.Size]byte

func hashTokens(tokens []string) tokenHashes {
	hs := make(tokenHashes, 0, len(tokens))
	for _, t := range tokens {
		if t != "" {
			hs = append(hs, sha256.Sum256([]byte(t)))
		}
	}
	return hs
}

// accepts reports whether the request carries one of the tokens as
// "Authorization: Bearer TOKEN". Every hash is compared in constant time,
// so the answer's timing says nothing about which token came close.
func (hs tokenHashes) accepts(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	h := sha256.Sum256([]byte(strings.TrimSpace(token)))
	match := 0
	for _, want := range hs {
		match |= subtle.ConstantTimeCompare(h[:], want[:])
	}
	return match == 1
}

// authenticate refuses requests without an accepted token, but for the
// health check (load balancers and probes carry no token).
func (s *Server) authenticate(next http.Handler) http.Handler {
	if len(s.tokens) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || s.tokens.accepts(r) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="herald"`)
		s.writeError(w, r, errors.Join(errUnauthorized, errors.New("send an API token as \"Authorization: Bearer TOKEN\" (herald serve --token)")))
	})
}
