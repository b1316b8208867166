package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/broker"
)

const subPath = "/v1/topics/orders/subscriptions/billing"

// putSub creates or updates a subscription and checks the status.
func (e *testEnv) putSub(t *testing.T, path, body string, status int) Subscription {
	t.Helper()
	var s Subscription
	e.do("PUT", path, body).wantStatus(t, status, mediaJSON, &s)
	return s
}

// getSub describes a subscription.
func (e *testEnv) getSub(t *testing.T, path string) Subscription {
	t.Helper()
	var s Subscription
	e.do("GET", path, "").wantStatus(t, http.StatusOK, mediaJSON, &s)
	return s
}

func TestSubscriptions_CreateDescribeListUpdateDelete(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", `{"partitions":2}`)

	r := env.do("PUT", subPath, `{"start":"earliest","ackTimeout":"1m","maxAttempts":3,
		"backoff":{"initial":"2s","max":"90s","multiplier":3},"ordering":"partition",
		"filter":{"types":["order.*"],"sources":["/shop"],"subjectPrefix":"eu/"},"deadLetterTopic":"billing-dead"}`)
	var created Subscription
	r.wantStatus(t, http.StatusCreated, mediaJSON, &created)
	if loc := r.header.Get("Location"); loc != subPath {
		t.Errorf("Location %q", loc)
	}
	want := SubscriptionConfig{Start: "earliest", AckTimeout: "1m", MaxAttempts: 3,
		Backoff:  BackoffConfig{Initial: "2s", Max: "1m30s", Multiplier: 3},
		Ordering: "partition", DeadLetterTopic: "billing-dead",
		Filter: FilterConfig{Types: []string{"order.*"}, Sources: []string{"/shop"}, SubjectPrefix: "eu/"}}
	if created.Topic != "orders" || created.Name != "billing" || !reflect.DeepEqual(created.Config, want) ||
		time.Since(created.CreatedAt) > time.Minute || len(created.Partitions) != 2 {
		t.Fatalf("created %+v", created)
	}
	env.do("GET", "/v1/topics/billing-dead", "").wantStatus(t, http.StatusOK, mediaJSON, nil) // made with the subscription

	updated := env.putSub(t, subPath, `{"maxAttempts":7,"backoff":{"max":"10m"},"filter":{"types":[]},"start":"earliest"}`, http.StatusOK)
	want.MaxAttempts, want.Backoff.Max, want.Filter.Types = 7, "10m", []string{}
	if !reflect.DeepEqual(updated.Config, want) || !updated.CreatedAt.Equal(created.CreatedAt) {
		t.Fatalf("updated %+v, want config %+v", updated, want)
	}

	env.publishN(t, 0, 3)
	got := env.getSub(t, subPath)
	if !reflect.DeepEqual(got.Config, want) {
		t.Errorf("described config %+v", got.Config)
	}
	var ends, lags int64
	for i, p := range got.Partitions {
		if p.Partition != i || p.CommittedOffset != 0 || p.Lag != p.EndOffset || p.InFlight != 0 || p.DeadLettered != 0 {
			t.Errorf("partition %d: %+v", i, p)
		}
		ends, lags = ends+p.EndOffset, lags+p.Lag
	}
	if ends != 3 || lags != 3 {
		t.Errorf("partitions %+v, want 3 events and a lag of 3 in all", got.Partitions)
	}

	env.putSub(t, "/v1/topics/orders/subscriptions/audit", "", http.StatusCreated)
	var list SubscriptionList
	env.do("GET", "/v1/topics/orders/subscriptions", "").wantStatus(t, http.StatusOK, mediaJSON, &list)
	if len(list.Subscriptions) != 2 || list.Subscriptions[0].Name != "audit" || list.Subscriptions[1].Name != "billing" {
		t.Errorf("list %+v", list)
	}

	if r := env.do("DELETE", subPath, ""); r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	env.do("GET", subPath, "").wantProblem(t, 404, "unknown_subscription")
	env.do("GET", "/v1/topics/billing-dead", "").wantStatus(t, http.StatusOK, mediaJSON, nil) // the dead letters stay
}

