package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
)

// pull pulls with the given body and decodes the deliveries.
func (e *testEnv) pull(t *testing.T, body string) []Delivery {
	t.Helper()
	var out PullReply
	e.do("POST", subPath+"/pull", body).wantStatus(t, http.StatusOK, mediaJSON, &out)
	if out.Deliveries == nil {
		t.Fatalf("deliveries is null, want an array")
	}
	return out.Deliveries
}

// settle posts to ack, nack or extend and decodes the reply.
func (e *testEnv) settle(t *testing.T, action, body string) AckReply {
	t.Helper()
	var out AckReply
	e.do("POST", subPath+"/"+action, body).wantStatus(t, http.StatusOK, mediaJSON, &out)
	if out.Acked == nil || out.Stale == nil || out.Unknown == nil {
		t.Fatalf("reply has a null list: %+v", out)
	}
	return out
}

func ackBody(ds ...Delivery) string {
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.AckID
	}
	b, _ := json.Marshal(AckRequest{AckIDs: ids})
	return string(b)
}

func TestDeliveries_PullReturnsEventsWithAckIDAttemptAndPosition(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	env.putSub(t, subPath, `{"start":"earliest","ordering":"none"}`, http.StatusCreated)
	env.publishN(t, 0, 3)

	r := env.do("POST", subPath+"/pull", `{"max":2}`)
	r.wantStatus(t, http.StatusOK, mediaJSON, nil)
	var raw struct {
		Deliveries []map[string]json.RawMessage `json:"deliveries"`
	}
	if err := json.Unmarshal(r.body, &raw); err != nil || len(raw.Deliveries) != 2 {
		t.Fatalf("reply %s: %v", r.body, err)
	}
	d := raw.Deliveries[0]
	if len(d) != 3 || string(d["attempt"]) != "1" || len(d["ackId"]) < 3 {
		t.Errorf("delivery %s", r.body)
	}
	var ev map[string]any
	if err := json.Unmarshal(d["event"], &ev); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"specversion": "1.0", "id": "e00", "source": "/test", "type": "test.happened",
		"topic": "orders", "partition": 0.0, "offset": 0.0}
	for k, v := range want {
		if ev[k] != v {
			t.Errorf("event %s = %v, want %v (event %s)", k, ev[k], v, d["event"])
		}
	}
	if _, ok := ev["storedtime"]; !ok || ev["data"] == nil {
		t.Errorf("event %s has no storedtime or data", d["event"])
	}

	ds := env.pull(t, `{"max":5}`)
	if len(ds) != 1 || ds[0].Event.ID != "e02" || !ds[0].Event.Stored || ds[0].Event.Offset != 2 || string(ds[0].Event.Data) != `{"n":1}` {
		t.Fatalf("second pull %+v", ds)
	}
	if ds := env.pull(t, ""); len(ds) != 0 {
		t.Fatalf("third pull %+v", ds)
	}
}

// The whole life of one event over HTTP: pulled, nacked, redelivered
// after its backoff, acked, and the subscription's position moves.
func TestDeliveries_NackRedeliversAfterTheBackoffThenAckCommits(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	env.putSub(t, subPath, `{"start":"earliest","backoff":{"initial":"200ms","max":"200ms"}}`, http.StatusCreated)
	env.publishN(t, 0, 1)

	first := env.pull(t, `{"max":10}`)
	if len(first) != 1 || first[0].Attempt != 1 {
		t.Fatalf("first pull %+v", first)
	}
	if p := env.getSub(t, subPath).Partitions[0]; p.InFlight != 1 || p.Lag != 1 || p.CommittedOffset != 0 {
		t.Errorf("while in flight: %+v", p)
	}
	if res := env.settle(t, "nack", `{"ackIds":["`+first[0].AckID+`"],"reason":"payment service down"}`); len(res.Acked) != 1 {
		t.Fatalf("nack %+v", res)
	}
	nacked := time.Now()
	if p := env.getSub(t, subPath).Partitions[0]; p.WaitingRetry != 1 || p.InFlight != 0 {
		t.Errorf("after the nack: %+v", p)
	}
	if early := env.pull(t, ""); len(early) != 0 {
		t.Fatalf("redelivered before the backoff: %+v", early)
	}
	second := env.pull(t, `{"wait":"10s"}`) // wakes when the backoff is over
	if len(second) != 1 || second[0].Attempt != 2 || second[0].Event.ID != "e00" || second[0].AckID == first[0].AckID {
		t.Fatalf("redelivery %+v", second)
	}
	if waited := time.Since(nacked); waited < 200*time.Millisecond || waited > 5*time.Second {
		t.Errorf("redelivered after %s, want the 200ms backoff (plus at most 20%%)", waited)
	}

	res := env.settle(t, "ack", ackBody(first[0], second[0])+"")
	if len(res.Acked) != 1 || res.Acked[0] != second[0].AckID || len(res.Stale) != 1 || res.Stale[0] != first[0].AckID {
		t.Fatalf("ack %+v", res)
	}
	p := env.getSub(t, subPath).Partitions[0]
	if p != (SubscriptionPartition{Partition: 0, CommittedOffset: 1, EndOffset: 1}) {
		t.Errorf("after the ack: %+v", p)
	}
	if again := env.settle(t, "ack", ackBody(second[0])); len(again.Stale) != 1 || len(again.Acked) != 0 {
		t.Errorf("second ack of the same id: %+v", again)
	}
}

