package event

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestKafka_RoundTripsEvents(t *testing.T) {
	tests := map[string]*Event{
		"minimal":         minimalEvent(),
		"every attribute": fullEvent(),
		"non-ASCII values": with(fullEvent(), func(e *Event) {
			e.Subject, e.Extensions = "Euro € 😀 100%", map[string]string{"empty": "", "x": "\"q\""}
		}),
		"binary data": with(fullEvent(), func(e *Event) {
			e.DataContentType, e.Data = "application/octet-stream", []byte{0, 0xff}
		}),
		"no data":         with(fullEvent(), func(e *Event) { e.Data = nil }),
		"no partitionkey": with(fullEvent(), func(e *Event) { e.PartitionKey = "" }),
		"time with zone": with(fullEvent(), func(e *Event) {
			e.Time = time.Date(2024, 1, 1, 12, 0, 0, 1, time.FixedZone("", 3600))
		}),
	}
	for name, e := range tests {
		t.Run(name, func(t *testing.T) {
			key, value, headers := ToKafka(e)
			got, err := FromKafka(key, value, headers)
			if err != nil {
				t.Fatalf("FromKafka: %v", err)
			}
			if d := diffEvents(e, got); d != "" {
				t.Fatalf("round trip through %v: %s", headers, d)
			}
		})
	}
}

