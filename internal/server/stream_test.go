package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/broker"
)

func TestSubscriptionPush_SettingsAreCheckedAndTheSecretIsNeverShown(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{})
	e.createTopic("orders", "")
	e.do(http.MethodPut, "/v1/topics/orders/subscriptions/hook", `{"push":{"url":"ftp://example"}}`).
		wantProblem(t, http.StatusBadRequest, "invalid_subscription_setting")
	r := e.do(http.MethodPut, "/v1/topics/orders/subscriptions/hook", `{"push":{"url":"http://127.0.0.1:9/hook","secret":"hunter2","timeout":"5s"}}`)
	var s Subscription
	r.wantStatus(t, http.StatusCreated, "application/json", &s)
	if p := s.Config.Push; p == nil || !p.Signed || p.Timeout != "5s" || p.MaxInFlight != 16 {
		t.Fatalf("push config %+v", s.Config.Push)
	}
	if strings.Contains(string(r.body), "hunter2") {
		t.Fatalf("the secret is in the reply: %s", r.body)
	}
	var after Subscription // a fresh value: decoding leaves fields the reply lacks untouched
	e.do(http.MethodPut, "/v1/topics/orders/subscriptions/hook", `{"push":{"url":""}}`).wantStatus(t, http.StatusOK, "application/json", &after)
	if after.Config.Push != nil {
		t.Fatalf("an empty url did not remove push: %+v", after.Config.Push)
	}
}

func TestSubscriptionStream_DeliversAsServerSentEvents(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{})
	e.createTopic("orders", "")
	e.do(http.MethodPut, "/v1/topics/orders/subscriptions/browser", `{"start":"earliest"}`).wantStatus(t, http.StatusCreated, "application/json", nil)
	e.do(http.MethodPost, "/v1/topics/orders/events", `{"x":1}`, "ce-id", "e1", "ce-source", "/t", "ce-type", "t", "ce-specversion", "1.0",
		"content-type", "application/json").wantStatus(t, http.StatusOK, "application/json", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/v1/topics/orders/subscriptions/browser/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	var delivery struct {
		AckID string `json:"ackId"`
		Event struct {
			ID string `json:"id"`
		} `json:"event"`
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			if err := json.Unmarshal([]byte(data), &delivery); err != nil {
				t.Fatalf("data line %q: %v", data, err)
			}
			break
		}
	}
	if delivery.Event.ID != "e1" || delivery.AckID == "" {
		t.Fatalf("first message: %+v (scan error %v)", delivery, sc.Err())
	}
	body, _ := json.Marshal(AckRequest{AckIDs: []string{delivery.AckID}})
	var res struct{ Acked []string }
	e.do(http.MethodPost, "/v1/topics/orders/subscriptions/browser/ack", string(body)).wantStatus(t, http.StatusOK, "application/json", &res)
	if len(res.Acked) != 1 {
		t.Fatalf("ack of a streamed delivery: %+v", res)
	}
	e.do(http.MethodGet, "/v1/topics/orders/subscriptions/nope/stream", "").wantProblem(t, http.StatusNotFound, "unknown_subscription")
}

func TestSubscriptionPush_AZeroTimeoutOrMaxInFlightIsRefused(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{})
	e.createTopic("orders", "")
	before := e.putSub(t, subPath, `{"push":{"url":"https://example.com/hook","maxInFlight":4,"timeout":"20s"}}`, http.StatusCreated)
	for _, body := range []string{
		`{"push":{"url":"https://example.com/hook","timeout":"0s"}}`,
		`{"push":{"url":"https://example.com/hook","timeout":""}}`,
		`{"push":{"url":"https://example.com/hook","maxInFlight":0}}`,
	} {
		e.do(http.MethodPut, subPath, body).wantProblem(t, http.StatusBadRequest, "invalid_subscription_setting")
		if got := e.getSub(t, subPath).Config.Push; got == nil || *got != *before.Config.Push {
			t.Errorf("%s changed push to %+v", body, got)
		}
	}
	e.do(http.MethodPut, "/v1/topics/orders/subscriptions/new", `{"push":{"url":"https://example.com/hook","maxInFlight":0}}`).
		wantProblem(t, http.StatusBadRequest, "invalid_subscription_setting")
	e.do(http.MethodGet, "/v1/topics/orders/subscriptions/new", "").wantProblem(t, http.StatusNotFound, "unknown_subscription")
}

