package server

import (
	"net/http/httptest"
	"testing"

	"github.com/heraldevents/herald/internal/broker"
)

func TestAuth_EveryRouteButHealthRefusesAMissingOrWrongToken(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{Tokens: []string{"s3cret", "next-token"}})
	s, b := e.srv, e.broker
	if len(s.opts.Tokens) != 0 {
		t.Fatal("the server keeps the tokens themselves, not only their hashes")
	}
	for _, tc := range []struct {
		method, path, auth string
		want               int
	}{
		{"GET", "/v1/topics", "", 401},
		{"GET", "/v1/topics", "Bearer wrong", 401},
		{"GET", "/v1/topics", "Basic s3cret", 401},
		{"GET", "/v1/topics", "Bearer s3cret", 200},
		{"GET", "/v1/topics", "bearer next-token", 200},
		{"PUT", "/v1/topics/orders", "", 401},
		{"POST", "/v1/topics/orders/events", "", 401},
		{"POST", "/herald.v1.HeraldService/ListTopics", "", 401},
		{"GET", "/healthz", "", 200},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s %s with %q: %d, want %d", tc.method, tc.path, tc.auth, rec.Code, tc.want)
		}
		if tc.want == 401 && (rec.Header().Get("WWW-Authenticate") == "" || rec.Header().Get("Content-Type") != "application/problem+json") {
			t.Errorf("%s %s: a 401 without WWW-Authenticate or problem+json: %v", tc.method, tc.path, rec.Header())
		}
	}
	if _, err := b.Topic(t.Context(), "orders"); err == nil {
		t.Fatal("a refused request changed something")
	}
}
