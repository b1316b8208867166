package push

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/log"
	"github.com/heraldevents/herald/internal/subscription"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is a real engine, broker and subscription manager over a temporary
// directory, on the real clock.
type env struct {
	t   *testing.T
	e   *log.Engine
	b   *broker.Broker
	m   *subscription.Manager
	ctx context.Context
}

func newEnv(t *testing.T) *env {
	t.Helper()
	v := &env{t: t, ctx: context.Background()}
	e, err := log.Open(t.TempDir(), log.Options{RetentionInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	b, err := broker.New(e, broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := subscription.New(v.ctx, b, subscription.Options{Jitter: func() float64 { return 0 }, CheckPush: CheckSettings})
	if err != nil {
		t.Fatal(err)
	}
	v.e, v.b, v.m = e, b, m
	t.Cleanup(v.close)
	return v
}

// close stops the manager, then the engine; it may be called again.
func (v *env) close() {
	v.m.Close()
	v.e.Close()
}

func (v *env) topic(name string, partitions int) {
	v.t.Helper()
	if _, _, err := v.b.PutTopic(v.ctx, name, broker.TopicSpec{Partitions: &partitions}); err != nil {
		v.t.Fatal(err)
	}
}

// fastRetry redelivers 10ms after a failure.
var fastRetry = subscription.Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Multiplier: 1}

func (v *env) sub(topic, name string, cfg subscription.Config) {
	v.t.Helper()
	if cfg.Start == "" {
		cfg.Start = "earliest"
	}
	if _, _, err := v.m.Put(v.ctx, topic, name, cfg); err != nil {
		v.t.Fatal(err)
	}
}

var idSeq atomic.Int64

// payload is the data of a test event.
type payload struct {
	Key string `json:"key"`
	N   int    `json:"n"`
}

// publish stores one event per key, each with data {"key":k,"n":i} where
// i counts the events of that key in this call.
func (v *env) publish(topic string, keys ...string) {
	v.t.Helper()
	n := map[string]int{}
	for _, k := range keys {
		data, _ := json.Marshal(payload{Key: k, N: n[k]})
		n[k]++
		e := &event.Event{ID: fmt.Sprintf("ev-%d", idSeq.Add(1)), Source: "/test", Type: "test.event",
			SpecVersion: "1.0", PartitionKey: k, DataContentType: "application/json", Data: data}
		if _, err := v.b.Publish(v.ctx, topic, []*event.Event{e}); err != nil {
			v.t.Fatal(err)
		}
	}
}

// info describes a subscription.
func (v *env) info(topic, name string) subscription.Info {
	v.t.Helper()
	info, err := v.m.Get(v.ctx, topic, name)
	if err != nil {
		v.t.Fatal(err)
	}
	return info
}

// committed sums the subscription's committed offsets.
func (v *env) committed(topic, name string) int64 {
	v.t.Helper()
	info, err := v.m.Get(v.ctx, topic, name)
	if err != nil {
		v.t.Fatal(err)
	}
	var n int64
	for _, p := range info.Partitions {
		n += p.Committed
	}
	return n
}

// deadLetters reads a dead-letter topic (one partition).
func (v *env) deadLetters(topic string) []*event.Event {
	v.t.Helper()
	evs, err := v.b.Read(v.ctx, topic, 0, 0, 1000)
	if err != nil {
		v.t.Fatal(err)
	}
	return evs
}

// start runs a Pusher for the test, stopped at cleanup.
func (v *env) start(topic, name string, cfg Config, opts Options) *Pusher {
	p := Start(v.m, v.info(topic, name), cfg, opts)
	v.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Stop(ctx); err != nil {
			v.t.Errorf("stop: %v", err)
		}
	})
	return p
}

// eventually polls cond until it holds, failing the test after 15s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// request is what a receiver got.
type request struct {
	header  http.Header
	body    []byte
	arrived time.Time // when the handler started
	at      time.Time // when the handler returned (before the reply went out)
}

// receiver is a webhook endpoint that records requests and answers with
// reply (called with the request's number, from 0).
type receiver struct {
	srv   *httptest.Server
	reply func(w http.ResponseWriter, r *http.Request, body []byte, n int)

	mu   sync.Mutex // guards reqs
	reqs []request
}

func newReceiver(t *testing.T, reply func(w http.ResponseWriter, r *http.Request, body []byte, n int)) *receiver {
	rc := &receiver{reply: reply}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body := readAll(r)
	rc.mu.Lock()
	n := len(rc.reqs)
	rc.reqs = append(rc.reqs, request{header: r.Header.Clone(), body: body, arrived: time.Now()})
	rc.mu.Unlock()
	rc.reply(w, r, body, n)
	rc.mu.Lock()
	rc.reqs[n].at = time.Now()
	rc.mu.Unlock()
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

func (rc *receiver) count() int { return len(rc.requests()) }

func readAll(r *http.Request) []byte {
	b, _ := io.ReadAll(r.Body)
	return b
}

func ok(w http.ResponseWriter, _ *http.Request, _ []byte, _ int) { w.WriteHeader(http.StatusNoContent) }
