package server

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
)

// readEvents reads and decodes events, checking the reply's media type.
func (e *testEnv) readEvents(t *testing.T, query string) []*event.Event {
	t.Helper()
	r := e.do("GET", "/v1/topics/orders/events?"+query, "")
	r.wantStatus(t, http.StatusOK, event.MediaTypeBatch, nil)
	events, err := event.DecodeBatch(r.body)
	if err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return events
}

// publishN publishes ids e0..e(n-1) to partition 0 of orders.
func (e *testEnv) publishN(t *testing.T, from, n int) {
	t.Helper()
	var parts []string
	for i := from; i < from+n; i++ {
		parts = append(parts, structured("e"+itoa(i)))
	}
	e.do("POST", "/v1/topics/orders/events", "["+strings.Join(parts, ",")+"]", ctBatch...).publishResults(t)
}

func itoa(i int) string { return string(rune('0'+i/10)) + string(rune('0'+i%10)) }

func TestRead_ReturnsEventsWithTheirPosition(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.publishN(t, 0, 5)
	tests := []struct {
		query string
		ids   []string
	}{
		{"", []string{"e00", "e01", "e02", "e03", "e04"}},
		{"offset=2", []string{"e02", "e03", "e04"}},
		{"offset=1&limit=2", []string{"e01", "e02"}},
		{"partition=0&offset=4&limit=10000", []string{"e04"}},
		{"offset=5", nil},
		{"since=2000-01-01T00:00:00Z", []string{"e00", "e01", "e02", "e03", "e04"}},
		{"since=" + url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339)), nil},
		{"offset=5&wait=0s", nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			events := env.readEvents(t, tt.query)
			if len(events) != len(tt.ids) {
				t.Fatalf("read %d events, want %d", len(events), len(tt.ids))
			}
			for i, e := range events {
				if e.ID != tt.ids[i] || !e.Stored || e.Partition != 0 || e.Offset != int64(e.ID[2]-'0') || e.Topic != "orders" {
					t.Errorf("event %d: id %s stored %v partition %d offset %d", i, e.ID, e.Stored, e.Partition, e.Offset)
				}
			}
		})
	}
}

func TestRead_AtTheEndIsAnEmptyArray(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	r := env.do("GET", "/v1/topics/orders/events", "")
	r.wantStatus(t, http.StatusOK, event.MediaTypeBatch, nil)
	if strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("body %q", r.body)
	}
}

func TestRead_SinceSkipsOlderEvents(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.publishN(t, 0, 2)
	time.Sleep(5 * time.Millisecond) // the log keeps millisecond timestamps
	since := time.Now().UTC()
	time.Sleep(5 * time.Millisecond)
	env.publishN(t, 2, 2)
	events := env.readEvents(t, "since="+url.QueryEscape(since.Format(time.RFC3339Nano)))
	if len(events) != 2 || events[0].ID != "e02" || events[0].Offset != 2 {
		t.Fatalf("read %d events from %s", len(events), since)
	}
}

// A '+' in a query is a space, so a since with a zone offset sent as
// typed arrives broken; the refusal says how to send it.
func TestRead_ASinceWithAnUnencodedPlusSaysToEncodeIt(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.publishN(t, 0, 1)
	p := env.do("GET", "/v1/topics/orders/events?since=2024-05-01T12:00:00+01:00", "").wantProblem(t, 400, "invalid_parameter")
	if !strings.Contains(p.Detail, "%2B") {
		t.Errorf("detail %q does not say to send '+' as %%2B", p.Detail)
	}
	if events := env.readEvents(t, "since=2024-05-01T12:00:00%2B01:00"); len(events) != 1 {
		t.Errorf("since with an encoded '+' read %d events, want 1", len(events))
	}
}

