package server

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/heraldevents/herald/internal/broker"
)

// deadLetterOne makes event e00 a dead letter of orders/billing.
func (e *testEnv) deadLetterOne(t *testing.T) {
	t.Helper()
	e.createTopic("orders", "")
	e.putSub(t, subPath, `{"start":"earliest","maxAttempts":1}`, http.StatusCreated)
	e.publishN(t, 0, 1)
	ds := e.pull(t, "")
	if res := e.settle(t, "nack", `{"ackIds":["`+ds[0].AckID+`"],"reason":"card declined"}`); len(res.Acked) != 1 {
		t.Fatalf("nack %+v", res)
	}
}

func TestDeadLetters_ListRedriveAndAudit(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.deadLetterOne(t)

	var list DeadLetterList
	env.do("GET", subPath+"/deadletters", "").wantStatus(t, http.StatusOK, mediaJSON, &list)
	if len(list.DeadLetters) != 1 {
		t.Fatalf("dead letters %+v", list)
	}
	dl := list.DeadLetters[0]
	if dl.Partition != 0 || dl.Offset != 0 || dl.Redriving || dl.Event.Extensions["deadid"] != "e00" || dl.Event.Topic != "orders.billing.dlq" ||
		dl.Event.Extensions["deadreason"] != "card declined" || dl.Event.Extensions["deadattempts"] != "1" {
		t.Fatalf("dead letter %+v %+v", dl, dl.Event)
	}

	for _, id := range []string{"e00", dl.Event.ID} { // the event's own id, or the dead letter's
		var one DeadLetterList
		env.do("GET", subPath+"/deadletters?id="+url.QueryEscape(id), "").wantStatus(t, http.StatusOK, mediaJSON, &one)
		if len(one.DeadLetters) != 1 || one.DeadLetters[0].Event.ID != dl.Event.ID {
			t.Fatalf("dead letters of id %s: %+v", id, one)
		}
	}
	var none DeadLetterList
	if env.do("GET", subPath+"/deadletters?id=nope", "").wantStatus(t, http.StatusOK, mediaJSON, &none); len(none.DeadLetters) != 0 {
		t.Fatalf("dead letters of an id that has none: %+v", none)
	}

	var res RedriveReply
	env.do("POST", subPath+"/redrive", `{"all":true,"actor":"alice"}`).wantStatus(t, http.StatusOK, mediaJSON, &res)
	if res.Redriven != 1 || res.AlreadyRedriving != 0 || res.NotFound == nil || len(res.NotFound) != 0 {
		t.Fatalf("redrive %+v", res)
	}
	if s := env.getSub(t, subPath); s.Redriving != 1 {
		t.Errorf("redriving %d, want 1", s.Redriving)
	}
	env.do("POST", subPath+"/redrive", `{"ids":["e00","nope"]}`).wantStatus(t, http.StatusOK, mediaJSON, &res)
	if res.Redriven != 0 || res.AlreadyRedriving != 1 || len(res.NotFound) != 1 || res.NotFound[0] != "nope" {
		t.Fatalf("second redrive %+v", res)
	}

	ds := env.pull(t, "")
	if len(ds) != 1 || ds[0].Attempt != 1 || ds[0].Event.ID != "e00" || ds[0].Event.Topic != "orders" ||
		ds[0].Event.Offset != 0 || ds[0].Event.Extensions["deadreason"] != "" {
		t.Fatalf("redelivered dead letter %+v", ds)
	}
	env.settle(t, "ack", ackBody(ds...))
	if s := env.getSub(t, subPath); s.Redriving != 0 {
		t.Errorf("redriving %d after the ack, want 0", s.Redriving)
	}
	env.do("GET", subPath+"/deadletters", "").wantStatus(t, http.StatusOK, mediaJSON, &list)
	if len(list.DeadLetters) != 1 || !list.DeadLetters[0].Resolved || list.DeadLetters[0].Redriving {
		t.Fatalf("dead letters after the redriven one was acked: %+v", list)
	}
	env.do("POST", subPath+"/redrive", `{"all":true,"actor":"bob"}`).wantStatus(t, http.StatusOK, mediaJSON, &res)
	if res.Redriven != 0 || res.AlreadyResolved != 1 {
		t.Fatalf("redrive of all after the ack %+v, want the resolved one left out", res)
	}

	var audit RedriveLog
	env.do("GET", subPath+"/redrives", "").wantStatus(t, http.StatusOK, mediaJSON, &audit)
	if len(audit.Redrives) != 3 || audit.Redrives[0].Actor != "alice" || !audit.Redrives[0].All || audit.Redrives[0].Count != 1 ||
		audit.Redrives[1].Actor == "" || audit.Redrives[1].Count != 0 {
		t.Errorf("audit %+v", audit)
	}
}

