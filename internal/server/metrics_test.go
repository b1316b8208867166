package server

import (
	"bytes"
	"context"
	"net/http"
	"sort"
	"strings"
	"testing"

	"connectrpc.com/connect"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/heraldevents/herald/internal/broker"
	heraldv1 "github.com/heraldevents/herald/internal/rpc/heraldv1"
	"github.com/heraldevents/herald/internal/rpc/heraldv1/heraldv1connect"
	"github.com/heraldevents/herald/internal/storage"
)

// scrape is one parsed scrape of /metrics.
type scrape map[string]*dto.MetricFamily

// scrapeMetrics reads /metrics (header: name/value pairs) and parses it as
// Prometheus's text format.
func (e *testEnv) scrapeMetrics(t *testing.T, header ...string) scrape {
	t.Helper()
	r := e.do("GET", "/metrics", "", header...)
	if r.status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("Content-Type %q, want Prometheus's text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, r.body)
	}
	return families
}

// value is the value of the series of family name with exactly the given
// labels (name/value pairs); found false when there is none.
func (s scrape) value(name string, labels ...string) (v float64, found bool) {
	f := s[name]
	if f == nil {
		return 0, false
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			if w, ok := want[l.GetName()]; !ok || w != l.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.GetUntyped() != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// want checks the value of one series.
func (s scrape) want(t *testing.T, want float64, name string, labels ...string) {
	t.Helper()
	got, ok := s.value(name, labels...)
	if !ok {
		t.Errorf("%s%v: no such series", name, labels)
		return
	}
	if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// labelValues lists the values label takes in family name.
func (s scrape) labelValues(name, label string) []string {
	var out []string
	for _, m := range s[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				out = append(out, l.GetValue())
			}
		}
	}
	sort.Strings(out)
	return out
}

// Scraped after real traffic, the metrics say exactly what it did: offsets
// and sizes of partitions, publishes by outcome with their events and
// duplicates, a subscription's lag, in-flight events, dead letters and
// settlements, HTTP requests by route pattern (not path), method and code,
// and gRPC calls by procedure and code; with the Go runtime's and the
// process's own.
func TestMetrics_ScrapeShowsWhatTheTrafficDid(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{})
	e.createTopic("orders", "")
	e.createTopic("payments", `{"partitions":2}`)
	e.putSub(t, subPath, `{"start":"earliest","maxAttempts":1,"ordering":"none"}`, http.StatusCreated)
	e.putSub(t, "/v1/topics/orders/subscriptions/audit", `{"start":"earliest"}`, http.StatusCreated)

	e.publishN(t, 0, 3) // orders: e00, e01, e02
	e.do("POST", "/v1/topics/orders/events", structured("e01"), ctStructured...).publishResults(t)
	for _, id := range []string{"p1", "p2"} {
		e.do("POST", "/v1/topics/payments/events", structured(id), ctStructured...).publishResults(t)
	}
	e.do("POST", "/v1/topics/payments/events", `{"specversion":"1.0","source":"/test","type":"t"}`, ctStructured...).
		wantProblem(t, http.StatusBadRequest, "invalid_event")

	ds := e.pull(t, `{"max":3}`)
	if len(ds) != 3 {
		t.Fatalf("pulled %d, want 3", len(ds))
	}
	e.settle(t, "ack", ackBody(ds[0]))
	e.settle(t, "nack", ackBody(ds[1])) // out of attempts: dead-lettered
	// ds[2] stays in flight

	e.do("GET", "/v1/topics/orders/nothing", "").wantProblem(t, http.StatusNotFound, "not_found")
	e.do("BREW", "/v1/topics", "").wantProblem(t, http.StatusMethodNotAllowed, "method_not_allowed")
	client := heraldv1connect.NewHeraldServiceClient(http.DefaultClient, e.url)
	if _, err := client.GetTopic(context.Background(), connect.NewRequest(&heraldv1.GetTopicRequest{Name: "orders"})); err != nil {
		t.Fatal(err)
	}
	if _, err := client.GetTopic(context.Background(), connect.NewRequest(&heraldv1.GetTopicRequest{Name: "missing"})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("GetTopic of a missing topic: %v", err)
	}

	m := e.scrapeMetrics(t)

	// Topics and partitions.
	m.want(t, 1, "herald_topic_partitions", "topic", "orders")
	m.want(t, 2, "herald_topic_partitions", "topic", "payments")
	m.want(t, 3, "herald_partition_end_offset", "topic", "orders", "partition", "0")
	m.want(t, 0, "herald_partition_start_offset", "topic", "orders", "partition", "0")
	m.want(t, 1, "herald_partition_end_offset", "topic", "payments", "partition", "0")
	m.want(t, 1, "herald_partition_end_offset", "topic", "payments", "partition", "1")
	m.want(t, 1, "herald_partition_end_offset", "topic", "orders.billing.dlq", "partition", "0")
	size, err := e.broker.Engine().(storage.Sizer).PartitionBytes("orders", 0)
	if err != nil || size == 0 {
		t.Fatalf("orders holds %d bytes, %v", size, err)
	}
	m.want(t, float64(size), "herald_partition_size_bytes", "topic", "orders", "partition", "0")
	if got := m.labelValues("herald_topic_partitions", "topic"); strings.Join(got, " ") != "orders orders.audit.dlq orders.billing.dlq payments" {
		t.Errorf("topics %v: internal topics must not show", got)
	}

	// Publishes.
	m.want(t, 3, "herald_topic_published_events_total", "topic", "orders")
	m.want(t, 1, "herald_topic_duplicate_events_total", "topic", "orders")
	m.want(t, 2, "herald_topic_publish_requests_total", "topic", "orders", "outcome", "ok")
	m.want(t, 0, "herald_topic_publish_requests_total", "topic", "orders", "outcome", "rejected")
	m.want(t, 2, "herald_topic_published_events_total", "topic", "payments")
	m.want(t, 0, "herald_topic_duplicate_events_total", "topic", "payments")
	m.want(t, 2, "herald_topic_publish_requests_total", "topic", "payments", "outcome", "ok")
	m.want(t, 1, "herald_topic_publish_requests_total", "topic", "payments", "outcome", "rejected")
	m.want(t, 0, "herald_topic_publish_requests_total", "topic", "payments", "outcome", "failed")
	m.want(t, 0, "herald_topic_publish_requests_total", "topic", "payments", "outcome", "canceled")
	m.want(t, 1, "herald_topic_published_events_total", "topic", "orders.billing.dlq") // the dead letter

	// Subscriptions.
	billing := []string{"topic", "orders", "subscription", "billing"}
	m.want(t, 1, "herald_subscription_lag_events", billing...) // 0 acked, 1 dead-lettered, 2 in flight
	m.want(t, 1, "herald_subscription_in_flight_events", billing...)
	m.want(t, 0, "herald_subscription_retry_waiting_events", billing...)
	m.want(t, 1, "herald_subscription_dead_lettered_events_total", billing...)
	m.want(t, 3, "herald_subscription_deliveries_total", billing...)
	m.want(t, 0, "herald_subscription_redeliveries_total", billing...)
	m.want(t, 1, "herald_subscription_acks_total", billing...)
	m.want(t, 1, "herald_subscription_nacks_total", billing...)
	m.want(t, 0, "herald_subscription_expired_leases_total", billing...)
	m.want(t, 0, "herald_subscription_redriving_events", billing...)
	if age, ok := m.value("herald_subscription_oldest_unacked_age_seconds", billing...); !ok || age <= 0 || age > 60 {
		t.Errorf("oldest unacked age %v (found %v), want the seconds since e02 was stored", age, ok)
	}
	audit := []string{"topic", "orders", "subscription", "audit"}
	m.want(t, 3, "herald_subscription_lag_events", audit...)
	m.want(t, 0, "herald_subscription_deliveries_total", audit...)

	// HTTP, by route pattern.
	events := []string{"route", "/v1/topics/{topic}/events", "method", "POST"}
	m.want(t, 4, "herald_http_requests_total", append(events, "code", "200")...)
	m.want(t, 1, "herald_http_requests_total", append(events, "code", "400")...)
	m.want(t, 5, "herald_http_request_duration_seconds", events...)
	m.want(t, 1, "herald_http_requests_total", "route", "/v1/topics/{topic}/subscriptions/{name}/nack", "method", "POST", "code", "200")
	m.want(t, 1, "herald_http_requests_total", "route", "unmatched", "method", "GET", "code", "404")
	m.want(t, 1, "herald_http_requests_total", "route", "unmatched", "method", "OTHER", "code", "405")
	rpcRoute := []string{"route", "/herald.v1.HeraldService/", "method", "POST"}
	m.want(t, 1, "herald_http_requests_total", append(rpcRoute, "code", "200")...)
	m.want(t, 1, "herald_http_requests_total", append(rpcRoute, "code", "404")...) // the Connect protocol's not_found
	for _, route := range m.labelValues("herald_http_requests_total", "route") {
		if strings.Contains(route, "orders") || strings.Contains(route, "nothing") {
			t.Errorf("route label %q is a path, not a pattern", route)
		}
	}

	// gRPC.
	getTopic := "/herald.v1.HeraldService/GetTopic"
	m.want(t, 1, "herald_grpc_calls_total", "procedure", getTopic, "code", "ok")
	m.want(t, 1, "herald_grpc_calls_total", "procedure", getTopic, "code", "not_found")
	m.want(t, 2, "herald_grpc_call_duration_seconds", "procedure", getTopic)

	// The Go runtime and the process.
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if m[name] == nil {
			t.Errorf("no %s", name)
		}
	}

	// A scrape is a request like any other, counted in the next one.
	m = e.scrapeMetrics(t)
	m.want(t, 1, "herald_http_requests_total", "route", "/metrics", "method", "GET", "code", "200")
}