func TestSubscriptions_DefaultsAreFilledIn(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	r := env.do("PUT", subPath, "")
	r.wantStatus(t, http.StatusCreated, mediaJSON, nil)
	var raw struct {
		Config json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}
	want := `{"start":"latest","ackTimeout":"30s","maxAttempts":5,"backoff":{"initial":"1s","max":"5m","multiplier":2},` +
		`"ordering":"key","filter":{"types":[],"sources":[],"subjectPrefix":""},"deadLetterTopic":"orders.billing.dlq"}`
	if string(raw.Config) != want {
		t.Errorf("config\n%s\nwant\n%s", raw.Config, want)
	}
}

func TestSubscriptions_EmptyListIsAnEmptyArray(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	r := env.do("GET", "/v1/topics/orders/subscriptions", "")
	r.wantStatus(t, http.StatusOK, mediaJSON, nil)
	if strings.TrimSpace(string(r.body)) != `{"subscriptions":[]}` {
		t.Errorf("body %s", r.body)
	}
}

func TestSubscriptions_BadRequestsChangeNothing(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	before := env.putSub(t, subPath, `{"start":"earliest","maxAttempts":3}`, http.StatusCreated)
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"malformed JSON", "PUT", subPath, `{"maxAttempts":`, 400, "malformed_request"},
		{"not an object", "PUT", subPath, `["earliest"]`, 400, "malformed_request"},
		{"unknown field", "PUT", subPath, `{"maxAttempt":3}`, 400, "invalid_subscription_setting"},
		{"unknown backoff field", "PUT", subPath, `{"backoff":{"factor":2}}`, 400, "invalid_subscription_setting"},
		{"wrong type", "PUT", subPath, `{"maxAttempts":"3"}`, 400, "invalid_subscription_setting"},
		{"bad duration", "PUT", subPath, `{"ackTimeout":"30"}`, 400, "invalid_subscription_setting"},
		{"bad backoff duration", "PUT", subPath, `{"backoff":{"initial":"1 second"}}`, 400, "invalid_subscription_setting"},
		{"zero backoff", "PUT", subPath, `{"backoff":{"initial":"0s"}}`, 400, "invalid_subscription_setting"},
		{"zero ack timeout", "PUT", subPath, `{"ackTimeout":"0s"}`, 400, "invalid_subscription_setting"},
		{"ack timeout too short", "PUT", subPath, `{"ackTimeout":"10ms"}`, 400, "invalid_subscription_setting"},
		{"zero max attempts", "PUT", subPath, `{"maxAttempts":0}`, 400, "invalid_subscription_setting"},
		{"too many attempts", "PUT", subPath, `{"maxAttempts":1001}`, 400, "invalid_subscription_setting"},
		{"backoff max below initial", "PUT", subPath, `{"backoff":{"initial":"1m","max":"1s"}}`, 400, "invalid_subscription_setting"},
		{"zero multiplier", "PUT", subPath, `{"backoff":{"multiplier":0}}`, 400, "invalid_subscription_setting"},
		{"bad ordering", "PUT", subPath, `{"ordering":"fifo"}`, 400, "invalid_subscription_setting"},
		{"bad start", "PUT", "/v1/topics/orders/subscriptions/new", `{"start":"yesterday"}`, 400, "invalid_subscription_setting"},
		{"dead letters to itself", "PUT", subPath, `{"deadLetterTopic":"orders"}`, 400, "invalid_subscription_setting"},
		{"reserved dead-letter topic", "PUT", subPath, `{"deadLetterTopic":"__x"}`, 400, "invalid_subscription_setting"},
		{"invalid dead-letter topic", "PUT", subPath, `{"deadLetterTopic":"a b"}`, 400, "invalid_subscription_setting"},
		{"other start", "PUT", subPath, `{"start":"latest"}`, 409, "subscription_conflict"},
		{"invalid name", "PUT", "/v1/topics/orders/subscriptions/bad%20name", ``, 400, "invalid_subscription_name"},
		{"reserved name", "PUT", "/v1/topics/orders/subscriptions/__x", ``, 400, "invalid_subscription_name"},
		{"name too long", "PUT", "/v1/topics/orders/subscriptions/" + strings.Repeat("x", 250), ``, 400, "invalid_subscription_name"},
		{"unknown topic", "PUT", "/v1/topics/nope/subscriptions/billing", ``, 404, "unknown_topic"},
		{"invalid topic", "PUT", "/v1/topics/a%20b/subscriptions/billing", ``, 400, "invalid_topic_name"},
		{"reserved topic", "PUT", "/v1/topics/__herald_subscriptions/subscriptions/billing", ``, 400, "reserved_topic_name"},
		{"get unknown", "GET", "/v1/topics/orders/subscriptions/nope", ``, 404, "unknown_subscription"},
		{"get on unknown topic", "GET", "/v1/topics/nope/subscriptions/billing", ``, 404, "unknown_topic"},
		{"list unknown topic", "GET", "/v1/topics/nope/subscriptions", ``, 404, "unknown_topic"},
		{"list reserved topic", "GET", "/v1/topics/__x/subscriptions", ``, 400, "reserved_topic_name"},
		{"delete unknown", "DELETE", "/v1/topics/orders/subscriptions/nope", ``, 404, "unknown_subscription"},
		{"delete on unknown topic", "DELETE", "/v1/topics/nope/subscriptions/billing", ``, 404, "unknown_topic"},
		{"method", "PATCH", subPath, ``, 405, "method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env.do(tt.method, tt.path, tt.body).wantProblem(t, tt.status, tt.code)
			if got := env.getSub(t, subPath); !reflect.DeepEqual(got.Config, before.Config) {
				t.Errorf("config changed: %+v", got.Config)
			}
		})
	}
	var list SubscriptionList
	env.do("GET", "/v1/topics/orders/subscriptions", "").wantStatus(t, http.StatusOK, mediaJSON, &list)
	if len(list.Subscriptions) != 1 {
		t.Errorf("subscriptions %+v", list.Subscriptions)
	}
}