func TestDeliveries_DeadLetterAfterMaxAttemptsIsReadableInItsTopic(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	env.putSub(t, subPath, `{"start":"earliest","maxAttempts":2}`, http.StatusCreated)
	env.publishN(t, 0, 1)
	for attempt := 1; attempt <= 2; attempt++ {
		ds := env.pull(t, `{"wait":"5s"}`)
		if len(ds) != 1 || ds[0].Attempt != attempt {
			t.Fatalf("attempt %d: %+v", attempt, ds)
		}
		env.settle(t, "nack", `{"ackIds":["`+ds[0].AckID+`"],"delay":"1ms","reason":"card declined"}`)
	}
	r := env.do("GET", "/v1/topics/orders.billing.dlq/events", "")
	r.wantStatus(t, http.StatusOK, event.MediaTypeBatch, nil)
	dead, err := event.DecodeBatch(r.body)
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead letters %s: %v", r.body, err)
	}
	want := map[string]string{"deadreason": "card declined", "deadattempts": "2", "deadsubscription": "billing",
		"deadtopic": "orders", "deadpartition": "0", "deadoffset": "0"}
	for k, v := range want {
		if got := dead[0].Extensions[k]; got != v {
			t.Errorf("dead letter %s = %q, want %q", k, got, v)
		}
	}
	if dead[0].ID != "e00@orders/billing" || dead[0].Extensions["deadid"] != "e00" || dead[0].Source != "/test" {
		t.Errorf("dead letter %+v", dead[0])
	}
	p := env.getSub(t, subPath).Partitions[0]
	if p.CommittedOffset != 1 || p.DeadLettered != 1 || p.Lag != 0 {
		t.Errorf("after dead-lettering: %+v", p)
	}
	if ds := env.pull(t, ""); len(ds) != 0 {
		t.Errorf("delivered after dead-lettering: %+v", ds)
	}
}

func TestDeliveries_ExtendAndUnknownAckIDs(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	env.putSub(t, subPath, `{"start":"earliest"}`, http.StatusCreated)
	env.publishN(t, 0, 1)
	ds := env.pull(t, "")
	res := env.settle(t, "extend", `{"ackIds":["`+ds[0].AckID+`","nonsense"],"extend":"2m"}`)
	if len(res.Acked) != 1 || len(res.Unknown) != 1 || res.Unknown[0] != "nonsense" {
		t.Fatalf("extend %+v", res)
	}
	res = env.settle(t, "ack", `{"ackIds":["`+ds[0].AckID+`","9.0.0.1"]}`)
	if len(res.Acked) != 1 || len(res.Unknown) != 1 {
		t.Fatalf("ack %+v", res)
	}
}

func TestDeliveries_WaitingPullWakesOnPublishAndOnClose(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	env.putSub(t, subPath, `{"start":"earliest"}`, http.StatusCreated)
	got := make(chan []Delivery, 1)
	start := time.Now()
	go func() { got <- env.pull(t, `{"wait":"20s"}`) }()
	time.Sleep(100 * time.Millisecond)
	env.publishN(t, 0, 1)
	if ds := <-got; len(ds) != 1 || time.Since(start) > 10*time.Second {
		t.Fatalf("pull after a publish: %+v after %s", ds, time.Since(start))
	}

	go func() { got <- env.pull(t, `{"wait":"20s"}`) }()
	time.Sleep(100 * time.Millisecond)
	start = time.Now()
	env.srv.Close()
	if ds := <-got; len(ds) != 0 || time.Since(start) > 10*time.Second {
		t.Fatalf("pull when the server closed: %+v after %s", ds, time.Since(start))
	}
}

func TestDeliveries_SeekReplaysAndSkips(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	env.putSub(t, subPath, `{"start":"earliest","ordering":"none"}`, http.StatusCreated)
	env.publishN(t, 0, 3)
	env.settle(t, "ack", ackBody(env.pull(t, "")...))
	if p := env.getSub(t, subPath).Partitions[0]; p.CommittedOffset != 3 {
		t.Fatalf("after acking all: %+v", p)
	}
	var s Subscription
	env.do("POST", subPath+"/seek", `{"start":"earliest"}`).wantStatus(t, http.StatusOK, mediaJSON, &s)
	if s.Partitions[0].CommittedOffset != 0 || s.Partitions[0].Lag != 3 {
		t.Errorf("after seeking to earliest: %+v", s.Partitions)
	}
	env.do("POST", subPath+"/seek", `{"offsets":{"0":2}}`).wantStatus(t, http.StatusOK, mediaJSON, &s)
	if ds := env.pull(t, ""); len(ds) != 1 || ds[0].Event.Offset != 2 {
		t.Errorf("after seeking to offset 2: %+v", ds)
	}
}