// Each server has a registry of its own: two servers in one process
// count apart, and neither touches Prometheus's default registry.
func TestMetrics_ServersCountApart(t *testing.T) {
	a := newEnv(t, broker.Options{}, Options{})
	b := newEnv(t, broker.Options{}, Options{})
	a.createTopic("orders", "")
	a.publishN(t, 0, 2)
	b.createTopic("orders", "")
	ma, mb := a.scrapeMetrics(t), b.scrapeMetrics(t)
	ma.want(t, 2, "herald_partition_end_offset", "topic", "orders", "partition", "0")
	mb.want(t, 0, "herald_partition_end_offset", "topic", "orders", "partition", "0")
	mb.want(t, 0, "herald_topic_published_events_total", "topic", "orders")
	if _, ok := mb.value("herald_http_requests_total", "route", "/v1/topics/{topic}/events", "method", "POST", "code", "200"); ok {
		t.Error("the second server counts the first one's publishes")
	}
}

// With tokens on, a scrape needs a valid token, whatever its grants (a
// Prometheus scrape config sends one as bearer_token); a missing or wrong
// one is 401 like on every route but /healthz.
func TestMetrics_WithTokensAScrapeNeedsAnyValidToken(t *testing.T) {
	e := newEnv(t, broker.Options{}, Options{Keys: authKeys(t), Tokens: []string{"plain-token"}})
	e.do("GET", "/metrics", "").wantProblem(t, http.StatusUnauthorized, "unauthorized")
	e.do("GET", "/metrics", "", "Authorization", "Bearer "+wrongToken).wantProblem(t, http.StatusUnauthorized, "unauthorized")
	for _, token := range []string{otherToken, adminToken, "plain-token"} {
		m := e.scrapeMetrics(t, "Authorization", "Bearer "+token)
		if m["go_goroutines"] == nil {
			t.Errorf("token %s: the scrape has no go_goroutines", token)
		}
	}
	// The refused scrapes count under their route, not as unmatched.
	m := e.scrapeMetrics(t, "Authorization", "Bearer "+adminToken)
	m.want(t, 2, "herald_http_requests_total", "route", "/metrics", "method", "GET", "code", "401")
	m.want(t, 3, "herald_http_requests_total", "route", "/metrics", "method", "GET", "code", "200")
}