func TestSubscriptions_RoutesNeedAManager(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	env.srv = New(env.broker, Options{}) // no Subscriptions
	for _, path := range []string{subPath, "/v1/topics/orders/subscriptions", subPath + "/pull"} {
		rec := httptest.NewRecorder()
		env.srv.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 404 || !strings.Contains(rec.Body.String(), `"code":"not_found"`) {
			t.Errorf("%s: %d %s", path, rec.Code, rec.Body.String())
		}
	}
}

func TestSubscriptions_SameStartTimeWrittenDifferentlyIsNoConflict(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	env.putSub(t, subPath, `{"start":"2026-01-01T00:00:00Z"}`, http.StatusCreated)
	s := env.putSub(t, subPath, `{"start":"2026-01-01T01:00:00+01:00","maxAttempts":2}`, http.StatusOK)
	if s.Config.Start != "2026-01-01T00:00:00Z" || s.Config.MaxAttempts != 2 {
		t.Errorf("config %+v", s.Config)
	}
	env.do("PUT", subPath, `{"start":"2026-01-01T00:00:01Z"}`).wantProblem(t, 409, "subscription_conflict")
}

// An empty ordering or dead-letter topic is neither a mode nor a topic
// name: it is refused, not taken as "back to the default".
func TestSubscriptions_AnEmptyOrderingOrDeadLetterTopicIsRefused(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	env.putSub(t, subPath, `{"ordering":"none","deadLetterTopic":"orders-dead"}`, http.StatusCreated)
	for _, body := range []string{`{"ordering":""}`, `{"deadLetterTopic":""}`} {
		env.do("PUT", subPath, body).wantProblem(t, 400, "invalid_subscription_setting")
	}
	if c := env.getSub(t, subPath).Config; c.Ordering != "none" || c.DeadLetterTopic != "orders-dead" {
		t.Errorf("refused requests changed the subscription: ordering %q deadLetterTopic %q", c.Ordering, c.DeadLetterTopic)
	}
	env.do("PUT", "/v1/topics/orders/subscriptions/new", `{"deadLetterTopic":""}`).wantProblem(t, 400, "invalid_subscription_setting")
	env.do("GET", "/v1/topics/orders.new.dlq", "").wantProblem(t, 404, "unknown_topic")
	env.do("PUT", "/v1/topics/orders/subscriptions/new", `{"start":""}`).wantProblem(t, 400, "invalid_subscription_setting")
	env.do("GET", "/v1/topics/orders/subscriptions/new", "").wantProblem(t, 404, "unknown_subscription")
}