func TestKafka_WritesBinaryModeRecord(t *testing.T) {
	e := with(fullEvent(), func(e *Event) {
		e.Stored, e.Topic, e.Partition, e.Offset = true, "orders", 1, 2 // not written
	})
	key, value, headers := ToKafka(e)
	if string(key) != "customer-7" {
		t.Errorf("key = %q, want the partitionkey", key)
	}
	if string(value) != `{"orderId":42,"total":"9.99"}` {
		t.Errorf("value = %q, want the data", value)
	}
	var got []string
	for _, h := range headers {
		got = append(got, h.Key+"="+string(h.Value))
	}
	want := []string{
		"ce_specversion=1.0", "ce_id=order-42", "ce_source=https://shop.example/orders",
		"ce_type=com.example.order.placed", "ce_time=2024-05-06T07:08:09.123456789Z",
		"ce_subject=orders/42", "ce_dataschema=https://shop.example/schemas/order-placed/v1",
		"ce_partitionkey=customer-7", "ce_traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"ce_tracestate=rojo=00f067aa0ba902b7", "ce_correlationid=corr-1", "ce_causationid=cause-1",
		"ce_priority=5", "ce_tenant=acme", "ce_urgent=true", "content-type=application/json",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("headers =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestKafka_MinimalEventHasNoKeyNoValueAndOnlyRequiredHeaders(t *testing.T) {
	key, value, headers := ToKafka(minimalEvent())
	if key != nil || value != nil || len(headers) != 4 {
		t.Fatalf("ToKafka(minimal) = %q, %q, %v", key, value, headers)
	}
}

func TestKafka_FromKafkaReadsForeignRecords(t *testing.T) {
	headers := []kmsg.Header{
		{Key: "ce_id", Value: []byte("1")},
		{Key: "ce_source", Value: []byte("/orders")},
		{Key: "ce_type", Value: []byte("OrderPlaced")},
		{Key: "ce_specversion", Value: []byte("1.0")},
		{Key: "ce_myext", Value: []byte("v")},
		{Key: "Content-Type", Value: []byte("text/plain")},
		{Key: "traceparent", Value: []byte("not a ce_ header")},
	}
	got, err := FromKafka([]byte("the-key"), []byte("hi"), headers)
	if err != nil {
		t.Fatal(err)
	}
	want := with(minimalEvent(), func(e *Event) {
		e.PartitionKey, e.DataContentType, e.Data = "the-key", "text/plain", []byte("hi")
		e.Extensions = map[string]string{"myext": "v"}
	})
	if d := diffEvents(want, got); d != "" {
		t.Fatal(d)
	}
}

func TestKafka_PartitionKeyHeaderWinsOverKey(t *testing.T) {
	got, err := FromKafka([]byte("key"), nil, []kmsg.Header{{Key: "ce_partitionkey", Value: []byte("pk")}})
	if err != nil || got.PartitionKey != "pk" {
		t.Fatalf("FromKafka = %+v, %v; want partitionkey pk", got, err)
	}
}

func TestKafka_FromKafkaRejectsBadHeaders(t *testing.T) {
	tests := []struct {
		name      string
		headers   []kmsg.Header
		attribute string
		rule      string
	}{
		{"repeated attribute", []kmsg.Header{{Key: "ce_id", Value: []byte("1")}, {Key: "ce_id", Value: []byte("2")}}, "id", "only once"},
		{"repeated extension", []kmsg.Header{{Key: "ce_x", Value: nil}, {Key: "ce_x", Value: nil}}, "x", "only once"},
		{"repeated content-type", []kmsg.Header{{Key: "content-type", Value: []byte("a/b")}, {Key: "content-type", Value: []byte("a/b")}}, "datacontenttype", "only once"},
		{"ce_datacontenttype", []kmsg.Header{{Key: "ce_datacontenttype", Value: []byte("a/b")}}, "datacontenttype", "content-type header"},
		{"bad time", []kmsg.Header{{Key: "ce_time", Value: []byte("noon")}}, "time", "RFC 3339"},
		{"zero time", []kmsg.Header{{Key: "ce_time", Value: []byte("0001-01-01T00:00:00Z")}}, "time", "zero time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromKafka(nil, nil, tt.headers)
			wantAttrError(t, err, tt.attribute, tt.rule)
		})
	}
}

func TestKafka_SizeIsTheRecordSize(t *testing.T) {
	for name, e := range map[string]*Event{
		"minimal":         minimalEvent(),
		"every attribute": fullEvent(),
		"odd time zone": with(fullEvent(), func(e *Event) {
			e.Time = time.Date(2024, 1, 1, 0, 0, 0, 0, time.FixedZone("", 75))
		}),
	} {
		t.Run(name, func(t *testing.T) {
			key, value, headers := ToKafka(e)
			want := len(key) + len(value)
			for _, h := range headers {
				want += len(h.Key) + len(h.Value)
			}
			if got := e.Size(); got != want {
				t.Fatalf("Size() = %d, want %d", got, want)
			}
		})
	}
}

func TestKafka_HeaderValueFindsTheFirstMatch(t *testing.T) {
	headers := []kmsg.Header{{Key: "ce_id", Value: []byte("1")}, {Key: "ce_id", Value: []byte("2")}}
	if got := HeaderValue(headers, "ce_id"); string(got) != "1" {
		t.Errorf("HeaderValue(ce_id) = %q, want 1", got)
	}
	if got := HeaderValue(headers, "ce_source"); got != nil {
		t.Errorf("HeaderValue(ce_source) = %q, want nil", got)
	}
}

// timeLen must agree with formatting for every kind of time: nanoseconds
// with any number of trailing zeros, UTC and other offsets (odd ones
// become UTC), and years RFC 3339 cannot write in four digits.
func TestTimeLen_MatchesFormatting(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	zones := []*time.Location{time.UTC, time.FixedZone("", 0), time.FixedZone("", 3600), time.FixedZone("", -(5*3600 + 30*60)),
		time.FixedZone("", 45), time.FixedZone("", 25*3600), time.Local}
	for i := 0; i < 20000; i++ {
		ns := rng.Int64N(1e9)
		switch i % 4 {
		case 0:
			ns = 0
		case 1:
			ns -= ns % int64(math.Pow10(rng.IntN(9)))
		}
		sec := rng.Int64N(400*365*24*3600) - 100*365*24*3600
		if i%50 == 0 {
			sec = rng.Int64N(1<<40) - 1<<39 // years far outside 0-9999
		}
		tm := time.Unix(sec, ns).In(zones[i%len(zones)])
		if got, want := timeLen(tm), len(formatTime(tm)); got != want {
			t.Fatalf("timeLen(%s) = %d, want %d", formatTime(tm), got, want)
		}
	}
}