// Every kind of refused publish to an existing topic counts as rejected
// in it, also those refused while the request is decoded, before the
// broker sees the events: malformed JSON, a media type that is not a
// CloudEvents mode, a body over the limit, more events than a batch may
// hold, and over gRPC an event that cannot be converted. A refused
// publish to a topic that does not exist makes no series.
func TestMetrics_EveryRefusedPublishCountsAsRejected(t *testing.T) {
	e := newEnv(t, broker.Options{MaxBatchEvents: 2}, Options{MaxBodyBytes: 4096})
	e.createTopic("orders", "")
	const events = "/v1/topics/orders/events"
	e.do("POST", events, `{"specversion":"1.0","source":"/test","type":"t"}`, ctStructured...).
		wantProblem(t, http.StatusBadRequest, "invalid_event") // reaches the broker
	e.do("POST", events, `{"specversion":`, ctStructured...).wantProblem(t, http.StatusBadRequest, "malformed_request")
	e.do("POST", events, "hello", "Content-Type", "text/csv").wantProblem(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
	e.do("POST", events, structured(strings.Repeat("x", 5000)), ctStructured...).wantProblem(t, http.StatusRequestEntityTooLarge, "request_too_large")
	e.do("POST", events, "["+structured("a")+","+structured("b")+","+structured("c")+"]", ctBatch...).
		wantProblem(t, http.StatusRequestEntityTooLarge, "batch_too_large")
	client := heraldv1connect.NewHeraldServiceClient(http.DefaultClient, e.url)
	bad := &heraldv1.CloudEvent{Id: "g1", Source: "/test", SpecVersion: "1.0", Type: "t",
		Attributes: map[string]*heraldv1.CloudEventAttributeValue{"id": {Attr: &heraldv1.CloudEventAttributeValue_CeString{CeString: "g2"}}}}
	for _, topic := range []string{"orders", "missing"} {
		_, err := client.Publish(context.Background(), connect.NewRequest(&heraldv1.PublishRequest{Topic: topic, Events: []*heraldv1.CloudEvent{bad}}))
		if connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Fatalf("gRPC publish of a bad event to %s: %v", topic, err)
		}
	}
	e.do("POST", "/v1/topics/missing/events", `{"specversion":`, ctStructured...).wantProblem(t, http.StatusBadRequest, "malformed_request")

	m := e.scrapeMetrics(t)
	m.want(t, 6, "herald_topic_publish_requests_total", "topic", "orders", "outcome", "rejected")
	m.want(t, 0, "herald_topic_publish_requests_total", "topic", "orders", "outcome", "ok")
	if got := m.labelValues("herald_topic_publish_requests_total", "topic"); len(got) != 4 || got[0] != "orders" || got[3] != "orders" {
		t.Errorf("publish series of topics %v, want orders' alone", got)
	}
}
