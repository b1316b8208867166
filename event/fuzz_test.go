package event

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// seedEvents are the events the fuzz corpora start from.
func seedEvents() []*Event {
	return []*Event{
		minimalEvent(),
		fullEvent(),
		with(fullEvent(), func(e *Event) { e.DataContentType, e.Data = "text/plain", []byte("héllo \"x\"") }),
		with(fullEvent(), func(e *Event) { e.DataContentType, e.Data = "application/octet-stream", []byte{0, 0xff} }),
		with(fullEvent(), func(e *Event) { e.Data = []byte("null") }),
		with(fullEvent(), func(e *Event) { e.Subject = "Euro € 😀 \"q\" 100%" }),
		with(minimalEvent(), func(e *Event) {
			e.Stored, e.Topic, e.Partition, e.Offset = true, "orders", 3, 99
			e.StoredAt = time.Date(2024, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600))
		}),
	}
}

// checkRoundTrips fails unless the valid event e survives every codec.
func checkRoundTrips(t *testing.T, e *Event) {
	t.Helper()
	b, err := e.MarshalJSON()
	if err != nil {
		t.Fatalf("MarshalJSON of a valid event: %v", err)
	}
	var fromJSON Event
	if err := fromJSON.UnmarshalJSON(b); err != nil {
		t.Fatalf("UnmarshalJSON(%s): %v", b, err)
	}
	if d := diffEvents(e, &fromJSON); d != "" {
		t.Fatalf("JSON round trip via %s: %s", b, d)
	}
	unstored := with(e, func(e *Event) {
		e.Stored, e.Topic, e.Partition, e.Offset, e.StoredAt = false, "", 0, 0, time.Time{}
	})
	h := http.Header{}
	fromHTTP, err := FromHTTP(h, ToHTTP(e, h))
	if err != nil {
		t.Fatalf("FromHTTP(%v): %v", h, err)
	}
	if d := diffEvents(unstored, fromHTTP); d != "" {
		t.Fatalf("HTTP round trip via %v: %s", h, d)
	}
	key, value, headers := ToKafka(e)
	fromKafka, err := FromKafka(key, value, headers)
	if err != nil {
		t.Fatalf("FromKafka(%v): %v", headers, err)
	}
	if d := diffEvents(unstored, fromKafka); d != "" {
		t.Fatalf("Kafka round trip via %v: %s", headers, d)
	}
}

func FuzzDecodeStructured(f *testing.F) {
	for _, e := range seedEvents() {
		b, _ := e.MarshalJSON()
		f.Add(b)
	}
	for _, s := range []string{
		`{"specversion":"1.0","id":"1","source":"/","type":"t","ext":5,"b":true,"n":null,"data":"s"}`,
		`{"specversion":"1.0","id":"1","source":"/","type":"t","datacontenttype":"text/plain","data_base64":"AA=="}`,
		`{"id":5}`, `[]`, `null`, `{"data":"x","data_base64":"eA=="}`, `{"partition":1,"offset":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var e Event
		if e.UnmarshalJSON(data) != nil || e.Validate() != nil {
			return
		}
		checkRoundTrips(t, &e)
	})
}

func FuzzDecodeBatch(f *testing.F) {
	b, _ := EncodeBatch(seedEvents())
	f.Add(b)
	for _, s := range []string{`[]`, `[null]`, `{}`, `[{"id":"1"},{"id":2}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		events, err := DecodeBatch(data)
		if err != nil {
			return
		}
		for _, e := range events {
			if e.Validate() == nil {
				checkRoundTrips(t, e)
			}
		}
	})
}

// httpHeaderBlob writes h as "Name: value" lines, the fuzz input form.
func httpHeaderBlob(h http.Header) string {
	var b strings.Builder
	for k, vs := range h {
		for _, v := range vs {
			b.WriteString(k + ": " + v + "\n")
		}
	}
	return b.String()
}

func FuzzFromHTTP(f *testing.F) {
	for _, e := range seedEvents() {
		h := http.Header{}
		body := ToHTTP(e, h)
		f.Add(httpHeaderBlob(h), body)
	}
	f.Add("ce-id: \"a b\"\nce-subject: %C0%A0\nce-x: %zz\n", []byte{})
	f.Fuzz(func(t *testing.T, blob string, body []byte) {
		h := http.Header{}
		for line := range strings.SplitSeq(blob, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				h[k] = append(h[k], strings.TrimSpace(v))
			}
		}
		e, err := FromHTTP(h, body)
		if err != nil || e.Validate() != nil {
			return
		}
		checkRoundTrips(t, e)
	})
}

// kafkaHeaderBlob writes headers as "key=value" lines, the fuzz input form.
func kafkaHeaderBlob(headers []kmsg.Header) []byte {
	var b bytes.Buffer
	for _, h := range headers {
		b.WriteString(h.Key + "=" + string(h.Value) + "\n")
	}
	return b.Bytes()
}

func FuzzFromKafka(f *testing.F) {
	for _, e := range seedEvents() {
		key, value, headers := ToKafka(e)
		f.Add(key, value, kafkaHeaderBlob(headers))
	}
	f.Add([]byte("k"), []byte{}, []byte("ce_id=1\nce_id=2\ncontent-type=x\nce_time=bad\n"))
	f.Fuzz(func(t *testing.T, key, value, blob []byte) {
		var headers []kmsg.Header
		for line := range bytes.SplitSeq(blob, []byte("\n")) {
			if k, v, ok := bytes.Cut(line, []byte("=")); ok {
				headers = append(headers, kmsg.Header{Key: string(k), Value: v})
			}
		}
		e, err := FromKafka(key, value, headers)
		if err != nil || e.Validate() != nil {
			return
		}
		checkRoundTrips(t, e)
	})
}
