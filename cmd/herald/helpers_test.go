package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/log"
	"github.com/heraldevents/herald/internal/push"
	"github.com/heraldevents/herald/internal/schema"
	"github.com/heraldevents/herald/internal/server"
	"github.com/heraldevents/herald/internal/subscription"
)

// cliEnv is a real server (over a real engine in a temporary directory)
// for running commands against in-process.
type cliEnv struct {
	t      *testing.T
	url    string
	broker *broker.Broker
}

func newCLIEnv(t *testing.T, opts broker.Options) *cliEnv {
	t.Helper()
	eng, err := log.Open(t.TempDir(), log.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := schema.Open(context.Background(), eng, schema.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Validator == nil {
		opts.Validator = reg.Validate
	}
	b, err := broker.New(eng, opts)
	if err != nil {
		t.Fatal(err)
	}
	subs, err := subscription.New(context.Background(), b, subscription.Options{CheckPush: push.CheckSettings})
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(b, server.Options{Subscriptions: subs, Schemas: reg})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
		subs.Close()
		if err := eng.Close(); err != nil {
			t.Errorf("close engine: %v", err)
		}
	})
	return &cliEnv{t: t, url: hs.URL, broker: b}
}

// result is what a command printed and its exit code.
type result struct {
	stdout, stderr string
	code           int
}

// run runs herald with args, the server's URL in HERALD_SERVER and stdin.
func (e *cliEnv) run(stdin string, args ...string) result {
	e.t.Helper()
	return runApp(context.Background(), map[string]string{"HERALD_SERVER": e.url}, stdin, args...)
}

// mustRun runs a command that must succeed and returns its output.
func (e *cliEnv) mustRun(args ...string) string {
	e.t.Helper()
	r := e.run("", args...)
	if r.code != 0 {
		e.t.Fatalf("herald %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

func runApp(ctx context.Context, env map[string]string, stdin string, args ...string) result {
	var out, errOut syncBuffer
	a := &app{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut,
		getenv: func(k string) string { return env[k] }, http: http.DefaultClient}
	code := a.execute(ctx, args)
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
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

// wantOneErrorLine checks a failed command: exit 1 and one stderr line
// "herald: ..." containing each of parts.
func (r result) wantOneErrorLine(t *testing.T, parts ...string) {
	t.Helper()
	if r.code != 1 {
		t.Fatalf("exit code %d, want 1 (stdout %q)", r.code, r.stdout)
	}
	if !strings.HasPrefix(r.stderr, "herald: ") || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Fatalf("stderr %q, want one line starting with \"herald: \"", r.stderr)
	}
	for _, p := range parts {
		if !strings.Contains(r.stderr, p) {
			t.Errorf("stderr %q does not contain %q", r.stderr, p)
		}
	}
}
