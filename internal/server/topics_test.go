package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/broker"
)

func TestTopics_CreateDescribeListUpdateDelete(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})

	r := env.do("PUT", "/v1/topics/orders", `{"partitions":3,"retention":"24h","retentionBytes":1048576,"dedupWindow":"0"}`)
	var created Topic
	r.wantStatus(t, http.StatusCreated, mediaJSON, &created)
	if r.header.Get("Location") != "/v1/topics/orders" {
		t.Errorf("Location %q", r.header.Get("Location"))
	}
	want := Topic{Name: "orders", Partitions: 3, Retention: "24h", RetentionBytes: 1 << 20, DedupWindow: "0s"}
	if created.CreatedAt.IsZero() || time.Since(created.CreatedAt) > time.Minute {
		t.Errorf("createdAt %v", created.CreatedAt)
	}
	created.CreatedAt = time.Time{}
	if !equalTopic(created, want) {
		t.Errorf("created %+v, want %+v", created, want)
	}

	var got Topic
	env.do("GET", "/v1/topics/orders", "").wantStatus(t, http.StatusOK, mediaJSON, &got)
	if len(got.Offsets) != 3 || got.Offsets[2] != (PartitionOffsets{Partition: 2}) {
		t.Errorf("offsets %+v", got.Offsets)
	}

	var updated Topic
	env.do("PUT", "/v1/topics/orders", `{"partitions":4,"dedupWindow":"5m"}`).wantStatus(t, http.StatusOK, mediaJSON, &updated)
	if updated.Partitions != 4 || updated.DedupWindow != "5m" || updated.Retention != "24h" {
		t.Errorf("updated %+v", updated)
	}

	env.createTopic("audit", "")
	var list TopicList
	env.do("GET", "/v1/topics", "").wantStatus(t, http.StatusOK, mediaJSON, &list)
	if len(list.Topics) != 2 || list.Topics[0].Name != "audit" || list.Topics[1].Name != "orders" {
		t.Errorf("list %+v", list)
	}
	if d := list.Topics[0]; d.Partitions != 1 || d.Retention != "168h" || d.DedupWindow != "2m" {
		t.Errorf("defaults %+v", d)
	}

	if r := env.do("DELETE", "/v1/topics/orders", ""); r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	env.do("GET", "/v1/topics/orders", "").wantProblem(t, 404, "unknown_topic")
}

func equalTopic(a, b Topic) bool {
	return a.Name == b.Name && a.Partitions == b.Partitions && a.Retention == b.Retention &&
		a.RetentionBytes == b.RetentionBytes && a.DedupWindow == b.DedupWindow && a.CreatedAt.Equal(b.CreatedAt)
}

func TestTopics_EmptyListIsAnEmptyArray(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	r := env.do("GET", "/v1/topics", "")
	r.wantStatus(t, http.StatusOK, mediaJSON, nil)
	if strings.TrimSpace(string(r.body)) != `{"topics":[]}` {
		t.Errorf("body %s", r.body)
	}
}

func TestTopics_BadRequestsChangeNothing(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", `{"partitions":2}`)
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"malformed JSON", "PUT", "/v1/topics/orders", `{"partitions":`, 400, "malformed_request"},
		{"not an object", "PUT", "/v1/topics/orders", `[1]`, 400, "malformed_request"},
		{"unknown field", "PUT", "/v1/topics/orders", `{"partitons":3}`, 400, "invalid_topic_setting"},
		{"wrong type", "PUT", "/v1/topics/orders", `{"partitions":"3"}`, 400, "invalid_topic_setting"},
		{"bad duration", "PUT", "/v1/topics/orders", `{"retention":"7d"}`, 400, "invalid_topic_setting"},
		{"negative retention", "PUT", "/v1/topics/orders", `{"retention":"-1h"}`, 400, "invalid_topic_setting"},
		{"zero partitions", "PUT", "/v1/topics/orders", `{"partitions":0}`, 400, "invalid_topic_setting"},
		{"too many partitions", "PUT", "/v1/topics/orders", `{"partitions":10001}`, 400, "invalid_topic_setting"},
		{"negative retention bytes", "PUT", "/v1/topics/orders", `{"retentionBytes":-1}`, 400, "invalid_topic_setting"},
		{"shrink partitions", "PUT", "/v1/topics/orders", `{"partitions":1}`, 409, "topic_conflict"},
		{"name differing only in case", "PUT", "/v1/topics/Orders", `{"partitions":2}`, 409, "topic_conflict"},
		{"invalid name", "PUT", "/v1/topics/bad%20name", ``, 400, "invalid_topic_name"},
		{"name with a leading dot", "PUT", "/v1/topics/.hidden", ``, 400, "invalid_topic_name"},
		{"name too long", "PUT", "/v1/topics/" + strings.Repeat("x", 250), ``, 400, "invalid_topic_name"},
		{"reserved name", "PUT", "/v1/topics/__offsets", ``, 400, "reserved_topic_name"},
		{"get reserved", "GET", "/v1/topics/__offsets", ``, 400, "reserved_topic_name"},
		{"delete reserved", "DELETE", "/v1/topics/__offsets", ``, 400, "reserved_topic_name"},
		{"get unknown", "GET", "/v1/topics/nope", ``, 404, "unknown_topic"},
		{"delete unknown", "DELETE", "/v1/topics/nope", ``, 404, "unknown_topic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env.do(tt.method, tt.path, tt.body).wantProblem(t, tt.status, tt.code)
			var got Topic
			env.do("GET", "/v1/topics/orders", "").wantStatus(t, http.StatusOK, mediaJSON, &got)
			if got.Partitions != 2 || got.Retention != "168h" || got.RetentionBytes != 0 {
				t.Errorf("topic changed: %+v", got)
			}
		})
	}
	var list TopicList
	env.do("GET", "/v1/topics", "").wantStatus(t, http.StatusOK, mediaJSON, &list)
	if len(list.Topics) != 1 {
		t.Errorf("topics %+v", list.Topics)
	}
}

func TestTopics_BodyOverTheLimitIsRefused(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{MaxBodyBytes: 64})
	body := `{"partitions":1,"retention":"` + strings.Repeat("1", 100) + `h"}`
	r := env.do("PUT", "/v1/topics/orders", body)
	r.wantProblem(t, 413, "request_too_large")
	if strings.Contains(string(r.body), "events") {
		t.Errorf("a topic's body over the limit: %s, which speaks of events", r.body)
	}
	r = env.do("POST", "/v1/topics/orders/events", `{"data":"`+strings.Repeat("x", 100)+`"}`, "Content-Type", "application/json", "ce-specversion", "1.0", "ce-id", "1", "ce-source", "s", "ce-type", "t")
	r.wantProblem(t, 413, "request_too_large")
	if !strings.Contains(string(r.body), "send fewer or smaller events") {
		t.Errorf("a publish over the limit: %s, want the advice to send fewer or smaller events", r.body)
	}
}
