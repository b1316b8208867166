package server

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/heraldevents/herald/internal/auth"
)

// errUnauthorized is a request without an accepted API token.
var errUnauthorized = errors.New("unauthorized")

// scope says what a route needs beyond a valid token.
type scope int

const (
	scopeOpen          scope = iota // nothing: no token either (the health check)
	scopeAuthenticated              // a valid token, whatever its grants
	scopeTopic                      // the action on the path's {topic}
	scopeTopicAny                   // any grant on the path's {topic}
	scopeGlobal                     // the action on every topic ("*")
)

// need is the permission a route needs.
type need struct {
	scope  scope
	action auth.Action
}

// route is one registered endpoint and the permission it needs; the list
// is what the authorization table test walks.
type route struct {
	pattern string
	need    need
}

// handle registers h for pattern behind the permission check. Every HTTP
// route goes through here, so none can be left unguarded.
func (s *Server) handle(pattern string, n need, h http.HandlerFunc) {
	s.routeList = append(s.routeList, route{pattern: pattern, need: n})
	name := routeName(pattern)
	s.routeNames[pattern] = name
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		setRoute(w, name)
		if err := authorize(r, n); err != nil {
			s.writeError(w, r, err)
			return
		}
		h(w, r)
	})
}

func authorize(r *http.Request, n need) error {
	switch n.scope {
	case scopeTopic:
		return auth.Check(r.Context(), n.action, r.PathValue("topic"))
	case scopeTopicAny:
		return auth.CheckAny(r.Context(), r.PathValue("topic"))
	case scopeGlobal:
		return auth.Check(r.Context(), n.action, "*")
	}
	return nil
}

// authenticate refuses requests without an accepted token, but for the
// health check (load balancers and probes carry none), and puts the
// token's principal in the request's context.
func (s *Server) authenticate(next http.Handler) http.Handler {
	if s.keys.Empty() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		if p, ok := s.keys.Lookup(bearer(r)); ok {
			next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="herald"`)
		s.writeError(w, r, fmt.Errorf(`%w: send an API token as "Authorization: Bearer TOKEN", one given to herald serve with --token or --auth-file`, errUnauthorized))
	})
}

// bearer is the token of an "Authorization: Bearer TOKEN" header.
func bearer(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}