func TestDeliveries_BadRequests(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	env.putSub(t, subPath, `{"start":"earliest"}`, http.StatusCreated)
	env.publishN(t, 0, 1)
	tests := []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"pull malformed JSON", "/pull", `{"max":`, 400, "malformed_request"},
		{"pull not an object", "/pull", `10`, 400, "malformed_request"},
		{"pull unknown field", "/pull", `{"limit":10}`, 400, "invalid_parameter"},
		{"pull wrong type", "/pull", `{"max":"10"}`, 400, "invalid_parameter"},
		{"pull max 0", "/pull", `{"max":0}`, 400, "invalid_parameter"},
		{"pull max too large", "/pull", `{"max":1001}`, 400, "invalid_parameter"},
		{"pull bad wait", "/pull", `{"wait":"10"}`, 400, "invalid_parameter"},
		{"pull wait too long", "/pull", `{"wait":"31s"}`, 400, "invalid_parameter"},
		{"pull negative wait", "/pull", `{"wait":"-1s"}`, 400, "invalid_parameter"},
		{"ack malformed JSON", "/ack", `{"ackIds":[`, 400, "malformed_request"},
		{"ack empty body", "/ack", ``, 400, "invalid_parameter"},
		{"ack empty ackIds", "/ack", `{"ackIds":[]}`, 400, "invalid_parameter"},
		{"ack unknown field", "/ack", `{"ids":["x"]}`, 400, "invalid_parameter"},
		{"ack ids not strings", "/ack", `{"ackIds":[1]}`, 400, "invalid_parameter"},
		{"ack too many ids", "/ack", `{"ackIds":[` + strings.Repeat(`"x",`, MaxAckIDs) + `"x"]}`, 400, "invalid_parameter"},
		{"nack empty ackIds", "/nack", `{"ackIds":[],"reason":"r"}`, 400, "invalid_parameter"},
		{"nack bad delay", "/nack", `{"ackIds":["x"],"delay":"soon"}`, 400, "invalid_parameter"},
		{"nack zero delay", "/nack", `{"ackIds":["x"],"delay":"0s"}`, 400, "invalid_parameter"},
		{"nack delay too long", "/nack", `{"ackIds":["x"],"delay":"13h"}`, 400, "invalid_parameter"},
		{"extend empty ackIds", "/extend", `{"extend":"1m"}`, 400, "invalid_parameter"},
		{"extend bad duration", "/extend", `{"ackIds":["x"],"extend":"-1m"}`, 400, "invalid_parameter"},
		{"seek neither", "/seek", `{}`, 400, "invalid_parameter"},
		{"seek both", "/seek", `{"start":"earliest","offsets":{"0":0}}`, 400, "invalid_parameter"},
		{"seek bad partition key", "/seek", `{"offsets":{"zero":0}}`, 400, "invalid_parameter"},
		{"seek bad start", "/seek", `{"start":"now"}`, 400, "invalid_subscription_setting"},
		{"seek past the end", "/seek", `{"offsets":{"0":5}}`, 400, "invalid_subscription_setting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env.do("POST", subPath+tt.path, tt.body).wantProblem(t, tt.status, tt.code)
		})
	}
	// Nothing above leased or moved anything.
	if ds := env.pull(t, ""); len(ds) != 1 || ds[0].Attempt != 1 {
		t.Fatalf("pull after the bad requests: %+v", ds)
	}
	for _, action := range []string{"pull", "ack", "nack", "extend", "seek"} {
		body := `{"ackIds":["x"]}`
		switch action {
		case "pull":
			body = ""
		case "seek":
			body = `{"start":"earliest"}`
		}
		t.Run(action+" unknown", func(t *testing.T) {
			env.do("POST", "/v1/topics/orders/subscriptions/nope/"+action, body).wantProblem(t, 404, "unknown_subscription")
			env.do("POST", "/v1/topics/nope/subscriptions/billing/"+action, body).wantProblem(t, 404, "unknown_topic")
			env.do("POST", "/v1/topics/__x/subscriptions/billing/"+action, body).wantProblem(t, 400, "reserved_topic_name")
			env.do("GET", subPath+"/"+action, "").wantProblem(t, 405, "method_not_allowed")
		})
	}
}

// A null offset in a seek is refused, not read as offset 0: that would
// replay the whole partition.
func TestDeliveries_ASeekToANullOffsetIsRefusedAndMovesNothing(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	env.putSub(t, subPath, `{"start":"earliest","ordering":"none"}`, http.StatusCreated)
	env.publishN(t, 0, 3)
	env.settle(t, "ack", ackBody(env.pull(t, "")...))
	env.do("POST", subPath+"/seek", `{"offsets":{"0":null}}`).wantProblem(t, http.StatusBadRequest, "invalid_parameter")
	if p := env.getSub(t, subPath).Partitions[0]; p.CommittedOffset != 3 {
		t.Fatalf("after a seek to a null offset: %+v, want committed offset 3 still", p)
	}
}
