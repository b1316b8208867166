package server

import (
	"net/http"
	"testing"

	"github.com/heraldevents/herald/internal/broker"
)

// A path with "." or ".." segments or repeated slashes names no resource.
// It is refused as it is, not redirected to the path it cleans to: a
// redirect keeps the method (307), so a client that follows it, as most
// do, would DELETE or PUT another resource than the one it named.
func TestRoutes_APathThatIsNotCleanIsRefusedNotRedirected(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	env.putSub(t, "/v1/topics/orders/subscriptions/inventory", "{}", http.StatusCreated)
	for _, tt := range []struct{ method, path string }{
		{"DELETE", "/v1/topics/orders/subscriptions/.."},
		{"DELETE", "/v1/topics/orders/subscriptions/x/../inventory"},
		{"DELETE", "//v1/topics/orders"},
		{"DELETE", "/v1/topics/./orders"},
		{"PUT", "/v1/topics/orders/subscriptions/inventory/.."},
		{"GET", "/v1//topics"},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			env.do(tt.method, tt.path, "").wantProblem(t, http.StatusNotFound, "not_found")
			env.do("GET", "/v1/topics/orders", "").wantStatus(t, http.StatusOK, mediaJSON, nil)
			env.do("GET", "/v1/topics/orders/subscriptions/inventory", "").wantStatus(t, http.StatusOK, mediaJSON, nil)
		})
	}
	// Escaped, the dots are a name, of no subscription.
	env.do("DELETE", "/v1/topics/orders/subscriptions/%2E%2E", "").wantProblem(t, http.StatusNotFound, "unknown_subscription")
	env.do("GET", "/v1/topics/orders", "").wantStatus(t, http.StatusOK, mediaJSON, nil)
}

// A refused unclean path reached no route, and the metrics count it so:
// not as a 404 of the route its cleaned path would have reached.
func TestRoutes_AnUncleanPathCountsAsUnmatched(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	env.do("DELETE", "/v1/topics/orders/subscriptions/..", "").wantProblem(t, http.StatusNotFound, "not_found")
	m := env.scrapeMetrics(t)
	m.want(t, 1, "herald_http_requests_total", "route", "unmatched", "method", "DELETE", "code", "404")
	if n, ok := m.value("herald_http_requests_total", "route", "/v1/topics/{topic}", "method", "DELETE", "code", "404"); ok {
		t.Errorf("the unclean path counted as %v DELETEs of a topic answered 404", n)
	}
}
