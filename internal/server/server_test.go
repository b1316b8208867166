package server

import (
	"bytes"
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