// A change of one push setting keeps the others, the secret among them
// (it is never shown, so a client could not send it back); "secret":""
// removes it.
func TestSubscriptionPush_AChangeKeepsTheSecretItDoesNotGive(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	s := env.putSub(t, subPath, `{"push":{"url":"https://example.com/hook","secret":"s3cret","timeout":"30s"}}`, http.StatusCreated)
	if s.Config.Push == nil || !s.Config.Push.Signed {
		t.Fatalf("setup: %+v", s.Config.Push)
	}
	s = env.putSub(t, subPath, `{"push":{"maxInFlight":4}}`, http.StatusOK)
	if !s.Config.Push.Signed || s.Config.Push.Timeout != "30s" || s.Config.Push.MaxInFlight != 4 {
		t.Errorf("after changing maxInFlight only: %+v; want the secret and timeout kept", *s.Config.Push)
	}
	s = env.putSub(t, subPath, `{"push":{"secret":""}}`, http.StatusOK)
	if s.Config.Push == nil || s.Config.Push.Signed || s.Config.Push.MaxInFlight != 4 || s.Config.Push.URL != "https://example.com/hook" {
		t.Fatalf("after \"secret\":\"\": %+v; want it unsigned, the rest kept", s.Config.Push)
	}
	if s = env.putSub(t, subPath, `{"push":{"url":""}}`, http.StatusOK); s.Config.Push != nil {
		t.Errorf("after \"url\":\"\": %+v; want push off", *s.Config.Push)
	}
	env.do("PUT", subPath, `{"push":{"maxInFlight":4}}`).wantProblem(t, http.StatusBadRequest, "invalid_subscription_setting")
}

// A HEAD request answers the headers of the stream and leases nothing,
// so the event's first delivery is still its first attempt.
func TestSubscriptionStream_AHeadRequestAnswersTheHeadersAndLeasesNothing(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{})
	e.createTopic("orders", "")
	e.do(http.MethodPut, "/v1/topics/orders/subscriptions/browser", `{"start":"earliest"}`).wantStatus(t, http.StatusCreated, mediaJSON, nil)
	e.do(http.MethodPost, "/v1/topics/orders/events", structured("e1"), ctStructured...).wantStatus(t, http.StatusOK, mediaJSON, nil)
	r := e.do(http.MethodHead, "/v1/topics/orders/subscriptions/browser/stream", "")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("HEAD: %d, Content-Type %q; want 200, text/event-stream", r.status, r.header.Get("Content-Type"))
	}
	if r := e.do(http.MethodHead, "/v1/topics/orders/subscriptions/nope/stream", ""); r.status != http.StatusNotFound {
		t.Errorf("HEAD of an unknown subscription's stream: %d, want 404", r.status)
	}
	var sub Subscription
	e.do(http.MethodGet, "/v1/topics/orders/subscriptions/browser", "").wantStatus(t, http.StatusOK, mediaJSON, &sub)
	if p := sub.Partitions[0]; p.InFlight != 0 || p.WaitingRetry != 0 {
		t.Fatalf("after a HEAD: %+v, want nothing in flight or waiting", p)
	}
	var pulled PullReply
	e.do(http.MethodPost, "/v1/topics/orders/subscriptions/browser/pull", "").wantStatus(t, http.StatusOK, mediaJSON, &pulled)
	if len(pulled.Deliveries) != 1 || pulled.Deliveries[0].Attempt != 1 {
		t.Fatalf("pull after a HEAD: %+v, want e1 at attempt 1", pulled.Deliveries)
	}
}

// When the server shuts down while a stream is stuck writing to a client
// that stopped reading, the delivery being written counts as an attempt
// and is nacked: it waits for its retry instead of staying leased to the
// gone client until its ack timeout. Each message is smaller than the
// response's buffer, so it is the flush that fails, not the write.
func TestSubscriptionStream_ADeliveryWhoseFlushFailsIsNacked(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{})
	e.createTopic("orders", `{"partitions":4}`)
	e.putSub(t, subPath, `{"start":"earliest","ordering":"none","ackTimeout":"1h"}`, http.StatusCreated)
	data := strings.Repeat("x", 3000)
	for b := range 40 { // 12 MB in all: more than the socket buffers hold
		var evs []string
		for i := range 100 {
			evs = append(evs, fmt.Sprintf(`{"specversion":"1.0","id":"e%d-%d","source":"/t","type":"t","datacontenttype":"text/plain","data":%q}`, b, i, data))
		}
		e.do(http.MethodPost, "/v1/topics/orders/events", "["+strings.Join(evs, ",")+"]", ctBatch...).publishResults(t)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.(*net.TCPConn).SetReadBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("GET " + subPath + "/stream HTTP/1.1\r\nHost: herald\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	inFlight := func() (n int) {
		for _, p := range e.getSub(t, subPath).Partitions {
			n += p.InFlight
		}
		return n
	}
	for n, deadline := -1, time.Now().Add(20*time.Second); ; { // until the stream is stuck: the client reads nothing
		time.Sleep(300 * time.Millisecond)
		m := inFlight()
		if m > 0 && m == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream is not stuck after 20s: %d in flight", m)
		}
		n = m
	}
	e.srv.Close() // the server shutting down ends the stuck stream
	waiting := func() (n int) {
		for _, p := range e.getSub(t, subPath).Partitions {
			n += p.WaitingRetry
		}
		return n
	}
	for deadline := time.Now().Add(10 * time.Second); waiting() == 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if n := waiting(); n != 1 {
		t.Fatalf("after the shutdown: %d waiting for a retry, %d in flight; want the delivery being written waiting for its retry", n, inFlight())
	}
}