// A start time with the lower-case t and z that RFC 3339 allows is taken,
// and is the same start as its upper-case form.
func TestSubscriptions_AStartTimeInLowerCaseIsTaken(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	env.putSub(t, subPath, `{"start":"2026-01-01t00:00:00z"}`, http.StatusCreated)
	env.putSub(t, subPath, `{"start":"2026-01-01T00:00:00Z","maxAttempts":3}`, http.StatusOK)
	env.do("GET", "/v1/topics/orders/events?partition=0&since=2026-01-01t00:00:00z", "").wantStatus(t, http.StatusOK, "application/cloudevents-batch+json", nil)
}

// An empty type or source pattern matches no event (every event has a
// type and a source), so a filter holding one is refused.
func TestSubscriptions_AnEmptyFilterPatternIsRefused(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	before := env.putSub(t, subPath, `{"filter":{"types":["order.*"],"sources":["/shop"]}}`, http.StatusCreated)
	for _, body := range []string{
		`{"filter":{"types":[""]}}`,
		`{"filter":{"types":["order.*",""]}}`,
		`{"filter":{"sources":[""]}}`,
	} {
		env.do("PUT", subPath, body).wantProblem(t, 400, "invalid_subscription_setting")
		if got := env.getSub(t, subPath).Config.Filter; !reflect.DeepEqual(got, before.Config.Filter) {
			t.Errorf("%s changed the filter to %+v", body, got)
		}
	}
	s := env.putSub(t, subPath, `{"filter":{"types":[],"sources":[]}}`, http.StatusOK) // [] still clears
	if len(s.Config.Filter.Types) != 0 || len(s.Config.Filter.Sources) != 0 {
		t.Errorf("filter %+v, want it cleared", s.Config.Filter)
	}
}

// A PUT changes the settings it names and keeps the others, also when
// other PUTs change other settings at the same time: none of the changes
// is lost.
func TestSubscriptions_ConcurrentChangesOfDifferentSettingsAllHold(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	env.putSub(t, subPath, "", http.StatusCreated)
	put := func(body string) error {
		req, err := http.NewRequest("PUT", env.url+subPath, strings.NewReader(body))
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("PUT %s: status %d", body, resp.StatusCode)
		}
		return nil
	}
	for round := range 200 {
		want := BackoffConfig{Initial: fmt.Sprintf("%ds", 1+round%59), Max: "5m", Multiplier: float64(1 + round%99)}
		attempts, timeout, prefix := 2+round, fmt.Sprintf("%ds", 10+round%40), fmt.Sprintf("p%d", round)
		bodies := []string{`{"maxAttempts":` + strconv.Itoa(attempts) + `}`, `{"ackTimeout":"` + timeout + `"}`,
			`{"filter":{"subjectPrefix":"` + prefix + `"}}`, `{"backoff":{"initial":"` + want.Initial + `"}}`,
			`{"backoff":{"multiplier":` + strconv.FormatFloat(want.Multiplier, 'f', -1, 64) + `}}`}
		errs := make([]error, len(bodies))
		var wg sync.WaitGroup
		for i, body := range bodies {
			wg.Go(func() { errs[i] = put(body) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		c := env.getSub(t, subPath).Config
		if c.MaxAttempts != attempts || c.AckTimeout != timeout || c.Filter.SubjectPrefix != prefix || c.Backoff != want {
			t.Fatalf("round %d: maxAttempts %d, ackTimeout %s, subjectPrefix %q, backoff %+v; want %d, %s, %q, %+v: a change was lost",
				round, c.MaxAttempts, c.AckTimeout, c.Filter.SubjectPrefix, c.Backoff, attempts, timeout, prefix, want)
		}
	}
}