func TestDeadLetters_BadRequests(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.deadLetterOne(t)
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"limit 0", "GET", subPath + "/deadletters?limit=0", "", 400, "invalid_parameter"},
		{"limit too large", "GET", subPath + "/deadletters?limit=10001", "", 400, "invalid_parameter"},
		{"unknown parameter", "GET", subPath + "/deadletters?offset=1", "", 400, "invalid_parameter"},
		{"semicolon separator", "GET", subPath + "/deadletters?limit=1;offset=1", "", 400, "invalid_parameter"},
		{"bad escape", "GET", subPath + "/deadletters?limit=%zz", "", 400, "invalid_parameter"},
		{"empty id", "GET", subPath + "/deadletters?id=", "", 400, "invalid_parameter"},
		{"id twice", "GET", subPath + "/deadletters?id=e00&id=e01", "", 400, "invalid_parameter"},
		{"list unknown subscription", "GET", "/v1/topics/orders/subscriptions/nope/deadletters", "", 404, "unknown_subscription"},
		{"list unknown topic", "GET", "/v1/topics/nope/subscriptions/billing/deadletters", "", 404, "unknown_topic"},
		{"redrive nothing", "POST", subPath + "/redrive", `{}`, 400, "invalid_parameter"},
		{"redrive empty body", "POST", subPath + "/redrive", ``, 400, "invalid_parameter"},
		{"redrive all and ids", "POST", subPath + "/redrive", `{"all":true,"ids":["e00"]}`, 400, "invalid_parameter"},
		{"redrive unknown field", "POST", subPath + "/redrive", `{"every":true}`, 400, "invalid_parameter"},
		{"redrive malformed", "POST", subPath + "/redrive", `{"all":`, 400, "malformed_request"},
		{"redrive unknown subscription", "POST", "/v1/topics/orders/subscriptions/nope/redrive", `{"all":true}`, 404, "unknown_subscription"},
		{"audit unknown subscription", "GET", "/v1/topics/orders/subscriptions/nope/redrives", "", 404, "unknown_subscription"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env.do(tt.method, tt.path, tt.body).wantProblem(t, tt.status, tt.code)
		})
	}
	if s := env.getSub(t, subPath); s.Redriving != 0 {
		t.Errorf("a bad request redrove: %+v", s)
	}
}

// A nack reason is free text; one with a line break (a stack trace, a
// multi-line error) still reaches the dead letter's deadreason, which must
// be a CloudEvents String, and the event is dead-lettered.
func TestDeadLetters_ANackReasonWithLineBreaksIsDeadLettered(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	env.putSub(t, subPath, `{"start":"earliest","maxAttempts":1,"backoff":{"initial":"10ms","max":"10ms"}}`, http.StatusCreated)
	env.publishN(t, 0, 1)
	ds := env.pull(t, `{"wait":"5s"}`)
	if len(ds) != 1 {
		t.Fatalf("pull %+v", ds)
	}
	res := env.settle(t, "nack", `{"ackIds":["`+ds[0].AckID+`"],"reason":"payment failed:\nconnection refused"}`)
	if len(res.Acked) != 1 {
		t.Fatalf("nack %+v", res)
	}
	// Give the retry loop a few chances.
	for i := 0; i < 3; i++ {
		env.pull(t, `{"wait":"100ms"}`)
	}
	p := env.getSub(t, subPath).Partitions[0]
	var list DeadLetterList
	env.do("GET", subPath+"/deadletters", "").wantStatus(t, http.StatusOK, mediaJSON, &list)
	if p.DeadLettered != 1 || len(list.DeadLetters) != 1 {
		t.Fatalf("after a nack on the last attempt: partition %+v, dead letters %d; want the event dead-lettered", p, len(list.DeadLetters))
	}
	if got := list.DeadLetters[0].Event.Extensions["deadreason"]; got != "payment failed: | connection refused" {
		t.Fatalf("deadreason %q", got)
	}
}

// An event at the size limit is dead-lettered, although its dead letter is
// larger by its dead* attributes and longer id.
func TestDeadLetters_AnEventAtTheSizeLimitIsDeadLettered(t *testing.T) {
	env := newEnv(t, broker.Options{MaxEventBytes: 4096}, Options{})
	env.createTopic("orders", "")
	env.putSub(t, subPath, `{"start":"earliest","maxAttempts":1,"backoff":{"initial":"10ms","max":"10ms"}}`, http.StatusCreated)
	data := `"` + strings.Repeat("x", 3900) + `"`
	body := `{"specversion":"1.0","id":"big","source":"/test","type":"test.happened","data":` + data + `}`
	env.do("POST", "/v1/topics/orders/events", body, ctStructured...).publishResults(t)
	ds := env.pull(t, `{"wait":"5s"}`)
	env.settle(t, "nack", `{"ackIds":["`+ds[0].AckID+`"],"reason":"no"}`)
	for i := 0; i < 3; i++ {
		env.pull(t, `{"wait":"100ms"}`)
	}
	if p := env.getSub(t, subPath).Partitions[0]; p.DeadLettered != 1 {
		t.Fatalf("accepted event (limit 4096) out of attempts: %+v; want it dead-lettered", p)
	}
}

// The actor is kept in the audit trail for good, so it is bounded: an
// actor of MaxActorBytes is taken, a longer one is refused and nothing is
// redriven or recorded.
func TestDeadLetters_AnActorPastItsLimitIsRefused(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.deadLetterOne(t)
	for _, n := range []int{MaxActorBytes + 1, 4 << 20} {
		env.do("POST", subPath+"/redrive", `{"all":true,"actor":"`+strings.Repeat("a", n)+`"}`).
			wantProblem(t, http.StatusBadRequest, "invalid_parameter")
	}
	var audit RedriveLog
	env.do("GET", subPath+"/redrives", "").wantStatus(t, http.StatusOK, mediaJSON, &audit)
	if s := env.getSub(t, subPath); s.Redriving != 0 || len(audit.Redrives) != 0 {
		t.Fatalf("a refused redrive redrove %d or was recorded: %+v", s.Redriving, audit)
	}
	actor := strings.Repeat("é", MaxActorBytes/2) // the limit is in bytes
	var res RedriveReply
	env.do("POST", subPath+"/redrive", `{"all":true,"actor":"`+actor+`"}`).wantStatus(t, http.StatusOK, mediaJSON, &res)
	env.do("GET", subPath+"/redrives", "").wantStatus(t, http.StatusOK, mediaJSON, &audit)
	if res.Redriven != 1 || len(audit.Redrives) != 1 || audit.Redrives[0].Actor != actor {
		t.Errorf("redrive %+v, audit %+v; want the event redriven by the %d-byte actor", res, audit, len(actor))
	}
}