// since is told apart from its absence by being given, not by its value:
// the zero time 0001-01-01T00:00:00Z is a time like any other.
func TestRead_OffsetWithSinceIsRefusedWhateverTheTime(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.publishN(t, 0, 2)
	env.do("GET", "/v1/topics/orders/events?offset=1&since=0001-01-01T00:00:00Z", "").wantProblem(t, 400, "invalid_parameter")
	if events := env.readEvents(t, "since=0001-01-01T00:00:00Z"); len(events) != 2 || events[0].Offset != 0 {
		t.Errorf("since the zero time read %d events, want both from offset 0", len(events))
	}
}

func TestRead_BadRequests(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", `{"partitions":2}`)
	env.publishN(t, 0, 3)
	tests := []struct {
		name, path string
		status     int
		code       string
	}{
		{"negative offset", "/v1/topics/orders/events?offset=-1", 400, "invalid_parameter"},
		{"offset not a number", "/v1/topics/orders/events?offset=abc", 400, "invalid_parameter"},
		{"offset past the end", "/v1/topics/orders/events?partition=1&offset=5", 400, "offset_out_of_range"},
		{"partition not a number", "/v1/topics/orders/events?partition=x", 400, "invalid_parameter"},
		{"negative partition", "/v1/topics/orders/events?partition=-1", 400, "invalid_parameter"},
		{"unknown partition", "/v1/topics/orders/events?partition=2", 404, "unknown_partition"},
		{"zero limit", "/v1/topics/orders/events?limit=0", 400, "invalid_parameter"},
		{"limit over the maximum", "/v1/topics/orders/events?limit=10001", 400, "invalid_parameter"},
		{"since not a time", "/v1/topics/orders/events?since=yesterday", 400, "invalid_parameter"},
		{"offset and since", "/v1/topics/orders/events?offset=0&since=2024-01-01T00:00:00Z", 400, "invalid_parameter"},
		{"wait over the maximum", "/v1/topics/orders/events?wait=31s", 400, "invalid_parameter"},
		{"wait not a duration", "/v1/topics/orders/events?wait=10", 400, "invalid_parameter"},
		{"repeated parameter", "/v1/topics/orders/events?offset=1&offset=2", 400, "invalid_parameter"},
		{"unknown parameter", "/v1/topics/orders/events?offest=1", 400, "invalid_parameter"},
		{"semicolon separator", "/v1/topics/orders/events?partition=1;limit=1", 400, "invalid_parameter"},
		{"bad escape", "/v1/topics/orders/events?offset=%zz", 400, "invalid_parameter"},
		{"bad escape in a name", "/v1/topics/orders/events?%zz=1", 400, "invalid_parameter"},
		{"unknown topic", "/v1/topics/nope/events", 404, "unknown_topic"},
		{"invalid topic name", "/v1/topics/bad%21/events", 400, "invalid_topic_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env.do("GET", tt.path, "").wantProblem(t, tt.status, tt.code)
		})
	}
}

func TestRead_WaitReturnsWhenAnEventArrives(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	go func() {
		time.Sleep(100 * time.Millisecond)
		env.publishN(t, 0, 1)
	}()
	start := time.Now()
	events := env.readEvents(t, "offset=0&wait=20s")
	if len(events) != 1 || events[0].ID != "e00" {
		t.Fatalf("read %d events", len(events))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("long poll took %s", d)
	}
}

func TestRead_WaitEndsEmptyAfterItsDuration(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	if events := env.readEvents(t, "wait=50ms"); len(events) != 0 {
		t.Fatalf("read %d events", len(events))
	}
}

func TestRead_CloseEndsLongPolls(t *testing.T) {
	env := newEnv(t, broker.Options{}, Options{})
	env.createTopic("orders", "")
	go func() {
		time.Sleep(100 * time.Millisecond)
		env.srv.Close()
	}()
	start := time.Now()
	if events := env.readEvents(t, "wait=30s"); len(events) != 0 {
		t.Fatalf("read %d events", len(events))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("long poll took %s after Close", d)
	}
}
