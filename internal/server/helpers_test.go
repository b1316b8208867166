package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/log"
	"github.com/heraldevents/herald/internal/push"
	"github.com/heraldevents/herald/internal/schema"
	"github.com/heraldevents/herald/internal/subscription"
)

// testEnv is a real server over a real broker, subscription manager,
// schema registry and embedded engine in a temporary directory, composed
// as herald serve composes them.
type testEnv struct {
	t       *testing.T
	url     string
	srv     *Server
	broker  *broker.Broker
	subs    *subscription.Manager
	schemas *schema.Registry
}

func newEnv(t *testing.T, bopts broker.Options, sopts Options) *testEnv {
	t.Helper()
	return newEnvIn(t, t.TempDir(), nil, bopts, sopts)
}

// newEnvIn is newEnv over the data directory dir, with now (when not
// nil) as the clock of the engine, the broker and the subscriptions.
func newEnvIn(t *testing.T, dir string, now func() time.Time, bopts broker.Options, sopts Options) *testEnv {
	t.Helper()
	if bopts.Now == nil {
		bopts.Now = now
	}
	eng, err := log.Open(dir, log.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if sopts.Schemas == nil {
		if sopts.Schemas, err = schema.Open(context.Background(), eng, schema.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	if bopts.Validator == nil {
		bopts.Validator = sopts.Schemas.Validate
	}
	b, err := broker.New(eng, bopts)
	if err != nil {
		t.Fatal(err)
	}
	if sopts.Subscriptions == nil {
		if sopts.Subscriptions, err = subscription.New(context.Background(), b, subscription.Options{CheckPush: push.CheckSettings, Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	srv := New(b, sopts)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
		sopts.Subscriptions.Close()
		if err := eng.Close(); err != nil {
			t.Errorf("close engine: %v", err)
		}
	})
	return &testEnv{t: t, url: hs.URL, srv: srv, broker: b, subs: sopts.Subscriptions, schemas: sopts.Schemas}
}

// reply is a response with its body read.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; header is name/value pairs.
func (e *testEnv) do(method, path, body string, header ...string) reply {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// createTopic creates a topic with the given PUT body.
func (e *testEnv) createTopic(name, body string) {
	e.t.Helper()
	if r := e.do("PUT", "/v1/topics/"+name, body); r.status != http.StatusCreated {
		e.t.Fatalf("create topic %s: %d %s", name, r.status, r.body)
	}
}

// endOffsets returns the end offset of each partition of a topic.
func (e *testEnv) endOffsets(topic string) []int64 {
	e.t.Helper()
	t, err := e.broker.Topic(context.Background(), topic)
	if err != nil {
		e.t.Fatal(err)
	}
	ends := make([]int64, t.Partitions)
	for p := range ends {
		if _, ends[p], err = e.broker.Offsets(context.Background(), topic, p); err != nil {
			e.t.Fatal(err)
		}
	}
	return ends
}

// wantStatus checks the status and content type and decodes a JSON body.
func (r reply) wantStatus(t *testing.T, status int, contentType string, v any) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != contentType {
		t.Fatalf("Content-Type %q, want %q", ct, contentType)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("decode %s: %v", r.body, err)
		}
	}
}

// wantProblem checks that r is a problem with the status and code.
func (r reply) wantProblem(t *testing.T, status int, code string) Problem {
	t.Helper()
	var p Problem
	r.wantStatus(t, status, mediaProblem, &p)
	if p.Code != code || p.Status != status || p.Type != ProblemTypeBase+code || p.Title == "" || p.Detail == "" {
		t.Fatalf("problem %+v, want code %q status %d with a title and detail", p, code, status)
	}
	return p
}

// publishResults decodes a successful publish reply.
func (r reply) publishResults(t *testing.T) []broker.Result {
	t.Helper()
	var out PublishReply
	r.wantStatus(t, http.StatusOK, mediaJSON, &out)
	return out.Events
}

// structured returns a structured-mode event body.
func structured(id string) string {
	return `{"specversion":"1.0","id":"` + id + `","source":"/test","type":"test.happened","data":{"n":1}}`
}

// Header pairs for publishing.
var (
	ctStructured = []string{"Content-Type", "application/cloudevents+json"}
	ctBatch      = []string{"Content-Type", "application/cloudevents-batch+json"}
)

func binaryHeaders(id string) []string {
	return []string{"ce-specversion", "1.0", "ce-id", id, "ce-source", "/test", "ce-type", "test.happened",
		"Content-Type", "application/json"}
}
