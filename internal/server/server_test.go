package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/heraldevents/herald/internal/broker"
)

func TestServer_Healthz(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	var body map[string]string
	env.do("GET", "/healthz", "").wantStatus(t, http.StatusOK, mediaJSON, &body)
	if body["status"] != "ok" {
		t.Errorf("body %v", body)
	}
}

func TestServer_UnknownPathsAndMethodsAreProblems(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	tests := []struct {
		method, path string
		status       int
		code         string
		allow        string
	}{
		{"GET", "/", 404, "not_found", ""},
		{"GET", "/v2/topics", 404, "not_found", ""},
		{"GET", "/v1/topics/orders/nothing", 404, "not_found", ""},
		{"GET", "/v1/topics/", 404, "not_found", ""},
		{"POST", "/v1/topics", 405, "method_not_allowed", "GET, HEAD"},
		{"PATCH", "/v1/topics/orders", 405, "method_not_allowed", "DELETE, GET, HEAD, PUT"},
		{"DELETE", "/v1/topics/orders/events", 405, "method_not_allowed", "GET, HEAD, POST"},
		{"POST", "/healthz", 405, "method_not_allowed", "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := env.do(tt.method, tt.path, "")
			r.wantProblem(t, tt.status, tt.code)
			if got := r.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServer_AccessLogIsAtDebugLevel(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		t.Run(level.String(), func(t *testing.T) {
			var out syncBuffer
			log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: level}))
			env := newEnv(t, broker.Options{}, Options{Logger: log})
			env.do("GET", "/healthz", "")
			logged := strings.Contains(out.String(), `msg="http request" method=GET path=/healthz status=200`)
			if logged != (level == slog.LevelDebug) {
				t.Errorf("at %s logged %v: %q", level, logged, out.String())
			}
		})
	}
}

// A route that reads no query parameter refuses one rather than ignore
// it: PUT ?partitions=3 would otherwise create a topic of one partition,
// and pull ?max=1 lease ten events. The refusals change nothing.
func TestServer_AQueryOnARouteThatReadsNoneIsRefusedAndChangesNothing(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	env.do("PUT", "/v1/topics/orders/subscriptions/billing", `{"start":"earliest"}`).wantStatus(t, http.StatusCreated, mediaJSON, nil)
	env.do("POST", "/v1/topics/orders/events", structured("e1"), ctStructured...).wantStatus(t, http.StatusOK, mediaJSON, nil)
	const sub = "/v1/topics/orders/subscriptions/billing"
	tests := []struct{ method, path, body string }{
		{"PUT", "/v1/topics/fresh?partitions=3", ""},
		{"DELETE", "/v1/topics/orders?force=true", ""},
		{"GET", "/v1/topics?limit=1", ""},
		{"GET", "/v1/topics/orders?x", ""},
		{"POST", "/v1/topics/orders/events?partition=0", structured("e2")},
		{"PUT", "/v1/topics/orders/subscriptions/other?start=earliest", ""},
		{"DELETE", sub + "?force=true", ""},
		{"GET", "/v1/topics/orders/subscriptions?limit=1", ""},
		{"POST", sub + "/pull?max=1", ""},
		{"POST", sub + "/pull?;", ""},
		{"POST", sub + "/seek?start=latest", `{"start":"latest"}`},
		{"POST", sub + "/redrive?all=true", `{"all":true}`},
		{"GET", sub + "/redrives?limit=1", ""},
		{"GET", sub + "/stream?max=1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			env.do(tt.method, tt.path, tt.body, ctStructured...).wantProblem(t, http.StatusBadRequest, "invalid_parameter")
		})
	}
	if _, err := env.broker.Topic(context.Background(), "fresh"); err == nil {
		t.Error("a refused PUT created its topic")
	}
	if ends := env.endOffsets("orders"); len(ends) != 1 || ends[0] != 1 {
		t.Errorf("orders after the refusals: end offsets %v, want [1]", ends)
	}
	var s Subscription
	env.do("GET", sub, "").wantStatus(t, http.StatusOK, mediaJSON, &s)
	if s.Config.Start != "earliest" || s.Partitions[0].InFlight != 0 {
		t.Errorf("subscription after the refusals: %+v", s)
	}
	if _, err := env.subs.Get(context.Background(), "orders", "other"); err == nil {
		t.Error("a refused PUT created its subscription")
	}
	// An empty query is no parameter.
	env.do("GET", "/v1/topics?", "").wantStatus(t, http.StatusOK, mediaJSON, nil)
}
